"""The emulator's query engine on a small hand-made collection."""

from __future__ import annotations

from operator import itemgetter
from typing import Any

import pytest

from neuromorpho_api.testing._search import (
    Collection,
    QueryError,
    QuerySyntaxError,
    UnknownFieldError,
    parse_sort,
)

RECORDS: list[dict[str, Any]] = [
    {"id": 1, "name": "cnic_001", "species": "rat", "archive": "Wearne_Hof",
     "region": ["neocortex", "prefrontal", "layer 3"], "size": "834.0", "note": ""},
    {"id": 10, "name": "cell1.2-a", "species": "mouse", "archive": "Allen Cell Types",
     "region": ["hippocampus", "CA1", "principal cell layer"], "size": "15.5", "note": None},
    {"id": 100, "name": "Tm20(a)-3", "species": "dragonfly ", "archive": "Allen Cell Types",
     "region": ["entorhinal cortex", "layer 2"], "size": "100", "note": "a, b"},
    {"id": 2, "name": 'say "hi"\\', "species": "drosophila melanogaster", "archive": "Jacobs",
     "region": ["piriform cortex"], "size": "Not reported", "note": "x"},
    {"id": 20, "name": "CB_CKp25_2w_F_Animal01_01", "species": "rat", "archive": "Jacobs",
     "region": ["neocortex", "somatosensory", "layer 5"], "size": "2000.25", "note": None},
]  # fmt: skip
FIELDS = {k: itemgetter(k) for k in ("id", "name", "species", "archive", "region", "size", "note")}


@pytest.fixture
def coll() -> Collection:
    return Collection(RECORDS, FIELDS)


def ids(coll: Collection, q: str | None, *fq: str, join: str = "AND") -> list[int]:
    assert join in ("AND", "OR")
    positions = coll.search(q, fq, join="AND" if join == "AND" else "OR")
    return [RECORDS[p]["id"] for p in positions]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("species:rat", [1, 20]),
        ("species:Rat", []),  # case-sensitive
        ("species:rat,mouse", [1, 10, 20]),
        ("species:rat, mouse", [1, 10, 20]),
        ("id:1,2", [1, 2]),
        ("id:1", [1]),  # exact, not a prefix
        ('archive:"Allen Cell Types"', [10, 100]),
        (r"archive:Allen\ Cell\ Types", [10, 100]),
        ('archive:"Allen Cell Types",Jacobs', [10, 100, 2, 20]),
        ('note:"a, b"', [100]),  # the comma inside quotes does not split
        (r"note:a\,\ b", [100]),
        ("species:dragonfly", []),
        (r"species:dragonfly\ ", [100]),
        ('species:"dragonfly "', [100]),
        ("species:drosophila?melanogaster", [2]),
        ("name:CB_CKp25_2w_F_Animal01_*", [20]),
        ("name:c*", [1, 10]),
        ("name:*", [1, 10, 100, 2, 20]),
        ("note:*", [1, 100, 2]),  # has a value ("" counts, null does not)
        (r'name:"say \"hi\"\\"', [2]),
        (r'name:"Tm20(a)-3"', [100]),
        (r"name:Tm20\(a\)-3", [100]),
        ('name:"c*"', []),  # no wildcard inside quotes
        ("region:CA1", [10]),  # any list element
        ("region:cortex", []),
        ("region:entorhinal cortex", [100, 2]),  # unquoted: only the last word, as a token
        ('region:"entorhinal cortex"', [100]),
        ("archive:Allen Cell Types", [10, 100]),
        ("region:entorhinal cort*", [100, 2]),
        ("size:[100 TO 1000]", [1, 100]),  # numeric range
        ("size:{100 TO 1000]", [1]),
        ("size:[* TO 100}", [10]),
        ("size:[1000 TO *]", [20]),
        ("size:[* TO *]", [1, 10, 100, 2, 20]),
        ("id:[2 TO 20]", [10, 2, 20]),
        ("name:[a TO d]", [1, 10]),  # lexicographic when a bound is not a number
        ("*:*", [1, 10, 100, 2, 20]),
        ("", [1, 10, 100, 2, 20]),
        ("   ", [1, 10, 100, 2, 20]),
        ("species:rat archive:Jacobs", [20]),
        ("species:rat AND archive:Jacobs", [20]),
        ("species:rat && archive:Jacobs", [20]),
        ("species:rat OR species:mouse", [1, 10, 20]),
        ("species:rat || species:mouse", [1, 10, 20]),
        ("species:rat NOT archive:Jacobs", [1]),
        ("species:rat -archive:Jacobs", [1]),
        ("species:rat +archive:Jacobs", [20]),
        ("-species:rat", [10, 100, 2]),
        ("species:(rat OR mouse)", [1, 10, 20]),
        ("(species:rat OR species:mouse) AND region:neocortex", [1, 20]),
        ("species:mouse OR species:rat AND archive:Jacobs", [10, 20]),  # AND binds tighter
        ("prefrontal", [1]),  # no field: tokens of every field
    ],
)
def test_query_semantics(coll: Collection, q: str, expected: list[int]) -> None:
    assert ids(coll, q) == expected


def test_space_separated_clauses_follow_the_join_option(coll: Collection) -> None:
    assert ids(coll, "species:rat archive:Jacobs", join="AND") == [20]
    assert ids(coll, "species:mouse archive:Jacobs", join="OR") == [10, 2, 20]
    # explicit operators do not depend on the option
    assert ids(coll, "species:rat AND archive:Jacobs", join="OR") == [20]


def test_fq_clauses_are_anded(coll: Collection) -> None:
    assert ids(coll, "species:rat,mouse", "region:neocortex") == [1, 20]
    assert ids(coll, "species:rat,mouse", "region:neocortex", "archive:Jacobs") == [20]
    assert ids(coll, None, "archive:Jacobs") == [2, 20]
    assert ids(coll, "species:rat", "", " ") == [1, 20]


@pytest.mark.parametrize(
    "q", ["UNKNOWN_FIELD:0", "species:rat OR nope:1", "species:(rat OR x) nope:*", "Species:rat"]
)
def test_unknown_fields_raise(coll: Collection, q: str) -> None:
    # even where the rest of the query already matches nothing
    with pytest.raises(UnknownFieldError):
        coll.search(f"species:axolotl AND ({q})")
    with pytest.raises(UnknownFieldError) as info:
        coll.search(q)
    assert str(info.value).startswith("undefined field ")


@pytest.mark.parametrize(
    "q",
    [
        'species:"rat',
        "species:[1 TO",
        "species:[1 2 3]",
        "species:rat\\",
        "species:rat)",
        "(species:rat",
        "species:",
        "species: rat",
        "species:rat,",
        "*:rat",
        "species:rat AND",
        ":rat",
        "species:(rat",
        "]",
    ],
)
def test_malformed_queries_raise(coll: Collection, q: str) -> None:
    with pytest.raises(QuerySyntaxError):
        coll.search(q)


def test_errors_are_value_errors() -> None:
    assert issubclass(QuerySyntaxError, QueryError)
    assert issubclass(UnknownFieldError, QueryError)
    assert issubclass(QueryError, ValueError)


def test_post_body_semantics(coll: Collection) -> None:
    def post(body: dict[str, Any]) -> list[int]:
        return [RECORDS[p]["id"] for p in coll.select_post(body)]

    assert post({"species": ["rat"]}) == [1, 20]
    assert post({"species": ["rat", "mouse"], "region": ["neocortex"]}) == [1, 20]
    assert post({"archive": ["Allen Cell Types"]}) == [10, 100]
    assert post({"archive": "Jacobs"}) == [2, 20]  # a bare string is one value
    assert post({"name": ["c*"]}) == []  # no wildcards: exact strings
    assert post({"species": ["dragonfly "]}) == [100]
    assert post({"id": [1, "10"]}) == [1, 10]
    assert post({}) == [1, 10, 100, 2, 20]
    with pytest.raises(UnknownFieldError):
        post({"nope": ["x"]})
    with pytest.raises(QueryError):
        post({"species": []})
    with pytest.raises(QueryError):
        post({"species": [{"x": 1}]})
    with pytest.raises(QueryError):
        post({"species": [None]})


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["neuron_id"], [("neuron_id", False)]),
        (["neuron_id,asc"], [("neuron_id", False)]),
        (["neuron_id,desc"], [("neuron_id", True)]),
        (["neuron_id,DESC"], [("neuron_id", True)]),
        (["neuron_id,neuron_id,asc"], [("neuron_id", False)]),
        (["species,neuron_name,desc"], [("species", True), ("neuron_name", True)]),
        (["species,asc", "neuron_name,desc"], [("species", False), ("neuron_name", True)]),
        (["", " , "], []),
        ([], []),
    ],
)
def test_parse_sort(values: list[str], expected: list[tuple[str, bool]]) -> None:
    assert parse_sort(values) == expected


def test_parse_sort_rejects_a_bare_direction() -> None:
    with pytest.raises(QueryError):
        parse_sort(["asc"])


def test_sorting(coll: Collection) -> None:
    everything = list(range(len(RECORDS)))

    def order(*specs: tuple[str, bool]) -> list[int]:
        return [RECORDS[p]["id"] for p in coll.sort(everything, specs)]

    # ints compare as strings, like the server's neuron_id
    assert order(("id", False)) == [1, 10, 100, 2, 20]
    assert order(("id", True)) == [20, 2, 100, 10, 1]
    # missing values last in both directions; ties keep the incoming order
    assert order(("note", False)) == [1, 100, 2, 10, 20]
    assert order(("note", True)) == [2, 100, 1, 10, 20]
    assert order(("species", False), ("id", True)) == [100, 2, 10, 20, 1]
    # lists sort by their first element
    assert order(("region", False)) == [100, 10, 1, 20, 2]
    with pytest.raises(UnknownFieldError):
        coll.sort(everything, [("nope", False)])
    # search applies the sort too
    assert [RECORDS[p]["id"] for p in coll.search("species:rat", sort=[("id", True)])] == [20, 1]


def test_field_values_and_partition(coll: Collection) -> None:
    assert coll.field_values("archive") == ["Allen Cell Types", "Jacobs", "Wearne_Hof"]
    assert coll.field_values("species")[0] == "rat"  # most frequent first
    assert coll.field_values("note") == ["", "a, b", "x"]  # null is not a value
    assert coll.partition("species") == {
        "dragonfly ": 1,
        "drosophila melanogaster": 1,
        "mouse": 1,
        "rat": 2,
    }
    assert list(coll.partition("region"))[:3] == ["CA1", "entorhinal cortex", "hippocampus"]
    assert sum(coll.partition("region").values()) == sum(len(r["region"]) for r in RECORDS)
    with pytest.raises(UnknownFieldError):
        coll.field_values("nope")


def test_float_fields_compare_numerically() -> None:
    recs = [{"neuron_id": 1, "surface": 8842.91}, {"neuron_id": 2, "surface": 100.0}]
    coll = Collection(
        recs, {"neuron_id": itemgetter("neuron_id"), "surface": itemgetter("surface")}
    )
    assert coll.search("surface:100") == [1]
    assert coll.search("surface:100.0") == [1]
    assert coll.search("surface:8842.91") == [0]
    assert coll.search("surface:[1000 TO *]") == [0]
    assert coll.search("surface:abc") == []
    assert coll.sort([0, 1], [("surface", False)]) == [1, 0]


def test_results_are_cached_but_independent_of_the_join(coll: Collection) -> None:
    first = coll.search("species:mouse archive:Jacobs", join="AND")
    assert first == []
    assert coll.search("species:mouse archive:Jacobs", join="OR") == [1, 3, 4]
    assert coll.search("species:mouse archive:Jacobs", join="AND") is first
