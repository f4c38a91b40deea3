"""Issue 11 (symlinks, manifest bounds, disk full) and 13 (destination, kinds, Ctrl-C, notebooks)."""

from __future__ import annotations

import contextlib
import errno
import json
import re
import resource
import signal
import tracemalloc
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

import neuromorpho_api._download._engine as engine
from neuromorpho_api import DiskFullError, DownloadInterrupted, NeuroMorpho
from neuromorpho_api._download import MANIFEST_NAME, DownloadReport, FileResult, download
from neuromorpho_api._download._manifest import Manifest
from neuromorpho_api._download._report import DownloadFailure
from neuromorpho_api.testing import Emulator

Record = Mapping[str, Any]


@pytest.fixture
def emu(neuromorpho_emulator: Emulator) -> Emulator:
    return neuromorpho_emulator


def good(emu: Emulator, count: int, *, max_size: int = 60_000, min_size: int = 0) -> list[Record]:
    db = emu.database
    bad = db.missing_file_ids | db.broken_file_ids
    chosen = [
        r
        for r in db.neurons
        if r["neuron_id"] not in bad and min_size <= db.swc_size_target(r["neuron_id"]) <= max_size
    ]
    return chosen[:count]


def file_requests(emu: Emulator) -> list[str]:
    return [r.target for r in emu.requests if r.target.startswith(("/dableFiles/", "/images/"))]


def manifest_names(dest: Path) -> set[str]:
    lines = (dest / MANIFEST_NAME).read_text(encoding="utf-8").splitlines()
    return {json.loads(line)["name"] for line in lines if line.strip()}


def parts(dest: Path) -> list[str]:
    return [p.name for p in dest.iterdir() if ".part-" in p.name]


# -- issue 11, gap 1: nothing written through a symlink -----------------------------------------


def test_a_symlinked_manifest_is_replaced_not_followed(emu: Emulator, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("precious\n")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / MANIFEST_NAME).symlink_to(outside)
    records = good(emu, 3)
    report = download(records, dest, progress=False)
    assert report.ok and len(report.downloaded) == 3
    assert outside.read_text() == "precious\n"  # nothing appended to, or read from, it
    assert not (dest / MANIFEST_NAME).is_symlink()
    assert len(manifest_names(dest)) == 3
    assert any("symbolic link" in warning for warning in report.warnings)
    assert download(records, dest, progress=False).skipped  # the new manifest works


def test_metadata_files_are_replaced_not_written_through(emu: Emulator, tmp_path: Path) -> None:
    outside = tmp_path / "outside.csv"
    outside.write_text("precious\n")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "neuromorpho-metadata.csv").symlink_to(outside)
    download(good(emu, 2), dest, progress=False, metadata="csv")
    assert outside.read_text() == "precious\n"
    assert not (dest / "neuromorpho-metadata.csv").is_symlink()


# -- issue 11, gap 8: the manifest is read with a bound per line --------------------------------


def test_a_huge_manifest_line_is_skipped_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / MANIFEST_NAME
    good_line = {"name": "a.CNG.swc", "size": 3, "sha256": "0" * 64, "neuron_id": 1}
    with open(path, "wb") as file:
        file.write(json.dumps(good_line).encode() + b"\n")
        file.write(b'{"name": "' + b"x" * 30_000_000 + b"\n")  # 30 MB in one line
        file.write(b"\x00\xffgarbage\n")
        file.write(json.dumps({**good_line, "name": "b.CNG.swc"}).encode() + b"\n")
    manifest = Manifest(str(path))
    tracemalloc.start()
    try:
        manifest.load()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000  # the 30 MB line was never held whole
    assert manifest.garbage == 2
    assert manifest.get("a.CNG.swc") is not None and manifest.get("b.CNG.swc") is not None


def test_manifest_garbage_is_reported(emu: Emulator, tmp_path: Path) -> None:
    records = good(emu, 2)
    download(records, tmp_path, progress=False)
    with open(tmp_path / MANIFEST_NAME, "ab") as file:
        file.write(b"y" * 200_000 + b"\nnot json\n")
    report = download(records, tmp_path, progress=False)
    assert len(report.skipped) == 2
    assert report.warnings == [f"2 unreadable line(s) in {MANIFEST_NAME} were skipped"]


# -- issue 11, gap 7: a full disk stops the run -------------------------------------------------


@contextlib.contextmanager
def small_file_limit() -> Iterator[int]:
    """Files in this process may not grow past 150 kB: writes past it fail with EFBIG."""
    limit = 150_000
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield limit
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def test_a_full_disk_stops_the_run_with_one_line(emu: Emulator, tmp_path: Path) -> None:
    small = good(emu, 5, max_size=40_000)
    big = good(emu, 1, min_size=400_000, max_size=2_000_000)
    assert len(small) == 5 and len(big) == 1
    rest = good(emu, 12, max_size=40_000)[5:]
    records = [*small, *big, *rest]
    with small_file_limit(), pytest.raises(DiskFullError) as caught:
        download(records, tmp_path, progress=False, workers=1, metadata="jsonl")
    error = caught.value
    assert isinstance(error, OSError) and error.errno == errno.EFBIG
    assert str(error) == f"no space left on {tmp_path}: 5 files kept, rerun to resume"
    assert error.report.kept == 5
    present = {p.name for p in tmp_path.iterdir() if p.name.endswith(".swc")}
    assert manifest_names(tmp_path) == present and len(present) == 5
    assert parts(tmp_path) == []
    assert len(file_requests(emu)) == 6  # stopped at once: nothing after the failing file
    rows = (tmp_path / "neuromorpho-metadata.jsonl").read_text().splitlines()
    assert len(rows) == 5
    report = download(records, tmp_path, progress=False)  # room again: the rerun resumes
    assert len(report.skipped) == 5 and len(report.downloaded) == 8


# -- issue 13: the destination ------------------------------------------------------------------


def test_an_unwritable_dest_is_found_before_any_request(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = engine.open_no_follow

    def refuse(path: str, flags: int, mode: int = 0o666) -> int:
        if ".neuromorpho-write-test-" in path:
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real(path, flags, mode)

    monkeypatch.setattr(engine, "open_no_follow", refuse)
    dest = tmp_path / "new" / "swc"
    with pytest.raises(PermissionError, match=re.escape(f"cannot write in {dest}: permission")):
        download(good(emu, 3), dest, progress=False)
    assert file_requests(emu) == []
    assert list(tmp_path.iterdir()) == []  # what the check created is gone again
    client = NeuroMorpho()
    with pytest.raises(PermissionError):
        client.download({"species": "rat"}, dest, progress=False)
    assert emu.requests == [] or all("/api/" not in r.target for r in emu.requests)


def test_a_zero_hit_download_creates_nothing(emu: Emulator, tmp_path: Path) -> None:
    dest = tmp_path / "none"
    report = NeuroMorpho().download({"species": "no-such-*"}, dest, progress=False)
    assert isinstance(report, DownloadReport) and report.kept == 0 and report.ok
    assert not dest.exists()


def test_empty_criteria_need_all(emu: Emulator, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="all=True"):
        NeuroMorpho().download({}, tmp_path / "all", progress=False)
    assert emu.requests == []
    assert not (tmp_path / "all").exists()
    report = NeuroMorpho().download({}, tmp_path / "all", progress=False, limit=3, all=True)
    assert len(report.downloaded) + len(report.failed) == 3


def test_more_workers_than_polite_warns_once(emu: Emulator, tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="politeness bound of 4") as caught:
        report = download(good(emu, 6), tmp_path, progress=False, workers=6)
    assert report.ok and len(caught) == 1


# -- issue 13: Ctrl-C ---------------------------------------------------------------------------


def test_the_partial_report_is_on_the_interrupt(emu: Emulator, tmp_path: Path) -> None:
    records = good(emu, 30)
    seen: list[FileResult] = []

    def stop_after_five(result: FileResult) -> None:
        seen.append(result)
        if len(seen) == 5:
            raise KeyboardInterrupt

    with pytest.raises(DownloadInterrupted) as caught:
        download(records, tmp_path, progress=False, on_progress=stop_after_five, metadata="csv")
    assert isinstance(caught.value, KeyboardInterrupt)
    report = caught.value.report
    assert report.kept >= 5 and report.kept == len(report.downloaded)
    assert set(report.downloaded) >= {r.name for r in seen}
    assert "rerun to resume" in str(caught.value)
    # The metadata of what completed is written, one row per file kept.
    rows = (tmp_path / "neuromorpho-metadata.csv").read_text().splitlines()
    kept_files = {p.name for p in tmp_path.iterdir() if p.name.endswith(".swc")}
    assert len(rows) - 1 == len(kept_files) == report.kept


# -- issue 13: other kinds of file --------------------------------------------------------------


def test_every_kind_of_file(emu: Emulator, tmp_path: Path) -> None:
    records = good(emu, 4)
    kinds = ("swc", "original", "standardization_log", "remaining_issues", "png")
    report = download(records, tmp_path, progress=False, kinds=kinds, metadata="jsonl")
    assert report.ok, report.failed
    assert len(report.downloaded) == 4 * 5
    db = emu.database
    for record in records:
        name = record["neuron_name"]
        assert (tmp_path / f"{name}.CNG.swc").read_bytes() == db.swc(record)
        ext = db.source_extension(record)
        assert (tmp_path / f"{name}.{ext}").read_bytes() == db.source_file(record)
        assert (tmp_path / f"{name}.std").read_bytes() == db.std_log(record)
        assert (tmp_path / f"{name}.CNG.swc.std").read_bytes() == db.remaining_issues(record)
        assert (tmp_path / f"{name}.png").read_bytes() == db.png(record)
    lines = [json.loads(x) for x in (tmp_path / MANIFEST_NAME).read_text().splitlines()]
    assert sorted({line["kind"] for line in lines}) == sorted(kinds)
    rows = [
        json.loads(x)
        for x in (tmp_path / "neuromorpho-metadata.jsonl").read_text().split("\n")
        if x
    ]
    assert len(rows) == 20 and {row["kind"] for row in rows} == set(kinds)
    again = download(records, tmp_path, progress=False, kinds=kinds)
    assert len(again.skipped) == 20


def test_each_kind_has_its_check(emu: Emulator, tmp_path: Path) -> None:
    record = good(emu, 1)[0]
    db = emu.database
    png = f"/images/imageFiles/.*/{re.escape(record['neuron_name'])}\\.png"
    emu.faults.add(png, "status", times=9, status=200, body=b"GIF89a not a png at all")
    std = re.escape(db.file_path(record).replace("CNG%20version", "Standardization%20log"))
    std = std.replace(r"\.CNG\.swc", r"\.std")
    emu.faults.add(std, "html", times=9)
    report = download(
        [record], tmp_path, progress=False, kinds=["png", "standardization_log"], attempts=1
    )
    reasons = {f.kind: f.reason for f in report.failed}
    assert reasons["png"] == "not a PNG image (no PNG signature)"
    assert reasons["standardization_log"] == (
        "the server sent an HTML page instead of the standardization log"
    )
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == []


def test_an_unknown_original_format_is_reported(emu: Emulator, tmp_path: Path) -> None:
    record = {**good(emu, 1)[0], "original_format": "../../etc/passwd"}
    report = download([record], tmp_path, progress=False, kinds=["original"])
    assert "no file extension known" in report.failed[0].reason
    assert file_requests(emu) == []
    with pytest.raises(ValueError, match="unknown kind 'svg'"):
        download([record], tmp_path, kinds=["svg"])


# -- issue 13: notebooks ------------------------------------------------------------------------


def test_report_in_a_notebook_shows_its_failures() -> None:
    report = DownloadReport("/data/swc", downloaded=["a"] * 3)
    report.failed.append(
        DownloadFailure("<b>x</b>", "https://neuromorpho.org/x", "HTTP 503 & worse", 7)
    )
    html = report._repr_html_()
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
    assert "HTTP 503 &amp; worse" in html and "<table>" in html
    assert repr(report) == ("<DownloadReport 3 downloaded, 0 skipped, 1 failed, dest='/data/swc'>")
    many = DownloadReport("d", failed=[DownloadFailure(f"n{i}", "u", "r") for i in range(80)])
    assert "... and 30 more failures" in many._repr_html_()
    assert "<table>" not in DownloadReport("d")._repr_html_()
