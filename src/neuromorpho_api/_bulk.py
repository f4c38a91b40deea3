"""Morphometry and persistence vectors of many neurons in a few requests.

``/api/morphometry/select?q=Neuron_id:1,2,3`` (capital ``N``; list key ``measurements``)
and ``/api/pvec/select?q=neuron_id:1,2,3`` (list key ``pvecs``) answer up to 500 ids per
request. The operators' own site uses these forms, but no recorded response shows them
(reference §2.2, §9), so the answers are checked: ids the select omits, or whole chunks
the select answers with an error, are asked for one by one; neurons with nothing to serve
are simply absent from the result.

Whether an omission means "no measurements" or "the select form misbehaves" is learned
once per call: the first omitted id is asked for alone. If the server has nothing for it,
omissions are trusted for the rest of the call (so 1,000 ids cost ``ceil(1000/500)`` selects
plus at most that one probe); if it has something, every omitted id is asked for alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Callable, Literal, Protocol

from neuromorpho_api import _parse
from neuromorpho_api._errors import APIError, NeuronNotFound

__all__ = ["CHUNK", "Api", "fetch_many", "morphometry_many", "neuron_ids", "pvec_many"]

CHUNK = 500
_MAX_ID = 2**31 - 1
Kind = Literal["morphometry", "pvec"]
_SELECT = {"morphometry": ("Neuron_id", "measurements"), "pvec": ("neuron_id", "pvecs")}


class Api(Protocol):
    """What bulk fetches and the mirror's sync need from a client.

    :class:`~neuromorpho_api.NeuroMorpho` is one; the mirror layer sits below the client and
    so names only this, never the client class.
    """

    @property
    def base_url(self) -> str:
        """The site root the API is under."""

    def _api(self, *segments: str | int) -> str:
        """The URL of an API path under ``base_url``."""

    def _json(
        self, url: str, params: Mapping[str, Any] | None = None, *, allow_404: bool = False
    ) -> Any:
        """The decoded JSON of a GET (rate-limited, retried); ``None`` on a 404 if allowed."""

    def morphometry(self, id_or_name: int | str) -> dict[str, Any]:
        """One neuron's measurements; :class:`NeuronNotFound` if it has none."""

    def pvec(self, id_or_name: int | str) -> dict[str, Any] | None:
        """One neuron's persistence vector; :class:`NeuronNotFound` if it has none."""


def neuron_ids(ids_or_records: Iterable[int | Mapping[str, Any]]) -> list[int]:
    """Neuron ids from ids or records (``record["neuron_id"]``), first occurrence order."""
    if isinstance(ids_or_records, (str, bytes, Mapping)):
        raise TypeError("expected an iterable of neuron ids or records, not one value")
    seen: dict[int, None] = {}
    for item in ids_or_records:
        nid = item.get("neuron_id") if isinstance(item, Mapping) else item
        if isinstance(nid, bool) or not isinstance(nid, int):
            raise TypeError(f"expected a neuron id (int) or a record, not {item!r:.60}")
        seen.setdefault(nid, None)
    return list(seen)


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def _parse_pvec_item(doc: Any, url: str | None) -> dict[str, Any] | None:
    return _parse.parse_pvec(json.dumps(doc), url=url)


def _select(
    client: Api, kind: Kind, chunk: list[int], on_request: Callable[[], None]
) -> dict[int, dict[str, Any]] | None:
    """One select for ``chunk``: what it returned for ids of the chunk, ``None`` on an error."""
    field, key = _SELECT[kind]
    url = client._api(kind, "select")
    params = {"q": f"{field}:" + ",".join(map(str, chunk)), "page": 0, "size": CHUNK}
    on_request()
    try:
        doc = client._json(url, params, allow_404=True)
    except APIError:
        return None
    if doc is None:  # a 404 "no hits"
        return {}
    try:
        page = _parse.parse_page(doc, key, url=url)
    except APIError:
        return None
    wanted = set(chunk)
    found: dict[int, dict[str, Any]] = {}
    for raw in page.items:
        try:
            item = (
                _parse.parse_measurements(raw, url=url)
                if kind == "morphometry"
                else _parse_pvec_item(raw, url)
            )
        except APIError:
            continue  # that id is asked for alone
        nid = None if item is None else item.get("neuron_id")
        if isinstance(nid, int) and nid in wanted and item is not None:
            found.setdefault(nid, item)
    return found


def _one(
    client: Api, kind: Kind, nid: int, on_request: Callable[[], None]
) -> dict[str, Any] | None:
    on_request()
    try:
        if kind == "morphometry":
            return client.morphometry(nid)
        return client.pvec(nid)
    except NeuronNotFound:
        return None


def fetch_many(
    client: Api,
    kind: Kind,
    ids_or_records: Iterable[int | Mapping[str, Any]],
    *,
    on_request: Callable[[], None] = lambda: None,
    on_chunk: Callable[[list[int], dict[int, dict[str, Any]]], None] | None = None,
) -> dict[int, dict[str, Any]]:
    """Objects of ``kind`` for many neurons, keyed by ``neuron_id`` in the order asked.

    ``on_request`` is called before every request; ``on_chunk(ids, found)`` after each chunk
    of up to 500 ids is settled (the sync commits there).
    """
    ids = neuron_ids(ids_or_records)
    result: dict[int, dict[str, Any]] = {}
    trust_omissions: bool | None = None
    for chunk in _chunks(ids):
        valid = [nid for nid in chunk if 0 < nid <= _MAX_ID]
        found = _select(client, kind, valid, on_request) if valid else {}
        if found is None:
            missing = valid  # the select failed: every id alone
            found = {}
            alone = missing
        else:
            missing = [nid for nid in valid if nid not in found]
            alone = []
            for nid in missing:
                if trust_omissions is True:
                    break
                if trust_omissions is None:
                    item = _one(client, kind, nid, on_request)
                    trust_omissions = item is None
                    if item is not None:
                        found[nid] = item
                    continue
                alone.append(nid)
        for nid in alone:
            item = _one(client, kind, nid, on_request)
            if item is not None:
                found[nid] = item
        if on_chunk is not None:
            on_chunk(chunk, found)
        result.update(found)
    return {nid: result[nid] for nid in ids if nid in result}


def morphometry_many(
    client: Api, ids_or_records: Iterable[int | Mapping[str, Any]]
) -> dict[int, dict[str, Any]]:
    """Measurements of many neurons keyed by ``neuron_id``; see the module docstring."""
    return fetch_many(client, "morphometry", ids_or_records)


def pvec_many(
    client: Api, ids_or_records: Iterable[int | Mapping[str, Any]]
) -> dict[int, dict[str, Any]]:
    """Persistence vectors of many neurons keyed by ``neuron_id``; see the module docstring."""
    return fetch_many(client, "pvec", ids_or_records)
