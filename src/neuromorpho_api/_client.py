"""``NeuroMorpho``: a client for the NeuroMorpho.Org REST API.

This module is long because it is one public class whose docstrings are the reference docs;
the logic it composes is elsewhere (queries in ``_query``, URLs in ``_urls``, parsing in
``_parse``, transport in ``_session``, downloads in ``_download``).
"""

from __future__ import annotations

import copy
import datetime
import enum
import itertools
import os
import threading
import time
import warnings
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Callable, Literal, TypeVar, overload

import requests

from neuromorpho_api import _parse, _query, _urls
from neuromorpho_api._adapter import pool_maxsize
from neuromorpho_api._errors import (
    OUTAGE_MESSAGE,
    APIError,
    ArticleNotFound,
    NeuronNotFound,
    ServiceUnavailable,
)
from neuromorpho_api._paging import DEFAULT_IN_FLIGHT, check_in_flight, pages_in_order
from neuromorpho_api._ratelimit import RateLimiter
from neuromorpho_api._results import RecordPages, SearchResult
from neuromorpho_api._session import DEFAULT_TIMEOUT, NeuroMorphoSession, TimeoutSpec, requestor

if TYPE_CHECKING:
    import pandas

    from neuromorpho_api._download import DownloadReport, FileResult
    from neuromorpho_api._mirror import Mirror, SyncReport

__all__ = ["NeuroMorpho"]

_Criterion = _query.CriterionValue
_MAX_PAGE_SIZE = 500
_MAX_ID = 2**31 - 1
_BODY_RETRIES = 2
_OUTAGE_CHECK_INTERVAL = 60.0
_T = TypeVar("_T")


class _Default(enum.Enum):
    token = 0


_SESSION_DEFAULT = _Default.token


class NeuroMorpho:
    """A client for the NeuroMorpho.Org REST API.

    >>> nmo = NeuroMorpho()
    >>> nmo.count(species="rat", brain_region=["neocortex", "hippocampus"])  # doctest: +SKIP
    >>> for record in nmo.search(archive="Allen Cell Types", limit=10):  # doctest: +SKIP
    ...     print(record["neuron_name"], nmo.swc_url(record))

    Args:
        base_url: site root; the API is under ``{base_url}/api``, files under
            ``{base_url}/dableFiles``. For the mirror use ``http://cng.gmu.edu:8080/neuroMorpho``.
        session: the :class:`requests.Session` to send requests with; by default the shared
            :data:`neuromorpho_api.requestor`.
        rate_limit: API calls per second at most (bursts of 2), ``None`` for no limit. The
            operators ask for about 5 per second. It bounds how often requests start, not
            how many wait for the server at once: see ``in_flight``.
        page_size: rows per page when paging, 1 to 500 (the server's maximum).
        timeout: passed to every request; by default the session's own default
            (:data:`~neuromorpho_api.DEFAULT_TIMEOUT` for sessions not of this package).
        in_flight: page requests open at once when a listing has several pages (searches,
            values, partitions, literature); 1 fetches one page after another. Above 4, the
            bound the operators ask for, a warning is given. Never more than the session's
            connection pool holds for one host.
        check_values: check criteria values against the field's stored values before a
            search or count (see :meth:`search`); ``False`` sends them unchecked.
        mirror: a mirror file written by :meth:`sync` (``True``: the default one, see
            :meth:`sync`). Then :meth:`fields`, :meth:`values`, :meth:`partition`,
            :meth:`count`, :meth:`search`, :meth:`neuron`, :meth:`morphometry`,
            :meth:`morphometry_many`, :meth:`pvec`, :meth:`pvec_many` and :meth:`literature`
            answer from the file without any request, exactly as the server would (the
            value check too, against the mirror's values); a query the mirror cannot answer
            exactly raises :class:`OfflineUnsupportedError`. Files (:meth:`download`) still
            come from the server.

    Records are dicts with the server's field names and values (numbers stay strings, as
    served), without the ``_links`` block. Methods never follow server-made links: every URL
    is built from ``base_url``. The client keeps no state beyond a cache of the field lists
    and may be shared between threads.

    Attributes:
        base_url: The site root, normalized (no trailing slash).
        session: The session requests are sent with.
        page_size: Rows per page when paging.
        in_flight: Page requests open at once.
        check_values: Whether criteria values are checked before a search or count.

    Raises:
        TypeError: *base_url* is not a str, *session* not a :class:`requests.Session`, or
            *page_size* or *in_flight* not an int.
        ValueError: *base_url* is not an http(s) URL, *page_size* is not within 1 to 500,
            or *in_flight* is below 1.
        MirrorError: *mirror* names a file that is damaged, another program's, or of a
            newer version.
    """

    def __init__(
        self,
        base_url: str = _urls.DEFAULT_BASE_URL,
        *,
        session: requests.Session | None = None,
        rate_limit: float | None = 5.0,
        page_size: int = _MAX_PAGE_SIZE,
        timeout: TimeoutSpec | _Default = _SESSION_DEFAULT,
        in_flight: int = DEFAULT_IN_FLIGHT,
        check_values: bool = True,
        mirror: str | os.PathLike[str] | Literal[True] | None = None,
    ) -> None:
        self.base_url = _urls.normalize_base_url(base_url)
        if session is None:
            session = requestor
        if not isinstance(session, requests.Session):
            raise TypeError(f"session must be a requests.Session, not {type(session).__name__}")
        self.session = session
        if isinstance(page_size, bool) or not isinstance(page_size, int):
            raise TypeError(f"page_size must be an int, not {type(page_size).__name__}")
        if not 1 <= page_size <= _MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {_MAX_PAGE_SIZE}, got {page_size}")
        self.page_size = page_size
        self.in_flight = check_in_flight(in_flight)
        if in_flight > DEFAULT_IN_FLIGHT:
            warnings.warn(
                f"in_flight={in_flight}: more than {DEFAULT_IN_FLIGHT} requests at once to "
                "NeuroMorpho.Org is more than its operators ask for",
                UserWarning,
                stacklevel=2,
            )
        self.check_values = bool(check_values)
        self._limiter = None if rate_limit is None else RateLimiter(rate_limit)
        self._timeout = timeout
        self._lock = threading.Lock()
        self._field_cache: dict[str, list[str]] = {}
        self._value_cache: dict[tuple[str, str], list[str]] = {}
        self._value_locks: dict[tuple[str, str], threading.Lock] = {}
        self._outage_checked: tuple[float, bool] | None = None
        self._mirror: Mirror | None = None
        self.mirror: str | None = None
        """The mirror file the queries are answered from, or ``None`` (online)."""
        if mirror is not None:
            self._open_mirror(mirror)

    def __repr__(self) -> str:
        if self.mirror is not None:
            return f"NeuroMorpho({self.base_url!r}, mirror={self.mirror!r})"
        return f"NeuroMorpho({self.base_url!r})"

    # -- HTTP ------------------------------------------------------------------------------

    def _get(
        self, url: str, params: Mapping[str, Any] | None = None, *, allow_404: bool = False
    ) -> requests.Response | None:
        """GET ``url``: the response if 2xx; ``None`` on the API's own 404 if ``allow_404``.

        Anything else raises :class:`APIError` (:class:`ServiceUnavailable` for 503 or the
        outage notice). Connection errors and 5xx are retried by the session; a body cut
        short after the headers (which the session cannot retry, and which urllib3 1.26 does
        not even notice) is fetched again here.
        """
        kwargs = self._timeout_kwargs()
        attempt = 0
        while True:
            attempt += 1
            if self._limiter is not None:
                self._limiter.acquire()
            try:
                response = self.session.get(
                    url, params=params, headers={"Accept": "application/json"}, **kwargs
                )
            except (
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError,
            ):
                if attempt > _BODY_RETRIES:
                    raise
                continue
            if not _parse.is_truncated(response.headers, response.content):
                break
            if attempt > _BODY_RETRIES:
                # what urllib3 2 raises by itself; a transport failure, not an API answer
                raise requests.exceptions.ChunkedEncodingError(
                    f"the response from {response.url} was cut short "
                    f"({len(response.content)} of {response.headers['Content-Length']} bytes)",
                    response=response,
                )
        status = response.status_code
        if 200 <= status < 300:
            return response
        if status == 404:
            _parse.check_not_html(response.content, url=response.url)
            self._check_outage()
            if allow_404:
                return None
        error = _parse.parse_error(response.content)
        detail = ""
        if error is not None and (error.message or error.error):
            detail = f": {error.message or error.error}"
        message = f"HTTP {status} from {response.url}{detail}"
        if status == 503:
            raise ServiceUnavailable(message, status=status, url=response.url)
        raise APIError(message, status=status, url=response.url)

    def _check_outage(self) -> None:
        """Raise :class:`ServiceUnavailable` if the homepage shows the outage notice.

        During an outage the API answers 404 as if nothing existed; only the homepage tells.
        It is fetched at most once per :data:`_OUTAGE_CHECK_INTERVAL` seconds per client.
        """
        with self._lock:
            now = time.monotonic()
            due = self._outage_checked is None or now - self._outage_checked[0] >= (
                _OUTAGE_CHECK_INTERVAL
            )
            if due:
                self._outage_checked = (now, False)
            down = self._outage_checked is not None and self._outage_checked[1]
        if due:
            down = self._homepage_shows_outage()
            with self._lock:
                self._outage_checked = (now, down)
        if down:
            raise ServiceUnavailable(
                OUTAGE_MESSAGE,
                url=self.base_url + "/",
            )

    def _homepage_shows_outage(self) -> bool:
        if self._limiter is not None:
            self._limiter.acquire()
        try:
            response = self.session.get(
                self.base_url + "/", headers={"Accept": "text/html"}, **self._timeout_kwargs()
            )
        except requests.exceptions.RequestException:
            return False
        return _parse.shows_outage_notice(response.content)

    def _timeout_kwargs(self) -> dict[str, Any]:
        if self._timeout is not _SESSION_DEFAULT:
            return {"timeout": self._timeout}
        if not isinstance(self.session, NeuroMorphoSession):
            return {"timeout": DEFAULT_TIMEOUT}
        return {}

    def _json(
        self, url: str, params: Mapping[str, Any] | None = None, *, allow_404: bool = False
    ) -> Any | None:
        """The decoded JSON of a GET; ``None`` on the API's 404 if ``allow_404``."""
        response = self._get(url, params, allow_404=allow_404)
        if response is None:
            return None
        return _parse.parse_json(response.content, url=response.url)

    def _api(self, *segments: str | int) -> str:
        return _urls.api_url(self.base_url, *segments)

    # -- fields ----------------------------------------------------------------------------

    def _fields(self, collection: str) -> list[str]:
        offline = self._offline(f"{collection} fields", collection=collection)
        if offline is not None:
            return offline.fields()
        with self._lock:
            cached = self._field_cache.get(collection)
        if cached is None:
            url = self._api(collection, "fields")
            cached = _parse.parse_fields(self._json(url), url=url)
            with self._lock:
                self._field_cache[collection] = cached
        return list(cached)

    def fields(self) -> list[str]:
        """Names of the searchable neuron fields, as ``/api/neuron/fields`` lists them.

        Fetched once per client, then cached.

        Returns:
            The field names, in the server's order.

        Raises:
            APIError: The server answered with an unexpected status or body
                (:class:`ServiceUnavailable` during an outage).
            requests.exceptions.RequestException: The server could not be reached, after
                the session's retries.
            MirrorError: With ``mirror=``: the file is missing or unusable.
        """
        return self._fields("neuron")

    def _known(self, collection: str) -> list[str]:
        known = self._fields(collection)
        return [*known, *_query.EXTRA_FIELDS] if collection == "neuron" else known

    def _values(self, collection: str, field: str) -> list[str]:
        offline = self._offline(f"{collection} values", collection=collection)
        if offline is not None:
            return offline.values(field)
        return list(
            self._field_values(collection, _query.resolve_field(field, self._known(collection)))
        )

    def _field_values(self, collection: str, field: str) -> list[str]:
        """Every value of ``field`` (the server's spelling), fetched once per client and field."""
        offline = self._offline(f"{collection} values", collection=collection)
        if offline is not None:
            return offline.stored_values(field)  # any order: the value check's set
        key = (collection, field)
        with self._lock:
            lock = self._value_locks.setdefault(key, threading.Lock())
        with lock:  # two threads asking for one field make one listing
            cached = self._value_cache.get(key)
            if cached is None:
                url = self._api(collection, "fields", field)
                values: dict[str, None] = {}
                for page_values in self._list_pages(url, _parse.parse_values, field):
                    values.update(dict.fromkeys(page_values))
                cached = self._value_cache[key] = list(values)
        return cached

    def _partition(self, collection: str, field: str) -> dict[str, int]:
        offline = self._offline(f"{collection} partition", collection=collection)
        if offline is not None:
            return offline.partition(field)
        field = _query.resolve_field(field, self._known(collection))
        url = self._api(collection, "partition", field)
        counts: dict[str, int] = {}
        for page_counts in self._list_pages(url, _parse.parse_partition, field):
            counts.update(page_counts)
        return counts

    def values(self, field: str) -> list[str]:
        """Every distinct value of neuron ``field``, from all pages, in the server's order.

        Fetched once per client and field, then cached (the value check of :meth:`search`
        uses the same cache).

        Args:
            field: A neuron field name (see :meth:`fields`).

        Returns:
            The values, as the server spells them.

        Raises:
            UnknownFieldError: *field* is not one of the API's fields (the error names
                the closest ones).
            APIError: The server answered with an unexpected status or body
                (:class:`ServiceUnavailable` during an outage).
            requests.exceptions.RequestException: The server could not be reached, after
                the session's retries.
            MirrorError: With ``mirror=``: the file is missing or unusable.
        """
        return self._values("neuron", field)

    def partition(self, field: str) -> dict[str, int]:
        """Number of neurons for each value of neuron ``field``, from all pages.

        Args:
            field: A neuron field name (see :meth:`fields`).

        Returns:
            ``{value: number of neurons}``, in the server's order.

        Raises:
            UnknownFieldError: *field* is not one of the API's fields (the error names
                the closest ones).
            APIError: The server answered with an unexpected status or body
                (:class:`ServiceUnavailable` during an outage).
            requests.exceptions.RequestException: The server could not be reached, after
                the session's retries.
            MirrorError: With ``mirror=``: the file is missing or unusable.
        """
        return self._partition("neuron", field)

    def _in_order(
        self, fetch: Callable[[int], _T], numbers: Iterable[int]
    ) -> Generator[_T, None, None]:
        """``fetch(n)`` for each page number, up to :attr:`in_flight` at once, in order.

        The seam every paged listing goes through: each ``fetch`` still passes the rate
        limiter, and no more run at once than the session's pool keeps connections for.
        """
        in_flight = self.in_flight
        size = pool_maxsize(self.session.get_adapter(self.base_url + "/"))
        if size is not None:
            in_flight = max(1, min(in_flight, size))
        return pages_in_order(fetch, numbers, in_flight=in_flight)

    def _list_pages(
        self,
        url: str,
        parse: Callable[..., tuple[Any, _parse.Page]],
        field: str,
    ) -> Iterator[Any]:
        """The parsed content of every page of a ``/fields/{f}`` or ``/partition/{f}`` list."""

        def fetch(page: int) -> tuple[Any, _parse.Page] | None:
            doc = self._json(url, {"page": page, "size": self.page_size}, allow_404=page > 0)
            if doc is None:  # a page past the end
                return None
            content, block = parse(doc, field=field, url=url)
            if block.number != page:
                raise APIError(f"asked for page {page} of {url}, got page {block.number}", url=url)
            return content, block

        first = fetch(0)
        if first is None:
            return
        content, block = first
        yield content
        if block.total_pages <= 1 or not content:
            return
        pages = self._in_order(fetch, range(1, block.total_pages))
        try:
            for page in pages:
                if page is None or not page[0]:
                    return
                yield page[0]
        finally:
            pages.close()

    # -- neurons ---------------------------------------------------------------------------

    @staticmethod
    def _key(id_or_name: int | str) -> int | str:
        if isinstance(id_or_name, bool) or not isinstance(id_or_name, (int, str)):
            raise TypeError(
                f"expected a neuron id (int) or name (str), not {type(id_or_name).__name__}"
            )
        if isinstance(id_or_name, str) and not id_or_name:
            raise ValueError("empty neuron name")
        if isinstance(id_or_name, int) and not 0 < id_or_name <= _MAX_ID:
            # The server stores ids as 32-bit integers and answers 400 outside that range.
            raise NeuronNotFound(id_or_name)
        return id_or_name

    def neuron(self, id_or_name: int | str) -> dict[str, Any]:
        """The record of one neuron, by id (an ``int``) or name (a ``str``).

        A string is always a name, even if it is all digits: ``neuron(1)`` is the neuron with
        id 1, ``neuron("1")`` the neuron named "1".

        Args:
            id_or_name: The neuron's id (``int``) or name (``str``, any case).

        Returns:
            The record: the server's field names and values, without ``_links``.

        Raises:
            NeuronNotFound: No neuron has that id or name.
            TypeError: *id_or_name* is neither an int nor a str.
            ValueError: *id_or_name* is an empty string.
            APIError: The server answered with an unexpected status or body
                (:class:`ServiceUnavailable` during an outage).
            requests.exceptions.RequestException: The server could not be reached, after
                the session's retries.
            MirrorError: With ``mirror=``: the file is missing or unusable.
        """
        key = self._key(id_or_name)
        offline = self._offline()
        if offline is not None:
            return offline.neuron(key)
        kind = "id" if isinstance(key, int) else "name"
        url = self._api("neuron", kind, key)
        doc = self._json(url, allow_404=True)
        if doc is None:
            raise NeuronNotFound(key, url=url)
        record = _parse.parse_record(doc, url=url)
        got = record["neuron_id"] if kind == "id" else record["neuron_name"]
        if (got != key) if kind == "id" else (str(got).casefold() != str(key).casefold()):
            raise APIError(f"asked for neuron {kind} {key!r}, got {got!r}", url=url)
        return record

    def morphometry(self, id_or_name: int | str) -> dict[str, Any]:
        """Morphometric measurements of one neuron, by id or name.

        Measurements are ``float`` (or ``None`` when missing), ``neuron_id`` an ``int`` and
        ``neuron_name`` a ``str``, with the server's key spelling (``soma_Surface``,
        ``fractal_Dim``...).

        Args:
            id_or_name: The neuron's id (``int``) or name (``str``).

        Returns:
            The measurements.

        Raises:
            NeuronNotFound: No neuron has that id or name, or it has no measurements.
            TypeError: *id_or_name* is neither an int nor a str.
            ValueError: *id_or_name* is an empty string.
            APIError: The server answered with an unexpected status or body
                (:class:`ServiceUnavailable` during an outage).
            requests.exceptions.RequestException: The server could not be reached, after
                the session's retries.
            MirrorError: With ``mirror=``: the file is missing or unusable.
        """
        key = self._key(id_or_name)
        offline = self._offline()
        if offline is not None:
            return offline.morphometry(key)
        url = self._api("morphometry", "id" if isinstance(key, int) else "name", key)
        doc = self._json(url, allow_404=True)
        if doc is None:
            raise NeuronNotFound(key, f"no morphometry for neuron {key!r}", url=url)
        return _parse.parse_measurements(doc, url=url)

    def pvec(self, id_or_name: int | str) -> dict[str, Any] | None:
        """The persistence vector of one neuron (``coefficients`` and more), by id or name.

        ``None`` when the server answers with an empty body, as it has been seen to do.
        A name costs one more request, to find the id.

        Args:
            id_or_name: The neuron's id (``int``) or name (``str``).

        Returns:
            The persistence vector, or ``None`` for an empty answer.

        Raises:
            NeuronNotFound: No neuron has that id or name, or it has no persistence vector.
            TypeError: *id_or_name* is neither an int nor a str.
            ValueError: *id_or_name* is an empty string.
            APIError: The server answered with an unexpected status or body
                (:class:`ServiceUnavailable` during an outage).
            requests.exceptions.RequestException: The server could not be reached, after
                the session's retries.
            MirrorError: With ``mirror=``: the file is missing or unusable.
        """
        key = self._key(id_or_name)
        offline = self._offline()
        if offline is not None:
            return offline.pvec(key if isinstance(key, int) else self.neuron(key)["neuron_id"])
        nid = key if isinstance(key, int) else self.neuron(key)["neuron_id"]
        url = self._api("pvec", "id", nid)
        response = self._get(url, allow_404=True)
        if response is None:
            raise NeuronNotFound(key, f"no persistence vector for neuron {key!r}", url=url)
        return _parse.parse_pvec(response.content, url=response.url)

    # -- search ----------------------------------------------------------------------------

    def _select(
        self,
        collection: str,
        criteria: Mapping[str, _Criterion] | None,
        q: str | None,
        fq: str | Sequence[str],
        keywords: Mapping[str, _Criterion],
        check_values: bool | None = None,
    ) -> dict[str, str | list[str]]:
        merged = _query.merge_criteria(criteria, keywords)
        known = self._known(collection)
        clauses = _query.build_clauses(merged, known) if merged else []
        check = self.check_values if check_values is None else check_values
        if check and collection == "neuron" and merged:
            merged = self._checked(collection, merged, known)
            clauses = _query.build_clauses(merged, known)
        return _query.select_params(clauses, q, fq)

    def _checked(
        self, collection: str, criteria: Mapping[str, _Criterion], known: Sequence[str]
    ) -> dict[str, _Criterion]:
        """``criteria`` with each value checked against the field's stored values.

        Raises :class:`UnknownValueError` for a value no record has; replaces a value stored
        only with stray whitespace by its stored forms. Wildcards, ranges and the fields of
        :data:`_query.UNCHECKED_FIELDS` pass as given; so does every value of a field whose
        value list the server cannot give (the search itself will say what is wrong).
        """
        out: dict[str, _Criterion] = {}
        for name, value in criteria.items():
            field = _query.resolve_field(name, known)
            values = _query.criterion_values(name, value)
            if field in _query.UNCHECKED_FIELDS or all(_query.is_pattern(v) for v in values):
                out[name] = values
                continue
            try:
                stored = self._field_values(collection, field)
            except ServiceUnavailable:
                raise
            except APIError:
                stored = []
            out[name] = _query.stored_values(field, values, frozenset(stored)) if stored else values
        return out

    def count(
        self,
        criteria: Mapping[str, _Criterion] | None = None,
        /,
        *,
        q: str | None = None,
        fq: str | Sequence[str] = (),
        check_values: bool | None = None,
        **criteria_kw: _Criterion,
    ) -> int:
        """How many neurons match; no criteria counts them all.

        Args:
            criteria: ``{field: value or [values]}``, as in :meth:`search`.
            q: A raw query clause, as in :meth:`search`.
            fq: Raw filter clauses, as in :meth:`search`.
            check_values: Check values against the stored ones; ``None``: the client's
                setting.
            **criteria_kw: ``field=value`` or ``field=[values]``.

        Returns:
            The number of matching neurons (0 when none matches).

        Raises:
            UnknownFieldError: A criterion names a field the API does not know.
            UnknownValueError: A value no neuron has in its field (when checking values).
            APIError: The server answered with an unexpected status or body
                (:class:`ServiceUnavailable` during an outage).
            requests.exceptions.RequestException: The server could not be reached, after
                the session's retries.
            OfflineUnsupportedError: With ``mirror=``: the mirror cannot answer this query
                exactly.
            MirrorError: With ``mirror=``: the file is missing or unusable.
        """
        params = self._select("neuron", criteria, q, fq, criteria_kw, check_values)
        offline = self._offline()
        if offline is not None:
            return offline.count_where(offline.where_of(params))
        if not params:
            url = self._api("neuron")
            doc = self._json(url, {"page": 0, "size": 1})
        else:
            url = self._api("neuron", "select")
            doc = self._json(url, {**params, "page": 0, "size": 1}, allow_404=True)
            if doc is None:
                return 0
        return _parse.parse_page(doc, "neuronResources", url=url).total_elements

    def search(
        self,
        criteria: Mapping[str, _Criterion] | None = None,
        /,
        *,
        q: str | None = None,
        fq: str | Sequence[str] = (),
        limit: int | None = None,
        check_values: bool | None = None,
        **criteria_kw: _Criterion,
    ) -> SearchResult:
        """Iterate over the records of every neuron that matches.

        Records come in the server's ``sort=neuron_id,asc`` order, which compares ids as
        strings (1, 10, 100, 2, ...): stable across pages, so none is skipped or repeated.

        Criteria are ``field=value`` or ``field=[value, ...]``: fields are ANDed, the values of
        a list ORed. ``*`` and ``?`` in a value are wildcards; spaces, commas and other
        characters match literally. Field names that are not identifiers go in a dict::

            nmo.search(species="rat", brain_region=["neocortex", "principal cell layer"])
            nmo.search({"Physical_Integrity": "Dendrites Complete"}, neuron_name="Ca*")

        ``q`` and ``fq`` take raw query clauses (``"species:rat,mouse"``) and are ANDed with
        the criteria; no criteria at all iterates over the whole database.

        Pages of ``page_size`` rows are fetched lazily, each record comes once (deduplicated by
        ``neuron_id``), and none is dropped silently: if fewer distinct records arrive than
        the server announced (the data changed while paging), :class:`APIError` is raised
        at the end. ``limit`` stops after that many records,
        fetching no more pages than it needs. No match gives an empty iterator.

        The first page is fetched alone (it holds the total), then up to ``in_flight`` pages
        at once (see :class:`NeuroMorpho`), at most that many ahead of the record being read;
        records still come strictly in page order.

        Field names are checked at call time; unknown ones raise :class:`UnknownFieldError`.
        So are values (unless ``check_values`` is false, here or on the client): a value that
        no neuron has in that field (``species="Rat"``, ``"rats"``) raises
        :class:`UnknownValueError` naming the closest stored values, and a value the server
        stores only with stray whitespace (``"dragonfly"``, stored ``"dragonfly "``) is sent
        as stored. Checking costs one listing of the field's values per client, then cached.
        Wildcards, ranges, raw ``q``/``fq``, and identifier, free-text, number and date fields
        (``neuron_name``, ``note``, ``min_age``, ``upload_date``...) are not checked.

        Args:
            criteria: ``{field: value or [values]}``, for field names that are not
                identifiers; merged with *criteria_kw*.
            q: A raw query clause (``"species:rat,mouse"``), ANDed with the criteria.
            fq: Raw filter clauses, ANDed with the criteria.
            limit: Stop after this many records (``None``: all).
            check_values: Check values against the stored ones; ``None``: the client's
                setting.
            **criteria_kw: ``field=value`` or ``field=[values]``.

        Returns:
            A :class:`SearchResult`: iterate over it once (as over a generator); ``len()``
            gives the server's total (at most ``limit``), :meth:`SearchResult.to_dataframe`
            a typed DataFrame.

        Raises:
            UnknownFieldError: A criterion names a field the API does not know (at call
                time).
            UnknownValueError: A value no neuron has in its field (at call time, when
                checking values).
            TypeError: *limit* is not an int.
            ValueError: *limit* is negative.
            APIError: The server answered with an unexpected status or body
                (:class:`ServiceUnavailable` during an outage).
            requests.exceptions.RequestException: The server could not be reached, after
                the session's retries (at call time or while iterating).
            OfflineUnsupportedError: With ``mirror=``: the mirror cannot answer this query
                exactly.
            MirrorError: With ``mirror=``: the file is missing or unusable.
        """
        limit = self._check_limit(limit)
        params = self._select("neuron", criteria, q, fq, criteria_kw, check_values)
        offline = self._offline()
        if offline is not None:
            return SearchResult(offline.select(offline.where_of(params), limit))
        url = self._api("neuron", "select") if params else self._api("neuron")
        return self._paginate(
            url,
            {**params, "sort": "neuron_id,asc"},
            key="neuronResources",
            ident="neuron_id",
            parse=_parse.parse_record,
            limit=limit,
            allow_404=bool(params),
        )

    @staticmethod
    def _check_limit(limit: int | None) -> int | None:
        if limit is None:
            return None
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise TypeError(f"limit must be an int or None, not {type(limit).__name__}")
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        return limit

    def _paginate(
        self,
        url: str,
        params: dict[str, Any],
        *,
        key: str,
        ident: str,
        parse: Callable[..., dict[str, Any]],
        limit: int | None,
        allow_404: bool,
        what: str = "neurons",
    ) -> SearchResult:
        size = self.page_size if limit is None else max(1, min(self.page_size, limit))

        def fetch(page: int) -> _parse.Page | None:
            doc = self._json(url, {**params, "page": page, "size": size}, allow_404=allow_404)
            if doc is None:  # 404: no hits, or a page past a shrunk result
                return None
            block = _parse.parse_page(doc, key, url=url)
            if block.number != page:
                raise APIError(f"asked for page {page} of {url}, got page {block.number}", url=url)
            return block

        pages = RecordPages(
            fetch, self._in_order, size=size, limit=limit, parse=parse, ident=ident, url=url
        )
        return SearchResult(pages, what=what)

    # -- literature ------------------------------------------------------------------------

    def literature_fields(self) -> list[str]:
        """Names of the literature fields (camelCase: ``brainRegion``, ``cellType``...).

        Returns:
            The field names, in the server's order.

        Raises:
            APIError: The server answered with an unexpected status or body
                (:class:`ServiceUnavailable` during an outage).
            requests.exceptions.RequestException: The server could not be reached, after
                the session's retries.
            OfflineUnsupportedError: With ``mirror=``: the mirror cannot answer this query
                exactly.
        """
        return self._fields("literature")

    def literature_values(self, field: str) -> list[str]:
        """Every distinct value of literature ``field`` (e.g. ``tracingSystem``), all pages.

        Args:
            field: A literature field name (see :meth:`literature_fields`).

        Returns:
            The values, as the server spells them.

        Raises:
            UnknownFieldError: *field* is not one of the API's fields (the error names
                the closest ones).
            APIError: The server answered with an unexpected status or body
                (:class:`ServiceUnavailable` during an outage).
            requests.exceptions.RequestException: The server could not be reached, after
                the session's retries.
            OfflineUnsupportedError: With ``mirror=``: the mirror cannot answer this query
                exactly.
        """
        return self._values("literature", field)

    def literature_partition(self, field: str) -> dict[str, int]:
        """Number of articles for each value of literature ``field``, from all pages.

        Args:
            field: A literature field name (see :meth:`literature_fields`).

        Returns:
            ``{value: number of articles}``, in the server's order.

        Raises:
            UnknownFieldError: *field* is not one of the API's fields (the error names
                the closest ones).
            APIError: The server answered with an unexpected status or body
                (:class:`ServiceUnavailable` during an outage).
            requests.exceptions.RequestException: The server could not be reached, after
                the session's retries.
            OfflineUnsupportedError: With ``mirror=``: the mirror cannot answer this query
                exactly.
        """
        return self._partition("literature", field)

    @overload
    def literature(self, article_id: str, /) -> dict[str, Any]: ...

    @overload
    def literature(
        self,
        article_id: None = None,
        /,
        *,
        q: str | None = None,
        fq: str | Sequence[str] = (),
        limit: int | None = None,
        **criteria: _Criterion,
    ) -> SearchResult: ...

    def literature(
        self,
        article_id: str | None = None,
        /,
        *,
        q: str | None = None,
        fq: str | Sequence[str] = (),
        limit: int | None = None,
        **criteria: _Criterion,
    ) -> dict[str, Any] | SearchResult:
        """One article by ``article_id``, or iterate over the articles that match.

        ``literature("56e9c95de4b0355017b314d2")`` returns that article. Otherwise criteria,
        ``q``, ``fq`` and ``limit`` work as in :meth:`search`, with literature field names
        (:meth:`literature_fields`); no criteria iterates over all articles.

        Args:
            article_id: The id of one article.
            q: A raw query clause.
            fq: Raw filter clauses.
            limit: Stop after this many articles (``None``: all).
            **criteria: ``field=value`` or ``field=[values]``, literature field names.

        Returns:
            The article (a dict) for *article_id*, else a :class:`SearchResult` of articles.

        Raises:
            ArticleNotFound: No article has *article_id* (also a :class:`LookupError`).
            UnknownFieldError: A criterion names a field the API does not know.
            TypeError: Both *article_id* and criteria are given, or *limit* is not an int.
            ValueError: *article_id* is empty, or *limit* negative.
            APIError: The server answered with an unexpected status or body
                (:class:`ServiceUnavailable` during an outage).
            requests.exceptions.RequestException: The server could not be reached, after
                the session's retries.
            OfflineUnsupportedError: With ``mirror=``: the mirror cannot answer this query
                exactly.
        """
        if article_id is not None:
            if q is not None or fq or limit is not None or criteria:
                raise TypeError("give an article_id or search criteria, not both")
            if not article_id:
                raise ValueError("empty article_id")
            offline = self._offline()
            if offline is not None:
                return offline.article(article_id)
            url = self._api("literature", "id", article_id)
            doc = self._json(url, allow_404=True)
            if doc is None:
                raise ArticleNotFound(article_id, url=url)
            return _parse.parse_article(doc, url=url)
        limit = self._check_limit(limit)
        offline = self._offline()
        if offline is not None:
            if q is not None or fq or criteria:
                from neuromorpho_api._mirror import OfflineUnsupportedError

                raise OfflineUnsupportedError(
                    "literature criteria", "the mirror keeps the articles, not their index"
                )
            return SearchResult(offline.articles(limit), what="articles")
        params = self._select("literature", None, q, fq, criteria)
        url = self._api("literature", "select") if params else self._api("literature")
        return self._paginate(
            url,
            {**params, "sort": "article_id,asc"},
            key="publicationResources",
            ident="article_id",
            parse=_parse.parse_article,
            limit=limit,
            allow_404=bool(params),
            what="articles",
        )

    # -- files -----------------------------------------------------------------------------

    def _record(self, record_or_key: Mapping[str, Any] | int | str) -> Mapping[str, Any]:
        if isinstance(record_or_key, Mapping):
            return record_or_key
        return self.neuron(record_or_key)

    def file_urls(self, record_or_key: Mapping[str, Any] | int | str) -> _urls.NeuronFiles:
        """URLs of every file served for a neuron, given its record, id or name.

        An id or name costs one request to fetch the record; a record costs none.

        Args:
            record_or_key: A record (from :meth:`search` or :meth:`neuron`), or a neuron's
                id or name.

        Returns:
            The URLs, percent-encoded.

        Raises:
            NeuronNotFound: No neuron has that id or name.
            ValueError: The record has no usable ``archive`` or ``neuron_name``.
            APIError: The server answered unexpectedly.
            requests.exceptions.RequestException: The server could not be reached.
        """
        return _urls.neuron_files(self.base_url, self._record(record_or_key))

    def swc_url(self, record_or_key: Mapping[str, Any] | int | str) -> str:
        """URL of the standardized SWC file (``CNG version``) of a neuron.

        ``dableFiles/{archive, lower case}/CNG%20version/{name}.CNG.swc``, percent-encoded.

        Args:
            record_or_key: A record, or a neuron's id or name (one request to fetch it).

        Returns:
            The URL.

        Raises:
            NeuronNotFound: No neuron has that id or name.
            ValueError: The record has no usable ``archive`` or ``neuron_name``.
            APIError: The server answered unexpectedly.
            requests.exceptions.RequestException: The server could not be reached.
        """
        return self.file_urls(record_or_key).swc

    # -- downloads -------------------------------------------------------------------------

    def download(
        self,
        records_or_criteria: Mapping[str, _Criterion] | Iterable[Mapping[str, Any]],
        dest: str | os.PathLike[str],
        *,
        limit: int | None = None,
        workers: int = 4,
        rate_limit: float | None = None,
        attempts: int = 3,
        verify_existing: bool = True,
        metadata: Literal["jsonl", "csv"] | None = None,
        progress: bool | None = None,
        on_progress: Callable[[FileResult], object] | None = None,
        kinds: Sequence[str] = ("swc",),
        max_size: int | None = 256 * 1024 * 1024,  # _download.DEFAULT_MAX_SIZE (a test checks)
        time_limit: float | None = 1800.0,  # _download.DEFAULT_TIME_LIMIT
        all: bool = False,  # shadows the builtin, unused here; reads as meant: all=True
    ) -> DownloadReport:
        """Download the standardized SWC files (or other *kinds*) of many neurons into *dest*.

        Files are streamed over *workers* kept-alive connections, checked (size, content) and
        only then renamed into place; a manifest in *dest* lets a rerun skip what is complete.
        See :func:`neuromorpho_api._download.download` for the guarantees.

        Args:
            records_or_criteria: search criteria (a mapping such as ``{"species": "rat"}``,
                searched lazily as :meth:`search` does) or an iterable of records, e.g. from
                :meth:`search` (one record: ``[record]``). Empty criteria (the whole site,
                about 18 GB) need ``all=True``.
            dest: the directory, checked (creatable, writable) before the first request;
                nothing is created when no neuron matches.
            limit: at most this many neurons.
            workers: parallel downloads; above 4, the site's politeness bound, a
                :class:`UserWarning` is issued.
            rate_limit: at most this many files per second (default: no cap).
            attempts: tries per file; failures are then listed in the report, never dropped.
            verify_existing: on a rerun, check complete files by sha256 (else by size).
            metadata: also write the records as ``neuromorpho-metadata.jsonl`` or ``.csv``.
            progress: progress bar; ``None``: only when a person watches.
            on_progress: called with a :class:`~neuromorpho_api.FileResult` per file.
            kinds: which files: ``"swc"``, ``"original"``, ``"standardization_log"``,
                ``"remaining_issues"``, ``"png"``.
            max_size: bytes per file after decompression (default 256 MiB); ``None``: no cap.
            time_limit: seconds per file (default 1800); ``None``: no limit.
            all: with empty criteria, really download every neuron.

        Returns:
            The :class:`~neuromorpho_api.DownloadReport`; empty when no neuron matches.

        Raises:
            ValueError: empty criteria without ``all=True``, or an argument out of range.
            DownloadInterrupted: Ctrl-C; ``.report`` holds what was kept (a rerun resumes).
            DiskFullError: the destination filled up; ``.report`` holds what was kept.
        """
        from neuromorpho_api._download import DownloadReport, check_dest, check_kinds, download

        limit = self._check_limit(limit)
        kinds = check_kinds(kinds)
        total: int | None = None
        records: Iterable[Mapping[str, Any]]
        if isinstance(records_or_criteria, Mapping):
            if not records_or_criteria and not all:
                raise ValueError(
                    "no criteria: that is every neuron on the site (about 18 GB of SWC files); "
                    "pass all=True to mean it"
                )
            # Before the first request: a destination that cannot be written is found now.
            directory = os.path.abspath(os.fspath(dest))
            for created in reversed(check_dest(directory)):
                os.rmdir(created)
            # Always criteria: {"archive": ..., "neuron_name": ...} is a search too. One record
            # is downloaded as [record].
            total = self.count(records_or_criteria)
            total = total if limit is None else min(total, limit)
            if total == 0:
                return DownloadReport(directory)
            records = self.search(records_or_criteria, limit=limit)
        else:
            records = records_or_criteria
            if limit is not None:
                records = itertools.islice(records, limit)
        return download(
            records,
            dest,
            # The shared session retries inside urllib3; the downloader retries whole files
            # with its own pool sized to the workers, so it gets a session of its own.
            session=None if self.session is requestor else self.session,
            base_url=self.base_url,
            workers=workers,
            rate_limit=rate_limit,
            attempts=attempts,
            verify_existing=verify_existing,
            metadata=metadata,
            progress=progress,
            timeout=None if isinstance(self._timeout, _Default) else self._timeout,
            on_progress=on_progress,
            total=total,
            kinds=kinds,
            max_size=max_size,
            time_limit=time_limit,
        )

    # -- bulk and the mirror ---------------------------------------------------------------

    def morphometry_many(
        self, ids_or_records: Iterable[int | Mapping[str, Any]]
    ) -> dict[int, dict[str, Any]]:
        """Measurements of many neurons, keyed by ``neuron_id`` in the order given.

        Takes ids or records (e.g. from :meth:`search`). Online: 500 ids per request
        (``/api/morphometry/select``), ``ceil(n/500) + 1`` requests at most for ``n`` ids;
        ids the select omits or fails on are asked for one by one. Neurons without
        measurements are absent from the result, never an error.

        Args:
            ids_or_records: Neuron ids (``int``) or records with a ``neuron_id``.

        Returns:
            ``{neuron_id: measurements}``, each as :meth:`morphometry` returns them.

        Raises:
            TypeError: An item is neither an int nor a record, or a single value was given
                instead of an iterable.
            APIError: The server answered with an unexpected status or body
                (:class:`ServiceUnavailable` during an outage).
            requests.exceptions.RequestException: The server could not be reached, after
                the session's retries.
            MirrorError: With ``mirror=``: the file is missing or unusable.
        """
        offline = self._offline()
        if offline is not None:
            return offline.morphometry_many(ids_or_records)
        from neuromorpho_api import _bulk

        return _bulk.morphometry_many(self._online(), ids_or_records)

    def pvec_many(
        self, ids_or_records: Iterable[int | Mapping[str, Any]]
    ) -> dict[int, dict[str, Any]]:
        """Persistence vectors of many neurons, keyed by ``neuron_id``, in the order given.

        Args:
            ids_or_records: Neuron ids (``int``) or records with a ``neuron_id``.

        Returns:
            ``{neuron_id: persistence vector}``; neurons without one are absent.

        Raises:
            TypeError: As :meth:`morphometry_many`.
            APIError: The server answered with an unexpected status or body
                (:class:`ServiceUnavailable` during an outage).
            requests.exceptions.RequestException: The server could not be reached, after
                the session's retries.
            MirrorError: With ``mirror=``: the file is missing or unusable.
        """
        offline = self._offline()
        if offline is not None:
            return offline.pvec_many(ids_or_records)
        from neuromorpho_api import _bulk

        return _bulk.pvec_many(self._online(), ids_or_records)

    def sync(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        morphometry: bool = True,
        pvec: bool = False,
        literature: bool = False,
        full: bool = False,
        rebuild: bool = False,
        progress: bool | None = None,
    ) -> SyncReport:
        """Bring a mirror file up to date with the server: all neuron records, and more.

        Args:
            path: the mirror file; by default this client's ``mirror``, else
                ``$NEUROMORPHO_MIRROR``, else ``mirror.sqlite`` in the user's data directory.
            morphometry: also keep the morphometry.
            pvec: also keep the persistence vectors.
            literature: also keep the literature.
            full: fetch every record, which finds records edited in place too; otherwise
                only what a few cheap requests show has changed (an unchanged server costs
                at most 5 requests).
            rebuild: move an unreadable or foreign file at ``path`` aside and start anew.
            progress: a progress bar on standard error; ``None``: when a person watches.

        Returns:
            A :class:`SyncReport`: ``added``, ``updated``, ``removed``, ``total``,
            ``requests``, ``seconds``.

        Raises:
            MirrorLockedError: another process is syncing ``path``.
            MirrorCorruptError: ``path`` is damaged or another program's (use ``rebuild``).
            MirrorError: e.g. the disk is full; the mirror keeps its last complete sync.
            APIError: the server failed; a rerun continues where this one stopped.

        Polite (this client's rate limit, one connection, pages of 500), resumable (an
        interruption loses at most the page in flight) and atomic for readers (they see the
        last complete sync, never a mixture).
        """
        from neuromorpho_api._mirror import _paths
        from neuromorpho_api._mirror import sync as sync_mirror

        target = self.mirror if path is None and self.mirror is not None else _paths.resolve(path)
        os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
        report = sync_mirror(
            self._online(),
            target,
            morphometry=morphometry,
            pvec=pvec,
            literature=literature,
            full=full,
            rebuild=rebuild,
            progress=progress,
        )
        if self.mirror is not None and os.path.abspath(target) == os.path.abspath(self.mirror):
            self._open_mirror(target)  # new columns, semantics and field lists
        return report

    @property
    def synced_at(self) -> datetime.datetime | None:
        """When the mirror's last complete sync finished (UTC); ``None`` without a mirror.

        Raises:
            MirrorError: ``mirror=`` names a file that does not exist yet.
        """
        offline = self._offline()
        return None if offline is None else offline.synced_at

    def _open_mirror(self, mirror: str | os.PathLike[str] | Literal[True]) -> None:
        from neuromorpho_api._mirror import Mirror, _paths

        path = _paths.resolve(None) if mirror is True else os.fspath(mirror)
        if not path:
            raise TypeError(f"mirror must be a path or True, not {mirror!r}")
        opened = Mirror(path) if os.path.exists(path) else None
        with self._lock:
            old, self._mirror, self.mirror = self._mirror, opened, path
        if old is not None:
            old.close()

    def _offline(self, what: str = "", collection: str = "neuron") -> Mirror | None:
        """The opened mirror when this client answers offline, else ``None``.

        A mirror path without a file yet is opened on first use (after :meth:`sync`), so
        the error names the missing file.
        """
        if self.mirror is None:
            return None
        if collection != "neuron":
            from neuromorpho_api._mirror import OfflineUnsupportedError

            raise OfflineUnsupportedError(what, "the mirror keeps neuron fields only")
        with self._lock:
            opened = self._mirror
        if opened is None:
            self._open_mirror(self.mirror)
            with self._lock:
                opened = self._mirror
            if opened is None:
                from neuromorpho_api._mirror import MirrorError

                raise MirrorError(
                    f"no mirror at {self.mirror}: create it with `neuromorpho sync` "
                    "(or NeuroMorpho().sync(path))"
                )
        return opened

    def _online(self) -> NeuroMorpho:
        """This client without its mirror (same session, rate limit and caches): what sync
        and bulk fetches send their requests through."""
        if self.mirror is None:
            return self
        view = copy.copy(self)
        view.mirror, view._mirror = None, None
        return view

    # -- pandas ----------------------------------------------------------------------------

    @staticmethod
    def to_dataframe(
        records: Iterable[Mapping[str, Any]], *, raw: bool = False
    ) -> pandas.DataFrame:
        """A :class:`pandas.DataFrame` of records, one row each, columns in record order.

        Needs pandas: ``pip install "neuromorpho-api[pandas]"``. Columns are typed as
        :meth:`SearchResult.to_dataframe` types them; ``raw=True`` keeps the values as served
        (numeric strings stay strings).

        Args:
            records: Records, e.g. from :meth:`search`.
            raw: Keep the values as served.

        Returns:
            The DataFrame.

        Raises:
            ImportError: pandas is not installed.
        """
        from neuromorpho_api._frames import records_frame
        from neuromorpho_api._results import SearchResult

        if isinstance(records, SearchResult):
            return records.to_dataframe(raw=raw)  # refuses a result already read
        return records_frame(records, raw=raw)
