"""Write records into the mirror's tables (live or staging). Pure SQL, no network.

Every object is kept exactly as served, as compact JSON deflated against a dictionary of its
own table: the first object that table ever received, kept in ``meta`` (``zdict_<table>``)
and never changed afterwards, so equal objects always give equal bytes. Small records share
most of their text (every key, most values) with that first one, so this takes a neuron
record from about 1,270 bytes to 290 and a morphometry object from 455 to 140.
"""

# SQL here interpolates only table names from fixed lists and column names the mirror made
# itself (c1, r1, ...: validated when read back); every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import json
import math
import sqlite3
import threading
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

from neuromorpho_api._mirror._errors import REBUILD_HINT, MirrorCorruptError
from neuromorpho_api._mirror._schema import Columns, get_meta, set_meta

__all__ = [
    "Codec",
    "dumps",
    "insert_neuron",
    "insert_neurons",
    "insert_object",
    "partition_counts",
    "refresh_counts",
    "text_of",
]

_WBITS = -15  # raw deflate: no header or checksum to store 265k times (SQLite checks pages)
_LEVEL = 9
_TABLES = ("neurons", "morphometry", "pvec", "literature")


def dumps(obj: Any) -> str:
    """Compact JSON that keeps key order and non-ASCII text as is."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


class Codec:
    """Pack objects into the mirror's stored form and back (see the module docstring)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self._dicts: dict[str, bytes] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _table(table: str) -> str:
        base = table[len("stage_") :] if table.startswith("stage_") else table
        if base not in _TABLES:
            raise ValueError(f"no stored objects in table {table!r}")
        return base

    def _dict(self, table: str) -> bytes | None:
        with self._lock:
            found = self._dicts.get(table)
            if found is None:
                text = get_meta(self.db, f"zdict_{table}")
                if text is not None:
                    found = self._dicts[table] = text.encode("utf-8")
            return found

    def pack(self, table: str, obj: Any) -> bytes:
        """The stored bytes of ``obj`` for ``table`` (live or ``stage_``); call inside a write
        transaction, as the table's first object becomes its dictionary."""
        table = self._table(table)
        text = dumps(obj).encode("utf-8")
        zdict = self._dict(table)
        if zdict is None:
            set_meta(self.db, f"zdict_{table}", text.decode("utf-8"))
            zdict = self._dicts[table] = text
        packer = zlib.compressobj(_LEVEL, zlib.DEFLATED, _WBITS, zdict=zdict)
        return packer.compress(text) + packer.flush()

    def _inflate(self, zdict: bytes | None, blob: Any) -> bytes:
        if zdict is None or not isinstance(blob, bytes):
            raise ValueError("no dictionary for a packed object")
        unpacker = zlib.decompressobj(_WBITS, zdict=zdict)
        return unpacker.decompress(blob) + unpacker.flush()

    def unpack(self, table: str, blob: bytes) -> Any:
        """The object stored as ``blob`` in ``table``."""
        zdict = self._dict(self._table(table))
        try:
            return json.loads(self._inflate(zdict, blob))
        except (ValueError, zlib.error) as exc:
            raise MirrorCorruptError(
                f"a stored object of the mirror is damaged ({exc}); {REBUILD_HINT}"
            ) from None

    def unpack_many(self, table: str, blobs: list[Any]) -> list[Any]:
        """The objects stored as ``blobs``, in order.

        Decoded as one JSON array, which shares the key strings between records and so
        takes half the time of decoding them one by one; a batch that does not give exactly
        one object per blob is decoded one by one, which names the damage.
        """
        zdict = self._dict(self._table(table))
        try:
            texts = [self._inflate(zdict, blob) for blob in blobs]
            objects = json.loads(b"[" + b",".join(texts) + b"]")
        except (ValueError, zlib.error):
            objects = None
        if not isinstance(objects, list) or len(objects) != len(blobs):
            return [self.unpack(table, blob) for blob in blobs]
        return objects


def text_of(value: Any) -> str | None:
    """The text a scalar is matched as: strings as they are, JSON for anything else."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return dumps(value)


def _real(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def insert_neuron(
    db: sqlite3.Connection,
    columns: Columns,
    codec: Codec,
    prefix: str,
    record: Mapping[str, Any],
) -> None:
    """Insert or replace one neuron record; see :func:`insert_neurons`."""
    insert_neurons(db, columns, codec, prefix, [record])


def insert_neurons(
    db: sqlite3.Connection,
    columns: Columns,
    codec: Codec,
    prefix: str,
    records: Sequence[Mapping[str, Any]],
) -> None:
    """Insert or replace neuron records (``_links`` already dropped) in ``{prefix}neurons``.

    Call inside a write transaction. Records with the same keys in the same order (nearly
    all of a page) share one statement.
    """
    shapes: dict[tuple[str, ...], tuple[list[str], list[tuple[str, str | None]]]] = {}
    batches: dict[tuple[str, ...], list[list[Any]]] = {}
    elements: list[tuple[str, str, int, int]] = []
    table = f"{prefix}neurons"
    records = list({record["neuron_id"]: record for record in records}.values())  # last wins
    for record in records:
        shape = tuple(record)
        plan = shapes.get(shape)
        if plan is None:
            for key, value in record.items():
                columns.ensure(key, value)
            plan = shapes[shape] = _plan(columns, record)
        for key, value in record.items():
            if isinstance(value, list) and columns.kind[key] != "list":
                columns.ensure(key, value)  # a list where scalars came so far
                plan = shapes[shape] = _plan(columns, record)
        nid = record["neuron_id"]
        row: list[Any] = [nid, str(nid), codec.pack(table, dict(record))]
        names, sources = plan
        for key, kind in sources:
            value = record[key]
            if kind is None:  # a list field: one row per element
                items = value if isinstance(value, list) else ([] if value is None else [value])
                col = columns.col[key]
                for pos, item in enumerate(items):
                    text = text_of(item)
                    if text is not None:
                        elements.append((col, text, nid, pos))
            elif kind == "text":
                row.append(text_of(value))
            else:
                row.append(_real(value))
        batches.setdefault(shape, []).append(row)
    ids = [(record["neuron_id"],) for record in records]
    db.executemany(f"DELETE FROM {prefix}neuron_values WHERE neuron_id = ?", ids)
    for shape, rows in batches.items():
        names = shapes[shape][0]
        marks = ",".join("?" * len(names))
        db.executemany(f"INSERT OR REPLACE INTO {table} ({','.join(names)}) VALUES ({marks})", rows)
    db.executemany(
        f"INSERT OR IGNORE INTO {prefix}neuron_values (col, value, neuron_id, pos) "
        "VALUES (?, ?, ?, ?)",
        elements,
    )


def _plan(
    columns: Columns, record: Mapping[str, Any]
) -> tuple[list[str], list[tuple[str, str | None]]]:
    """(SQL columns, (key, ``"text"``/``"real"``/``None`` for list elements) per value)."""
    names = ["neuron_id", "id_text", "raw"]
    sources: list[tuple[str, str | None]] = []
    for key in record:
        if columns.kind[key] == "list":
            sources.append((key, None))
            continue
        names.append(columns.col[key])
        sources.append((key, "text"))
        num = columns.num.get(key)
        if num is not None:
            names.append(num)
            sources.append((key, "real"))
    return names, sources


def insert_object(
    db: sqlite3.Connection,
    codec: Codec,
    table: str,
    key: Any,
    obj: Mapping[str, Any] | None,
    name: str | None = None,
) -> None:
    """Insert or replace one morphometry, pvec or literature object, keyed by ``key``."""
    raw = codec.pack(table, None if obj is None else dict(obj))
    if table.endswith("morphometry"):
        db.execute(
            f"INSERT OR REPLACE INTO {table} (neuron_id, neuron_name, raw) VALUES (?, ?, ?)",
            (key, name, raw),
        )
    elif table.endswith("literature"):
        db.execute(f"INSERT OR REPLACE INTO {table} (article_id, raw) VALUES (?, ?)", (key, raw))
    else:
        db.execute(f"INSERT OR REPLACE INTO {table} (neuron_id, raw) VALUES (?, ?)", (key, raw))


def partition_counts(
    db: sqlite3.Connection, columns: Columns, key: str, prefix: str = ""
) -> dict[str, int]:
    """Value -> number of neurons holding it, for record ``key`` (any element of a list)."""
    col = columns.col.get(key)
    if col is None:
        return {}
    if columns.kind[key] == "scalar":
        rows = db.execute(
            f"SELECT {col}, count(*) FROM {prefix}neurons WHERE {col} IS NOT NULL GROUP BY {col}"
        )
    else:
        rows = db.execute(
            f"SELECT value, count(DISTINCT neuron_id) FROM {prefix}neuron_values "
            "WHERE col = ? GROUP BY value",
            (col,),
        )
    return {str(v): int(n) for v, n in rows}


def refresh_counts(db: sqlite3.Connection, columns: Columns) -> None:
    """Recount ``value_counts`` from the live tables; call inside the merge's transaction.

    A list's elements are unique per (value, neuron, position), so per position ``count(*)``
    counts neurons.
    """
    db.execute("DELETE FROM value_counts")
    db.execute(
        "INSERT INTO value_counts (col, pos, value, n) SELECT col, -1, value, "
        "count(DISTINCT neuron_id) FROM neuron_values GROUP BY col, value"
    )
    db.execute(
        "INSERT INTO value_counts (col, pos, value, n) SELECT col, pos, value, count(*) "
        "FROM neuron_values WHERE pos < 3 GROUP BY col, pos, value"
    )
    for key, col in columns.col.items():
        if columns.kind[key] == "scalar":
            db.execute(
                f"INSERT INTO value_counts (col, pos, value, n) SELECT ?, -1, {col}, count(*) "
                f"FROM neurons WHERE {col} IS NOT NULL GROUP BY {col}",
                (col,),
            )
