"""`neuromorpho emulator`: serve in the foreground, print the environment, stop cleanly."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from neuromorpho_api import NeuroMorpho, NeuroMorphoSession
from neuromorpho_api.testing import SyntheticDatabase
from tests._proxies import dead_proxy, proxy_environment
from tests.conftest import CLEARED_VARIABLES

EXPORTED = {
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "https_proxy",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "SSL_CERT_FILE",
}


def _clean_environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED_VARIABLES}
    return {**env, **extra}


class Served:
    def __init__(self, process: subprocess.Popen[str], variables: dict[str, str]) -> None:
        self.process = process
        self.variables = variables


@pytest.fixture
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    """`neuromorpho emulator` in a process of its own, with a user's (dead) proxy set."""
    args = getattr(request, "param", [])
    with dead_proxy() as url:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "neuromorpho_api",
                "emulator",
                "--neurons",
                "60",
                "--seed",
                "3",
                *args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_clean_environment(**proxy_environment(url)),
        )
        # Never hang the suite on a server that does not start.
        watchdog = threading.Timer(120, process.kill)
        watchdog.start()
        try:
            variables: dict[str, str] = {}
            assert process.stdout is not None
            while set(variables) != EXPORTED:
                line = process.stdout.readline()
                assert line, f"exited early: {process.stderr.read() if process.stderr else ''}"
                keyword, assignment = shlex.split(line)
                assert keyword == "export"
                name, _, value = assignment.partition("=")
                variables[name] = value
            yield Served(process, variables)
        finally:
            watchdog.cancel()
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()


def _rats(seed: int = 3) -> int:
    return len(SyntheticDatabase(60, seed=seed).search("species:rat"))


def test_the_printed_lines_reach_the_emulator_and_sigterm_stops_it(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    variables = served.variables
    bundle = variables["REQUESTS_CA_BUNDLE"]
    assert variables["HTTPS_PROXY"].startswith("http://127.0.0.1:")
    assert variables["NO_PROXY"] == ""
    assert variables["CURL_CA_BUNDLE"] == variables["SSL_CERT_FILE"] == bundle
    assert os.path.isfile(bundle)

    # A client in this process, through nothing but those variables.
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with NeuroMorphoSession() as session:
        assert NeuroMorpho(session=session, rate_limit=None).count(species="rat") == _rats()

    # The CLI in another process, likewise.
    counted = subprocess.run(
        [sys.executable, "-m", "neuromorpho_api", "count", "species=rat"],
        env=_clean_environment(**variables),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert int(counted.stdout) == _rats()

    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(timeout=30) == 0
    assert served.process.stderr is not None
    errors = served.process.stderr.read()
    assert "Traceback" not in errors
    assert "emulator stopped" in errors
    assert not os.path.exists(bundle)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


PORT = _free_port()


@pytest.mark.parametrize("served", [["--port", str(PORT), "--profile", "modern"]], indirect=True)
def test_ctrl_c_stops_it_cleanly_and_port_and_profile_are_used(served: Served) -> None:
    assert served.variables["HTTPS_PROXY"] == f"http://127.0.0.1:{PORT}"
    bundle = served.variables["REQUESTS_CA_BUNDLE"]
    doctor = subprocess.run(
        [sys.executable, "-m", "neuromorpho_api", "doctor"],
        env=_clean_environment(**served.variables),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # The modern profile: plain requests connects too, over TLS 1.3.
    assert "TLSv1.3" in doctor.stdout, doctor.stdout + doctor.stderr
    served.process.send_signal(signal.SIGINT)
    assert served.process.wait(timeout=30) == 0
    assert served.process.stderr is not None
    assert "Traceback" not in served.process.stderr.read()
    assert not os.path.exists(bundle)


def test_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "neuromorpho_api", "emulator", "--port", str(port)],
            env=_clean_environment(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"neuromorpho: error: cannot listen on 127.0.0.1:{port}")
    assert len(result.stderr.splitlines()) == 1


def test_without_trustme_it_says_what_to_install() -> None:
    code = (
        "import sys; sys.modules['trustme'] = None; "
        "from neuromorpho_api._cli import main; sys.exit(main(['emulator']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=_clean_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert "pip install 'neuromorpho-api[emulator]'" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_help_teaches_with_examples() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "neuromorpho_api", "emulator", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    for text in ("examples:", "--neurons", "--seed", "--profile", "--latency", "--port", "SIGTERM"):
        assert text in result.stdout
