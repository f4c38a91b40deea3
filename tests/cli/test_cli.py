"""The `neuromorpho` command line, end to end as a subprocess against the emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from neuromorpho_api._cli import parse_criteria
from neuromorpho_api.testing import Emulator


def run(
    args: list[str],
    emulator: Emulator | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `python -m neuromorpho_api ARGS`; with an emulator, its proxy and CA are the route."""
    env = {k: v for k, v in os.environ.items() if "PROXY" not in k.upper()}
    env.pop("REQUESTS_CA_BUNDLE", None)
    env["PYTHONWARNINGS"] = "error::ResourceWarning"
    if emulator is not None:
        env.update(emulator.environ())
    env.update(extra_env or {})
    return subprocess.run(
        [sys.executable, "-m", "neuromorpho_api", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def site() -> Emulator:
    emulator = Emulator(800)
    emulator.start()
    yield emulator
    emulator.stop()


def test_help_teaches_with_examples() -> None:
    result = run(["--help"])
    assert result.returncode == 0
    for text in ("neuromorpho download species=rat", "neuromorpho demo", "exit status", "doctor"):
        assert text in result.stdout


def test_version() -> None:
    from neuromorpho_api import __version__

    result = run(["--version"])
    assert result.returncode == 0
    assert result.stdout.strip() == f"neuromorpho-api {__version__}"


def test_count_matches_ground_truth(site: Emulator) -> None:
    result = run(["count", "species=rat", "species=mouse"], site)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) == len(site.database.search("species:rat,mouse"))
    assert site.proxy_tunnels, "the child process went through the emulator's proxy"


def test_search_jsonl_with_multiword_value(site: Emulator) -> None:
    result = run(["search", "brain_region=principal cell layer", "--format", "jsonl"], site)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    expected = site.database.search('brain_region:"principal cell layer"')
    assert [r["neuron_id"] for r in records] == [r["neuron_id"] for r in expected]
    assert records and all("principal cell layer" in r["brain_region"] for r in records)


def test_search_csv_and_limit(site: Emulator) -> None:
    result = run(
        ["search", "neuron_name=CB_CKp25_2w_F_Animal01_*", "--format", "csv", "--limit", "4"], site
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("neuron_id,neuron_name,archive")
    assert len(lines) == 5
    assert all(",CB_CKp25_2w_F_Animal01_" in line for line in lines[1:])


def test_neuron_by_name(site: Emulator) -> None:
    result = run(["neuron", "cnic_001"], site)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["neuron_id"] == 1


def test_errors_are_one_line_with_the_right_status(site: Emulator) -> None:
    unknown_field = run(["count", "specie=rat"], site)
    assert unknown_field.returncode == 2
    assert unknown_field.stderr.strip().splitlines() == [
        "neuromorpho: error: unknown field 'specie'; did you mean species? (run `neuromorpho fields`)"
    ]
    not_found = run(["neuron", "no_such_neuron_xyz"], site)
    assert not_found.returncode == 1
    assert len(not_found.stderr.strip().splitlines()) == 1
    assert "Traceback" not in not_found.stderr
    bad_usage = run(["count", "species"], site)
    assert bad_usage.returncode == 2
    assert "FIELD=VALUE" in bad_usage.stderr


def test_no_network_is_a_clear_one_line_error() -> None:
    result = run(["--base-url", "https://127.0.0.1:9", "fields"])
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "neuromorpho: error: connection refused (is the server up, and the URL right?) "
        "(https://127.0.0.1:9/api/neuron/fields)"
    ]


@pytest.mark.parametrize(
    "args",
    [
        ["download", "species=rat", "--out", "d", "--rate-limit", "0"],
        ["download", "species=rat", "--out", "d", "--workers", "-1"],
        ["--base-url", "https://neuromorpho.org/api", "fields"],
        ["--base-url", "ftp://neuromorpho.org", "fields"],
        ["neuron", " "],
        ["download", "--out", "d"],
        ["frobnicate"],
    ],
)
def test_usage_errors_exit_2_before_any_request(args: list[str], tmp_path: Path) -> None:
    result = run(args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "d").exists()


def test_count_without_criteria_counts_everything(site: Emulator) -> None:
    result = run(["count"], site)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) == len(site.database.neurons)


def test_download_with_name_and_archive_criteria(site: Emulator, tmp_path: Path) -> None:
    """Criteria that happen to have a record's keys are still a search."""
    out = tmp_path / "family"
    result = run(
        [
            "download",
            "archive=Tsai",
            "neuron_name=CB_CKp25_2w_F_Animal01_*",
            "--out",
            str(out),
            "-q",
        ],
        site,
    )
    expected = site.database.search("archive:Tsai", ["neuron_name:CB_CKp25_2w_F_Animal01_*"])
    assert len(expected) == 15
    usable = [
        r
        for r in expected
        if site.database.swc(r) is not None and r["neuron_id"] not in site.database.broken_file_ids
    ]
    assert len(list(out.glob("*.swc"))) == len(usable)
    assert result.returncode == (0 if len(usable) == 15 else 1)


def test_doctor_reports_what_is_negotiated(site: Emulator) -> None:
    result = run(["doctor"], site)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "plain requests         FAILED: [SSL: DH_KEY_TOO_SMALL]" in out
    assert "neuromorpho_api        HTTP 200, TLSv1.2, DHE-RSA-" in out
    assert "certificate verified" in out
    assert "1024 to 2047 bits" in out
    assert "verdict                needed" in out


def test_download_writes_verified_files(site: Emulator, tmp_path: Path) -> None:
    out = tmp_path / "swc"
    result = run(["download", "archive=Smith", "--out", str(out), "--limit", "5", "--quiet"], site)
    assert result.returncode == 0, result.stderr
    files = sorted(out.glob("*.swc"))
    assert len(files) == 5
    bodies = {site.database.swc(r) for r in site.database.search("archive:Smith")}
    for path in files:
        assert path.read_bytes() in bodies
    assert not list(out.glob(".*part*"))


def test_demo_runs_offline_in_a_fresh_directory(tmp_path: Path) -> None:
    result = run(["demo"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    files = list((tmp_path / "neuromorpho-demo").glob("*.swc"))
    failures = [line for line in result.stdout.splitlines() if "not written:" in line]
    assert len(files) + len(failures) == 8
    assert len(files) >= 5
    assert not list((tmp_path / "neuromorpho-demo").glob(".*part*"))
    assert "DH_KEY_TOO_SMALL" in result.stdout
    assert "certificate and host name verified" in result.stdout


def test_parse_criteria_groups_repeated_fields() -> None:
    assert parse_criteria(["species=rat", "archive=A=B", "species=mouse"]) == {
        "species": ["rat", "mouse"],
        "archive": ["A=B"],
    }


def test_csv_reports_fields_that_do_not_fit_the_header(capsys: pytest.CaptureFixture[str]) -> None:
    import io

    from neuromorpho_api._records import write_records

    out = io.StringIO()
    records = [{"neuron_id": 1, "brain_region": ["a", "b"]}, {"neuron_id": 2, "extra": "x"}]
    assert write_records(records, "csv", out) == 2
    assert out.getvalue().splitlines() == ["neuron_id,brain_region", "1,a; b", "2,"]
    assert "fields missing from the CSV header: extra" in capsys.readouterr().err


def test_doctor_names_an_unreachable_proxy_in_one_line(site: Emulator) -> None:
    env_site = site.environ()
    dead = env_site["HTTPS_PROXY"].rsplit(":", 1)[0] + ":9"
    result = run(["doctor"], site, extra_env={"HTTPS_PROXY": dead, "https_proxy": dead})
    assert result.returncode == 1
    assert f"HTTPS proxy            {dead}" in result.stdout
    assert "neuromorpho_api        FAILED: cannot use the proxy:" in result.stdout
    assert "Traceback" not in result.stderr
