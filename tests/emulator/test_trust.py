"""Trust in the emulator's CA reaches no further than the connections the emulator terminates.

The shipped CA and server key are public (they are in every copy of the package), so an
impostor can present them. Each test below runs such an impostor and checks that nothing
inside ``with Emulator()`` accepts it: not a child process, not a request through a proxy,
not another service on this machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from neuromorpho_api import requestor
from neuromorpho_api.testing import Emulator, Identity
from tests._proxies import RecordingProxy


def _pem(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


SHIPPED_CA = _pem(Identity.shipped().ca)


@pytest.fixture(scope="module")
def impostor() -> Iterator[Emulator]:
    """A server anyone can run: the shipped key, TLS 1.3 (so only trust decides), never routed."""
    server = Emulator(20, identity=Identity.shipped(), profile="modern")
    server.start()
    yield server
    server.stop()


# -- the three attacks ---------------------------------------------------------------------------

SPOOFED_CHILD = textwrap.dedent(
    """
    import socket, sys

    import requests

    port = int(sys.argv[1])
    resolve = socket.getaddrinfo

    def spoofed(host, *args, **kwargs):
        # An attacker on the path (or DNS) answers for neuromorpho.org.
        if host == "neuromorpho.org":
            return resolve("127.0.0.1", port, socket.AF_INET, socket.SOCK_STREAM)
        return resolve(host, *args, **kwargs)

    socket.getaddrinfo = spoofed
    try:
        requests.get("https://neuromorpho.org/api/health", timeout=10)
    except requests.exceptions.SSLError as error:
        print("refused", "CERTIFICATE_VERIFY_FAILED" in str(error))
    else:
        print("accepted")
    """
)


def test_a_child_process_inheriting_the_environment_refuses_an_impostor(
    impostor: Emulator,
) -> None:
    with Emulator(20):
        # The child inherits this process's environment but not its resolver.
        result = subprocess.run(
            [sys.executable, "-c", SPOOFED_CHILD, str(impostor.port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    assert result.stdout.split() == ["refused", "True"]
    assert impostor.requests == []


def test_a_request_through_a_proxy_refuses_an_impostor(impostor: Emulator) -> None:
    with RecordingProxy(upstream_port=impostor.port) as proxy, Emulator(20):
        # The proxy, not the emulator, chooses where neuromorpho.org is: here, the impostor.
        with pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
            requests.get(
                "https://neuromorpho.org/api/health", proxies={"https": proxy.url}, timeout=10
            )
        assert [line.split()[:2] for line in proxy.seen] == [["CONNECT", "neuromorpho.org:443"]]
    assert impostor.requests == []


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_another_local_service_with_the_shipped_key_is_refused(
    impostor: Emulator, host: str
) -> None:
    with Emulator(20):
        with pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
            requests.get(f"https://{host}:{impostor.port}/api/health", timeout=10)
        with pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
            requestor.get(f"https://{host}:{impostor.port}/api/health", timeout=10)
        # The emulator itself is still trusted.
        assert requestor.get("https://neuromorpho.org/api/health", timeout=10).ok
    assert impostor.requests == []


# -- what makes them fail --------------------------------------------------------------------------


def test_every_emulator_has_a_ca_of_its_own() -> None:
    first, second = Emulator(10).start(), Emulator(10).start()
    try:
        cas = {_pem(first.ca_file), _pem(second.ca_file), SHIPPED_CA}
        assert len(cas) == 3
    finally:
        first.stop()
        second.stop()


def test_the_server_key_is_not_left_on_disk_and_the_files_go_with_the_emulator() -> None:
    emulator = Emulator(10).start()
    directory = os.path.dirname(emulator.identity.ca)
    assert not os.path.exists(emulator.identity.private_key)
    assert sorted(os.listdir(directory)) == sorted(
        os.path.basename(path) for path in (emulator.identity.ca, emulator.identity.cert_chain)
    )
    with emulator:
        bundle = emulator.ca_bundle
        assert os.environ["REQUESTS_CA_BUNDLE"] == bundle
        assert _pem(emulator.ca_file) in _pem(bundle)
        assert SHIPPED_CA not in _pem(bundle)
    assert "REQUESTS_CA_BUNDLE" not in os.environ
    assert not os.path.exists(bundle)
    assert not os.path.exists(directory)


def test_the_shipped_identity_routes_but_is_never_exported() -> None:
    with Emulator(10, identity=Identity.shipped()) as emulator:
        assert "REQUESTS_CA_BUNDLE" not in os.environ
        assert "CURL_CA_BUNDLE" not in os.environ
        with pytest.raises(RuntimeError, match="trustme"):
            emulator.environ()
        # Not trusted by default...
        with pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
            requestor.get("https://neuromorpho.org/api/health", timeout=10)
        # ...only where a caller names it for a routed request.
        response = requestor.get(
            "https://neuromorpho.org/api/health", verify=emulator.ca_file, timeout=10
        )
        assert response.ok
        assert emulator.handshakes[-1].ok


def test_a_copy_of_the_shipped_ca_counts_as_shipped(tmp_path: object) -> None:
    shipped = Identity.shipped()
    copy = os.path.join(str(tmp_path), "ca.pem")
    with open(copy, "wb") as handle:
        handle.write(SHIPPED_CA)
    with Emulator(10, identity=Identity(shipped.cert_chain, shipped.private_key, copy)):
        assert "REQUESTS_CA_BUNDLE" not in os.environ


def test_an_identity_the_caller_made_is_trusted_while_active(pki: object) -> None:
    identity = pki.identity  # type: ignore[attr-defined]
    with Emulator(10, identity=identity) as emulator:
        assert _pem(identity.ca) in _pem(os.environ["REQUESTS_CA_BUNDLE"])
        assert requestor.get("https://neuromorpho.org/api/health", timeout=10).ok
        assert emulator.environ()["REQUESTS_CA_BUNDLE"] == emulator.ca_bundle


def test_a_script_that_never_stops_the_emulator_leaves_no_files(tmp_path: Path) -> None:
    code = (
        "import os, sys, tempfile\n"
        f"tempfile.tempdir = {str(tmp_path)!r}\n"
        "from neuromorpho_api.testing import Emulator\n"
        "e = Emulator(20)\n"
        "e.activate()\n"
        "assert os.listdir(tempfile.tempdir)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    assert os.listdir(tmp_path) == []
