"""Switches between the real server's candidate behaviours: bulk selects, case, value order."""

from __future__ import annotations

import json
from typing import Any

import pytest

from neuromorpho_api.testing._app import NeuroMorphoApp
from neuromorpho_api.testing._database import SyntheticDatabase

BASE = "https://neuromorpho.org"


@pytest.fixture(scope="module")
def db() -> SyntheticDatabase:
    return SyntheticDatabase()


@pytest.fixture
def app(db: SyntheticDatabase) -> NeuroMorphoApp:
    return NeuroMorphoApp(db)


def get(app: NeuroMorphoApp, target: str, status: int = 200) -> Any:
    reply = app.handle("GET", target, {}, b"", base_url=BASE)
    assert reply.status == status, reply.body[:300]
    return json.loads(reply.body)


def listed(page: dict[str, Any], key: str) -> list[int]:
    return [r["neuron_id"] for r in page.get("_embedded", {}).get(key, [])]


def first_ids(db: SyntheticDatabase, n: int) -> list[int]:
    return [r["neuron_id"] for r in db.neurons[:n] if r["neuron_id"] not in db.no_morphometry_ids]


# ------------------------------------------------------------------------------ bulk selects


@pytest.mark.parametrize(("route", "field", "key"), [
    ("morphometry", "Neuron_id", "measurements"),
    ("pvec", "neuron_id", "pvecs"),
])  # fmt: skip
def test_bulk_select_can_omit_ids_it_serves_one_by_one(
    app: NeuroMorphoApp, db: SyntheticDatabase, route: str, field: str, key: str
) -> None:
    ids = first_ids(db, 20)
    target = f"/api/{route}/select?q={field}:{','.join(map(str, ids))}&size=500"
    assert sorted(listed(get(app, target), key)) == ids
    left_out = frozenset(ids[3:6])
    app.options.bulk_select_omits = left_out
    page = get(app, target)
    assert sorted(listed(page, key)) == [i for i in ids if i not in left_out]
    assert page["page"]["totalElements"] == len(ids) - 3
    for nid in left_out:
        assert get(app, f"/api/{route}/id/{nid}")["neuron_id"] == nid


@pytest.mark.parametrize("status", [400, 500, 503])
@pytest.mark.parametrize("route", ["morphometry", "pvec"])
def test_bulk_select_can_answer_an_error(app: NeuroMorphoApp, route: str, status: int) -> None:
    app.options.bulk_select_status = status
    body = get(app, f"/api/{route}/select?q=neuron_id:1", status=status)
    assert body["status"] == status and body["path"] == f"/api/{route}/select"
    assert get(app, f"/api/{route}/id/1")["neuron_id"] == 1  # the other routes still work
    assert listed(get(app, "/api/neuron/select?q=neuron_id:1"), "neuronResources") == [1]


@pytest.mark.parametrize("route", ["morphometry", "pvec"])
def test_bulk_select_zero_hits_200_empty_or_404(app: NeuroMorphoApp, route: str) -> None:
    target = f"/api/{route}/select?q=neuron_id:999999999"
    empty = get(app, target)
    assert "_embedded" not in empty and empty["page"]["totalElements"] == 0
    app.options.bulk_select_zero_hits = "404"
    assert get(app, target, status=404)["status"] == 404
    assert listed(get(app, f"/api/{route}/select?q=neuron_id:1"), "x") == []  # key differs
    assert get(app, f"/api/{route}/select?q=neuron_id:1&page=5", status=404)["status"] == 404


# ------------------------------------------------------------------------------ case


@pytest.mark.parametrize(
    ("query", "canonical"),
    [
        ("species:Rat", "species:rat"),
        ('species:"RAT"', "species:rat"),
        ("species:RA*", "species:ra*"),
        ("species:r?T", "species:r?t"),
        ("archive:markram", "archive:Markram"),
        ("brain_region:NEOCORTEX", "brain_region:neocortex"),
        ("species:rat,Mouse", "species:rat,mouse"),
    ],
)
def test_value_matching_is_case_sensitive_by_default_and_can_ignore_case(
    app: NeuroMorphoApp, db: SyntheticDatabase, query: str, canonical: str
) -> None:
    def total(q: str) -> int:
        reply = app.handle("GET", f"/api/neuron/select?q={q}&size=1", {}, b"", base_url=BASE)
        if reply.status == 404:
            return 0
        return int(json.loads(reply.body)["page"]["totalElements"])

    exact = total(canonical)
    assert exact > 0 and total(query) < exact
    app.options.ignore_case = True
    assert total(query) == exact
    assert db.search(query, ignore_case=True) == db.search(canonical)


def test_post_select_can_ignore_case(app: NeuroMorphoApp, db: SyntheticDatabase) -> None:
    def total(body: dict[str, Any]) -> int:
        reply = app.handle(
            "POST", "/api/neuron/select?size=1", {}, json.dumps(body).encode(), base_url=BASE
        )
        return 0 if reply.status == 404 else int(json.loads(reply.body)["page"]["totalElements"])

    rats = len(db.search("species:rat"))
    assert total({"species": ["Rat"]}) == 0
    app.options.ignore_case = True
    assert total({"species": ["Rat"]}) == rats


# ------------------------------------------------------------------------------ value order


def test_fields_and_partition_orders_are_switchable(
    app: NeuroMorphoApp, db: SyntheticDatabase
) -> None:
    counts = db.partition("species")
    by_count = sorted(counts, key=lambda k: (-counts[k], k))
    by_value = sorted(counts)
    assert by_count != by_value
    assert get(app, "/api/neuron/fields/species")["fields"] == by_count
    assert list(get(app, "/api/neuron/partition/species")["fields"]) == by_value
    app.options.fields_order = "value"
    app.options.partition_order = "count"
    assert get(app, "/api/neuron/fields/species")["fields"] == by_value
    partition = get(app, "/api/neuron/partition/species")["fields"]
    assert list(partition) == by_count and partition == counts
    paged = [get(app, f"/api/neuron/fields/species?size=3&page={p}")["fields"] for p in range(2)]
    assert paged[0] + paged[1] == by_value[:6]
