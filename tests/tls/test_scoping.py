"""The lowered level applies to NeuroMorpho.Org's two hosts only, and verification stays on.

Every test runs real TLS handshakes against the emulator on loopback; the emulator's
certificate also covers look-alike names, so a look-alike failing proves the scoping, not a
certificate problem.
"""

from __future__ import annotations

import pytest
import requests
import urllib3

from neuromorpho_api import NeuroMorphoSession, requestor
from neuromorpho_api.testing import Emulator
from tests.conftest import PKI, make_emulator


def is_dh_error(error: BaseException) -> bool:
    return "DH_KEY_TOO_SMALL" in str(error) or "dh key too small" in str(error)


def test_stock_requests_fails_and_requestor_succeeds_on_the_same_server(
    legacy: Emulator, pki: PKI
) -> None:
    with pytest.raises(requests.exceptions.SSLError) as stock:
        requests.Session().get("https://neuromorpho.org/api/health", verify=legacy.ca_file)
    assert is_dh_error(stock.value)

    response = requestor.get("https://neuromorpho.org/api/health", verify=legacy.ca_file)
    assert response.status_code == 200
    assert response.json() == {"status": "UP"}

    handshake = legacy.handshakes[-1]
    assert handshake.ok
    assert handshake.protocol == "TLSv1.2"
    assert handshake.cipher is not None and handshake.cipher.startswith("DHE-RSA-")
    assert handshake.dh_bits == 1024
    assert handshake.server_name == "neuromorpho.org"


def test_requestor_works_with_the_environment_bundle_like_the_quickstart(
    legacy: Emulator,
) -> None:
    # `legacy` is active: REQUESTS_CA_BUNDLE names a bundle that trusts the emulator.
    record = requestor.get("https://neuromorpho.org/api/neuron/id/1").json()
    assert record["neuron_name"] == "cnic_001"
    assert record["neuron_id"] == 1


@pytest.mark.parametrize(
    "url",
    [
        "https://www.neuromorpho.org/api/health",
        "https://NeuroMorpho.ORG/api/health",
        "https://neuromorpho.org:443/api/health",
        "https://neuromorpho.org./api/health",
        "https://WWW.neuromorpho.org.:443/api/health",
        "https://neuromorpho.org:8443/api/health",
    ],
)
def test_spellings_of_the_two_hosts_get_the_lowered_level(legacy: Emulator, url: str) -> None:
    assert NeuroMorphoSession().get(url).json() == {"status": "UP"}


@pytest.mark.parametrize(
    "url",
    [
        "https://neuromorpho.org.evil.test/api/health",
        "https://neuromorpho.orgevil.test/api/health",
        "https://neuromorpho.org@other.test/api/health",
        "https://other.test/api/health",
    ],
)
def test_lookalike_hosts_keep_the_stock_level(legacy: Emulator, url: str) -> None:
    with pytest.raises(requests.exceptions.SSLError) as error:
        NeuroMorphoSession().get(url)
    assert is_dh_error(error.value)
    # The hint says why, and the exception stays a requests SSLError.
    assert "lowers the security level only for" in str(error.value)


def test_redirect_to_another_host_does_not_inherit_the_lowered_level(legacy: Emulator) -> None:
    legacy.faults.add(
        "/api/away",
        "status",
        status=302,
        headers={"Location": "https://neuromorpho.org.evil.test/api/health"},
        body=b"",
    )
    with pytest.raises(requests.exceptions.SSLError) as error:
        NeuroMorphoSession().get("https://neuromorpho.org/api/away")
    assert is_dh_error(error.value)
    assert [r.target for r in legacy.requests] == ["/api/away"]


def test_http_redirects_to_https_and_www_redirect_is_followed(legacy: Emulator) -> None:
    response = NeuroMorphoSession().get("http://neuromorpho.org/api/health")
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [301]
    assert response.url == "https://neuromorpho.org/api/health"

    legacy.faults.add(
        "^/api/moved$",
        "status",
        status=301,
        headers={"Location": "https://www.neuromorpho.org/api/health"},
        body=b"",
    )
    moved = NeuroMorphoSession().get("https://neuromorpho.org/api/moved")
    assert moved.status_code == 200
    assert moved.url == "https://www.neuromorpho.org/api/health"


def test_untrusted_ca_is_rejected(pki: PKI) -> None:
    for rogue in make_emulator(pki.rogue_identity):
        with rogue.active():
            with pytest.raises(requests.exceptions.SSLError) as error:
                NeuroMorphoSession().get(
                    "https://neuromorpho.org/api/health", verify=pki.identity.ca
                )
            assert "CERTIFICATE_VERIFY_FAILED" in str(error.value)
            assert not rogue.requests


def test_wrong_name_certificate_is_rejected(pki: PKI) -> None:
    for wrong in make_emulator(pki.wrong_name_identity):
        with wrong.active():
            with pytest.raises(requests.exceptions.SSLError) as error:
                NeuroMorphoSession().get(
                    "https://neuromorpho.org/api/health", verify=pki.identity.ca
                )
            message = str(error.value)
            assert "CERTIFICATE_VERIFY_FAILED" in message or "match" in message
            assert not wrong.requests


def test_verify_false_works_with_the_usual_warning_and_does_not_leak(pki: PKI) -> None:
    session = NeuroMorphoSession()
    for rogue in make_emulator(pki.rogue_identity):
        with rogue.active():
            with pytest.warns(urllib3.exceptions.InsecureRequestWarning):
                response = session.get("https://neuromorpho.org/api/health", verify=False)
            assert response.status_code == 200
            # Same session, same pool manager: verification is back for the next request.
            with pytest.raises(requests.exceptions.SSLError):
                session.get("https://neuromorpho.org/api/health", verify=pki.identity.ca)


def test_a_ca_bundle_given_once_is_not_trusted_later(legacy: Emulator, pki: PKI, tmp_path) -> None:
    import certifi

    session = NeuroMorphoSession()
    assert session.get("https://neuromorpho.org/api/health", verify=pki.identity.ca).ok
    # verify=True means certifi alone: the emulator's CA must not have stuck to any context.
    with pytest.raises(requests.exceptions.SSLError) as error:
        session.get("https://neuromorpho.org/api/health", verify=certifi.where())
    assert "CERTIFICATE_VERIFY_FAILED" in str(error.value)


def test_verify_true_uses_the_bundle_requests_uses(
    legacy: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    import requests.adapters

    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    monkeypatch.setattr(requests.adapters, "DEFAULT_CA_BUNDLE_PATH", legacy.ca_bundle)
    assert NeuroMorphoSession().get("https://neuromorpho.org/api/health", verify=True).ok


def test_ca_bundle_from_the_environment_wins_over_session_verify(
    legacy: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", legacy.ca_file)
    session = NeuroMorphoSession()
    session.verify = "/nonexistent/ignored-like-in-requests.pem"
    assert session.get("https://neuromorpho.org/api/health").ok


def test_missing_ca_bundle_raises_the_requests_error(legacy: Emulator) -> None:
    with pytest.raises(OSError, match="Could not find a suitable TLS CA certificate bundle"):
        NeuroMorphoSession().get("https://neuromorpho.org/api/health", verify="/no/such/ca.pem")


def test_client_certificate_is_sent_only_when_asked(pki: PKI) -> None:
    for server in make_emulator(pki.identity, client_ca=pki.client_ca_file):
        with server.active():
            session = NeuroMorphoSession()
            cert = (pki.client_cert_file, pki.client_key_file)
            assert session.get(
                "https://neuromorpho.org/api/health", cert=cert, headers={"Connection": "close"}
            ).ok
            assert server.handshakes[-1].client_certificate is not None
            assert session.get(
                "https://neuromorpho.org/api/health", headers={"Connection": "close"}
            ).ok
            assert server.handshakes[-1].client_certificate is None


def test_modern_server_is_reached_with_tls13(pki: PKI) -> None:
    for modern in make_emulator(pki.identity, profile="modern"):
        with modern.active():
            assert requests.Session().get("https://neuromorpho.org/api/health").ok
            assert NeuroMorphoSession().get("https://neuromorpho.org/api/health").ok
            assert {h.protocol for h in modern.handshakes} == {"TLSv1.3"}


def test_server_offering_static_rsa_still_gets_forward_secrecy(pki: PKI) -> None:
    for server in make_emulator(pki.identity, profile="legacy+rsa"):
        with server.active():
            assert NeuroMorphoSession().get("https://neuromorpho.org/api/health").ok
            cipher = server.handshakes[-1].cipher
            assert cipher is not None and cipher.startswith("DHE-")


def test_dhe_2048_server_needs_no_lowering_and_gets_the_same_suite(pki: PKI) -> None:
    for server in make_emulator(pki.identity, profile="dhe2048"):
        with server.active():
            assert requests.Session().get("https://neuromorpho.org/api/health").ok
            assert NeuroMorphoSession().get("https://neuromorpho.org/api/health").ok
            assert {h.dh_bits for h in server.handshakes} == {2048}


def test_ca_bundle_is_loaded_once_per_context_not_per_connection(legacy: Emulator) -> None:
    session = NeuroMorphoSession()
    for _ in range(3):
        session.get("https://neuromorpho.org/api/health", headers={"Connection": "close"})
    adapter = session.get_adapter("https://neuromorpho.org/")
    pools = [
        pool
        for key, pool in adapter.poolmanager.pools._container.items()
        if key.key_host == "neuromorpho.org"
    ]
    assert len(pools) == 1
    assert pools[0].ca_certs is None
    assert pools[0].conn_kw["ssl_context"] in [c for _, c in adapter._contexts.values()]
    assert len(adapter._contexts) == 1
