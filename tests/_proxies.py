"""Stand-ins for a user's proxy: one that works and records what it sees, and one that is dead."""

from __future__ import annotations

import contextlib
import select
import socket
import socketserver
import threading
from collections.abc import Iterator
from types import TracebackType
from typing import Any

# Every variable requests, urllib and curl read a proxy from; set all of them to be sure.
PROXY_VARIABLES = (
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
)


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        request_line = self.rfile.readline(65537).decode("latin-1").strip()
        while self.rfile.readline(65537).strip():
            pass
        self.server.owner.seen.append(request_line)
        upstream_port = self.server.owner.upstream_port
        method = request_line.split(" ", 1)[0]
        if method != "CONNECT" or upstream_port is None:
            self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        upstream = socket.create_connection(("127.0.0.1", upstream_port), timeout=10)
        self.wfile.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        self.wfile.flush()
        sockets = [self.connection, upstream]
        with contextlib.suppress(OSError), upstream:
            while True:
                readable = select.select(sockets, [], [], 10)[0]
                if not readable:
                    return
                for source in readable:
                    data = source.recv(65536)
                    if not data:
                        return
                    (upstream if source is self.connection else self.connection).sendall(data)


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, owner: RecordingProxy) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class RecordingProxy:
    """A working HTTP proxy on loopback that records every request line it receives.

    CONNECT tunnels go to ``127.0.0.1:upstream_port`` whatever host they name (an impostor, or
    what a real proxy would reach); without an upstream it answers 502.
    """

    def __init__(self, upstream_port: int | None = None) -> None:
        self.upstream_port = upstream_port
        self.seen: list[str] = []
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextlib.contextmanager
def dead_proxy() -> Iterator[str]:
    """URL of a loopback port that refuses connections (bound, never listening)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def proxy_environment(url: str) -> dict[str, str]:
    """Every proxy variable set to *url*, and a NO_PROXY that does not mention NeuroMorpho.Org."""
    return {**dict.fromkeys(PROXY_VARIABLES, url), "NO_PROXY": "example.org", "no_proxy": ""}
