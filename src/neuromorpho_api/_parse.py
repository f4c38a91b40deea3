"""Parse NeuroMorpho.Org API responses. Pure functions, no I/O.

Every body is treated as hostile: anything that is not the expected shape raises
:class:`APIError` naming what was wrong, never a ``KeyError`` or ``TypeError`` from deep inside.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from neuromorpho_api._errors import OUTAGE_MESSAGE, APIError, ServiceUnavailable

__all__ = [
    "ErrorBody",
    "Page",
    "check_not_html",
    "is_truncated",
    "parse_article",
    "parse_error",
    "parse_fields",
    "parse_json",
    "parse_measurements",
    "parse_page",
    "parse_partition",
    "parse_pvec",
    "parse_record",
    "parse_values",
    "shows_outage_notice",
]

_OUTAGE_MARK = "service interruption notice"


def _fail(what: str, url: str | None) -> APIError:
    where = f" from {url}" if url else ""
    return APIError(f"unexpected response{where}: {what}", url=url)


def _decode(body: bytes | str) -> str:
    if isinstance(body, str):
        return body
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return body.decode("latin-1")


def is_truncated(headers: Mapping[str, str], body: bytes) -> bool:
    """Whether an unencoded ``body`` is shorter than its ``Content-Length`` said."""
    if headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity"):
        return False  # the length counts the compressed bytes
    length = headers.get("Content-Length", "").strip()
    return length.isdigit() and int(length) != len(body)


def shows_outage_notice(body: bytes | str) -> bool:
    """Whether ``body`` is an HTML page with the site's "Service Interruption Notice"."""
    text = _decode(body)
    return text.lstrip().startswith("<") and _OUTAGE_MARK in text.casefold()


def check_not_html(body: bytes | str, *, url: str | None = None) -> None:
    """Raise :class:`APIError` if ``body`` is an HTML page, not an API answer.

    A page carrying the site's "Service Interruption Notice" raises
    :class:`ServiceUnavailable`.
    """
    text = _decode(body)
    if text.lstrip().startswith("<"):
        if shows_outage_notice(text):
            raise ServiceUnavailable(OUTAGE_MESSAGE, url=url)
        raise _fail("an HTML page instead of JSON (is base_url right?)", url)


def parse_json(body: bytes | str, *, url: str | None = None) -> Any:
    """Decode a JSON body; HTML (see :func:`check_not_html`) or garbage raises :class:`APIError`."""
    check_not_html(body, url=url)
    text = _decode(body)
    stripped = text.strip()
    if not stripped:
        raise _fail("an empty body instead of JSON", url)
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise _fail(f"invalid JSON ({exc})", url) from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _obj(doc: Any, what: str, url: str | None) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise _fail(f"{what} is {type(doc).__name__}, not an object", url)
    return doc


def _count(value: Any, what: str, url: str | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _fail(f"{what} is {value!r}, not a count", url)
    return value


@dataclass(frozen=True)
class Page:
    """One page of a paged list: its items and the ``page`` block."""

    items: list[dict[str, Any]]
    size: int
    total_elements: int
    total_pages: int
    number: int


def _page_block(doc: dict[str, Any], url: str | None) -> tuple[int, int, int, int]:
    block = _obj(doc.get("page"), "'page'", url)
    return (
        _count(block.get("size"), "page.size", url),
        _count(block.get("totalElements"), "page.totalElements", url),
        _count(block.get("totalPages"), "page.totalPages", url),
        _count(block.get("number"), "page.number", url),
    )


def parse_page(doc: Any, key: str, *, url: str | None = None) -> Page:
    """A HAL page whose items are ``_embedded[key]``; a missing ``_embedded`` is an empty page."""
    doc = _obj(doc, "the page", url)
    size, total, pages, number = _page_block(doc, url)
    embedded = doc.get("_embedded")
    if embedded is None:
        items: list[Any] = []
    else:
        embedded = _obj(embedded, "'_embedded'", url)
        raw = embedded.get(key, [])
        if not isinstance(raw, list):
            raise _fail(f"'_embedded.{key}' is {type(raw).__name__}, not a list", url)
        items = raw
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise _fail(f"item {i} of '_embedded.{key}' is not an object", url)
    return Page(items, size, total, pages, number)


def _without_links(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "_links"}


def parse_record(doc: Any, *, url: str | None = None) -> dict[str, Any]:
    """A neuron record as served, minus ``_links``; needs an int ``neuron_id`` and a name."""
    doc = _obj(doc, "the neuron record", url)
    nid = doc.get("neuron_id")
    if isinstance(nid, bool) or not isinstance(nid, int):
        raise _fail(f"neuron_id is {nid!r}, not an integer", url)
    if not isinstance(doc.get("neuron_name"), str):
        raise _fail(f"neuron {nid} has no neuron_name", url)
    return _without_links(doc)


def parse_article(doc: Any, *, url: str | None = None) -> dict[str, Any]:
    """A literature record as served, minus ``_links``; needs a string ``article_id``."""
    doc = _obj(doc, "the article", url)
    if not isinstance(doc.get("article_id"), str):
        raise _fail(f"article_id is {doc.get('article_id')!r}, not a string", url)
    return _without_links(doc)


def parse_fields(doc: Any, *, url: str | None = None) -> list[str]:
    """The field list of ``/fields``: ``{"Neuron Fields": [...]}`` (or one other list key)."""
    doc = _obj(doc, "the field list", url)
    lists = [v for k, v in doc.items() if k != "_links" and isinstance(v, list)]
    value = doc.get("Neuron Fields", lists[0] if len(lists) == 1 else None)
    if not isinstance(value, list) or not all(isinstance(f, str) for f in value):
        raise _fail("no list of field names", url)
    return list(value)


def _check_field_name(doc: dict[str, Any], field: str | None, url: str | None) -> None:
    name = doc.get("field_name")
    if field is not None and name is not None and name != field:
        raise _fail(f"asked for field {field!r}, got {name!r}", url)


def parse_values(
    doc: Any, *, field: str | None = None, url: str | None = None
) -> tuple[list[str], Page]:
    """Distinct values of ``/fields/{field}``: numbers become strings, nulls are skipped."""
    doc = _obj(doc, "the value list", url)
    _check_field_name(doc, field, url)
    raw = doc.get("fields")
    if not isinstance(raw, list):
        raise _fail("'fields' is not a list", url)
    values: list[str] = []
    for v in raw:
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            raise _fail(f"field value {v!r} is not a string", url)
        values.append(v if isinstance(v, str) else str(v))
    size, total, pages, number = _page_block(doc, url)
    return values, Page([], size, total, pages, number)


def parse_partition(
    doc: Any, *, field: str | None = None, url: str | None = None
) -> tuple[dict[str, int], Page]:
    """Value -> count of ``/partition/{field}``."""
    doc = _obj(doc, "the partition", url)
    _check_field_name(doc, field, url)
    raw = _obj(doc.get("fields"), "'fields'", url)
    counts = {k: _count(v, f"the count of {k!r}", url) for k, v in raw.items()}
    size, total, pages, number = _page_block(doc, url)
    return counts, Page([], size, total, pages, number)


def _number(value: Any, key: str, url: str | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise _fail(f"measurement {key!r} is {value!r}, not a number", url)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            pass
        else:
            if math.isfinite(number):
                return number
    raise _fail(f"measurement {key!r} is {value!r}, not a number", url)


def parse_measurements(doc: Any, *, url: str | None = None) -> dict[str, Any]:
    """A morphometry object: measurements as ``float`` (or ``None``), ``neuron_id`` as ``int``,
    ``neuron_name`` as ``str``; ``_links`` dropped."""
    doc = _obj(doc, "the morphometry", url)
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key == "_links":
            continue
        if key == "neuron_name":
            if not isinstance(value, str):
                raise _fail(f"neuron_name is {value!r}", url)
            out[key] = value
        elif key == "neuron_id":
            number = _number(value, key, url)
            if number is None or not number.is_integer():
                raise _fail(f"neuron_id is {value!r}", url)
            out[key] = int(number)
        else:
            out[key] = _number(value, key, url)
    return out


def parse_pvec(body: bytes | str, *, url: str | None = None) -> dict[str, Any] | None:
    """A persistence vector; an empty body (as the real server sends) gives ``None``."""
    if not _decode(body).strip():
        return None
    doc = _obj(parse_json(body, url=url), "the persistence vector", url)
    coefficients = doc.get("coefficients")
    if coefficients is not None and (
        not isinstance(coefficients, list)
        or not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in coefficients)
    ):
        raise _fail("'coefficients' is not a list of numbers", url)
    return _without_links(doc)


@dataclass(frozen=True)
class ErrorBody:
    """A Spring error body: ``{"status": 404, "error": "Not Found", "message": ..., ...}``."""

    status: int | None
    error: str | None
    message: str | None
    path: str | None


def parse_error(body: bytes | str) -> ErrorBody | None:
    """The Spring error body in ``body``, or ``None`` if it is not one. Never raises."""
    try:
        doc = json.loads(_decode(body))
    except (ValueError, RecursionError):
        return None
    if not isinstance(doc, Mapping) or not ({"error", "message", "status"} & set(doc)):
        return None

    def text(key: str) -> str | None:
        value = doc.get(key)
        return value if isinstance(value, str) else None

    status = doc.get("status")
    return ErrorBody(
        status if isinstance(status, int) and not isinstance(status, bool) else None,
        text("error"),
        text("message"),
        text("path"),
    )
