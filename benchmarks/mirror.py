"""The offline mirror and bulk morphometry against the issue's targets, on the emulator.

    python benchmarks/mirror.py              # the targets (tens of minutes: a 265k mirror)
    python benchmarks/mirror.py --smoke      # small sizes, seconds: checks that every part runs
    python benchmarks/mirror.py --json out.json

How it measures:

- The emulator (``neuromorpho_api.testing.Emulator``) runs in a child process of its own, with
  ``latency`` seconds added to every response: that is the round-trip time (RTT). It times its
  own handling of every request ("server time").
- Bulk morphometry: ``morphometry_many`` of 1,000 neurons versus ``morphometry(id)`` one by one
  (timed on a sample of ids and scaled to 1,000, said so in the output), rate limit off.
- Sync: a full sync into a new file, in a fresh client process per database size, rate limit
  off. Its floor is what strictly sequential requests cannot beat: requests x RTT + the
  emulator's own time for them. Memory: the client process's peak RSS at two database sizes.
  Then a rerun on the unchanged server: its requests.
- Offline: a mirror of the large database (synced from the emulator at zero latency, with
  morphometry), then the median of repeated calls on ``NeuroMorpho(mirror=...)`` in this
  process: ``count`` of one indexed field, a ``search`` returning about 10,000 records (read to
  the end), ``values`` and ``partition``; and the file's size per neuron.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

# -- the emulator process ----------------------------------------------------------------------

EMULATOR = r"""
import json, sys, threading, time
from neuromorpho_api.testing import Emulator

n_neurons, latency = int(sys.argv[1]), float(sys.argv[2])

class TimedEmulator(Emulator):
    # The emulator logs requests without times: add up its own handling time per request.
    def __init__(self, *args, **kwargs):
        self.server_seconds, self.timing_lock = 0.0, threading.Lock()
        super().__init__(*args, **kwargs)

    def _handle(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return super()._handle(*args, **kwargs)
        finally:
            with self.timing_lock:
                self.server_seconds += time.perf_counter() - start

started = time.perf_counter()
emulator = TimedEmulator(n_neurons, latency=latency)
emulator.start()
environ = dict(emulator.environ(), SSL_CERT_FILE=emulator.ca_bundle)

def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()

reply({"environ": environ, "build_seconds": time.perf_counter() - started})
for line in sys.stdin:
    command = json.loads(line)["cmd"]
    if command == "stats":
        with emulator.timing_lock:
            seconds = emulator.server_seconds
        api = [r for r in emulator.requests if r.target.startswith("/api/")]
        reply({"api": len(api), "server_seconds": seconds})
    elif command == "reset":
        emulator.reset()
        with emulator.timing_lock:
            emulator.server_seconds = 0.0
        reply({})
    elif command == "stop":
        break
emulator.stop()
"""


class EmulatorProcess:
    """The emulator in a child process, driven by one JSON line per command."""

    def __init__(self, neurons: int, latency: float) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", EMULATOR, str(neurons), str(latency)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=_clean_environ(),
        )
        hello = self._read()
        self.environ: dict[str, str] = hello["environ"]
        self.build_seconds: float = hello["build_seconds"]

    def _read(self) -> Any:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the emulator process ended; see its error output above")
        return json.loads(line)

    def call(self, cmd: str) -> Any:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"cmd": cmd}) + "\n")
        self.process.stdin.flush()
        return self._read()

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.write(json.dumps({"cmd": "stop"}) + "\n")
            self.process.stdin.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


@contextmanager
def emulator_process(neurons: int, latency: float) -> Iterator[EmulatorProcess]:
    emulator = EmulatorProcess(neurons, latency)
    try:
        yield emulator
    finally:
        emulator.stop()


def _clean_environ() -> dict[str, str]:
    """This environment without proxy and CA variables: only the emulator's get through."""
    drop = {
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "ALL_PROXY",
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "NO_PROXY",
        "NEUROMORPHO_MIRROR",
    }
    return {k: v for k, v in os.environ.items() if k.upper() not in drop}


# -- the sync, in a client process of its own ----------------------------------------------------

SYNC = r"""
import json, resource, sys, time
from neuromorpho_api import NeuroMorpho

path = sys.argv[1]
client = NeuroMorpho(rate_limit=None)
client.count()  # the connection is open before the clock starts
started = time.perf_counter()
report = client.sync(path, progress=False)
seconds = time.perf_counter() - started
rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "requests": report.requests, "total": report.total,
                  "peak_rss_mb": rss_kb / (1024 * 1024 if sys.platform == "darwin" else 1024)}))
"""

RERUN = r"""
import json, sys
from neuromorpho_api import NeuroMorpho

report = NeuroMorpho(rate_limit=None).sync(sys.argv[1], progress=False)
print(json.dumps({"requests": report.requests, "added": report.added,
                  "updated": report.updated, "removed": report.removed}))
"""


def run_client(script: str, path: str, emulator: EmulatorProcess) -> Any:
    done = subprocess.run(
        [sys.executable, "-c", script, path],
        env={**_clean_environ(), **emulator.environ},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"the client process failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_sync(sizes: list[int], rtt: float, workdir: str) -> dict[str, Any]:
    runs = []
    for neurons in sizes:
        path = os.path.join(workdir, f"sync-{neurons}.sqlite")
        with emulator_process(neurons, rtt) as emulator:
            emulator.call("reset")
            got = run_client(SYNC, path, emulator)
            server = emulator.call("stats")
            floor = server["api"] * rtt + server["server_seconds"]
            emulator.call("reset")
            rerun = run_client(RERUN, path, emulator)
        runs.append(
            {
                "neurons": neurons,
                "seconds": round(got["seconds"], 2),
                "requests": got["requests"],
                "server_seconds": round(server["server_seconds"], 2),
                "floor_seconds": round(floor, 2),
                "vs_floor": round(got["seconds"] / floor, 2),
                "peak_rss_mb": round(got["peak_rss_mb"], 1),
                "rerun_requests": rerun["requests"],
                "rerun_changes": rerun["added"] + rerun["updated"] + rerun["removed"],
            }
        )
    return {"rtt_ms": rtt * 1000, "runs": runs}


# -- bulk morphometry, in this process ------------------------------------------------------------


@contextmanager
def pointed_at(emulator: EmulatorProcess) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update({**_clean_environ(), **emulator.environ})
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def bench_bulk(neurons: int, count: int, sample: int, rtt: float) -> dict[str, Any]:
    from neuromorpho_api import NeuroMorpho, NeuroMorphoSession

    # nested, not parenthesized: that form needs Python 3.10
    with emulator_process(neurons, rtt) as emulator, pointed_at(emulator):  # noqa: SIM117
        with NeuroMorphoSession() as session:
            client = NeuroMorpho(session=session, rate_limit=None)
            ids = [r["neuron_id"] for r in client.search(limit=count)]
            emulator.call("reset")
            started = time.perf_counter()
            got = client.morphometry_many(ids)
            bulk_seconds = time.perf_counter() - started
            bulk_requests = emulator.call("stats")["api"]
            started = time.perf_counter()
            for nid in ids[:sample]:
                with suppress(LookupError):
                    client.morphometry(nid)
            per_id_seconds = (time.perf_counter() - started) * len(ids) / sample
    return {
        "rtt_ms": rtt * 1000,
        "ids": len(ids),
        "with_measurements": len(got),
        "bulk_seconds": round(bulk_seconds, 2),
        "bulk_requests": bulk_requests,
        "per_id_seconds": round(per_id_seconds, 1),
        "per_id_measured_on": sample,
        "speedup": round(per_id_seconds / bulk_seconds, 1),
    }


# -- offline queries, in this process -------------------------------------------------------------


def median_ms(call: Callable[[], Any], repeat: int) -> float:
    call()  # warm: the first call pays for the file's pages coming into the OS cache
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(samples), 2)


def bench_offline(neurons: int, workdir: str, repeat: int) -> dict[str, Any]:
    from neuromorpho_api import NeuroMorpho

    path = os.path.join(workdir, f"offline-{neurons}.sqlite")
    with emulator_process(neurons, 0.0) as emulator:
        built = run_client(SYNC, path, emulator)
        build_emulator = emulator.build_seconds
    nmo = NeuroMorpho(mirror=path)
    # a value whose search returns about 10,000 records (scaled down for small databases)
    target = min(10_000, neurons // 25)
    field, value, hits = min(
        ((f, v, n) for f in ("species", "archive", "strain") for v, n in nmo.partition(f).items()),
        key=lambda fvn: abs(fvn[2] - target),
    )
    busiest = max(nmo.partition("archive").items(), key=lambda kv: kv[1])[0]
    return {
        "neurons": neurons,
        "mirror_built_seconds": round(built["seconds"], 1),
        "emulator_built_seconds": round(build_emulator, 1),
        "count_indexed_field_ms": median_ms(lambda: nmo.count(archive=busiest), repeat),
        "search_records": hits,
        "search_query": f"{field}={value!r}",
        "search_ms": median_ms(lambda: list(nmo.search({field: value})), max(3, repeat // 4)),
        "values_ms": median_ms(lambda: nmo.values("species"), repeat),
        "partition_ms": median_ms(lambda: nmo.partition("archive"), repeat),
        "partition_list_field_ms": median_ms(lambda: nmo.partition("brain_region"), repeat),
        "file_bytes_per_neuron": round(os.path.getsize(path) / neurons),
    }


# -- report ---------------------------------------------------------------------------------------


def check(results: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(target, measured, met) for each of the issue's targets."""
    bulk, sync_runs, off = results["bulk"], results["sync"]["runs"], results["offline"]
    big = sync_runs[-1]
    rss = [r["peak_rss_mb"] for r in sync_runs]
    return [
        (
            f"morphometry of {bulk['ids']} neurons <= 3 requests",
            str(bulk["bulk_requests"]),
            bulk["bulk_requests"] <= 3,
        ),
        (
            f">= 50x faster than per-id at {bulk['rtt_ms']:.0f} ms RTT",
            f"{bulk['speedup']}x",
            bulk["speedup"] >= 50,
        ),
        (
            f"full sync of {big['neurons']} within 1.3x of its floor",
            f"{big['vs_floor']}x ({big['seconds']} s vs {big['floor_seconds']} s)",
            big["vs_floor"] <= 1.3,
        ),
        (
            "sync memory flat in the record count",
            " / ".join(f"{r['neurons']}: {r['peak_rss_mb']} MB" for r in sync_runs),
            max(rss) <= 1.25 * min(rss),
        ),
        (
            "unchanged rerun <= 5 requests",
            str(big["rerun_requests"]),
            big["rerun_requests"] <= 5,
        ),
        (
            "count of one indexed field <= 20 ms",
            f"{off['count_indexed_field_ms']} ms",
            off["count_indexed_field_ms"] <= 20,
        ),
        (
            f"search of {off['search_records']} records <= 150 ms",
            f"{off['search_ms']} ms",
            off["search_ms"] <= 150,
        ),
        (
            "values / partition <= 50 ms",
            f"{off['values_ms']} / {off['partition_ms']} ms",
            max(off["values_ms"], off["partition_ms"]) <= 50,
        ),
        (
            "mirror file <= 3 KB per neuron",
            f"{off['file_bytes_per_neuron']} B",
            off["file_bytes_per_neuron"] <= 3072,
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="small sizes, a few seconds")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--offline-neurons", type=int, default=265_000)
    args = parser.parse_args(argv)
    if args.smoke:
        sizes, rtt, offline, repeat, bulk_db, sample = [500, 1500], 0.005, 1500, 3, 1200, 10
    else:
        sizes, rtt, repeat, bulk_db, sample = [10_000, 50_000], 0.05, 25, 5000, 100
        offline = args.offline_neurons
    results: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "sqlite": __import__("sqlite3").sqlite_version,
        },
        "smoke": args.smoke,
    }
    with tempfile.TemporaryDirectory(prefix="nm-mirror-bench-") as workdir:
        results["bulk"] = bench_bulk(bulk_db, 1000, sample, rtt)
        results["sync"] = bench_sync(sizes, rtt, workdir)
        results["offline"] = bench_offline(offline, workdir, repeat)
    print(json.dumps(results, indent=2))
    print()
    if args.smoke:
        print("smoke run: sizes too small for the targets; the figures only show it all runs")
    for target, measured, met in check(results):
        print(f"{'met ' if met else 'MISS'}  {target:50}  {measured}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
