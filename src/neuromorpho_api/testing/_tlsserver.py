"""Loopback servers of the emulator: HTTPS with NeuroMorpho.Org's TLS shape, the plain-HTTP
redirect, and an HTTP(S) CONNECT proxy. Transport only: answers come from ``_app``."""

from __future__ import annotations

import contextlib
import os
import re
import select
import socket
import socketserver
import ssl
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from importlib import resources
from typing import Any, Literal

from neuromorpho_api.testing._app import Reply

__all__ = [
    "PROFILES",
    "Fault",
    "FaultPlan",
    "Handshake",
    "Identity",
    "RequestRecord",
    "data_file",
]

Profile = Literal["legacy", "legacy+ecdhe", "legacy+rsa", "dhe2048", "modern"]
PROFILES: tuple[Profile, ...] = ("legacy", "legacy+ecdhe", "legacy+rsa", "dhe2048", "modern")
"""TLS shapes the emulator can take.

``legacy`` is NeuroMorpho.Org as reported: TLS 1.2 at most, DHE-RSA suites only, a 1024-bit
group. ``legacy+ecdhe`` and ``legacy+rsa`` add ECDHE or static-RSA suites but still prefer
DHE-1024. ``dhe2048`` is the same server with a 2048-bit group, ``modern`` a fixed server
(TLS 1.3, ECDHE).
"""


def data_file(name: str) -> str:
    """Path of a file shipped in ``neuromorpho_api/testing/data``."""
    return str(resources.files("neuromorpho_api.testing").joinpath("data", name))


@dataclass(frozen=True)
class Identity:
    """The server's certificate chain and key (PEM files), and the CA file that trusts them."""

    cert_chain: str
    private_key: str
    ca: str

    @classmethod
    def shipped(cls) -> Identity:
        """The throwaway loopback-only PKI shipped with the package (valid until 2075)."""
        return cls(
            data_file("emulator-server.pem"),
            data_file("emulator-server-key.pem"),
            data_file("emulator-ca.pem"),
        )


def server_context(
    profile: Profile, identity: Identity, client_ca: str | None = None
) -> ssl.SSLContext:
    """The server-side context of *profile*."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if profile != "modern":
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
        suites = {
            "legacy": "kDHE+aRSA",
            "legacy+ecdhe": "kDHE+aRSA:kECDHE+aRSA",
            "legacy+rsa": "kDHE+aRSA:kRSA",
            "dhe2048": "kDHE+aRSA",
        }[profile]
        # The level has to drop before the 1024-bit group can even be loaded.
        context.set_ciphers(f"{suites}:!aNULL:!eNULL:@SECLEVEL=0")
        context.load_dh_params(data_file("dh2048.pem" if profile == "dhe2048" else "dh1024.pem"))
    context.load_cert_chain(identity.cert_chain, identity.private_key)
    context.sni_callback = _remember_sni
    if client_ca is not None:
        context.verify_mode = ssl.CERT_OPTIONAL
        context.load_verify_locations(cafile=client_ca)
    return context


def _remember_sni(sock: Any, server_name: str | None, context: ssl.SSLContext) -> None:
    # Server-side sockets do not expose the SNI the client sent; keep it for the handshake log.
    sock.neuromorpho_sni = server_name


@dataclass(frozen=True)
class Handshake:
    """What one TLS handshake with the emulator negotiated (or why it failed)."""

    server_name: str | None
    protocol: str | None
    cipher: str | None
    dh_bits: int | None
    client_certificate: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class RequestRecord:
    """One request the emulator answered."""

    method: str
    target: str
    headers: dict[str, str]
    status: int


FaultKind = Literal["status", "reset", "truncate", "stall", "html"]


@dataclass
class Fault:
    """A misbehaviour applied to the next *times* requests whose target matches *match*."""

    match: str
    kind: FaultKind
    times: int = 1
    params: dict[str, Any] = field(default_factory=dict)
    hits: int = 0

    def __post_init__(self) -> None:
        self._pattern = re.compile(self.match)


class FaultPlan:
    """Faults to inject, checked in the order they were added."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, match: str, kind: FaultKind, *, times: int = 1, **params: Any) -> Fault:
        """Misbehave on the next *times* requests whose target (path and query) matches *match*.

        Kinds and their parameters: ``status`` (``status``, ``headers``, ``body``): answer that
        instead; ``reset`` (``after_bytes``): reset the connection before answering, or, with
        ``after_bytes``, after the headers and that many body bytes; ``truncate`` (``keep``: bytes, or a fraction of the body): send a
        full Content-Length but only part of the body, then close; ``stall`` (``seconds``,
        ``after_bytes``): pause before the body, or after that many body bytes; ``html``: a
        200 HTML error page instead of the real body.
        """
        if kind not in ("status", "reset", "truncate", "stall", "html"):
            raise ValueError(f"unknown fault kind {kind!r}")
        fault = Fault(match, kind, times, dict(params))
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, target: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.hits < fault.times and fault._pattern.search(target):
                    fault.hits += 1
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()


HTML_ERROR_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>503 Service Unavailable</title></head>\n"
    b"<body><h1>Service Unavailable</h1><p>The server is temporarily unable to service your "
    b"request due to maintenance downtime or capacity problems.</p></body></html>\n"
)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Without this, headers and body go out in separate segments and Nagle plus delayed ACK
    # add ~40 ms to every keep-alive response.
    disable_nagle_algorithm = True
    timeout = 30
    server: _EmulatorHTTPServer

    def version_string(self) -> str:
        return "Apache"

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.server.owner.record_handshake(self.request)
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (ConnectionError, ssl.SSLError, TimeoutError, socket.timeout):
            self.close_connection = True

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        self.server.owner.serve(self, body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _dispatch


class _EmulatorHTTPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, owner: Any, context: ssl.SSLContext | None, host: str = "127.0.0.1") -> None:
        self.owner = owner
        self.context = context
        super().__init__((host, 0), _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        if self.context is None:
            return sock, address
        # The handshake runs in the connection's own thread (do_handshake_on_connect), so a
        # slow or failing client never blocks accept().
        sock.settimeout(10)
        wrapped = self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return wrapped, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Handshake failures are expected in tests (a refused DH group, an unknown CA); they
        # are recorded as handshakes, not printed as tracebacks.
        pass

    @property
    def port(self) -> int:
        return int(self.server_address[1])


def _dh_bits(cipher: str | None, profile: Profile) -> int | None:
    if cipher is None or not (cipher.startswith(("DHE-", "EDH-"))):
        return None
    return 2048 if profile == "dhe2048" else 1024


class ServerSet:
    """The HTTPS server, its plain-HTTP sibling and the proxy, each on 127.0.0.1 port 0."""

    def __init__(
        self,
        *,
        handle: Callable[[str, str, dict[str, str], bytes, str], Reply],
        profile: Profile,
        identity: Identity,
        client_ca: str | None,
        latency: float,
        https_proxy: bool,
        hosts: frozenset[str],
    ) -> None:
        self._handle = handle
        self.hosts = hosts
        self.profile = profile
        self.identity = identity
        self.latency = latency
        self.faults = FaultPlan()
        self.requests: deque[RequestRecord] = deque(maxlen=100_000)
        self.handshakes: deque[Handshake] = deque(maxlen=100_000)
        self.proxy_tunnels: deque[str] = deque(maxlen=100_000)
        self._https = _EmulatorHTTPServer(self, server_context(profile, identity, client_ca))
        self._http = _EmulatorHTTPServer(self, None)
        proxy_context = None
        if https_proxy:
            proxy_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            proxy_context.load_cert_chain(identity.cert_chain, identity.private_key)
        self._proxy = _ProxyServer(self, proxy_context)
        self._threads: list[threading.Thread] = []

    @property
    def https_port(self) -> int:
        return self._https.port

    @property
    def http_port(self) -> int:
        return self._http.port

    @property
    def proxy_port(self) -> int:
        return int(self._proxy.server_address[1])

    def start(self) -> None:
        for server in (self._https, self._http, self._proxy):
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"neuromorpho-emulator-{type(server).__name__}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        for server in (self._https, self._http, self._proxy):
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()

    # -- called from handler threads -------------------------------------------------------

    def proxy_backend(self, host: str, port: str) -> int | None:
        """The loopback port a proxied connection to (host, port) goes to, if it is ours."""
        if host.lower().rstrip(".") not in self.hosts:
            return None
        return self.http_port if port == "80" else self.https_port

    def record_handshake(self, sock: ssl.SSLSocket) -> None:
        try:
            sock.do_handshake()
        except (ssl.SSLError, OSError) as error:
            self.handshakes.append(
                Handshake(
                    None, None, None, None, error=getattr(error, "reason", None) or str(error)
                )
            )
            raise
        cipher = sock.cipher()
        name = cipher[0] if cipher else None
        peer = sock.getpeercert()
        subject = None
        if peer:
            rdns: Any = peer.get("subject", ())
            subject = ",".join(f"{key}={value}" for rdn in rdns for key, value in rdn)
        self.handshakes.append(
            Handshake(
                getattr(sock, "neuromorpho_sni", None),
                sock.version(),
                name,
                _dh_bits(name, self.profile),
                subject,
            )
        )
        sock.settimeout(_Handler.timeout)

    def serve(self, handler: _Handler, body: bytes) -> None:
        tls = isinstance(handler.request, ssl.SSLSocket)
        host = handler.headers.get("Host", "neuromorpho.org").split(":")[0]
        target = handler.path
        if not tls:
            # NeuroMorpho.Org answers plain HTTP with a permanent redirect to https.
            reply = Reply(301, [("Location", f"https://{host}{target}")], b"")
        else:
            headers = dict(handler.headers.items())
            reply = self._handle(handler.command, target, headers, body, f"https://{host}")
        if self.latency:
            time.sleep(self.latency)
        fault = self.faults.take(target) if tls else None
        status = reply.status
        if fault is not None and fault.kind == "status":
            status = int(fault.params.get("status", 500))
        elif fault is not None and fault.kind == "html":
            status = 200
        self.requests.append(
            RequestRecord(handler.command, target, dict(handler.headers.items()), status)
        )
        _send(handler, reply, fault)


def _send(handler: _Handler, reply: Reply, fault: Fault | None) -> None:
    status, headers, body = reply.status, list(reply.headers), reply.body
    params = fault.params if fault else {}
    kind = fault.kind if fault else None
    if kind == "status":
        status = int(params.get("status", 500))
        extra = params.get("headers") or {}
        headers = [("Content-Type", "application/json"), *extra.items()]
        raw = params.get("body", b'{"status":500,"error":"Internal Server Error"}')
        body = raw.encode() if isinstance(raw, str) else bytes(raw)
    elif kind == "html":
        status, headers, body = 200, [("Content-Type", "text/html;charset=utf-8")], HTML_ERROR_PAGE
    if kind == "stall" and not params.get("after_bytes"):
        time.sleep(float(params.get("seconds", 5.0)))
    if kind == "reset" and params.get("after_bytes") is None:
        _reset(handler)
        return

    handler.send_response(status)
    for name, value in headers:
        handler.send_header(name, value)
    if kind not in ("reset", "truncate") and (
        handler.close_connection or handler.headers.get("Connection", "").lower() == "close"
    ):
        # Say so, as real servers do: a client that is not told may reuse the connection.
        handler.send_header("Connection", "close")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if handler.command == "HEAD":
        return

    sent = len(body)
    if kind == "reset":
        sent = int(params["after_bytes"])
    elif kind == "truncate":
        keep = params.get("keep", 0.5)
        sent = int(len(body) * keep) if isinstance(keep, float) else int(keep)
    elif kind == "stall":
        sent = int(params.get("after_bytes") or 0)
    sent = max(0, min(sent, len(body)))
    try:
        handler.wfile.write(body[:sent])
        handler.wfile.flush()
        if kind == "stall" and params.get("after_bytes"):
            time.sleep(float(params.get("seconds", 5.0)))
            handler.wfile.write(body[sent:])
            return
    except OSError:
        handler.close_connection = True
        return
    if kind == "reset":
        _reset(handler)
    elif kind == "truncate":
        handler.close_connection = True
    elif sent < len(body):
        handler.wfile.write(body[sent:])


def _reset(handler: _Handler) -> None:
    handler.close_connection = True
    connection = handler.connection
    with contextlib.suppress(OSError):
        # SO_LINGER 0 makes close() send RST: a reset, not an orderly end of stream.
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        os.close(connection.detach())


# -- the CONNECT proxy ------------------------------------------------------------------------


class _ProxyHandler(socketserver.StreamRequestHandler):
    server: _ProxyServer

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
            self._reply(200, "Connection Established", close=False)
            _pump(sock, upstream)
            return
        match = re.match(r"http://([^/:]+)(?::\d+)?(/.*)?$", target)
        if match and owner.proxy_backend(match.group(1), "443") is not None:
            # Plain-HTTP proxying: answer like the real site, with a redirect to https.
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


class _ProxyServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, owner: Any, context: ssl.SSLContext | None) -> None:
        self.owner = owner
        self.context = context
        super().__init__(("127.0.0.1", 0), _ProxyHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


def iter_records(records: deque[RequestRecord]) -> Iterator[RequestRecord]:
    """A snapshot of *records*, safe while the server keeps appending."""
    return iter(list(records))
