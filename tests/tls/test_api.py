"""The public surface: names, drop-in attributes, pickling, import hygiene, error hints."""

from __future__ import annotations

import copy
import pickle
import ssl
import subprocess
import sys
import textwrap

import pytest
import requests

import neuromorpho_api
from neuromorpho_api import NEUROMORPHO_HOSTS, NeuroMorphoAdapter, NeuroMorphoSession, requestor
from neuromorpho_api._explain import explain_ssl_error
from neuromorpho_api._tls import LEGACY_CIPHERS, is_neuromorpho_host
from neuromorpho_api.testing import Emulator


def test_public_names_are_exactly_these() -> None:
    assert sorted(neuromorpho_api.__all__) == sorted(
        [
            "APIError",
            "ArticleNotFound",
            "DEFAULT_TIMEOUT",
            "DiskFullError",
            "DownloadError",
            "DownloadFailure",
            "DownloadInterrupted",
            "DownloadReport",
            "FileResult",
            "MirrorCorruptError",
            "MirrorError",
            "MirrorLockedError",
            "MirrorVersionError",
            "NEUROMORPHO_HOSTS",
            "NeuroMorpho",
            "NeuroMorphoAdapter",
            "NeuroMorphoError",
            "NeuroMorphoSession",
            "NeuronFiles",
            "NeuronNotFound",
            "OfflineUnsupportedError",
            "SearchResult",
            "ServiceUnavailable",
            "StaleMirrorWarning",
            "SyncReport",
            "UnknownFieldError",
            "UnknownValueError",
            "__version__",
            "requestor",
            "ssl_context",
        ]
    )
    for name in neuromorpho_api.__all__:
        assert hasattr(neuromorpho_api, name), name
    assert frozenset({"neuromorpho.org", "www.neuromorpho.org"}) == NEUROMORPHO_HOSTS


def test_requestor_answers_the_module_level_names_of_requests() -> None:
    assert requestor.exceptions is requests.exceptions
    assert requestor.codes.ok == 200
    assert requestor.codes.not_found == 404
    for name in ("RequestException", "HTTPError", "ConnectionError", "Timeout", "JSONDecodeError"):
        assert getattr(requestor, name) is getattr(requests, name)
    fresh = requestor.Session()
    assert isinstance(fresh, NeuroMorphoSession)
    assert fresh is not requestor
    assert isinstance(fresh.get_adapter("https://neuromorpho.org/"), NeuroMorphoAdapter)
    assert callable(requestor.get) and callable(requestor.request)


@pytest.mark.parametrize("clone", [pickle.loads, copy.copy, copy.deepcopy])
def test_session_pickles_and_copies_and_still_works(legacy: Emulator, clone) -> None:
    session = NeuroMorphoSession(timeout=(3, 7))
    session.get("https://neuromorpho.org/api/health")
    twin = clone(pickle.dumps(session)) if clone is pickle.loads else clone(session)
    assert isinstance(twin, NeuroMorphoSession)
    assert twin.timeout == (3, 7)
    assert twin.get_adapter("https://neuromorpho.org/").hosts == NEUROMORPHO_HOSTS
    assert twin.get("https://neuromorpho.org/api/health").json() == {"status": "UP"}


def test_adapter_mounts_on_a_third_party_session(legacy: Emulator) -> None:
    session = requests.Session()
    session.mount("https://", NeuroMorphoAdapter())
    assert session.get("https://www.neuromorpho.org/api/health").ok


def test_adapter_refuses_other_hosts() -> None:
    with pytest.raises(ValueError, match="only for"):
        NeuroMorphoAdapter(hosts={"example.org"})


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("neuromorpho.org", True),
        ("www.neuromorpho.org", True),
        ("NEUROMORPHO.ORG.", True),
        ("neuromorpho.org..", False),
        ("neuromorpho.org.evil.test", False),
        ("neuromorpho.orgevil.test", False),
        ("evilneuromorpho.org", False),
        ("cng.gmu.edu", False),
        ("", False),
        (None, False),
    ],
)
def test_host_rule(host: str | None, expected: bool) -> None:
    assert is_neuromorpho_host(host) is expected


def test_ssl_context_is_verifying_and_level_one() -> None:
    context = neuromorpho_api.ssl_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert context.maximum_version in (ssl.TLSVersion.MAXIMUM_SUPPORTED, ssl.TLSVersion.TLSv1_3)
    assert context.cert_store_stats()["x509_ca"] > 50  # certifi's roots
    if sys.version_info >= (3, 10):
        assert context.security_level == 1
    names = [cipher["name"] for cipher in context.get_ciphers()]
    assert names[0].startswith("TLS_")  # TLS 1.3 first
    assert any(name.startswith("ECDHE-") for name in names)
    assert any(name.startswith("DHE-") for name in names)
    assert not any(name.startswith(("AES", "CAMELLIA", "ARIA", "PSK")) for name in names)
    assert names.index(next(n for n in names if n.startswith("DHE-"))) > names.index(
        next(n for n in names if n.startswith("ECDHE-"))
    )
    assert "@SECLEVEL=1" in LEGACY_CIPHERS and "SECLEVEL=0" not in LEGACY_CIPHERS


def test_ssl_context_works_with_urllib(legacy: Emulator) -> None:
    import json
    import urllib.request

    context = neuromorpho_api.ssl_context(legacy.ca_file)
    with urllib.request.urlopen("https://neuromorpho.org/api/health", context=context) as response:
        assert json.load(response) == {"status": "UP"}


def test_error_hint_for_a_refused_group_on_neuromorpho() -> None:
    error = requests.exceptions.SSLError(
        ssl.SSLError(1, "[SSL: DH_KEY_TOO_SMALL] dh key too small")
    )
    hint = explain_ssl_error(error, "neuromorpho.org")
    assert hint is not None and "FIPS" in hint and "doctor" in hint
    assert explain_ssl_error(requests.exceptions.SSLError("other"), "neuromorpho.org") is None


def test_import_has_no_side_effects() -> None:
    code = textwrap.dedent(
        """
        import socket, ssl, sys, warnings
        import requests, urllib3  # requests adds a warnings filter of its own at import
        filters = list(warnings.filters)
        getaddrinfo = socket.getaddrinfo
        context_factory = ssl.create_default_context
        ciphers = getattr(urllib3.util.ssl_, "DEFAULT_CIPHERS", None)
        get = requests.get
        import neuromorpho_api
        assert warnings.filters == filters, "warnings filters changed"
        assert socket.getaddrinfo is getaddrinfo, "resolver patched"
        assert ssl.create_default_context is context_factory
        assert requests.get is get
        assert getattr(urllib3.util.ssl_, "DEFAULT_CIPHERS", None) == ciphers
        assert requests.Session().get_adapter("https://neuromorpho.org/").__class__ is requests.adapters.HTTPAdapter
        heavy = {"pandas", "tqdm", "neuromorpho_api.testing", "trustme", "cryptography"} & set(sys.modules)
        assert not heavy, heavy
        print("clean")
        """
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "clean"
    assert result.stderr == ""


def test_hinted_ssl_error_keeps_the_original_args(legacy: Emulator) -> None:
    from urllib3.exceptions import MaxRetryError

    with pytest.raises(requests.exceptions.SSLError) as error:
        NeuroMorphoSession().get("https://other.test/api/health")
    assert isinstance(error.value.args[0], MaxRetryError)
    assert "DH_KEY_TOO_SMALL" in str(error.value.args[0].reason)
    assert str(error.value).endswith(
        "only for neuromorpho.org and www.neuromorpho.org; see "
        "https://neuromorpho-api.readthedocs.io/en/latest/troubleshooting.html#dh-key-too-small"
    )


def test_get_takes_params_positionally_like_the_module(legacy: Emulator) -> None:
    response = requestor.get("https://neuromorpho.org/api/neuron/select", {"q": "neuron_id:1"})
    assert response.json()["page"]["totalElements"] == 1


def test_send_without_timeout_gets_the_default(legacy: Emulator, monkeypatch) -> None:
    seen: list[object] = []
    session = NeuroMorphoSession(timeout=(4, 9))
    adapter = session.get_adapter("https://neuromorpho.org/")
    original = adapter.send

    def spy(request, **kwargs):
        seen.append(kwargs.get("timeout"))
        return original(request, **kwargs)

    monkeypatch.setattr(adapter, "send", spy)
    prepared = session.prepare_request(
        requests.Request("GET", "https://neuromorpho.org/api/health")
    )
    assert session.send(prepared, verify=legacy.ca_bundle).ok
    assert session.get("https://neuromorpho.org/api/health", timeout=None).ok
    assert seen == [(4, 9), None]


def test_request_arguments_keep_their_meaning_by_position(legacy: Emulator, monkeypatch) -> None:
    seen: list[tuple[str | None, object]] = []
    session = NeuroMorphoSession(timeout=(4, 9))
    adapter = session.get_adapter("https://neuromorpho.org/")
    original = adapter.send

    def spy(request, **kwargs):
        seen.append((request.url, kwargs.get("timeout")))
        return original(request, **kwargs)

    monkeypatch.setattr(adapter, "send", spy)
    url = "https://neuromorpho.org/api/neuron/select"
    # params, data, headers, cookies, files, auth, timeout: requests' own order.
    by_position = session.request("GET", url, {"q": "neuron_id:1"}, None, None, None, None, None, 7)
    assert by_position.json()["page"]["totalElements"] == 1
    session.request("GET", url, {"q": "neuron_id:1"}, None, None, None, None, None, None)
    session.request("GET", url, {"q": "neuron_id:1"})
    assert [timeout for _, timeout in seen] == [7, None, (4, 9)]
    assert all(seen_url == url + "?q=neuron_id%3A1" for seen_url, _ in seen)


def test_pool_size_is_read_from_the_public_pool_manager() -> None:
    from requests.adapters import BaseAdapter, HTTPAdapter

    from neuromorpho_api._adapter import pool_maxsize

    session = NeuroMorphoSession(pool_maxsize=3)
    assert pool_maxsize(session.get_adapter("https://neuromorpho.org/")) == 3
    assert pool_maxsize(session.get_adapter("http://cng.gmu.edu:8080/")) == 3
    twin = pickle.loads(pickle.dumps(session))
    assert pool_maxsize(twin.get_adapter("https://neuromorpho.org/")) == 3
    assert pool_maxsize(HTTPAdapter(pool_maxsize=7)) == 7
    assert pool_maxsize(BaseAdapter()) is None
