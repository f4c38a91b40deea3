"""A user's proxy settings never catch what the emulator routes (issue 13, bug 1).

The suite's conftest clears every proxy variable; these tests set them on purpose, to a
working proxy that records what it sees (it must see nothing) and to a dead one.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from neuromorpho_api import NeuroMorpho, NeuroMorphoSession, requestor
from neuromorpho_api.testing import Emulator
from tests._proxies import RecordingProxy, dead_proxy, proxy_environment
from tests.conftest import CLEARED_VARIABLES

HEALTH = "https://neuromorpho.org/api/health"


@pytest.fixture(params=["working proxy", "dead proxy"])
def user_proxy(request: pytest.FixtureRequest) -> Iterator[RecordingProxy | None]:
    """Every proxy variable names a proxy; the working one records what it sees."""
    if request.param == "dead proxy":
        with dead_proxy() as url:
            with pytest.MonkeyPatch.context() as patch:
                for name, value in proxy_environment(url).items():
                    patch.setenv(name, value)
                yield None
        return
    with RecordingProxy() as proxy:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in proxy_environment(proxy.url).items():
                patch.setenv(name, value)
            yield proxy
        assert proxy.seen == []


def test_emulator_traffic_bypasses_the_users_proxy(user_proxy: RecordingProxy | None) -> None:
    with Emulator(50) as emulator:
        assert requestor.get(HEALTH, timeout=10).ok
        with NeuroMorphoSession() as session:
            assert session.get("http://www.neuromorpho.org/api/health", timeout=10).ok
        rats = len(emulator.database.search("species:rat"))
        assert NeuroMorpho(rate_limit=None).count(species="rat") == rats
        assert [r.target for r in emulator.requests][:1] == ["/api/health"]
        assert all(h.ok for h in emulator.handshakes)


def test_urllib_bypasses_the_users_proxy_too(user_proxy: RecordingProxy | None) -> None:
    with Emulator(20, profile="modern") as emulator:
        context = ssl.create_default_context(cafile=emulator.ca_file)
        with urllib.request.urlopen(HEALTH, context=context, timeout=10) as response:
            assert response.status == 200
        assert len(emulator.requests) == 1


def test_a_session_that_ignores_the_environment_is_routed_too(
    user_proxy: RecordingProxy | None,
) -> None:
    with Emulator(20) as emulator, NeuroMorphoSession() as session:
        session.trust_env = False
        assert session.get(HEALTH, verify=emulator.ca_file, timeout=10).ok


def test_the_proxy_variables_are_restored(user_proxy: RecordingProxy | None) -> None:
    before = {name: os.environ.get(name) for name in CLEARED_VARIABLES}
    with Emulator(20):
        pass
    assert {name: os.environ.get(name) for name in CLEARED_VARIABLES} == before


# -- the shipped pytest fixture and `neuromorpho demo`, in processes of their own -------------

USER_TESTS = textwrap.dedent(
    """
    from neuromorpho_api import NeuroMorpho, requestor


    def test_through_the_fixture(neuromorpho_emulator):
        assert requestor.get("https://neuromorpho.org/api/health", timeout=10).ok
        truth = neuromorpho_emulator.database.search("species:rat")
        assert NeuroMorpho(rate_limit=None).count(species="rat") == len(truth)
    """
)


def _environment(proxy_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED_VARIABLES}
    for name in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        env.pop(name, None)
    return {**env, **proxy_environment(proxy_url)}


def _run_with_proxies(args: list[str], cwd: Path, dead: bool) -> tuple[str, list[str]]:
    """Run *args* with every proxy variable set; return its output and what the proxy saw."""
    if dead:
        with dead_proxy() as url:
            result = subprocess.run(
                args, cwd=cwd, env=_environment(url), capture_output=True, text=True, timeout=300
            )
        seen: list[str] = []
    else:
        with RecordingProxy() as proxy:
            result = subprocess.run(
                args,
                cwd=cwd,
                env=_environment(proxy.url),
                capture_output=True,
                text=True,
                timeout=300,
            )
        seen = proxy.seen
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Traceback" not in output
    return output, seen


@pytest.mark.parametrize("dead", [False, True], ids=["working proxy", "dead proxy"])
def test_the_pytest_fixture_bypasses_the_users_proxy(tmp_path: Path, dead: bool) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_user.py").write_text(USER_TESTS)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_user.py"]
    output, seen = _run_with_proxies(command, tmp_path, dead)
    assert "1 passed" in output
    assert seen == []


DEMO_WITHOUT_TRUSTME = (
    # What a plain `pip install` gives: no trustme, so the demo falls back to the shipped key.
    "import sys; sys.modules['trustme'] = None; "
    "from neuromorpho_api._cli import main; sys.exit(main(['demo']))"
)


@pytest.mark.parametrize(
    ("dead", "trustme"),
    [(False, True), (True, True), (False, False), (True, False)],
    ids=["working proxy", "dead proxy", "working proxy, no trustme", "dead proxy, no trustme"],
)
def test_demo_bypasses_the_users_proxy(tmp_path: Path, dead: bool, trustme: bool) -> None:
    if trustme:
        command = [sys.executable, "-m", "neuromorpho_api", "demo"]
    else:
        command = [sys.executable, "-c", DEMO_WITHOUT_TRUSTME]
    output, seen = _run_with_proxies(command, tmp_path, dead)
    assert "DH_KEY_TOO_SMALL" in output
    assert "1024-bit DH, certificate and host name verified" in output
    assert list((tmp_path / "neuromorpho-demo").glob("*.swc"))
    assert seen == []


def test_requests_alone_would_have_used_the_proxy(user_proxy: RecordingProxy | None) -> None:
    # The control: the same variables do send other traffic to the proxy.
    if user_proxy is None:
        with pytest.raises(requests.exceptions.ProxyError):
            requests.get("https://other.test/", timeout=10)
    else:
        with pytest.raises(requests.exceptions.ProxyError):
            requests.get("https://other.test/", timeout=10)
        assert [line.split()[:2] for line in user_proxy.seen] == [["CONNECT", "other.test:443"]]
        user_proxy.seen.clear()
