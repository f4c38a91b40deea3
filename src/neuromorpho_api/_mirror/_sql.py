"""Translate ``q``/``fq`` clauses into SQL over the mirror's tables.

This is the mirror's own reading of the server's query language, deliberately small: it
answers only the forms whose server semantics are known (reference §3.2 and §9) and refuses
the rest with :class:`OfflineUnsupportedError`, naming the clause:

- ``field:v1,v2,...``: OR over the values; separate clauses (``q`` and every ``fq``) are ANDed.
- A value is a quoted phrase (``"entorhinal cortex"``, exact, no wildcards), or a word of
  letters, digits and ``_ . ' - +`` (``-``/``+`` not first) in which ``\\x`` is the literal
  ``x`` and unescaped ``*``/``?`` are wildcards over the whole stored value.
- ``field:*`` and ``field:[* TO *]``: the field has a value; ``*:*``: every record.
- List fields match when any element matches; ``brain_region_1..3``/``cell_type_1..3`` test
  one element. ``neuron_id`` takes whole numbers only.

Refused (semantics unknown, §9): unquoted whitespace (space-separated clauses, multi-word
values), ranges other than ``[* TO *]``, boolean operators, parentheses, fuzzy/boost/regex
syntax. Matching is exact and case-sensitive unless the sync settled otherwise (see
:class:`CaseMode`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Union

from neuromorpho_api._mirror._errors import OfflineUnsupportedError

__all__ = ["ALL", "Clause", "Exact", "Exists", "Wild", "parse_clause", "to_glob"]

CaseMode = Literal["sensitive", "insensitive", "unknown"]
_FIELD = re.compile(r"([A-Za-z0-9_]+):")
_FORBIDDEN = frozenset('()[]{}^~:/!|&"<>=')
_OPERATORS = frozenset({"AND", "OR", "NOT", "TO", "&&", "||"})


@dataclass(frozen=True)
class Exact:
    text: str


@dataclass(frozen=True)
class Wild:
    """A Lucene wildcard: ``pieces`` are (character, literal?) pairs."""

    pieces: tuple[tuple[str, bool], ...]


@dataclass(frozen=True)
class Exists:
    pass


Value = Union[Exact, Wild, Exists]


@dataclass(frozen=True)
class Clause:
    text: str
    field: str
    values: tuple[Value, ...]


class _All:
    pass


ALL = _All()


def _refuse(clause: str, reason: str) -> OfflineUnsupportedError:
    return OfflineUnsupportedError(clause, reason)


def _split_values(clause: str, rest: str) -> list[str]:
    """Split on commas outside quotes and not escaped."""
    parts: list[str] = []
    current: list[str] = []
    i, n = 0, len(rest)
    quoted = False
    while i < n:
        c = rest[i]
        if c == "\\":
            if i + 1 >= n:
                raise _refuse(clause, "it ends with a backslash")
            current.append(rest[i : i + 2])
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        if c == "," and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(c)
        i += 1
    if quoted:
        raise _refuse(clause, "a quoted phrase is not closed")
    parts.append("".join(current))
    return parts


def _parse_value(clause: str, raw: str) -> Value:
    if raw == "":
        raise _refuse(clause, "it has an empty value")
    if raw.startswith('"'):
        out: list[str] = []
        i = 1
        while i < len(raw):
            c = raw[i]
            if c == "\\" and i + 1 < len(raw):
                out.append(raw[i + 1])
                i += 2
                continue
            if c == '"':
                if i != len(raw) - 1:
                    raise _refuse(clause, "text follows a quoted phrase")
                return Exact("".join(out))
            out.append(c)
            i += 1
        raise _refuse(clause, "a quoted phrase is not closed")
    if raw in _OPERATORS:
        raise _refuse(clause, f"{raw} is a query operator, not a value")
    if raw[0] in "+-":
        raise _refuse(clause, "a leading + or - is a query operator")
    pieces: list[tuple[str, bool]] = []
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == "\\":
            pieces.append((raw[i + 1], True))
            i += 2
            continue
        if c.isspace():
            raise _refuse(
                clause,
                "unquoted whitespace (space-separated clauses or a multi-word value): how the "
                "server reads it is unknown; quote multi-word values",
            )
        if c in _FORBIDDEN:
            raise _refuse(clause, f"{c!r} is query syntax the mirror does not evaluate")
        pieces.append((c, False))
        i += 1
    if pieces == [("*", False)]:
        return Exists()
    if any(not lit and c in "*?" for c, lit in pieces):
        return Wild(tuple(pieces))
    return Exact("".join(c for c, _ in pieces))


def _strip(text: str) -> str:
    """Strip surrounding whitespace, keeping a trailing escaped one (``dragonfly\\ ``)."""
    s = text.lstrip()
    while s and s[-1].isspace():
        slashes = len(s[:-1]) - len(s[:-1].rstrip("\\"))
        if slashes % 2:
            break
        s = s[:-1]
    return s


def parse_clause(text: str) -> Clause | _All:
    """Parse one ``q``/``fq`` string (see the module docstring)."""
    s = _strip(text)
    if s == "*:*":
        return ALL
    m = _FIELD.match(s)
    if m is None:
        raise _refuse(text, "it is not a field:value clause")
    rest = s[m.end() :]
    if rest in ("[* TO *]", "{* TO *}"):
        return Clause(text, m.group(1), (Exists(),))
    if rest[:1] in ("[", "{"):
        raise _refuse(text, "ranges other than [* TO *] compare strings in ways not known")
    values = tuple(_parse_value(text, raw) for raw in _split_values(text, rest))
    return Clause(text, m.group(1), values)


def to_glob(pieces: tuple[tuple[str, bool], ...], fold: bool = False) -> str:
    """A SQLite GLOB pattern with the Lucene wildcard's meaning (whole value, ``*``, ``?``)."""
    out = []
    for c, lit in pieces:
        if not lit and c in "*?":
            out.append(c)
            continue
        c = c.casefold() if fold else c
        out.append("".join(f"[{x}]" if x in "*?[" else x for x in c))
    return "".join(out)
