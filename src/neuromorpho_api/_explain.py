"""Short, human-readable reasons for transport errors, shared by the adapter, the client, the
downloader, the CLI and ``doctor`` (urllib3's own messages repeat the whole URL and pool several
times). All the wording about what went wrong, and what to do about it, lives here."""

from __future__ import annotations

import http.client
import socket
import ssl
from collections.abc import Iterable, Iterator

import requests
import urllib3.exceptions

from neuromorpho_api._tls import NEUROMORPHO_HOSTS, is_neuromorpho_host

__all__ = [
    "describe",
    "error_chain",
    "explain_ssl_error",
    "has_ssl_reason",
    "is_dh_key_too_small",
    "short",
    "troubleshooting",
]

# Subclasses of ssl.SSLError that mean the connection was closed, not that TLS was refused.
_TLS_CLOSED = (ssl.SSLZeroReturnError, ssl.SSLEOFError, ssl.SSLSyscallError)
_TLS_ERRORS = (requests.exceptions.SSLError, urllib3.exceptions.SSLError, ssl.SSLError)
_PROXY_ERRORS = (requests.exceptions.ProxyError, urllib3.exceptions.ProxyError)
# Not urllib3's TimeoutError: in urllib3 2 a refused connection (NewConnectionError) is one.
_READ_TIMEOUTS = (
    requests.exceptions.ReadTimeout,
    urllib3.exceptions.ReadTimeoutError,
    socket.timeout,
    TimeoutError,
)
_RESETS = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)
# NameResolutionError is urllib3 2 only; in 1.26 the socket.gaierror is in the chain anyway.
_NAME_ERRORS: tuple[type[BaseException], ...] = (
    socket.gaierror,
    getattr(urllib3.exceptions, "NameResolutionError", socket.gaierror),
)


def error_chain(error: BaseException) -> Iterator[BaseException]:
    """The error and what it wraps (cause, context, exceptions in args, urllib3's ``reason``),
    breadth first, so the innermost error comes last."""
    seen: set[int] = set()
    todo = [error]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo.extend(arg for arg in current.args if isinstance(arg, BaseException))
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            todo.append(reason)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                todo.append(linked)


def short(error: BaseException, limit: int = 200) -> str:
    """``str(error)`` on one line, at most *limit* characters."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def has_ssl_reason(error: BaseException, reason: str) -> bool:
    """Whether an OpenSSL *reason* code (e.g. ``"DH_KEY_TOO_SMALL"``) is behind *error*.

    Read from :attr:`ssl.SSLError.reason` anywhere in the chain, or from the text when a
    wrapper kept only the message (``[SSL: DH_KEY_TOO_SMALL] dh key too small``).
    """
    return _has_reason(list(error_chain(error)), reason)


def is_dh_key_too_small(error: BaseException) -> bool:
    """Whether *error* is OpenSSL refusing the server's Diffie-Hellman group as too small."""
    return has_ssl_reason(error, "DH_KEY_TOO_SMALL")


def _has_reason(chain: Iterable[BaseException], reason: str) -> bool:
    spoken = reason.replace("_", " ").lower()
    for item in chain:
        if isinstance(item, ssl.SSLError) and getattr(item, "reason", None) == reason:
            return True
        text = str(item)
        if reason in text or spoken in text.lower():
            return True
    return False


def _is_tls_failure(item: BaseException) -> bool:
    return isinstance(item, _TLS_ERRORS) and not isinstance(item, _TLS_CLOSED)


def _ssl_reason(chain: list[BaseException]) -> str | None:
    for item in chain:
        if isinstance(item, ssl.SSLCertVerificationError):
            return f"certificate verify failed: {item.verify_message}"
        if isinstance(item, ssl.SSLError) and getattr(item, "reason", None):
            return f"[SSL: {item.reason}]"
    return None


def _any(chain: Iterable[BaseException], kinds: tuple[type[BaseException], ...]) -> bool:
    return any(isinstance(item, kinds) for item in chain)


def describe(
    error: BaseException, timeout: tuple[float | None, float | None] = (None, None)
) -> tuple[str, bool]:
    """A one-line reason for a transport error, and whether trying again may help."""
    chain = list(error_chain(error))
    if any(_is_tls_failure(item) for item in chain):
        reason = _ssl_reason(chain) or short(chain[-1])
        # The same handshake fails the same way again: report it, do not hammer the server.
        final = (
            _any(chain, (ssl.SSLCertVerificationError,))
            or _has_reason(chain, "CERTIFICATE_VERIFY_FAILED")
            or _has_reason(chain, "DH_KEY_TOO_SMALL")
        )
        return (f"TLS failure: {reason}" if final else f"TLS error: {reason}"), not final
    if _any(chain, _PROXY_ERRORS):
        return f"cannot use the proxy: {short(chain[-1])}", True
    if isinstance(error, requests.exceptions.ConnectTimeout):
        within = f" within {timeout[0]} s" if timeout[0] is not None else ""
        return f"could not connect{within}", True
    if _any(chain, _READ_TIMEOUTS):
        quiet = f" (no data for {timeout[1]} s)" if timeout[1] is not None else ""
        return f"the server stopped sending{quiet}", True
    # RemoteDisconnected is a ConnectionResetError too, but means something narrower.
    if any(
        isinstance(item, _RESETS) and not isinstance(item, http.client.RemoteDisconnected)
        for item in chain
    ):
        return "connection reset by the server", True
    if _any(chain, (http.client.IncompleteRead,)):
        return "connection closed before the end of the data", True
    if _any(chain, (http.client.RemoteDisconnected,)):
        return "the server closed the connection without answering", True
    if _any(chain, (ConnectionRefusedError,)):
        return "connection refused (is the server up, and the URL right?)", True
    if _any(chain, _NAME_ERRORS):
        return "cannot resolve the server's host name (no network?)", True
    return f"connection error: {short(chain[-1] if len(chain) > 1 else error)}", True


# The troubleshooting page of the documentation; each hint ends with its section.
TROUBLESHOOTING = "https://neuromorpho-api.readthedocs.io/en/latest/troubleshooting.html"


def troubleshooting(anchor: str) -> str:
    """The address of one section of the troubleshooting page, e.g. ``"site-down"``."""
    return f"{TROUBLESHOOTING}#{anchor}"


def explain_ssl_error(error: BaseException, host: str | None) -> str | None:
    """A one-sentence hint about a TLS failure, or None when there is nothing useful to add."""
    if is_dh_key_too_small(error):
        if is_neuromorpho_host(host):
            return (
                "the server's Diffie-Hellman group was refused even at OpenSSL security level 1; "
                "this happens when OpenSSL runs in FIPS mode or a system crypto policy forbids "
                "1024-bit groups. Run `neuromorpho doctor` for details, or use the plain-HTTP "
                'mirror: NeuroMorpho("http://cng.gmu.edu:8080/neuroMorpho"); see '
                + troubleshooting("fips-and-crypto-policies")
            )
        return (
            f"{host!r} offers a Diffie-Hellman group below 2048 bits; neuromorpho_api lowers the "
            "security level only for "
            + " and ".join(sorted(NEUROMORPHO_HOSTS))
            + "; see "
            + troubleshooting("dh-key-too-small")
        )
    if has_ssl_reason(error, "CERTIFICATE_VERIFY_FAILED"):
        return (
            "the server certificate could not be verified. If a proxy or firewall inspects TLS, "
            "pass its CA bundle with verify='/path/to/ca.pem' (or set REQUESTS_CA_BUNDLE); "
            "never switch verification off for real data; see "
            + troubleshooting("certificate-verify-failed")
        )
    return None
