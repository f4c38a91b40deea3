"""The one-line reasons and hints for transport errors: recognised by class, not by name."""

from __future__ import annotations

import http.client
import socket
import ssl

import pytest
import requests
import urllib3.exceptions

from neuromorpho_api._explain import describe, explain_ssl_error, is_dh_key_too_small
from neuromorpho_api.testing import Emulator


def _openssl_error(reason: str, text: str = "handshake failure") -> ssl.SSLError:
    # What OpenSSL raises: the reason code is an attribute, the message may not repeat it.
    error = ssl.SSLError(1, text)
    error.reason = reason
    error.library = "SSL"
    return error


def _wrapped(inner: BaseException) -> requests.exceptions.ConnectionError:
    return requests.exceptions.ConnectionError(urllib3.exceptions.ProtocolError("aborted", inner))


def test_dh_key_too_small_is_recognised_by_reason_code_and_by_text() -> None:
    by_code = requests.exceptions.SSLError(
        urllib3.exceptions.SSLError(_openssl_error("DH_KEY_TOO_SMALL"))
    )
    assert is_dh_key_too_small(by_code)
    assert is_dh_key_too_small(requests.exceptions.SSLError("[SSL: DH_KEY_TOO_SMALL] dh key"))
    assert is_dh_key_too_small(OSError("dh key too small"))
    assert not is_dh_key_too_small(
        requests.exceptions.SSLError(_openssl_error("CERTIFICATE_VERIFY_FAILED"))
    )
    assert describe(by_code) == ("TLS failure: [SSL: DH_KEY_TOO_SMALL]", False)


def test_real_dh_refusal_from_stock_requests(legacy: Emulator) -> None:
    with pytest.raises(requests.exceptions.SSLError) as caught:
        requests.Session().get("https://neuromorpho.org/api/health", timeout=10)
    assert is_dh_key_too_small(caught.value)
    assert describe(caught.value) == ("TLS failure: [SSL: DH_KEY_TOO_SMALL]", False)
    hint = explain_ssl_error(caught.value, "neuromorpho.org")
    assert hint is not None and "security level 1" in hint
    assert hint.endswith("/troubleshooting.html#fips-and-crypto-policies")
    other = explain_ssl_error(caught.value, "example.org")
    assert other is not None and "only for neuromorpho.org and www.neuromorpho.org" in other


def test_certificate_failure_hint_is_found_by_reason_code() -> None:
    error = requests.exceptions.SSLError(_openssl_error("CERTIFICATE_VERIFY_FAILED"))
    hint = explain_ssl_error(error, "neuromorpho.org")
    assert hint is not None and "REQUESTS_CA_BUNDLE" in hint
    assert hint.endswith("/troubleshooting.html#certificate-verify-failed")
    assert describe(error)[1] is False


def test_tls_errors_other_than_the_final_ones_may_be_retried() -> None:
    assert describe(requests.exceptions.SSLError("other")) == ("TLS error: other", True)


def test_a_tls_stream_cut_short_is_a_connection_error_not_a_tls_failure() -> None:
    error = _wrapped(ssl.SSLEOFError(8, "EOF occurred in violation of protocol"))
    assert describe(error) == ("connection error: EOF occurred in violation of protocol", True)


class _Refused(ConnectionRefusedError):
    """A subclass with another name: matching names would miss it."""


@pytest.mark.parametrize(
    ("inner", "expected"),
    [
        (ConnectionResetError(104, "reset"), "connection reset by the server"),
        (BrokenPipeError(32, "pipe"), "connection reset by the server"),
        # RemoteDisconnected is a ConnectionResetError too, but says more.
        (
            http.client.RemoteDisconnected("closed"),
            "the server closed the connection without answering",
        ),
        (urllib3.exceptions.IncompleteRead(5, 10), "connection closed before the end of the data"),
        (http.client.IncompleteRead(b"abc", 7), "connection closed before the end of the data"),
        (_Refused(111, "refused"), "connection refused (is the server up, and the URL right?)"),
        (socket.gaierror(-2, "unknown"), "cannot resolve the server's host name (no network?)"),
        (socket.timeout("timed out"), "the server stopped sending"),
        (
            urllib3.exceptions.ProxyError("proxy", OSError("down")),
            "cannot use the proxy: down",
        ),
    ],
)
def test_reasons_follow_the_class_of_what_is_wrapped(inner: BaseException, expected: str) -> None:
    assert describe(_wrapped(inner)) == (expected, True)


def test_a_refused_connection_is_not_a_read_timeout() -> None:
    # urllib3 2 makes NewConnectionError a (urllib3) TimeoutError; it is still a refusal.
    refused = urllib3.exceptions.NewConnectionError(None, "refused")  # type: ignore[arg-type]
    refused.__cause__ = ConnectionRefusedError(111, "Connection refused")
    error = requests.exceptions.ConnectionError(refused)
    assert describe(error) == ("connection refused (is the server up, and the URL right?)", True)


def test_timeouts_are_named_with_their_limits() -> None:
    connect = requests.exceptions.ConnectTimeout("slow")
    assert describe(connect, (3.0, 9.0)) == ("could not connect within 3.0 s", True)
    read = requests.exceptions.ReadTimeout("slow")
    assert describe(read, (3.0, 9.0)) == ("the server stopped sending (no data for 9.0 s)", True)


def test_anything_else_is_a_connection_error_in_one_line() -> None:
    assert describe(OSError("disk\nfull")) == ("connection error: disk full", True)
