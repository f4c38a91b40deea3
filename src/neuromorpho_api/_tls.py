"""The lowered-security TLS context for NeuroMorpho.Org, and the host rule that scopes it.

NeuroMorpho.Org has been seen negotiating DHE with a 1024-bit group, which OpenSSL refuses at
security level 2 (``DH_KEY_TOO_SMALL``). Level 1 is the exact minimum that accepts a 1024-bit
group; level 0 buys nothing for DH and re-opens SHA-1 signatures, so it is never used.
"""

from __future__ import annotations

import ssl
from typing import Callable

__all__ = [
    "LEGACY_CIPHERS",
    "NEUROMORPHO_HOSTS",
    "SECURITY_LEVEL",
    "is_neuromorpho_host",
    "ssl_context",
]

NEUROMORPHO_HOSTS: frozenset[str] = frozenset({"neuromorpho.org", "www.neuromorpho.org"})
"""The only hosts for which the security level is lowered."""

SECURITY_LEVEL = 1
"""The OpenSSL security level used for :data:`NEUROMORPHO_HOSTS` (the default is 2)."""

# Python's own default offer (3.11-3.13) with the level lowered from 2 to 1: the same 17 suites,
# ECDHE and TLS 1.3 first, no static RSA, no SHA-1 MAC. The server picks DHE from this very offer,
# so the level is the only thing that has to change.
LEGACY_CIPHERS = (
    f"@SECLEVEL={SECURITY_LEVEL}:"
    "ECDH+AESGCM:ECDH+CHACHA20:ECDH+AES:DHE+AES:!aNULL:!eNULL:!aDSS:!SHA1:!AESCCM"
)


def is_neuromorpho_host(host: str | None) -> bool:
    """Whether *host* (a parsed host name, not a URL) is one of :data:`NEUROMORPHO_HOSTS`.

    Case-insensitive, one trailing dot allowed. Look-alikes such as
    ``neuromorpho.org.evil.test`` or ``neuromorpho.orgevil.test`` are not matched.
    """
    if not host:
        return False
    name = host.lower()
    if name.endswith("."):
        name = name[:-1]
    return name in NEUROMORPHO_HOSTS


def extract_zipped_paths(path: str) -> str:
    """*path*, or a copy on disk if it lies inside a zip archive (requests' own helper)."""
    from requests import utils

    # Typed here because the stubs leave requests' helper untyped.
    extract: Callable[[str], str] = utils.extract_zipped_paths
    return extract(path)


def _new_context(*, verify: bool) -> ssl.SSLContext:
    # Imported here so that importing the package stays as cheap as importing requests.
    from urllib3.util.ssl_ import create_urllib3_context

    context = create_urllib3_context(
        ciphers=LEGACY_CIPHERS,
        cert_reqs=ssl.CERT_REQUIRED if verify else ssl.CERT_NONE,
    )
    # urllib3 1.26 leaves TLS 1.0 and 1.1 enabled; 2.x already starts at 1.2.
    if context.minimum_version < ssl.TLSVersion.TLSv1_2:
        context.minimum_version = ssl.TLSVersion.TLSv1_2
    if verify:
        # urllib3 1.26 turns the stdlib hostname check off and matches names itself; turning it
        # back on makes every user of this context check the name, whatever drives it.
        context.check_hostname = True
    else:
        # Order matters: CERT_NONE is refused while check_hostname is on.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def ssl_context(
    cafile: str | None = None,
    *,
    capath: str | None = None,
    cadata: str | None = None,
) -> ssl.SSLContext:
    """A verifying client context that accepts NeuroMorpho.Org's 1024-bit DH group.

    For ``urllib.request``, httpx, aiohttp and other clients. Certificate and hostname
    verification are on. Trust comes from *cafile*, *capath* or *cadata* when given, otherwise
    from the CA bundle that requests uses (certifi). Use it only for connections to
    :data:`NEUROMORPHO_HOSTS`; everything else should keep its client's default context.

    Args:
        cafile: A PEM file of CA certificates to trust.
        capath: A directory of hashed CA certificates to trust.
        cadata: PEM text of CA certificates to trust.

    Returns:
        A new context at OpenSSL security level 1, TLS 1.2 or later.

    Raises:
        FileNotFoundError: *cafile* or *capath* does not exist.
        ssl.SSLError: The CA certificates cannot be read.
    """
    context = _new_context(verify=True)
    if cafile is None and capath is None and cadata is None:
        from requests.utils import DEFAULT_CA_BUNDLE_PATH

        cafile = extract_zipped_paths(DEFAULT_CA_BUNDLE_PATH)
    context.load_verify_locations(cafile=cafile, capath=capath, cadata=cadata)
    return context
