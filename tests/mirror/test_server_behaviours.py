"""The mirror against a server that changes between syncs and against its other candidate
behaviours (emulator options): select forms that omit ids, fail or answer 404, case-insensitive
matching, other value orders."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from neuromorpho_api import NeuroMorphoSession
from neuromorpho_api._bulk import morphometry_many, pvec_many
from neuromorpho_api._client import NeuroMorpho
from neuromorpho_api._mirror import Mirror, OfflineUnsupportedError, sync
from neuromorpho_api.testing import Emulator
from tests.mirror.conftest import connected


def _api(emu: Emulator, part: str = "/api/") -> int:
    return sum(1 for r in emu.requests if r.target.startswith(part))


# -- a server that changes between syncs ---------------------------------------------------------


@pytest.fixture
def changing() -> Iterator[Emulator]:
    """An emulator of its own: the tests change its database."""
    with Emulator(1500, seed=11) as emulator:
        yield emulator


@pytest.fixture
def client(changing: Emulator) -> Iterator[NeuroMorpho]:
    with NeuroMorphoSession() as session:
        yield NeuroMorpho(session=session, rate_limit=None, check_values=False)


def _same(path: Path, client: NeuroMorpho) -> None:
    with Mirror(path) as m:
        assert list(m.search()) == list(client.search())
        assert m.partition("archive") == client.partition("archive")
        ids = [r["neuron_id"] for r in client.search()]
        assert m.morphometry_many(ids) == client.morphometry_many(ids)


def test_incremental_sync_follows_real_additions_moves_and_removals(
    changing: Emulator, client: NeuroMorpho, tmp_path: Path
) -> None:
    path = tmp_path / "m.sqlite"
    assert sync(client, path, progress=False).total == 1500
    db = changing.database
    records = list(db.neurons)
    archive = records[10]["archive"]
    other = next(r["archive"] for r in records if r["archive"] != archive)
    gone = [records[40], records[50]]
    with db.batch():
        added = [
            db.add(archive=archive)["neuron_id"],
            db.add(archive="Brand New Archive")["neuron_id"],
            db.add(archive=archive, morphometry=False)["neuron_id"],
        ]
    changed = [records[20], *gone, *(db.neuron_by_id(n) or {} for n in added)]
    touched = {other, *(r["archive"] for r in changed)}
    days = {r["upload_date"] for r in changed}
    # a record none of the changed archives or days holds: only a full sync rereads it
    edited = next(
        r["neuron_id"]
        for r in reversed(records)
        if r["archive"] not in touched and r["upload_date"] not in days
    )
    with db.batch():
        moved = db.update(records[20]["neuron_id"], archive=other)["neuron_id"]
        db.update(edited, strain="Edited in place")
        for record in gone:
            db.remove(record["neuron_id"])
    changing.reset()
    report = sync(client, path, progress=False)
    assert not report.full and not report.mismatches
    assert (report.added, report.removed, report.total) == (3, 2, 1501)
    assert report.updated >= 1  # the moved record (and any other record of a touched value)
    assert report.requests < 40 and _api(changing, "/api/neuron?") == 1  # no full listing
    with Mirror(path) as m:
        assert m.neuron(moved)["archive"] == other
        assert set(m.morphometry_many(added)) == set(added[:2])
        assert m.neuron(edited)["strain"] != "Edited in place"  # invisible to counts...
    report = sync(client, path, full=True, progress=False)
    assert (report.added, report.updated, report.removed) == (0, 1, 0)  # ...found by full
    _same(path, client)


def test_a_swap_within_one_archive_and_day_needs_a_full_sync(
    changing: Emulator, client: NeuroMorpho, tmp_path: Path
) -> None:
    # The documented blind spot of the cheap checks: a removal and an addition in the same
    # archive on the same day leave every count they compare unchanged.
    path = tmp_path / "m.sqlite"
    sync(client, path, progress=False)
    db = changing.database
    victim = list(db.neurons)[100]
    db.remove(victim["neuron_id"])
    db.add(archive=victim["archive"], upload_date=victim["upload_date"])
    report = sync(client, path, progress=False)
    assert (report.added, report.removed, report.requests) == (0, 0, 4)
    report = sync(client, path, full=True, progress=False)
    assert (report.added, report.updated, report.removed) == (1, 0, 1)
    _same(path, client)


# -- the select forms' other behaviours ------------------------------------------------------------


def _ids(emu: Emulator, n: int) -> list[int]:
    return [r["neuron_id"] for r in emu.database.neurons[:n]]


def test_a_select_that_omits_ids_is_caught_and_only_those_are_asked_alone(
    emu: Emulator, nmo: NeuroMorpho
) -> None:
    ids = _ids(emu, 600)
    have = [i for i in ids if i not in emu.database.no_morphometry_ids]
    omitted = frozenset(have[5:25])
    emu.options.bulk_select_omits = omitted
    got = morphometry_many(nmo, ids)
    assert list(got) == have
    assert got[have[7]] == nmo.morphometry(have[7])
    singles = _api(emu, "/api/morphometry/id/") - 1  # the check just above
    # the omitted ids, plus the ids truly without measurements once omissions are distrusted
    assert len(omitted) <= singles <= len(omitted) + len(set(ids) - set(have))
    assert _api(emu, "/api/morphometry/select") == math.ceil(len(ids) / 500)


@pytest.mark.parametrize("status", [400, 500])
def test_a_select_that_fails_falls_back_to_single_calls(
    emu: Emulator, nmo: NeuroMorpho, status: int
) -> None:
    session = NeuroMorphoSession(retries=0)
    client = NeuroMorpho(session=session, rate_limit=None)
    emu.options.bulk_select_status = status
    ids = _ids(emu, 30)
    got = pvec_many(client, ids)
    assert set(got) == {i for i in ids if i not in emu.database.no_morphometry_ids}
    assert _api(emu, "/api/pvec/id/") == len(ids)


def test_a_select_with_no_hits_may_answer_404(emu: Emulator, nmo: NeuroMorpho) -> None:
    emu.options.bulk_select_zero_hits = "404"
    none = sorted(emu.database.no_morphometry_ids)[:5]
    assert morphometry_many(nmo, none) == {}
    assert _api(emu, "/api/morphometry/select") == 1
    assert _api(emu, "/api/morphometry/id/") == 1  # one probe learns what omissions mean


# -- the probes' other answers ---------------------------------------------------------------------


def test_a_case_insensitive_server_is_mirrored_as_such(
    emu: Emulator, nmo: NeuroMorpho, tmp_path: Path
) -> None:
    emu.options.ignore_case = True
    path = tmp_path / "nocase.sqlite"
    sync(nmo, path, morphometry=False, progress=False)
    with Mirror(path) as m:
        assert m.info()["case_sensitive"] == "insensitive"
        for criteria in ({"species": "RAT"}, {"archive": "smith"}, {"brain_region": "NEO*"}):
            assert list(m.search(criteria)) == list(nmo.search(criteria))
            assert m.count(criteria) > 0


def test_a_case_sensitive_server_is_mirrored_as_such(
    emu: Emulator, nmo: NeuroMorpho, mirror: Mirror
) -> None:
    assert mirror.info()["case_sensitive"] == "sensitive"
    assert mirror.count(species="RAT") == nmo.count(species="RAT") == 0


def test_other_value_orders_are_repeated(emu: Emulator, nmo: NeuroMorpho, tmp_path: Path) -> None:
    emu.options.fields_order = "value"
    emu.options.partition_order = "count"
    path = tmp_path / "orders.sqlite"
    sync(nmo, path, morphometry=False, progress=False)
    with Mirror(path) as m:
        for field in ("species", "archive", "brain_region"):
            assert m.values(field) == nmo.values(field)
            assert list(m.partition(field).items()) == list(nmo.partition(field).items())


def test_an_order_the_mirror_cannot_name_is_refused(mirror_path: Path) -> None:

    with connected(mirror_path) as db:
        db.execute("UPDATE meta SET value = 'differs' WHERE key = 'partition_order'")
    with Mirror(mirror_path) as m, pytest.raises(OfflineUnsupportedError, match="order"):
        m.partition("species")
