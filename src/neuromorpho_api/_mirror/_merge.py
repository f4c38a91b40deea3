"""Merge a finished sync's staging into the live tables, atomically for readers.

One transaction moves every staged neuron in, removes the neurons the plan covered that did
not come back, keeps morphometry, pvec and literature in step, recounts ``value_counts`` and
stamps ``meta``: a reader sees the last complete sync or this one, never a mixture.
"""

# SQL here interpolates only table names from fixed lists and column names the mirror made
# itself (c1, r1, ...: validated when read back); every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import contextlib
import datetime
import sqlite3
from typing import Any

from neuromorpho_api._mirror._records import dumps, refresh_counts
from neuromorpho_api._mirror._schema import Columns, rollback, set_meta

__all__ = ["compact", "merge", "merge_objects", "write_meta"]

PAGE = 500
_TABLE = {"morphometry": "morphometry", "pvec": "pvec", "literature": "literature"}


def merge(
    db: sqlite3.Connection, columns: Columns, plan: dict[str, Any], source: str
) -> tuple[int, int, int]:
    """Move staging into the live tables in one transaction; (added, updated, removed).

    ``source`` is the base URL synced from, kept in ``meta``.
    """
    db.execute("CREATE TEMP TABLE IF NOT EXISTS affected (neuron_id INTEGER PRIMARY KEY)")
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("DELETE FROM affected")
        if plan["full"]:
            db.execute("INSERT INTO affected SELECT neuron_id FROM neurons")
        else:
            for name, values in plan["changed"].items():
                key = columns.key_for(name)
                if key is None or not values:
                    continue
                col = columns.col[key]
                marks = ",".join("?" * len(values))
                db.execute(
                    f"INSERT OR IGNORE INTO affected SELECT neuron_id FROM neurons "
                    f"WHERE {col} IN ({marks})",
                    values,
                )
        db.execute("INSERT OR IGNORE INTO affected SELECT neuron_id FROM stage_neurons")
        added = db.execute(
            "SELECT count(*) FROM stage_neurons WHERE neuron_id NOT IN "
            "(SELECT neuron_id FROM neurons)"
        ).fetchone()[0]
        updated = db.execute(
            "SELECT count(*) FROM stage_neurons s JOIN neurons n USING (neuron_id) "
            "WHERE s.raw != n.raw"
        ).fetchone()[0]
        removed = db.execute(
            "SELECT count(*) FROM affected WHERE neuron_id IN (SELECT neuron_id FROM neurons) "
            "AND neuron_id NOT IN (SELECT neuron_id FROM stage_neurons)"
        ).fetchone()[0]
        gone = "SELECT neuron_id FROM affected"
        db.execute(f"DELETE FROM neurons WHERE neuron_id IN ({gone})")
        db.execute(f"DELETE FROM neuron_values WHERE neuron_id IN ({gone})")
        cols = ",".join(["neuron_id", "id_text", "raw", *columns.scalar_columns()])
        db.execute(f"INSERT INTO neurons ({cols}) SELECT {cols} FROM stage_neurons")
        db.execute("INSERT INTO neuron_values SELECT * FROM stage_neuron_values")
        merge_objects(db, plan)
        refresh_counts(db, columns)
        write_meta(db, plan, source)
        for table in ("neurons", "neuron_values", "morphometry", "pvec", "literature"):
            db.execute(f"DELETE FROM stage_{table}")
        db.execute("DELETE FROM stage_seen")
        db.execute("DELETE FROM sync_state")
        db.execute("COMMIT")
    except BaseException:
        rollback(db)
        raise
    return int(added), int(updated), int(removed)


def merge_objects(db: sqlite3.Connection, plan: dict[str, Any]) -> None:
    """Morphometry, pvec and literature: replaced whole, or kept in step with the neurons."""
    kinds = {t.get("collection"): t["kind"] for t in plan["tasks"]}
    for name, table in _TABLE.items():
        kind = kinds.get(name)
        if kind == "objects":
            db.execute(f"DELETE FROM {table}")
        elif name != "literature":
            # drop what belongs to removed or re-fetched neurons; keep the rest
            refetched: list[int] = next(
                (t.get("ids", []) for t in plan["tasks"] if t.get("collection") == name), []
            )
            db.execute(
                f"DELETE FROM {table} WHERE neuron_id NOT IN (SELECT neuron_id FROM neurons)"
            )
            for start in range(0, len(refetched), PAGE):
                chunk = refetched[start : start + PAGE]
                marks = ",".join("?" * len(chunk))
                db.execute(f"DELETE FROM {table} WHERE neuron_id IN ({marks})", chunk)
        db.execute(f"INSERT OR REPLACE INTO {table} SELECT * FROM stage_{table}")


def write_meta(db: sqlite3.Connection, plan: dict[str, Any], source: str) -> None:
    """Record the completed sync: source, totals, time, options and what was settled."""
    server = plan["server"]
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    values = {
        "source": source,
        "server_total": str(server["total"]),
        "synced_at": now,
        "partitions": dumps(server["partitions"]),
        **plan["meta"],
    }
    if plan["full"]:
        values["full_synced_at"] = now
    for name, on in plan["options"].items():
        if on:
            values[f"has_{name}"] = "1"
        elif name != "literature":
            values[f"has_{name}"] = "0"  # no longer kept in step with the neurons
    if "morphometry" in server:
        values["morphometry_total"] = str(server["morphometry"])
    for key, value in values.items():
        set_meta(db, key, value)


def compact(db: sqlite3.Connection) -> None:
    """Give the pages staging left free back to the disk once they are a quarter of the file.

    A full sync stages every record before it merges, so it leaves about half the file free;
    an incremental one leaves little, which the next sync reuses. Skipped, never fatal, when
    the disk lacks room for the copy VACUUM makes: the mirror is complete either way.
    """
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    free = db.execute("PRAGMA freelist_count").fetchone()[0]
    if free * 4 > pages:
        with contextlib.suppress(sqlite3.OperationalError):
            db.execute("VACUUM")
