"""Loopback servers of the emulator: HTTPS with NeuroMorpho.Org's TLS shape, the plain-HTTP
redirect, and the CONNECT proxy (``_proxy``). Transport only: answers come from ``_app``,
faults from ``_faults``."""

from __future__ import annotations

import os
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
        send_reply(handler, reply, fault)
