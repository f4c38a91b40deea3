"""``import neuromorpho_api`` loads the transport only; every public name still resolves."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import neuromorpho_api

# What a fresh `import neuromorpho_api` may not load: they come on first use.
LAZY_MODULES = (
    "neuromorpho_api._client",
    "neuromorpho_api._results",
    "neuromorpho_api._paging",
    "neuromorpho_api._frames",
    "neuromorpho_api._query",
    "neuromorpho_api._parse",
    "neuromorpho_api._download",
    "neuromorpho_api._progress",
    "neuromorpho_api._mirror",
    "neuromorpho_api._bulk",
    "neuromorpho_api._cli",
    "neuromorpho_api._doctor",
    "neuromorpho_api._demo",
    "neuromorpho_api.testing",
    "pandas",
    "tqdm",
    "sqlite3",
    "concurrent.futures",
)


def fresh(code: str) -> object:
    """Run ``code`` in a new interpreter (no pytest plugins loaded); return what it prints."""
    # Unmeasured: coverage, when it measures a child process, loads sqlite3 into it.
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_PROCESS_")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env=env,
    )
    return json.loads(result.stdout)


def test_import_loads_only_the_transport() -> None:
    loaded = fresh(
        "import json, sys; import neuromorpho_api; "
        "print(json.dumps(sorted(m for m in sys.modules)))"
    )
    assert isinstance(loaded, list)
    assert "neuromorpho_api._session" in loaded  # requestor is eager
    assert "neuromorpho_api._adapter" in loaded
    assert [m for m in LAZY_MODULES if m in loaded] == []


def test_every_public_name_resolves_in_a_fresh_process() -> None:
    found = fresh(
        "import json, neuromorpho_api as n; "
        "print(json.dumps({name: [getattr(getattr(n, name), '__module__', None), "
        "name in dir(n)] for name in n.__all__}))"
    )
    assert isinstance(found, dict)
    assert sorted(found) == sorted(neuromorpho_api.__all__)
    for name, (module, listed) in found.items():
        assert listed, name
        if name[0].isupper() and name != "NEUROMORPHO_HOSTS" and name != "DEFAULT_TIMEOUT":
            assert module == "neuromorpho_api", name  # shown under its public name


def test_lazy_names_are_the_private_modules_objects() -> None:
    from neuromorpho_api._client import NeuroMorpho
    from neuromorpho_api._results import SearchResult

    assert neuromorpho_api.NeuroMorpho is NeuroMorpho
    assert neuromorpho_api.SearchResult is SearchResult
    assert set(neuromorpho_api.__all__) <= set(dir(neuromorpho_api))


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        getattr(neuromorpho_api, "NoSuchThing")  # noqa: B009
