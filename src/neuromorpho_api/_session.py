"""``NeuroMorphoSession``: a requests session that can talk to NeuroMorpho.Org."""

from __future__ import annotations

from typing import Any, ClassVar, Optional, Union

import requests
from requests.utils import default_user_agent
from urllib3.util.retry import Retry

from neuromorpho_api._adapter import NeuroMorphoAdapter, PlainAdapter
from neuromorpho_api._retry import default_retry
from neuromorpho_api._version import __version__

__all__ = ["DEFAULT_TIMEOUT", "NeuroMorphoSession", "TimeoutSpec", "requestor"]

TimeoutSpec = Union[None, float, tuple[Optional[float], Optional[float]]]
"""What ``timeout=`` takes, as in requests: seconds, (connect, read), or None for no limit."""

DEFAULT_TIMEOUT: tuple[float, float] = (10.0, 60.0)
"""(connect, read) seconds, used when a request gives no ``timeout``."""


class _SessionTimeout:
    """Marks "no timeout given": an explicit ``timeout=None`` means wait forever, as in requests."""

    def __repr__(self) -> str:
        return "<the session's timeout>"


_SESSION_TIMEOUT: Any = _SessionTimeout()


class NeuroMorphoSession(requests.Session):
    """A :class:`requests.Session` that reaches NeuroMorpho.Org, safely.

    - ``https://`` goes through :class:`NeuroMorphoAdapter`: security level 1 for
      ``neuromorpho.org`` and ``www.neuromorpho.org`` only, verification always on.
    - Requests without a ``timeout`` get :data:`DEFAULT_TIMEOUT`; an explicit ``timeout=None``
      still means "wait forever".
    - Idempotent requests are retried on connection errors and 429/5xx with exponential
      backoff that honours ``Retry-After``; TLS failures are raised at once.
    - The User-Agent names this package.

    It also answers the module-level names scripts use from ``requests`` (``exceptions``,
    ``codes``, ``HTTPError``, ``Session``...), so ``from neuromorpho_api import requestor as
    requests`` is a drop-in replacement.

    Args:
        timeout: Default for requests that give no ``timeout``: seconds, ``(connect, read)``
            seconds, or ``None`` for no limit.
        retries: How many times an idempotent request is retried (connection errors, 408,
            425, 429 and 5xx except 501), or a :class:`urllib3.util.Retry` used as it is; ``0``
            disables retries. Default (``None``): 5, with exponential backoff and jitter,
            honouring ``Retry-After`` up to 60 s.
        pool_maxsize: Connections kept open per host; raise it to match the number of
            threads sharing the session.

    Attributes:
        timeout: The default timeout; assign to change it for later requests.
    """

    __attrs__ = [*requests.Session.__attrs__, "timeout"]  # noqa: RUF012 (requests declares it this way)

    exceptions = requests.exceptions
    codes = requests.codes
    status_codes = requests.status_codes
    Request = requests.Request
    Response = requests.Response
    PreparedRequest = requests.PreparedRequest
    RequestException = requests.RequestException
    HTTPError = requests.HTTPError
    ConnectionError = requests.ConnectionError
    Timeout = requests.Timeout
    ConnectTimeout = requests.ConnectTimeout
    ReadTimeout = requests.ReadTimeout
    TooManyRedirects = requests.TooManyRedirects
    URLRequired = requests.URLRequired
    JSONDecodeError = requests.JSONDecodeError
    Session: ClassVar[type[NeuroMorphoSession]]

    # The class default also serves sessions unpickled from a state without a timeout.
    timeout: TimeoutSpec = DEFAULT_TIMEOUT

    def __init__(
        self,
        *,
        timeout: TimeoutSpec = DEFAULT_TIMEOUT,
        retries: int | Retry | None = None,
        pool_maxsize: int = 10,
    ) -> None:
        super().__init__()
        self.timeout = timeout
        retry = default_retry() if retries is None else retries
        if isinstance(retry, int):
            retry = default_retry(retry)
        self.headers["User-Agent"] = f"neuromorpho-api/{__version__} {default_user_agent()}"
        self.mount("https://", NeuroMorphoAdapter(max_retries=retry, pool_maxsize=pool_maxsize))
        self.mount("http://", PlainAdapter(max_retries=retry, pool_maxsize=pool_maxsize))

    def request(
        self,
        method: str | bytes,
        url: str | bytes,
        params: Any = None,
        data: Any = None,
        headers: Any = None,
        cookies: Any = None,
        files: Any = None,
        auth: Any = None,
        timeout: Any = _SESSION_TIMEOUT,
        allow_redirects: bool = True,
        proxies: Any = None,
        hooks: Any = None,
        stream: bool | None = None,
        verify: Any = None,
        cert: Any = None,
        json: Any = None,
    ) -> requests.Response:
        """Send a request, as :meth:`requests.Session.request` does.

        Args:
            method: The HTTP method, such as ``"GET"``.
            url: The URL.
            params: Query parameters. All arguments but ``timeout`` reach requests
                unchanged.
            data: The request body.
            headers: Extra headers.
            cookies: Extra cookies.
            files: Files for a multipart upload.
            auth: Authentication.
            timeout: Seconds, ``(connect, read)`` seconds, or ``None`` to wait forever; when
                not given, :attr:`timeout` applies.
            allow_redirects: Follow redirects.
            proxies: Proxies by scheme or URL, on top of the environment's.
            hooks: Event hooks.
            stream: Do not download the body until it is read.
            verify: A CA bundle file or directory to trust instead of certifi's roots
                (default ``True``: certifi, or ``REQUESTS_CA_BUNDLE``). ``False`` turns
                verification off, as in requests; do not.
            cert: Client certificate file, or ``(cert, key)``.
            json: A body to send as JSON.

        Returns:
            The response, whatever its status (call ``raise_for_status()`` to check it).

        Raises:
            requests.exceptions.SSLError: The TLS handshake or certificate verification
                failed; for NeuroMorpho.Org, the message ends with a hint about the cause.
            requests.exceptions.Timeout: No connection or no data within ``timeout``, after
                the retries.
            requests.exceptions.ConnectionError: The server could not be reached, after the
                retries.
        """
        # requests' own parameter list, so that arguments keep their meaning by position too;
        # everything is passed on by name.
        return super().request(
            method,
            url,
            params=params,
            data=data,
            headers=headers,
            cookies=cookies,
            files=files,
            auth=auth,
            timeout=self.timeout if timeout is _SESSION_TIMEOUT else timeout,
            allow_redirects=allow_redirects,
            proxies=proxies,
            hooks=hooks,
            stream=stream,
            verify=verify,
            cert=cert,
            json=json,
        )

    def get(self, url: str | bytes, params: Any = None, **kwargs: Any) -> requests.Response:
        """Send a GET request; ``params`` may be positional, as in ``requests.get``.

        Args:
            url: The URL.
            params: Query parameters.
            **kwargs: Any argument of :meth:`request`.

        Returns:
            The response, whatever its status.

        Raises:
            requests.exceptions.RequestException: As :meth:`request`.
        """
        kwargs.setdefault("allow_redirects", True)
        return self.request("GET", url, params=params, **kwargs)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        """Send a prepared request; without a ``timeout``, :attr:`timeout` applies.

        Args:
            request: The prepared request.
            **kwargs: As :meth:`requests.Session.send`.

        Returns:
            The response, whatever its status.

        Raises:
            requests.exceptions.RequestException: As :meth:`request`.
        """
        kwargs.setdefault("timeout", self.timeout)
        return super().send(request, **kwargs)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} timeout={self.timeout!r}>"


NeuroMorphoSession.Session = NeuroMorphoSession

requestor: NeuroMorphoSession = NeuroMorphoSession()
"""The shared session: use it like the ``requests`` module."""
