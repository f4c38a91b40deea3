"""The cheap questions a sync asks the server before (and instead of) fetching records.

Every function takes a :class:`Fetcher`, which counts requests and sends them through the
client (its session, its rate limit, its error handling).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from neuromorpho_api import _bulk, _parse, _query

__all__ = ["Fetcher", "case_probe", "fields", "order_probe", "partition", "total"]

PAGE = 500


class Fetcher:
    """GET JSON through a client, counting requests."""

    def __init__(self, client: _bulk.Api) -> None:
        self.client = client
        self.requests = 0
        self._lock = threading.Lock()  # the sync fetches its next page from a second thread

    def count(self) -> None:
        """Count one request sent on the fetcher's behalf."""
        with self._lock:
            self.requests += 1

    def get(self, *segments: str, params: Mapping[str, Any], allow_404: bool = False) -> Any:
        self.count()
        return self.client._json(self.client._api(*segments), params, allow_404=allow_404)

    def url(self, *segments: str) -> str:
        return self.client._api(*segments)


def total(fetch: Fetcher, collection: str, key: str) -> tuple[int, list[dict[str, Any]]]:
    """(totalElements, first items) of the plain listing of ``collection``: one request."""
    doc = fetch.get(collection, params={"page": 0, "size": 1})
    page = _parse.parse_page(doc, key, url=fetch.url(collection))
    return page.total_elements, page.items


def partition(fetch: Fetcher, field: str) -> dict[str, int]:
    """``/api/neuron/partition/{field}``, every page, in the server's key order."""
    counts: dict[str, int] = {}
    page = 0
    url = fetch.url("neuron", "partition", field)
    while True:
        doc = fetch.get(
            "neuron", "partition", field, params={"page": page, "size": PAGE}, allow_404=page > 0
        )
        if doc is None:
            break
        content, block = _parse.parse_partition(doc, field=field, url=url)
        counts.update(content)
        page += 1
        if page >= block.total_pages or not content:
            break
    return counts


def fields(fetch: Fetcher) -> list[str]:
    """``/api/neuron/fields``."""
    return _parse.parse_fields(fetch.get("neuron", "fields", params={}), url=fetch.url("neuron"))


def count(fetch: Fetcher, clause: str) -> int:
    """Hits of one select clause (a 404 is zero hits)."""
    doc = fetch.get("neuron", "select", params={"q": clause, "page": 0, "size": 1}, allow_404=True)
    if doc is None:
        return 0
    return _parse.parse_page(doc, "neuronResources").total_elements


def case_probe(fetch: Fetcher, field: str, counts: Mapping[str, int]) -> str:
    """Settle whether the server matches values case-insensitively: one count.

    Asks for a value of ``field`` with its letter case swapped, choosing one whose swapped
    form and every other case variant are absent from ``counts``. No hits: ``"sensitive"``;
    exactly the original's hits: ``"insensitive"``; anything else (or no usable value):
    ``"unknown"``, and the mirror then refuses clauses whose answer would depend on it.
    """
    folded: dict[str, int] = {}
    for value in counts:
        folded[value.casefold()] = folded.get(value.casefold(), 0) + 1
    for value, hits in sorted(counts.items(), key=lambda kv: -kv[1]):
        swapped = value.swapcase()
        if swapped == value or folded[value.casefold()] != 1 or not value.strip():
            continue
        got = count(fetch, f"{field}:{_query.quote_value(swapped, wildcards=False)}")
        if got == 0:
            return "sensitive"
        return "insensitive" if got == hits else "unknown"
    return "unknown"


def order_probe(fetch: Fetcher, field: str, counts: Mapping[str, int]) -> dict[str, str]:
    """The orders ``/partition`` and ``/fields`` list values in, as the mirror must repeat them.

    ``"value"``: code-point order; ``"count"``: most frequent first, ties in code-point order;
    ``"differs"``: neither, ``"unknown"``: both (the mirror then refuses to list them). ``counts`` is the
    partition as served, in its order; one request, for ``/fields/{field}``.
    """
    doc = fetch.get("neuron", "fields", field, params={"page": 0, "size": PAGE})
    values, block = _parse.parse_values(doc, field=field, url=fetch.url("neuron", "fields"))
    return {
        "partition_order": _order_of(list(counts), counts),
        "values_order": _order_of(values, counts) if block.total_pages <= 1 else "differs",
    }


def _order_of(listed: list[str], counts: Mapping[str, int]) -> str:
    by_value = listed == sorted(counts)
    by_count = listed == sorted(counts, key=lambda k: (-counts[k], k))
    if by_value and by_count:
        return "unknown"  # both orders agree on this field: they cannot be told apart
    return "value" if by_value else "count" if by_count else "differs"
