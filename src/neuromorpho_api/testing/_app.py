"""Application layer of the offline emulator: ``(method, target, headers, body)`` -> :class:`Reply`.

This module is long because it is one routing table: every route of the API and the site is
answered here, next to the paging, link and error rules they share.

Pure Python, no sockets: the transport (``_tlsserver``) adds ``Content-Length``, ``Date`` and
``Connection`` and sends no body for HEAD, so HEAD is answered exactly like GET here.

Routes (reference §2, §5, §6, §9):

- ``/api/health``; ``/api/neuron`` (paged), ``/id/{id}`` (and ``{id}.json``),
  ``/name/{name}``, ``/fields``, ``/fields/{f}``, ``/partition/{f}``, ``/select`` (GET, and
  POST with a JSON body; also ``/select/``); ``/api/morphometry`` (``/id``, ``/name``,
  ``/select``); ``/api/pvec`` (``/id``, ``/select``); ``/api/literature`` (``/id``,
  ``/fields``, ``/fields/{f}``, ``/partition/{f}``, ``/select``).
- ``/dableFiles/{archive lower}/CNG%20version/{name}.CNG.swc``, ``Source-Version/{name}.{ext}``,
  ``Standardization%20log/{name}.std``, ``Remaining%20issues/{name}.CNG.swc.std``,
  ``previous/v6.1/{archive lower}/{name}.CNG.swc`` (neuron 1 only);
  ``/images/imageFiles/{Archive}/{name}.png``; ``/`` (homepage). File routes honour
  single ``Range`` requests and ``If-None-Match`` and send ``ETag``/``Last-Modified``.
- The mirror's ``/neuroMorpho`` path prefix is accepted everywhere; so are trailing slashes
  under ``/api`` (old Spring matched them) and absolute-form targets.

Statuses: unknown path 404 (Spring JSON under ``/api``, HTML elsewhere); known path with
another method than GET/HEAD (or POST on neuron select) 405; non-integer id 400; unknown
field in a query, sort or ``/fields`` 400; malformed query or POST body 400.

Paging: 0-based ``page`` (invalid or negative -> 0), ``size`` default 50 (invalid or < 1 ->
50), above 500 clamped or 400 (:attr:`EmulatorOptions.oversize`); ``totalPages =
ceil(n/size)``. HAL ``_links`` follow Spring's rules (first/last only when there is more than
one page, prev/next when they exist); neuron collections write ``sort=f,f,dir`` in links
(``neuron_id,neuron_id,asc`` by default), the others ``sort=f,dir`` only when a sort was
requested; select links echo ``q`` and ``fq`` (*U*). Neuron select pages carry no top-level
``_links``. Content types: ``application/hal+json`` for anything with ``_links`` (pages,
neuron and article records), ``application/json`` for the rest of the API.
"""

from __future__ import annotations

import calendar
import datetime
import json
import math
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any, Callable, Literal
from urllib.parse import parse_qsl, quote, unquote

from ._database import LITERATURE_KEYS, NEURON_FIELDS, SyntheticDatabase
from ._search import Collection, QueryError, SortSpec, UnknownFieldError, parse_sort

__all__ = ["EmulatorOptions", "NeuroMorphoApp", "Reply"]

_REAL_HOST = "http://neuromorpho.org"
_JSON = "application/json"
_HAL = "application/hal+json"
_HTML = "text/html; charset=iso-8859-1"
_MAX_SIZE = 500
_DEFAULT_SIZE = 50
_JSON_CACHE = 50_000
_REASONS = {
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    416: "Requested Range Not Satisfiable",
    500: "Internal Server Error",
}


@dataclass
class Reply:
    """One HTTP answer; the transport adds ``Content-Length``, ``Date`` and ``Connection``.

    ``server_time``: seconds the transport waits before answering (the server's work).
    """

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    server_time: float = 0.0


@dataclass
class EmulatorOptions:
    """Switches between candidate behaviours of the real server (mutable at run time).

    Attributes:
        zero_hits: Neuron select with no hits, or a page past the last: ``"404"`` answers
            404 with Spring error JSON (most likely real behaviour), ``"empty"`` a 200 page
            without ``_embedded``.
        oversize: ``size`` above 500: ``"clamp"`` serves 500 per page, ``"400"`` answers 400.
        pvec_body: ``/api/pvec/id/{id}``: ``"json"`` serves the object, ``"empty"`` a 200
            with an empty body (seen in 2023).
        link_base: Links in bodies: ``"http"`` always ``http://neuromorpho.org`` (real),
            ``"request"`` the base URL the request came in on.
        integrity_field_name: How ``/api/neuron/fields`` spells the integrity field
            (records always say ``physical_Integrity``).
        down: The homepage shows the "Service Interruption Notice" and every
            ``/api/neuron/...`` request answers 404 (other routes keep working, health says UP).
        fields_page_size: Default page size of ``/fields/{f}`` and ``/partition/{f}``;
            None returns every value in one page unless ``size`` is given.
        clause_join: How space-separated clauses in one ``q``/``fq`` combine (Solr's
            default is OR; the real setting is unknown).
        ignore_case: Match string values in ``q``/``fq`` and POST bodies case-insensitively
            (``species:Rat`` finds ``rat``); the real rule is unknown.
        fields_order: Order of ``/fields/{f}`` values: ``"count"`` most frequent first,
            ties in code-point order (Solr facet order), or ``"value"`` code-point order.
        partition_order: Order of ``/partition/{f}`` keys: ``"value"`` code-point order
            (a Java ``TreeMap``), or ``"count"`` most frequent first, ties in code-point order.
        bulk_select_omits: Neuron ids that ``/api/morphometry/select`` and
            ``/api/pvec/select`` leave out although ``/id/{id}`` serves them.
        bulk_select_status: When set, those two selects answer this status (Spring error
            JSON) instead of a page.
        bulk_select_zero_hits: Those selects with no hits (or a page past the last):
            ``"empty"`` a 200 page without ``_embedded``, ``"404"`` a Spring 404.
        server_time_per_row: Seconds of server work per record in a page of a listing or
            select (any collection), waited before the answer: the real site takes about 3.5 s
            per 500-row page, i.e. ``0.007``.
    """

    zero_hits: Literal["404", "empty"] = "404"
    oversize: Literal["clamp", "400"] = "clamp"
    pvec_body: Literal["json", "empty"] = "json"
    link_base: Literal["http", "request"] = "http"
    integrity_field_name: str = "Physical_Integrity"
    down: bool = False
    fields_page_size: int | None = None
    clause_join: Literal["AND", "OR"] = "AND"
    ignore_case: bool = False
    fields_order: Literal["count", "value"] = "count"
    partition_order: Literal["value", "count"] = "value"
    bulk_select_omits: frozenset[int] = frozenset()
    bulk_select_status: int | None = None
    bulk_select_zero_hits: Literal["empty", "404"] = "empty"
    server_time_per_row: float = 0.0


class _HttpError(Exception):
    def __init__(self, status: int, message: str, headers: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = list(headers)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _java_int(text: str) -> int:
    """Parse like ``Integer.parseInt``; raise a Spring-style 400 otherwise."""
    if re.fullmatch(r"[+-]?[0-9]+", text):
        value = int(text)
        if -(2**31) <= value < 2**31:
            return value
    raise _HttpError(
        400,
        "Failed to convert value of type 'java.lang.String' to required type 'int'; "
        f'nested exception is java.lang.NumberFormatException: For input string: "{text}"',
    )


def _html_page(status: int, title: str, text: str) -> bytes:
    return (
        '<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html><head>\n'
        f"<title>{status} {title}</title>\n</head><body>\n<h1>{title}</h1>\n"
        f"<p>{text}</p>\n</body></html>\n"
    ).encode("latin-1")


_HOME = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>NeuroMorpho.Org - Neuron Morphology Database</title>
</head><body>
<h1>NeuroMorpho.Org</h1>
<p>NeuroMorpho.Org is a centrally curated inventory of digitally reconstructed neurons.</p>
<p>Version 8.6.41 &mdash; {count} cells.</p>
<p><a href="apiReference.html">API</a> | <a href="useterm.jsp">Terms of Use</a></p>
</body></html>
"""

_DOWN = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>NeuroMorpho.Org</title></head><body>
<h1>Service Interruption Notice</h1>
<p>NeuroMorpho.Org is temporarily unavailable due to maintenance. We apologize for the
inconvenience. Please contact nmoadmin@gmu.edu with any questions.</p>
</body></html>
"""

# (collection name, list key, not-found message)
_Kind = tuple[str, str, str]
_NEURON: _Kind = ("neuron", "neuronResources", "Requested neuron not found")
_MORPH: _Kind = ("morphometry", "measurements", "Requested measurement not found")
_PVEC: _Kind = ("pvec", "pvecs", "Requested persistence vector not found")
_LIT: _Kind = ("literature", "publicationResources", "Requested article not found")
# (method, decoded path segments after /api, query parameters, body, link base)
_RouteHandler = Callable[[str, list[str], dict[str, list[str]], bytes, str], Reply]


class NeuroMorphoApp:
    """Routes requests to a :class:`SyntheticDatabase`; see the module docstring."""

    def __init__(self, database: SyntheticDatabase, options: EmulatorOptions | None = None) -> None:
        self.database = database
        self.options = options if options is not None else EmulatorOptions()
        #: Called as ``before_request(method, target)`` before each request is answered, in
        #: the server's thread: a test can change the database between two pages with it.
        self.before_request: Callable[[str, str], None] | None = None
        # JSON of each record without its _links (they depend on link_base), keyed by
        # (collection, id(record)) and kept with the record: records are read-only (a change
        # makes a new one), and the identity check stops a recycled id() from matching.
        self._json: dict[tuple[str, int], tuple[Mapping[str, Any], str]] = {}

    # ------------------------------------------------------------------ entry point

    def handle(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        base_url: str,
    ) -> Reply:
        """Answer one request; ``target`` is the raw request-target."""
        if self.before_request is not None:
            self.before_request(method, target)
        method = method.upper()
        if target.startswith(("http://", "https://")):
            # absolute-form (plain proxies): keep only the path and query
            rest = target.split("://", 1)[1]
            target = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
        raw_path, _, query = target.partition("?")
        raw_path = raw_path.split("#", 1)[0]
        path = raw_path
        if path == "/neuroMorpho" or path.startswith("/neuroMorpho/"):
            path = path[len("/neuroMorpho") :] or "/"
        hdrs = {k.lower(): v for k, v in headers.items()}
        base = _REAL_HOST if self.options.link_base == "http" else base_url.rstrip("/")
        is_api = path == "/api" or path.startswith("/api/")
        try:
            if is_api:
                return self._api(method, path, raw_path, query, body, base)
            return self._site(method, path, hdrs)
        except _HttpError as exc:
            if is_api:
                return self._error(exc.status, exc.message, raw_path, exc.headers)
            reply = self._html_error(exc.status, exc.message)
            reply.headers += exc.headers
            return reply

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _error(
        status: int, message: str, path: str, headers: Sequence[tuple[str, str]] = ()
    ) -> Reply:
        body = {
            "status": status,
            "error": _REASONS.get(status, "Error"),
            "message": message,
            "path": path,
        }
        return Reply(status, [("Content-Type", _JSON), *headers], _dumps(body).encode())

    @staticmethod
    def _html_error(status: int, message: str) -> Reply:
        title = _REASONS.get(status, "Error")
        return Reply(status, [("Content-Type", _HTML)], _html_page(status, title, message))

    @staticmethod
    def _json_reply(obj: Any, content_type: str = _JSON) -> Reply:
        return Reply(200, [("Content-Type", content_type)], _dumps(obj).encode())

    @staticmethod
    def _params(query: str) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for key, value in parse_qsl(query, keep_blank_values=True, errors="replace"):
            out.setdefault(key, []).append(value)
        return out

    @staticmethod
    def _int_param(params: Mapping[str, list[str]], name: str, default: int) -> int:
        """Spring's Pageable parsing: missing, empty or unparsable -> default."""
        for value in params.get(name, ()):
            if value.strip():
                try:
                    return int(value.strip())
                except ValueError:
                    return default
        return default

    def _paging(
        self, params: Mapping[str, list[str]], default_size: int = _DEFAULT_SIZE
    ) -> tuple[int, int]:
        page = max(0, self._int_param(params, "page", 0))
        size = self._int_param(params, "size", default_size)
        if size < 1:
            size = default_size
        if size > _MAX_SIZE:
            if self.options.oversize == "400":
                raise _HttpError(400, f"Page size must not be greater than {_MAX_SIZE}")
            size = _MAX_SIZE
        return page, size

    @staticmethod
    def _page_obj(size: int, total: int, number: int) -> dict[str, int]:
        return {
            "size": size,
            "totalElements": total,
            "totalPages": math.ceil(total / size),
            "number": number,
        }

    @staticmethod
    def _sort_texts(kind: _Kind, specs: Sequence[SortSpec]) -> list[str]:
        if kind is _NEURON:
            # Spring writes the neuron default sort with the field twice (reference §3.1).
            specs = specs or [("neuron_id", False)]
            return [f"{f},{f},{'desc' if d else 'asc'}" for f, d in specs]
        return [f"{f},{'desc' if d else 'asc'}" for f, d in specs]

    @staticmethod
    def _links(
        href_base: str,
        extra: Sequence[tuple[str, str]],
        page: int,
        size: int,
        total_pages: int,
        sorts: Sequence[str],
    ) -> dict[str, dict[str, str]]:
        """Spring HATEOAS pagination links in the order first, prev, self, next, last."""

        def href(number: int) -> dict[str, str]:
            pairs = [*extra, ("page", str(number)), ("size", str(size))]
            pairs += [("sort", s) for s in sorts]
            qs = "&".join(f"{k}={quote(v, safe=':,*[]')}" for k, v in pairs)
            return {"href": f"{href_base}?{qs}"}

        has_prev = page > 0
        has_next = page + 1 < total_pages
        links: dict[str, dict[str, str]] = {}
        if has_prev or has_next:
            links["first"] = href(0)
        if has_prev:
            links["prev"] = href(page - 1)
        links["self"] = href(page)
        if has_next:
            links["next"] = href(page + 1)
        if has_prev or has_next:
            links["last"] = href(max(total_pages - 1, 0))
        return links

    # -- record encoding
    def _cached(self, kind: str, rec: Mapping[str, Any], make: Callable[[], str]) -> str:
        key = (kind, id(rec))
        hit = self._json.get(key)
        if hit is not None and hit[0] is rec:
            return hit[1]
        text = make()
        if len(self._json) >= _JSON_CACHE:
            del self._json[next(iter(self._json))]  # the oldest: bounded for large databases
        self._json[key] = (rec, text)
        return text

    def _neuron_json(self, rec: Mapping[str, Any], base: str) -> str:
        head = self._cached(
            "neuron", rec, lambda: _dumps({k: v for k, v in rec.items() if k != "_links"})[:-1]
        )
        nid = rec["neuron_id"]
        b = _dumps(base)[1:-1]
        return (
            f'{head},"_links":{{"self":{{"href":"{b}/api/neuron/id/{nid}"}},'
            f'"measurements":{{"href":"{b}/api/morphometry/id/{nid}"}},'
            f'"persistence_vector":{{"href":"{b}/api/pvec/id/{nid}"}}}}}}'
        )

    def _article_json(self, rec: Mapping[str, Any], base: str) -> str:
        head = self._cached(
            "literature", rec, lambda: _dumps({k: v for k, v in rec.items() if k != "_links"})[:-1]
        )
        b = _dumps(base)[1:-1]
        aid = rec["article_id"]
        return f'{head},"_links":{{"self":{{"href":"{b}/api/literature/id/{aid}"}}}}}}'

    def _plain_json(self, kind: str, rec: Mapping[str, Any], base: str) -> str:
        return self._cached(kind, rec, lambda: _dumps(rec))

    def _encoder(self, kind: _Kind) -> Callable[[Mapping[str, Any], str], str]:
        if kind is _NEURON:
            return self._neuron_json
        if kind is _LIT:
            return self._article_json
        name = kind[0]
        return lambda rec, base: self._plain_json(name, rec, base)

    def _collection(self, kind: _Kind) -> Collection:
        db = self.database
        if kind is _NEURON:
            return db.neuron_index
        if kind is _MORPH:
            return db.morphometry_index
        if kind is _PVEC:
            return db.pvec_index
        return db.literature_index

    # ------------------------------------------------------------------ API

    def _api(
        self, method: str, path: str, raw_path: str, query: str, body: bytes, base: str
    ) -> Reply:
        segs = [unquote(s, errors="replace") for s in path.split("/")[2:]]
        if len(segs) > 1 and segs[-1] == "":
            segs.pop()  # trailing slash
        if segs and segs[0] == "neuron" and self.options.down:
            raise _HttpError(404, _NEURON[2])
        route = self._route(segs)
        if route is None:
            raise _HttpError(404, "No message available")
        handler, methods = route
        if method not in methods:
            allow = ", ".join(sorted(methods))
            raise _HttpError(405, f"Request method '{method}' not supported", [("Allow", allow)])
        params = self._params(query)
        try:
            return handler(method, segs, params, body, base)
        except UnknownFieldError as exc:
            raise _HttpError(400, str(exc)) from None
        except QueryError as exc:
            raise _HttpError(400, str(exc)) from None

    def _route(self, segs: list[str]) -> tuple[_RouteHandler, frozenset[str]] | None:
        get = frozenset({"GET", "HEAD"})
        n = len(segs)
        if segs == ["health"]:
            return (lambda *a: self._json_reply({"status": "UP"})), get
        if not segs or segs[0] not in ("neuron", "morphometry", "pvec", "literature"):
            return None
        kind = {"neuron": _NEURON, "morphometry": _MORPH, "pvec": _PVEC, "literature": _LIT}[
            segs[0]
        ]
        if n == 1:
            return (lambda m, s, p, b, base: self._listing(kind, p, base, select=None)), get
        action = segs[1]
        if n == 2 and action == "select":
            methods = get | {"POST"} if kind is _NEURON else get
            return (lambda m, s, p, b, base: self._select(kind, m, p, b, base)), methods
        if n == 3 and action == "id":
            return (lambda m, s, p, b, base: self._by_id(kind, s[2], base)), get
        if n == 3 and action == "name" and kind in (_NEURON, _MORPH):
            return (lambda m, s, p, b, base: self._by_name(kind, s[2], base)), get
        if kind in (_NEURON, _LIT):
            if n == 2 and action == "fields":
                return (lambda *a: self._fields_list(kind)), get
            if n == 3 and action in ("fields", "partition"):
                part = action == "partition"
                return (lambda m, s, p, b, base: self._field_values(kind, s[2], p, part)), get
        return None

    # -- single objects
    def _by_id(self, kind: _Kind, raw: str, base: str) -> Reply:
        db = self.database
        if kind is _LIT:
            if not re.fullmatch(r"[0-9a-fA-F]{24}", raw):
                raise _HttpError(400, f"Invalid article id: {raw}")
            art = db.article(raw.lower())
            if art is None:
                raise _HttpError(404, kind[2])
            return Reply(200, [("Content-Type", _HAL)], self._article_json(art, base).encode())
        if kind is _NEURON and raw.endswith(".json"):
            raw = raw[: -len(".json")]  # Spring suffix pattern matching
        nid = _java_int(raw)
        if kind is _NEURON:
            rec = db.neuron_by_id(nid)
            if rec is None:
                raise _HttpError(404, kind[2])
            return Reply(200, [("Content-Type", _HAL)], self._neuron_json(rec, base).encode())
        if kind is _MORPH:
            return self._object_reply(kind, db.morphometry(nid))
        obj = db.pvec(nid)
        if obj is not None and self.options.pvec_body == "empty":
            return Reply(200, [("Content-Type", _JSON)], b"")
        return self._object_reply(kind, obj)

    def _object_reply(self, kind: _Kind, obj: Mapping[str, Any] | None) -> Reply:
        if obj is None:
            raise _HttpError(404, kind[2])
        return Reply(200, [("Content-Type", _JSON)], self._plain_json(kind[0], obj, "").encode())

    def _by_name(self, kind: _Kind, name: str, base: str) -> Reply:
        db = self.database
        if kind is _MORPH:
            return self._object_reply(kind, db.morphometry_by_name(name))
        rec = db.neuron_by_name(name)
        if rec is None and name.endswith(".json"):
            rec = db.neuron_by_name(name[: -len(".json")])
        if rec is None:
            raise _HttpError(404, kind[2])
        return Reply(200, [("Content-Type", _HAL)], self._neuron_json(rec, base).encode())

    # -- fields and partitions
    def _fields_list(self, kind: _Kind) -> Reply:
        if kind is _NEURON:
            names = [*NEURON_FIELDS[:-1], self.options.integrity_field_name]
            return self._json_reply({"Neuron Fields": names})
        return self._json_reply({"Literature Fields": list(LITERATURE_KEYS)})

    def _field_values(
        self, kind: _Kind, name: str, params: Mapping[str, list[str]], partition: bool
    ) -> Reply:
        coll = self._collection(kind)
        if kind is _NEURON and name in ("physical_integrity",):
            name = "Physical_Integrity"  # one official service spells it this way
        counts: dict[str, int] | None = None
        if partition:
            by_value = coll.partition(name)
            counts = by_value
            if self.options.partition_order == "count":
                order = sorted(by_value, key=lambda k: (-by_value[k], k))
                counts = {k: by_value[k] for k in order}
            values: list[str] = list(counts)
        else:
            values = coll.field_values(name)
            if self.options.fields_order == "value":
                values = sorted(values)
        total = len(values)
        given = any(v.strip() for v in params.get("size", ()))
        default = self.options.fields_page_size
        if given or default is not None:
            page, size = self._paging(params, default if default is not None else _DEFAULT_SIZE)
        else:
            page, size = max(0, self._int_param(params, "page", 0)), max(total, 1)
        chunk = values[page * size : (page + 1) * size]
        out: dict[str, Any] = {"field_name": name}
        out["fields"] = {k: counts[k] for k in chunk} if counts is not None else chunk
        out["page"] = {
            "size": size if (given or default is not None) else total,
            "totalPages": math.ceil(total / size),
            "totalElements": total,
            "number": page,
        }
        return self._json_reply(out)

    # -- listings and selects
    def _listing(
        self,
        kind: _Kind,
        params: Mapping[str, list[str]],
        base: str,
        select: tuple[list[int], list[tuple[str, str]]] | None,
    ) -> Reply:
        coll = self._collection(kind)
        page, size = self._paging(params)
        specs = parse_sort(params.get("sort", ()))
        coll.check_sort(specs)
        if select is None:
            positions = coll.sort(list(range(len(coll.records))), specs)
            extra: list[tuple[str, str]] = []
            href_base = f"{base}/api/{kind[0]}"
        else:
            positions, extra = select
            href_base = f"{base}/api/{kind[0]}/select"
        total = len(positions)
        total_pages = math.ceil(total / size)
        chunk = positions[page * size : (page + 1) * size]
        is_neuron_select = kind is _NEURON and select is not None
        if is_neuron_select and not chunk and self.options.zero_hits == "404":
            raise _HttpError(404, kind[2])
        is_bulk_select = kind in (_MORPH, _PVEC) and select is not None
        if is_bulk_select and not chunk and self.options.bulk_select_zero_hits == "404":
            raise _HttpError(404, kind[2])
        encode = self._encoder(kind)
        recs = coll.records
        items = [encode(recs[p], base) for p in chunk]
        server_time = len(items) * self.options.server_time_per_row
        parts = []
        if items:
            parts.append(f'"_embedded":{{"{kind[1]}":[{",".join(items)}]}}')
        if not is_neuron_select:
            links = self._links(
                href_base, extra, page, size, total_pages, self._sort_texts(kind, specs)
            )
            parts.append(f'"_links":{_dumps(links)}')
        parts.append(f'"page":{_dumps(self._page_obj(size, total, page))}')
        text = "{" + ",".join(parts) + "}"
        return Reply(200, [("Content-Type", _HAL)], text.encode(), server_time=server_time)

    def _select(
        self, kind: _Kind, method: str, params: dict[str, list[str]], body: bytes, base: str
    ) -> Reply:
        coll = self._collection(kind)
        specs = parse_sort(params.get("sort", ()))
        coll.check_sort(specs)
        if method == "POST":
            if not body.strip():
                raise _HttpError(400, "Required request body is missing")
            try:
                data = json.loads(body)
            except ValueError as exc:
                raise _HttpError(400, f"JSON parse error: {exc}") from None
            if not isinstance(data, dict):
                raise _HttpError(400, "JSON parse error: the body must be an object")
            positions = coll.select_post(data, sort=specs, ignore_case=self.options.ignore_case)
            extra: list[tuple[str, str]] = []
        else:
            qs = [v for v in params.get("q", ()) if v.strip()]
            q = qs[0] if qs else None
            fq = [v for v in params.get("fq", ()) if v.strip()]
            positions = coll.search(
                q,
                fq,
                join=self.options.clause_join,
                sort=specs,
                ignore_case=self.options.ignore_case,
            )
            extra = [("q", q)] if q is not None else []
            extra += [("fq", v) for v in fq]
        if kind in (_MORPH, _PVEC):
            if self.options.bulk_select_status is not None:
                status = self.options.bulk_select_status
                raise _HttpError(status, _REASONS.get(status, "Error"))
            omits = self.options.bulk_select_omits
            if omits:
                recs = coll.records
                positions = [p for p in positions if recs[p]["neuron_id"] not in omits]
        return self._listing(kind, params, base, select=(positions, extra))

    # ------------------------------------------------------------------ site and files

    def _site(self, method: str, path: str, hdrs: Mapping[str, str]) -> Reply:
        segs = [unquote(s, errors="replace") for s in path.split("/")[1:]]
        if path in ("/", "/index.jsp", "/index.html"):
            self._allow(method)
            html = (
                _DOWN
                if self.options.down
                else _HOME.format(count=f"{len(self.database.neurons):,}")
            )
            return Reply(200, [("Content-Type", "text/html;charset=UTF-8")], html.encode())
        if len(segs) >= 4 and segs[0] == "dableFiles":
            return self._dable(method, segs[1:], hdrs)
        if len(segs) == 4 and segs[:2] == ["images", "imageFiles"] and segs[3].endswith(".png"):
            rec = self.database.neuron_by_name(segs[3][: -len(".png")])
            if rec is not None and rec["archive"] == segs[2]:
                self._allow(method)
                return self._file(self.database.png(rec), "image/png", rec, hdrs)
        raise _HttpError(404, "The requested URL was not found on this server.")

    @staticmethod
    def _allow(method: str) -> None:
        if method not in ("GET", "HEAD"):
            raise _HttpError(
                405,
                f"The requested method {method} is not allowed for this URL.",
                [("Allow", "GET, HEAD")],
            )

    def _dable(self, method: str, segs: list[str], hdrs: Mapping[str, str]) -> Reply:
        db = self.database
        found: tuple[bytes | None, str, Mapping[str, Any]] | None = None
        if len(segs) == 3:
            archive, folder, leaf = segs
            if folder == "CNG version" and leaf.endswith(".CNG.swc"):
                rec = self._record(leaf[: -len(".CNG.swc")], archive)
                if rec is not None:
                    found = (db.swc(rec), "text/plain", rec)
            elif folder == "Standardization log" and leaf.endswith(".std"):
                rec = self._record(leaf[: -len(".std")], archive)
                if rec is not None:
                    found = (db.std_log(rec), "text/plain", rec)
            elif folder == "Remaining issues" and leaf.endswith(".CNG.swc.std"):
                rec = self._record(leaf[: -len(".CNG.swc.std")], archive)
                if rec is not None:
                    found = (db.remaining_issues(rec), "text/plain", rec)
            elif folder == "Source-Version" and "." in leaf:
                for cut in range(len(leaf)):
                    if leaf[cut] != ".":
                        continue
                    rec = self._record(leaf[:cut], archive)
                    if rec is not None and db.source_extension(rec) == leaf[cut + 1 :]:
                        ext = leaf[cut + 1 :]
                        ctype = (
                            "application/octet-stream"
                            if ext == "dat"
                            else "application/xml"
                            if ext.endswith("xml")
                            else "text/plain"
                        )
                        found = (db.source_file(rec), ctype, rec)
                        break
        elif segs[:2] == ["previous", "v6.1"] and len(segs) == 4 and segs[3] == "cnic_001.CNG.swc":
            rec = self._record("cnic_001", segs[2])
            if rec is not None:
                found = (db.swc(rec), "text/plain", rec)
        if found is None or found[0] is None:
            raise _HttpError(404, "The requested URL was not found on this server.")
        self._allow(method)
        return self._file(found[0], found[1], found[2], hdrs)

    def _record(self, name: str, archive_lower: str) -> Mapping[str, Any] | None:
        rec = self.database.neuron_by_name(name)
        if rec is None or rec["archive"].lower() != archive_lower:
            return None
        return rec

    @staticmethod
    def _file(body: bytes, ctype: str, rec: Mapping[str, Any], hdrs: Mapping[str, str]) -> Reply:
        """A static file the way Apache serves it: validators, conditional GET, one range."""
        day = datetime.date.fromisoformat(str(rec["upload_date"]))
        stamp = calendar.timegm(day.timetuple())
        etag = f'"{len(body):x}-{zlib.crc32(body):08x}"'
        headers = [
            ("Content-Type", ctype),
            ("Last-Modified", formatdate(stamp, usegmt=True)),
            ("ETag", etag),
            ("Accept-Ranges", "bytes"),
        ]
        inm = hdrs.get("if-none-match")
        if inm is not None and (inm.strip() == "*" or etag in [t.strip() for t in inm.split(",")]):
            return Reply(304, headers[1:], b"")
        rng = hdrs.get("range")
        if_range = hdrs.get("if-range")
        if rng is not None and (if_range is None or if_range.strip() in (etag, headers[1][1])):
            m = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", rng)
            if m and (m.group(1) or m.group(2)):
                size = len(body)
                if m.group(1):
                    start = int(m.group(1))
                    end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
                else:
                    start, end = max(0, size - int(m.group(2))), size - 1
                if start >= size or start > end:
                    return Reply(
                        416,
                        [("Content-Type", _HTML), ("Content-Range", f"bytes */{size}")],
                        _html_page(416, _REASONS[416], "Range not satisfiable."),
                    )
                headers.append(("Content-Range", f"bytes {start}-{end}/{size}"))
                return Reply(206, headers, body[start : end + 1])
        return Reply(200, headers, body)
