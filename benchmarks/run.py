"""Benchmarks of neuromorpho-api against the offline emulator (real TLS, loopback), with targets.

    python benchmarks/run.py                # full run: figures and targets (about 4 minutes)
    python benchmarks/run.py --smoke        # tiny sizes: checks that every benchmark runs
    python benchmarks/run.py --json out.json

The emulator runs in a process of its own (``EmulatorProcess`` from ``peers.py``), so the
client's timings are not distorted by a server sharing its GIL; this process reaches it through
the emulator's loopback proxy, with the real ``https://neuromorpho.org`` URLs. The emulator's
latency model charges one round trip (RTT) per request, per connect (here the proxy's CONNECT)
and per TLS handshake flight (two for TLS 1.2); its server time is charged per record of a
listing page. What the emulator saw (requests, most in flight, requests per second, TLS
handshakes) comes from its own request records.

Targets (issue 15), each against a floor computed from the same run's parameters:

(a) search, rate limit off: floor = T0 + the page schedule with 4 in flight: page 0 alone,
    then each further page as soon as it may start (at most 4 requested and not yet handed
    over), each taking its server time + 1 RTT. For equal pages that is page 0 +
    ceil(remaining pages / 4) rounds. T0 is the same search measured with no server time and
    no latency (the client's own work and the loopback transfer). Target <= 1.5x. With an
    RTT, the floor also has one connection's setup (3 RTT). ``ratio_to_waits`` compares with
    the waits alone (the schedule, without T0), since the client's work can overlap them.
(b) search at the default 5 requests/s: the polite floor = the end of the same page schedule
    when every start also waits for the client's token bucket (5/s, bursts of 2), i.e. the
    rate limiter's schedule of starts plus one page time, with 4 in flight (T0 not added).
    Target <= 1.5x.
(c) downloads (4 workers) at 50 ms RTT: floor = T0 + 3 RTT (a connection: CONNECT and two TLS
    flights, the 4 opened in parallel) + ceil(requests / 4) RTT, T0 the same download with no
    latency. Target <= 1.5x. ``ratio_to_waits`` again compares with the waits alone.
(d) import: ``python -c "import neuromorpho_api"`` minus ``python -c "import requests"``, fresh
    processes, interleaved, medians. Target <= 20 ms.

``--smoke`` checks that every benchmark runs, not the targets (the sizes are too small to mean
anything); the exit status is non-zero only when a benchmark fails to run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import requests
from requests.adapters import HTTPAdapter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peers import EmulatorProcess, clean_environ  # a sibling script

from neuromorpho_api import NeuroMorpho, NeuroMorphoAdapter, NeuroMorphoSession

HEALTH = "https://neuromorpho.org/api/neuron/id/1"
PAGE = 500  # the client's default page size, the server's maximum
IN_FLIGHT = 4
RATE, BURST = 5.0, 2  # the client's default rate limit and its token bucket's burst

Row = tuple[str, dict[str, Any]]


# -- floors -------------------------------------------------------------------------------------


def page_rows(total: int, size: int = PAGE) -> list[int]:
    """Rows on each page of a listing of *total* records."""
    return [min(size, total - start) for start in range(0, total, size)] or [0]


def schedule_end(
    page_times: Sequence[float],
    *,
    in_flight: int = IN_FLIGHT,
    rate: float | None = None,
    burst: int = BURST,
) -> float:
    """When the last page arrives, at best, for a client paging like this one.

    Page 0 goes alone (it gives the total). Pages 1.. are then requested in order, page ``k``
    as soon as page ``k - in_flight`` has been handed over (pages are handed over in order,
    so at most ``in_flight`` are requested and not yet handed over) and, with a *rate*, as
    soon as a token bucket of that rate and *burst* (full at the start) lets it start. Page
    ``k`` takes ``page_times[k]``.
    """
    tokens, stamp = float(burst), 0.0

    def start_at(now: float) -> float:
        nonlocal tokens, stamp
        if rate is None:
            return now
        tokens = min(burst, tokens + (now - stamp) * rate)
        stamp = now
        tokens -= 1.0
        return now + (-tokens / rate if tokens < 0 else 0.0)

    first_end = start_at(0.0) + page_times[0]
    handed_over = [first_end]  # when page k is handed over: all pages up to k have arrived
    for k in range(1, len(page_times)):
        submitted = first_end if k <= in_flight else handed_over[k - in_flight]
        end = start_at(submitted) + page_times[k]
        handed_over.append(max(handed_over[-1], end))
    return handed_over[-1]


# -- helpers ------------------------------------------------------------------------------------


def timed(call: Callable[[], Any], repeat: int) -> list[float]:
    """Milliseconds of each of *repeat* calls."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered), 2),
        "p90_ms": round(ordered[max(0, math.ceil(len(ordered) * 0.9) - 1)], 2),
        "n": len(ordered),
    }


def seen(stats: dict[str, Any]) -> dict[str, Any]:
    """What the emulator saw during one run, for the report."""
    return {
        "requests": stats["requests"],
        "peak_in_flight": stats["in_flight"],
        "mean_req_per_s": stats["mean_per_s"],
        "peak_req_in_1s": stats["peak_per_s"],
        "tls_handshakes": stats["handshakes"],
    }


def client(rate_limit: float | None) -> NeuroMorpho:
    """A client with a session of its own (a fresh connection pool, as in a new script)."""
    return NeuroMorpho(session=NeuroMorphoSession(), rate_limit=rate_limit)


# -- benchmarks ---------------------------------------------------------------------------------


class _ReloadingAdapter(NeuroMorphoAdapter):
    """Our adapter without the cert_verify() fix: urllib3 reloads the CA file per connection."""

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        HTTPAdapter.cert_verify(self, conn, url, verify, cert)


def bench_requests(emulator: EmulatorProcess, repeat: int) -> Iterator[Row]:
    emulator.call("reset", latency=0.0)
    session = NeuroMorphoSession()
    session.get(HEALTH)
    yield "GET, one session, keep-alive", summary(timed(lambda: session.get(HEALTH), repeat))

    close = {"Connection": "close"}
    yield (
        "GET, one session, new TLS connection each (CA bundle loaded once)",
        summary(timed(lambda: session.get(HEALTH, headers=close), repeat)),
    )

    reloading = NeuroMorphoSession()
    reloading.mount("https://", _ReloadingAdapter())
    yield (
        "GET, new connection each, CA bundle reloaded per connection (stock urllib3)",
        summary(timed(lambda: reloading.get(HEALTH, headers=close), max(5, repeat // 4))),
    )

    def fresh_session() -> None:
        with NeuroMorphoSession() as throwaway:
            throwaway.get(HEALTH)

    yield (
        "GET, new session per request (what peers do)",
        summary(timed(fresh_session, max(5, repeat // 4))),
    )


def _search_once(
    emulator: EmulatorProcess, rate_limit: float | None, per_row: float, latency: float
) -> tuple[float, int, dict[str, Any]]:
    emulator.call("reset", server_time_per_row=per_row, latency=latency)
    nmo = client(rate_limit)
    started = time.perf_counter()
    count = sum(1 for _ in nmo.search())
    seconds = time.perf_counter() - started
    return seconds, count, emulator.call("stats")


def bench_search(
    emulator: EmulatorProcess, neurons: int, runs: int, targets: dict[str, Any]
) -> Iterator[Row]:
    """(a) and (b): every record of the database, in 500-row pages."""
    rows = page_rows(neurons)
    cases = [
        # key, label, rate limit, seconds per 500-row page, RTT
        ("a", "rate limit off, 0.2 s per page", None, 0.2, 0.0),
        ("a_rtt", "rate limit off, 0.2 s per page, 50 ms RTT", None, 0.2, 0.05),
        ("b", "default 5 requests/s, 1 s per page", RATE, 1.0, 0.0),
    ]
    base: list[float] = []
    samples: dict[str, list[tuple[float, int, dict[str, Any]]]] = {c[0]: [] for c in cases}
    for _ in range(runs):  # interleaved: one of each per round
        base.append(_search_once(emulator, None, 0.0, 0.0)[0])
        for key, _, rate_limit, per_page, latency in cases:
            samples[key].append(_search_once(emulator, rate_limit, per_page / PAGE, latency))
    t0 = statistics.median(base)
    yield (
        f"search, {neurons} records, no server time, no latency (T0)",
        {"seconds": round(t0, 3), "records_per_s": round(neurons / t0)},
    )
    for key, label, rate_limit, per_page, latency in cases:
        seconds = statistics.median(s for s, _, _ in samples[key])
        count = samples[key][0][1]
        times = [r * per_page / PAGE + latency for r in rows]
        # The waiting alone: one connection's setup (CONNECT and two TLS flights), the pages.
        waits = 3 * latency + schedule_end(times, rate=rate_limit)
        floor = waits if rate_limit is not None else t0 + waits
        stats = samples[key][len(samples[key]) // 2][2]
        values = {
            "seconds": round(seconds, 3),
            "floor": round(floor, 3),
            "ratio": round(seconds / floor, 2),
            # Stricter: the client's own work (T0) may overlap the waits, but not vanish.
            "ratio_to_waits": round(seconds / waits, 2),
            "records": count,
            "pages": len(rows),
            **seen(stats),
        }
        yield f"search, {neurons} records, {label}", values
        if key in ("a", "b"):
            targets[key] = {"label": f"search {neurons} records, {label}", **values}


def _download_once(
    emulator: EmulatorProcess, records: list[dict[str, Any]], latency: float
) -> tuple[float, Any, dict[str, Any]]:
    emulator.call("reset", latency=latency)
    destination = tempfile.mkdtemp(prefix="neuromorpho-bench-")
    try:
        started = time.perf_counter()
        report = client(None).download(records, destination, progress=False)
        seconds = time.perf_counter() - started
    finally:
        shutil.rmtree(destination, ignore_errors=True)
    return seconds, report, emulator.call("stats")


def bench_download(
    emulator: EmulatorProcess, files: int, runs: int, targets: dict[str, Any]
) -> Iterator[Row]:
    """(c): the smallest files, so that round trips dominate, as for a polite crawler."""
    picked = emulator.call("smallest_files", count=files)
    records = [f["record"] for f in picked]
    mean_kb = statistics.mean(f["truth"]["size"] for f in picked) / 1000
    rtt = 0.05
    base, slow = [], []
    for _ in range(runs):
        base.append(_download_once(emulator, records, 0.0))
        slow.append(_download_once(emulator, records, rtt))
    for label, results in (("no latency (T0)", base), (f"{int(rtt * 1000)} ms RTT", slow)):
        seconds = statistics.median(s for s, _, _ in results)
        _, report, stats = results[len(results) // 2]
        values: dict[str, Any] = {
            "seconds": round(seconds, 3),
            "files_per_s": round(len(report.downloaded) / seconds, 1),
            "failed": len(report.failed),
            **seen(stats),
        }
        if results is slow:
            t0 = statistics.median(s for s, _, _ in base)
            waits = 3 * rtt + math.ceil(stats["requests"] / IN_FLIGHT) * rtt
            floor = t0 + waits
            values = {
                "floor": round(floor, 3),
                "ratio": round(seconds / floor, 2),
                "ratio_to_waits": round(seconds / waits, 2),
                **values,
            }
            targets["c"] = {"label": f"download {len(records)} files, 4 workers, {label}"}
            targets["c"].update(values)
        yield (
            f"download {len(records)} SWC files (mean {mean_kb:.1f} kB), 4 workers, {label}",
            values,
        )


_CHILD_DOWNLOAD = """
import json, resource, sys, tempfile
from neuromorpho_api import NeuroMorpho
def records():  # read lazily, as a search would deliver them
    with open(sys.argv[1]) as lines:
        for line in lines:
            yield json.loads(line)
with tempfile.TemporaryDirectory() as destination:
    report = NeuroMorpho(rate_limit=None).download(records(), destination, progress=False)
print(len(report.downloaded), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def bench_memory(emulator: EmulatorProcess, files: int) -> Iterator[Row]:
    """Peak resident memory of a client process downloading more and more files."""
    emulator.call("reset", latency=0.0)
    picked = emulator.call("smallest_files", count=files)
    environment = {**clean_environ(), **emulator.hello["environ"]}
    for count in (files // 8, files):
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as listing:
            for item in picked[:count]:
                listing.write(json.dumps(item["record"]) + "\n")
        try:
            result = subprocess.run(
                [sys.executable, "-c", _CHILD_DOWNLOAD, listing.name],
                capture_output=True,
                text=True,
                env=environment,
                check=True,
            )
        finally:
            os.unlink(listing.name)
        downloaded, peak_kb = (int(value) for value in result.stdout.split())
        yield (
            f"client process downloading {count} files: peak resident memory",
            {"downloaded": downloaded, "peak_rss_MB": round(peak_kb / 1024, 1)},
        )


_EXTRA_COST = """
import time
started = time.perf_counter()
import requests
middle = time.perf_counter()
import neuromorpho_api
print(middle - started, time.perf_counter() - middle)
"""


def bench_import(runs: int, targets: dict[str, Any]) -> Iterator[Row]:
    """(d): whole fresh processes, interleaved; and the extra cost measured inside one."""
    statements = {
        "pass": "pass",
        "requests": "import requests",
        "package": "import neuromorpho_api",
    }
    samples: dict[str, list[float]] = {name: [] for name in statements}
    extra: list[float] = []
    environment = clean_environ()
    for run in range(runs):
        order = list(statements.items())
        order = order[run % 3 :] + order[: run % 3]  # rotate, so no one always runs first
        for name, code in order:
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True, env=environment)
            samples[name].append((time.perf_counter() - started) * 1000)
        done = subprocess.run(
            [sys.executable, "-c", _EXTRA_COST],
            check=True,
            env=environment,
            capture_output=True,
            text=True,
        )
        extra.append(float(done.stdout.split()[1]) * 1000)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    for name in ("pass", "requests", "package"):
        yield f"python -c '{statements[name]}' (whole process)", summary(samples[name])
    difference = medians["package"] - medians["requests"]
    values = {
        "ms": round(difference, 1),
        "in_process_ms": round(statistics.median(extra), 1),
        "requests_ms": round(medians["requests"] - medians["pass"], 1),
        "runs": runs,
    }
    yield "import neuromorpho_api minus import requests (medians)", values
    targets["d"] = {"label": "import neuromorpho_api minus import requests", **values}


# -- the report ---------------------------------------------------------------------------------

TARGETS = {
    "a": ("ratio", 1.5, "x its floor"),
    "b": ("ratio", 1.5, "x its polite floor"),
    "c": ("ratio", 1.5, "x its floor"),
    "d": ("ms", 20.0, " ms"),
}


def target_lines(targets: dict[str, Any], smoke: bool) -> list[str]:
    lines = ["targets (issue 15)" + (" -- smoke sizes: not judged" if smoke else "")]
    for key, (measure, bound, unit) in TARGETS.items():
        if key not in targets:
            lines.append(f"  ({key}) not measured")
            continue
        got = targets[key]
        if "floor" in got:
            detail = f"{got['seconds']} s vs floor {got['floor']} s = {got['ratio']}x"
        else:
            detail = f"{got['ms']} ms (in one process: {got['in_process_ms']} ms)"
        verdict = "" if smoke else ("  met" if got[measure] <= bound else "  MISSED")
        lines.append(f"  ({key}) {got['label']}: {detail}; target <= {bound}{unit}{verdict}")
    return lines


def bench_emulator(neurons: int, repeat: int) -> Iterator[Row]:
    """The emulator's own costs (these were wall-clock limits in unit tests once)."""
    from neuromorpho_api.testing import EmulatorOptions, SyntheticDatabase
    from neuromorpho_api.testing._app import NeuroMorphoApp

    yield (
        "emulator: build the default database (3,000 neurons)",
        summary(timed(SyntheticDatabase, max(1, repeat // 4))),
    )
    yield (
        f"emulator: build a {neurons:,}-neuron database",
        summary(timed(lambda: SyntheticDatabase(neurons), 1)),
    )
    database = SyntheticDatabase()
    app = NeuroMorphoApp(database, EmulatorOptions())

    def page() -> None:
        reply = app.handle(
            "GET",
            "/api/neuron/select?q=species:rat&size=500",
            {},
            b"",
            base_url="https://neuromorpho.org",
        )
        assert reply.status == 200

    page()  # warm the caches
    yield "emulator: one 500-row search page (in process, no HTTP)", summary(timed(page, repeat))
    record = database.neuron_by_id(database.large_file_id)
    yield (
        "emulator: generate its largest SWC file (~5 MB)",
        summary(timed(lambda: database.swc(record), max(1, repeat // 20))),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, to check that it runs")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--runs", type=int, help="interleaved runs per timed case (median)")
    args = parser.parse_args(argv)

    if args.smoke:
        repeat, neurons, files, memory_files, runs, import_runs = 5, 1200, 12, 16, 1, 3
    else:
        repeat, neurons, files, memory_files, runs, import_runs = 200, 10000, 400, 4000, 3, 41
    runs = args.runs or runs
    machine = {
        "python": platform.python_version(),
        "openssl": ssl.OPENSSL_VERSION,
        "requests": requests.__version__,
        "cpus": os.cpu_count(),
        "load average": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "platform": platform.platform(terse=True),
    }
    print("machine: " + ", ".join(f"{k} {v}" for k, v in machine.items()), flush=True)
    results: dict[str, dict[str, Any]] = {}
    targets: dict[str, Any] = {}

    def show(rows: Iterator[Row]) -> None:
        for label, values in rows:
            results[label] = values
            text = "  ".join(f"{k}={v}" for k, v in values.items())
            print(f"{label:<78} {text}", flush=True)

    emulator = EmulatorProcess(neurons, seed=0, latency=0.0, profile="legacy")
    saved = dict(os.environ)
    try:
        # This process reaches the emulator's process through its loopback proxy.
        os.environ.clear()
        os.environ.update(clean_environ())
        os.environ.update(emulator.hello["environ"])
        print(
            f"emulator: {emulator.hello['neurons']} neurons in its own process, TLS profile "
            f"legacy (the real site's), {emulator.hello['openssl']}",
            flush=True,
        )
        show(bench_requests(emulator, repeat))
        show(bench_search(emulator, neurons, runs, targets))
        show(bench_download(emulator, files, runs, targets))
        show(bench_memory(emulator, memory_files))
    finally:
        emulator.stop()
        os.environ.clear()
        os.environ.update(saved)
    show(bench_import(import_runs, targets))
    show(bench_emulator(neurons * 2, repeat))
    machine["load average after"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print("\n".join(target_lines(targets, args.smoke)))
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"machine": machine, "results": results, "targets": targets}, out, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
