"""``Mirror``: answer the client's questions from a synced mirror file, sending no request.

This module is long because ``Mirror`` answers the client's whole query surface (fields,
values, counts, searches, single neurons, morphometry, pvec, literature) from one file.
"""

# SQL here interpolates only table names from fixed lists and column names the mirror made
# itself (c1, r1, ...: validated when read back); every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import datetime
import json
import os
import sqlite3
import threading
import warnings
import weakref
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from typing import Any

from neuromorpho_api import _parse, _query
from neuromorpho_api._errors import ArticleNotFound, NeuronNotFound, UnknownFieldError
from neuromorpho_api._mirror import _records, _schema, _sql
from neuromorpho_api._mirror._errors import (
    REBUILD_HINT,
    MirrorCorruptError,
    MirrorError,
    MirrorVersionError,
    OfflineUnsupportedError,
    StaleMirrorWarning,
)

__all__ = ["STALE_AFTER", "Mirror"]

STALE_AFTER = datetime.timedelta(days=30)
_MAX_ID = 2**31 - 1


def _fold(value: str | None) -> str | None:
    return value.casefold() if isinstance(value, str) else value


class Mirror:
    """Read-only view of a mirror file: the client's query methods, answered offline.

    Args:
        path: The mirror file, as written by :func:`~neuromorpho_api._mirror.sync`.

    Raises:
        MirrorError: No mirror at ``path``, or it was never completely synced.
        MirrorCorruptError: The file is damaged or another program's database.
        MirrorVersionError: The file's schema is older (sync to migrate it) or newer than
            this version reads.

    Answers equal the server's for the same criteria: the same records in the same order
    (``neuron_id`` compared as text), the same counts. A query the mirror cannot answer
    exactly raises :class:`OfflineUnsupportedError` naming the clause. Opening a mirror
    whose last sync is older than 30 days warns once with :class:`StaleMirrorWarning`.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._db = _schema.connect(self.path, readonly=True)
        self._lock = threading.RLock()
        try:
            state = _schema.validate(self._db, self.path)
            if state == "older":
                raise MirrorVersionError(
                    f"{self.path} has an older mirror schema; run `neuromorpho sync` to migrate it"
                )
            if state == "empty" or self._meta("synced_at") is None:
                raise MirrorError(
                    f"{self.path} holds no complete sync yet: run `neuromorpho sync` first"
                )
            self._columns = _schema.Columns(self._db)
            self._codec = _records.Codec(self._db)
            self._fields = json.loads(self._meta("neuron_fields") or "[]")
            self._case: _sql.CaseMode = self._meta("case_sensitive") or "unknown"  # type: ignore[assignment]
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise MirrorCorruptError(f"{self.path} is damaged ({exc}); {REBUILD_HINT}") from None
        except BaseException:
            self._db.close()
            raise
        self._db.create_function("nm_fold", 1, _fold, deterministic=True)
        # Closed when the mirror is dropped or at exit, whoever still reads from it last (a
        # search result outlives its client); Python 3.13 warns about unclosed databases.
        weakref.finalize(self, self._db.close)
        age = datetime.datetime.now(datetime.timezone.utc) - self.synced_at
        if age > STALE_AFTER:
            warnings.warn(
                f"the mirror {self.path} was last synced {age.days} days ago; "
                "run `neuromorpho sync` to refresh it",
                StaleMirrorWarning,
                stacklevel=2,
            )

    def __repr__(self) -> str:
        return f"Mirror({self.path!r})"

    def close(self) -> None:
        """Close the file."""
        self._db.close()

    def __enter__(self) -> Mirror:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ---------------------------------------------------------------------------

    def _meta(self, key: str) -> str | None:
        return _schema.get_meta(self._db, key)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.OperationalError:
                raise
            except sqlite3.DatabaseError as exc:
                raise MirrorCorruptError(
                    f"{self.path} is damaged ({exc}); {REBUILD_HINT}"
                ) from None

    @property
    def synced_at(self) -> datetime.datetime:
        """When the last complete sync finished (UTC)."""
        text = self._meta("synced_at")
        assert text is not None
        return datetime.datetime.fromisoformat(text)

    @property
    def source(self) -> str:
        """Base URL of the server the mirror was synced from."""
        return self._meta("source") or ""

    @property
    def server_total(self) -> int:
        """How many neurons the server listed at the last complete sync."""
        return int(self._meta("server_total") or 0)

    def info(self) -> dict[str, str]:
        """Everything in the mirror's meta table (source, counts, sync time, settled semantics)."""
        return {str(k): str(v) for k, v in self._rows("SELECT key, value FROM meta ORDER BY key")}

    # -- fields -----------------------------------------------------------------------------

    def fields(self) -> list[str]:
        """The server's neuron field list, as ``/api/neuron/fields`` gave it at sync time."""
        return list(self._fields)

    def _known(self) -> list[str]:
        return [*self._fields, *_query.EXTRA_FIELDS]

    def _storage(self, field: str, clause: str) -> tuple[str, str, int | None]:
        """(record key, ``scalar``/``list``/``id``, element position) of a searchable field."""
        if field == "neuron_id":
            return field, "id", None
        base, pos = field, None
        if field in _query.EXTRA_FIELDS:
            base, pos = field[:-2], int(field[-1]) - 1
        key = base if base in self._columns.col else None
        if key is None:
            same = [k for k in self._columns.col if k.casefold() == base.casefold()]
            if len(same) == 1:
                key = same[0]
        if key is None:
            raise OfflineUnsupportedError(
                clause, f"no record carries the field {base!r}, so its meaning is unknown"
            )
        kind = self._columns.kind[key]
        if pos is not None and kind != "list":
            raise OfflineUnsupportedError(clause, f"{base!r} holds no lists in the mirror")
        return key, kind, pos

    def _counts(self, field: str) -> dict[str, int]:
        field = _query.resolve_field(field, self._known())
        key, kind, pos = self._storage(field, field)
        if kind == "id":
            return {r[0]: 1 for r in self._rows("SELECT id_text FROM neurons")}
        col = self._columns.col[key]
        rows = self._rows(
            "SELECT value, n FROM value_counts WHERE col = ? AND pos = ?",
            (col, -1 if pos is None else pos),
        )
        return {str(v): int(n) for v, n in rows}

    def _order(self, what: str) -> str:
        """How the server orders ``what`` (``values``/``partition``), as settled at sync time."""
        order = self._meta(f"{what}_order")
        if order == "verified":  # written by earlier versions: the one order they knew
            order = "count" if what == "values" else "value"
        if order not in ("value", "count"):
            raise OfflineUnsupportedError(
                f"{what}()",
                f"the server's order of {what} was not confirmed at sync time "
                "(see the mirror's sync report)",
            )
        return order

    def _ordered(self, what: str, field: str) -> list[tuple[str, int]]:
        order = self._order(what)
        counts = self._counts(field)
        if order == "count":
            return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return sorted(counts.items())

    def stored_values(self, field: str) -> list[str]:
        """Every distinct value of ``field``, in no promised order (for checking values)."""
        return list(self._counts(field))

    def values(self, field: str) -> list[str]:
        """Every distinct value of ``field``, in the server's order (settled at sync time)."""
        return [value for value, _ in self._ordered("values", field)]

    def partition(self, field: str) -> dict[str, int]:
        """Number of neurons for each value of ``field``, in the server's order."""
        return dict(self._ordered("partition", field))

    # -- search -----------------------------------------------------------------------------

    def _where(
        self,
        criteria: Mapping[str, _query.CriterionValue] | None,
        q: str | None,
        fq: str | Sequence[str],
        keywords: Mapping[str, _query.CriterionValue],
    ) -> tuple[str, list[Any]]:
        merged = _query.merge_criteria(criteria, keywords)
        clauses = _query.build_clauses(merged, self._known()) if merged else []
        return self.where_of(_query.select_params(clauses, q, fq))

    def where_of(self, params: Mapping[str, str | Sequence[str]]) -> tuple[str, list[Any]]:
        """The SQL condition (over ``neurons n``) and its arguments for built ``q``/``fq``."""
        fq = params.get("fq", [])
        texts = [*([params["q"]] if "q" in params else []), *([fq] if isinstance(fq, str) else fq)]
        parts: list[str] = []
        args: list[Any] = []
        for text in texts:
            assert isinstance(text, str)
            parsed = _sql.parse_clause(text)
            if not isinstance(parsed, _sql.Clause):
                continue
            if parsed.field not in self._known():
                raise UnknownFieldError(parsed.field)
            sql, sql_args = self._clause_sql(parsed, self._case)
            if self._case == "unknown":
                self._check_case(parsed, sql, sql_args)
            parts.append(sql)
            args.extend(sql_args)
        return (" AND ".join(parts) if parts else "1"), args

    def _clause_sql(self, clause: _sql.Clause, case: _sql.CaseMode) -> tuple[str, list[Any]]:
        key, kind, pos = self._storage(clause.field, clause.text)
        fold = case == "insensitive"
        ors: list[str] = []
        args: list[Any] = []
        for value in clause.values:
            if kind == "id":
                if isinstance(value, _sql.Exists):
                    ors.append("1")
                elif (
                    isinstance(value, _sql.Exact)
                    and value.text.isdigit()
                    and (value.text == str(int(value.text)))
                ):
                    ors.append("n.neuron_id = ?")
                    args.append(int(value.text))
                else:
                    raise OfflineUnsupportedError(
                        clause.text, "neuron_id takes whole numbers (or *) offline"
                    )
                continue
            col = self._columns.col[key]
            if kind == "scalar":
                target = f"nm_fold(n.{col})" if fold else f"n.{col}"
                if isinstance(value, _sql.Exists):
                    ors.append(f"n.{col} IS NOT NULL")
                elif isinstance(value, _sql.Exact):
                    ors.append(f"{target} = ?")
                    args.append(value.text.casefold() if fold else value.text)
                else:
                    ors.append(f"{target} GLOB ?")
                    args.append(_sql.to_glob(value.pieces, fold))
                continue
            where = ["col = ?"]
            args.append(col)
            if pos is not None:
                where.append(f"pos = {pos}")
            target = "nm_fold(value)" if fold else "value"
            if isinstance(value, _sql.Exact):
                where.append(f"{target} = ?")
                args.append(value.text.casefold() if fold else value.text)
            elif isinstance(value, _sql.Wild):
                where.append(f"{target} GLOB ?")
                args.append(_sql.to_glob(value.pieces, fold))
            ors.append(
                f"n.neuron_id IN (SELECT neuron_id FROM neuron_values WHERE {' AND '.join(where)})"
            )
        return "(" + " OR ".join(ors) + ")", args

    def _check_case(self, clause: _sql.Clause, sql: str, args: list[Any]) -> None:
        """Refuse a clause whose answer depends on the server's (unknown) case handling."""
        texts = [v.text for v in clause.values if isinstance(v, _sql.Exact)] + [
            "".join(c for c, _ in v.pieces) for v in clause.values if isinstance(v, _sql.Wild)
        ]
        if all(t.upper() == t.lower() for t in texts):
            return  # nothing in it has case
        folded_sql, folded_args = self._clause_sql(clause, "insensitive")
        exact = self._rows(f"SELECT count(*) FROM neurons n WHERE {sql}", args)[0][0]
        loose = self._rows(f"SELECT count(*) FROM neurons n WHERE {folded_sql}", folded_args)[0][0]
        if exact != loose:
            raise OfflineUnsupportedError(
                clause.text,
                "it matches values that differ only in letter case, and whether the server "
                "matches case-insensitively was not settled at sync time",
            )

    def count(
        self,
        criteria: Mapping[str, _query.CriterionValue] | None = None,
        /,
        *,
        q: str | None = None,
        fq: str | Sequence[str] = (),
        **criteria_kw: _query.CriterionValue,
    ) -> int:
        """How many neurons match; arguments as :meth:`search`."""
        return self.count_where(self._where(criteria, q, fq, criteria_kw))

    def search(
        self,
        criteria: Mapping[str, _query.CriterionValue] | None = None,
        /,
        *,
        q: str | None = None,
        fq: str | Sequence[str] = (),
        limit: int | None = None,
        **criteria_kw: _query.CriterionValue,
    ) -> Iterator[dict[str, Any]]:
        """The records of every matching neuron, in the server's order (``neuron_id`` as text).

        Criteria, ``q``, ``fq`` and ``limit`` as in :meth:`NeuroMorpho.search`. Checked
        at call time: unknown fields raise :class:`UnknownFieldError`, clauses the mirror
        cannot answer exactly :class:`OfflineUnsupportedError`.
        """
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
            raise TypeError(f"limit must be an int or None, not {type(limit).__name__}")
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        return self.select(self._where(criteria, q, fq, criteria_kw), limit).records()

    def select(self, where: tuple[str, list[Any]], limit: int | None = None) -> OfflineRecords:
        """The records matching a condition from :meth:`where_of`, as :class:`OfflineRecords`."""
        return OfflineRecords(self, where, limit)

    def count_where(self, where: tuple[str, list[Any]]) -> int:
        """How many neurons meet a condition from :meth:`where_of`."""
        sql, args = where
        return int(self._rows(f"SELECT count(*) FROM neurons n WHERE {sql}", args)[0][0])

    def _stream(
        self, table: str, sql: str, args: Sequence[Any]
    ) -> Generator[dict[str, Any], None, None]:
        """Run ``sql`` now (errors surface at call time), then yield its records lazily."""
        with self._lock:
            cursor = self._db.execute(sql, args)
            first = cursor.fetchmany(500)
        return self._drain(table, cursor, first)

    def _drain(
        self, table: str, cursor: sqlite3.Cursor, batch: list[Any]
    ) -> Generator[dict[str, Any], None, None]:
        unpack = self._codec.unpack_many
        try:
            while batch:
                yield from unpack(table, [raw for (raw,) in batch])
                with self._lock:
                    batch = cursor.fetchmany(500)
        finally:
            cursor.close()

    # -- single neurons ---------------------------------------------------------------------

    def _id_of(self, id_or_name: int | str) -> int:
        if isinstance(id_or_name, bool) or not isinstance(id_or_name, (int, str)):
            raise TypeError(
                f"expected a neuron id (int) or name (str), not {type(id_or_name).__name__}"
            )
        if isinstance(id_or_name, int):
            if not 0 < id_or_name <= _MAX_ID:
                raise NeuronNotFound(id_or_name)
            return id_or_name
        if not id_or_name:
            raise ValueError("empty neuron name")
        col = self._columns.col.get("neuron_name")
        rows = (
            []
            if col is None
            else self._rows(f"SELECT neuron_id FROM neurons WHERE {col} = ?", (id_or_name,))
        )
        if len(rows) == 1:
            return int(rows[0][0])
        if col is not None and not rows:
            loose = self._rows(
                f"SELECT count(*) FROM neurons WHERE nm_fold({col}) = ?", (id_or_name.casefold(),)
            )[0][0]
            if loose:
                raise OfflineUnsupportedError(
                    f"neuron_name:{id_or_name}",
                    "only names differing in letter case exist, and how the server looks up "
                    "names case-insensitively is unknown",
                )
        raise NeuronNotFound(id_or_name)

    def neuron(self, id_or_name: int | str) -> dict[str, Any]:
        """The record of one neuron by id (``int``) or name (``str``), exactly as served.

        Raises :class:`NeuronNotFound` if the mirror has none.
        """
        nid = self._id_of(id_or_name)
        rows = self._rows("SELECT raw FROM neurons WHERE neuron_id = ?", (nid,))
        if not rows:
            raise NeuronNotFound(id_or_name)
        return dict(self._codec.unpack("neurons", rows[0][0]))

    def _synced(self, what: str) -> None:
        if self._meta(f"has_{what}") != "1":
            raise MirrorError(
                f"the mirror at {self.path} was synced without {what}; "
                f"sync it with {what}=True (`neuromorpho sync --{what}`)"
            )

    def morphometry(self, id_or_name: int | str) -> dict[str, Any]:
        """Morphometric measurements of one neuron, as :meth:`NeuroMorpho.morphometry` gives."""
        self._synced("morphometry")
        if isinstance(id_or_name, str) and id_or_name:
            rows = self._rows("SELECT raw FROM morphometry WHERE neuron_name = ?", (id_or_name,))
        else:
            rows = self._rows(
                "SELECT raw FROM morphometry WHERE neuron_id = ?", (self._id_of(id_or_name),)
            )
        if not rows:
            raise NeuronNotFound(id_or_name, f"no morphometry for neuron {id_or_name!r}")
        return _parse.parse_measurements(self._codec.unpack("morphometry", rows[0][0]))

    def morphometry_many(
        self, ids_or_records: Iterable[int | Mapping[str, Any]]
    ) -> dict[int, dict[str, Any]]:
        """Measurements keyed by ``neuron_id``; neurons without any are absent."""
        self._synced("morphometry")
        return self._many("morphometry", ids_or_records, _parse.parse_measurements)

    def pvec(self, neuron_id: int) -> dict[str, Any] | None:
        """The persistence vector of one neuron (``None`` where the server sent an empty body)."""
        self._synced("pvec")
        rows = self._rows("SELECT raw FROM pvec WHERE neuron_id = ?", (self._id_of(neuron_id),))
        if not rows:
            raise NeuronNotFound(neuron_id, f"no persistence vector for neuron {neuron_id!r}")
        doc = self._codec.unpack("pvec", rows[0][0])
        return None if doc is None else dict(doc)

    def pvec_many(
        self, ids_or_records: Iterable[int | Mapping[str, Any]]
    ) -> dict[int, dict[str, Any]]:
        """Persistence vectors keyed by ``neuron_id``; neurons without one are absent."""
        self._synced("pvec")
        return self._many("pvec", ids_or_records, lambda doc: doc)

    def _many(
        self, table: str, ids_or_records: Iterable[int | Mapping[str, Any]], parse: Any
    ) -> dict[int, dict[str, Any]]:
        from neuromorpho_api._bulk import neuron_ids

        ids = neuron_ids(ids_or_records)
        out: dict[int, dict[str, Any]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for nid, raw in self._rows(
                f"SELECT neuron_id, raw FROM {table} WHERE neuron_id IN ({marks})", chunk
            ):
                doc = self._codec.unpack(table, raw)
                if doc is not None:
                    out[int(nid)] = parse(doc)
        return {nid: out[nid] for nid in ids if nid in out}

    # -- literature -------------------------------------------------------------------------

    def literature(
        self, article_id: str | None = None, /, *, limit: int | None = None
    ) -> dict[str, Any] | Iterator[dict[str, Any]]:
        """One article by id, or every article in ``article_id`` order (no criteria offline)."""
        if article_id is not None:
            return self.article(article_id)
        return self.articles(limit).records()

    def article(self, article_id: str) -> dict[str, Any]:
        """One article by id; :class:`ArticleNotFound` if the mirror has none."""
        self._synced("literature")
        rows = self._rows("SELECT raw FROM literature WHERE article_id = ?", (article_id,))
        if not rows:
            raise ArticleNotFound(article_id)
        return dict(self._codec.unpack("literature", rows[0][0]))

    def articles(self, limit: int | None = None) -> OfflineRecords:
        """Every article in ``article_id`` order, as :class:`OfflineRecords`."""
        self._synced("literature")
        return OfflineRecords(
            self, ("1", []), limit, table="literature", order="article_id", ident="article_id"
        )


class OfflineRecords:
    """The records of one offline query, in the server's order: what a search result wraps.

    The query was checked when this was made; :meth:`count` and :meth:`records` run it (the
    records lazily, from one cursor), and :attr:`preview` holds the first few once counted.
    """

    def __init__(
        self,
        mirror: Mirror,
        where: tuple[str, list[Any]],
        limit: int | None,
        *,
        table: str = "neurons",
        order: str = "id_text",
        ident: str = "neuron_id",
    ) -> None:
        self.mirror = mirror
        self.where = where
        self.limit = limit
        self.table = table
        self.order = order
        self.ident = ident
        self.total: int | None = None
        self.preview: list[dict[str, Any]] = []

    def _sql(self, what: str) -> str:
        return f"SELECT {what} FROM {self.table} n WHERE {self.where[0]}"

    def count(self) -> int:
        """How many records the query gives (capped at ``limit``)."""
        if self.total is None:
            args = self.where[1]
            self.total = int(self.mirror._rows(self._sql("count(*)"), args)[0][0])
            first = f"{self._sql('raw')} ORDER BY {self.order} LIMIT 5"
            self.preview = list(self.mirror._stream(self.table, first, args))
        return self.total if self.limit is None else min(self.total, self.limit)

    def records(self) -> Generator[dict[str, Any], None, None]:
        """Every matching record in the server's order, at most ``limit``."""
        text = f"{self._sql('raw')} ORDER BY {self.order}"
        if self.limit is not None:
            text += f" LIMIT {int(self.limit)}"
        return self.mirror._stream(self.table, text, self.where[1])
