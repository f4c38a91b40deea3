"""Offline answers equal the server's: records, order, counts; refusals name the clause."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neuromorpho_api import NeuronNotFound, UnknownFieldError
from neuromorpho_api._client import NeuroMorpho
from neuromorpho_api._mirror import Mirror, MirrorError, OfflineUnsupportedError, StaleMirrorWarning
from neuromorpho_api._mirror._sql import Exact, Exists, Wild, parse_clause
from neuromorpho_api._query import quote_value
from neuromorpho_api.testing import Emulator, SyntheticDatabase
from tests.mirror.conftest import connected

# Values drawn from the data the emulator serves (same seed and size as the session's).
_DB = SyntheticDatabase(3000)
_SCALARS = ["species", "archive", "strain", "stain", "protocol", "upload_date", "gender", "domain"]
_LISTS = ["brain_region", "cell_type", "experiment_condition", "reference_pmid"]


def _values(field: str) -> list[str]:
    seen: dict[str, None] = {}
    for r in _DB.neurons:
        v = r[field]
        for item in v if isinstance(v, list) else [v]:
            if isinstance(item, str):
                seen.setdefault(item, None)
    return sorted(seen)[:40]


@st.composite
def _value(draw: st.DrawFn, field: str) -> str:
    value = draw(st.sampled_from(_values(field)))
    how = draw(st.sampled_from(["as is", "as is", "prefix*", "?", "swapcase", "missing"]))
    if how == "prefix*" and len(value) > 2:
        return value[: draw(st.integers(1, len(value) - 1))] + "*"
    if how == "?" and value:
        i = draw(st.integers(0, len(value) - 1))
        return value[:i] + "?" + value[i + 1 :]
    if how == "swapcase":
        return value.swapcase()
    if how == "missing":
        return value + "zz"
    return value


@st.composite
def _criteria(draw: st.DrawFn) -> dict[str, Any]:
    fields = draw(
        st.lists(
            st.sampled_from(_SCALARS + _LISTS + ["brain_region_1", "neuron_id"]),
            min_size=1,
            max_size=3,
            unique=True,
        )
    )
    out: dict[str, Any] = {}
    for field in fields:
        if field == "neuron_id":
            out[field] = draw(st.lists(st.integers(1, 3100), min_size=1, max_size=4))
            continue
        source = "brain_region" if field == "brain_region_1" else field
        values = draw(st.lists(_value(source), min_size=1, max_size=3))
        out[field] = values if len(values) > 1 else values[0]
    return out


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(criteria=_criteria(), limit=st.one_of(st.none(), st.integers(0, 700)))
def test_offline_search_equals_online(
    nmo: NeuroMorpho, mirror: Mirror, criteria: dict[str, Any], limit: int | None
) -> None:
    online = list(nmo.search(criteria, limit=limit))
    offline = list(mirror.search(criteria, limit=limit))
    assert offline == online  # same records, same order, same content
    assert mirror.count(criteria) == nmo.count(criteria)


@pytest.mark.parametrize(
    ("q", "fq"),
    [
        ("*:*", []),
        ("neuron_id:[* TO *]", ["species:rat,mouse"]),
        ('archive:"Allen Cell Types"', []),
        ("neuron_name:CB_CKp25_2w_F_Animal01_*", []),
        ("species:Drosophila?melanogaster", []),
        ("strain:*", ['brain_region:"layer 3"']),
        ("species:dragonfly\\ ", []),
        ("Physical_Integrity:Dendrites\\ Moderate", []),
    ],
)
def test_raw_q_fq_equal_online(nmo: NeuroMorpho, mirror: Mirror, q: str, fq: list[str]) -> None:
    assert list(mirror.search(q=q, fq=fq)) == list(nmo.search(q=q, fq=fq))
    assert mirror.count(q=q, fq=fq) == nmo.count(q=q, fq=fq)


@pytest.mark.parametrize(
    "q",
    [
        "species:rat mouse",  # space-separated: AND or OR is unknown
        "brain_region:entorhinal cortex",  # unquoted multi-word value
        "min_age:[1 TO 5]",  # ranges on string-typed numbers
        "species:rat OR species:mouse",
        "(species:rat)",
        "species:rat~",
        "neuron_id:01",
        "neuron_id:1*",
    ],
)
def test_unknown_semantics_are_refused_with_the_clause(mirror: Mirror, q: str) -> None:
    with pytest.raises(OfflineUnsupportedError) as info:
        mirror.count(q=q)
    assert info.value.clause == q
    assert repr(q) in str(info.value)


def test_parse_clause_forms() -> None:
    c = parse_clause('brain_region:"layer 3",neocortex,hip*,\\*x')
    assert not isinstance(c, type(parse_clause("*:*")))
    assert c.values == (
        Exact("layer 3"),
        Exact("neocortex"),
        Wild((("h", False), ("i", False), ("p", False), ("*", False))),
        Exact("*x"),
    )  # type: ignore[union-attr]
    assert parse_clause("x:*").values == (Exists(),)  # type: ignore[union-attr]


def test_unknown_field_is_an_error(mirror: Mirror) -> None:
    with pytest.raises(UnknownFieldError):
        mirror.count(specie="rat")
    with pytest.raises(UnknownFieldError):
        mirror.count(q="specie:rat")


def test_single_records_fields_values_partitions(nmo: NeuroMorpho, mirror: Mirror) -> None:
    assert mirror.fields() == nmo.fields()
    for key in (1, "cnic_001", 2500):
        assert mirror.neuron(key) == nmo.neuron(key)
        assert list(mirror.neuron(key)) == list(nmo.neuron(key))  # key order too
    with pytest.raises(NeuronNotFound):
        mirror.neuron(999_999)
    with pytest.raises(NeuronNotFound):
        mirror.neuron("no such neuron")
    for field in ("species", "brain_region", "cell_type_2", "Physical_Integrity", "upload_date"):
        assert mirror.values(field) == nmo.values(field)
        assert list(mirror.partition(field).items()) == list(nmo.partition(field).items())


def test_morphometry_pvec_literature(emu: Emulator, nmo: NeuroMorpho, mirror: Mirror) -> None:
    assert mirror.morphometry(1) == nmo.morphometry(1)
    assert mirror.morphometry("cnic_001") == nmo.morphometry("cnic_001")
    missing = min(emu.database.no_morphometry_ids)
    with pytest.raises(NeuronNotFound):
        mirror.morphometry(missing)
    ids = [1, missing, 2, 3]
    assert mirror.morphometry_many(ids) == {i: nmo.morphometry(i) for i in ids if i != missing}
    assert mirror.pvec(1) == nmo.pvec(1)
    article = next(iter(nmo.literature(limit=1)))
    assert mirror.literature(article["article_id"]) == article
    assert list(mirror.literature(limit=25)) == list(nmo.literature(limit=25))  # type: ignore[arg-type]


def test_no_request_is_sent(emu: Emulator, mirror: Mirror) -> None:
    emu.reset()
    mirror.count(species="rat")
    list(mirror.search(archive="Smith"))
    mirror.partition("archive")
    assert emu.requests == []


def test_age_and_stale_warning(mirror_path: Path) -> None:
    with Mirror(mirror_path) as fresh:
        assert datetime.datetime.now(datetime.timezone.utc) - fresh.synced_at < datetime.timedelta(
            hours=1
        )
    old = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=31)).isoformat()
    with connected(mirror_path) as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'synced_at'", (old,))
    with pytest.warns(StaleMirrorWarning, match="31 days ago"):
        Mirror(mirror_path).close()


def test_unsettled_case_refuses_only_when_it_matters(mirror_path: Path) -> None:
    with connected(mirror_path) as db:
        db.execute("UPDATE meta SET value = 'unknown' WHERE key = 'case_sensitive'")
        db.execute("UPDATE meta SET value = 'differs' WHERE key = 'values_order'")
    with Mirror(mirror_path) as m:
        assert m.count(species="rat") == _count(species="rat")  # no other case of "rat" exists
        with pytest.raises(OfflineUnsupportedError, match="letter case"):
            m.count(species="R*")  # "rat" and "Rat..." would differ
        with pytest.raises(OfflineUnsupportedError, match="order"):
            m.values("species")


def _count(**criteria: str) -> int:
    ((field, value),) = criteria.items()
    return sum(1 for r in _DB.neurons if r[field] == value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MirrorError, match="neuromorpho sync"):
        Mirror(tmp_path / "none.sqlite")


@st.composite
def _clause(draw: st.DrawFn) -> str:
    field = draw(st.sampled_from([*_SCALARS, *_LISTS, "brain_region_2", "cell_type_1"]))
    source = field[:-2] if field[-2:-1] == "_" and field[-1].isdigit() else field
    form = draw(st.sampled_from(["values", "values", "phrase", "exists", "range"]))
    if form == "exists":
        return f"{field}:*"
    if form == "range":
        return f"{field}:[* TO *]"
    if form == "phrase":
        value = draw(st.sampled_from(_values(source)))
        return f'{field}:"{value}"'
    values = draw(st.lists(_value(source), min_size=1, max_size=3))
    return f"{field}:" + ",".join(quote_value(v) for v in values)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    clauses=st.lists(_clause(), min_size=1, max_size=3),
    criteria=st.one_of(st.just({}), _criteria()),
    limit=st.one_of(st.none(), st.integers(0, 600)),
)
def test_client_with_a_mirror_equals_online_for_raw_q_fq(
    nmo: NeuroMorpho,
    synced_file: Path,
    clauses: list[str],
    criteria: dict[str, Any],
    limit: int | None,
) -> None:
    offline = NeuroMorpho(
        session=nmo.session, rate_limit=None, check_values=False, mirror=synced_file
    )
    q, fq = clauses[0], clauses[1:]
    online = nmo.search(criteria, q=q, fq=fq, limit=limit)
    result = offline.search(criteria, q=q, fq=fq, limit=limit)
    assert len(result) == len(online)  # the same result type, the same total
    assert list(result) == list(online)
    assert offline.count(criteria, q=q, fq=fq) == nmo.count(criteria, q=q, fq=fq)
