"""Loopback servers of the emulator: HTTPS with NeuroMorpho.Org's TLS shape, the plain-HTTP
redirect, and the CONNECT proxy (``_proxy``). Transport only: answers come from ``_app``,
faults from ``_faults``.

This module is long because the latency model and the server loop charge the same round
trips and are checked together.

Latency model (``latency`` is one network round trip, 0 by default): a new connection pays
one round trip for the TCP connect, then one per TLS handshake flight the client waits for
(a full TLS 1.2 handshake two, TLS 1.3 or a resumed session one), and every request one
more, on top of the server time the app asks for (``Reply.server_time``). Loopback connects
complete in the kernel, so the connect's round trip is paid before the server's first
flight: the client sees the same total, before its first response. Through the proxy,
which stands next to the client, the CONNECT pays the round trip of the connect to the
server instead. Every socket the emulator writes has ``TCP_NODELAY`` (Nagle plus delayed
ACKs would add ~40 ms to small responses).
"""

from __future__ import annotations

import itertools
import os
import select
import socket
import socketserver
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from importlib import resources
from typing import Any, Literal

from neuromorpho_api.testing._app import Reply
from neuromorpho_api.testing._faults import FaultPlan, send_reply
from neuromorpho_api.testing._proxy import ProxyServer

__all__ = [
    "PROFILES",
    "Handshake",
    "Identity",
    "Profile",
    "RequestRecord",
    "ServerSet",
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
        """The throwaway PKI shipped with the package (valid until 2075).

        Its server key is in every copy of the package, so anyone can present it: the emulator
        never exports trust in this CA (see :meth:`generate` for the identity it uses instead).
        """
        return cls(
            data_file("emulator-server.pem"),
            data_file("emulator-server-key.pem"),
            data_file("emulator-ca.pem"),
        )

    @classmethod
    def generate(cls, directory: str, names: Iterable[str]) -> Identity:
        """A new CA and a server certificate for *names*, written into *directory*.

        The certificate also covers ``localhost`` and ``127.0.0.1``. Keys are RSA (DHE-RSA
        suites need one). The CA's private key is never written and is dropped on return, so
        nothing else can ever be signed by this CA; the server key is written readable by its
        owner only, for the caller to load and then delete.

        Args:
            directory: an existing directory, private to the caller.
            names: the host names the certificate is for.

        Returns:
            The identity (``ca.pem``, ``server.pem``, ``server-key.pem`` in *directory*).

        Raises:
            ImportError: ``trustme`` (the ``emulator`` extra) is not installed.
        """
        import trustme

        authority = trustme.CA(
            organization_name="neuromorpho-api emulator, one run only",
            key_type=trustme.KeyType.RSA,
        )
        leaf = authority.issue_cert(
            *sorted(set(names)), "localhost", "127.0.0.1", key_type=trustme.KeyType.RSA
        )
        identity = cls(
            os.path.join(directory, "server.pem"),
            os.path.join(directory, "server-key.pem"),
            os.path.join(directory, "ca.pem"),
        )
        with open(identity.ca, "xb") as ca:
            ca.write(authority.cert_pem.bytes())
        with open(identity.cert_chain, "xb") as chain:
            for blob in leaf.cert_chain_pems:
                chain.write(blob.bytes())
        descriptor = os.open(identity.private_key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as key:
            key.write(leaf.private_key_pem.bytes())
        return identity


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
    """What one TLS handshake with the emulator negotiated (or why it failed).

    ``started`` and ``ended`` are :func:`time.monotonic` readings around the handshake
    (the modelled round trips included), ``connection`` the id of its connection (the one
    in :attr:`RequestRecord.connection`), ``round_trips`` the handshake flights charged
    (0 when ``latency`` is 0).
    """

    server_name: str | None
    protocol: str | None
    cipher: str | None
    dh_bits: int | None
    client_certificate: str | None = None
    error: str | None = None
    connection: int = 0
    started: float = 0.0
    ended: float = 0.0
    round_trips: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class RequestRecord:
    """One request the emulator answered.

    ``started`` (request head read) and ``ended`` (response about to be sent, after the
    server time and the round trip) are :func:`time.monotonic` readings; ``connection``
    numbers the emulator's connections from 1 in accept order (plain HTTP and HTTPS alike).
    """

    method: str
    target: str
    headers: dict[str, str]
    status: int
    connection: int = 0
    started: float = 0.0
    ended: float = 0.0


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
        owner = self.server.owner
        self.connection_id = owner.new_connection_id()
        owner.charge_connect(self.request)
        if isinstance(self.request, ssl.SSLSocket):
            owner.handshake(self.request, self.connection_id)
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (ConnectionError, ssl.SSLError, TimeoutError, socket.timeout):
            self.close_connection = True

    def _dispatch(self) -> None:
        owner = self.server.owner
        started = time.monotonic()
        owner.enter()
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            owner.serve(self, body, started)
        finally:
            owner.leave()

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
        # The handshake runs in the connection's own thread (``_Handler.setup``), so a slow
        # or failing client never blocks accept().
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
        proxy_port: int = 0,
    ) -> None:
        self._handle = handle
        self.hosts = hosts
        self.profile = profile
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
        self._proxy = ProxyServer(self, proxy_context, proxy_port)
        self._threads: list[threading.Thread] = []
        #: How the servers wait out modelled time (a test may record calls instead).
        self.sleep: Callable[[float], None] = time.sleep
        self._ids = itertools.count(1)
        self._count_lock = threading.Lock()
        self._in_flight = 0
        #: Most requests handled at once (head read to response sent) since the last reset.
        self.peak_in_flight = 0
        # Local addresses of the proxy's upstream connections: their connect round trip
        # was paid by the CONNECT.
        self._prepaid: set[tuple[str, int]] = set()

    @property
    def https_port(self) -> int:
        return self._https.port

    @property
    def http_port(self) -> int:
        return self._http.port

    @property
    def proxy_port(self) -> int:
        return self._proxy.port

    @property
    def proxy_scheme(self) -> str:
        """``https`` when the proxy itself speaks TLS, else ``http``."""
        return self._proxy.scheme

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

    def new_connection_id(self) -> int:
        return next(self._ids)

    def enter(self) -> None:
        with self._count_lock:
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)

    def leave(self) -> None:
        with self._count_lock:
            self._in_flight -= 1

    def reset_peak(self) -> None:
        """Start counting :attr:`peak_in_flight` again from the requests in flight now."""
        with self._count_lock:
            self.peak_in_flight = self._in_flight

    def prepay(self, address: tuple[str, int]) -> None:
        """The proxy paid the connect round trip of its connection from *address*."""
        with self._count_lock:
            self._prepaid.add(address)

    def charge_connect(self, sock: socket.socket) -> None:
        """Sleep one round trip for the TCP connect, once the client has spoken."""
        rtt = self.latency
        if not rtt:
            return
        # Wait for the client's first bytes: a connection from the proxy is registered as
        # prepaid before its client may send anything.
        select.select([sock], [], [], 10)
        try:
            peer = sock.getpeername()
        except OSError:
            return
        with self._count_lock:
            prepaid = (peer[0], peer[1]) in self._prepaid
            self._prepaid.discard((peer[0], peer[1]))
        if not prepaid:
            self.sleep(rtt)

    def handshake(self, wrapped: ssl.SSLSocket, connection: int) -> None:
        """Run the server side of the handshake on *wrapped*, logging it."""
        started = time.monotonic()
        flights = 0
        try:
            rtt = self.latency
            if rtt:
                flights = _slow_handshake(wrapped, rtt, self.sleep)
            else:
                wrapped.do_handshake()
        except (ssl.SSLError, OSError) as error:
            self.handshakes.append(
                Handshake(
                    None,
                    None,
                    None,
                    None,
                    error=getattr(error, "reason", None) or str(error),
                    connection=connection,
                    started=started,
                    ended=time.monotonic(),
                    round_trips=flights,
                )
            )
            raise
        cipher = wrapped.cipher()
        name = cipher[0] if cipher else None
        peer = wrapped.getpeercert()
        subject = None
        if peer:
            rdns: Any = peer.get("subject", ())
            subject = ",".join(f"{key}={value}" for rdn in rdns for key, value in rdn)
        self.handshakes.append(
            Handshake(
                getattr(wrapped, "neuromorpho_sni", None),
                wrapped.version(),
                name,
                _dh_bits(name, self.profile),
                subject,
                connection=connection,
                started=started,
                ended=time.monotonic(),
                round_trips=flights,
            )
        )
        wrapped.settimeout(_Handler.timeout)

    def serve(self, handler: _Handler, body: bytes, started: float) -> None:
        tls = isinstance(handler.request, ssl.SSLSocket)
        host = handler.headers.get("Host", "neuromorpho.org").split(":")[0]
        target = handler.path
        if not tls:
            # NeuroMorpho.Org answers plain HTTP with a permanent redirect to https.
            reply = Reply(301, [("Location", f"https://{host}{target}")], b"")
        else:
            headers = dict(handler.headers.items())
            reply = self._handle(handler.command, target, headers, body, f"https://{host}")
        delay = reply.server_time + self.latency
        if delay > 0:
            self.sleep(delay)
        fault = self.faults.take(target) if tls else None
        status = reply.status
        if fault is not None and fault.kind == "status":
            status = int(fault.params.get("status", 500))
        elif fault is not None and fault.kind == "html":
            status = 200
        self.requests.append(
            RequestRecord(
                handler.command,
                target,
                dict(handler.headers.items()),
                status,
                connection=handler.connection_id,
                started=started,
                ended=time.monotonic(),
            )
        )
        send_reply(handler, reply, fault)


def _slow_handshake(sock: ssl.SSLSocket, rtt: float, sleep: Callable[[float], None]) -> int:
    """Handshake, answering each client flight one round trip late; return the flights.

    The first flight (ServerHello...) always costs one. A client's next flight that opens
    with a handshake record (TLS 1.2's ClientKeyExchange, or a second ClientHello after a
    HelloRetryRequest) waits for one more server flight; TLS 1.3's encrypted Finished and a
    resumed TLS 1.2 session's ChangeCipherSpec do not. OpenSSL may read that flight before
    it can be peeked at (the client answered at once): a full TLS 1.2 handshake then pays
    its second round trip just after, so the client sees it before its first response.
    """
    sleep(rtt)
    flights = 1
    # A duplicate descriptor, to peek at the client's next record under the TLS layer.
    peek = socket.fromfd(sock.fileno(), socket.AF_INET, socket.SOCK_STREAM)
    deadline = time.monotonic() + 10
    try:
        sock.setblocking(False)
        while True:
            try:
                sock.do_handshake()
                if flights == 1 and sock.version() == "TLSv1.2" and not sock.session_reused:
                    sleep(rtt)
                    flights = 2
                return flights
            except ssl.SSLWantReadError:
                reading = True
            except ssl.SSLWantWriteError:
                reading = False
            left = max(0.0, deadline - time.monotonic())
            ready = select.select([sock] if reading else [], [] if reading else [sock], [], left)
            if not any(ready):
                raise socket.timeout("TLS handshake timed out")
            if reading and flights == 1 and _peek(peek) == b"\x16":
                sleep(rtt)
                flights = 2
    finally:
        peek.close()
        sock.setblocking(True)


def _peek(sock: socket.socket) -> bytes:
    try:
        return sock.recv(1, socket.MSG_PEEK)
    except OSError:  # nothing there after all, or the client has gone: no flight to wait for
        return b""
