"""The records of a paged listing: fetched a few pages at a time, handed over in order, once each.

:class:`RecordPages` does the paging (page 0 first, for the totals; then the rest through
:func:`~neuromorpho_api._paging.pages_in_order`), the deduplication and the final count
check. :class:`SearchResult` is what :meth:`NeuroMorpho.search` returns: a one-pass iterator
over those records that also knows its length and shows a preview in a notebook.
"""

from __future__ import annotations

import contextlib
import html
import threading
from collections.abc import Generator, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Callable, Protocol

from neuromorpho_api._errors import APIError
from neuromorpho_api._parse import Page

if TYPE_CHECKING:
    import pandas

__all__ = ["RecordPages", "SearchResult"]

PageFetcher = Callable[[int], "Page | None"]
"""Fetch page ``n`` (checked to be page ``n``); ``None`` when the server has no such page."""

InOrder = Callable[[PageFetcher, Iterable[int]], Generator["Page | None", None, None]]
"""Run a :data:`PageFetcher` over page numbers, yielding the pages in order."""

_PREVIEW_ROWS = 5
_PREVIEW_COLUMNS = {
    "neuron_id": ("neuron_id", "neuron_name", "archive", "species", "brain_region", "cell_type"),
    "article_id": ("article_id", "title", "year", "journal"),
}


class RecordPages:
    """Every record of a paged listing, page 0 first, then the others a few at a time.

    Args:
        fetch: fetches one page (see :data:`PageFetcher`).
        in_order: runs ``fetch`` over page numbers concurrently, in order.
        size: the page size the requests ask for.
        limit: stop after that many records (``None``: all).
        parse: turns one raw item into a record.
        ident: the key that identifies a record (``neuron_id``); repeats are skipped.
        url: the listing's URL, for error messages.
    """

    def __init__(
        self,
        fetch: PageFetcher,
        in_order: InOrder,
        *,
        size: int,
        limit: int | None,
        parse: Callable[..., dict[str, Any]],
        ident: str,
        url: str,
    ) -> None:
        self.fetch = fetch
        self.in_order = in_order
        self.size = size
        self.limit = limit
        self.parse = parse
        self.ident = ident
        self.url = url
        self._lock = threading.Lock()
        self._first: Page | None = None
        self._first_known = False
        self._first_taken = False
        self.total: int | None = None
        """The server's total, known once page 0 was fetched."""
        self.preview: list[dict[str, Any]] = []
        """The first few records of page 0, for reprs."""

    def first(self) -> Page | None:
        """Page 0, fetched once (``None`` when the server answers "no hits" with a 404)."""
        with self._lock:
            if not self._first_known:
                page = self.fetch(0)
                self._first, self._first_known = page, True
                self.total = 0 if page is None else page.total_elements
                if page is not None:
                    self.preview = [
                        self.parse(raw, url=self.url) for raw in page.items[:_PREVIEW_ROWS]
                    ]
            return self._first

    def count(self) -> int:
        """The server's total from page 0, capped at ``limit``; fetches page 0 if needed."""
        if self.limit == 0:
            return 0
        self.first()
        total = self.total or 0
        return total if self.limit is None else min(total, self.limit)

    def _take_first(self) -> Page | None:
        page = self.first()
        with self._lock:
            # The iteration holds page 0 from here; the listing keeps only its preview.
            self._first, self._first_taken = None, True
        return page

    def records(self) -> Generator[dict[str, Any], None, None]:
        """Each record once, in page order; :class:`APIError` at the end if any went missing."""
        limit = self.limit
        if limit == 0:
            return
        block = self._take_first()
        if block is None:
            return
        seen: set[Any] = set()
        total = block.total_elements
        last_page = block.total_pages
        number = 0
        blocks: Generator[Page | None, None, None] = _just(block)
        while True:
            ended = False
            with contextlib.closing(blocks):
                for page in blocks:
                    if page is None:  # a page past a shrunk result
                        ended = True
                        break
                    total, last_page = page.total_elements, page.total_pages
                    number = page.number + 1
                    for raw in page.items:
                        item = self.parse(raw, url=self.url)
                        if item[self.ident] in seen:
                            continue
                        seen.add(item[self.ident])
                        yield item
                        if limit is not None and len(seen) >= limit:
                            return
                    if not page.items:
                        ended = True
                        break
            if ended or number >= last_page:
                break
            # Only the pages the limit still needs (more if repeats left it short).
            stop = last_page
            if limit is not None:
                stop = min(stop, number + -(-(limit - len(seen)) // self.size))
            blocks = self.in_order(self.fetch, range(number, stop))
        if len(seen) < total:
            raise APIError(
                f"got {len(seen)} of {total} records from {self.url}: the result set changed "
                "while paging; search again",
                url=self.url,
            )


class Records(Protocol):
    """What a :class:`SearchResult` reads: :class:`RecordPages` online, or a mirror's
    offline query (``_mirror.OfflineRecords``)."""

    ident: str
    preview: list[dict[str, Any]]

    def count(self) -> int: ...

    def records(self) -> Generator[dict[str, Any], None, None]: ...


class SearchResult(Iterator[dict[str, Any]]):
    """The records of a search: a lazy, one-pass iterator, as :meth:`NeuroMorpho.search` returns.

    Iterating fetches the first page, then a few pages at a time ahead of the records handed
    out (never more than the client's ``in_flight``), stopping once ``limit`` records came or
    the iterator is closed or dropped. Besides iteration:

    - ``len(result)``: how many records the search gives, from the server's total on the first
      page (capped at ``limit``); it costs that one page, which the iteration then reuses.
    - :meth:`to_dataframe`: all the records as a typed DataFrame (on a result not yet read).
    - ``repr()`` and the notebook view show the total and the first few records; they fetch at
      most the first page and never consume the iteration.

    Iterating (or ``len()``) raises what :meth:`NeuroMorpho.search` documents:
    :class:`APIError` for an unexpected answer, and at the end if fewer distinct records
    arrived than the server announced; :mod:`requests` exceptions when the server cannot be
    reached. Reaching ``limit``, or :meth:`close`, ends it quietly.
    """

    def __init__(self, pages: Records, *, what: str = "neurons") -> None:
        self._pages = pages
        self._what = what
        self._records: Generator[dict[str, Any], None, None] | None = None
        self._closed = False

    def __iter__(self) -> SearchResult:
        return self

    def __next__(self) -> dict[str, Any]:
        if self._records is None:
            if self._closed:
                raise StopIteration
            self._records = self._pages.records()
        return next(self._records)

    def __len__(self) -> int:
        return self._pages.count()

    def close(self) -> None:
        """Stop: no more pages are fetched, and iteration ends.

        Also called on leaving a ``with`` block over the result.
        """
        self._closed = True
        if self._records is not None:
            self._records.close()

    def __enter__(self) -> SearchResult:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def to_dataframe(self, *, raw: bool = False) -> pandas.DataFrame:
        """The remaining records as a :class:`pandas.DataFrame`, one row each.

        By default columns are typed: numeric fields as floats, dates as ``datetime64``,
        list fields as lists, missing markers (``null``, ``""``, ``"Not reported"``...) as
        missing values and strings stripped. ``raw=True`` keeps every value as served.
        Needs pandas: ``pip install "neuromorpho-api[pandas]"``.

        Args:
            raw: Keep every value as served (numeric strings stay strings).

        Returns:
            The DataFrame; it consumes the iteration.

        Raises:
            RuntimeError: The result was already iterated over (or closed): a second read
                would silently give fewer rows, so run the search again.
            ImportError: pandas is not installed.
            APIError: As iterating does.
        """
        from neuromorpho_api._frames import records_frame

        if self.consumed:
            raise RuntimeError(
                "this search result was already read (it is a one-pass iterator): run the "
                "search again, or keep the records with list(result) the first time"
            )
        return records_frame(self, raw=raw)

    @property
    def consumed(self) -> bool:
        """Whether iteration has started or the result was closed: its records are not all ahead."""
        return self._records is not None or self._closed

    def _peek(self) -> tuple[int, list[dict[str, Any]]] | str:
        """(count, first records), or the error that fetching the first page raised."""
        try:
            count = self._pages.count()
        except Exception as error:  # a repr shows the error; iterating raises it
            return f"{type(error).__name__}: {error}"
        return count, self._pages.preview[: min(count, _PREVIEW_ROWS)]

    def _read_note(self) -> str:
        # The preview shows the first page even after the records were handed out; say so.
        return " (already read: search again to iterate)" if self.consumed else ""

    def _amount(self, count: int) -> str:
        return f"{count} {self._what[:-1] if count == 1 else self._what}"

    def _columns(self, rows: list[dict[str, Any]]) -> list[str]:
        wanted = _PREVIEW_COLUMNS.get(self._pages.ident, ())
        present = [c for c in wanted if any(c in row for row in rows)]
        return present or list(rows[0])[:4]

    def __repr__(self) -> str:
        peek = self._peek()
        if isinstance(peek, str):
            return f"<SearchResult: {peek}>"
        count, rows = peek
        head = f"<SearchResult: {self._amount(count)}{self._read_note()}"
        if not rows:
            return head + ">"
        columns = self._columns(rows)
        lines = [head + (", first:" if count > len(rows) else ":")]
        for row in rows:
            lines.append("  " + "  ".join(_cell(row.get(c)) for c in columns))
        if count > len(rows):
            lines.append("  ...")
        return "\n".join(lines) + ">"

    def _repr_html_(self) -> str:
        peek = self._peek()
        if isinstance(peek, str):
            return f"<p>SearchResult: {html.escape(peek)}</p>"
        count, rows = peek
        caption = f"SearchResult: {self._amount(count)}{self._read_note()}"
        if count > len(rows) and rows:
            caption += f" (first {len(rows)} shown)"
        if not rows:
            return f"<p>{html.escape(caption)}</p>"
        columns = self._columns(rows)
        head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
        body = "".join(
            "<tr>"
            + "".join(f"<td>{html.escape(_cell(row.get(c)))}</td>" for c in columns)
            + "</tr>"
            for row in rows
        )
        return (
            f"<table><caption>{html.escape(caption)}</caption>"
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        )


def _just(page: Page) -> Generator[Page | None, None, None]:
    yield page


def _cell(value: Any, width: int = 30) -> str:
    text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
