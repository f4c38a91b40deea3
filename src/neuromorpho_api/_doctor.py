"""``neuromorpho doctor``: does this machine need the TLS workaround, and does it work?"""

from __future__ import annotations

import os
import platform
import re
import ssl
import sys
from dataclasses import dataclass, field
from typing import Any

import requests
import urllib3

from neuromorpho_api._explain import describe, is_dh_key_too_small
from neuromorpho_api._session import NeuroMorphoSession
from neuromorpho_api._tls import NEUROMORPHO_HOSTS, SECURITY_LEVEL
from neuromorpho_api._version import __version__

__all__ = ["Diagnosis", "Probe", "diagnose"]


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


@dataclass
class Diagnosis:
    """Versions, settings and the two probes, with a verdict."""

    url: str
    facts: dict[str, str] = field(default_factory=dict)
    stock: Probe | None = None
    ours: Probe | None = None

    @property
    def verdict(self) -> str:
        stock, ours = self.stock, self.ours
        if stock is None or ours is None:
            return "not probed"
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
        for probe in (self.stock, self.ours):
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
    trust = (
        verify
        if isinstance(verify, str)
        else os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or "certifi"
    )
    facts["CA bundle"] = str(trust)
    # What requests itself will use for this URL: HTTPS_PROXY/ALL_PROXY, minus NO_PROXY.
    proxies = requests.utils.get_environ_proxies(url)
    facts["HTTPS proxy"] = proxies.get("https") or proxies.get("all") or "none"
    facts["URL"] = url

    if verify is True and os.environ.get("REQUESTS_CA_BUNDLE"):
        verify = os.environ["REQUESTS_CA_BUNDLE"]
    with requests.Session() as stock_session, NeuroMorphoSession(retries=0) as ours_session:
        diagnosis.stock = _probe("plain requests", stock_session, url, timeout, verify)
        diagnosis.ours = _probe("neuromorpho_api", ours_session, url, timeout, verify)
    return diagnosis
