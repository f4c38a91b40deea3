"""The adapter's edges: bad trust files, client-certificate forms, the context cache's bounds,
and failures that carry no hint. Real handshakes against the emulator where a server matters."""

from __future__ import annotations

import inspect
import os
import pickle
import shutil
import ssl
import warnings
from pathlib import Path

import pytest
import requests
from requests.adapters import HTTPAdapter

from neuromorpho_api import NeuroMorphoAdapter, NeuroMorphoSession
from neuromorpho_api import _adapter as adapter_module
from neuromorpho_api._adapter import HintedSSLError, _context_key, _stamp
from neuromorpho_api._explain import describe
from neuromorpho_api._session import DEFAULT_TIMEOUT
from neuromorpho_api._tls import _new_context
from neuromorpho_api.testing import Emulator
from tests.conftest import PKI, make_emulator

HEALTH = "https://neuromorpho.org/api/health"
CLOSE = {"Connection": "close"}


def adapter_of(session: requests.Session) -> NeuroMorphoAdapter:
    adapter = session.get_adapter(HEALTH)
    assert isinstance(adapter, NeuroMorphoAdapter)
    return adapter


def test_requests_without_the_pool_key_hook_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # requests < 2.32.3: the lowered context would silently never be used.
    monkeypatch.delattr(HTTPAdapter, "build_connection_pool_key_attributes")
    with pytest.raises(RuntimeError, match=r"requests>=2\.32\.4"):
        NeuroMorphoAdapter()


def test_unreadable_ca_bundle_is_a_requests_ssl_error(legacy: Emulator, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    with pytest.raises(requests.exceptions.SSLError):
        NeuroMorphoSession().get(HEALTH, verify=str(junk))
    assert not legacy.requests


def test_client_certificate_and_key_in_one_file(pki: PKI, tmp_path: Path) -> None:
    combined = tmp_path / "client.pem"
    combined.write_bytes(
        Path(pki.client_cert_file).read_bytes() + Path(pki.client_key_file).read_bytes()
    )
    for server in make_emulator(pki.identity, client_ca=pki.client_ca_file):
        with server.active():
            assert NeuroMorphoSession().get(HEALTH, cert=str(combined), headers=CLOSE).ok
            assert server.handshakes[-1].client_certificate is not None


def test_missing_client_certificate_file_raises_the_requests_error(legacy: Emulator) -> None:
    with pytest.raises(OSError, match="Could not find the TLS certificate file"):
        NeuroMorphoSession().get(HEALTH, cert="/no/such/client.pem")


def test_a_refusal_without_a_hint_stays_a_plain_ssl_error(legacy: Emulator) -> None:
    # Port 80 is routed to the emulator's plain-HTTP server: TLS gets an HTTP answer
    # (WRONG_VERSION_NUMBER), a failure this package has nothing to add to.
    with pytest.raises(requests.exceptions.SSLError) as error:
        NeuroMorphoSession(retries=0).get("https://neuromorpho.org:80/api/health")
    assert not isinstance(error.value, HintedSSLError)
    assert "WRONG_VERSION_NUMBER" in str(error.value) or "wrong version" in str(error.value)


def test_untrusted_certificate_is_described_by_openssl_s_reason(pki: PKI) -> None:
    for rogue in make_emulator(pki.rogue_identity):
        with rogue.active():
            with pytest.raises(requests.exceptions.SSLError) as error:
                NeuroMorphoSession().get(HEALTH, verify=pki.identity.ca)
    reason, retry = describe(error.value)
    assert reason.startswith("TLS failure: certificate verify failed: ")
    assert retry is False


def test_context_cache_is_bounded_and_evicts_the_oldest(
    legacy: Emulator, pki: PKI, tmp_path: Path
) -> None:
    session = NeuroMorphoSession()
    adapter = adapter_of(session)
    bundles = []
    for index in range(adapter_module._MAX_CONTEXTS + 3):
        bundle = tmp_path / f"bundle-{index}.pem"
        shutil.copyfile(pki.identity.ca, bundle)
        bundles.append(str(bundle))
        assert session.get(HEALTH, verify=str(bundle), headers=CLOSE).ok
    assert len(adapter._contexts) == adapter_module._MAX_CONTEXTS
    cached = {trust[1] for trust, _ in adapter._contexts}
    assert cached == set(bundles[3:])
    # An evicted setting still works: its context is simply built again.
    assert session.get(HEALTH, verify=bundles[0], headers=CLOSE).ok
    assert os.path.abspath(bundles[0]) in {trust[1] for trust, _ in adapter._contexts}


def test_a_file_that_cannot_be_stamped_is_used_but_not_cached(
    legacy: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A file that changes or vanishes while it is read: use what was loaded, keep nothing.
    monkeypatch.setattr(adapter_module, "_stamp", lambda key: None)
    session = NeuroMorphoSession()
    assert session.get(HEALTH, verify=legacy.ca_file).ok
    assert session.get(HEALTH, verify=legacy.ca_file, headers=CLOSE).ok
    assert not adapter_of(session)._contexts


def test_stamps_follow_the_files(pki: PKI, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.pem"
    shutil.copyfile(pki.identity.ca, bundle)
    key = _context_key(str(bundle), (pki.client_cert_file, pki.client_key_file))
    assert key is not None
    first = _stamp(key)
    assert first is not None and first == _stamp(key)
    # A rotated client key is a new stamp, like a rewritten CA bundle.
    shutil.copyfile(pki.client_key_file, tmp_path / "key.pem")
    os.replace(tmp_path / "key.pem", pki.client_key_file)
    assert _stamp(key) not in (None, first)
    bundle.unlink()
    assert _stamp(key) is None


def test_directory_stamps_count_only_the_files_openssl_reads(pki: PKI, tmp_path: Path) -> None:
    directory = tmp_path / "certs"
    directory.mkdir()
    shutil.copyfile(pki.identity.ca, directory / "0123abcd.0")
    key = _context_key(str(directory), None)
    assert key is not None and key[0] == ("dir", str(directory))
    before = _stamp(key)
    (directory / "README").write_text("not a CA")
    (directory / "ca.pem").write_bytes(Path(pki.client_ca_file).read_bytes())
    os.symlink(directory / "gone.pem", directory / "deadbeef.0")  # dangling: not a CA
    stamp = _stamp(key)
    assert stamp is not None and len(stamp) == len(before or ()) == 2
    assert stamp[0][0] == "0123abcd.0"
    (directory / "0123abcd.r0").write_text("a CRL slot")
    assert len(_stamp(key) or ()) == 3


def test_new_context_never_allows_less_than_tls_1_2(monkeypatch: pytest.MonkeyPatch) -> None:
    # urllib3 1.26 hands out contexts that still allow TLS 1.0 and 1.1.
    import urllib3.util.ssl_

    create = urllib3.util.ssl_.create_urllib3_context

    def old_style(*args: object, **kwargs: object) -> ssl.SSLContext:
        context = create(*args, **kwargs)  # type: ignore[arg-type]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0 is deprecated: yes
            context.minimum_version = ssl.TLSVersion.TLSv1
        return context

    monkeypatch.setattr(urllib3.util.ssl_, "create_urllib3_context", old_style)
    assert _new_context(verify=True).minimum_version == ssl.TLSVersion.TLSv1_2
    assert _new_context(verify=False).minimum_version == ssl.TLSVersion.TLSv1_2


def test_session_from_a_state_without_a_timeout_gets_the_default() -> None:
    session = NeuroMorphoSession(timeout=5)
    state = session.__getstate__()
    del state["timeout"]
    restored = NeuroMorphoSession.__new__(NeuroMorphoSession)
    restored.__setstate__(state)
    assert restored.timeout == DEFAULT_TIMEOUT
    assert pickle.loads(pickle.dumps(session)).timeout == 5
    assert repr(restored) == f"<NeuroMorphoSession timeout={DEFAULT_TIMEOUT!r}>"


def test_the_session_timeout_marker_says_what_it_is() -> None:
    default = inspect.signature(NeuroMorphoSession.request).parameters["timeout"].default
    assert repr(default) == "<the session's timeout>"
