"""Build the ``q``/``fq`` parameters of NeuroMorpho.Org ``select`` requests.

Criteria map a field to a value or a list of values::

    {"species": "rat", "brain_region": ["neocortex", "principal cell layer"]}

become one clause per field, ANDed as ``q`` plus repeated ``fq``, each an OR over its values::

    q=species:rat
    fq=brain_region:neocortex,"principal cell layer"

Values are written so that the server matches them exactly (see :func:`quote_value`). Pure
functions, no I/O.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Union

from neuromorpho_api._errors import UnknownFieldError, UnknownValueError
from neuromorpho_api._frames import DATE_FIELDS, NUMERIC_FIELDS

__all__ = [
    "EXTRA_FIELDS",
    "UNCHECKED_FIELDS",
    "CriterionValue",
    "build_clauses",
    "criterion_values",
    "is_pattern",
    "merge_criteria",
    "quote_value",
    "resolve_field",
    "select_params",
    "stored_values",
]

CriterionValue = Union[str, int, Iterable[Union[str, int]]]
"""A criterion: one value, or several values of which any may match."""

EXTRA_FIELDS: frozenset[str] = frozenset(
    {f"{base}_{i}" for base in ("brain_region", "cell_type") for i in (1, 2, 3)}
)
"""Search-index fields the server accepts but does not list in ``/api/neuron/fields``."""

UNCHECKED_FIELDS: frozenset[str] = (
    frozenset(
        {
            # one value per neuron, or nearly: the lists would cost dozens of pages
            "neuron_id",
            "neuron_name",
            "note",
            "png_url",
            "reference_pmid",
            "reference_doi",
        }
    )
    | (NUMERIC_FIELDS - {"magnification"})
    | DATE_FIELDS
)
# Numbers and dates are compared as the server stores them ("45.0", "2006-08-01");
# magnification has a few dozen values ("100", "60"), so a typo there is worth catching.
"""Neuron fields whose criteria values are not checked against ``/fields/{f}``: identifiers,
free text, numbers and dates, where the value list is long and a value absent from it is a
legitimate question (no neuron of that paper, age or day), not a typo."""

_WILDCARDS = frozenset("*?")
_OPERATORS = frozenset({"AND", "OR", "NOT", "TO"})


def _is_bare(value: str) -> bool:
    """Whether ``value`` needs neither quotes nor escapes."""
    return value != "" and value not in _OPERATORS and all(c.isalnum() or c in "_." for c in value)


def quote_value(value: str, *, wildcards: bool = True) -> str:
    """Write one value as a Lucene term that matches it exactly.

    - Letters, digits, ``_`` and ``.`` only: written as they are (``rat``, ``cnic_001``).
    - With ``*`` or ``?`` (and ``wildcards`` true): a wildcard term, ``*`` any run of
      characters and ``?`` any one; every other character but letters, digits, ``_`` and
      ``.`` is backslash-escaped, spaces included (``CB_CKp25_2w_F_Animal01_*``,
      ``Drosophila\\ mel*``).
    - Anything else: a quoted phrase with ``"`` and ``\\`` escaped
      (``"principal cell layer"``, ``"Dendrites, Soma, No Axon"``, ``""``).
    """
    if _is_bare(value):
        return value
    if wildcards and any(c in _WILDCARDS for c in value):
        return "".join(c if c.isalnum() or c in "_.*?" else "\\" + c for c in value)
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def resolve_field(name: str, known: Collection[str]) -> str:
    """Return the server's spelling of field ``name``, or raise :class:`UnknownFieldError`.

    An exact match wins; otherwise a unique case-insensitive match is accepted, so the record
    key ``physical_Integrity`` finds the searchable field ``Physical_Integrity``. The error lists
    up to three close matches.
    """
    if not isinstance(name, str):
        raise TypeError(f"field names are strings, not {type(name).__name__}")
    if name in known:
        return name
    folded = name.casefold()
    same = [k for k in known if k.casefold() == folded]
    if len(same) == 1:
        return same[0]

    def norm(s: str) -> str:
        return s.casefold().replace(" ", "_").replace("-", "_")

    by_norm: dict[str, str] = {}
    for k in sorted(known):
        by_norm.setdefault(norm(k), k)
    close = difflib.get_close_matches(norm(name), list(by_norm), n=3, cutoff=0.6)
    raise UnknownFieldError(name, [by_norm[c] for c in close])


def criterion_values(field: str, value: object) -> list[str]:
    """The criterion ``value`` of ``field`` as a non-empty list of strings."""
    items: list[object]
    if isinstance(value, (str, int)):
        items = [value]
    elif isinstance(value, (bytes, bytearray, Mapping)) or not isinstance(value, Iterable):
        raise TypeError(
            f"criterion {field!r}: expected a str, an int or a list of them, "
            f"not {type(value).__name__}"
        )
    else:
        items = list(value)
        if not items:
            raise ValueError(f"criterion {field!r}: an empty list matches nothing")
    out: list[str] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            hint = (
                " (pass numbers as the strings the server stores, e.g. '45.0')"
                if isinstance(item, float)
                else ""
            )
            raise TypeError(
                f"criterion {field!r}: values must be str or int, not {type(item).__name__}{hint}"
            )
        out.append(str(item))
    return out


def build_clauses(
    criteria: Mapping[str, CriterionValue], known_fields: Collection[str] | None = None
) -> list[str]:
    """One ``field:v1,v2`` clause per criterion, in order.

    Field names are checked with :func:`resolve_field` against ``known_fields`` when given.
    """
    known = None if known_fields is None else set(known_fields)
    clauses = []
    for name, value in criteria.items():
        field = name if known is None else resolve_field(name, known)
        if not field or not all(c.isalnum() or c == "_" for c in field):
            raise UnknownFieldError(field)
        clauses.append(
            f"{field}:" + ",".join(quote_value(v) for v in criterion_values(name, value))
        )
    return clauses


def merge_criteria(
    criteria: Mapping[str, CriterionValue] | None, keywords: Mapping[str, CriterionValue]
) -> dict[str, CriterionValue]:
    """Merge positional-dict and keyword criteria; a field given twice is an error."""
    if criteria is not None and not isinstance(criteria, Mapping):
        raise TypeError(f"criteria must be a mapping, not {type(criteria).__name__}")
    merged: dict[str, CriterionValue] = dict(criteria or {})
    for name, value in keywords.items():
        if name in merged:
            raise TypeError(f"criterion {name!r} given twice")
        merged[name] = value
    return merged


def select_params(
    clauses: Sequence[str], q: str | None = None, fq: str | Sequence[str] = ()
) -> dict[str, str | list[str]]:
    """``{"q": first, "fq": [rest...]}`` from a raw ``q``, built clauses and raw ``fq``.

    The raw ``q`` comes first, then ``clauses``, then ``fq``; empty when there is none.
    """
    raw_fq = [fq] if isinstance(fq, str) else list(fq)
    if q is not None and not isinstance(q, str):
        raise TypeError(f"q must be a str, not {type(q).__name__}")
    for clause in raw_fq:
        if not isinstance(clause, str):
            raise TypeError(f"fq entries must be str, not {type(clause).__name__}")
    every = [*([q] if q is not None else []), *clauses, *raw_fq]
    if any(not c.strip() for c in every):
        raise ValueError("empty q/fq clause")
    if not every:
        return {}
    params: dict[str, str | list[str]] = {"q": every[0]}
    if len(every) > 1:
        params["fq"] = every[1:]
    return params


def is_pattern(value: str) -> bool:
    """Whether ``value`` is a wildcard (``*``, ``?``) or a range (``[a TO b]``), not a value."""
    if any(c in _WILDCARDS for c in value):
        return True
    text = value.strip()
    return text[:1] in "[{" and text[-1:] in "]}" and " TO " in text


def _squash(value: str) -> str:
    return " ".join(value.split())


def stored_values(field: str, values: Sequence[str], stored: Collection[str]) -> list[str]:
    """The forms to send for criterion ``values`` of ``field``, given the field's stored values.

    A value stored as given is kept; one the server stores only with stray whitespace
    (``"dragonfly"`` stored as ``"dragonfly "``) is replaced by every stored form that differs
    from it in whitespace alone. Wildcards and ranges pass unchecked. Any other value raises
    :class:`UnknownValueError` naming up to three close stored values (same letters in another
    case first).
    """
    by_squashed: dict[str, list[str]] = {}
    for s in stored:
        by_squashed.setdefault(_squash(s), []).append(s)
    out: list[str] = []
    for value in values:
        if value in stored or is_pattern(value):
            out.append(value)
            continue
        forms = by_squashed.get(_squash(value))
        if forms:
            out.extend(sorted(forms))
            continue
        raise UnknownValueError(field, value, _close_values(value, by_squashed))
    return list(dict.fromkeys(out))


def _close_values(value: str, by_squashed: Mapping[str, list[str]]) -> list[str]:
    folded: dict[str, str] = {}
    for squashed, forms in sorted(by_squashed.items()):
        folded.setdefault(squashed.casefold(), forms[0])
    key = _squash(value).casefold()
    same_letters = [folded[key]] if key in folded else []
    close = difflib.get_close_matches(key, list(folded), n=3, cutoff=0.6)
    return list(dict.fromkeys([*same_letters, *(folded[c] for c in close)]))[:3]
