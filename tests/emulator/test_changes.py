"""Large databases made on demand, and databases that change between (and during) syncs."""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

import pytest

from neuromorpho_api.testing._app import NeuroMorphoApp
from neuromorpho_api.testing._database import SyntheticDatabase

BASE = "https://neuromorpho.org"


def get(app: NeuroMorphoApp, target: str, status: int = 200) -> Any:
    reply = app.handle("GET", target, {}, b"", base_url=BASE)
    assert reply.status == status, (target, reply.body[:300])
    return json.loads(reply.body) if reply.body.startswith(b"{") else reply.body


def total(app: NeuroMorphoApp, q: str) -> int:
    reply = app.handle("GET", f"/api/neuron/select?q={q}&size=1", {}, b"", base_url=BASE)
    return 0 if reply.status == 404 else int(json.loads(reply.body)["page"]["totalElements"])


# ------------------------------------------------------------------------------ lazy databases


def test_a_large_database_is_ready_without_making_its_records() -> None:
    db = SyntheticDatabase(150_000)
    assert db.lazy
    assert len(db._chunk_records) < 10  # only what the literature cites
    app = NeuroMorphoApp(db)
    assert get(app, "/api/neuron?size=1")["page"]["totalElements"] == 150_000
    archives = get(app, "/api/neuron/partition/archive")["fields"]
    assert sum(archives.values()) == 150_000
    dates = db.partition("upload_date")
    assert len(dates) > 500 and sum(dates.values()) == 150_000
    pages = [get(app, f"/api/neuron/partition/upload_date?size=500&page={p}") for p in (0, 1, 2)]
    assert pages[0]["page"]["totalPages"] == 2 and pages[2]["fields"] == {}
    assert {**pages[0]["fields"], **pages[1]["fields"]} == dates
    assert len(pages[0]["fields"]) == 500
    ids = ",".join(str(n) for n in range(70_000, 70_300))
    found = get(app, f"/api/morphometry/select?q=Neuron_id:{ids}&size=500")
    listed = [m["neuron_id"] for m in found["_embedded"]["measurements"]]
    assert listed and all(70_000 <= n < 70_300 for n in listed)
    assert len(db._chunk_records) < 20  # the pages asked for, not the database


@pytest.fixture(scope="module")
def lazy() -> SyntheticDatabase:
    return SyntheticDatabase(5000, lazy=True, seed=3)


def test_a_lazy_database_is_consistent_and_deterministic(lazy: SyntheticDatabase) -> None:
    records = list(lazy.neurons)
    ids = [r["neuron_id"] for r in records]
    assert len(ids) == 5000 and ids == sorted(set(ids)) and ids[0] == 1
    assert records[0]["neuron_name"] == "cnic_001"
    assert len({r["neuron_name"] for r in records}) == 5000
    # the indexes built from the layout agree with the records made later
    assert lazy.partition("archive") == dict(sorted(Counter(r["archive"] for r in records).items()))
    dates = Counter(r["upload_date"] for r in records)
    assert lazy.partition("upload_date") == dict(sorted(dates.items()))
    rats = [r for r in lazy.neurons if r["species"] == "rat"]
    assert sorted(lazy.search("species:rat"), key=lambda r: r["neuron_id"]) == rats
    for r in records[::97]:
        assert lazy.neuron_by_name(r["neuron_name"]) == r
        morph = lazy.morphometry(r["neuron_id"])
        assert (morph is None) == (r["neuron_id"] in lazy.no_morphometry_ids)
        assert morph is None or morph["neuron_name"] == r["neuron_name"]
    again = SyntheticDatabase(5000, lazy=True, seed=3)
    for nid in (1, ids[1234], ids[-1]):
        assert again.neuron_by_id(nid) == lazy.neuron_by_id(nid)
        assert again.morphometry(nid) == lazy.morphometry(nid)
        assert again.swc_size_target(nid) == lazy.swc_size_target(nid)
    assert again.literature == lazy.literature


def test_a_lazy_database_serves_string_ordered_pages(lazy: SyntheticDatabase) -> None:
    app = NeuroMorphoApp(lazy)
    served = []
    for page in range(10):
        served += [
            r["neuron_id"]
            for r in get(app, f"/api/neuron?size=500&page={page}")["_embedded"]["neuronResources"]
        ]
    assert served == sorted((r["neuron_id"] for r in lazy.neurons), key=str)
    record = lazy.neuron_by_id(served[2500])
    assert record is not None
    assert lazy.swc(record) is not None or record["neuron_id"] in lazy.missing_file_ids


# ------------------------------------------------------------------------------ changes


@pytest.fixture(params=["eager", "lazy"])
def db(request: pytest.FixtureRequest) -> SyntheticDatabase:
    return SyntheticDatabase(3000, lazy=request.param == "lazy", seed=1)


def test_add_reaches_every_route(db: SyntheticDatabase) -> None:
    app = NeuroMorphoApp(db)
    before = get(app, "/api/neuron/partition/archive")["fields"]
    smith = total(app, "archive:Smith")
    get(app, "/api/neuron?size=500")  # warm the caches
    top = db.neurons[-1]["neuron_id"]
    new = db.add(archive="Smith", species="axolotl")
    nid = new["neuron_id"]
    assert nid == top + 1 and db.neurons[-1] is new
    assert get(app, f"/api/neuron/id/{nid}")["species"] == "axolotl"
    assert get(app, f"/api/neuron/name/{new['neuron_name']}")["neuron_id"] == nid
    assert get(app, "/api/neuron?size=1")["page"]["totalElements"] == 3001
    assert total(app, "archive:Smith") == smith + 1
    assert total(app, "species:axolotl") == 1
    after = get(app, "/api/neuron/partition/archive")["fields"]
    assert after == {**before, "Smith": before["Smith"] + 1}
    morph = get(app, f"/api/morphometry/select?q=Neuron_id:{nid}")
    assert [m["neuron_id"] for m in morph["_embedded"]["measurements"]] == [nid]
    assert get(app, f"/api/pvec/id/{nid}")["neuron_id"] == nid
    assert nid not in db.no_morphometry_ids
    swc = get(app, db.file_path(new))
    assert isinstance(swc, bytes) and swc
    bare = db.add(archive="Smith", morphometry=False)
    assert bare["neuron_id"] in db.no_morphometry_ids
    get(app, f"/api/morphometry/id/{bare['neuron_id']}", status=404)


def test_remove_reaches_every_route(db: SyntheticDatabase) -> None:
    app = NeuroMorphoApp(db)
    victim = next(
        r
        for r in db.neurons
        if r["archive"] == "Markram" and r["neuron_id"] not in db.no_morphometry_ids
    )
    nid, name = victim["neuron_id"], victim["neuron_name"]
    markram = total(app, "archive:Markram")
    get(app, f"/api/neuron/id/{nid}")
    assert db.remove(nid) == victim
    get(app, f"/api/neuron/id/{nid}", status=404)
    get(app, f"/api/neuron/name/{name}", status=404)
    get(app, f"/api/morphometry/id/{nid}", status=404)
    get(app, f"/api/pvec/id/{nid}", status=404)
    get(app, db.file_path(victim), status=404)
    assert total(app, "archive:Markram") == markram - 1
    assert total(app, f"neuron_id:{nid}") == 0
    assert get(app, "/api/neuron?size=1")["page"]["totalElements"] == 2999
    assert get(app, "/api/morphometry?size=1")["page"]["totalElements"] == 2999 - len(
        db.no_morphometry_ids
    )
    assert nid not in {r["neuron_id"] for r in db.neurons}
    with pytest.raises(KeyError):
        db.remove(nid)


def test_update_and_move_between_archives(db: SyntheticDatabase) -> None:
    app = NeuroMorphoApp(db)
    rec = next(r for r in db.neurons if r["archive"] == "Turner")
    nid = rec["neuron_id"]
    assert get(app, f"/api/neuron/id/{nid}")["strain"] == rec["strain"]  # cached JSON
    turner, smith = total(app, "archive:Turner"), total(app, "archive:Smith")
    new = db.update(nid, archive="Smith", strain="Changed", neuron_name="moved-1")
    assert rec["archive"] == "Turner"  # records are never changed in place
    served = get(app, f"/api/neuron/id/{nid}")
    assert (served["archive"], served["strain"], served["neuron_name"]) == (
        "Smith",
        "Changed",
        "moved-1",
    )
    assert served["png_url"].endswith("/Smith/moved-1.png")
    assert list(served)[:-1] == list(rec)[:-1]  # key order kept
    assert (total(app, "archive:Turner"), total(app, "archive:Smith")) == (turner - 1, smith + 1)
    assert total(app, "strain:Changed") == 1
    get(app, f"/api/neuron/name/{rec['neuron_name']}", status=404)
    assert db.morphometry_by_name("moved-1") == db.morphometry(nid) or nid in db.no_morphometry_ids
    assert get(app, db.file_path(new), status=200)
    with pytest.raises(ValueError, match="neuron_id"):
        db.update(nid, neuron_id=5)
    with pytest.raises(ValueError, match="not neuron record keys"):
        db.update(nid, colour="red")
    with pytest.raises(ValueError, match="taken"):
        db.update(nid, neuron_name=db.neurons[0]["neuron_name"])
    with pytest.raises(KeyError):
        db.update(999_999_999, strain="x")


def test_add_refuses_taken_ids_and_names(db: SyntheticDatabase) -> None:
    with pytest.raises(ValueError, match="already"):
        db.add(neuron_id=1)
    with pytest.raises(ValueError, match="taken"):
        db.add(neuron_name="cnic_001")
    with pytest.raises(ValueError, match="not neuron record keys"):
        db.add(colour="red")
    assert len(db.neurons) == 3000


def test_batch_applies_many_changes_at_once(db: SyntheticDatabase) -> None:
    app = NeuroMorphoApp(db)
    jacobs = [r["neuron_id"] for r in db.neurons if r["archive"] == "Jacobs"][:10]
    with db.batch():
        for nid in jacobs:
            db.remove(nid)
        added = [db.add(archive="Gone") for _ in range(5)]
    assert total(app, "archive:Gone") == 5
    assert get(app, "/api/neuron?size=1")["page"]["totalElements"] == 2995
    assert [r["neuron_id"] for r in added] == list(
        range(added[0]["neuron_id"], added[0]["neuron_id"] + 5)
    )


def test_a_hook_can_change_the_data_between_two_pages() -> None:
    db = SyntheticDatabase(1200)
    app = NeuroMorphoApp(db)
    first_of_page_1: list[int] = []

    def shift(method: str, target: str) -> None:
        if "page=1" in target and not first_of_page_1:
            first = db.neurons[0]["neuron_id"]  # "1" sorts first as text
            first_of_page_1.append(first)
            db.remove(first)

    app.before_request = shift
    page0 = get(app, "/api/neuron?size=500&page=0")["_embedded"]["neuronResources"]
    page1 = get(app, "/api/neuron?size=500&page=1")["_embedded"]["neuronResources"]
    order = sorted((r["neuron_id"] for r in db.neurons), key=str)
    # the removal shifted every later record one place up: one record is never served
    assert page1[0]["neuron_id"] == order[500]
    assert page0[-1]["neuron_id"] == order[498]
    assert order[499] not in {r["neuron_id"] for r in page0 + page1}


def test_changes_are_safe_while_requests_are_served(db: SyntheticDatabase) -> None:
    app = NeuroMorphoApp(db)
    stop = threading.Event()
    problems: list[str] = []

    def read() -> None:
        targets = [
            "/api/neuron?size=500&page=2",
            "/api/neuron/select?q=archive:Smith&size=500",
            "/api/neuron/partition/archive",
            "/api/morphometry?size=200&page=3",
            "/api/neuron/select?q=species:rat&size=100&page=4",
        ]
        while not stop.is_set():
            for target in targets:
                try:
                    reply = app.handle("GET", target, {}, b"", base_url=BASE)
                    if reply.status != 200:
                        problems.append(f"{target}: {reply.status}")
                    else:
                        json.loads(reply.body)
                except Exception as exc:  # pragma: no cover - reported below
                    problems.append(f"{target}: {exc!r}")

    readers = [threading.Thread(target=read) for _ in range(2)]
    for thread in readers:
        thread.start()
    try:
        smith = [r["neuron_id"] for r in db.neurons if r["archive"] == "Smith"]
        for k in range(40):
            added = db.add(archive="Smith")
            db.update(smith[k], strain=f"s{k}")
            db.remove(added["neuron_id"])
    finally:
        stop.set()
        for thread in readers:
            thread.join()
    assert problems == []
    assert total(NeuroMorphoApp(db), "archive:Smith") == len(smith)
