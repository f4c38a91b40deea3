"""Deterministic synthetic NeuroMorpho.Org database for the offline emulator.

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

import random
import struct
import threading
import zlib
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any
from urllib.parse import quote

from ._morphology import swc_body
from ._records import SWC_CAP, build_literature, build_morphometry, build_neurons
from ._schema import (
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


class SyntheticDatabase:
    """A deterministic, seeded stand-in for the NeuroMorpho.Org database.

    ``neurons`` holds every record exactly as served, ordered by ``neuron_id`` (int);
    treat records as read-only (the app caches their JSON).
    """

    def __init__(self, n_neurons: int = 3000, *, seed: int = 0) -> None:
        if n_neurons < 1:
            raise ValueError("n_neurons must be at least 1")
        self.n_neurons = n_neurons
        self.seed = seed
        self._swc_cache: OrderedDict[int, bytes] = OrderedDict()
        self._lock = threading.RLock()
        self._morph_index: Collection | None = None
        self._pvec_index: Collection | None = None
        self._morph_by_id: dict[int, dict[str, Any]] = {}
        self._pvec_by_id: dict[int, dict[str, Any]] = {}
        self._morph_by_name: dict[str, dict[str, Any]] = {}
        neurons, self._swc_target, no_morph = build_neurons(n_neurons, random.Random(seed))
        #: Every neuron record, ordered by ``neuron_id``.
        self.neurons: list[dict[str, Any]] = neurons
        self._by_id = {r["neuron_id"]: r for r in neurons}
        self._by_name = {r["neuron_name"]: r for r in neurons}
        if len(self._by_name) != len(neurons):  # pragma: no cover - guards the name schemes
            raise AssertionError("neuron names are not unique")
        #: Neurons without morphometry or persistence vector (404 on those routes).
        self.no_morphometry_ids: frozenset[int] = no_morph
        self._pick_ground_truth(random.Random(f"{seed}:faults"))
        #: Every literature record, in the server's order.
        self.literature: list[dict[str, Any]] = build_literature(
            neurons, random.Random(f"{seed}:literature")
        )
        self._lit_by_id = {a["article_id"]: a for a in self.literature}

        fields = _getters(NEURON_KEYS)
        for k in range(3):
            fields[f"brain_region_{k + 1}"] = _element("brain_region", k)
            fields[f"cell_type_{k + 1}"] = _element("cell_type", k)
        fields["Physical_Integrity"] = itemgetter("physical_Integrity")
        self._by_text = sorted(self.neurons, key=lambda r: str(r["neuron_id"]))
        #: Query engine over the neurons, in the server's default (string-id) order.
        self.neuron_index = Collection(self._by_text, fields)
        #: Query engine over the literature records.
        self.literature_index = Collection(self.literature, _getters(LITERATURE_KEYS))

    def _pick_ground_truth(self, rng: random.Random) -> None:
        ids = [r["neuron_id"] for r in self.neurons if r["neuron_id"] != 1]
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
        big = [r["neuron_id"] for r in self.neurons if r["archive"] == "MouseLight"]
        pool = [k for k in (big or ids) if k not in taken] or [1]
        #: One neuron whose SWC is at the 5 MB cap.
        self.large_file_id: int = pool[rng.randrange(len(pool))]
        self._swc_target[self.large_file_id] = SWC_CAP

    # ------------------------------------------------------------------ neurons

    def neuron_by_id(self, neuron_id: int) -> dict[str, Any] | None:
        """The record with this id, or None."""
        return self._by_id.get(neuron_id)

    def neuron_by_name(self, name: str) -> dict[str, Any] | None:
        """The record with this exact name, or None."""
        return self._by_name.get(name)

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
        positions = self.neuron_index.search(
            q, fq, join=clause_join, sort=specs, ignore_case=ignore_case
        )
        return [self._by_text[p] for p in positions]

    def select_post(self, body: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
        """Records matching a POST-select body (keys AND, list members OR, exact values)."""
        return [self._by_text[p] for p in self.neuron_index.select_post(body)]

    def field_values(self, field: str) -> list[str]:
        """Distinct values of a neuron field as ``/fields/{field}`` lists them."""
        return self.neuron_index.field_values(field)

    def partition(self, field: str) -> dict[str, int]:
        """Value -> neuron count as ``/partition/{field}`` reports it."""
        return self.neuron_index.partition(field)

    # ------------------------------------------------------------------ morphometry, pvec

    def _build_morphometry(self) -> None:
        morph, pvec = build_morphometry(self._by_text, self.seed, self.no_morphometry_ids)
        self._morph_by_id = {m["neuron_id"]: m for m in morph}
        self._morph_by_name = {m["neuron_name"]: m for m in morph}
        self._pvec_by_id = {p["neuron_id"]: p for p in pvec}
        mfields = _getters(MORPHOMETRY_KEYS)
        mfields["Neuron_id"] = itemgetter("neuron_id")  # the official examples' spelling
        self._morph_index = Collection(morph, mfields)
        self._pvec_index = Collection(pvec, _getters(PVEC_KEYS))

    @property
    def morphometry_index(self) -> Collection:
        """Query engine over the morphometry objects (built on first use)."""
        if self._morph_index is None:
            with self._lock:
                if self._morph_index is None:
                    self._build_morphometry()
        assert self._morph_index is not None
        return self._morph_index

    @property
    def pvec_index(self) -> Collection:
        """Query engine over the persistence vectors (built on first use)."""
        if self._pvec_index is None:
            with self._lock:
                if self._pvec_index is None:
                    self._build_morphometry()
        assert self._pvec_index is not None
        return self._pvec_index

    def morphometry(self, neuron_id: int) -> dict[str, Any] | None:
        """Morphometry of one neuron (floats, reference §4.5 key order), or None."""
        _ = self.morphometry_index
        return self._morph_by_id.get(neuron_id)

    def morphometry_by_name(self, name: str) -> dict[str, Any] | None:
        """Morphometry of the neuron with this name, or None."""
        _ = self.morphometry_index
        return self._morph_by_name.get(name)

    def pvec(self, neuron_id: int) -> dict[str, Any] | None:
        """Persistence vector of one neuron, or None."""
        _ = self.pvec_index
        return self._pvec_by_id.get(neuron_id)

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
        if nid in self.missing_file_ids or nid not in self._by_id:
            return None
        cache = self._swc_cache
        with self._lock:  # the emulator's server is threaded
            if nid in cache:
                cache.move_to_end(nid)
                return cache[nid]
        record = self._by_id[nid]
        body = swc_body(
            record,
            seed=self.seed,
            target=self._swc_target[nid],
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
