"""`neuromorpho urls`, and the help pages: examples on each, only the options that apply."""

from __future__ import annotations

import csv
import io
import json
from urllib.parse import unquote, urlsplit

import pytest

from neuromorpho_api import _cli
from neuromorpho_api._session import requestor
from neuromorpho_api.testing import Emulator

from .test_cli import run

KINDS = ["swc", "original", "standardization_log", "remaining_issues", "png"]


@pytest.fixture(scope="module")
def site() -> Emulator:
    emulator = Emulator(300)
    emulator.start()
    yield emulator
    emulator.stop()


def test_urls_by_name_point_at_files_the_site_serves(site: Emulator) -> None:
    names = ["cnic_001", site.database.neurons[7]["neuron_name"]]
    result = run(["urls", *names, "--format", "jsonl"], site)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["neuron_name"] for row in rows] == names
    assert all(list(row) == ["neuron_id", "neuron_name", *KINDS] for row in rows)
    with site.active():
        for row in rows:
            record = site.database.neuron_by_name(row["neuron_name"])
            assert urlsplit(row["swc"]).path == site.database.file_path(record)
            assert urlsplit(row["original"]).path == site.database.source_path(record)
            for kind in KINDS:
                if kind == "swc" and record["neuron_id"] in site.database.missing_file_ids:
                    continue
                response = requestor.get(row[kind], timeout=30)
                assert response.status_code == 200, (kind, row[kind])


def test_urls_by_criteria_as_csv_with_chosen_kinds(site: Emulator) -> None:
    result = run(
        ["urls", "archive=Smith", "--kind", "swc", "--kind", "png", "--format", "csv"], site
    )
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["neuron_id", "neuron_name", "swc", "png"]
    expected = site.database.search("archive:Smith")
    assert len(expected) > 1
    assert sorted(int(row[0]) for row in rows[1:]) == sorted(r["neuron_id"] for r in expected)
    for _, name, swc, png in rows[1:]:
        assert unquote(swc).endswith(f"/smith/CNG version/{name}.CNG.swc")
        assert unquote(png).endswith(f"/images/imageFiles/Smith/{name}.png")


def test_urls_by_id_as_a_table_one_line_per_file(site: Emulator) -> None:
    result = run(["urls", "--id", "1", "--id", "2", "--kind", "swc"], site)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["neuron_id", "neuron_name", "file", "url"]
    assert [line.split()[:3] for line in lines[1:]] == [
        ["1", "cnic_001", "swc"],
        ["2", site.database.neurons[1]["neuron_name"], "swc"],
    ]
    assert result.stderr == "2 neurons\n"


def test_urls_reports_unknown_names_and_keeps_the_others(site: Emulator) -> None:
    result = run(["urls", "no_such_neuron_xyz", "cnic_001", "--format", "jsonl", "-q"], site)
    assert result.returncode == 1
    assert [json.loads(line)["neuron_name"] for line in result.stdout.splitlines()] == ["cnic_001"]
    assert result.stderr == "neuromorpho: error: no neuron with name 'no_such_neuron_xyz'\n"


def test_urls_without_a_match(site: Emulator) -> None:
    result = run(["urls", "neuron_name=zz_no_such_*", "--format", "csv"], site)
    assert (result.returncode, result.stdout) == (0, "")
    assert result.stderr == "neuromorpho: no neurons match\n"


def test_urls_refuses_names_mixed_with_criteria() -> None:
    result = run(["urls", "cnic_001", "species=rat"])
    assert result.returncode == 2
    assert result.stderr == (
        "neuromorpho: error: give neuron ids and names, or criteria, not both "
        "(criteria: species=rat)\n"
    )


def test_parse_selection() -> None:
    selection = _cli.parse_selection(["cnic_001", "12"], [5])
    assert selection.keys == (5, "cnic_001", 12)
    assert selection.criteria == {}
    assert _cli.parse_selection(["species=rat", "species=mouse"]).criteria == {
        "species": ["rat", "mouse"]
    }


COMMANDS = ["fields", "values", "count", "search", "download", "neuron", "urls", "doctor", "demo"]


@pytest.mark.parametrize("name", COMMANDS)
def test_each_help_page_ends_with_examples(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        _cli.main([name, "--help"])
    assert stop.value.code == 0
    page = capsys.readouterr().out
    tail = page.split("\nexamples:\n", 1)[1].splitlines()
    assert 2 <= len(tail) <= 3
    assert all(
        line.startswith(f"  neuromorpho {name}") or "neuromorpho --" in line for line in tail
    )


def test_top_level_help_lists_every_command_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _cli.main(["--help"])
    page = capsys.readouterr().out
    for name in COMMANDS:
        line = next(line for line in page.splitlines() if line.startswith(f"    {name} "))
        assert len(line.split(maxsplit=1)[1]) > 20, line
    assert "neuromorpho urls" in page and "--debug" in page and "exit status" in page


def test_demo_lists_only_options_that_apply(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _cli.main(["demo", "--help"])
    page = capsys.readouterr().out
    assert "--out" in page and "--quiet" in page
    assert "--base-url" not in page and "--ca-bundle" not in page


@pytest.mark.parametrize(
    "args",
    [
        ["demo", "--base-url", "https://neuromorpho.org"],
        ["--base-url", "https://example.org", "demo"],
    ],
)
def test_demo_refuses_a_site(args: list[str]) -> None:
    result = run(args)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert "(see neuromorpho demo --help)" in result.stderr or "do not apply" in result.stderr
