"""The one retry policy of this package: what is retried, and how long to wait first.

Two retriers follow it: urllib3, through :class:`BoundedRetry`, for every request of a
:class:`~neuromorpho_api.NeuroMorphoSession`; and the downloader, which retries whole files
itself (a fresh temporary file, and a body that must also be complete and valid SWC).
Both retry the statuses in :data:`RETRY_STATUSES`, wait :func:`backoff_time` when the server
gave no ``Retry-After`` and :func:`parse_retry_after` when it did, and never wait longer than
:data:`MAX_RETRY_AFTER` for it: a session returns such a response as it is, the downloader
waits the cap, since its caller asked for the files and not for a response.
"""

from __future__ import annotations

import random
from itertools import takewhile
from typing import TYPE_CHECKING, Any

from urllib3.exceptions import InvalidHeader, MaxRetryError, ResponseError
from urllib3.util.retry import Retry

if TYPE_CHECKING:
    from urllib3.response import BaseHTTPResponse

__all__ = [
    "MAX_RETRY_AFTER",
    "RETRY_STATUSES",
    "BoundedRetry",
    "backoff_time",
    "default_retry",
    "no_retries",
    "parse_retry_after",
]

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
"""Statuses that say "try again": timeout, too early, too many requests, and 5xx but 501."""
BACKOFF_FACTOR = 0.5
MAX_BACKOFF = 10.0
MAX_RETRY_AFTER = 60.0
"""The longest ``Retry-After`` waited for."""

# urllib3's parser, borrowed rather than rewritten; it reads no state of its instance.
_PARSER = Retry(0)


def backoff_time(retry: int) -> float:
    """Seconds to wait before retry number *retry* (1 for the first) if the server said nothing.

    Args:
        retry: How many consecutive attempts have failed.

    Returns:
        0.5 s, 1 s, 2 s, ... up to :data:`MAX_BACKOFF`, each shortened at random by up to a
        half, so that the clients (or workers) that failed together do not retry together.
    """
    if retry < 1:
        return 0.0
    return float(min(MAX_BACKOFF, BACKOFF_FACTOR * 2 ** (retry - 1)) * random.uniform(0.5, 1.0))


def parse_retry_after(value: str | None) -> float | None:
    """The seconds a ``Retry-After`` header value asks to wait, not capped.

    Args:
        value: The header value: seconds, or an HTTP date.

    Returns:
        0 for a date in the past; ``None`` when the header is absent or unreadable, which
        callers treat as no advice (they back off as usual) rather than as an error.
    """
    if not value:
        return None
    try:
        return float(_PARSER.parse_retry_after(value))
    except (InvalidHeader, ValueError, OverflowError, TypeError, IndexError):
        # ValueError: a number too long for int() (Python 3.11+), or a date out of range.
        return None


class BoundedRetry(Retry):
    """urllib3's :class:`~urllib3.util.Retry` following this module's policy, bounded in time.

    Backoff is :func:`backoff_time` and ``Retry-After`` is read by :func:`parse_retry_after`
    (an unreadable one means plain backoff, not an exception). A ``Retry-After`` longer than
    :attr:`max_retry_after` is not waited for (the response is returned as it is), and once the
    sleeps of one request would exceed :attr:`max_total_wait` it stops retrying.
    """

    max_retry_after: float = MAX_RETRY_AFTER
    max_total_wait: float = 120.0

    def __init__(self, *args: Any, waited: float = 0.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.waited = waited
        self._backoff: float | None = None  # drawn once: the wait counted is the wait slept

    def new(self, **kwargs: Any) -> BoundedRetry:
        kwargs.setdefault("waited", self.waited)
        retry = super().new(**kwargs)
        assert isinstance(retry, BoundedRetry)
        return retry

    def get_backoff_time(self) -> float:
        if self._backoff is None:
            # Consecutive failures since the last redirect, as urllib3 counts them.
            failures = takewhile(lambda entry: entry.redirect_location is None, self.history[::-1])
            self._backoff = backoff_time(len(list(failures)))
        return self._backoff

    def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
        return parse_retry_after(response.headers.get("Retry-After"))

    def _next_wait(self, response: BaseHTTPResponse | None) -> float:
        if response is not None and self.respect_retry_after_header:
            retry_after = self.get_retry_after(response)
            if retry_after:  # urllib3 backs off instead of sleeping 0
                return retry_after
        return self.get_backoff_time()

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> BoundedRetry:
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        assert isinstance(retry, BoundedRetry)
        wait = retry._next_wait(response)
        too_long = response is not None and wait > self.max_retry_after
        if too_long or retry.waited + wait > self.max_total_wait:
            reason = (
                f"the server asked to wait {wait:.0f} s (Retry-After)"
                if too_long
                else f"retrying would wait more than {self.max_total_wait:.0f} s in total"
            )
            raise MaxRetryError(_pool, url or "", error or ResponseError(reason))
        return retry

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        self.waited += self._next_wait(response)
        super().sleep(response)


def no_retries() -> Retry:
    """urllib3 retries for a session whose caller retries whole operations itself.

    The downloader retries whole files (with a fresh temporary file); urllib3 retrying
    underneath would multiply the attempts. Redirects are still followed.
    """
    return Retry(
        total=None, connect=0, read=0, status=0, other=0, redirect=5, raise_on_status=False
    )


def default_retry(total: int = 5) -> BoundedRetry:
    """Retries for idempotent requests on connection errors and :data:`RETRY_STATUSES`.

    Exponential backoff with jitter (:func:`backoff_time`) honouring ``Retry-After``. A
    certificate, hostname or handshake failure is final: TLS errors count as "other" errors,
    of which none is retried.
    """
    return BoundedRetry(
        total=total,
        connect=min(3, total),
        read=min(2, total),
        status=total,
        other=0,
        redirect=10,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=Retry.DEFAULT_ALLOWED_METHODS,
        respect_retry_after_header=True,
        raise_on_status=False,
    )
