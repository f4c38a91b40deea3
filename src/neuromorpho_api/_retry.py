"""The retry policy shared by every session of this package."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.util.retry import Retry

if TYPE_CHECKING:
    from urllib3.response import BaseHTTPResponse

__all__ = ["BoundedRetry", "default_retry"]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class BoundedRetry(Retry):
    """urllib3's :class:`~urllib3.util.Retry`, bounded in total waiting time.

    Backoff sleeps are capped at :attr:`max_backoff`, a ``Retry-After`` longer than
    :attr:`max_retry_after` is not waited for (the response is returned as it is), and once the
    sleeps of one request would exceed :attr:`max_total_wait` it stops retrying.
    """

    max_backoff: float = 10.0
    max_retry_after: float = 60.0
    max_total_wait: float = 120.0

    def __init__(self, *args: Any, waited: float = 0.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.waited = waited

    def new(self, **kwargs: Any) -> BoundedRetry:
        kwargs.setdefault("waited", self.waited)
        retry = super().new(**kwargs)
        assert isinstance(retry, BoundedRetry)
        return retry

    def get_backoff_time(self) -> float:
        return float(min(super().get_backoff_time(), self.max_backoff))

    def _next_wait(self, response: BaseHTTPResponse | None) -> float:
        if response is not None and self.respect_retry_after_header:
            retry_after = self.get_retry_after(response)
            if retry_after is not None:
                return float(retry_after)
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


def default_retry(total: int = 5) -> BoundedRetry:
    """Retries for idempotent requests on connection errors and 429/500/502/503/504.

    Exponential backoff (0.5 s, 1 s, 2 s, ...) honouring ``Retry-After``. A certificate, hostname
    or handshake failure is final: TLS errors count as "other" errors, of which none is retried.
    """
    return BoundedRetry(
        total=total,
        connect=min(3, total),
        read=min(2, total),
        status=total,
        other=0,
        redirect=10,
        backoff_factor=0.5,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=Retry.DEFAULT_ALLOWED_METHODS,
        respect_retry_after_header=True,
        raise_on_status=False,
    )
