"""Fetch numbered pages a few at a time, hand them over strictly in order.

The server takes seconds to build a 500-row page, so one-after-another paging leaves the
polite budget unused: the operators ask for about 5 requests *started* per second, not for
one request at a time. :func:`pages_in_order` keeps up to ``in_flight`` page requests open at
once (the rate limiter, which the fetch function passes through, still spaces their starts)
and yields the results in page order.

The window is bounded: at most ``in_flight`` pages are requested but not yet handed over, so a
slow consumer holds at most that many pages in memory, and a consumer that stops (``limit``
reached, ``break``, a closed or garbage-collected generator) stops the fetching: pages not yet
started are cancelled and the worker threads end as soon as the requests already on the wire
return. No state is shared between calls; every call owns its threads.
"""

from __future__ import annotations

import collections
from collections.abc import Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, TypeVar

__all__ = ["DEFAULT_IN_FLIGHT", "check_in_flight", "pages_in_order"]

T = TypeVar("T")

DEFAULT_IN_FLIGHT = 4
"""Page requests open at once by default: the politeness bound the operators ask for."""


def check_in_flight(in_flight: int) -> int:
    """Validate an ``in_flight`` argument: a positive int."""
    if isinstance(in_flight, bool) or not isinstance(in_flight, int):
        raise TypeError(f"in_flight must be an int, not {type(in_flight).__name__}")
    if in_flight < 1:
        raise ValueError(f"in_flight must be at least 1, got {in_flight}")
    return in_flight


def pages_in_order(
    fetch: Callable[[int], T],
    numbers: Iterable[int],
    *,
    in_flight: int = DEFAULT_IN_FLIGHT,
) -> Generator[T, None, None]:
    """``fetch(n)`` for each page number ``n`` of ``numbers``, yielded in the order of ``numbers``.

    Up to ``in_flight`` calls run at once in worker threads (``in_flight=1``: one after another
    in the caller's thread). ``numbers`` is read lazily, only as far as the window reaches. An
    exception raised by ``fetch(n)`` is raised here when page ``n``'s turn comes, after every
    earlier page was yielded; the pages after it are then abandoned.

    Nothing happens until the first ``next()``. Closing the generator (or dropping it) cancels
    the pages not yet started; requests already on the wire finish in the background and
    their worker threads end.
    """
    check_in_flight(in_flight)
    if in_flight == 1:
        for number in numbers:
            yield fetch(number)
        return
    todo = iter(numbers)
    window: collections.deque[Future[T]] = collections.deque()
    # Threads are started only as pages are submitted, and never outlive their last request.
    executor = ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="neuromorpho-page")
    try:
        for number in todo:
            window.append(executor.submit(fetch, number))
            if len(window) >= in_flight:
                break
        while window:
            result = window.popleft().result()
            # Refill only once this page is done, so no more than in_flight are ever open.
            for number in todo:
                window.append(executor.submit(fetch, number))
                break
            yield result
    finally:
        for future in window:
            future.cancel()
        executor.shutdown(wait=False)
