"""Bulk downloads against the emulator: faults, resume, hostile names, keep-alive, Ctrl-C."""

from __future__ import annotations

import _thread
import hashlib
import io
import json
import logging
import os
import re
import signal
import sys
import threading
import time
import types
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import neuromorpho_api._download._engine as engine
import neuromorpho_api._download._fetch as fetch
import neuromorpho_api._progress as progress_module
from neuromorpho_api import DownloadError, NeuroMorphoSession
from neuromorpho_api._download import (
    MANIFEST_NAME,
    DownloadReport,
    FileResult,
    download,
    safe_filename,
)
from neuromorpho_api._download._names import MAX_NAME_BYTES
from neuromorpho_api._progress import CounterProgress, NullProgress, make_progress
from neuromorpho_api._retry import MAX_RETRY_AFTER
from neuromorpho_api._swc import SWCValidator
from neuromorpho_api.testing import Emulator

Record = Mapping[str, Any]


# -- helpers ------------------------------------------------------------------------------------


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Retry and Retry-After pauses, recorded instead of slept."""
    recorded: list[float] = []
    monkeypatch.setattr(fetch, "_pause", lambda stop, seconds: recorded.append(seconds))
    return recorded


class HeldStalls:
    """The emulator's ``stall`` faults last until released, not for a number of seconds."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.outlasted: list[float] = []  # stalls that ended on their own: someone waited

    def sleep(self, seconds: float) -> None:
        if not self.release.wait(60):
            self.outlasted.append(seconds)


@pytest.fixture
def held_stalls(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldStalls]:
    from neuromorpho_api.testing import _faults

    held = HeldStalls()
    monkeypatch.setattr(_faults, "time", types.SimpleNamespace(sleep=held.sleep))
    yield held
    held.release.set()


@pytest.fixture
def emu(neuromorpho_emulator: Emulator) -> Emulator:
    return neuromorpho_emulator


def good_records(
    emu: Emulator, count: int, *, skip: int = 0, max_size: int = 60_000
) -> list[Record]:
    """Records whose file exists, is valid and is small (fast tests), in database order."""
    database = emu.database
    bad = database.missing_file_ids | database.broken_file_ids
    chosen: list[Record] = [
        record
        for record in database.neurons
        if record["neuron_id"] not in bad
        and database.swc_size_target(record["neuron_id"]) <= max_size
    ]
    assert len(chosen) >= skip + count
    return chosen[skip : skip + count]


def missing_records(emu: Emulator) -> list[Record]:
    return [r for r in emu.database.neurons if r["neuron_id"] in emu.database.missing_file_ids]


def file_requests(emu: Emulator, record: Record | None = None) -> list[str]:
    prefix = emu.database.file_path(record) if record is not None else "/dableFiles/"
    return [r.target for r in emu.requests if r.target.startswith(prefix)]


def local(dest: Path, record: Record) -> Path:
    return dest / safe_filename(record["neuron_name"])


def assert_clean(dest: Path) -> None:
    """No temporary file anywhere below dest."""
    leftovers = [p.name for p in dest.rglob("*") if ".part-" in p.name]
    assert leftovers == []


def assert_complete(emu: Emulator, dest: Path, records: list[Record]) -> None:
    for record in records:
        assert local(dest, record).read_bytes() == emu.database.swc(record), record["neuron_name"]


def manifest(dest: Path) -> list[dict[str, Any]]:
    lines = (dest / MANIFEST_NAME).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line]


def swc_files(dest: Path) -> set[str]:
    return {p.name for p in dest.iterdir() if p.name.endswith(".swc")}


# -- the happy path -----------------------------------------------------------------------------


def test_downloads_every_file_complete_with_a_manifest(emu: Emulator, tmp_path: Path) -> None:
    records = good_records(emu, 24)
    dest = tmp_path / "swc"
    report = download(records, dest, progress=False)
    assert report.ok
    assert sorted(report.downloaded) == sorted(r["neuron_name"] for r in records)
    assert report.skipped == [] and report.failed == []
    assert report.bytes == sum(len(emu.database.swc(r) or b"") for r in records)
    assert report.seconds > 0
    assert_complete(emu, dest, records)
    assert_clean(dest)
    lines = manifest(dest)
    assert len(lines) == 24
    for line in lines:
        data = (dest / line["name"]).read_bytes()
        assert line["size"] == len(data)
        assert line["sha256"] == hashlib.sha256(data).hexdigest()
        assert line["url"].startswith("https://neuromorpho.org/dableFiles/")
        assert isinstance(line["neuron_id"], int)
    assert "24 downloaded" in str(report) and "0 failed" in str(report)
    assert repr(report).startswith("<DownloadReport 24 downloaded, 0 skipped, 0 failed")
    report.raise_for_failures()  # nothing to raise


def test_keep_alive_one_handshake_per_worker(emu: Emulator, tmp_path: Path) -> None:
    records = good_records(emu, 60)
    emu.latency = 0.01  # requests overlap, so all four workers really run at once
    try:
        report = download(records, tmp_path, workers=4, progress=False)
    finally:
        emu.latency = 0.0
    assert len(report.downloaded) == 60
    assert len(file_requests(emu)) == 60
    # One kept-alive connection per worker, not one per file.
    assert 1 <= len(emu.handshakes) <= 4


def test_error_pages_do_not_cost_a_connection(emu: Emulator, tmp_path: Path) -> None:
    records = [*missing_records(emu)[:3], *good_records(emu, 9)]
    report = download(records, tmp_path, workers=1, progress=False)
    assert len(report.failed) == 3 and len(report.downloaded) == 9
    assert len(emu.handshakes) == 1  # the small 404 bodies were read, the connection reused


def test_producer_is_consumed_lazily(emu: Emulator, tmp_path: Path) -> None:
    # Records through a generator; the files are tiny (served by a fault) to stay fast.
    emu.faults.add(
        r"^/dableFiles/lazy/",
        "status",
        times=10**9,
        status=200,
        headers={"Content-Type": "text/plain"},
        body=b"# tiny\n1 1 0 0 0 1 -1\n",
    )
    workers = 4
    # Never more ahead than the queue, one per worker in flight, and the one in hand...
    bound = (engine.QUEUE_PER_WORKER + 1) * workers + 1
    # ...out of well over twice that many records, so taking them all at once would show.
    total = 600
    assert bound < total // 2
    state = {"pulled": 0, "done": 0, "ahead": 0}

    def records() -> Iterator[Record]:
        for index in range(total):
            state["pulled"] += 1
            state["ahead"] = max(state["ahead"], state["pulled"] - state["done"])
            yield {"neuron_id": 10**7 + index, "neuron_name": f"lazy-{index}", "archive": "Lazy"}

    def count(result: FileResult) -> None:
        state["done"] += 1

    report = download(records(), tmp_path, workers=workers, progress=False, on_progress=count)
    assert len(report.downloaded) == total
    assert state["ahead"] <= bound
    assert state["ahead"] >= engine.QUEUE_PER_WORKER * workers  # the queue did fill: bound reached


# -- resuming -----------------------------------------------------------------------------------


def test_rerun_skips_complete_files_and_refetches_damaged_ones(
    emu: Emulator, tmp_path: Path
) -> None:
    records = good_records(emu, 12)
    download(records, tmp_path, progress=False)
    truncated, altered, deleted = records[0], records[1], records[2]
    path = local(tmp_path, truncated)
    path.write_bytes(path.read_bytes()[:-100])
    path = local(tmp_path, altered)
    data = bytearray(path.read_bytes())
    data[-3] = ord("9") if data[-3] != ord("9") else ord("8")  # same size, other content
    path.write_bytes(bytes(data))
    local(tmp_path, deleted).unlink()
    emu.reset()

    report = download(records, tmp_path, progress=False)
    assert sorted(report.downloaded) == sorted(r["neuron_name"] for r in records[:3])
    assert len(report.skipped) == 9
    assert len(file_requests(emu)) == 3  # nothing else was fetched again
    assert_complete(emu, tmp_path, records)
    assert "9 already complete" in str(report)


def test_without_verify_existing_only_sizes_are_checked(emu: Emulator, tmp_path: Path) -> None:
    records = good_records(emu, 3)
    download(records, tmp_path, progress=False)
    path = local(tmp_path, records[0])
    data = bytearray(path.read_bytes())
    data[-3] ^= 1
    path.write_bytes(bytes(data))
    short = local(tmp_path, records[1])
    short.write_bytes(short.read_bytes()[:-1])
    report = download(records, tmp_path, progress=False, verify_existing=False)
    assert report.downloaded == [records[1]["neuron_name"]]  # the size changed
    assert len(report.skipped) == 2  # the same-size edit is not noticed without hashing


def test_a_file_not_in_the_manifest_is_never_trusted(emu: Emulator, tmp_path: Path) -> None:
    # Another tool's partial download, cut at a line end, still parses as SWC: only the
    # manifest can tell a complete file from it.
    records = good_records(emu, 3)
    download(records, tmp_path, progress=False)
    path = local(tmp_path, records[1])
    data = path.read_bytes()
    partial = data[: data.rindex(b"\n", 0, len(data) // 3) + 1]
    validator = SWCValidator()
    validator.feed(partial)
    validator.finish()  # a valid SWC file, yet a third of the real one
    path.write_bytes(partial)
    (tmp_path / MANIFEST_NAME).unlink()
    emu.reset()

    report = download(records, tmp_path, progress=False)
    assert report.skipped == []
    assert sorted(report.downloaded) == sorted(r["neuron_name"] for r in records)
    assert "3 downloaded" in str(report) and "0 already complete" in str(report)
    assert len(file_requests(emu)) == 3
    assert_complete(emu, tmp_path, records)
    assert_clean(tmp_path)
    assert sorted(line["name"] for line in manifest(tmp_path)) == sorted(swc_files(tmp_path))
    again = download(records, tmp_path, progress=False)  # now the manifest vouches for them
    assert len(again.skipped) == 3 and again.downloaded == []


def test_files_not_in_the_manifest_are_replaced(emu: Emulator, tmp_path: Path) -> None:
    records = good_records(emu, 4)
    good, garbage, html, linked = records
    dest = tmp_path / "dest"
    dest.mkdir()
    local(dest, good).write_bytes(emu.database.swc(good) or b"")  # right, but unrecorded
    local(dest, garbage).write_bytes(b"1 1 0 0 0 1 -1\nnot swc at all\n")
    local(dest, html).write_bytes(b"<html><body>Service Unavailable</body></html>")
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"keep me\n")
    local(dest, linked).symlink_to(outside)
    inode = local(dest, good).stat().st_ino
    report = download(records, dest, progress=False)
    assert report.skipped == []
    assert sorted(report.downloaded) == sorted(r["neuron_name"] for r in records)
    assert_complete(emu, dest, records)
    assert local(dest, good).stat().st_ino != inode  # a new file renamed over it
    assert not local(dest, linked).is_symlink()  # replaced, never followed
    assert outside.read_bytes() == b"keep me\n"
    assert {line["neuron_name"] for line in manifest(dest)} == {r["neuron_name"] for r in records}
    assert len(file_requests(emu)) == 4
    assert_clean(dest)


def test_torn_manifest_line_is_ignored(emu: Emulator, tmp_path: Path) -> None:
    records = good_records(emu, 4)
    download(records[:2], tmp_path, progress=False)
    with open(tmp_path / MANIFEST_NAME, "ab") as file:
        file.write(b'{"name": "x.CNG.swc", "size": 12, "sha2')  # a crash mid-write
    report = download(records, tmp_path, progress=False)
    assert len(report.downloaded) == 2 and len(report.skipped) == 2
    lines = (tmp_path / MANIFEST_NAME).read_text().splitlines()
    assert lines[2] == '{"name": "x.CNG.swc", "size": 12, "sha2'  # the torn line stays alone
    assert {json.loads(line)["name"] for line in lines[3:]} == {
        safe_filename(r["neuron_name"]) for r in records[2:]
    }
    again = download(records, tmp_path, progress=False)
    assert len(again.skipped) == 4


def test_a_long_manifest_is_compacted(emu: Emulator, tmp_path: Path) -> None:
    records = good_records(emu, 2)
    download(records, tmp_path, progress=False)
    lines = (tmp_path / MANIFEST_NAME).read_bytes().splitlines(keepends=True)
    with open(tmp_path / MANIFEST_NAME, "ab") as file:
        file.writelines(lines * 800)  # as after many reruns that re-fetched changed files
        file.write(b"not json\n")
    report = download(records, tmp_path, progress=False)
    assert len(report.skipped) == 2
    assert sorted(manifest(tmp_path), key=lambda line: line["name"]) == sorted(
        (json.loads(line) for line in lines), key=lambda line: line["name"]
    )


def test_stale_temporary_files_are_removed(emu: Emulator, tmp_path: Path) -> None:
    old = tmp_path / ".a.CNG.swc.part-0123abcd"
    fresh = tmp_path / ".b.CNG.swc.part-4567cdef"
    unrelated = tmp_path / ".keep.part-notours"
    for path in (old, fresh, unrelated):
        path.write_bytes(b"partial")
    os.utime(old, (time.time() - 2 * 3600, time.time() - 2 * 3600))
    download(good_records(emu, 1), tmp_path, progress=False)
    assert not old.exists()
    assert fresh.exists()  # maybe another process is writing it
    assert unrelated.exists()


# -- faults -------------------------------------------------------------------------------------

FAULTS = [
    pytest.param("reset", {"after_bytes": 3000}, "connection", id="reset-mid-body"),
    pytest.param("reset", {}, "connection", id="reset-before-answer"),
    pytest.param("truncate", {"keep": 0.5}, "closed before the end of the", id="truncated"),
    pytest.param("html", {}, "HTML page instead of the SWC file", id="html-page"),
    pytest.param("status", {"status": 503}, "HTTP 503", id="503"),
    pytest.param("status", {"status": 500}, "HTTP 500", id="500"),
    pytest.param(
        "status",
        {"status": 200, "headers": {"Content-Type": "text/plain"}, "body": b""},
        "empty file",
        id="empty-200",
    ),
]


@pytest.mark.parametrize(("kind", "params", "reason"), FAULTS)
def test_transient_fault_is_retried_until_the_file_is_complete(
    emu: Emulator,
    tmp_path: Path,
    waits: list[float],
    kind: str,
    params: dict[str, Any],
    reason: str,
) -> None:
    records = good_records(emu, 4)
    target = records[1]
    emu.faults.add(re.escape(emu.database.file_path(target)), kind, times=2, **params)  # type: ignore[arg-type]
    report = download(records, tmp_path, progress=False, attempts=3)
    assert report.ok, report.failed
    assert len(report.downloaded) == 4
    assert len(file_requests(emu, target)) == 3
    assert_complete(emu, tmp_path, records)
    assert_clean(tmp_path)
    assert len(waits) == 2
    assert 0.25 <= waits[0] <= 0.5 and 0.5 <= waits[1] <= 1.0  # exponential backoff, jittered


@pytest.mark.parametrize(("kind", "params", "reason"), FAULTS)
def test_persistent_fault_is_reported_and_leaves_no_file(
    emu: Emulator,
    tmp_path: Path,
    waits: list[float],
    kind: str,
    params: dict[str, Any],
    reason: str,
) -> None:
    records = good_records(emu, 4)
    target = records[2]
    emu.faults.add(re.escape(emu.database.file_path(target)), kind, times=99, **params)  # type: ignore[arg-type]
    report = download(records, tmp_path, progress=False, attempts=3)
    assert not report.ok
    assert [f.name for f in report.failed] == [target["neuron_name"]]
    failure = report.failed[0]
    assert reason in failure.reason and "after 3 attempts" in failure.reason
    assert failure.url.endswith(emu.database.file_path(target))
    assert failure.neuron_id == target["neuron_id"]
    assert failure.path == str(local(tmp_path, target))
    assert not local(tmp_path, target).exists()
    assert len(file_requests(emu, target)) == 3
    assert_complete(emu, tmp_path, [r for r in records if r is not target])
    assert_clean(tmp_path)
    assert target["neuron_name"] not in {line["neuron_name"] for line in manifest(tmp_path)}
    with pytest.raises(DownloadError, match=re.escape(target["neuron_name"])):
        report.raise_for_failures()


def test_stalled_response_times_out_and_is_retried(
    emu: Emulator, tmp_path: Path, waits: list[float], held_stalls: HeldStalls
) -> None:
    records = good_records(emu, 3)
    before, during = records[0], records[1]
    emu.faults.add(re.escape(emu.database.file_path(before)), "stall", seconds=1.5)
    emu.faults.add(re.escape(emu.database.file_path(during)), "stall", seconds=1.5, after_bytes=500)
    report = download(records, tmp_path, progress=False, timeout=(5, 0.3))
    assert held_stalls.outlasted == []  # finished while both stalls still held
    assert report.ok and len(report.downloaded) == 3
    assert_complete(emu, tmp_path, records)
    assert len(file_requests(emu, during)) == 2


def test_stall_on_every_attempt_is_reported(
    emu: Emulator, tmp_path: Path, waits: list[float]
) -> None:
    record = good_records(emu, 1)[0]
    emu.faults.add(
        re.escape(emu.database.file_path(record)), "stall", times=2, seconds=1.0, after_bytes=200
    )
    report = download([record], tmp_path, progress=False, timeout=(5, 0.2), attempts=2)
    assert "stopped sending" in report.failed[0].reason
    assert_clean(tmp_path)
    assert swc_files(tmp_path) == set()


def test_not_found_is_final_at_once(emu: Emulator, tmp_path: Path, waits: list[float]) -> None:
    missing = missing_records(emu)[0]
    report = download([missing], tmp_path, progress=False, attempts=5)
    assert report.failed[0].reason == "not found on the server (HTTP 404 Not Found)"
    assert len(file_requests(emu, missing)) == 1
    assert waits == []


def test_broken_files_are_reported_not_saved(
    emu: Emulator, tmp_path: Path, waits: list[float]
) -> None:
    broken = [r for r in emu.database.neurons if r["neuron_id"] in emu.database.broken_file_ids]
    report = download(broken, tmp_path, progress=False, attempts=2)
    assert sorted(f.name for f in report.failed) == sorted(r["neuron_name"] for r in broken)
    for failure in report.failed:
        assert "not a valid SWC file (line" in failure.reason or "HTML page" in failure.reason
    assert swc_files(tmp_path) == set()
    assert_clean(tmp_path)


def test_retry_after_is_honoured(emu: Emulator, tmp_path: Path, waits: list[float]) -> None:
    records = good_records(emu, 3)
    emu.faults.add(
        re.escape(emu.database.file_path(records[0])),
        "status",
        status=429,
        headers={"Retry-After": "7"},
    )
    report = download(records, tmp_path, progress=False, workers=1)
    assert report.ok
    assert len(file_requests(emu, records[0])) == 2
    # The recorded pauses do not advance the clock, so every later request waits too; none is
    # a backoff added on top of what the server asked for.
    assert waits and all(6.5 <= w <= 7.0 for w in waits)


def test_retry_after_pauses_every_worker(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = good_records(emu, 8)
    emu.faults.add(
        re.escape(emu.database.file_path(records[0])),
        "status",
        status=503,
        headers={"Retry-After": "1"},
    )
    # A clock that stands still: once the server has asked for a pause, each request that any
    # worker starts afterwards must wait for it first (recorded, not slept).
    monkeypatch.setattr(fetch, "time", types.SimpleNamespace(monotonic=lambda: 1000.0))
    pauses: list[tuple[str, float]] = []
    monkeypatch.setattr(
        fetch,
        "_pause",
        lambda stop, seconds: pauses.append((threading.current_thread().name, seconds)),
    )
    report = download(records, tmp_path, progress=False, workers=2)
    assert report.ok
    assert pauses, "nobody waited for Retry-After"
    assert {seconds for _, seconds in pauses} == {1.0}  # the server's pause, no backoff
    assert len({worker for worker, _ in pauses}) == 2  # both workers waited, not just one


def test_retry_after_is_capped(emu: Emulator, tmp_path: Path, waits: list[float]) -> None:
    record = good_records(emu, 1)[0]
    emu.faults.add(
        re.escape(emu.database.file_path(record)),
        "status",
        times=3,
        status=503,
        headers={"Retry-After": "86400"},
    )
    report = download([record], tmp_path, progress=False, attempts=3)
    assert "HTTP 503" in report.failed[0].reason
    assert len(waits) == 2 and all(MAX_RETRY_AFTER - 1 <= w <= MAX_RETRY_AFTER for w in waits)


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried(
    emu: Emulator, tmp_path: Path, waits: list[float], status: int
) -> None:
    record = good_records(emu, 1)[0]
    emu.faults.add(re.escape(emu.database.file_path(record)), "status", status=status)
    report = download([record], tmp_path, progress=False)
    assert report.ok
    assert len(file_requests(emu, record)) == 2
    assert len(waits) == 1 and 0.25 <= waits[0] <= 0.5  # the first backoff of the policy


def test_client_errors_are_final(emu: Emulator, tmp_path: Path, waits: list[float]) -> None:
    record = good_records(emu, 1)[0]
    emu.faults.add(re.escape(emu.database.file_path(record)), "status", times=5, status=403)
    report = download([record], tmp_path, progress=False)
    assert report.failed[0].reason == "HTTP 403 Forbidden"
    assert len(file_requests(emu, record)) == 1


def test_rate_limit_spaces_requests(emu: Emulator, tmp_path: Path) -> None:
    records = good_records(emu, 6)
    started = time.monotonic()
    report = download(records, tmp_path, progress=False, rate_limit=20.0)
    assert report.ok
    assert time.monotonic() - started >= 5 / 20 - 0.02


# -- hostile names ------------------------------------------------------------------------------

HOSTILE = [
    "../escape",
    "../../etc/passwd",
    "/absolute/path",
    "C:\\Windows\\system32",
    "..\\..\\up",
    "a\x00b",
    "tab\tand\nnewline",
    "..",
    ".",
    "...",
    " ",
    ".hidden",
    "CON",
    "nul.txt",
    "com1",
    "LPT9",
    "x" * 1000,
    "é" * 300,
    "a/b",
    "a_b",
    "A_B",
    "evil\u202egnp.exe",
    "trailing. ",
    '?*<>|:"',
]


def test_safe_filename_keeps_ordinary_names() -> None:
    for name in (
        "cnic_001",
        "H16-03-001-01-09-01_559391771_m",
        "0-2",
        "Neuron 1 (left)",
        "Ca1+p2",
        "Zellé",
    ):
        assert safe_filename(name) == name + ".CNG.swc"


@pytest.mark.parametrize("name", HOSTILE)
def test_safe_filename_is_one_harmless_component(name: str) -> None:
    result = safe_filename(name)
    assert result.endswith(".CNG.swc")
    assert os.path.basename(result) == result
    assert "/" not in result and "\\" not in result and "\x00" not in result
    assert not result.startswith((".", " "))
    assert result.split(".")[0].upper() not in {"CON", "NUL", "COM1", "LPT9"}
    assert len(result.encode()) <= MAX_NAME_BYTES
    assert all(ch.isprintable() for ch in result)
    assert "\u202e" not in result


def test_safe_filename_never_merges_two_names() -> None:
    names = [safe_filename(name) for name in HOSTILE]
    assert len(set(names)) == len(names)
    assert safe_filename("a/b") != safe_filename("a_b") == "a_b.CNG.swc"
    assert safe_filename("x" * 1000) != safe_filename("x" * 999)


@given(st.text(min_size=1, max_size=300))
def test_safe_filename_invariants(name: str) -> None:
    result = safe_filename(name)
    assert os.path.basename(result) == result
    assert not result.startswith(".") and "\x00" not in result and "/" not in result
    assert len(result.encode("utf-8")) <= MAX_NAME_BYTES
    assert result == safe_filename(name)  # deterministic, so reruns find their files


def test_hostile_names_stay_inside_dest(emu: Emulator, tmp_path: Path) -> None:
    body = emu.database.swc(good_records(emu, 1)[0]) or b""
    # The emulator knows no such neurons: a fault serves a real SWC body for all of them.
    emu.faults.add(
        r"^/dableFiles/evil/",
        "status",
        times=1000,
        status=200,
        headers={"Content-Type": "text/plain"},
        body=body,
    )
    names = [name for name in HOSTILE if name not in (".", "..")]
    records = [
        {"neuron_id": 900_000 + index, "neuron_name": name, "archive": "Evil"}
        for index, name in enumerate(names)
    ]
    records.append({"neuron_id": 899_999, "neuron_name": "..", "archive": "Evil"})
    dest = tmp_path / "inside" / "dest"
    report = download(records, dest, progress=False)
    assert len(report.downloaded) == len(names)
    assert [f.name for f in report.failed] == [".."]  # no URL can be built for it
    # Everything written is a direct child of dest, one distinct file per neuron.
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert all(p.parent == dest for p in written)
    assert len(swc_files(dest)) == len(names)
    for path in dest.glob("*.swc"):
        assert path.read_bytes() == body
    assert_clean(dest)
    # A rerun maps every name to the same file again.
    again = download(records, dest, progress=False)
    assert len(again.skipped) == len(names)


def test_hostile_names_that_do_not_exist_write_nothing(emu: Emulator, tmp_path: Path) -> None:
    records = [
        {"neuron_id": 800_000 + i, "neuron_name": name, "archive": "Wearne_Hof"}
        for i, name in enumerate(["../cnic_001", "/cnic_001", "cnic_001/../../x"])
    ]
    dest = tmp_path / "dest"
    report = download(records, dest, progress=False)
    assert len(report.failed) == 3 and all("HTTP 404" in f.reason for f in report.failed)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_names_differing_in_case_get_two_files(emu: Emulator, tmp_path: Path) -> None:
    emu.faults.add(
        r"^/dableFiles/case/",
        "status",
        times=10,
        status=200,
        headers={"Content-Type": "text/plain"},
        body=b"1 1 0 0 0 1 -1\n",
    )
    records = [
        {"neuron_id": 1_000_001, "neuron_name": "Cell", "archive": "Case"},
        {"neuron_id": 1_000_002, "neuron_name": "cell", "archive": "Case"},
    ]
    report = download(records, tmp_path, progress=False)
    assert len(report.downloaded) == 2
    files = {name.casefold() for name in swc_files(tmp_path)}
    assert len(files) == 2  # distinct even on a case-insensitive file system


def test_a_name_taken_by_another_neuron_in_an_earlier_run(emu: Emulator, tmp_path: Path) -> None:
    record = good_records(emu, 1)[0]
    download([record], tmp_path, progress=False)
    impostor = {**record, "neuron_id": record["neuron_id"] + 10**6}
    report = download([impostor], tmp_path, progress=False)
    assert len(report.downloaded) == 1
    assert len(swc_files(tmp_path)) == 2  # the first neuron's file was not overwritten


def test_duplicate_records_download_once(emu: Emulator, tmp_path: Path) -> None:
    record = good_records(emu, 1)[0]
    report = download([record, dict(record)], tmp_path, progress=False)
    assert report.downloaded == [record["neuron_name"]]
    assert report.skipped == [record["neuron_name"]]
    assert len(file_requests(emu, record)) == 1


def test_unusable_records_are_reported(emu: Emulator, tmp_path: Path) -> None:
    good = good_records(emu, 1)[0]
    records: list[Any] = [{"neuron_id": 5}, "cnic_001", {"neuron_name": "x", "archive": ""}, good]
    report = download(records, tmp_path, progress=False)
    assert report.downloaded == [good["neuron_name"]]
    reasons = [f.reason for f in report.failed]
    assert reasons == [
        "record has no neuron_name or archive",
        "not a neuron record (a mapping)",
        "record has no neuron_name or archive",
    ]


# -- metadata -----------------------------------------------------------------------------------


def test_metadata_jsonl_lists_the_files_in_dest(emu: Emulator, tmp_path: Path) -> None:
    records = good_records(emu, 4)
    missing = missing_records(emu)[0]
    download(records[:2], tmp_path, progress=False)
    report = download([*records, missing], tmp_path, progress=False, metadata="jsonl")
    assert report.metadata_file == str(tmp_path / "neuromorpho-metadata.jsonl")
    rows = [json.loads(line) for line in Path(report.metadata_file).read_text().splitlines()]
    assert sorted(row["neuron_id"] for row in rows) == sorted(r["neuron_id"] for r in records)
    for row in rows:
        assert (tmp_path / row["file"]).is_file()
        original = emu.database.neuron_by_id(row["neuron_id"])
        assert original is not None and row["brain_region"] == original["brain_region"]
        assert "_links" not in row
    assert_clean(tmp_path)


def test_metadata_csv_joins_lists(emu: Emulator, tmp_path: Path) -> None:
    import csv

    records = good_records(emu, 3)
    report = download(records, tmp_path, progress=False, metadata="csv")
    assert report.metadata_file is not None
    with open(report.metadata_file, newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 3
    assert list(rows[0])[:3] == ["file", "neuron_id", "neuron_name"]
    by_id = {int(row["neuron_id"]): row for row in rows}
    for record in records:
        row = by_id[record["neuron_id"]]
        assert row["brain_region"] == "; ".join(record["brain_region"])
        assert row["file"] == safe_filename(record["neuron_name"])
    assert_clean(tmp_path)


# -- Ctrl-C -------------------------------------------------------------------------------------


def test_interrupt_from_callback_with_a_stalled_worker(
    emu: Emulator, tmp_path: Path, held_stalls: HeldStalls
) -> None:
    records = good_records(emu, 40)
    stalled = records[0]
    # The first file stalls mid-body for longer than the test: its worker is stuck in a read.
    emu.faults.add(
        re.escape(emu.database.file_path(stalled)), "stall", seconds=4.0, after_bytes=1000
    )
    seen: list[FileResult] = []

    def stop_after_five(result: FileResult) -> None:
        seen.append(result)
        if len(seen) == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        download(records, tmp_path, progress=False, timeout=(5, 30), on_progress=stop_after_five)
    assert held_stalls.outlasted == []  # did not wait for the stalled read
    assert_clean(tmp_path)
    present = swc_files(tmp_path)
    assert stalled["neuron_name"] + ".CNG.swc" not in present
    assert len(present) >= 5
    assert {line["name"] for line in manifest(tmp_path)} == present
    assert_complete(emu, tmp_path, [r for r in records if local(tmp_path, r).exists()])

    emu.faults.clear()
    emu.reset()
    report = download(records, tmp_path, progress=False)
    assert len(report.skipped) == len(present)
    assert len(report.downloaded) == 40 - len(present)
    assert len(file_requests(emu)) == 40 - len(present)  # only what was missing
    assert_complete(emu, tmp_path, records)
    assert_clean(tmp_path)


@pytest.fixture
def sigint_raises() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt, as in an interactive Python.

    A Python started with SIGINT ignored (``cmd &`` in a non-interactive shell, nohup, some
    CI supervisors) keeps it ignored, and then ``_thread.interrupt_main()`` does nothing.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def test_ctrl_c_signal_in_the_main_thread(
    emu: Emulator, tmp_path: Path, sigint_raises: None
) -> None:
    records = good_records(emu, 80)
    emu.latency = 0.05  # about a second of work for 4 workers
    running = threading.Event()
    running.set()
    timers: list[threading.Timer] = []

    def interrupt() -> None:
        if running.is_set():  # never after download() returned: pytest itself would stop
            _thread.interrupt_main()

    def press_ctrl_c(result: FileResult) -> None:
        if not timers:
            # Deliver it like a real SIGINT: asynchronously, while the main thread waits.
            timers.append(threading.Timer(0.05, interrupt))
            timers[0].start()

    try:
        with pytest.raises(KeyboardInterrupt):
            download(records, tmp_path, progress=False, on_progress=press_ctrl_c)
    finally:
        running.clear()
        timers[0].join()
        emu.latency = 0.0
    assert_clean(tmp_path)
    present = swc_files(tmp_path)
    assert 1 <= len(present) < 80
    assert {line["name"] for line in manifest(tmp_path)} == present
    report = download(records, tmp_path, progress=False)
    assert len(report.downloaded) == 80 - len(present)
    assert_complete(emu, tmp_path, records)
    assert_clean(tmp_path)


def test_a_failing_search_finishes_what_it_handed_out(emu: Emulator, tmp_path: Path) -> None:
    records = good_records(emu, 10)

    def failing() -> Iterator[Record]:
        yield from records
        raise RuntimeError("the search failed on page 2")

    with pytest.raises(RuntimeError, match="page 2"):
        download(failing(), tmp_path, progress=False, metadata="jsonl")
    # What was handed out was finished first: it is on disk for the next run.
    assert_complete(emu, tmp_path, records)
    assert {line["name"] for line in manifest(tmp_path)} == swc_files(tmp_path)
    assert_clean(tmp_path)
    assert not (tmp_path / "neuromorpho-metadata.jsonl").exists()


# -- sessions, arguments, progress --------------------------------------------------------------


def test_a_session_of_the_callers(
    emu: Emulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    session = NeuroMorphoSession(pool_maxsize=2)
    with caplog.at_level(logging.WARNING, logger="neuromorpho_api._download"):
        report = download(
            good_records(emu, 4), tmp_path, session=session, workers=4, progress=False
        )
    assert report.ok
    assert "keeps 2 connections for 4 workers" in caplog.text
    session.get("https://neuromorpho.org/api/health").raise_for_status()  # still open: not ours
    session.close()


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"workers": 0}, ValueError),
        ({"workers": 2.5}, ValueError),
        ({"attempts": 0}, ValueError),
        ({"rate_limit": 0}, ValueError),
        ({"metadata": "xml"}, ValueError),
        ({"base_url": "ftp://x"}, ValueError),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        download([], tmp_path, **kwargs)


def test_a_single_record_is_not_records(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="single record"):
        download({"neuron_name": "x", "archive": "y"}, tmp_path)  # type: ignore[dict-item]


def test_empty_input_creates_nothing(tmp_path: Path) -> None:
    report = download([], tmp_path / "new" / "deeper", progress=False, metadata="csv")
    assert report.ok and report.downloaded == [] and report.kept == 0
    assert isinstance(report, DownloadReport)
    assert list(tmp_path.iterdir()) == []  # no empty directory left behind
    existing = tmp_path / "there"
    existing.mkdir()
    download([], existing, progress=False, metadata="jsonl")
    assert existing.is_dir() and list(existing.iterdir()) == []  # not ours to remove


def test_dest_that_is_a_file(emu: Emulator, tmp_path: Path) -> None:
    records = good_records(emu, 2)
    taken = tmp_path / "swc"
    taken.write_bytes(b"not a directory\n")
    for dest in (taken, taken / "sub"):
        with pytest.raises(NotADirectoryError) as caught:
            download(records, dest, progress=False)
        assert str(caught.value) == f"{taken} exists and is not a directory"
    assert file_requests(emu) == []  # found before any download
    assert taken.read_bytes() == b"not a directory\n"


def test_dest_that_cannot_be_created(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "locked" / "swc"

    def refuse(path: Any, *args: Any, **kwargs: Any) -> None:
        raise PermissionError(13, "Permission denied", str(tmp_path / "locked"))

    monkeypatch.setattr(engine.os, "makedirs", refuse)
    with pytest.raises(PermissionError) as caught:
        download(good_records(emu, 2), dest, progress=False)
    assert str(caught.value) == f"cannot create the directory {dest}: permission denied"
    assert file_requests(emu) == []


def test_progress_bar_on_stderr(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    download(good_records(emu, 3), tmp_path, progress=True)
    err = capsys.readouterr().err
    assert "neuromorpho" in err and "3/3" in err


def test_progress_is_quiet_when_nobody_watches(
    emu: Emulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    download(good_records(emu, 2), tmp_path, progress=None)  # stderr is captured: not a TTY
    download(good_records(emu, 2, skip=2), tmp_path, progress=False)
    assert capsys.readouterr().err == ""


class _TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_wanted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", _TTY())
    monkeypatch.delenv("CI", raising=False)
    assert progress_module.progress_wanted(None) is True
    monkeypatch.setenv("CI", "true")
    assert progress_module.progress_wanted(None) is False
    assert progress_module.progress_wanted(True) is True
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    monkeypatch.delenv("CI")
    assert progress_module.progress_wanted(None) is False
    assert isinstance(make_progress(False, total=3), NullProgress)


def test_counter_without_tqdm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm now fails
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    stream = _TTY()
    monkeypatch.setattr(sys, "stderr", stream)
    bar = make_progress(True, total=2, desc="neuromorpho")
    assert isinstance(bar, CounterProgress)
    bar.update(1)
    bar.set_postfix_str("1 failed")
    bar.update(1)
    bar.close()
    text = stream.getvalue()
    assert text.endswith("\n") and "\r" in text
    assert "neuromorpho: 2/2 files [1 failed]" in text
    assert text.count("\n") == 1  # one line, rewritten in place


def test_tqdm_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    import tqdm

    monkeypatch.setattr(sys, "stderr", _TTY())
    bar = make_progress(True, total=5)
    try:
        assert isinstance(bar, tqdm.tqdm)
        assert bar.total == 5
    finally:
        bar.close()


def test_tqdm_decides_whether_a_person_watches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(sys, "stderr", _TTY())
    shown = make_progress(None, total=2)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    hidden = make_progress(None, total=2)
    try:
        assert not getattr(shown, "disable", True)
        assert getattr(hidden, "disable", False)
    finally:
        shown.close()
        hidden.close()
    monkeypatch.setattr(sys, "stderr", _TTY())
    monkeypatch.setenv("CI", "true")
    assert isinstance(make_progress(None, total=2), NullProgress)


def test_counter_without_tqdm_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert isinstance(make_progress(None, total=2), NullProgress)
    monkeypatch.setattr(sys, "stderr", _TTY())
    assert isinstance(make_progress(None, total=2), CounterProgress)


def test_csv_cells_read_the_same_everywhere() -> None:
    from neuromorpho_api._records import csv_cell

    assert csv_cell(None) == ""
    assert csv_cell(["a", None, 3]) == "a; ; 3"
    assert csv_cell([["a", "b"], "c"]) == "a; b; c"
    assert csv_cell({"x": "é"}) == '{"x": "é"}'
    assert csv_cell([{"x": 1}]) == '{"x": 1}'
    assert csv_cell(1.5) == "1.5"


def test_records_as_csv_and_table() -> None:
    from neuromorpho_api._records import write_records

    records = [{"neuron_id": 1, "neuron_name": "n1", "brain_region": ["a", "b"], "_links": {}}]
    out = io.StringIO()
    assert write_records(records, "csv", out) == 1
    assert out.getvalue().splitlines() == ["neuron_id,neuron_name,brain_region", "1,n1,a; b"]
    out = io.StringIO()
    assert write_records(records, "table", out) == 1
    assert out.getvalue().splitlines()[1].split() == ["1", "n1", "a;", "b"]
    out = io.StringIO()
    assert write_records(records, "jsonl", out) == 1
    assert json.loads(out.getvalue()) == {
        "neuron_id": 1,
        "neuron_name": "n1",
        "brain_region": ["a", "b"],
    }
