"""The one retry policy (_retry.py), as the session follows it against the emulator."""

from __future__ import annotations

import time
import types

import pytest
import urllib3.util.retry

from neuromorpho_api import NeuroMorphoSession
from neuromorpho_api._retry import MAX_BACKOFF, backoff_time, parse_retry_after
from neuromorpho_api.testing import Emulator

HEALTH = "https://neuromorpho.org/api/health"


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record urllib3's retry sleeps instead of sleeping."""
    recorded: list[float] = []
    fake_time = types.SimpleNamespace(
        sleep=recorded.append, time=time.time, monotonic=time.monotonic
    )
    monkeypatch.setattr(urllib3.util.retry, "time", fake_time)
    return recorded


def test_retry_after_forms() -> None:
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(" 5 ") == 5.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-5") is None
    future = time.time() + 30
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(future))
    assert 25 <= (parse_retry_after(date) or 0) <= 31
    assert parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT") == 0.0


def test_retry_after_too_long_for_int_is_no_advice() -> None:
    # Python 3.11+ refuses int() of over 4300 digits; hostile bytes must not raise.
    assert parse_retry_after("9" * 5000) is None


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    assert backoff_time(0) == 0.0
    for retry in range(1, 12):
        base = min(MAX_BACKOFF, 0.5 * 2 ** (retry - 1))
        waits = [backoff_time(retry) for _ in range(200)]
        assert all(base / 2 <= wait <= base for wait in waits)
        assert len(set(waits)) > 1  # jittered, so that clients that failed together spread


@pytest.mark.parametrize("status", [408, 425])
def test_session_retries_the_statuses_the_downloader_retries(
    legacy: Emulator, sleeps: list[float], status: int
) -> None:
    legacy.faults.add("/api/health", "status", status=status)
    response = NeuroMorphoSession().get(HEALTH)
    assert response.json() == {"status": "UP"}
    assert [r.status for r in legacy.requests] == [status, 200]
    assert len(sleeps) == 1 and 0.25 <= sleeps[0] <= 0.5


def test_unreadable_retry_after_means_plain_backoff(legacy: Emulator, sleeps: list[float]) -> None:
    legacy.faults.add("/api/health", "status", status=503, headers={"Retry-After": "soon"})
    response = NeuroMorphoSession().get(HEALTH)
    assert response.ok
    assert len(sleeps) == 1 and 0.25 <= sleeps[0] <= 0.5
