"""`neuromorpho download` end to end (a subprocess against the emulator): issue 13's edges."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from neuromorpho_api.testing import Emulator
from tests.cli.test_cli import run


@pytest.fixture(scope="module")
def site() -> Emulator:
    emulator = Emulator(400)
    emulator.start()
    yield emulator
    emulator.stop()


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def test_an_empty_out_is_a_usage_error(site: Emulator, tmp_path: Path) -> None:
    result = run(["download", "species=rat", "--out", ""], site, cwd=tmp_path)
    assert result.returncode == 2
    assert "--out is empty" in one_line(result.stderr)
    assert list(tmp_path.iterdir()) == []


def test_no_criteria_needs_all(site: Emulator, tmp_path: Path) -> None:
    result = run(["download", "--out", str(tmp_path / "x")], site)
    assert result.returncode == 2 and "--all" in one_line(result.stderr)


def test_zero_hits_say_so_and_create_nothing(site: Emulator, tmp_path: Path) -> None:
    dest = tmp_path / "none"
    result = run(["download", "species=no-such-*", "--out", str(dest)], site)
    assert result.returncode == 0, "zero hits is an answer, as for search"
    assert one_line(result.stderr) == "neuromorpho: no neurons match"
    assert not dest.exists()


def test_an_unwritable_out_is_one_line_before_any_download(site: Emulator, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run(["download", "species=rat", "--out", str(blocker / "swc")], site)
    assert result.returncode == 1
    assert one_line(result.stderr) == f"neuromorpho: error: {blocker} exists and is not a directory"


def test_more_workers_warn_in_one_line(site: Emulator, tmp_path: Path) -> None:
    result = run(
        ["download", "species=rat", "--limit", "3", "--workers", "6", "-q", "-o", str(tmp_path)],
        site,
    )
    assert result.returncode in (0, 1), result.stderr
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert warnings == [
        "neuromorpho: warning: workers=6 is above the politeness bound of 4 parallel downloads "
        "for NeuroMorpho.Org; keep such runs short"
    ]


def test_kinds_from_the_command_line(site: Emulator, tmp_path: Path) -> None:
    result = run(
        [
            *("download", "species=rat", "--limit", "2", "--kind", "png", "--kind", "swc"),
            *("-q", "-o", str(tmp_path)),
        ],
        site,
    )
    names = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("."))
    pngs = [n for n in names if n.endswith(".png")]
    swcs = [n for n in names if n.endswith(".CNG.swc")]
    failed = [line for line in result.stderr.splitlines() if line.startswith("failed:")]
    assert len(pngs) == 2, result.stderr  # every neuron has an image
    assert len(swcs) + len(failed) == 2  # some emulated SWC files are missing or broken
    assert result.returncode == (1 if failed else 0)


def test_ctrl_c_says_what_was_kept(site: Emulator, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if "PROXY" not in k.upper()}
    env.pop("REQUESTS_CA_BUNDLE", None)
    env.update(site.environ())
    site.latency = 0.1
    try:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "neuromorpho_api", "download", "species=rat", "-q"),
                *("--workers", "1", "-o", str(tmp_path), "--metadata", "jsonl"),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while not any(p.suffix == ".swc" for p in tmp_path.iterdir()):
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        site.latency = 0.0
    assert process.returncode == 130
    line = one_line(stderr)
    kept = len([p for p in tmp_path.iterdir() if p.suffix == ".swc"])
    assert line == (
        f"neuromorpho: error: interrupted: {kept} file{'s' if kept != 1 else ''} kept in "
        f"{tmp_path}; rerun the same command to resume"
    )
    rows = (tmp_path / "neuromorpho-metadata.jsonl").read_text().splitlines()
    assert len(rows) == kept
