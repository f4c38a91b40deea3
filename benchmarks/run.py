"""Benchmarks of neuromorpho-api against the offline emulator (real TLS on loopback).

    python benchmarks/run.py                # full run, prints a table (a few minutes)
    python benchmarks/run.py --smoke        # tiny sizes: checks that every benchmark runs
    python benchmarks/run.py --json out.json

The emulator runs in the same process as the client, so client and server share the machine's
cores and the GIL: absolute numbers are a lower bound of what a dedicated server would allow.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from neuromorpho_api import NeuroMorphoAdapter, NeuroMorphoSession
from neuromorpho_api._client import NeuroMorpho
from neuromorpho_api.testing import Emulator

HEALTH = "https://neuromorpho.org/api/neuron/id/1"


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
        "p90_ms": round(ordered[int(len(ordered) * 0.9) - 1 if len(ordered) > 1 else 0], 2),
        "n": len(ordered),
    }


class _ReloadingAdapter(NeuroMorphoAdapter):
    """Our adapter without the cert_verify() fix: urllib3 reloads the CA file per connection."""

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        HTTPAdapter.cert_verify(self, conn, url, verify, cert)


def bench_requests(emulator: Emulator, repeat: int) -> Iterator[tuple[str, dict[str, Any]]]:
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
        "GET, new connection each, CA bundle reloaded per connection (stock urllib3 behaviour)",
        summary(timed(lambda: reloading.get(HEALTH, headers=close), max(5, repeat // 4))),
    )

    def fresh_session() -> None:
        with NeuroMorphoSession() as throwaway:
            throwaway.get(HEALTH)

    yield (
        "GET, new session per request (what peers do)",
        summary(timed(fresh_session, max(5, repeat // 4))),
    )


def bench_search(emulator: Emulator, n_pages: int) -> Iterator[tuple[str, dict[str, Any]]]:
    expected = min(len(emulator.database.neurons), n_pages * 500)
    for label, rate_limit in (("no rate limit", None), ("default 5 requests/s cap", 5.0)):
        client = NeuroMorpho(session=NeuroMorphoSession(), rate_limit=rate_limit)
        started = time.perf_counter()
        count = sum(1 for _ in client.search(q="neuron_id:[* TO *]", limit=expected))
        seconds = time.perf_counter() - started
        yield (
            f"search, {count} records in 500-row pages, {label}",
            {"seconds": round(seconds, 2), "records_per_s": round(count / seconds)},
        )


def _download_records(emulator: Emulator, files: int) -> list[dict[str, Any]]:
    database = emulator.database
    unusable = database.missing_file_ids | database.broken_file_ids
    records = [r for r in database.neurons if r["neuron_id"] not in unusable]
    # The smallest files, so that round trips dominate, as they do for a polite crawler.
    records.sort(key=lambda r: database.swc_size_target(r["neuron_id"]))
    return records[:files]


def _download(emulator: Emulator, records: list[dict[str, Any]]) -> tuple[Any, float, int]:
    destination = tempfile.mkdtemp(prefix="neuromorpho-bench-")
    try:
        client = NeuroMorpho(session=NeuroMorphoSession(), rate_limit=None)
        started = time.perf_counter()
        report = client.download(records, destination, progress=False)
        seconds = time.perf_counter() - started
        size = sum(os.path.getsize(os.path.join(destination, p)) for p in os.listdir(destination))
        return report, seconds, size
    finally:
        shutil.rmtree(destination, ignore_errors=True)


def bench_download(emulator: Emulator, files: int) -> Iterator[tuple[str, dict[str, Any]]]:
    records = _download_records(emulator, files)
    for latency in (0.0, 0.05):
        emulator.latency = latency
        handshakes_before = len(emulator.handshakes)
        try:
            report, seconds, size = _download(emulator, records)
        finally:
            emulator.latency = 0.0
        yield (
            f"download {len(records)} SWC files (mean {size / len(records) / 1000:.0f} kB), "
            f"4 workers, {int(latency * 1000)} ms added latency",
            {
                "seconds": round(seconds, 2),
                "files_per_s": round(len(report.downloaded) / seconds, 1),
                "failed": len(report.failed),
                "tls_handshakes": len(emulator.handshakes) - handshakes_before,
            },
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


def bench_memory(emulator: Emulator, files: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """Peak resident memory of a client process downloading more and more files.

    The client runs in its own process, reads its records lazily from a file and reaches the
    emulator through its loopback proxy, so neither the emulator nor a list of records counts.
    """
    environment = {**os.environ, **emulator.environ()}
    for count in (files // 8, files):
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as listing:
            for record in _download_records(emulator, count):
                listing.write(json.dumps(record) + "\n")
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


def bench_import(repeat: int) -> Iterator[tuple[str, dict[str, Any]]]:
    for module in ("requests", "neuromorpho_api"):
        samples = []
        for _ in range(repeat):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
            samples.append((time.perf_counter() - started) * 1000)
        yield f"python -c 'import {module}' (whole process)", summary(samples)


def bench_emulator(neurons: int, repeat: int) -> Iterator[tuple[str, dict[str, Any]]]:
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
            "GET", "/api/neuron/select?q=species:rat&size=500", {}, b"", base_url=Emulator.base_url
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
    args = parser.parse_args(argv)

    repeat, pages, files, neurons = (5, 2, 12, 1200) if args.smoke else (200, 20, 400, 10000)
    memory_files = 16 if args.smoke else 4000
    machine = {
        "python": platform.python_version(),
        "openssl": ssl.OPENSSL_VERSION,
        "requests": requests.__version__,
        "cpus": os.cpu_count(),
        "platform": platform.platform(terse=True),
    }
    print("machine: " + ", ".join(f"{k} {v}" for k, v in machine.items()))
    results: dict[str, dict[str, Any]] = {}
    with Emulator(neurons) as emulator:
        for benchmark in (
            bench_requests(emulator, repeat),
            bench_search(emulator, pages),
            bench_download(emulator, files),
            bench_memory(emulator, memory_files),
        ):
            for label, values in benchmark:
                results[label] = values
                print(
                    f"{label:<92} " + "  ".join(f"{k}={v}" for k, v in values.items()), flush=True
                )
    for label, values in (
        *bench_import(3 if args.smoke else 10),
        *bench_emulator(neurons * 2, repeat),
    ):
        results[label] = values
        print(f"{label:<92} " + "  ".join(f"{k}={v}" for k, v in values.items()), flush=True)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"machine": machine, "results": results}, out, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
