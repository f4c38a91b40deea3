"""Downloads from servers that lie, drip, bomb or cut: the gaps of issue 11, each closed.

The emulator plays the real site; :mod:`.hostile` sends exact bytes the emulator never does.
"""

from __future__ import annotations

import gzip
import inspect
import json
import re
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import neuromorpho_api._download._fetch as fetch
from neuromorpho_api import NeuroMorpho
from neuromorpho_api._download import DEFAULT_MAX_SIZE, DEFAULT_TIME_LIMIT, MANIFEST_NAME, download
from neuromorpho_api.testing import Emulator
from tests.download.hostile import HostileServer, head, hostile_server

RECORD = {"neuron_name": "n1", "archive": "A", "neuron_id": 1}
PATH = "/dableFiles/a/CNG%20version/n1.CNG.swc"
SWC = b"# header\n" + b"".join(
    f"{i} 3 {i}.0 0.0 0.0 1.0 {i - 1 if i > 1 else -1}\n".encode() for i in range(1, 400)
)


@pytest.fixture
def server() -> Any:
    with hostile_server() as running:
        yield running


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    recorded: list[float] = []
    monkeypatch.setattr(fetch, "_pause", lambda stop, seconds: recorded.append(seconds))
    return recorded


def gets(server: HostileServer) -> int:
    return sum(1 for method, path in server.requests if method == "GET" and path == PATH)


def leftovers(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.iterdir() if p.name != MANIFEST_NAME)


def run(server: HostileServer, dest: Path, **kwargs: Any) -> Any:
    kwargs.setdefault("progress", False)
    return download([RECORD], dest, base_url=server.base_url, **kwargs)


# -- 2. size cap --------------------------------------------------------------------------------


def test_defaults_are_generous_and_the_same_in_the_client() -> None:
    assert DEFAULT_MAX_SIZE == 256 * 1024 * 1024  # real SWC files reach tens of MB
    assert DEFAULT_TIME_LIMIT >= 600
    parameters = inspect.signature(NeuroMorpho.download).parameters
    assert parameters["max_size"].default == DEFAULT_MAX_SIZE
    assert parameters["time_limit"].default == DEFAULT_TIME_LIMIT


def test_a_gzip_bomb_is_capped_on_the_decoded_bytes(server: HostileServer, tmp_path: Path) -> None:
    decoded = b"1 1 0.0 0.0 0.0 1.0 -1\n" * (8_000_000 // 23)
    bomb = gzip.compress(decoded, 9)
    assert len(bomb) < 100_000 < 1_000_000 < len(decoded)

    def send(sock: socket.socket, method: str) -> None:
        sock.sendall(head(Content_Encoding="gzip", Content_Length=str(len(bomb))) + bomb)

    server.scripts[PATH] = send
    report = run(server, tmp_path, max_size=1_000_000)
    assert [f.name for f in report.failed] == ["n1"]
    assert "larger than the limit of 1.0 MB per file" in report.failed[0].reason
    assert gets(server) == 1  # final: asking again gives the same bomb
    assert leftovers(tmp_path) == []
    # The cap is what stopped it: lifted, the same body is a valid (if silly) file.
    lifted = run(server, tmp_path, max_size=None)
    assert lifted.ok and (tmp_path / "n1.CNG.swc").stat().st_size == len(decoded)


def test_an_endless_body_is_capped(server: HostileServer, tmp_path: Path) -> None:
    def endless(sock: socket.socket, method: str) -> None:
        sock.sendall(head(Content_Type="text/plain") + SWC)
        for _ in range(2000):  # 64 MB at most, so that a broken cap fails instead of hanging
            sock.sendall(b"1 1 0.0 0.0 0.0 1.0 -1\n" * 1400)

    server.scripts[PATH] = endless
    report = run(server, tmp_path, max_size=2_000_000)
    assert "larger than the limit of 2.0 MB" in report.failed[0].reason
    assert leftovers(tmp_path) == []


def test_a_stated_length_over_the_cap_is_refused_before_reading(
    server: HostileServer, tmp_path: Path
) -> None:
    def huge(sock: socket.socket, method: str) -> None:
        sock.sendall(head(Content_Length=str(10**12)) + SWC)

    server.scripts[PATH] = huge
    report = run(server, tmp_path, max_size=1_000_000)
    assert "larger than the limit" in report.failed[0].reason


# -- 6. time limit per file ---------------------------------------------------------------------


def test_a_dripping_server_fails_the_file_at_the_time_limit(
    server: HostileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [0.0]
    monkeypatch.setattr(fetch, "clock", lambda: now[0])
    dripped = threading.Event()

    def drip(sock: socket.socket, method: str) -> None:
        sock.sendall(head(Content_Length=str(len(SWC) + 10_000)) + SWC)
        while not server.stop.is_set():
            sock.sendall(b"#")  # just inside any read timeout, for ever
            dripped.set()
            time.sleep(0.02)

    server.scripts[PATH] = drip

    def later() -> None:
        dripped.wait(10)
        now[0] = DEFAULT_TIME_LIMIT + 1  # the clock jumps past the limit; no real waiting

    jumper = threading.Thread(target=later)
    jumper.start()
    report = run(server, tmp_path, timeout=(5, 5))
    jumper.join()
    reason = report.failed[0].reason
    assert f"took longer than the time limit of {DEFAULT_TIME_LIMIT:g} s per file" in reason
    assert gets(server) == 1
    assert leftovers(tmp_path) == []


def test_the_time_limit_is_configurable_and_can_be_lifted(
    server: HostileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ticks = iter(range(0, 10**6, 7))  # every look at the clock: 7 s later
    monkeypatch.setattr(fetch, "clock", lambda: float(next(ticks)))

    def slow(sock: socket.socket, method: str) -> None:
        sock.sendall(head(Content_Length=str(len(SWC))))
        for start in range(0, len(SWC), 1000):
            sock.sendall(SWC[start : start + 1000])
            time.sleep(0.01)

    server.scripts[PATH] = slow
    assert "time limit of 5 s" in run(server, tmp_path, time_limit=5).failed[0].reason
    assert run(server, tmp_path, time_limit=None).ok


# -- 5. bodies of unstated length ---------------------------------------------------------------


def close_delimited(body: bytes, head_length: int | None) -> Any:
    def send(sock: socket.socket, method: str) -> None:
        if method == "HEAD":
            extra = {} if head_length is None else {"Content_Length": str(head_length)}
            sock.sendall(head(Content_Type="text/plain", **extra))
            return
        sock.sendall(head(Content_Type="text/plain") + body)

    return send


def test_a_cut_at_a_line_end_is_caught_by_head(
    server: HostileServer, tmp_path: Path, waits: list[float]
) -> None:
    cut = SWC[: SWC.index(b"\n", len(SWC) // 2) + 1]  # valid SWC, ends with a line end
    server.scripts[PATH] = close_delimited(cut, len(SWC))
    report = run(server, tmp_path)
    reason = report.failed[0].reason
    assert f"({len(cut)} of {len(SWC)} bytes, as HEAD says)" in reason
    assert gets(server) == 3  # retried: the next answer may be whole
    assert leftovers(tmp_path) == []


def test_a_cut_mid_line_fails_the_end_of_file_rule(
    server: HostileServer, tmp_path: Path, waits: list[float]
) -> None:
    # "12 3 12.0 0.0 0.0 1.0 1" of "... 1.0 11": a valid line, cut; only its end tells.
    line = b"\n12 3 12.0 0.0 0.0 1.0 11\n"
    server.scripts[PATH] = close_delimited(SWC[: SWC.index(line) + len(line) - 2], None)
    report = run(server, tmp_path, attempts=1)
    assert "its last line is cut" in report.failed[0].reason
    assert ("HEAD", PATH) not in server.requests  # settled without asking


def test_an_unconfirmed_length_is_kept_marked_and_checked_again(
    server: HostileServer, tmp_path: Path
) -> None:
    server.scripts[PATH] = close_delimited(SWC, None)  # nobody ever states the length
    first = run(server, tmp_path)
    assert first.ok and first.downloaded == ["n1"] and first.unconfirmed == ["n1"]
    assert "1 accepted without a length from the server" in str(first)
    assert (tmp_path / "n1.CNG.swc").read_bytes() == SWC
    lines = [json.loads(x) for x in (tmp_path / MANIFEST_NAME).read_text().splitlines()]
    assert lines[-1]["length_confirmed"] is False
    # The next run does not trust it: it fetches it again, and two equal transfers confirm it.
    second = run(server, tmp_path)
    assert second.downloaded == ["n1"] and second.unconfirmed == []
    assert gets(server) == 2
    lines = [json.loads(x) for x in (tmp_path / MANIFEST_NAME).read_text().splitlines()]
    assert "length_confirmed" not in lines[-1]
    third = run(server, tmp_path)
    assert third.skipped == ["n1"] and gets(server) == 2


def test_a_head_that_agrees_confirms_at_once(server: HostileServer, tmp_path: Path) -> None:
    server.scripts[PATH] = close_delimited(SWC, len(SWC))
    report = run(server, tmp_path)
    assert report.ok and report.unconfirmed == []
    assert run(server, tmp_path).skipped == ["n1"]


def test_a_cut_chunked_body_has_a_clear_reason(
    server: HostileServer, tmp_path: Path, waits: list[float]
) -> None:
    def chunked(sock: socket.socket, method: str) -> None:
        part = SWC[: SWC.index(b"\n", 1000) + 1]
        sock.sendall(head(Transfer_Encoding="chunked") + b"%x\r\n%s\r\n" % (len(part), part))

    server.scripts[PATH] = chunked
    report = run(server, tmp_path)
    reason = report.failed[0].reason
    assert "connection closed before the end of the file (the chunked body was cut short)" in (
        reason
    )
    assert "invalid literal" not in reason
    assert gets(server) == 3


def test_a_truncated_body_with_a_length_fails_on_every_urllib3(
    neuromorpho_emulator: Emulator, tmp_path: Path, waits: list[float]
) -> None:
    # Cut at a line end, so the SWC check passes: only the Content-Length check can see it.
    # urllib3 2 would raise its own error; the downloader turns that off and checks itself,
    # so removing its check fails this test on urllib3 2 as well as on 1.26.
    emu = neuromorpho_emulator
    record = next(
        r
        for r in emu.database.neurons
        if r["neuron_id"] not in emu.database.missing_file_ids | emu.database.broken_file_ids
        and emu.database.swc_size_target(r["neuron_id"]) < 60_000
    )
    body = emu.database.swc(record)
    assert body is not None
    keep = body.index(b"\n", len(body) // 2) + 1
    emu.faults.add(re.escape(emu.database.file_path(record)), "truncate", times=99, keep=keep)
    report = download([record], tmp_path, progress=False, attempts=2)
    assert report.failed[0].reason == (
        f"connection closed before the end of the file ({keep} of {len(body)} bytes)"
        " (after 2 attempts)"
    )


def test_the_time_limit_cuts_a_stalled_tls_connection(
    neuromorpho_emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Kept alive over TLS (the real site's case): the socket is the connection's.
    emu = neuromorpho_emulator
    record = next(
        r
        for r in emu.database.neurons
        if r["neuron_id"] not in emu.database.missing_file_ids | emu.database.broken_file_ids
        and 20_000 < emu.database.swc_size_target(r["neuron_id"]) < 60_000
    )
    target = emu.database.file_path(record)
    emu.faults.add(re.escape(target), "stall", seconds=3.0, after_bytes=1000)
    now = [0.0]
    monkeypatch.setattr(fetch, "clock", lambda: now[0])

    def later() -> None:
        while not any(r.target == target for r in emu.requests):
            time.sleep(0.01)
        now[0] = 61.0

    jumper = threading.Thread(target=later)
    jumper.start()
    report = download([record], tmp_path, progress=False, timeout=(5, 30), time_limit=60)
    jumper.join()
    assert "time limit of 60 s per file" in report.failed[0].reason
    assert [p.name for p in tmp_path.iterdir() if ".part-" in p.name] == []
