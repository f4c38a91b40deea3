"""Query engine of the offline emulator: Solr/Lucene-like ``q``/``fq`` and POST-select bodies.

Semantics (reference §3.2; choices where the real server is unknown are marked *U*):

- ``field:value`` matches records whose stored value equals ``value`` exactly
  (case-sensitive, *U*: the real server's case sensitivity is unknown). Numbers are
  compared as their string form, except in float-typed collections (morphometry, pvec),
  where an exact clause compares numerically.
- ``field:a,b,c``: OR within the field. Commas inside double quotes or after a backslash
  do not split.
- ``*`` (any run) and ``?`` (one character) wildcards; ``field:*`` means "has a value".
- ``"quoted phrase"``: exact match of the whole value; ``\\"`` and ``\\\\`` escape inside.
  A backslash outside quotes makes the next character literal (``dragonfly\\ `` keeps
  the trailing space).
- ``[a TO b]`` / ``{a TO b}`` (inclusive / exclusive, mixable, ``*`` = open end):
  numeric when every bound is a number or ``*``, lexicographic otherwise.
- An unquoted multi-word value (``brain_region:entorhinal cortex``) is split the way the
  Lucene parser splits it; only its last word acts as a search term, matched as a
  whitespace/comma-separated token of the field's values (reference: the query then finds
  everything with ``cortex``).
- List fields match when any element matches.
- Space-separated clauses join with AND or OR (``clause_join``; *U*, Solr's default is OR);
  explicit ``AND``/``OR``/``&&``/``||``, ``NOT``/``-`` negation, ``+`` and parentheses
  (also ``field:(a OR b)``) are supported, AND binding tighter than OR. ``*:*`` is
  everything; a term without a field searches the tokens of every field.
- Repeated ``fq`` are ANDed with ``q`` and with each other.
- Unknown field names raise :class:`UnknownFieldError`, malformed input
  :class:`QuerySyntaxError` (the app answers both with 400).

POST bodies (reference §3.3): keys ANDed, list members ORed, exact strings, no syntax.
"""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Union

__all__ = [
    "ClauseJoin",
    "Collection",
    "QueryError",
    "QuerySyntaxError",
    "SortSpec",
    "UnknownFieldError",
    "parse_sort",
]

ClauseJoin = Literal["AND", "OR"]
#: One sort key: (field name, descending).
SortSpec = tuple[str, bool]
Getter = Callable[[Mapping[str, Any]], Any]


class QueryError(ValueError):
    """A query, body or sort the emulator rejects; the app turns it into a 400."""


class QuerySyntaxError(QueryError):
    """Malformed ``q``/``fq`` text."""


class UnknownFieldError(QueryError):
    """A field name the collection does not have."""

    def __init__(self, field_name: str) -> None:
        super().__init__(f"undefined field {field_name}")
        self.field = field_name


# --------------------------------------------------------------------------- lexer

_WS, _LP, _RP, _COMMA, _COLON, _WORD, _RANGE = range(7)
_OPS = {"AND": "AND", "&&": "AND", "OR": "OR", "||": "OR"}


@dataclass
class _Tok:
    kind: int
    # WORD: characters with a "literal" flag (escaped or quoted: no wildcard, no operator).
    pieces: list[tuple[str, bool]] = field(default_factory=list)
    # RANGE bounds: None is an open end (``*``).
    lo: str | None = None
    hi: str | None = None
    lo_incl: bool = True
    hi_incl: bool = True

    @property
    def text(self) -> str:
        return "".join(c for c, _ in self.pieces)

    @property
    def bare(self) -> str | None:
        """The text if no character is literal (candidates for operators), else None."""
        if any(lit for _, lit in self.pieces):
            return None
        return self.text


def _read_quoted(s: str, i: int, out: list[tuple[str, bool]]) -> int:
    """Append the quoted run starting after the quote at ``i - 1``; return the index after it."""
    n = len(s)
    while i < n:
        c = s[i]
        if c == "\\" and i + 1 < n:
            out.append((s[i + 1], True))
            i += 2
            continue
        if c == '"':
            return i + 1
        out.append((c, True))
        i += 1
    raise QuerySyntaxError("unterminated quoted phrase")


def _range_bound(raw: list[tuple[str, bool]]) -> str | None:
    if len(raw) == 1 and raw[0] == ("*", False):
        return None
    return "".join(c for c, _ in raw)


def _read_range(s: str, i: int) -> tuple[_Tok, int]:
    """Parse ``[lo TO hi]`` starting at the bracket at ``i``."""
    n = len(s)
    lo_incl = s[i] == "["
    i += 1
    words: list[list[tuple[str, bool]]] = []
    cur: list[tuple[str, bool]] | None = None
    while i < n:
        c = s[i]
        if c in "]}":
            if cur is not None:
                words.append(cur)
            if len(words) != 3 or "".join(ch for ch, _ in words[1]) != "TO":
                raise QuerySyntaxError("range must look like [a TO b]")
            tok = _Tok(
                _RANGE,
                lo=_range_bound(words[0]),
                hi=_range_bound(words[2]),
                lo_incl=lo_incl,
                hi_incl=c == "]",
            )
            return tok, i + 1
        if c.isspace():
            if cur is not None:
                words.append(cur)
                cur = None
            i += 1
            continue
        if cur is None:
            cur = []
        if c == "\\" and i + 1 < n:
            cur.append((s[i + 1], True))
            i += 2
        elif c == '"':
            i = _read_quoted(s, i + 1, cur)
        else:
            cur.append((c, False))
            i += 1
    raise QuerySyntaxError("unterminated range")


def _lex(s: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(s)
    singles = {"(": _LP, ")": _RP, ",": _COMMA, ":": _COLON}
    while i < n:
        c = s[i]
        if c.isspace():
            while i < n and s[i].isspace():
                i += 1
            toks.append(_Tok(_WS))
            continue
        if c in singles:
            toks.append(_Tok(singles[c]))
            i += 1
            continue
        if c in "[{":
            tok, i = _read_range(s, i)
            toks.append(tok)
            continue
        if c in "]}":
            raise QuerySyntaxError(f"unexpected {c!r}")
        pieces: list[tuple[str, bool]] = []
        while i < n:
            c = s[i]
            if c == "\\":
                if i + 1 >= n:
                    raise QuerySyntaxError("query ends with a backslash")
                pieces.append((s[i + 1], True))
                i += 2
            elif c == '"':
                i = _read_quoted(s, i + 1, pieces)
            elif c.isspace() or c in "(),:[]{}":
                break
            else:
                pieces.append((c, False))
                i += 1
        toks.append(_Tok(_WORD, pieces=pieces))
    return toks


# --------------------------------------------------------------------------- AST


@dataclass
class _All:
    pass


@dataclass
class _Not:
    node: Node


@dataclass
class _And:
    nodes: list[Node]


@dataclass
class _Or:
    nodes: list[Node]


@dataclass
class _Match:
    """One value test on one field (``field`` None: every field, token-wise)."""

    field: str | None
    kind: Literal["exact", "exists", "wild", "token", "range"]
    text: str = ""
    pattern: re.Pattern[str] | None = None
    lo: str | None = None
    hi: str | None = None
    lo_incl: bool = True
    hi_incl: bool = True


Node = Union[_All, _Not, _And, _Or, _Match]


def _wild_regex(pieces: Sequence[tuple[str, bool]]) -> re.Pattern[str]:
    parts = []
    for c, lit in pieces:
        if not lit and c == "*":
            parts.append(".*")
        elif not lit and c == "?":
            parts.append(".")
        else:
            parts.append(re.escape(c))
    return re.compile("".join(parts), re.DOTALL)


def _has_wild(pieces: Sequence[tuple[str, bool]]) -> bool:
    return any(not lit and c in "*?" for c, lit in pieces)


class _Parser:
    def __init__(self, text: str, join: ClauseJoin) -> None:
        self.toks = _lex(text)
        self.pos = 0
        self.join = join

    # token helpers
    def peek(self, ahead: int = 0) -> _Tok | None:
        j = self.pos + ahead
        return self.toks[j] if j < len(self.toks) else None

    def kind(self, ahead: int = 0) -> int | None:
        tok = self.peek(ahead)
        return None if tok is None else tok.kind

    def skip_ws(self) -> None:
        while self.kind() == _WS:
            self.pos += 1

    def parse(self) -> Node:
        self.skip_ws()
        if self.peek() is None:
            return _All()
        node = self.expr(None)
        self.skip_ws()
        if self.peek() is not None:
            raise QuerySyntaxError("unbalanced ')'")
        return node

    def op_word(self) -> str | None:
        tok = self.peek()
        if tok is not None and tok.kind == _WORD and tok.bare in _OPS:
            return _OPS[tok.bare]
        return None

    def expr(self, fld: str | None) -> Node:
        items = [self.unary(fld)]
        ops: list[str] = []
        while True:
            self.skip_ws()
            if self.kind() in (None, _RP):
                break
            op = self.op_word()
            if op is None:
                op = self.join
            else:
                self.pos += 1
                self.skip_ws()
            items.append(self.unary(fld))
            ops.append(op)
        groups: list[list[Node]] = [[items[0]]]
        for op, item in zip(ops, items[1:]):
            if op == "AND":
                groups[-1].append(item)
            else:
                groups.append([item])
        ors: list[Node] = [g[0] if len(g) == 1 else _And(g) for g in groups]
        return ors[0] if len(ors) == 1 else _Or(ors)

    def unary(self, fld: str | None) -> Node:
        tok = self.peek()
        if tok is None:
            raise QuerySyntaxError("query ends where a clause was expected")
        if tok.kind == _WORD and tok.bare == "NOT":
            self.pos += 1
            self.skip_ws()
            return _Not(self.unary(fld))
        if tok.kind == _WORD and tok.pieces and tok.pieces[0] in (("-", False), ("+", False)):
            negate = tok.pieces[0][0] == "-"
            if len(tok.pieces) == 1:
                self.pos += 1
                inner = self.unary(fld)
            else:
                tok.pieces = tok.pieces[1:]
                inner = self.unary(fld)
            return _Not(inner) if negate else inner
        return self.primary(fld)

    def primary(self, fld: str | None) -> Node:
        tok = self.peek()
        assert tok is not None
        if tok.kind == _LP:
            self.pos += 1
            self.skip_ws()
            node = self.expr(fld)
            self.skip_ws()
            if self.kind() != _RP:
                raise QuerySyntaxError("missing ')'")
            self.pos += 1
            return node
        if tok.kind == _WORD and self.kind(1) == _COLON:
            name = tok.text
            self.pos += 2
            nxt = self.peek()
            if nxt is None or nxt.kind in (_WS, _RP, _COMMA, _COLON):
                raise QuerySyntaxError(f"no value after '{name}:'")
            if name == "*":
                if nxt.kind == _WORD and nxt.bare == "*":
                    self.pos += 1
                    return _All()
                raise QuerySyntaxError("'*:' must be followed by '*'")
            if not name:
                raise QuerySyntaxError("empty field name")
            if nxt.kind == _LP:
                self.pos += 1
                self.skip_ws()
                node = self.expr(name)
                self.skip_ws()
                if self.kind() != _RP:
                    raise QuerySyntaxError("missing ')'")
                self.pos += 1
                return node
            return self.values(name, continuation=fld is None)
        if tok.kind in (_WORD, _RANGE):
            return self.values(fld, continuation=False)
        raise QuerySyntaxError("a clause cannot start here")

    def values(self, fld: str | None, *, continuation: bool) -> Node:
        first = self.peek()
        assert first is not None
        if first.kind not in (_WORD, _RANGE):
            raise QuerySyntaxError("value expected")
        self.pos += 1
        alts: list[list[_Tok]] = [[first]]
        while True:
            k = self.kind()
            if k == _COMMA:
                self.pos += 1
                self.skip_ws()
                tok = self.peek()
                if tok is None or tok.kind not in (_WORD, _RANGE):
                    raise QuerySyntaxError("value expected after ','")
                self.pos += 1
                alts.append([tok])
                continue
            if k == _WS:
                j = 0
                while self.kind(j) == _WS:
                    j += 1
                nxt = self.peek(j)
                if nxt is not None and nxt.kind == _COMMA:
                    self.pos += j
                    continue
                if (
                    continuation
                    and nxt is not None
                    and nxt.kind == _WORD
                    and self.kind(j + 1) != _COLON
                    and nxt.bare not in _OPS
                    and nxt.bare != "NOT"
                    and nxt.pieces[:1] not in ([("-", False)], [("+", False)])
                ):
                    # Lucene would turn the next word into its own clause; the reported
                    # effect is that only the last word counts, on this field (§3.2).
                    self.pos += j + 1
                    alts[-1].append(nxt)
                    continue
            break
        nodes = [self.alt_node(fld, alt) for alt in alts]
        return nodes[0] if len(nodes) == 1 else _Or(list(nodes))

    @staticmethod
    def alt_node(fld: str | None, alt: list[_Tok]) -> Node:
        last = alt[-1]
        if last.kind == _RANGE:
            if len(alt) > 1:
                raise QuerySyntaxError("a range cannot follow a word")
            return _Match(
                fld, "range", lo=last.lo, hi=last.hi, lo_incl=last.lo_incl, hi_incl=last.hi_incl
            )
        pieces = last.pieces
        if len(alt) > 1 or fld is None:
            if _has_wild(pieces):
                return _Match(fld, "token", pattern=_wild_regex(pieces))
            return _Match(fld, "token", text=last.text)
        if pieces == [("*", False)]:
            return _Match(fld, "exists")
        if _has_wild(pieces):
            return _Match(fld, "wild", pattern=_wild_regex(pieces))
        return _Match(fld, "exact", text=last.text)


def parse_query(text: str, join: ClauseJoin = "AND") -> Node:
    """Parse ``q``/``fq`` text into an evaluable tree (raises :class:`QuerySyntaxError`)."""
    return _Parser(text, join).parse()


def parse_sort(values: Iterable[str]) -> list[SortSpec]:
    """Parse Spring ``sort`` parameters: ``f``, ``f,asc``, ``f,desc``, ``f,f,asc``, ``a,b,desc``.

    Empty values are ignored; a direction with no field raises :class:`QueryError`.
    Field names are not checked here (see :meth:`Collection.check_sort`).
    """
    specs: list[SortSpec] = []
    for raw in values:
        parts = [p.strip() for p in raw.split(",") if p.strip()]
        if not parts:
            continue
        desc = False
        if parts[-1].lower() in ("asc", "desc"):
            desc = parts[-1].lower() == "desc"
            parts = parts[:-1]
            if not parts:
                raise QueryError(f"sort direction without a field: {raw!r}")
        for name in parts:
            if all(name != s[0] for s in specs):
                specs.append((name, desc))
    return specs


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
    ``records``; results come back in that (default) order unless sorted.
    """

    def __init__(self, records: Sequence[Mapping[str, Any]], fields: Mapping[str, Getter]) -> None:
        self.records = records
        self.fields = dict(fields)
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
        for pos, rec in enumerate(self.records):
            value = get(rec)
            if value is None:
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
        if isinstance(node, _Match):
            if node.field is not None:
                self.check_field(node.field)
        elif isinstance(node, _Not):
            self._check(node.node)
        elif isinstance(node, (_And, _Or)):
            for sub in node.nodes:
                self._check(sub)

    def _eval(self, node: Node) -> set[int]:
        if isinstance(node, _All):
            return set(range(len(self.records)))
        if isinstance(node, _Not):
            return set(range(len(self.records))) - self._eval(node.node)
        if isinstance(node, _And):
            result = self._eval(node.nodes[0])
            for sub in node.nodes[1:]:
                if not result:
                    break
                result &= self._eval(sub)
            return result
        if isinstance(node, _Or):
            result = set()
            for sub in node.nodes:
                result |= self._eval(sub)
            return result
        if node.field is None:
            result = set()
            for name in self.fields:
                result |= self._match(name, node)
            return result
        return self._match(node.field, node)

    def _match(self, name: str, m: _Match) -> set[int]:
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

    @staticmethod
    def _range(idx: Mapping[str, list[int]], m: _Match) -> set[int]:
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
    ) -> list[int]:
        """Positions matching ``q`` AND every ``fq``, default order unless ``sort`` is given."""
        key = ("q", q, tuple(fq), join, tuple(sort))
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
            found = self._eval(tree)
            result = found if result is None else result & found
        if result is None:
            result = set(range(len(self.records)))
        return self._remember(key, self.sort(sorted(result), sort))

    def select_post(self, body: Mapping[str, Any], *, sort: Sequence[SortSpec] = ()) -> list[int]:
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
                found |= self._match(name, _Match(name, "exact", text=_text(value)))
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
