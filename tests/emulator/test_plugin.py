"""The pytest plugin: free to load, and its fixtures work when asked for."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

HEAVY = ("requests", "urllib3", "neuromorpho_api")

LOAD_LIKE_PYTEST = textwrap.dedent(
    """
    import json, sys
    from importlib.metadata import entry_points

    import pytest

    found = entry_points()
    group = found.select(group="pytest11") if hasattr(found, "select") else found["pytest11"]
    # Python 3.9 may list one distribution twice (an editable install): same entry point.
    (entry,) = {{e.value: e for e in group if e.name == "neuromorpho_api"}}.values()
    plugin = entry.load()
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})
    fixtures = sorted(n for n in dir(plugin) if n.startswith("neuromorpho_emulator"))
    print(json.dumps({{"heavy": heavy, "fixtures": fixtures}}))
    """
).format(heavy=HEAVY)

USER_TESTS = textwrap.dedent(
    """
    import sys

    LOADED_AT_COLLECTION = sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})


    def test_nothing_heavy_is_loaded_before_a_fixture_is_requested():
        assert LOADED_AT_COLLECTION == []


    def test_the_fixture_serves_neuromorpho_org(neuromorpho_emulator):
        from neuromorpho_api import requestor as requests

        record = requests.get("https://neuromorpho.org/api/neuron/id/1", timeout=30).json()
        assert record["neuron_name"] == "cnic_001"
        assert [r.target for r in neuromorpho_emulator.requests] == ["/api/neuron/id/1"]
    """
).format(heavy=HEAVY)


def _environ() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        env.pop(name, None)
    return env


def test_loading_the_plugin_imports_neither_requests_nor_the_package() -> None:
    result = subprocess.run(
        [sys.executable, "-c", LOAD_LIKE_PYTEST],
        capture_output=True,
        text=True,
        env=_environ(),
        timeout=60,
        check=True,
    )
    loaded = json.loads(result.stdout)
    assert loaded == {
        "heavy": [],
        "fixtures": ["neuromorpho_emulator", "neuromorpho_emulator_server"],
    }


def test_a_users_pytest_session_gets_the_fixture_and_nothing_more_until_it_asks(
    tmp_path: Path,
) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_user.py").write_text(USER_TESTS)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_user.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=_environ(),
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_without_trustme_the_fixture_says_what_to_install(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    # What a plain `pip install` gives: no trustme.
    (tmp_path / "conftest.py").write_text("import sys\n\nsys.modules['trustme'] = None\n")
    (tmp_path / "test_user.py").write_text("def test_uses_it(neuromorpho_emulator):\n    pass\n")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_user.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=_environ(),
        timeout=300,
    )
    assert result.returncode == 1
    assert "1 error" in result.stdout
    assert "pip install 'neuromorpho-api[emulator]'" in result.stdout
