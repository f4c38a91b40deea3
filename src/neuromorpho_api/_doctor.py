"""``neuromorpho doctor``: does this machine need the TLS workaround, and does it work?"""

from __future__ import annotations

import os
import platform
import re
import ssl
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
import urllib3

from neuromorpho_api._explain import describe, is_dh_key_too_small, short
from neuromorpho_api._session import NeuroMorphoSession
from neuromorpho_api._tls import NEUROMORPHO_HOSTS, SECURITY_LEVEL, extract_zipped_paths
from neuromorpho_api._version import __version__

__all__ = ["Diagnosis", "Probe", "TrustSetting", "diagnose"]

# Variables that decide which certificates are trusted. requests reads the first two (the first
# set one wins, in this order); Python's ssl default store and OpenSSL's tools read the others.
BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
STORE_VARIABLES = ("SSL_CERT_FILE", "SSL_CERT_DIR")


@dataclass
class Probe:
    """One HTTPS request to the site and what its TLS connection negotiated."""

    label: str
    ok: bool
    status: int | None = None
    protocol: str | None = None
    cipher: str | None = None
    verified: bool | None = None
    error: str | None = None
    dh_key_too_small: bool = False
    """Whether the handshake failed because the server's DH group was refused as too small."""


@dataclass(frozen=True)
class TrustSetting:
    """One certificate-trust environment variable that is set, and what is wrong with it."""

    variable: str
    value: str
    problem: str | None
    """``None`` when usable, else e.g. ``"no such file"``."""
    used_by_requests: bool
    """Whether requests (and so this package) takes its trust from this variable."""
    note: str
    """Who reads the variable, e.g. ``"requests uses it"``."""

    def line(self) -> str:
        state = f"NOT USABLE: {self.problem}" if self.problem else "ok"
        return f"{self.variable:<22} {self.value!r}: {state} ({self.note})"


@dataclass
class Diagnosis:
    """Versions, settings and the two probes, with a verdict."""

    url: str
    facts: dict[str, str] = field(default_factory=dict)
    stock: Probe | None = None
    ours: Probe | None = None
    trust: list[TrustSetting] = field(default_factory=list)
    """The trust variables that are set (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, SSL_CERT_*)."""
    fallbacks: list[Probe] = field(default_factory=list)
    """Probes with default trust, made when the bundle requests would use is not usable."""

    @property
    def bad_bundle(self) -> TrustSetting | None:
        """The variable requests takes its trust from, when that bundle is not usable."""
        return next((t for t in self.trust if t.used_by_requests and t.problem), None)

    @property
    def verdict(self) -> str:
        stock, ours = self.stock, self.ours
        if stock is None or ours is None:
            return "not probed"
        bad = self.bad_bundle
        if bad is not None:
            worked = [probe.label[len("with ") :] for probe in self.fallbacks if probe.ok]
            advice = (
                f"Without it, neuromorpho_api reaches the site with {' and with '.join(worked)}."
                if worked
                else "The default trust stores do not reach the site either (see above)."
            )
            return (
                f"{bad.variable} is set to {bad.value!r}, which is not usable ({bad.problem}); "
                f"unset it or point it at a PEM CA bundle. {advice}"
            )
        if stock.ok and ours.ok:
            return (
                "not needed: plain requests reaches the site with stock settings; "
                "neuromorpho_api adds nothing but retries and timeouts here"
            )
        if ours.ok and stock.dh_key_too_small:
            return (
                "needed: the site's Diffie-Hellman group is refused at the default security "
                "level; neuromorpho_api reaches it at level 1 with verification on"
            )
        if ours.ok:
            return f"neuromorpho_api works; plain requests fails: {stock.error}"
        return f"the site cannot be reached: {ours.error}"

    @property
    def ok(self) -> bool:
        return self.ours is not None and self.ours.ok

    def dh_group(self) -> str:
        """What the probes tell about the server's DH group (Python cannot read its size)."""
        ours, stock = self.ours, self.stock
        if ours is None or not ours.ok:
            return "unknown (the site was not reached)"
        if not (ours.cipher or "").startswith("DHE-"):
            return "not used (no DHE suite negotiated)"
        if stock is not None and stock.dh_key_too_small:
            return "1024 to 2047 bits (refused at security level 2, accepted at level 1)"
        return "at least 2048 bits (accepted at the default security level)"

    def lines(self) -> list[str]:
        out = [f"{name:<22} {value}" for name, value in self.facts.items()]
        out.extend(setting.line() for setting in self.trust)
        for probe in (self.stock, self.ours, *self.fallbacks):
            if probe is None:
                continue
            if probe.ok:
                detail = (
                    f"HTTP {probe.status}, {probe.protocol}, {probe.cipher}, "
                    f"certificate {'verified' if probe.verified else 'NOT verified'}"
                )
            else:
                detail = f"FAILED: {probe.error}"
            out.append(f"{probe.label:<22} {detail}")
        out.append(f"{'DH group':<22} {self.dh_group()}")
        out.append(f"{'verdict':<22} {self.verdict}")
        return out


def _default_security_level() -> str:
    level = getattr(ssl.create_default_context(), "security_level", None)
    return str(level) if level is not None else "unknown (Python < 3.10)"


def _fips_mode() -> str:
    try:
        with open("/proc/sys/crypto/fips_enabled") as flag:
            return "on" if flag.read().strip() == "1" else "off"
    except OSError:
        return "unknown"


def _connection_facts(response: requests.Response) -> tuple[str | None, str | None, bool | None]:
    raw: Any = response.raw
    connection = getattr(raw, "connection", None) or getattr(raw, "_connection", None)
    sock = getattr(connection, "sock", None)
    protocol = cipher = None
    if sock is not None and hasattr(sock, "cipher"):
        suite = sock.cipher()
        cipher = suite[0] if suite else None
        protocol = sock.version() if hasattr(sock, "version") else None
    verified = getattr(connection, "is_verified", None)
    return protocol, cipher, verified


def _probe(
    label: str, session: requests.Session, url: str, timeout: float, verify: bool | str
) -> Probe:
    # verify= goes on the request: a session-level CA bundle loses to REQUESTS_CA_BUNDLE.
    try:
        with session.get(url, stream=True, timeout=timeout, verify=verify) as response:
            protocol, cipher, verified = _connection_facts(response)
            return Probe(label, True, response.status_code, protocol, cipher, verified)
    except requests.exceptions.RequestException as error:
        return Probe(
            label, False, error=_one_line(error), dh_key_too_small=is_dh_key_too_small(error)
        )
    except OSError as error:
        # requests raises a bare OSError for a CA bundle path that does not exist, and loading
        # an unreadable or empty one raises ssl.SSLError (an OSError) before any connection.
        problem = check_ca_location(verify) if isinstance(verify, str) else None
        return Probe(label, False, error=f"CA bundle {verify!r}: {problem or short(error)}")


def check_ca_location(path: str, *, files: bool = True, directories: bool = True) -> str | None:
    """What is wrong with a CA bundle file or certificate directory, or ``None`` if usable.

    Args:
        path: The value of a trust variable.
        files: Whether a PEM file is acceptable.
        directories: Whether a directory of hashed certificates is acceptable.

    Returns:
        A short reason (``"no such file or directory"``, ``"permission denied"``,
        ``"no PEM certificate in it"``...), or ``None``.
    """
    if not os.path.exists(path):
        return "no such file or directory"
    if os.path.isdir(path):
        if not directories:
            return "a directory, not a file"
        if not os.access(path, os.R_OK | os.X_OK):
            return "directory not readable (permission denied)"
        return None
    if not files:
        return "a file, not a directory"
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cafile=path)
    except ssl.SSLError:
        return "no PEM certificate in it"
    except OSError as error:
        return (error.strerror or str(error)).lower()
    return None


def trust_settings(environ: Mapping[str, str] | None = None) -> list[TrustSetting]:
    """The certificate-trust variables that are set, each checked.

    Args:
        environ: The environment to read; ``os.environ`` by default.

    Returns:
        One :class:`TrustSetting` per set variable, in the order requests and OpenSSL read them.
    """
    env = os.environ if environ is None else environ
    settings = []
    in_use = next((name for name in BUNDLE_VARIABLES if env.get(name)), None)
    openssl_note = "Python's ssl default store and OpenSSL read it; requests does not"
    for name in BUNDLE_VARIABLES:
        value = env.get(name)
        if value is None:
            continue
        problem = check_ca_location(value) if value else "empty, so ignored"
        if name == in_use:
            note = "requests uses it"
        else:
            note = f"requests ignores it: {in_use} wins" if value else "requests ignores it"
        settings.append(TrustSetting(name, value, problem, name == in_use, note))
    if "SSL_CERT_FILE" in env:
        value = env["SSL_CERT_FILE"]
        problem = check_ca_location(value, directories=False) if value else "empty, so ignored"
        settings.append(TrustSetting("SSL_CERT_FILE", value, problem, False, openssl_note))
    if "SSL_CERT_DIR" in env:
        value = env["SSL_CERT_DIR"]
        # OpenSSL reads a list of directories, separated like PATH.
        problems = [
            f"{part}: {problem}"
            for part in value.split(os.pathsep)
            if part
            for problem in [check_ca_location(part, files=False)]
            if problem
        ]
        problem = "; ".join(problems) if value else "empty, so ignored"
        settings.append(TrustSetting("SSL_CERT_DIR", value, problem or None, False, openssl_note))
    return settings


def _system_store() -> str | None:
    """The OpenSSL default CA file or directory (honours SSL_CERT_FILE/DIR), if usable."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.capath):
        if candidate and check_ca_location(candidate) is None:
            return candidate
    return None


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    match = re.search(r"\[SSL: [A-Z_0-9]+\][^(]*", text)
    if match:
        return match.group(0).strip()
    return describe(error)[0]


def diagnose(
    base_url: str = "https://neuromorpho.org", *, verify: bool | str = True, timeout: float = 15.0
) -> Diagnosis:
    """Probe *base_url* with stock requests and with this package, and explain the result."""
    url = base_url.rstrip("/") + "/api/health"
    diagnosis = Diagnosis(url)
    facts = diagnosis.facts
    facts["neuromorpho-api"] = __version__
    facts["Python"] = f"{platform.python_version()} ({sys.platform})"
    facts["OpenSSL"] = ssl.OPENSSL_VERSION
    facts["requests / urllib3"] = (
        f"{getattr(requests, '__version__', '?')} / {getattr(urllib3, '__version__', '?')}"
    )
    facts["default security level"] = _default_security_level()
    facts["FIPS mode"] = _fips_mode()
    facts["this package uses"] = (
        f"security level {SECURITY_LEVEL}, only for {' and '.join(sorted(NEUROMORPHO_HOSTS))}"
    )
    in_use = next((name for name in BUNDLE_VARIABLES if os.environ.get(name)), None)
    if isinstance(verify, str):
        facts["CA bundle"] = verify
    elif in_use is not None:
        facts["CA bundle"] = f"{os.environ[in_use]} (from {in_use})"
    else:
        facts["CA bundle"] = f"{_certifi_bundle()} (certifi, requests' default)"
    diagnosis.trust = trust_settings()
    # What requests itself will use for this URL: HTTPS_PROXY/ALL_PROXY, minus NO_PROXY.
    proxies = requests.utils.get_environ_proxies(url)
    facts["HTTPS proxy"] = proxies.get("https") or proxies.get("all") or "none"
    facts["URL"] = url

    from_environment = verify is True and in_use is not None
    if from_environment and in_use is not None:
        verify = os.environ[in_use]
    with requests.Session() as stock_session, NeuroMorphoSession(retries=0) as ours_session:
        diagnosis.stock = _probe("plain requests", stock_session, url, timeout, verify)
        diagnosis.ours = _probe("neuromorpho_api", ours_session, url, timeout, verify)
        if from_environment and diagnosis.bad_bundle is not None:
            # Diagnose past the broken variable: would the defaults have worked?
            defaults = [("with certifi's bundle", _certifi_bundle())]
            system = _system_store()
            if system is not None and system != defaults[0][1]:
                facts["system CA store"] = system
                defaults.append(("with the system store", system))
            for label, location in defaults:
                diagnosis.fallbacks.append(_probe(label, ours_session, url, timeout, location))
    return diagnosis


def _certifi_bundle() -> str:
    from requests.utils import DEFAULT_CA_BUNDLE_PATH

    return extract_zipped_paths(DEFAULT_CA_BUNDLE_PATH)
