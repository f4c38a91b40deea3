"""Query language of the offline emulator: Solr/Lucene-like ``q``/``fq`` text and ``sort``.

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

The engine that evaluates the parsed trees is ``_search.Collection``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Union

__all__ = [
    "And",
    "ClauseJoin",
    "Getter",
    "Match",
    "MatchAll",
    "Node",
    "Not",
    "Or",
    "QueryError",
    "QuerySyntaxError",
    "SortSpec",
    "UnknownFieldError",
    "parse_query",
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
class MatchAll:
    pass


@dataclass
class Not:
    node: Node


@dataclass
class And:
    nodes: list[Node]


@dataclass
class Or:
    nodes: list[Node]


@dataclass
class Match:
    """One value test on one field (``field`` None: every field, token-wise)."""

    field: str | None
    kind: Literal["exact", "exists", "wild", "token", "range"]
    text: str = ""
    pattern: re.Pattern[str] | None = None
    lo: str | None = None
    hi: str | None = None
    lo_incl: bool = True
    hi_incl: bool = True


Node = Union[MatchAll, Not, And, Or, Match]


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
            return MatchAll()
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
        ors: list[Node] = [g[0] if len(g) == 1 else And(g) for g in groups]
        return ors[0] if len(ors) == 1 else Or(ors)

    def unary(self, fld: str | None) -> Node:
        tok = self.peek()
        if tok is None:
            raise QuerySyntaxError("query ends where a clause was expected")
        if tok.kind == _WORD and tok.bare == "NOT":
            self.pos += 1
            self.skip_ws()
            return Not(self.unary(fld))
        if tok.kind == _WORD and tok.pieces and tok.pieces[0] in (("-", False), ("+", False)):
            negate = tok.pieces[0][0] == "-"
            if len(tok.pieces) == 1:
                self.pos += 1
                inner = self.unary(fld)
            else:
                tok.pieces = tok.pieces[1:]
                inner = self.unary(fld)
            return Not(inner) if negate else inner
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
                    return MatchAll()
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
        return nodes[0] if len(nodes) == 1 else Or(list(nodes))

    @staticmethod
    def alt_node(fld: str | None, alt: list[_Tok]) -> Node:
        last = alt[-1]
        if last.kind == _RANGE:
            if len(alt) > 1:
                raise QuerySyntaxError("a range cannot follow a word")
            return Match(
                fld, "range", lo=last.lo, hi=last.hi, lo_incl=last.lo_incl, hi_incl=last.hi_incl
            )
        pieces = last.pieces
        if len(alt) > 1 or fld is None:
            if _has_wild(pieces):
                return Match(fld, "token", pattern=_wild_regex(pieces))
            return Match(fld, "token", text=last.text)
        if pieces == [("*", False)]:
            return Match(fld, "exists")
        if _has_wild(pieces):
            return Match(fld, "wild", pattern=_wild_regex(pieces))
        return Match(fld, "exact", text=last.text)


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
