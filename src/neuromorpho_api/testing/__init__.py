"""An offline emulator of NeuroMorpho.Org, for tests, docs, benchmarks and demos.

It serves the REST API and the data files from a deterministic synthetic database over real
HTTPS on 127.0.0.1, with the real server's TLS shape (TLS 1.2, DHE-RSA, a 1024-bit group)::

    from neuromorpho_api.testing import Emulator

    with Emulator() as emulator:
        # https://neuromorpho.org now reaches the emulator, and only from this process
        records = NeuroMorpho().search(species="rat")

Inside the ``with`` block, ``neuromorpho.org`` and ``www.neuromorpho.org`` resolve to the
emulator and bypass any proxy, every other non-loopback name fails to resolve, and
``REQUESTS_CA_BUNDLE`` names a bundle that trusts the emulator's CA. Child processes get the
same through a loopback proxy: pass them :meth:`Emulator.environ`. In pytest, use the
``neuromorpho_emulator`` fixture (registered by installing the package).

Every emulator makes its own CA and server key (with trustme, the ``emulator`` extra); the CA's
key is dropped at once and the server key lives only in this process, so the CA vouches for
this emulator and nothing else. The PKI shipped in the package is public; it serves only
in-process, routed use and is never exported (``neuromorpho demo`` without trustme).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType

from neuromorpho_api.testing._app import EmulatorOptions, NeuroMorphoApp, Reply
from neuromorpho_api.testing._database import SyntheticDatabase
from neuromorpho_api.testing._faults import Fault, FaultPlan
from neuromorpho_api.testing._resolver import RouteTable, activate, deactivate
from neuromorpho_api.testing._tlsserver import (
    PROFILES,
    Handshake,
    Identity,
    Profile,
    RequestRecord,
    ServerSet,
    data_file,
)

__all__ = [
    "PROFILES",
    "Emulator",
    "EmulatorOptions",
    "Fault",
    "FaultPlan",
    "Handshake",
    "Identity",
    "RequestRecord",
    "SyntheticDatabase",
]

_TRUST_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
# requests and urllib read the lower-case one first, curl and others the upper-case one.
_BYPASS_VARIABLES = ("no_proxy", "NO_PROXY")
_INSTALL_HINT = "pip install 'neuromorpho-api[emulator]'"
DEFAULT_HOSTS = frozenset({"neuromorpho.org", "www.neuromorpho.org"})


class Emulator:
    """A NeuroMorpho.Org emulator on loopback.

    Args:
        n_neurons: size of the synthetic database (ignored when *database* is given).
        seed: seed of the synthetic database; the same seed gives the same data.
        database: the database to serve instead of a new synthetic one.
        options: switches between the candidate behaviours of the real server.
        profile: the TLS shape, one of :data:`PROFILES` (default: the real server's).
        hosts: host names routed to the emulator while it is active.
        identity: certificate chain, key and CA. Default: a new CA and key for this emulator
            (needs trustme). :meth:`Identity.shipped` is public, so an emulator using it never
            puts its CA into the environment.
        client_ca: ask for client certificates and verify them against this CA file.
        isolate: while active, make every other non-loopback name fail to resolve.
        latency: one network round trip in seconds: charged per request, per TCP connect
            and per TLS handshake flight (see ``_tlsserver``).
        https_proxy: serve the proxy over TLS (an HTTPS proxy) instead of plain HTTP.
        proxy_port: port of the loopback proxy (default: any free one).

    Attributes:
        database (SyntheticDatabase): The database served: the ground truth for assertions.
        base_url (str): The site root the emulator answers for (``https://neuromorpho.org``);
            clients keep using the real URL.
        identity (Identity): The certificate chain, key and CA served (a new one's key file
            is already deleted).
        hosts (frozenset[str]): The host names routed to the emulator while it is active.
        isolate (bool): Whether other non-loopback names fail to resolve while it is active.

    The TLS :attr:`profile`, the :attr:`latency`, the :attr:`options`, the :attr:`faults`,
    the ports and the logs (:attr:`requests`, :attr:`handshakes`) are properties, below.

    Raises:
        ImportError: No *identity* is given and trustme is not installed.
        ValueError: *profile* is not one of :data:`PROFILES`.
    """

    base_url = "https://neuromorpho.org"

    def __init__(
        self,
        n_neurons: int = 3000,
        *,
        seed: int = 0,
        database: SyntheticDatabase | None = None,
        options: EmulatorOptions | None = None,
        profile: Profile = "legacy",
        hosts: frozenset[str] = DEFAULT_HOSTS,
        identity: Identity | None = None,
        client_ca: str | None = None,
        isolate: bool = True,
        latency: float = 0.0,
        https_proxy: bool = False,
        proxy_port: int = 0,
    ) -> None:
        if profile not in PROFILES:
            raise ValueError(f"unknown TLS profile {profile!r}; choose from {PROFILES}")
        self.database = (
            database if database is not None else SyntheticDatabase(n_neurons, seed=seed)
        )
        self.app = NeuroMorphoApp(self.database, options or EmulatorOptions())
        self.hosts = frozenset(host.lower().rstrip(".") for host in hosts)
        self.isolate = isolate
        key_file: str | None = None
        self._pki_dir: str | None = None
        if identity is None:
            identity, key_file = self._new_identity()
        self.identity = identity
        # Anyone can present the shipped key, so trusting its CA is never exported.
        self._public_key = _same_bytes(identity.ca, data_file("emulator-ca.pem"))
        try:
            self._servers = ServerSet(
                handle=self._handle,
                profile=profile,
                identity=self.identity,
                client_ca=client_ca,
                latency=latency,
                https_proxy=https_proxy,
                hosts=self.hosts,
                proxy_port=proxy_port,
            )
        finally:
            if key_file is not None:
                # Loaded into the server contexts: from now on the key exists only in memory.
                os.remove(key_file)
        self._lock = threading.Lock()
        self._started = False
        self._workdir: str | None = None
        self._activations: list[tuple[RouteTable, dict[str, str | None]]] = []

    # -- state -------------------------------------------------------------------------------

    @property
    def options(self) -> EmulatorOptions:
        """Switches between the candidate behaviours of the real server (mutable)."""
        return self.app.options

    @options.setter
    def options(self, value: EmulatorOptions) -> None:
        self.app.options = value

    @property
    def faults(self) -> FaultPlan:
        """Faults to inject into the next matching responses."""
        return self._servers.faults

    @property
    def requests(self) -> list[RequestRecord]:
        """The requests answered so far, oldest first."""
        return list(self._servers.requests)

    @property
    def handshakes(self) -> list[Handshake]:
        """The TLS handshakes so far (negotiated protocol, cipher, DH size), oldest first."""
        return list(self._servers.handshakes)

    @property
    def proxy_tunnels(self) -> list[str]:
        """``host:port`` of every CONNECT tunnel the proxy opened."""
        return list(self._servers.proxy_tunnels)

    @property
    def peak_in_flight(self) -> int:
        """Most requests handled at once (head read to response sent) since the last reset."""
        return self._servers.peak_in_flight

    @property
    def profile(self) -> Profile:
        """The TLS shape served, one of :data:`PROFILES`."""
        return self._servers.profile

    @property
    def latency(self) -> float:
        """One network round trip in seconds (settable): charged per request, per TCP connect
        and per TLS handshake flight."""
        return self._servers.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self._servers.latency = seconds

    @property
    def port(self) -> int:
        """The HTTPS port on 127.0.0.1."""
        return self._servers.https_port

    @property
    def http_port(self) -> int:
        """The plain-HTTP port on 127.0.0.1 (it redirects to https, like the real site)."""
        return self._servers.http_port

    @property
    def proxy_url(self) -> str:
        """URL of the loopback proxy that tunnels only to the emulator."""
        scheme = self._servers.proxy_scheme
        host = "localhost" if scheme == "https" else "127.0.0.1"
        return f"{scheme}://{host}:{self._servers.proxy_port}"

    @property
    def ca_file(self) -> str:
        """PEM file of the CA that signed the emulator's certificate (removed on :meth:`stop`)."""
        return self.identity.ca

    @property
    def ca_bundle(self) -> str:
        """A bundle with certifi's roots plus the emulator's CA (created on start).

        Raises:
            RuntimeError: The emulator was not started.
        """
        if self._workdir is None:
            raise RuntimeError("start the emulator first")
        return os.path.join(self._workdir, "ca-bundle.pem")

    def reset(self) -> None:
        """Default options, no faults, empty request and handshake logs."""
        self.app.options = EmulatorOptions()
        self._servers.faults.clear()
        self._servers.requests.clear()
        self._servers.handshakes.clear()
        self._servers.proxy_tunnels.clear()
        self._servers.reset_peak()

    # -- life cycle ----------------------------------------------------------------------------

    def start(self) -> Emulator:
        """Start serving (without routing anything to it yet); a no-op if started.

        Returns:
            The emulator itself, for ``emulator = Emulator().start()``.
        """
        with self._lock:
            if not self._started:
                self._workdir = tempfile.mkdtemp(prefix="neuromorpho-emulator-")
                # Removed by stop(), or at exit for a script that never calls it.
                weakref.finalize(self, shutil.rmtree, self._workdir, True)
                self._write_bundle(os.path.join(self._workdir, "ca-bundle.pem"))
                self._servers.start()
                self._started = True
        return self

    def stop(self) -> None:
        """Stop serving, undo every activation and delete the emulator's files."""
        while self._activations:
            self.deactivate()
        with self._lock:
            if self._started:
                self._servers.stop()
                self._started = False
            if self._workdir is not None:
                shutil.rmtree(self._workdir, ignore_errors=True)
                self._workdir = None
            if self._pki_dir is not None:
                shutil.rmtree(self._pki_dir, ignore_errors=True)
                self._pki_dir = None

    def activate(self) -> None:
        """Route NeuroMorpho.Org to the emulator, past any proxy, in this process.

        Also trusts the emulator's CA through ``REQUESTS_CA_BUNDLE``, unless its key is the
        shipped, public one: then only requests that name :attr:`ca_file` trust it.
        """
        self.start()
        table = RouteTable(self.hosts, self.http_port, self.port, self.isolate)
        saved = {name: os.environ.get(name) for name in (*_TRUST_VARIABLES, *_BYPASS_VARIABLES)}
        activate(table)
        # A proxy would resolve these names itself, away from the emulator: bypass every one,
        # whatever HTTPS_PROXY, ALL_PROXY or the system settings say.
        listed = os.environ.get("no_proxy") or os.environ.get("NO_PROXY") or ""
        bypass = [item for item in listed.split(",") if item.strip()]
        bypass += sorted(self.hosts) + sorted(f"{host}." for host in self.hosts)
        for name in _BYPASS_VARIABLES:
            os.environ[name] = ",".join(bypass)
        if not self._public_key:
            os.environ["REQUESTS_CA_BUNDLE"] = self.ca_bundle
            os.environ.pop("CURL_CA_BUNDLE", None)
        self._activations.append((table, saved))

    def deactivate(self) -> None:
        """Undo the latest :meth:`activate`.

        Raises:
            IndexError: The emulator is not active.
        """
        table, saved = self._activations.pop()
        deactivate(table)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    @contextlib.contextmanager
    def active(self) -> Iterator[Emulator]:
        """Context manager form of :meth:`activate` / :meth:`deactivate`.

        Yields:
            The emulator, active for the ``with`` block.
        """
        self.activate()
        try:
            yield self
        finally:
            self.deactivate()

    def __enter__(self) -> Emulator:
        self.start()
        self.activate()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def environ(self) -> dict[str, str]:
        """Environment variables that point another process's clients at the emulator.

        Nothing is exported until you pass these on. The child keeps real URLs: its
        connections go through the emulator's loopback proxy, which tunnels to the emulator
        and refuses every other destination; ``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE`` and
        ``SSL_CERT_FILE`` name :attr:`ca_bundle` (certifi's roots plus this emulator's CA).

        Raises:
            RuntimeError: the emulator uses the shipped identity, whose key is public.
        """
        if self._public_key:
            raise RuntimeError(
                "this emulator uses the key shipped in the package, which anyone can present, "
                "so its CA is never handed to other processes; install trustme for a key of "
                f"its own: {_INSTALL_HINT}"
            )
        self.start()
        return {
            "HTTPS_PROXY": self.proxy_url,
            "HTTP_PROXY": self.proxy_url,
            "https_proxy": self.proxy_url,
            "http_proxy": self.proxy_url,
            "NO_PROXY": "",
            "no_proxy": "",
            "REQUESTS_CA_BUNDLE": self.ca_bundle,
            "CURL_CA_BUNDLE": self.ca_bundle,
            "SSL_CERT_FILE": self.ca_bundle,
        }

    def __repr__(self) -> str:
        state = f"port {self.port}" if self._started else "stopped"
        return f"<Emulator {len(self.database.neurons)} neurons, {self.profile}, {state}>"

    # -- internals -----------------------------------------------------------------------------

    def _handle(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes, base_url: str
    ) -> Reply:
        return self.app.handle(method, target, headers, body, base_url=base_url)

    def _new_identity(self) -> tuple[Identity, str]:
        try:
            import trustme  # noqa: F401
        except ImportError as error:
            raise ImportError(
                f"the emulator makes a new CA and key for every run with trustme, which is not "
                f"installed: {_INSTALL_HINT}"
            ) from error
        directory = tempfile.mkdtemp(prefix="neuromorpho-emulator-pki-")
        self._pki_dir = directory
        # Removed by stop(), or when the emulator is collected if it never runs.
        weakref.finalize(self, shutil.rmtree, directory, True)
        identity = Identity.generate(directory, self.hosts)
        return identity, identity.private_key

    def _write_bundle(self, path: str) -> None:
        from requests import utils

        # Typed here because the stubs leave requests' helper untyped.
        extract_zipped_paths: Callable[[str], str] = utils.extract_zipped_paths
        roots = extract_zipped_paths(utils.DEFAULT_CA_BUNDLE_PATH)
        with open(path, "wb") as bundle:
            with contextlib.suppress(OSError), open(roots, "rb") as source:
                shutil.copyfileobj(source, bundle)
            bundle.write(b"\n")
            with open(self.identity.ca, "rb") as ca:
                bundle.write(ca.read())


def _same_bytes(path: str, other: str) -> bool:
    with open(path, "rb") as first, open(other, "rb") as second:
        return first.read().strip() == second.read().strip()
