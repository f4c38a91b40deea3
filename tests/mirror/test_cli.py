"""`neuromorpho sync`, `--mirror`/`--offline`/`NEUROMORPHO_MIRROR`, `morphometry` and `pvec`."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from neuromorpho_api._client import NeuroMorpho
from neuromorpho_api.testing import Emulator
from tests.cli.test_cli import run


def _api(emu: Emulator) -> int:
    return sum(1 for r in emu.requests if r.target.startswith("/api/"))


def test_sync_then_every_query_command_offline(
    emu: Emulator, nmo: NeuroMorpho, tmp_path: Path
) -> None:
    path = tmp_path / "cli.sqlite"
    done = run(["sync", str(path)], emu)
    assert done.returncode == 0, done.stderr
    assert "3000 neurons: 3000 added" in done.stderr and str(path) in done.stderr
    expected = str(nmo.count(species="rat"))
    emu.reset()
    for args, env in (
        (["--mirror", str(path), "count", "species=rat"], {}),
        (["count", "species=rat", "--mirror", str(path)], {}),
        (["count", "species=rat"], {"NEUROMORPHO_MIRROR": str(path)}),
        (["--offline", "count", "species=rat"], {"NEUROMORPHO_MIRROR": str(path)}),
    ):
        done = run(args, emu, extra_env=env)
        assert (done.returncode, done.stdout.strip()) == (0, expected), done.stderr
        assert done.stderr == ""  # no unclosed-database ResourceWarning (Python 3.13)
    assert emu.requests == []
    done = run(["--online", "count", "species=rat"], emu, extra_env={"NEUROMORPHO_MIRROR": "x"})
    assert done.stdout.strip() == expected and _api(emu) >= 1
    emu.reset()
    for command in (["fields"], ["values", "species"], ["neuron", "cnic_001"]):
        offline = run(["--mirror", str(path), *command], emu)
        assert emu.requests == [], command
        assert offline.stdout == run(command, emu).stdout and offline.returncode == 0
        emu.reset()
    search = ["search", "archive=Smith", "--format", "jsonl"]
    assert run(["--mirror", str(path), *search], emu).stdout == run(search, emu).stdout


def test_a_damaged_mirror_is_one_line_with_the_rebuild_hint(emu: Emulator, tmp_path: Path) -> None:
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"no database here\n" * 64)
    done = run(["--mirror", str(bad), "count"], emu)
    assert done.returncode == 1 and done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("neuromorpho: error:") and "--rebuild" in line
    done = run(["sync", str(bad), "--rebuild", "--no-morphometry", "--quiet"], emu)
    assert done.returncode == 0, done.stderr
    assert run(["--mirror", str(bad), "count"], emu).stdout.strip() == "3000"


def test_morphometry_rows_numbers_as_numbers(emu: Emulator, nmo: NeuroMorpho) -> None:
    smith = [r["neuron_id"] for r in nmo.search(archive="Smith")]
    expected = nmo.morphometry_many(smith)
    emu.reset()
    done = run(["morphometry", "archive=Smith", "--format", "jsonl"], emu)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["neuron_id"] for r in rows] == list(expected)
    for row in rows:
        assert row == {**expected[row["neuron_id"]], **row}
        assert all(
            isinstance(v, float) for k, v in row.items() if k not in ("neuron_id", "neuron_name")
        )
    pages = math.ceil(len(smith) / 500)
    assert (
        _api(emu) <= 3 + pages + math.ceil(len(smith) / 500) + 1
    )  # fields, values, pages, selects

    table = run(["morphometry", "archive=Smith", "--limit", "3"], emu).stdout.splitlines()
    assert table[0].split()[:2] == ["neuron_id", "neuron_name"] and len(table) == 4
    done = run(["morphometry", "archive=Smith", "--format", "csv", "--limit", "5"], emu)
    parsed = list(csv.DictReader(io.StringIO(done.stdout)))
    assert len(parsed) == 5
    first = expected[int(parsed[0]["neuron_id"])]
    for key, value in first.items():
        if isinstance(value, float):
            assert float(parsed[0][key]) == value


def test_pvec_rows_one_column_per_coefficient(emu: Emulator, nmo: NeuroMorpho) -> None:
    done = run(["pvec", "archive=Smith", "--format", "csv", "--limit", "4"], emu)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert rows
    vector = nmo.pvec(int(rows[0]["neuron_id"]))
    assert vector is not None
    coefficients = vector["coefficients"]
    assert [float(rows[0][f"coefficients_{i}"]) for i in range(len(coefficients))] == coefficients


def test_no_match_is_an_empty_output_and_a_note(emu: Emulator) -> None:
    done = run(["morphometry", "neuron_name=no_such_neuron*"], emu)
    assert (done.returncode, done.stdout) == (0, "")
    assert "no neurons with morphometry match" in done.stderr


def test_pvec_json_lines_keep_the_coefficients_a_list(emu: Emulator, nmo: NeuroMorpho) -> None:
    done = run(["pvec", "archive=Smith", "--format", "jsonl", "--limit", "2"], emu)
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(rows) == 2
    vector = nmo.pvec(rows[0]["neuron_id"])
    assert vector is not None and rows[0]["coefficients"] == vector["coefficients"]
