"""Sync: incremental and cheap, resumable, atomic for readers, safe with bad files and full disks."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from neuromorpho_api import APIError, NeuroMorphoSession
from neuromorpho_api._client import NeuroMorpho
from neuromorpho_api._mirror import (
    Mirror,
    MirrorCorruptError,
    MirrorError,
    MirrorLockedError,
    MirrorVersionError,
    _lock,
    _records,
    _schema,
    sync,
)
from neuromorpho_api.testing import Emulator
from tests.mirror.conftest import connected

LISTING = re.compile(r"^/api/neuron\?.*page=(\d+)")


def _listing_pages(emu: Emulator) -> list[int]:
    return [int(m.group(1)) for r in emu.requests if (m := LISTING.match(r.target))]


class Interrupt(Exception):
    pass


def test_unchanged_server_costs_at_most_5_requests(
    emu: Emulator, nmo: NeuroMorpho, mirror_path: Path
) -> None:
    emu.reset()
    report = sync(nmo, mirror_path, progress=False)
    assert (report.added, report.updated, report.removed, report.total) == (0, 0, 0, 3000)
    assert len(emu.requests) == report.requests <= 5
    assert not report.mismatches and not report.full


def test_incremental_finds_added_and_removed_records(
    emu: Emulator, nmo: NeuroMorpho, mirror_path: Path
) -> None:
    smith = [r["neuron_id"] for r in emu.database.neurons if r["archive"] == "Smith"][:5]
    with connected(mirror_path) as db:  # the server "gained" 5 Smith neurons...
        marks = ",".join("?" * len(smith))
        for table in ("neurons", "neuron_values", "morphometry"):
            db.execute(f"DELETE FROM {table} WHERE neuron_id IN ({marks})", smith)
        db.isolation_level = None
        db.execute("BEGIN")
        ghost = dict(nmo.neuron(1), neuron_id=999_999, neuron_name="ghost", archive="Gone")
        ghost["upload_date"] = "1999-01-01"
        columns, codec = _schema.Columns(db), _records.Codec(db)
        _records.insert_neuron(db, columns, codec, "", ghost)  # ...and "lost" one
        one = codec.unpack(
            "neurons", db.execute("SELECT raw FROM neurons WHERE neuron_id = 1").fetchone()[0]
        )
        assert one["strain"] == "Rhesus"
        _records.insert_neuron(db, columns, codec, "", {**one, "strain": "Changed"})
        db.execute("COMMIT")
    emu.reset()
    report = sync(nmo, mirror_path, progress=False)
    assert (report.added, report.removed, report.total) == (5, 1, 3000)
    assert not report.full and not report.mismatches
    assert report.requests < 20  # a few selects, not the 6 listing pages plus morphometry
    assert _listing_pages(emu) == [0]  # only the one-record total
    with Mirror(mirror_path) as m:
        assert list(m.search(archive="Smith")) == list(nmo.search(archive="Smith"))
        assert m.morphometry_many(smith) == {
            i: nmo.morphometry(i) for i in smith if i not in emu.database.no_morphometry_ids
        }
        assert m.neuron(1)["strain"] == "Changed"  # an in-place edit: only full=True finds it
    report = sync(nmo, mirror_path, full=True, progress=False)
    assert (report.added, report.updated, report.removed) == (0, 1, 0)
    with Mirror(mirror_path) as m:
        assert m.neuron(1) == nmo.neuron(1)


def test_interrupted_sync_resumes_and_readers_never_see_a_mixture(
    emu: Emulator, nmo: NeuroMorpho, mirror_path: Path
) -> None:
    reader = Mirror(mirror_path)
    before = list(reader.search(species="rat"))

    def hook(task: int, page: int) -> None:
        assert reader.count() == 3000 and list(reader.search(species="rat")) == before
        if task == 0 and page == 3:
            raise Interrupt

    emu.reset()
    with pytest.raises(Interrupt):
        sync(nmo, mirror_path, full=True, progress=False, page_hook=hook)
    # pages 0-2 were committed; page 3, fetched ahead while page 2 was written, is lost
    assert {0, 1, 2} <= set(_listing_pages(emu)) <= {0, 1, 2, 3}
    emu.reset()
    report = sync(nmo, mirror_path, full=True, progress=False, page_hook=hook)
    assert _listing_pages(emu) == [3, 4, 5]  # continued where it stopped
    assert report.total == 3000 and report.updated == 0 and not report.mismatches
    assert list(reader.search(species="rat")) == before
    reader.close()


def test_server_errors_mid_sync_then_resume(emu: Emulator, mirror_path: Path) -> None:
    nmo = NeuroMorpho(session=NeuroMorphoSession(retries=0), rate_limit=None)
    emu.faults.add(r"^/api/neuron\?.*page=4&", "status", status=500, times=100)
    with pytest.raises(APIError):
        sync(nmo, mirror_path, full=True, progress=False)
    with Mirror(mirror_path) as m:
        assert m.count() == 3000
    emu.reset()
    report = sync(nmo, mirror_path, full=True, progress=False)
    assert _listing_pages(emu) == [4, 5] and report.total == 3000


def test_kill_9_mid_sync_then_resume(emu: Emulator, nmo: NeuroMorpho, tmp_path: Path) -> None:
    path = tmp_path / "killed.sqlite"
    child = textwrap.dedent(
        f"""
        import os, signal
        from neuromorpho_api._client import NeuroMorpho
        from neuromorpho_api._mirror import sync

        def hook(task, page):
            if page == 2:
                os.kill(os.getpid(), signal.SIGKILL)

        sync(NeuroMorpho(rate_limit=None), {str(path)!r}, progress=False, page_hook=hook)
        """
    )
    env = {**os.environ, **emu.environ()}
    done = subprocess.run([sys.executable, "-c", child], env=env, check=False, timeout=120)
    assert done.returncode == -signal.SIGKILL
    with pytest.raises(MirrorError, match="no complete sync"):
        Mirror(path)
    emu.reset()
    report = sync(nmo, path, progress=False)
    assert _listing_pages(emu) == [2, 3, 4, 5]
    assert report.added == report.total == 3000 and not report.mismatches


def test_a_second_sync_of_the_same_file_is_refused(nmo: NeuroMorpho, mirror_path: Path) -> None:
    with (
        _lock.hold(str(mirror_path)),
        pytest.raises(MirrorLockedError, match=f"process {os.getpid()}"),
    ):
        sync(nmo, mirror_path, progress=False)
    sync(nmo, mirror_path, progress=False)  # released afterwards


def test_disk_full_keeps_the_last_complete_sync(
    monkeypatch: pytest.MonkeyPatch, nmo: NeuroMorpho, mirror_path: Path
) -> None:
    real = _schema.connect

    def small_disk(path: str, *, readonly: bool) -> sqlite3.Connection:
        db = real(path, readonly=readonly)
        if not readonly:
            pages = db.execute("PRAGMA page_count").fetchone()[0]
            db.execute(f"PRAGMA max_page_count = {pages + 40}")
        return db

    with connected(mirror_path) as db:
        db.execute("VACUUM")  # no free pages left over from the last sync's staging
    with monkeypatch.context() as patch:
        patch.setattr(_schema, "connect", small_disk)
        with pytest.raises(MirrorError, match=r"disk .* is full"):
            sync(nmo, mirror_path, full=True, progress=False)
    with Mirror(mirror_path) as m:
        assert m.count() == 3000 and m.neuron(1) == nmo.neuron(1)


def test_corrupt_and_foreign_files(nmo: NeuroMorpho, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"not a database at all\n" * 100)
    foreign = tmp_path / "foreign.sqlite"
    with connected(foreign) as db:
        db.execute("CREATE TABLE notes (text)")
    for path in (garbage, foreign):
        with pytest.raises(MirrorCorruptError, match="--rebuild"):
            Mirror(path)
        with pytest.raises(MirrorCorruptError, match="--rebuild"):
            sync(nmo, path, progress=False)
    report = sync(nmo, garbage, rebuild=True, morphometry=False, progress=False)
    assert report.total == 3000
    (aside,) = tmp_path.glob("garbage.sqlite.broken-*")
    assert aside.read_bytes().startswith(b"not a database")  # moved aside, never deleted


def test_truncated_mirror_is_reported_as_damaged(mirror_path: Path) -> None:
    size = mirror_path.stat().st_size
    with open(mirror_path, "r+b") as f:
        f.truncate(size // 3)
    with pytest.raises(MirrorCorruptError, match="--rebuild"):
        with Mirror(mirror_path) as m:
            list(m.search(q="*:*"))


def test_schema_versions(nmo: NeuroMorpho, mirror_path: Path) -> None:
    with connected(mirror_path) as db:
        db.execute(f"PRAGMA user_version = {_schema.SCHEMA_VERSION + 1}")
    with pytest.raises(MirrorVersionError, match="newer"):
        Mirror(mirror_path)
    with pytest.raises(MirrorVersionError, match="newer"):
        sync(nmo, mirror_path, progress=False)
    with connected(mirror_path) as db:
        db.execute("PRAGMA user_version = 0")
    with pytest.raises(MirrorVersionError, match="older"):
        Mirror(mirror_path)
    report = sync(nmo, mirror_path, morphometry=False, progress=False)  # rebuilt, never misread
    assert report.full and report.added == 3000
    with Mirror(mirror_path) as m:
        assert m.count(species="rat") == nmo.count(species="rat")


def test_a_new_field_from_the_server_adds_a_column(mirror_path: Path) -> None:
    with connected(mirror_path) as db:
        db.isolation_level = None
        db.execute("BEGIN")
        columns = _schema.Columns(db)
        codec = _records.Codec(db)
        raw = db.execute("SELECT raw FROM neurons WHERE neuron_id = 1").fetchone()[0]
        record = codec.unpack("neurons", raw)
        _records.insert_neuron(db, columns, codec, "", {**record, "new_field": "yes"})
        db.execute("COMMIT")
        assert "new_field" in columns.col
        assert (
            db.execute(
                f"SELECT count(*) FROM neurons WHERE {columns.col['new_field']} = 'yes'"
            ).fetchone()[0]
            == 1
        )


def test_a_failure_inside_a_page_rolls_it_back(
    monkeypatch: pytest.MonkeyPatch, emu: Emulator, nmo: NeuroMorpho, mirror_path: Path
) -> None:
    real = _records.insert_neurons
    calls = 0

    def failing(*args: Any, **kwargs: Any) -> None:
        nonlocal calls
        calls += 1
        real(*args, **kwargs)
        if calls == 2:  # the second page, written but not committed
            raise Interrupt

    with monkeypatch.context() as patch:
        patch.setattr(_records, "insert_neurons", failing)
        with pytest.raises(Interrupt):
            sync(nmo, mirror_path, full=True, progress=False)
    with connected(mirror_path) as db:
        staged = db.execute("SELECT count(*) FROM stage_neurons").fetchone()[0]
    assert staged == 500  # the first page committed, the second rolled back whole
    emu.reset()
    report = sync(nmo, mirror_path, full=True, progress=False)
    assert _listing_pages(emu) == [1, 2, 3, 4, 5] and report.total == 3000


def test_a_full_sync_leaves_no_free_pages_behind(mirror_path: Path) -> None:
    # Staging holds a whole copy during a full sync; it must not stay in the file.
    with connected(mirror_path) as db:
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        free = db.execute("PRAGMA freelist_count").fetchone()[0]
        staged = db.execute("SELECT count(*) FROM stage_neurons").fetchone()[0]
    assert staged == 0 and free * 10 < pages


def test_a_full_sync_reads_each_page_once_on_one_connection(
    emu: Emulator, nmo: NeuroMorpho, tmp_path: Path
) -> None:
    nmo.count()  # open the connection
    emu.reset()
    report = sync(nmo, tmp_path / "new.sqlite", progress=False)
    # the one-record total, then pages 0-5, each once although the next is fetched ahead
    assert _listing_pages(emu) == [0, 0, 1, 2, 3, 4, 5]
    assert len(emu.handshakes) == 0  # the kept-alive connection served every request
    # every API request counted (the client's own homepage check after a 404 is not one)
    assert report.requests == sum(r.target.startswith("/api/") for r in emu.requests)
