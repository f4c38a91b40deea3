"""Query building: quoting, criteria, field validation (no network)."""

from __future__ import annotations

import re
from typing import Any, Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from neuromorpho_api import UnknownFieldError
from neuromorpho_api._query import (
    EXTRA_FIELDS,
    build_clauses,
    merge_criteria,
    quote_value,
    resolve_field,
    select_params,
)
from neuromorpho_api.testing._search import Collection

FIELDS = [
    "neuron_id", "neuron_name", "archive", "species", "brain_region", "cell_type", "domain",
    "strain", "original_format", "Physical_Integrity",
]  # fmt: skip

# -- a strict reference parser for the clauses we produce ---------------------------------

_SPECIAL = set('+-&|!(){}[]^"~:\\/,')


class ParseError(ValueError):
    pass


def _parse_term(text: str, i: int) -> tuple[Callable[[str], bool], int]:
    """Parse one term at ``text[i]``; return its matcher and the index after it."""
    if text[i] == '"':
        i += 1
        out = []
        while True:
            if i >= len(text):
                raise ParseError("unterminated phrase")
            c = text[i]
            if c == "\\":
                if i + 1 >= len(text):
                    raise ParseError("dangling escape")
                out.append(text[i + 1])
                i += 2
            elif c == '"':
                i += 1
                break
            else:
                out.append(c)
                i += 1
        literal = "".join(out)
        return (lambda s: s == literal), i
    pattern = []
    raw = []
    wild = False
    while i < len(text) and text[i] != ",":
        c = text[i]
        if c == "\\":
            if i + 1 >= len(text):
                raise ParseError("dangling escape")
            pattern.append(re.escape(text[i + 1]))
            raw.append(text[i + 1])
            i += 2
            continue
        if c.isspace() or c in _SPECIAL:
            raise ParseError(f"unescaped {c!r} in a bare term")
        if c == "*":
            pattern.append(".*")
            wild = True
        elif c == "?":
            pattern.append(".")
            wild = True
        else:
            pattern.append(re.escape(c))
            raw.append(c)
        i += 1
    if not pattern:
        raise ParseError("empty bare term")
    if not wild and "".join(raw) in {"AND", "OR", "NOT", "TO"}:
        raise ParseError("bare operator")
    rx = re.compile("".join(pattern), re.DOTALL)
    return (lambda s: rx.fullmatch(s) is not None), i


def parse_clause(clause: str) -> tuple[str, Callable[[str], bool]]:
    """``field:t1,t2`` -> (field, matcher ORing the terms)."""
    field, colon, rest = clause.partition(":")
    if not colon or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", field):
        raise ParseError(f"bad field in {clause!r}")
    matchers = []
    i = 0
    while True:
        matcher, i = _parse_term(rest, i)
        matchers.append(matcher)
        if i == len(rest):
            break
        if rest[i] != ",":
            raise ParseError(f"junk after a term at {i} in {rest!r}")
        i += 1
    return field, lambda s: any(m(s) for m in matchers)


def glob_matches(pattern: str, s: str) -> bool:
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, s, re.DOTALL) is not None


# -- quote_value -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("rat", "rat"),
        ("cnic_001", "cnic_001"),
        ("45.0", "45.0"),
        ("principal cell layer", '"principal cell layer"'),
        ("Dendrites, Soma, No Axon", '"Dendrites, Soma, No Axon"'),
        ("dragonfly ", '"dragonfly "'),
        ("H16-03-001-01-09-01_559391771_m", '"H16-03-001-01-09-01_559391771_m"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("a:b", '"a:b"'),
        ("[x TO y]", '"[x TO y]"'),
        ("", '""'),
        ("AND", '"AND"'),
        ("NOT", '"NOT"'),
        ("CB_CKp25_2w_F_Animal01_*", "CB_CKp25_2w_F_Animal01_*"),
        ("Drosophila?melanogaster", "Drosophila?melanogaster"),
        ("Drosophila mel*", "Drosophila\\ mel*"),
        ("a-b*", "a\\-b*"),
        ("x,y*", "x\\,y*"),
        ('q"*', 'q\\"*'),
    ],
)
def test_quote_value(value: str, expected: str) -> None:
    assert quote_value(value) == expected


def test_quote_value_without_wildcards_quotes_them() -> None:
    assert quote_value("CB_*", wildcards=False) == '"CB_*"'
    assert quote_value("what?", wildcards=False) == '"what?"'


@given(st.text())
def test_exact_values_round_trip(value: str) -> None:
    _, matches = parse_clause("f:" + quote_value(value, wildcards=False))
    assert matches(value)


@given(st.text(), st.text())
def test_exact_values_match_nothing_else(value: str, other: str) -> None:
    _, matches = parse_clause("f:" + quote_value(value, wildcards=False))
    assert matches(other) == (other == value)


@given(st.text(), st.text())
def test_wildcard_values_keep_glob_semantics(value: str, other: str) -> None:
    _, matches = parse_clause("f:" + quote_value(value))
    if "*" in value or "?" in value:
        assert matches(other) == glob_matches(value, other)
        assert matches(value)
    else:
        assert matches(other) == (other == value)


@given(st.lists(st.text(), min_size=1, max_size=5), st.text())
def test_lists_are_or(values: list[str], other: str) -> None:
    (clause,) = build_clauses({"species": values})
    field, matches = parse_clause(clause)
    assert field == "species"
    assert matches(other) == any(glob_matches(v, other) for v in values)
    assert all(matches(v) for v in values)


@given(st.text(min_size=1))
def test_unescaped_characters_are_plain_word_characters(value: str) -> None:
    quoted = quote_value(value)
    if not quoted.startswith('"'):
        unescaped = re.sub(r"\\.", "", quoted, flags=re.DOTALL)
        assert all(c.isalnum() or c in "_.*?" for c in unescaped)


@given(st.text(), st.text())
def test_the_emulator_query_engine_agrees(value: str, other: str) -> None:
    records: list[dict[str, Any]] = [{"f": value}, {"f": other}, {"f": None}]
    collection = Collection(records, {"f": lambda r: r["f"]})
    (clause,) = build_clauses({"f": value})
    hits = set(collection.search(clause))
    assert hits == {i for i in (0, 1) if glob_matches(value, records[i]["f"] or "")}
    exact = "f:" + quote_value(value, wildcards=False)
    assert set(collection.search(exact)) == {i for i in (0, 1) if records[i]["f"] == value}


@given(st.lists(st.text(), min_size=1, max_size=4), st.lists(st.text(), max_size=4))
def test_the_emulator_agrees_on_lists_and_list_fields(values: list[str], stored: list[str]) -> None:
    collection = Collection([{"f": stored}], {"f": lambda r: r["f"]})
    (clause,) = build_clauses({"f": values})
    expected = any(glob_matches(v, s) for v in values for s in stored)
    assert (collection.search(clause) == [0]) == expected


# -- criteria ----------------------------------------------------------------------------


def test_build_clauses_one_per_field_in_order() -> None:
    clauses = build_clauses(
        {"species": "rat", "brain_region": ["neocortex", "principal cell layer"], "neuron_id": 5},
        FIELDS,
    )
    assert clauses == [
        "species:rat",
        'brain_region:neocortex,"principal cell layer"',
        "neuron_id:5",
    ]


def test_build_clauses_accepts_int_lists_tuples_and_sets() -> None:
    assert build_clauses({"neuron_id": [1, 2, 3]}) == ["neuron_id:1,2,3"]
    assert build_clauses({"neuron_id": (7,)}) == ["neuron_id:7"]
    assert build_clauses({"neuron_id": {4}}) == ["neuron_id:4"]


@pytest.mark.parametrize("bad", [None, 1.5, True, b"rat", {"a": 1}, [1.5], [None], [True]])
def test_build_clauses_rejects_other_types(bad: Any) -> None:
    with pytest.raises(TypeError, match="species"):
        build_clauses({"species": bad})


def test_float_error_says_to_pass_strings() -> None:
    with pytest.raises(TypeError, match="strings the server stores"):
        build_clauses({"volume": [45.0]})  # type: ignore[list-item]


def test_build_clauses_rejects_empty_list() -> None:
    with pytest.raises(ValueError, match="empty list"):
        build_clauses({"species": []})


def test_build_clauses_rejects_field_names_that_would_inject_syntax() -> None:
    with pytest.raises(UnknownFieldError):
        build_clauses({"species:rat OR x": "y"})


def test_physical_integrity_casing_is_accepted() -> None:
    assert resolve_field("physical_Integrity", FIELDS) == "Physical_Integrity"
    assert resolve_field("physical_integrity", FIELDS) == "Physical_Integrity"
    assert resolve_field("Physical_Integrity", FIELDS) == "Physical_Integrity"
    assert build_clauses({"physical_Integrity": "Dendrites Complete"}, FIELDS) == [
        'Physical_Integrity:"Dendrites Complete"'
    ]


def test_exact_match_wins_over_case_folding() -> None:
    known = ["physical_Integrity", "Physical_Integrity"]
    assert resolve_field("physical_Integrity", known) == "physical_Integrity"
    with pytest.raises(UnknownFieldError):
        resolve_field("PHYSICAL_INTEGRITY", known)


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [("specis", "species"), ("brain region", "brain_region"), ("cell-type", "cell_type"),
     ("neuronname", "neuron_name"), ("Archives", "archive")],
)  # fmt: skip
def test_unknown_field_lists_close_matches(name: str, suggestion: str) -> None:
    with pytest.raises(UnknownFieldError) as info:
        resolve_field(name, FIELDS)
    assert info.value.field == name
    assert suggestion in info.value.suggestions
    assert repr(suggestion) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_unknown_field_without_close_match() -> None:
    with pytest.raises(UnknownFieldError) as info:
        build_clauses({"zzzzzz": "x"}, FIELDS)
    assert info.value.suggestions == ()


def test_extra_fields_are_the_solr_side_names() -> None:
    assert {"brain_region_1", "cell_type_3"} <= EXTRA_FIELDS
    assert build_clauses({"brain_region_1": "neocortex"}, [*FIELDS, *EXTRA_FIELDS]) == [
        "brain_region_1:neocortex"
    ]


def test_merge_criteria() -> None:
    assert merge_criteria({"a b": 1}, {"species": "rat"}) == {"a b": 1, "species": "rat"}
    assert merge_criteria(None, {}) == {}
    with pytest.raises(TypeError, match="twice"):
        merge_criteria({"species": "rat"}, {"species": "mouse"})
    with pytest.raises(TypeError, match="mapping"):
        merge_criteria(["species"], {})  # type: ignore[arg-type]


# -- select params -----------------------------------------------------------------------


def test_select_params_first_clause_is_q_rest_fq() -> None:
    assert select_params(["species:rat"]) == {"q": "species:rat"}
    assert select_params(["a:1", "b:2", "c:3"]) == {"q": "a:1", "fq": ["b:2", "c:3"]}
    assert select_params([]) == {}


def test_select_params_raw_q_first_raw_fq_last() -> None:
    params = select_params(["species:rat"], q="archive:Jacobs", fq=["x:1", "y:2"])
    assert params == {"q": "archive:Jacobs", "fq": ["species:rat", "x:1", "y:2"]}
    assert select_params([], fq="x:1") == {"q": "x:1"}


def test_select_params_rejects_bad_raw_clauses() -> None:
    with pytest.raises(ValueError, match="empty"):
        select_params([], q="  ")
    with pytest.raises(TypeError):
        select_params([], q=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        select_params([], fq=[5])  # type: ignore[list-item]
