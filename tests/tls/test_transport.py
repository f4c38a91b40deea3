"""Proxies, threads, timeouts and retries of NeuroMorphoSession, against the emulator."""

from __future__ import annotations

import threading
import time
import types

import pytest
import requests
import urllib3.util.retry

from neuromorpho_api import NeuroMorphoSession, requestor
from neuromorpho_api.testing import Emulator
from tests.conftest import PKI, make_emulator

HEALTH = "https://neuromorpho.org/api/health"


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record urllib3's retry sleeps instead of sleeping."""
    recorded: list[float] = []
    # Replace the module urllib3's retry code sees, not time.sleep itself: the emulator's
    # stall faults sleep for real.
    fake_time = types.SimpleNamespace(
        sleep=recorded.append, time=time.time, monotonic=time.monotonic
    )
    monkeypatch.setattr(urllib3.util.retry, "time", fake_time)
    return recorded


# -- proxies ---------------------------------------------------------------------------------


def test_http_connect_proxy_argument(legacy: Emulator) -> None:
    response = NeuroMorphoSession().get(HEALTH, proxies={"https": legacy.proxy_url})
    assert response.json() == {"status": "UP"}
    assert legacy.proxy_tunnels == ["neuromorpho.org:443"]
    assert legacy.handshakes[-1].dh_bits == 1024


def test_https_proxy_from_the_environment(
    legacy: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", legacy.proxy_url)
    # An active emulator lists its hosts in NO_PROXY, so that a user's proxy never sees them;
    # this test wants the proxy, so it empties the list.
    monkeypatch.setenv("NO_PROXY", "")
    monkeypatch.setenv("no_proxy", "")
    assert NeuroMorphoSession().get(HEALTH).ok
    assert legacy.proxy_tunnels == ["neuromorpho.org:443"]


def test_proxy_does_not_carry_the_lowered_level_to_other_hosts(legacy: Emulator) -> None:
    with pytest.raises(requests.exceptions.SSLError) as error:
        NeuroMorphoSession().get(
            "https://other.test/api/health", proxies={"https": legacy.proxy_url}
        )
    assert "DH_KEY_TOO_SMALL" in str(error.value)


def test_https_proxy(pki: PKI) -> None:
    for server in make_emulator(pki.identity, https_proxy=True):
        with server.active():
            assert server.proxy_url.startswith("https://")
            response = NeuroMorphoSession().get(HEALTH, proxies={"https": server.proxy_url})
            assert response.ok
            assert server.proxy_tunnels == ["neuromorpho.org:443"]
            assert server.handshakes[-1].dh_bits == 1024


# -- threads ---------------------------------------------------------------------------------


def test_shared_requestor_from_many_threads(legacy: Emulator) -> None:
    results: list[int] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for neuron_id in (1, 2, 3, 4, 5):
                response = requestor.get(f"https://neuromorpho.org/api/neuron/id/{neuron_id}")
                assert response.json()["neuron_id"] == neuron_id
                results.append(response.status_code)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert results == [200] * 40


def test_mixing_verify_false_and_a_ca_in_threads_never_accepts_a_rogue_server(pki: PKI) -> None:
    """The race that a single shared context loses (tls.md P4)."""
    session = NeuroMorphoSession(retries=0)
    accepted: list[int] = []
    stop = threading.Event()

    def careless() -> None:
        while not stop.is_set():
            session.get(HEALTH, verify=False, headers={"Connection": "close"})

    def careful() -> None:
        for _ in range(60):
            try:
                session.get(HEALTH, verify=pki.identity.ca, headers={"Connection": "close"})
                accepted.append(1)
            except requests.exceptions.SSLError:
                pass

    import warnings

    for rogue in make_emulator(pki.rogue_identity):
        with rogue.active(), warnings.catch_warnings():
            warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
            others = [threading.Thread(target=careless) for _ in range(2)]
            for thread in others:
                thread.start()
            careful()
            stop.set()
            for thread in others:
                thread.join()
    assert accepted == []


# -- timeouts --------------------------------------------------------------------------------


def test_default_timeout_applies_when_none_is_given(legacy: Emulator) -> None:
    session = NeuroMorphoSession(timeout=(5, 0.3), retries=0)
    legacy.faults.add("/api/health", "stall", seconds=1.0)
    with pytest.raises(requests.exceptions.ReadTimeout):
        session.get(HEALTH)


def test_read_timeout_after_retries_is_still_a_read_timeout(
    legacy: Emulator, sleeps: list[float]
) -> None:
    # urllib3 reports exhausted read retries as MaxRetryError, which requests would turn into
    # a ConnectionError; `except requests.Timeout` must keep working.
    legacy.faults.add("/api/health", "stall", seconds=1.0, times=10)
    with pytest.raises(requests.exceptions.ReadTimeout):
        NeuroMorphoSession(timeout=(5, 0.2)).get(HEALTH)
    assert len(legacy.requests) == 3


def test_explicit_timeout_wins_and_none_means_wait(legacy: Emulator) -> None:
    session = NeuroMorphoSession(timeout=(5, 0.2), retries=0)
    legacy.faults.add("/api/health", "stall", seconds=0.6, times=2)
    assert session.get(HEALTH, timeout=None).ok
    assert session.get(HEALTH, timeout=3).ok


def test_stalled_read_is_retried_for_get(legacy: Emulator, sleeps: list[float]) -> None:
    legacy.faults.add("/api/health", "stall", seconds=1.0)
    response = NeuroMorphoSession(timeout=(5, 0.3)).get(HEALTH)
    assert response.ok
    assert len(legacy.requests) == 2


# -- retries ---------------------------------------------------------------------------------


def test_retry_after_is_honoured(legacy: Emulator, sleeps: list[float]) -> None:
    legacy.faults.add("/api/health", "status", status=503, headers={"Retry-After": "2"}, times=2)
    response = NeuroMorphoSession().get(HEALTH)
    assert response.json() == {"status": "UP"}
    assert sleeps == [2.0, 2.0]
    assert [r.status for r in legacy.requests] == [503, 503, 200]


def test_429_with_a_long_retry_after_is_returned_not_waited_for(
    legacy: Emulator, sleeps: list[float]
) -> None:
    legacy.faults.add("/api/health", "status", status=429, headers={"Retry-After": "3600"})
    response = NeuroMorphoSession().get(HEALTH)
    assert response.status_code == 429
    assert sleeps == []
    assert len(legacy.requests) == 1


def test_5xx_bursts_back_off_exponentially_and_are_bounded(
    legacy: Emulator, sleeps: list[float]
) -> None:
    legacy.faults.add("/api/health", "status", status=502, times=100)
    response = NeuroMorphoSession().get(HEALTH)
    assert response.status_code == 502
    assert len(legacy.requests) == 6  # the request and 5 retries
    assert sleeps == sorted(sleeps)
    assert max(sleeps) <= 10
    assert sleeps[-1] > sleeps[0]


def test_post_is_not_retried_on_5xx(legacy: Emulator, sleeps: list[float]) -> None:
    legacy.faults.add("/api/neuron/select", "status", status=503)
    response = NeuroMorphoSession().post(
        "https://neuromorpho.org/api/neuron/select", json={"species": ["rat"]}
    )
    assert response.status_code == 503
    assert len(legacy.requests) == 1


def test_connection_reset_is_retried(legacy: Emulator, sleeps: list[float]) -> None:
    legacy.faults.add("/api/neuron/id/1", "reset")
    response = NeuroMorphoSession().get("https://neuromorpho.org/api/neuron/id/1")
    assert response.json()["neuron_id"] == 1


def test_tls_failures_are_final(
    pki: PKI, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    import urllib3.util.connection

    connects: list[object] = []
    create_connection = urllib3.util.connection.create_connection

    def counting(address: object, *args: object, **kwargs: object) -> object:
        connects.append(address)
        return create_connection(address, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(urllib3.util.connection, "create_connection", counting)
    for rogue in make_emulator(pki.rogue_identity):
        with rogue.active():
            with pytest.raises(requests.exceptions.SSLError):
                NeuroMorphoSession().get(HEALTH, verify=pki.identity.ca)
            # One connection, one handshake, no retry and no backoff.
            assert connects == [("neuromorpho.org", 443)]
            assert sleeps == []


def test_user_agent_names_the_package(legacy: Emulator) -> None:
    from neuromorpho_api import __version__

    requestor.get(HEALTH)
    assert legacy.requests[-1].headers["User-Agent"].startswith(f"neuromorpho-api/{__version__}")
