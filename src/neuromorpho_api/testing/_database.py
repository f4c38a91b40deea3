"""Deterministic synthetic NeuroMorpho.Org database for the offline emulator.

This module is long because it is the one lookup and change surface (records, indexes,
partitions, mutations, files) that the app reads; the data itself comes from the modules
around it.

Everything derives from ``(n_neurons, seed)`` through private :class:`random.Random`
instances (never the global state) using only calls whose output is stable across
Python 3.9-3.13, so two builds with the same arguments are identical everywhere. The
records come from ``_records`` (keys and value pools in ``_schema``, names in ``_names``),
the SWC bodies from ``_morphology``; this module holds them and answers lookups.

Records follow reference §4.2 exactly: 44 keys in record order plus ``_links``, numbers as
strings (``neuron_id`` is the only int), list fields, the empty-value zoo (``""``/``null``
notes and scientific names, ``"Not reported"``/``"Not Reported"``, ``null`` soma surface,
``""`` shrinkage correction, trailing spaces as in ``"dragonfly "`` and ``"Western "``),
``physical_Integrity`` and ``http://neuromorpho.org`` hrefs. Neuron 1 is the ``cnic_001``
record of the reference verbatim. Ids start at 1 and skip a few numbers like the real
database, so the largest id is a little above ``n_neurons``.

Archive sizes are fixed at the default ``n_neurons=3000`` (independent of the seed) and
scale proportionally otherwise. Criteria with known hit counts at ``n_neurons=3000``:

======================================================  ======
query                                                    hits
======================================================  ======
``species:axolotl`` (valid field, no value)              0
``archive:Gonzalez-Burgos``                              1
``neuron_name:CB_CKp25_2w_F_Animal01_*``                 15 (for any ``n_neurons >= 300``)
``archive:Jacobs``                                       499
``archive:"Allen Cell Types"``                           500
``archive:Markram``                                      501
``species:rat``                                          1141 (about 7600 at 20000)
``neuron_id:[* TO *]``                                   3000
======================================================  ======

``reference_pmid`` has more than 500 distinct values at the default size (so
``/fields/reference_pmid`` paging matters), and ``neuron_name`` has one per neuron.

Files: SWC sizes are log-normal (median about 85 KB, p90 about 450 KB, capped at 5 MB;
``large_file_id`` is one neuron at the cap); bodies are built on demand from
``(seed, neuron_id)`` and a few are kept in a small LRU cache. Ground truth for fault
tests: ``missing_file_ids`` (404), ``broken_file_ids`` (unparseable body),
``encoding_quirks`` (latin-1 header bytes, or a UTF-8 BOM with CRLF line ends),
``no_morphometry_ids`` (no morphometry and no persistence vector). The ``cnic_001`` file
has 1,281 non-blank lines like the real one.
"""

from __future__ import annotations

import contextlib
import random
import struct
import threading
import zlib
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any, Callable, cast, overload
from urllib.parse import quote

from ._morphology import swc_body
from ._records import (
    SWC_CAP,
    Chunk,
    build_chunk,
    build_literature,
    build_morphometry,
    build_neurons,
    layout_chunks,
    swc_target,
)
from ._schema import (
    CNIC_001,
    HOST,
    LITERATURE_KEYS,
    MORPHOMETRY_KEYS,
    NEURON_FIELDS,
    NEURON_KEYS,
    PVEC_KEYS,
)
from ._search import ClauseJoin, Collection, Getter, parse_sort

__all__ = [
    "LITERATURE_KEYS",
    "MORPHOMETRY_KEYS",
    "NEURON_FIELDS",
    "NEURON_KEYS",
    "PVEC_KEYS",
    "SyntheticDatabase",
]


def _png_bytes() -> bytes:
    """A valid 1x1 grey PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00\x80"))
        + chunk(b"IEND", b"")
    )


_PNG = _png_bytes()


def _element(key: str, i: int) -> Getter:
    def get(rec: Mapping[str, Any]) -> Any:
        value = rec.get(key)
        if isinstance(value, list) and len(value) > i:
            return value[i]
        return None

    return get


def _getters(keys: Sequence[str]) -> dict[str, Getter]:
    return {k: itemgetter(k) for k in keys}


def _neuron_getters() -> dict[str, Getter]:
    fields = _getters(NEURON_KEYS)
    for k in range(3):
        fields[f"brain_region_{k + 1}"] = _element("brain_region", k)
        fields[f"cell_type_{k + 1}"] = _element("cell_type", k)
    fields["Physical_Integrity"] = itemgetter("physical_Integrity")
    return fields


class _View(Sequence[dict[str, Any]]):
    """Records looked up by id on demand, in a fixed order of ids."""

    def __init__(self, ids: Sequence[int], get: Callable[[int], dict[str, Any]]) -> None:
        self.ids = ids
        self._get = get

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, i: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, i: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, i: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(i, slice):
            return [self._get(n) for n in self.ids[i]]
        return self._get(self.ids[i])

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return map(self._get, self.ids)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (_View, list, tuple)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{len(self)} records>"


#: Databases above this size make their records on demand (see ``lazy``).
LAZY_ABOVE = 20_000
_RECORD_KEYS = frozenset(NEURON_KEYS)


class SyntheticDatabase:
    """A deterministic, seeded stand-in for the NeuroMorpho.Org database.

    ``neurons`` holds every record exactly as served, ordered by ``neuron_id`` (int);
    records are read-only (the app caches their JSON): change the database with
    :meth:`add`, :meth:`update` and :meth:`remove`, which keep every index, partition,
    cache and the morphometry consistent, and are safe while the emulator serves.

    Args:
        n_neurons: number of neurons.
        seed: the same seed gives the same data.
        lazy: make records on demand, chunk by chunk (a 265,000-neuron database is ready
            in about a second; an index on ``neuron_id``, ``archive`` or ``upload_date``
            makes no record). Its records differ from an eager database's of the same
            size. Default: lazy above :data:`LAZY_ABOVE` neurons.

    Raises:
        ValueError: *n_neurons* is below 1.
    """

    def __init__(self, n_neurons: int = 3000, *, seed: int = 0, lazy: bool | None = None) -> None:
        if n_neurons < 1:
            raise ValueError("n_neurons must be at least 1")
        self.n_neurons = n_neurons
        self.seed = seed
        self.lazy = n_neurons > LAZY_ABOVE if lazy is None else lazy
        self._swc_cache: OrderedDict[int, bytes] = OrderedDict()
        self._lock = threading.RLock()
        self._defer = 0
        # Base records: made at build (eager) or per chunk on first use (lazy).
        self._eager: dict[int, dict[str, Any]] = {}
        self._chunks: list[Chunk] = []
        self._chunk_of: dict[int, int] = {}
        self._chunk_records: dict[int, dict[int, dict[str, Any]]] = {}
        self._base_morph: dict[int, tuple[dict[str, Any], dict[str, Any]]] | None = None
        # Changes over the base: replaced or added records, changed or removed morphometry.
        self._overrides: dict[int, dict[str, Any]] = {}
        self._morph_over: dict[int, tuple[dict[str, Any], dict[str, Any]] | None] = {}
        self._names: dict[str, int] | None = None
        if self.lazy:
            self._chunks, base_no_morph = layout_chunks(n_neurons, seed)
            self._swc_target: dict[int, int] = {}
            self._chunk_of = {nid: c.index for c in self._chunks for nid in c.ids}
            present = list(self._chunk_of)
        else:
            neurons, self._swc_target, base_no_morph = build_neurons(n_neurons, random.Random(seed))
            self._eager = {r["neuron_id"]: r for r in neurons}
            present = list(self._eager)
            self._base_text = sorted(neurons, key=lambda r: str(r["neuron_id"]))
        self._base_no_morph = base_no_morph
        self._present: frozenset[int] = frozenset(present)
        self._ids: list[int] = sorted(present)
        self._pick_ground_truth(random.Random(f"{seed}:faults"))
        #: Every literature record, in the server's order.
        self.literature: list[dict[str, Any]] = build_literature(
            _View(self._ids, self._get), random.Random(f"{seed}:literature")
        )
        self._lit_by_id = {a["article_id"]: a for a in self.literature}
        #: Query engine over the literature records.
        self.literature_index = Collection(self.literature, _getters(LITERATURE_KEYS))
        self._rebuild()

    def _pick_ground_truth(self, rng: random.Random) -> None:
        ids = [nid for nid in self._ids if nid != 1]
        taken: set[int] = set()

        def pick(k: int) -> frozenset[int]:
            out: set[int] = set()
            while ids and len(out) < min(k, len(ids) - len(taken)):
                nid = ids[rng.randrange(len(ids))]
                if nid not in taken:
                    taken.add(nid)
                    out.add(nid)
            return frozenset(out)

        n = self.n_neurons
        #: Neurons whose CNG file answers 404 (HTML body).
        self.missing_file_ids: frozenset[int] = pick(max(3, n // 600))
        #: Neurons whose CNG file body is not valid SWC.
        self.broken_file_ids: frozenset[int] = pick(max(3, n // 1000))
        latin1 = pick(2)
        bom = pick(1)
        #: Neuron id -> "latin-1" (header bytes not UTF-8) or "utf-8-sig" (BOM and CRLF).
        self.encoding_quirks: Mapping[int, str] = {
            **dict.fromkeys(sorted(latin1), "latin-1"),
            **dict.fromkeys(sorted(bom), "utf-8-sig"),
        }
        big = [nid for nid in self._ids if self._base_archive(nid) == "MouseLight"]
        pool = [k for k in (big or ids) if k not in taken] or [1]
        #: One neuron whose SWC is at the 5 MB cap.
        self.large_file_id: int = pool[rng.randrange(len(pool))]
        self._swc_fixed = {self.large_file_id: SWC_CAP}

    # ------------------------------------------------------------------ base records

    def _base_archive(self, nid: int) -> str:
        if self.lazy:
            return self._chunks[self._chunk_of[nid]].archive.name
        return str(self._eager[nid]["archive"])

    def _chunk(self, k: int) -> dict[int, dict[str, Any]]:
        got = self._chunk_records.get(k)
        if got is None:
            with self._lock:
                got = self._chunk_records.get(k)
                if got is None:
                    records, targets = build_chunk(self._chunks[k], self.seed)
                    self._swc_target.update(targets)
                    got = {r["neuron_id"]: r for r in records}
                    self._chunk_records[k] = got
        return got

    def _base(self, nid: int) -> dict[str, Any]:
        if self.lazy:
            return self._chunk(self._chunk_of[nid])[nid]
        return self._eager[nid]

    def _get(self, nid: int) -> dict[str, Any]:
        over = self._overrides.get(nid)
        return over if over is not None else self._base(nid)

    def _base_pair(self, nid: int) -> tuple[dict[str, Any], dict[str, Any]] | None:
        if nid in self._base_no_morph:
            return None
        if self.lazy:
            k = self._chunk_of[nid]
            key = -1 - k  # chunk morphometry shares the records' cache, under negative keys
            got = self._chunk_records.get(key)
            if got is None:
                with self._lock:
                    got = self._chunk_records.get(key)
                    if got is None:
                        chunk = self._chunk(k)
                        morph, pvec = build_morphometry(
                            (chunk[i] for i in sorted(chunk, key=str)),
                            f"{self.seed}:{k}",
                            self._base_no_morph,
                        )
                        got = {m["neuron_id"]: {"m": m, "p": p} for m, p in zip(morph, pvec)}
                        self._chunk_records[key] = got
            return got[nid]["m"], got[nid]["p"]
        if self._base_morph is None:
            with self._lock:
                if self._base_morph is None:
                    morph, pvec = build_morphometry(self._base_text, self.seed, self._base_no_morph)
                    self._base_morph = {m["neuron_id"]: (m, p) for m, p in zip(morph, pvec)}
        return self._base_morph[nid]

    def _pair(self, nid: int) -> tuple[dict[str, Any], dict[str, Any]] | None:
        if nid not in self._present:
            return None
        if nid in self._morph_over:
            return self._morph_over[nid]
        return self._base_pair(nid)

    def _has_morph(self, nid: int) -> bool:
        if nid in self._morph_over:
            return self._morph_over[nid] is not None
        return nid not in self._base_no_morph

    def _rebuild(self) -> None:
        """Make the indexes of the current records (new objects: readers keep the old)."""
        if self._defer:
            return
        ids = sorted(self._present)
        text = sorted(ids, key=str)
        # The indexes read the state of this moment (changes replace these dicts, never
        # modify them): a request in flight keeps a consistent view.
        overrides, morph_over = self._overrides, self._morph_over

        def record(nid: int) -> dict[str, Any]:
            over = overrides.get(nid)
            return over if over is not None else self._base(nid)

        def morph(nid: int) -> dict[str, Any]:
            pair = morph_over[nid] if nid in morph_over else self._base_pair(nid)
            assert pair is not None
            return pair[0]

        def pvec(nid: int) -> dict[str, Any]:
            pair = morph_over[nid] if nid in morph_over else self._base_pair(nid)
            assert pair is not None
            return pair[1]

        def value(nid: int, key: str) -> Any:
            over = overrides.get(nid)
            if over is not None:
                return over[key]
            if nid == 1:
                return CNIC_001[key]
            chunk = self._chunks[self._chunk_of[nid]]
            return chunk.archive.name if key == "archive" else chunk.upload.isoformat()

        columns: dict[str, Callable[[], Sequence[Any]]] = {"neuron_id": lambda: text}
        if self.lazy:
            columns["archive"] = lambda: [value(n, "archive") for n in text]
            columns["upload_date"] = lambda: [value(n, "upload_date") for n in text]
        with_morph = [n for n in text if self._has_morph(n)]
        mfields = _getters(MORPHOMETRY_KEYS)
        mfields["Neuron_id"] = itemgetter("neuron_id")  # the official examples' spelling
        mcolumns: dict[str, Callable[[], Sequence[Any]]] = {
            "neuron_id": lambda: with_morph,
            "Neuron_id": lambda: with_morph,
        }
        self.no_morphometry_ids = frozenset(n for n in ids if not self._has_morph(n))
        if not self.lazy:
            self._neuron_list = [record(n) for n in ids]
        self._ids = ids
        #: Query engine over the neurons, in the server's default (string-id) order.
        self.neuron_index = Collection(_View(text, record), _neuron_getters(), columns)
        self._morph_index = Collection(_View(with_morph, morph), mfields, mcolumns)
        self._pvec_index = Collection(_View(with_morph, pvec), _getters(PVEC_KEYS), mcolumns)

    # ------------------------------------------------------------------ neurons

    @property
    def neurons(self) -> Sequence[dict[str, Any]]:
        """Every neuron record, ordered by ``neuron_id`` (a lazy database makes them on use)."""
        if self.lazy:
            return _View(self._ids, self._get)
        return self._neuron_list

    #: Neurons without morphometry or persistence vector (404 on those routes).
    no_morphometry_ids: frozenset[int]

    def neuron_by_id(self, neuron_id: int) -> dict[str, Any] | None:
        """The record with this id, or None."""
        if neuron_id not in self._present:
            return None
        return self._get(neuron_id)

    def _name_map(self) -> dict[str, int]:
        names = self._names
        if names is None:
            with self._lock:
                ids = self._present
                names = {self._get(n)["neuron_name"]: n for n in sorted(ids)}
                if len(names) != len(ids):  # pragma: no cover - guards the name schemes
                    raise AssertionError("neuron names are not unique")
                self._names = names
        return names

    def neuron_by_name(self, name: str) -> dict[str, Any] | None:
        """The record with this exact name, or None."""
        nid = self._name_map().get(name)
        return None if nid is None else self.neuron_by_id(nid)

    def search(
        self,
        q: str | None,
        fq: Sequence[str] = (),
        *,
        sort: str | None = None,
        clause_join: ClauseJoin = "AND",
        ignore_case: bool = False,
    ) -> list[dict[str, Any]]:
        """Records matching a GET select, in the order the app serves them."""
        specs = parse_sort([sort] if sort else [])
        index = self.neuron_index
        positions = index.search(q, fq, join=clause_join, sort=specs, ignore_case=ignore_case)
        records = cast("Sequence[dict[str, Any]]", index.records)
        return [records[p] for p in positions]

    def select_post(self, body: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
        """Records matching a POST-select body (keys AND, list members OR, exact values)."""
        index = self.neuron_index
        records = cast("Sequence[dict[str, Any]]", index.records)
        return [records[p] for p in index.select_post(body)]

    def field_values(self, field: str) -> list[str]:
        """Distinct values of a neuron field as ``/fields/{field}`` lists them."""
        return self.neuron_index.field_values(field)

    def partition(self, field: str) -> dict[str, int]:
        """Value -> neuron count as ``/partition/{field}`` reports it."""
        return self.neuron_index.partition(field)

    # ------------------------------------------------------------------ changes

    @contextlib.contextmanager
    def batch(self) -> Iterator[SyntheticDatabase]:
        """Group changes: the indexes are rebuilt once, when the block ends."""
        with self._lock:
            self._defer += 1
            try:
                yield self
            finally:
                self._defer -= 1
                self._rebuild()

    def add(
        self, record: Mapping[str, Any] | None = None, *, morphometry: bool = True, **fields: Any
    ) -> dict[str, Any]:
        """Add a neuron and return its record.

        The record starts as a copy of the last neuron of its archive (or of the last
        neuron), with a new ``neuron_id`` (one above the largest) and a new name, then takes
        *record*'s and *fields*' values. With *morphometry*, it gets measurements and a
        persistence vector.

        Raises:
            ValueError: an unknown key, or an id or name already in the database.
        """
        values = {**(record or {}), **fields}
        values.pop("_links", None)
        self._check_keys(values)
        with self._lock:
            template = self._get(self._template(values.get("archive")))
            nid = int(values.get("neuron_id", max(self._present) + 1))
            if nid in self._present:
                raise ValueError(f"neuron_id {nid} is already in the database")
            values.setdefault("neuron_name", f"{template['neuron_name']}_{nid}")
            if values["neuron_name"] in self._name_map():
                raise ValueError(f"neuron_name {values['neuron_name']!r} is already taken")
            new = self._record(template, {**values, "neuron_id": nid})
            self._overrides = {**self._overrides, nid: new}
            pair = None
            if morphometry:
                morph, pvec = build_morphometry([new], f"{self.seed}:added:{nid}", frozenset())
                pair = (morph[0], pvec[0])
            self._morph_over = {**self._morph_over, nid: pair}
            rng = random.Random(f"{self.seed}:swc:{nid}")
            self._swc_fixed = {**self._swc_fixed, nid: swc_target(rng, 1.0)}
            self._present = self._present | {nid}
            self._rename(None, new["neuron_name"], nid)
            self._rebuild()
        return new

    def _template(self, archive: Any) -> int:
        """Id of the last neuron of *archive*, or of the last neuron."""
        found = [n for n, r in self._overrides.items() if r["archive"] == archive]
        if self.lazy:
            for chunk in reversed(self._chunks):
                if chunk.archive.name == archive:
                    alive = [n for n in chunk.ids if n in self._present]
                    if alive:
                        found.append(alive[-1])
                        break
        else:
            found += [n for n, r in self._eager.items() if r["archive"] == archive][-1:]
        found = [n for n in found if n in self._present and self._get(n)["archive"] == archive]
        return max(found) if found else max(self._present)

    def _rename(self, old: str | None, new: str | None, nid: int) -> None:
        names = self._names
        if names is not None:
            names = dict(names)
            if old is not None:
                del names[old]
            if new is not None:
                names[new] = nid
            self._names = names

    def update(self, neuron_id: int, /, **fields: Any) -> dict[str, Any]:
        """Change fields of a neuron (``archive=`` moves it) and return the new record.

        Raises:
            KeyError: no such neuron.
            ValueError: an unknown key, ``neuron_id``, or a name already taken.
        """
        self._check_keys(fields)
        if "neuron_id" in fields:
            raise ValueError("neuron_id cannot change: remove and add instead")
        with self._lock:
            old = self.neuron_by_id(neuron_id)
            if old is None:
                raise KeyError(neuron_id)
            name = fields.get("neuron_name", old["neuron_name"])
            if name != old["neuron_name"] and name in self._name_map():
                raise ValueError(f"neuron_name {name!r} is already taken")
            new = self._record(old, fields)
            self._overrides = {**self._overrides, neuron_id: new}
            if name != old["neuron_name"]:
                self._rename(old["neuron_name"], name, neuron_id)
            pair = self._pair(neuron_id)
            if pair is not None and pair[0]["neuron_name"] != name:
                self._morph_over = {
                    **self._morph_over,
                    neuron_id: ({**pair[0], "neuron_name": name}, pair[1]),
                }
            self._rebuild()
        return new

    def remove(self, neuron_id: int) -> dict[str, Any]:
        """Remove a neuron (and its morphometry, persistence vector and files); return it.

        Raises:
            KeyError: no such neuron.
        """
        with self._lock:
            old = self.neuron_by_id(neuron_id)
            if old is None:
                raise KeyError(neuron_id)
            self._present = self._present - {neuron_id}
            self._overrides = {k: v for k, v in self._overrides.items() if k != neuron_id}
            self._morph_over = {**self._morph_over, neuron_id: None}
            self._rename(old["neuron_name"], None, neuron_id)
            self._rebuild()
        return old

    @staticmethod
    def _check_keys(values: Mapping[str, Any]) -> None:
        unknown = set(values) - _RECORD_KEYS
        if unknown:
            raise ValueError(f"not neuron record keys: {', '.join(sorted(unknown))}")

    @staticmethod
    def _record(template: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
        """A new record: *template*'s values, then *values*, in record key order."""
        merged = {k: values.get(k, template[k]) for k in NEURON_KEYS}
        if "png_url" not in values:
            merged["png_url"] = (
                f"{HOST}/images/imageFiles/{quote(str(merged['archive']), safe='')}/"
                f"{quote(str(merged['neuron_name']), safe='')}.png"
            )
        nid = merged["neuron_id"]
        merged["_links"] = {
            "self": {"href": f"{HOST}/api/neuron/id/{nid}"},
            "measurements": {"href": f"{HOST}/api/morphometry/id/{nid}"},
            "persistence_vector": {"href": f"{HOST}/api/pvec/id/{nid}"},
        }
        return merged

    # ------------------------------------------------------------------ morphometry, pvec

    @property
    def morphometry_index(self) -> Collection:
        """Query engine over the morphometry objects."""
        return self._morph_index

    @property
    def pvec_index(self) -> Collection:
        """Query engine over the persistence vectors."""
        return self._pvec_index

    def morphometry(self, neuron_id: int) -> dict[str, Any] | None:
        """Morphometry of one neuron (floats, reference §4.5 key order), or None."""
        pair = self._pair(neuron_id)
        return None if pair is None else pair[0]

    def morphometry_by_name(self, name: str) -> dict[str, Any] | None:
        """Morphometry of the neuron with this name, or None."""
        nid = self._name_map().get(name)
        return None if nid is None else self.morphometry(nid)

    def pvec(self, neuron_id: int) -> dict[str, Any] | None:
        """Persistence vector of one neuron, or None."""
        pair = self._pair(neuron_id)
        return None if pair is None else pair[1]

    def article(self, article_id: str) -> dict[str, Any] | None:
        """The literature record with this id, or None."""
        return self._lit_by_id.get(article_id)

    # ------------------------------------------------------------------ files

    def file_path(self, record: Mapping[str, Any]) -> str:
        """URL path of the record's standardised SWC (reference §6.1)."""
        return (
            f"/dableFiles/{quote(record['archive'].lower(), safe='')}/CNG%20version/"
            f"{quote(record['neuron_name'], safe='')}.CNG.swc"
        )

    @staticmethod
    def source_extension(record: Mapping[str, Any]) -> str:
        """Extension of the Source-Version file: ``Neurolucida.dat`` -> ``dat``, ``Custom.xml`` -> ``morph.xml``."""
        fmt = str(record["original_format"])
        if fmt == "Custom.xml":
            return "morph.xml"
        return fmt.rsplit(".", 1)[-1].lower()

    def source_path(self, record: Mapping[str, Any]) -> str:
        """URL path of the record's original upload."""
        return (
            f"/dableFiles/{quote(record['archive'].lower(), safe='')}/Source-Version/"
            f"{quote(record['neuron_name'], safe='')}.{self.source_extension(record)}"
        )

    def swc(self, record: Mapping[str, Any]) -> bytes | None:
        """The CNG SWC body, or None when the file is missing (the server answers 404)."""
        nid = int(record["neuron_id"])
        current = self.neuron_by_id(nid)
        if nid in self.missing_file_ids or current is None:
            return None
        cache = self._swc_cache
        with self._lock:  # the emulator's server is threaded
            if nid in cache:
                cache.move_to_end(nid)
                return cache[nid]
        record = current
        body = swc_body(
            record,
            seed=self.seed,
            target=self.swc_size_target(nid),
            fmt_ext=self.source_extension(record),
            quirk=self.encoding_quirks.get(nid),
            broken=nid in self.broken_file_ids,
        )
        with self._lock:
            cache[nid] = body
            if len(cache) > 8:
                cache.popitem(last=False)
        return body

    def swc_size_target(self, neuron_id: int) -> int:
        """Byte size the SWC body is generated to approach (neuron 1 has fixed 1,281 lines)."""
        fixed = self._swc_fixed.get(neuron_id)
        if fixed is not None:
            return fixed
        if self.lazy:
            self._chunk(self._chunk_of[neuron_id])
        return self._swc_target[neuron_id]

    def source_file(self, record: Mapping[str, Any]) -> bytes:
        """A small deterministic body for the Source-Version file."""
        ext = self.source_extension(record)
        name = str(record["neuron_name"])
        if ext == "dat":
            return b"\x04\x00NL binary\x00" + name.encode() + bytes(range(32)) * 4
        if ext.endswith("xml"):
            return (
                f'<?xml version="1.0"?>\n<morphology name="{name}">\n'
                f'  <point x="0" y="0" z="0" d="10"/>\n</morphology>\n'
            ).encode()
        if ext == "asc":
            return f'; {name}\n("CellBody"\n  (Color Red)\n  ( 0.00 0.00 0.00 10.00)\n)\n'.encode()
        return f"# original upload of {name}\n1 1 0.0 0.0 0.0 5.0 -1\n".encode()

    @staticmethod
    def std_log(record: Mapping[str, Any]) -> bytes:
        """Body of the Standardization log file."""
        return (
            f"Standardization log for {record['neuron_name']}\n"
            f"Archive: {record['archive']}\nNo irregularities fixed.\n"
        ).encode()

    @staticmethod
    def remaining_issues(record: Mapping[str, Any]) -> bytes:
        """Body of the Remaining issues file."""
        return f"Remaining issues for {record['neuron_name']}.CNG.swc\nNone.\n".encode()

    @staticmethod
    def png(record: Mapping[str, Any]) -> bytes:
        """A tiny valid PNG standing in for the neuron's image."""
        return _PNG
