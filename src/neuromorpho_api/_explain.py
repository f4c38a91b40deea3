"""Short, human-readable reasons for transport errors, shared by the client, the downloader,
the CLI and ``doctor`` (urllib3's own messages repeat the whole URL and pool several times)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import requests

__all__ = ["describe", "error_chain", "short"]


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


def _ssl_reason(chain: list[BaseException]) -> str | None:
    for item in chain:
        if isinstance(item, ssl.SSLCertVerificationError):
            return f"certificate verify failed: {item.verify_message}"
        if isinstance(item, ssl.SSLError) and item.reason:
            return f"[SSL: {item.reason}]"
    return None


def describe(
    error: BaseException, timeout: tuple[float | None, float | None] = (None, None)
) -> tuple[str, bool]:
    """A one-line reason for a transport error, and whether trying again may help."""
    chain = list(error_chain(error))
    names = {type(item).__name__ for item in chain}
    text = " ".join(str(item) for item in chain)
    if isinstance(error, requests.exceptions.SSLError) or names & {
        "SSLError",
        "SSLCertVerificationError",
    }:
        reason = _ssl_reason(chain) or short(chain[-1])
        # The same handshake fails the same way again: report it, do not hammer the server.
        final = (
            "CERTIFICATE_VERIFY_FAILED" in text
            or "DH_KEY_TOO_SMALL" in text
            or (any(isinstance(item, ssl.SSLCertVerificationError) for item in chain))
        )
        return (f"TLS failure: {reason}" if final else f"TLS error: {reason}"), not final
    if isinstance(error, requests.exceptions.ProxyError) or "ProxyError" in names:
        return f"cannot use the proxy: {short(chain[-1])}", True
    if isinstance(error, requests.exceptions.ConnectTimeout):
        within = f" within {timeout[0]} s" if timeout[0] is not None else ""
        return f"could not connect{within}", True
    if isinstance(error, requests.exceptions.ReadTimeout) or names & {
        "ReadTimeoutError",
        "TimeoutError",
        "timeout",
    }:
        quiet = f" (no data for {timeout[1]} s)" if timeout[1] is not None else ""
        return f"the server stopped sending{quiet}", True
    if names & {"ConnectionResetError", "BrokenPipeError", "ConnectionAbortedError"}:
        return "connection reset by the server", True
    if "IncompleteRead" in names or "IncompleteRead" in text:
        return "connection closed before the end of the data", True
    if "RemoteDisconnected" in names:
        return "the server closed the connection without answering", True
    if "ConnectionRefusedError" in names:
        return "connection refused (is the server up, and the URL right?)", True
    if names & {"gaierror", "NameResolutionError"}:
        return "cannot resolve the server's host name (no network?)", True
    return f"connection error: {short(chain[-1] if len(chain) > 1 else error)}", True
