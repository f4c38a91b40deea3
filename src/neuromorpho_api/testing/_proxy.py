"""The emulator's loopback CONNECT proxy: tunnels to the emulator only, refuses the rest.

Child processes reach the emulator through it (see ``Emulator.environ``); plain-HTTP
proxying answers with the real site's redirect to https. It stands next to its clients:
the CONNECT costs the round trip of the connect to the server (``latency``), and the
server then charges that connection nothing more for it. Both sides of the relay have
``TCP_NODELAY``: small responses go out at once, not after the client's delayed ACK.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import socketserver
import ssl
from typing import Any

__all__ = ["ProxyServer"]


class _ProxyHandler(socketserver.StreamRequestHandler):
    server: ProxyServer
    disable_nagle_algorithm = True

    def handle(self) -> None:
        if self.server.context is None:
            self._serve(self.connection)
            return
        try:
            sock = self.server.context.wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            self.rfile = sock.makefile("rb")
            self.wfile = sock.makefile("wb")
            self._serve(sock)
        finally:
            for stream in (self.rfile, self.wfile):
                with contextlib.suppress(OSError):
                    stream.close()
            sock.close()

    def _serve(self, sock: socket.socket) -> None:
        owner = self.server.owner
        request_line = self.rfile.readline(65537).decode("latin-1").strip()
        while self.rfile.readline(65537).strip():
            pass
        parts = request_line.split()
        if len(parts) != 3:
            self._reply(400, "Bad Request")
            return
        method, target, _version = parts
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            backend = owner.proxy_backend(host, port)
            if backend is None:
                self._reply(403, "Forbidden")
                return
            owner.proxy_tunnels.append(target)
            try:
                upstream = socket.create_connection(("127.0.0.1", backend), timeout=10)
            except OSError:
                self._reply(502, "Bad Gateway")
                return
            upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            rtt = owner.latency
            if rtt:
                owner.prepay(upstream.getsockname()[:2])
                owner.sleep(rtt)
            self._reply(200, "Connection Established", close=False)
            _pump(sock, upstream)
            return
        match = re.match(r"http://([^/:]+)(?::\d+)?(/.*)?$", target)
        if match and owner.proxy_backend(match.group(1), "443") is not None:
            # Plain-HTTP proxying: answer like the real site, with a redirect to https
            # (a connect and a request away).
            if owner.latency:
                owner.sleep(2 * owner.latency)
            location = f"https://{match.group(1)}{match.group(2) or '/'}"
            self.wfile.write(
                f"HTTP/1.1 301 Moved Permanently\r\nLocation: {location}\r\n"
                "Content-Length: 0\r\nConnection: close\r\n\r\n".encode("latin-1")
            )
            return
        self._reply(403, "Forbidden")

    def _reply(self, status: int, reason: str, close: bool = True) -> None:
        tail = "Content-Length: 0\r\nConnection: close\r\n" if close else ""
        with contextlib.suppress(OSError):
            self.wfile.write(f"HTTP/1.1 {status} {reason}\r\n{tail}\r\n".encode("latin-1"))
            self.wfile.flush()


def _pump(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until either side closes."""
    sockets = [a, b]
    try:
        while True:
            # An SSLSocket may hold decrypted bytes that select() cannot see.
            pending = [s for s in sockets if isinstance(s, ssl.SSLSocket) and s.pending()]
            readable = pending or select.select(sockets, [], [], 30)[0]
            if not readable:
                return
            for source in readable:
                data = source.recv(65536)
                if not data:
                    return
                (b if source is a else a).sendall(data)
    except OSError:
        return
    finally:
        with contextlib.suppress(OSError):
            b.close()


class ProxyServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, owner: Any, context: ssl.SSLContext | None, port: int = 0) -> None:
        self.owner = owner
        self.context = context
        super().__init__(("127.0.0.1", port), _ProxyHandler)

    @property
    def scheme(self) -> str:
        """``https`` when the proxy itself speaks TLS, else ``http``."""
        return "https" if self.context is not None else "http"

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass
