"""Write records into the mirror's tables (live or staging). Pure SQL, no network."""

# SQL here interpolates only table names from fixed lists and column names the mirror made
# itself (c1, r1, ...: validated when read back); every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Mapping
from typing import Any

from neuromorpho_api._mirror._schema import Columns

__all__ = ["dumps", "insert_neuron", "insert_object", "text_of"]


def dumps(obj: Any) -> str:
    """Compact JSON that keeps key order and non-ASCII text as is."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


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
    db: sqlite3.Connection, columns: Columns, prefix: str, record: Mapping[str, Any]
) -> None:
    """Insert or replace one neuron record (``_links`` already dropped) into ``{prefix}neurons``.

    Call inside a write transaction.
    """
    nid = record["neuron_id"]
    for key, value in record.items():
        columns.ensure(key, value)
    names = ["neuron_id", "id_text", "raw"]
    values: list[Any] = [nid, str(nid), dumps(dict(record))]
    elements: list[tuple[str, str, int, int]] = []
    for key, value in record.items():
        col = columns.col[key]
        if columns.kind[key] == "list":
            items = value if isinstance(value, list) else ([] if value is None else [value])
            for pos, item in enumerate(items):
                text = text_of(item)
                if text is not None:
                    elements.append((col, text, nid, pos))
            continue
        names.append(col)
        values.append(text_of(value))
        num = columns.num.get(key)
        if num is not None:
            names.append(num)
            values.append(_real(value))
    db.execute(f"DELETE FROM {prefix}neuron_values WHERE neuron_id = ?", (nid,))
    marks = ",".join("?" * len(names))
    db.execute(
        f"INSERT OR REPLACE INTO {prefix}neurons ({','.join(names)}) VALUES ({marks})", values
    )
    db.executemany(
        f"INSERT OR IGNORE INTO {prefix}neuron_values (col, value, neuron_id, pos) "
        "VALUES (?, ?, ?, ?)",
        elements,
    )


def insert_object(
    db: sqlite3.Connection, table: str, key: Any, obj: Mapping[str, Any], name: str | None = None
) -> None:
    """Insert or replace one morphometry, pvec or literature object, keyed by ``key``."""
    raw = dumps(dict(obj))
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
