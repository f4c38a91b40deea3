"""Query engine of the offline emulator: indexed collections answering ``q``/``fq``, sorts
and POST-select bodies (keys ANDed, list members ORed, exact strings, no syntax; reference
§3.3). The query language and its semantics are in ``_queryparser``.
"""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, Callable

from ._queryparser import (
    And,
    ClauseJoin,
    Getter,
    Match,
    MatchAll,
    Node,
    Not,
    Or,
    QueryError,
    QuerySyntaxError,
    SortSpec,
    UnknownFieldError,
    parse_query,
    parse_sort,
)

__all__ = [
    "ClauseJoin",
    "Collection",
    "Getter",
    "QueryError",
    "QuerySyntaxError",
    "SortSpec",
    "UnknownFieldError",
    "parse_sort",
]

# --------------------------------------------------------------------------- collection


def _text(value: Any) -> str:
    """The string a stored scalar is indexed under."""
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _number(text: str) -> float | None:
    try:
        x = float(text)
    except ValueError:
        return None
    return None if math.isnan(x) else x


_TOKEN_SPLIT = re.compile(r"[\s,]+")


class Collection:
    """Records in their default order, with lazily built per-field value indexes.

    ``fields`` maps every queryable name (record keys plus aliases such as
    ``brain_region_1`` or ``Neuron_id``) to a getter. Positions are indexes into
    ``records``; results come back in that (default) order unless sorted. ``columns`` may
    give a field's values in position order without reading the records (a large
    database makes its records on demand: an index on such a field makes none).
    """

    def __init__(
        self,
        records: Sequence[Mapping[str, Any]],
        fields: Mapping[str, Getter],
        columns: Mapping[str, Callable[[], Sequence[Any]]] | None = None,
    ) -> None:
        self.records = records
        self.fields = dict(fields)
        self.columns = dict(columns or {})
        self._index: dict[str, dict[str, list[int]]] = {}
        self._numeric: dict[str, bool] = {}
        self._cache: OrderedDict[tuple[Any, ...], list[int]] = OrderedDict()
        self._lock = threading.Lock()

    # -- indexes
    def check_field(self, name: str) -> Getter:
        try:
            return self.fields[name]
        except KeyError:
            raise UnknownFieldError(name) from None

    def index(self, name: str) -> dict[str, list[int]]:
        """Value text -> ascending positions of the records holding it (lists: any element)."""
        idx = self._index.get(name)
        if idx is not None:
            return idx
        get = self.check_field(name)
        idx = {}
        numeric = False
        column = self.columns.get(name)
        values = column() if column is not None else map(get, self.records)
        for pos, value in enumerate(values):
            if value is None:
                continue
            if type(value) is str or type(value) is int:  # the common case, kept fast
                t = value if type(value) is str else str(value)
                lst = idx.get(t)
                if lst is None:
                    idx[t] = [pos]
                else:
                    lst.append(pos)
                continue
            items = value if isinstance(value, list) else (value,)
            seen: set[str] = set()
            for item in items:
                if item is None:
                    continue
                if isinstance(item, float):
                    numeric = True
                t = _text(item)
                if t in seen:
                    continue
                seen.add(t)
                lst = idx.get(t)
                if lst is None:
                    idx[t] = [pos]
                else:
                    lst.append(pos)
        # numeric first: another thread may read _numeric as soon as _index has the field
        self._numeric[name] = numeric
        self._index[name] = idx
        return idx

    def counts(self, name: str) -> dict[str, int]:
        """Distinct value -> number of records holding it."""
        return {k: len(v) for k, v in self.index(name).items()}

    def field_values(self, name: str) -> list[str]:
        """Distinct values, most frequent first, ties in code-point order (Solr facet order)."""
        counts = self.counts(name)
        return sorted(counts, key=lambda k: (-counts[k], k))

    def partition(self, name: str) -> dict[str, int]:
        """Value -> count in code-point order of the values (like a Java ``TreeMap``)."""
        counts = self.counts(name)
        return {k: counts[k] for k in sorted(counts)}

    # -- evaluation
    def _check(self, node: Node) -> None:
        """Reject unknown fields before evaluating (an empty AND must not hide them)."""
        if isinstance(node, Match):
            if node.field is not None:
                self.check_field(node.field)
        elif isinstance(node, Not):
            self._check(node.node)
        elif isinstance(node, (And, Or)):
            for sub in node.nodes:
                self._check(sub)

    def _eval(self, node: Node, fold: bool = False) -> set[int]:
        if isinstance(node, MatchAll):
            return set(range(len(self.records)))
        if isinstance(node, Not):
            return set(range(len(self.records))) - self._eval(node.node, fold)
        if isinstance(node, And):
            result = self._eval(node.nodes[0], fold)
            for sub in node.nodes[1:]:
                if not result:
                    break
                result &= self._eval(sub, fold)
            return result
        if isinstance(node, Or):
            result = set()
            for sub in node.nodes:
                result |= self._eval(sub, fold)
            return result
        if node.field is None:
            result = set()
            for name in self.fields:
                result |= self._match(name, node, fold)
            return result
        return self._match(node.field, node, fold)

    def _match(self, name: str, m: Match, fold: bool = False) -> set[int]:
        if fold and m.kind in ("exact", "wild", "token"):
            return self._match_folded(name, m)
        idx = self.index(name)
        out: set[int] = set()
        if m.kind == "exact":
            if self._numeric[name]:
                want = _number(m.text)
                if want is None:
                    return out
                for key, lst in idx.items():
                    if _number(key) == want:
                        out.update(lst)
                return out
            out.update(idx.get(m.text, ()))
            return out
        if m.kind == "exists":
            for lst in idx.values():
                out.update(lst)
            return out
        if m.kind == "wild":
            assert m.pattern is not None
            match = m.pattern.fullmatch
            for key, lst in idx.items():
                if match(key):
                    out.update(lst)
            return out
        if m.kind == "token":
            pat = m.pattern
            for key, lst in idx.items():
                tokens = _TOKEN_SPLIT.split(key)
                if (m.text in tokens) if pat is None else any(map(pat.fullmatch, tokens)):
                    out.update(lst)
            return out
        return self._range(idx, m)

    def _match_folded(self, name: str, m: Match) -> set[int]:
        """Case-insensitive :meth:`_match` (an option: the real server's case rule is unknown)."""
        idx = self.index(name)
        if self._numeric[name]:
            return self._match(name, m)
        out: set[int] = set()
        if m.kind == "exact":
            want = m.text.casefold()
            for key, lst in idx.items():
                if key.casefold() == want:
                    out.update(lst)
            return out
        assert m.kind == "token" or m.pattern is not None
        pat = None if m.pattern is None else re.compile(m.pattern.pattern, re.IGNORECASE)
        for key, lst in idx.items():
            if m.kind == "wild":
                assert pat is not None
                hit = pat.fullmatch(key) is not None
            else:
                tokens = _TOKEN_SPLIT.split(key)
                if pat is None:
                    want = m.text.casefold()
                    hit = any(t.casefold() == want for t in tokens)
                else:
                    hit = any(map(pat.fullmatch, tokens))
            if hit:
                out.update(lst)
        return out

    @staticmethod
    def _range(idx: Mapping[str, list[int]], m: Match) -> set[int]:
        out: set[int] = set()
        bounds = [b for b in (m.lo, m.hi) if b is not None]
        if not bounds:  # [* TO *]: any value
            for lst in idx.values():
                out.update(lst)
            return out
        if all(_number(b) is not None for b in bounds):
            lo = None if m.lo is None else _number(m.lo)
            hi = None if m.hi is None else _number(m.hi)
            for key, lst in idx.items():
                x = _number(key)
                if x is None:
                    continue
                if lo is not None and (x < lo or (x == lo and not m.lo_incl)):
                    continue
                if hi is not None and (x > hi or (x == hi and not m.hi_incl)):
                    continue
                out.update(lst)
            return out
        for key, lst in idx.items():
            if m.lo is not None and (key < m.lo or (key == m.lo and not m.lo_incl)):
                continue
            if m.hi is not None and (key > m.hi or (key == m.hi and not m.hi_incl)):
                continue
            out.update(lst)
        return out

    def _remember(self, key: tuple[Any, ...], value: list[int]) -> list[int]:
        with self._lock:
            self._cache[key] = value
            if len(self._cache) > 64:
                self._cache.popitem(last=False)
        return value

    def search(
        self,
        q: str | None,
        fq: Sequence[str] = (),
        *,
        join: ClauseJoin = "AND",
        sort: Sequence[SortSpec] = (),
        ignore_case: bool = False,
    ) -> list[int]:
        """Positions matching ``q`` AND every ``fq``, default order unless ``sort`` is given.

        ``ignore_case`` matches string values (exact, wildcard, token) case-insensitively.
        """
        key = ("q", q, tuple(fq), join, tuple(sort), ignore_case)
        with self._lock:  # the emulator's server is threaded
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        trees = [parse_query(text, join) for text in (q or "", *fq) if text.strip()]
        for tree in trees:
            self._check(tree)
        result: set[int] | None = None
        for tree in trees:
            found = self._eval(tree, ignore_case)
            result = found if result is None else result & found
        if result is None:
            result = set(range(len(self.records)))
        return self._remember(key, self.sort(sorted(result), sort))

    def select_post(
        self, body: Mapping[str, Any], *, sort: Sequence[SortSpec] = (), ignore_case: bool = False
    ) -> list[int]:
        """Positions matching a POST-select body: keys ANDed, list members ORed, exact values."""
        for name in body:
            self.check_field(name)
        result: set[int] | None = None
        for name, raw in body.items():
            values = raw if isinstance(raw, list) else [raw]
            if not values:
                raise QueryError(f"no values given for {name}")
            found: set[int] = set()
            for value in values:
                if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                    raise QueryError(f"values of {name} must be strings")
                exact = Match(name, "exact", text=_text(value))
                found |= self._match(name, exact, ignore_case)
            result = found if result is None else result & found
        if result is None:
            result = set(range(len(self.records)))
        return self.sort(sorted(result), sort)

    # -- sorting
    def check_sort(self, specs: Sequence[SortSpec]) -> None:
        for name, _ in specs:
            self.check_field(name)

    def sort(self, positions: list[int], specs: Sequence[SortSpec]) -> list[int]:
        """Stable multi-key sort; missing values last in both directions.

        Strings and ints compare as strings (Solr string fields: ``neuron_id`` sorts
        1, 10, 100, 2), floats numerically, lists by their first element.
        """
        if not specs:
            return positions
        self.check_sort(specs)
        out = list(positions)
        recs = self.records
        for name, desc in reversed(specs):
            get = self.fields[name]

            def key(pos: int, get: Getter = get, desc: bool = desc) -> tuple[bool, Any]:
                value = get(recs[pos])
                if isinstance(value, list):
                    value = value[0] if value else None
                # The flag puts missing values last whichever way the list is reversed.
                if value is None:
                    return (not desc, "")
                if not isinstance(value, float):
                    value = _text(value)
                return (desc, value)

            out.sort(key=key, reverse=desc)
        return out
