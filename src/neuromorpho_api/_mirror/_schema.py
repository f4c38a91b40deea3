"""The mirror's SQLite file: schema, versioning, validation, dynamic columns.

Layout (``user_version`` :data:`SCHEMA_VERSION`, ``application_id`` :data:`APPLICATION_ID`):

- ``meta(key, value)``: source base URL, server record count, time of the last complete
  sync, the server's field list, the partition fingerprints used by incremental sync and the
  settled query semantics (see ``_sync``).
- ``columns(key, col, kind, num)``: one row per record key as served; ``col`` is the SQL
  column holding its scalar values (``c1``, ``c2``... so that keys differing only in case,
  or hostile key names, never become SQL identifiers), ``kind`` is ``scalar`` or ``list``,
  ``num`` the REAL column of numeric fields.
- ``neurons(neuron_id, id_text, raw, c1...)``: ``raw`` is the record exactly as served
  (key order and value types kept, ``_links`` dropped as the client drops it), packed by
  ``_records.Codec``; ``id_text`` the id as text, the server's default sort key.
- ``neuron_values(col, value, neuron_id, pos)``: the elements of list fields, one row each.
- ``morphometry``, ``pvec``, ``literature``: one packed JSON object per row.
- ``value_counts(col, pos, value, n)``: how many neurons hold each value of each column
  (``pos`` -1: any element; 0-2: that element of a list), what ``values``/``partition``
  answer from; recomputed with every merge.
- ``stage_*`` twins of the above and ``sync_state``: the sync in progress (see ``_sync``).
"""

# SQL here interpolates only table names from fixed lists and column names the mirror made
# itself (c1, r1, ...: validated when read back); every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Iterable
from typing import Any

from neuromorpho_api._frames import NUMERIC_FIELDS
from neuromorpho_api._mirror._errors import (
    REBUILD_HINT,
    MirrorCorruptError,
    MirrorError,
    MirrorVersionError,
)

__all__ = [
    "APPLICATION_ID",
    "INDEXED_KEYS",
    "NUMERIC_KEYS",
    "SCHEMA_VERSION",
    "Columns",
    "connect",
    "create_schema",
    "get_meta",
    "set_meta",
    "validate",
]

APPLICATION_ID = 0x4E4D4F4D  # "NMOM"
SCHEMA_VERSION = 2  # 2: objects stored deflated (see _records)

#: Record keys whose values are numbers written as strings (reference §4.2): also stored REAL.
NUMERIC_KEYS = NUMERIC_FIELDS

#: Record keys with a B-tree index (the fields people filter on most).
INDEXED_KEYS = frozenset(
    {
        "neuron_name", "archive", "species", "strain", "upload_date", "stain", "protocol",
        "physical_Integrity", "age_classification", "original_format",
    }
)  # fmt: skip

_KEY_TABLES = ("neurons", "stage_neurons")


def _ddl(prefix: str) -> list[str]:
    # Staging is written row by row and read only by primary key or neuron_id: it carries
    # no index for queries, which would only slow every staged row down.
    live = prefix == ""
    return [
        f"CREATE TABLE {prefix}neurons (neuron_id INTEGER PRIMARY KEY, id_text TEXT NOT NULL, "
        "raw BLOB NOT NULL)",
        *([f"CREATE INDEX {prefix}neurons_id_text ON {prefix}neurons(id_text)"] if live else []),
        f"CREATE TABLE {prefix}neuron_values (col TEXT NOT NULL, value TEXT NOT NULL, "
        "neuron_id INTEGER NOT NULL, pos INTEGER NOT NULL, "
        "PRIMARY KEY (col, value, neuron_id, pos)) WITHOUT ROWID",
        f"CREATE INDEX {prefix}neuron_values_id ON {prefix}neuron_values(neuron_id)",
        f"CREATE TABLE {prefix}morphometry (neuron_id INTEGER PRIMARY KEY, neuron_name TEXT, "
        "raw BLOB NOT NULL)",
        *(
            [f"CREATE INDEX {prefix}morphometry_name ON {prefix}morphometry(neuron_name)"]
            if live
            else []
        ),
        f"CREATE TABLE {prefix}pvec (neuron_id INTEGER PRIMARY KEY, raw BLOB NOT NULL)",
        f"CREATE TABLE {prefix}literature (article_id TEXT PRIMARY KEY, raw BLOB NOT NULL)",
    ]


def rollback(db: sqlite3.Connection) -> None:
    """Roll back the open transaction, if SQLite has not already (it does on SQLITE_FULL)."""
    if db.in_transaction:
        db.execute("ROLLBACK")


def create_schema(db: sqlite3.Connection) -> None:
    """Create every table of an empty file and stamp it as a mirror (one transaction)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute(
            "CREATE TABLE columns (key TEXT PRIMARY KEY, col TEXT NOT NULL UNIQUE, "
            "kind TEXT NOT NULL, num TEXT)"
        )
        for statement in [*_ddl(""), *_ddl("stage_")]:
            db.execute(statement)
        db.execute(
            "CREATE TABLE stage_seen (task INTEGER NOT NULL, neuron_id INTEGER NOT NULL, "
            "PRIMARY KEY (task, neuron_id)) WITHOUT ROWID"
        )
        db.execute("CREATE TABLE sync_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute(
            "CREATE TABLE value_counts (col TEXT NOT NULL, pos INTEGER NOT NULL, "
            "value TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (col, pos, value)) WITHOUT ROWID"
        )
        db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def drop_everything(db: sqlite3.Connection) -> None:
    """Remove every table of a mirror with an older schema, so it can be rebuilt in place."""
    names = [
        r[0]
        for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if not r[0].startswith("sqlite_")
    ]
    db.execute("BEGIN IMMEDIATE")
    try:
        for name in names:
            db.execute(f'DROP TABLE "{name}"')
        db.execute("PRAGMA user_version = 0")
        db.execute("PRAGMA application_id = 0")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def connect(path: str, *, readonly: bool) -> sqlite3.Connection:
    """Open ``path``; a file that is not SQLite raises :class:`MirrorCorruptError`."""
    if readonly:
        if not os.path.exists(path):
            raise MirrorError(f"no mirror at {path}: create it with `neuromorpho sync`")
        uri = "file:" + _uri_path(path) + "?mode=ro"
        db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    else:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        db.execute("PRAGMA busy_timeout = 10000")
        if not readonly:
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA schema_version").fetchone()  # reads the header: fails on garbage
    except sqlite3.DatabaseError as exc:
        db.close()
        raise MirrorCorruptError(
            f"{path} is not a neuromorpho mirror or is damaged ({exc}); {REBUILD_HINT}"
        ) from None
    return db


def _uri_path(path: str) -> str:
    from urllib.request import pathname2url

    return pathname2url(os.path.abspath(path))


def validate(db: sqlite3.Connection, path: str) -> str:
    """Check the file's stamp: ``"ok"``, ``"empty"`` (a new file) or ``"older"``.

    Raises :class:`MirrorCorruptError` for another program's database and
    :class:`MirrorVersionError` for a newer schema.
    """
    try:
        app = db.execute("PRAGMA application_id").fetchone()[0]
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise MirrorCorruptError(f"{path} is damaged ({exc}); {REBUILD_HINT}") from None
    if app == 0 and version == 0 and tables == 0:
        return "empty"
    if app != APPLICATION_ID:
        raise MirrorCorruptError(
            f"{path} is an SQLite file of another program, not a neuromorpho mirror; "
            f"{REBUILD_HINT}, or choose another path"
        )
    if version > SCHEMA_VERSION:
        raise MirrorVersionError(
            f"{path} was written by a newer neuromorpho-api (mirror schema {version}, this "
            f"version reads {SCHEMA_VERSION}); upgrade neuromorpho-api"
        )
    if version < SCHEMA_VERSION:
        return "older"
    return "ok"


def get_meta(db: sqlite3.Connection, key: str) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def set_meta(db: sqlite3.Connection, key: str, value: str) -> None:
    db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


_SAFE_COL = re.compile(r"[cr][0-9]+")


class Columns:
    """The record-key -> SQL-column registry (table ``columns``), kept in memory too."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.col: dict[str, str] = {}
        self.kind: dict[str, str] = {}
        self.num: dict[str, str] = {}
        for key, col, kind, num in db.execute("SELECT key, col, kind, num FROM columns"):
            if not _SAFE_COL.fullmatch(col) or (num is not None and not _SAFE_COL.fullmatch(num)):
                raise MirrorCorruptError(f"the mirror's column table is damaged; {REBUILD_HINT}")
            self.col[key] = col
            self.kind[key] = kind
            if num is not None:
                self.num[key] = num

    def keys(self) -> list[str]:
        return list(self.col)

    def key_for(self, name: str) -> str | None:
        """The record key a field name stands for: itself, or its one case-insensitive match."""
        if name in self.col:
            return name
        same = [k for k in self.col if k.casefold() == name.casefold()]
        return same[0] if len(same) == 1 else None

    def ensure(self, key: str, value: Any) -> None:
        """Register ``key`` (adding its columns to the live and staging tables) if new, and
        turn a scalar field into a list field the first time a list shows up in it.

        Call inside a write transaction.
        """
        is_list = isinstance(value, list)
        if key not in self.col:
            col = f"c{len(self.col) + 1}"
            num = f"r{len(self.col) + 1}" if key in NUMERIC_KEYS else None
            kind = "list" if is_list else "scalar"
            for table in _KEY_TABLES:
                self.db.execute(f"ALTER TABLE {table} ADD COLUMN {col}")
                if num is not None:
                    self.db.execute(f"ALTER TABLE {table} ADD COLUMN {num} REAL")
                if key in INDEXED_KEYS and table == "neurons":
                    self.db.execute(f"CREATE INDEX IF NOT EXISTS {table}_{col} ON {table}({col})")
            self.db.execute(
                "INSERT INTO columns (key, col, kind, num) VALUES (?, ?, ?, ?)",
                (key, col, kind, num),
            )
            self.col[key] = col
            self.kind[key] = kind
            if num is not None:
                self.num[key] = num
        elif is_list and self.kind[key] == "scalar":
            col = self.col[key]
            # Scalars seen so far become one-element lists, as the server's index treats them.
            for prefix in ("", "stage_"):
                self.db.execute(
                    f"INSERT OR IGNORE INTO {prefix}neuron_values (col, value, neuron_id, pos) "
                    f"SELECT ?, {col}, neuron_id, 0 FROM {prefix}neurons WHERE {col} IS NOT NULL",
                    (col,),
                )
                self.db.execute(f"UPDATE {prefix}neurons SET {col} = NULL")
            self.db.execute("UPDATE columns SET kind = 'list' WHERE key = ?", (key,))
            self.kind[key] = "list"

    def scalar_columns(self) -> Iterable[str]:
        for key, col in self.col.items():
            yield col
            if key in self.num:
                yield self.num[key]
