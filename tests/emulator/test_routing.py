"""The emulator's routing: its resolver and its loopback proxy, spoken to directly."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import pytest

from neuromorpho_api.testing import Emulator
from tests.conftest import PKI, make_emulator


def resolved_port(host: str, port: int = 443, family: int = 0) -> int:
    return socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)[0][4][1]


# -- resolver ---------------------------------------------------------------------------------


def test_routed_names_resolve_to_the_emulator_in_ipv4_only(legacy: Emulator) -> None:
    assert resolved_port("NeuroMorpho.org.") == legacy.port
    assert resolved_port("neuromorpho.org", 80) == legacy.http_port
    assert resolved_port(b"www.neuromorpho.org") == legacy.port  # type: ignore[arg-type]
    with pytest.raises(socket.gaierror, match="IPv4 only"):
        resolved_port("neuromorpho.org", family=socket.AF_INET6)


def test_isolation_refuses_every_other_name_but_loopback(legacy: Emulator) -> None:
    with pytest.raises(socket.gaierror, match="keeps all traffic on this machine"):
        resolved_port("192.0.2.1")
    assert socket.getaddrinfo("127.0.0.1", 1)[0][4][0] == "127.0.0.1"


@pytest.fixture
def open_emulator(pki: PKI) -> Iterator[Emulator]:
    emulator = Emulator(5, identity=pki.identity, isolate=False)
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


def test_without_isolation_other_names_resolve_as_usual(open_emulator: Emulator) -> None:
    with open_emulator.active():
        assert resolved_port("neuromorpho.org") == open_emulator.port
        # A numeric address needs no lookup: the system resolver answers it as it is.
        assert socket.getaddrinfo("192.0.2.1", 443)[0][4][:2] == ("192.0.2.1", 443)


def test_nested_activations_route_to_the_latest_and_unwind(
    legacy_server: Emulator, open_emulator: Emulator
) -> None:
    original = socket.getaddrinfo
    with legacy_server.active():
        with open_emulator.active():
            assert resolved_port("neuromorpho.org") == open_emulator.port
            # The outer one still isolates: other names stay unresolved.
            with pytest.raises(socket.gaierror):
                resolved_port("192.0.2.1")
        assert resolved_port("neuromorpho.org") == legacy_server.port
    assert socket.getaddrinfo is original
    open_emulator.stop()  # stopping twice, and without activations, is harmless
    open_emulator.stop()


# -- proxy ------------------------------------------------------------------------------------


def proxy_exchange(emulator: Emulator, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", emulator._servers.proxy_port), timeout=5) as sock:
        sock.sendall(request)
        chunks = []
        try:
            while chunk := sock.recv(4096):
                chunks.append(chunk)
        except ConnectionResetError:  # closed with our bytes unread: no answer either
            pass
    return b"".join(chunks)


def test_proxy_refuses_to_tunnel_anywhere_else(legacy: Emulator) -> None:
    reply = proxy_exchange(legacy, b"CONNECT example.org:443 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 403 ")
    assert legacy.proxy_tunnels == []


def test_proxy_answers_a_malformed_request_line_with_400(legacy: Emulator) -> None:
    assert proxy_exchange(legacy, b"HELLO\r\n\r\n").startswith(b"HTTP/1.1 400 ")


def test_proxy_redirects_plain_http_for_the_site_to_https(legacy: Emulator) -> None:
    reply = proxy_exchange(legacy, b"GET http://neuromorpho.org/api/health HTTP/1.1\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 301 ")
    assert b"Location: https://neuromorpho.org/api/health\r\n" in reply
    bare = proxy_exchange(legacy, b"GET http://neuromorpho.org:80 HTTP/1.1\r\n\r\n")
    assert b"Location: https://neuromorpho.org/\r\n" in bare
    other = proxy_exchange(legacy, b"GET http://example.org/ HTTP/1.1\r\n\r\n")
    assert other.startswith(b"HTTP/1.1 403 ")


def test_https_proxy_survives_a_client_that_does_not_speak_tls(pki: PKI) -> None:
    for server in make_emulator(pki.identity, https_proxy=True):
        # Plain text to a TLS proxy: the handshake fails, nothing is tunnelled, no answer.
        assert proxy_exchange(server, b"CONNECT neuromorpho.org:443 HTTP/1.1\r\n\r\n") == b""
        assert server.proxy_tunnels == []
        context = ssl.create_default_context(cafile=pki.identity.ca)
        port = server._servers.proxy_port
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname="localhost") as sock:
                sock.sendall(b"CONNECT elsewhere.test:443 HTTP/1.1\r\n\r\n")
                assert sock.recv(4096).startswith(b"HTTP/1.1 403 ")
