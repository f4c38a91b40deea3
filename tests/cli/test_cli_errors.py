"""The command line's error policy: one line on standard error, the documented exit status."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from neuromorpho_api import _cli, _errors
from neuromorpho_api._client import NeuroMorpho
from neuromorpho_api.testing import Emulator

from .test_cli import run


@pytest.fixture(scope="module")
def site() -> Emulator:
    emulator = Emulator(300)
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.mark.parametrize(
    ("args", "ending"),
    [
        ([], "the following arguments are required: COMMAND (see neuromorpho --help)"),
        (["frobnicate"], "(see neuromorpho --help)"),
        (["search", "--format", "xml"], "(see neuromorpho search --help)"),
        (["count", "--bogus"], "unrecognized arguments: --bogus (see neuromorpho count --help)"),
        (["download", "--out", "d"], "(see neuromorpho download --help)"),
        (["urls", "--id", "0"], "argument --id: 0 is not positive (see neuromorpho urls --help)"),
        (["--ca-bundle", "nowhere.pem", "fields"], "is not a file (see neuromorpho --help)"),
    ],
)
def test_usage_errors_are_one_line_without_the_usage_block(
    args: list[str], ending: str, tmp_path: Path
) -> None:
    result = run(args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("neuromorpho: error: ")
    assert lines[0].endswith(ending)


def _boom(args: object) -> int:
    raise RuntimeError("something\nnobody expected")


def test_an_unexpected_error_is_one_line_with_a_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_cli, "cmd_fields", _boom)
    assert _cli.main(["fields"]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "neuromorpho: error: unexpected RuntimeError: something nobody expected (a bug? rerun "
        "with --debug for the traceback, and please report it)"
    ]


@pytest.mark.parametrize("how", ["--debug", "after", "environment"])
def test_debug_adds_the_traceback(
    how: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_cli, "cmd_fields", _boom)
    argv = {"--debug": ["--debug", "fields"], "after": ["fields", "--debug"]}.get(how, ["fields"])
    if how == "environment":
        monkeypatch.setenv(_cli.DEBUG_VARIABLE, "1")
    assert _cli.main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert 'raise RuntimeError("something\\nnobody expected")' in err
    assert err.splitlines()[-1].startswith("neuromorpho: error: unexpected RuntimeError")


def test_debug_zero_means_off(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_cli, "cmd_fields", _boom)
    monkeypatch.setenv(_cli.DEBUG_VARIABLE, "0")
    assert _cli.main(["fields"]) == 1
    assert "Traceback" not in capsys.readouterr().err


def test_ctrl_c_is_130_and_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(_cli, "cmd_fields", interrupted)
    assert _cli.main(["fields"]) == 130
    assert capsys.readouterr().err == "neuromorpho: error: interrupted\n"


def test_a_reader_that_leaves_is_not_an_error(site: Emulator) -> None:
    """`neuromorpho search ... | head -1`: no traceback, no "Exception ignored", status 0."""
    env = {k: v for k, v in os.environ.items() if "PROXY" not in k.upper()}
    env.update(site.environ())
    with subprocess.Popen(
        [sys.executable, "-m", "neuromorpho_api", "search", "--format", "jsonl", "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    ) as child:
        assert child.stdout is not None and child.stderr is not None
        assert child.stdout.readline().startswith(b'{"neuron_id"')
        child.stdout.close()  # ~300 records (>64 KiB) were not read: the writer hits EPIPE
        err = child.stderr.read().decode()
        assert child.wait(timeout=120) == 0
    assert err == ""


def test_a_value_error_from_the_client_is_its_message_on_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def count(self: NeuroMorpho, criteria: object) -> int:
        raise ValueError("species 'rats' is not a value of species;\ndid you mean 'rat'?")

    monkeypatch.setattr(NeuroMorpho, "count", count)
    assert _cli.main(["count", "species=rats"]) == 1
    assert capsys.readouterr().err == (
        "neuromorpho: error: species 'rats' is not a value of species; did you mean 'rat'?\n"
    )


def test_an_unknown_value_is_a_usage_error_with_the_shell_hint(site: Emulator) -> None:
    """Exit 2 like an unknown field, with the suggestions and the command that lists the
    values, not the Python advice (``check_values=False``) of the exception's own message."""
    result = run(["count", "species=rats"], site)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "neuromorpho: error: no neuron has species='rats'; did you mean 'rat'? "
        "(run `neuromorpho values species`)"
    ]


def test_an_unknown_value_without_suggestions_still_names_the_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def count(self: NeuroMorpho, criteria: object) -> int:
        raise _errors.UnknownValueError("species", "zzz")

    monkeypatch.setattr(NeuroMorpho, "count", count)
    assert _cli.main(["count", "species=zzz"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "neuromorpho: error: no neuron has species='zzz' (run `neuromorpho values species`)\n"
    )
    assert "check_values" not in err


def test_a_broken_ca_bundle_variable_is_named(tmp_path: Path, site: Emulator) -> None:
    missing = str(tmp_path / "gone.pem")
    result = run(["fields"], site, extra_env={"REQUESTS_CA_BUNDLE": missing})
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert missing in lines[0]
    assert lines[0].endswith("(set by REQUESTS_CA_BUNDLE; `neuromorpho doctor` explains)")


@pytest.mark.parametrize("fmt", ["table", "csv", "jsonl"])
def test_a_search_without_hits_says_so_and_prints_nothing(site: Emulator, fmt: str) -> None:
    # A wildcard: a value check can never call it unknown.
    result = run(["search", "neuron_name=zz_no_such_neuron_*", "--format", fmt], site)
    assert result.returncode == 0
    assert result.stdout == ""
    assert result.stderr == "neuromorpho: no neurons match\n"
    quiet = run(["search", "neuron_name=zz_no_such_neuron_*", "-q"], site)
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")


def test_a_search_with_hits_still_prints_its_header(site: Emulator) -> None:
    result = run(["search", "neuron_name=cnic_001"], site)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("neuron_id  neuron_name")
    assert "cnic_001" in result.stdout.splitlines()[1]
    assert result.stderr == "1 neuron\n"
