"""Concurrent paging: order, laziness, the in-flight bound, errors in order, no leaked threads.

Proved with gates and counters (a fetch that waits for the test's say-so, an adapter that counts
the requests open at once), not with wall-clock thresholds: the timeouts below only keep a
broken build from hanging.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from neuromorpho_api import APIError, NeuroMorphoAdapter, NeuroMorphoSession
from neuromorpho_api._client import NeuroMorpho
from neuromorpho_api._paging import pages_in_order
from neuromorpho_api._ratelimit import RateLimiter
from neuromorpho_api.testing import Emulator

WAIT = 30.0  # only so that a bug fails instead of hanging


class Gated:
    """A fetch function whose calls wait until the test opens their gate; it counts them."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.started: list[int] = []
        self.open: set[int] = set()
        self.running = 0
        self.most = 0
        self.fail: dict[int, Exception] = {}

    def __call__(self, number: int) -> int:
        with self.lock:
            self.started.append(number)
            self.running += 1
            self.most = max(self.most, self.running)
            self.lock.notify_all()
            ok = self.lock.wait_for(lambda: number in self.open, timeout=WAIT)
            self.running -= 1
        assert ok, f"page {number} was never released"
        if number in self.fail:
            raise self.fail[number]
        return number * 10

    def release(self, *numbers: int) -> None:
        with self.lock:
            self.open.update(numbers)
            self.lock.notify_all()

    def wait_started(self, count: int) -> None:
        with self.lock:
            assert self.lock.wait_for(lambda: len(self.started) >= count, timeout=WAIT)


def page_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("neuromorpho-page")]


def no_page_threads_left() -> None:
    for thread in page_threads():
        thread.join(WAIT)
    assert page_threads() == []


def test_results_come_in_page_order_whatever_order_they_finish_in() -> None:
    fetch = Gated()
    pages = pages_in_order(fetch, range(8), in_flight=4)
    got: list[int] = []
    fetch.release(3, 2, 1)  # later pages finish first
    collector = threading.Thread(target=lambda: got.extend(pages))
    collector.start()
    fetch.wait_started(4)
    assert got == []  # page 0 holds everything back
    fetch.release(*range(8))
    collector.join(WAIT)
    assert got == [n * 10 for n in range(8)]
    no_page_threads_left()


def test_never_more_than_in_flight_open_and_the_window_is_bounded() -> None:
    fetch = Gated()
    asked: list[int] = []

    def numbers() -> Iterator[int]:
        for n in range(20):
            asked.append(n)
            yield n

    pages = pages_in_order(fetch, numbers(), in_flight=4)
    assert fetch.started == [] and asked == []  # nothing before the first next()
    collector = threading.Thread(target=lambda: next(pages))
    collector.start()
    fetch.wait_started(4)
    assert sorted(fetch.started) == [0, 1, 2, 3]
    assert asked == [0, 1, 2, 3]  # the page numbers are read only as far as the window
    fetch.release(0)
    collector.join(WAIT)  # page 0 handed over; page 4 takes its place, no more
    fetch.wait_started(5)
    assert sorted(fetch.started) == [0, 1, 2, 3, 4]
    fetch.release(*range(20))
    assert list(pages) == [n * 10 for n in range(1, 20)]
    assert fetch.most == 4
    no_page_threads_left()


def test_an_error_is_raised_in_its_turn_and_stops_the_rest() -> None:
    fetch = Gated()
    fetch.fail[2] = RuntimeError("page 2 broke")
    fetch.release(*range(10))
    pages = pages_in_order(fetch, range(10), in_flight=3)
    got: list[int] = []
    with pytest.raises(RuntimeError, match="page 2 broke"):
        got.extend(pages)
    assert got == [0, 10]
    assert max(fetch.started) <= 2 + 3  # nothing far past the failure was asked for
    no_page_threads_left()


@pytest.mark.parametrize("how", ["close", "drop"])
def test_an_abandoned_pager_stops_fetching_and_leaves_no_threads(how: str) -> None:
    fetch = Gated()
    pages = pages_in_order(fetch, range(100), in_flight=4)
    fetch.release(0)
    collector = threading.Thread(target=lambda: next(pages))
    collector.start()
    collector.join(WAIT)
    fetch.wait_started(5)
    if how == "close":
        pages.close()
    else:
        del pages
        gc.collect()
    fetch.release(*range(100))  # the requests on the wire finish...
    no_page_threads_left()  # ...and their threads end
    assert sorted(fetch.started) == [0, 1, 2, 3, 4]  # nothing new was started


def test_one_in_flight_runs_in_the_callers_thread() -> None:
    threads: list[str] = []

    def fetch(n: int) -> int:
        threads.append(threading.current_thread().name)
        return n

    assert list(pages_in_order(fetch, range(5), in_flight=1)) == [0, 1, 2, 3, 4]
    assert set(threads) == {threading.current_thread().name}


# -- through the client, against the emulator --------------------------------------------------


class CountingAdapter(NeuroMorphoAdapter):
    """Counts the requests open at once; can hold chosen requests until the test lets them go."""

    def __init__(self, hold: threading.Barrier | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.hold = hold

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            page = parse_qs(urlsplit(request.url or "").query).get("page", ["0"])[0]
            if self.hold is not None and page in ("1", "2", "3", "4"):
                self.hold.wait(WAIT)  # breaks (and fails the test) unless 4 arrive together
            return super().send(request, *args, **kwargs)
        finally:
            with self.lock:
                self.running -= 1


def counting_client(
    hold: threading.Barrier | None = None, pool_maxsize: int = 10, **kwargs: Any
) -> tuple[NeuroMorpho, CountingAdapter]:
    session = NeuroMorphoSession(pool_maxsize=pool_maxsize)
    adapter = CountingAdapter(hold, pool_maxsize=pool_maxsize)
    session.mount("https://", adapter)
    kwargs.setdefault("rate_limit", None)
    return NeuroMorpho(session=session, page_size=50, **kwargs), adapter


def selects(emu: Emulator) -> list[int]:
    pages = []
    for record in emu.requests:
        parts = urlsplit(record.target)
        if parts.path == "/api/neuron/select":
            pages.append(int(parse_qs(parts.query)["page"][0]))
    return pages


def test_a_search_keeps_four_pages_in_flight_and_no_more(neuromorpho_emulator: Emulator) -> None:
    emu = neuromorpho_emulator
    truth = [r["neuron_id"] for r in emu.database.search("species:rat", sort="neuron_id,asc")]
    assert len(truth) > 50 * 8
    # Pages 1-4 wait for each other: the search goes on only if four are open at once.
    nmo, adapter = counting_client(threading.Barrier(4))
    ids = [r["neuron_id"] for r in nmo.search(species="rat")]
    assert ids == truth
    assert adapter.most == 4
    assert adapter.hold is not None and not adapter.hold.broken
    pages = selects(emu)
    assert pages[0] == 0 and sorted(pages) == list(range(-(-len(truth) // 50)))


def test_the_pool_size_bounds_the_pages_in_flight(neuromorpho_emulator: Emulator) -> None:
    nmo, adapter = counting_client(pool_maxsize=2, in_flight=4)
    assert len(list(nmo.search(species="rat"))) == nmo.count(species="rat")
    assert adapter.most <= 2


def test_every_request_passes_the_rate_limiter(neuromorpho_emulator: Emulator) -> None:
    class CountingLimiter(RateLimiter):
        calls = 0

        def acquire(self) -> float:
            CountingLimiter.calls += 1
            return super().acquire()

    nmo, _ = counting_client()
    nmo._limiter = CountingLimiter(1000.0)
    list(nmo.search(species="rat"))
    nmo.values("strain")
    assert CountingLimiter.calls == len(neuromorpho_emulator.requests)


def test_pages_are_fetched_only_a_window_ahead(neuromorpho_emulator: Emulator) -> None:
    emu = neuromorpho_emulator
    nmo, _ = counting_client(check_values=False)
    results = nmo.search(species="rat")
    assert selects(emu) == []
    next(results)
    assert selects(emu) == [0]  # the first record after one page
    for _ in range(49 + 50 + 1):  # all of pages 0 and 1, and the first record of page 2
        next(results)
    furthest = max(selects(emu))
    assert furthest <= 2 + 3  # page 2 and at most three ahead
    results.close()
    no_page_threads_left()
    seen = len(selects(emu))
    with pytest.raises(StopIteration):
        next(results)
    assert len(selects(emu)) == seen  # closed: nothing more is fetched


def test_a_dropped_search_stops_fetching(neuromorpho_emulator: Emulator) -> None:
    emu = neuromorpho_emulator
    nmo, _ = counting_client(check_values=False)
    results = nmo.search(species="rat")
    for _ in range(51):
        next(results)
    del results
    gc.collect()
    no_page_threads_left()
    assert max(selects(emu)) <= 1 + 4


def test_a_failing_page_raises_after_the_pages_before_it(neuromorpho_emulator: Emulator) -> None:
    emu = neuromorpho_emulator
    emu.faults.add(r"/api/neuron/select\?.*page=3&", "status", status=500, times=100)
    session = NeuroMorphoSession(retries=0)
    nmo = NeuroMorpho(session=session, rate_limit=None, page_size=50, check_values=False)
    got: list[dict[str, Any]] = []
    with pytest.raises(APIError) as info:
        got.extend(nmo.search(species="rat"))
    assert info.value.status == 500
    truth = [r["neuron_id"] for r in emu.database.search("species:rat", sort="neuron_id,asc")]
    assert [r["neuron_id"] for r in got] == truth[:150]  # pages 0-2, in order, nothing else
    no_page_threads_left()


def test_values_and_partitions_page_concurrently_in_order(neuromorpho_emulator: Emulator) -> None:
    emu = neuromorpho_emulator
    nmo, adapter = counting_client()
    assert nmo.values("reference_pmid") == emu.database.field_values("reference_pmid")
    assert nmo.partition("strain") == emu.database.partition("strain")
    assert 1 < adapter.most <= 4


def test_literature_search_pages_in_order(neuromorpho_emulator: Emulator) -> None:
    emu = neuromorpho_emulator
    nmo, adapter = counting_client()
    ids = [a["article_id"] for a in nmo.literature()]
    assert ids == sorted(a["article_id"] for a in emu.database.literature)
    assert adapter.most <= 4


def test_in_flight_is_checked_and_more_than_four_warns() -> None:
    with pytest.raises(ValueError, match="in_flight"):
        NeuroMorpho(in_flight=0)
    with pytest.raises(TypeError, match="in_flight"):
        NeuroMorpho(in_flight=2.0)  # type: ignore[arg-type]
    with pytest.warns(UserWarning, match="operators"):
        assert NeuroMorpho(in_flight=8).in_flight == 8
    assert NeuroMorpho().in_flight == 4
