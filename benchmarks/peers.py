"""neuromorpho-api, neuromorphopy and navis side by side, against the emulator in its own process.

Install the peers into a separate venv (not part of the test run), with this package:

    python3.11 -m venv peers-venv
    peers-venv/bin/python -m pip install -e . -r benchmarks/peers-requirements.txt
    peers-venv/bin/python benchmarks/peers.py --quick          # smoke check, about a minute
    peers-venv/bin/python benchmarks/peers.py --json peers.json

Or keep this package's own venv and name the peers' interpreter: ``--peers-python
peers-venv/bin/python``. A client that is not installed gets "not installed" rows.

How it measures: the emulator (``neuromorpho_api.testing.Emulator``) runs in a child process;
every client task runs in a fresh process of its own, pointed at the emulator only through the
environment (``HTTPS_PROXY``, ``REQUESTS_CA_BUNDLE``, ``SSL_CERT_FILE`` from
``Emulator.environ()``), with the real ``https://neuromorpho.org`` URLs the clients hard-code.
Each client is used through its documented API with its default settings (its own concurrency,
page size and politeness). Runs are interleaved (client order rotates) and times are medians.

- search: every record of a one-value query with about 2,000 and 10,000 hits; records
  returned, missing, extra, duplicated;
- download: the standardized SWC files of 200 random neurons; files returned, byte-exact against
  the emulator's own bytes (navis parses files into neurons: there, nodes are compared);
- memory: peak RSS (``ru_maxrss``) of a client process downloading 2,000 files;
- import: ``python -c "import x"`` in fresh processes minus ``python -c pass``, median;
- politeness, seen by the emulator: requests, peak requests in any 1-s window, most requests in
  flight at once, TCP connections (proxy tunnels) and TLS handshakes.

Losses are attributed: names with ``+``, tab-separated SWC files, latin-1 or BOM+CRLF files, and search
results missing exactly their last records. Benchmark-local additions in the emulator process
(the emulator lacks them; see the printed notes): per-request timings, a ``neuron_info.jsp``
page (neuromorphopy scrapes its file links from it), and ``TCP_NODELAY`` on the proxy relay
(``--as-is`` leaves the relay as it is).

This module is long because it is one self-contained script: the emulator process, the client
programs and the report live together so that a reader can check what each number means.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

CLIENTS = {
    # name: (distribution, import statement a user writes)
    "neuromorpho-api": ("neuromorpho-api", "import neuromorpho_api"),
    "neuromorpho-api, rate limit off": ("neuromorpho-api", "import neuromorpho_api"),
    "neuromorphopy": ("neuromorphopy", "import neuromorphopy"),
    "navis": ("navis", "import navis.interfaces.neuromorpho"),
}
# Variants that only differ where the option matters.
SEARCH_ONLY = {"neuromorpho-api, rate limit off"}
TASK_TIMEOUT = 900

# -- the emulator process -----------------------------------------------------------------------

EMULATOR = r"""
import contextlib, hashlib, json, random, re, socket, ssl, sys, threading, time
from urllib.parse import parse_qs, quote

n_neurons, seed, latency, profile, nodelay = sys.argv[1:6]
if nodelay == "1":
    # The proxy relay does not set TCP_NODELAY: small back-to-back writes through it wait for
    # delayed ACKs. Set it on every socket this process accepts or opens.
    def _nodelay(sock):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    _accept, _connect = socket.socket.accept, socket.create_connection
    def accept(self):
        conn, address = _accept(self)
        return _nodelay(conn), address
    socket.socket.accept = accept
    socket.create_connection = lambda *a, **k: _nodelay(_connect(*a, **k))

from neuromorpho_api.testing import Emulator
try:  # private: the emulator's answer type; without it neuron_info.jsp stays a 404
    from neuromorpho_api.testing._app import Reply
except ImportError:
    Reply = None

class BenchEmulator(Emulator):
    # Timings of each request (the emulator logs requests without times) and neuron_info.jsp.
    def __init__(self, *args, **kwargs):
        self.timings, self.timing_lock = [], threading.Lock()
        super().__init__(*args, **kwargs)

    def _handle(self, method, target, headers, body, base_url):
        start = time.perf_counter()
        try:
            path, _, query = target.partition("?")
            if Reply is not None and path in ("/neuron_info.jsp", "/neuroMorpho/neuron_info.jsp"):
                return self._neuron_info(query)
            return super()._handle(method, target, headers, body, base_url)
        finally:
            with self.timing_lock:
                self.timings.append((start, time.perf_counter() + self.latency))

    def _neuron_info(self, query):
        # The servlet decodes the query string: "+" is a space, as in every form encoding.
        name = (parse_qs(query).get("neuron_name") or [""])[0]
        record = self.database.neuron_by_name(name)
        if record is None:
            html = f"<html><body><p>Neuron {name} not found.</p></body></html>"
        else:
            link = self.database.file_path(record).lstrip("/")
            html = (f"<html><body><h2>{name}</h2>\n<a href={link}>Morphology File "
                    "(Standardized)</a>\n</body></html>")
        return Reply(200, [("Content-Type", "text/html;charset=UTF-8")], html.encode())

emulator = BenchEmulator(int(n_neurons), seed=int(seed), profile=profile, latency=float(latency))
emulator.start()
db = emulator.database

def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()

def pick_query(target):
    # One single-word value (multi-word values hit neuromorphopy's unquoted q: another bug).
    best = None
    for field in ("species", "archive"):
        for value, count in db.partition(field).items():
            if re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", value) and (
                best is None or abs(count - target) < abs(best[2] - target)):
                best = (field, value, count)
    field, value, _ = best
    got = [r["neuron_id"] for r in db.search(f"{field}:{value}")]
    posted = [r["neuron_id"] for r in db.select_post({field: [value]})]
    assert sorted(got) == sorted(posted), "GET and POST select disagree"
    return {"field": field, "value": value, "expected": got, "expected_post_order": posted}

def file_truth(record):
    body = db.swc(record)
    text = body.decode("latin-1")
    data = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return {
        "name": record["neuron_name"], "sha256": hashlib.sha256(body).hexdigest(),
        "size": len(body), "nodes": len(data), "tabs": "\t" in (data[0] if data else ""),
        "plus": "+" in record["neuron_name"],
        "encoding": db.encoding_quirks.get(record["neuron_id"]),
    }

def pick_files(count, head):
    unusable = db.missing_file_ids | db.broken_file_ids
    usable = [r for r in db.neurons if r["neuron_id"] not in unusable]
    sample = random.Random(f"peers:{seed}").sample(usable, min(count, len(usable)))
    truths = [file_truth(r) for r in sample]
    # Make sure the cases exist even in the small first sample (both are common on the site).
    for slot, case in enumerate(("plus", "tabs")):
        if not any(t[case] for t in truths[:head]):
            for k in range(head, len(sample)):
                if truths[k][case]:
                    sample[slot], sample[k] = sample[k], sample[slot]
                    truths[slot], truths[k] = truths[k], truths[slot]
                    break
    return [{"record": r, "truth": t} for r, t in zip(sample, truths)]

def stats():
    requests = emulator.requests
    handshakes = emulator.handshakes
    with emulator.timing_lock:
        spans = sorted(emulator.timings)
    starts = [s for s, _ in spans]
    peak_rate = in_flight = 0
    low = 0
    for high, start in enumerate(starts):
        while starts[low] <= start - 1.0:
            low += 1
        peak_rate = max(peak_rate, high - low + 1)
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    level = 0
    for _, step in events:
        level += step
        in_flight = max(in_flight, level)
    seconds = (max(e for _, e in spans) - starts[0]) if spans else 0.0
    return {
        "requests": len(requests),
        "api": sum(r.target.startswith("/api") for r in requests),
        "files": sum(r.target.startswith("/dableFiles") for r in requests),
        "pages": sum(r.target.startswith(("/neuron_info", "/neuroMorpho/neuron_info"))
                     for r in requests),
        "errors": sum(r.status >= 400 for r in requests),
        "connections": len(emulator.proxy_tunnels),
        "handshakes": len(handshakes),
        "failed_handshakes": sum(h.error is not None for h in handshakes),
        # None: the timing hook (Emulator._handle, private) was not called.
        "peak_per_s": peak_rate if spans or not requests else None,
        "mean_per_s": round(len(spans) / seconds, 1) if seconds else None,
        "in_flight": in_flight if spans or not requests else None,
    }

def reset():
    emulator.reset()
    with emulator.timing_lock:
        emulator.timings.clear()

environ = dict(emulator.environ(), SSL_CERT_FILE=emulator.ca_bundle)
reply({"environ": environ, "neurons": len(db.neurons), "openssl": ssl.OPENSSL_VERSION,
       "python": sys.version.split()[0], "neuron_info_page": Reply is not None})
for line in sys.stdin:
    command = json.loads(line)
    name = command["cmd"]
    if name == "query":
        reply(pick_query(command["target"]))
    elif name == "files":
        reply(pick_files(command["count"], command["head"]))
    elif name == "reset":
        reset()
        reply({})
    elif name == "stats":
        reply(stats())
    elif name == "stop":
        break
emulator.stop()
"""


class EmulatorProcess:
    """The emulator in a child process, driven by one JSON line per command."""

    def __init__(self, neurons: int, seed: int, latency: float, profile: str, nodelay: bool):
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                EMULATOR,
                str(neurons),
                str(seed),
                str(latency),
                profile,
                "1" if nodelay else "0",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=_clean_environ(),
        )
        self.hello = self._read()

    def _read(self) -> Any:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the emulator process ended; see its error output above")
        return json.loads(line)

    def call(self, cmd: str, **params: Any) -> Any:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"cmd": cmd, **params}) + "\n")
        self.process.stdin.flush()
        return self._read()

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.write(json.dumps({"cmd": "stop"}) + "\n")
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


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
    }
    return {k: v for k, v in os.environ.items() if k.upper() not in drop}


# -- the client programs ------------------------------------------------------------------------
# Each runs in a fresh process: argv[1] is where to write the result, argv[2] the task (JSON).
# The clock starts after the imports.

PROLOGUE = """
import json, os, resource, sys, time, traceback
task = json.load(open(sys.argv[2]))
result = {"error": None}
"""
EPILOGUE = """
result["seconds"] = time.perf_counter() - started
result["maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
json.dump(result, open(sys.argv[1], "w"))
"""

PROGRAMS = {
    ("neuromorpho-api", "search"): """
from neuromorpho_api import NeuroMorpho
client = NeuroMorpho(**task["options"])
started = time.perf_counter()
result["ids"] = ids = []
try:
    for record in client.search({task["field"]: task["value"]}):
        ids.append(record["neuron_id"])
except Exception as error:
    result["error"] = f"{type(error).__name__}: {error}"
""",
    ("neuromorpho-api", "download"): """
from neuromorpho_api import NeuroMorpho
client = NeuroMorpho()
started = time.perf_counter()
try:
    report = client.download(task["records"], task["dest"], progress=False)
    result["reported_failures"] = len(report.failed)
except Exception as error:
    result["error"] = f"{type(error).__name__}: {error}"
""",
    ("neuromorphopy", "search"): """
import asyncio
from neuromorphopy import NeuroMorphoClient
async def search():
    async with NeuroMorphoClient() as client:
        return await client.search_neurons({task["field"]: [task["value"]]}, show_progress=False)
started = time.perf_counter()
try:
    result["ids"] = [record["neuron_id"] for record in asyncio.run(search())]
except Exception as error:
    result["error"] = f"{type(error).__name__}: {error}"
""",
    ("neuromorphopy", "download"): """
import asyncio, pathlib
from neuromorphopy import NeuroMorphoClient
async def download():
    async with NeuroMorphoClient() as client:
        await client.download_neurons(task["records"], pathlib.Path(task["dest"]),
                                      show_progress=False)
started = time.perf_counter()
try:
    asyncio.run(download())
except Exception as error:
    result["error"] = f"{type(error).__name__}: {error}"
""",
    ("navis", "search"): """
import navis
import navis.interfaces.neuromorpho as nm
navis.config.pbar_hide = True
started = time.perf_counter()
try:
    result["ids"] = [int(i) for i in nm.find_neurons(**{task["field"]: task["value"]})["neuron_id"]]
except Exception as error:
    result["error"] = f"{type(error).__name__}: {error}"
""",
    ("navis", "download"): """
import navis, pandas
import navis.interfaces.neuromorpho as nm
navis.config.pbar_hide = True
started = time.perf_counter()
try:
    neurons = nm.get_neuron(pandas.DataFrame(task["records"]))
    result["neurons"] = [{"name": n.name, "nodes": int(n.n_nodes)} for n in neurons]
except Exception as error:
    result["error"] = f"{type(error).__name__}: {error}"
""",
}
PROGRAMS[("neuromorpho-api, rate limit off", "search")] = PROGRAMS[("neuromorpho-api", "search")]


def client_python(client: str, args: argparse.Namespace) -> str:
    return sys.executable if client.startswith("neuromorpho-api") else args.peers_python


def installed_version(python: str, distribution: str) -> str | None:
    probe = f"import importlib.metadata as m; print(m.version({distribution!r}))"
    done = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def run_client(
    emulator: EmulatorProcess, python: str, client: str, kind: str, task: dict[str, Any]
) -> dict[str, Any]:
    """Run one task in a fresh process; the result plus what the emulator saw."""
    with tempfile.TemporaryDirectory(prefix="neuromorpho-peers-") as scratch:
        task_file, result_file = (os.path.join(scratch, n) for n in ("task.json", "result.json"))
        with open(task_file, "w") as out:
            json.dump(task, out)
        code = PROLOGUE + PROGRAMS[(client, kind)] + EPILOGUE
        emulator.call("reset")
        try:
            done = subprocess.run(
                [python, "-c", code, result_file, task_file],
                capture_output=True,
                text=True,
                env={**_clean_environ(), **emulator.hello["environ"]},
                cwd=scratch,
                timeout=TASK_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {TASK_TIMEOUT} s", "seen": emulator.call("stats")}
        seen = emulator.call("stats")
        if not os.path.exists(result_file):
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            return {"error": f"exit {done.returncode}: {tail}", "seen": seen}
        with open(result_file) as source:
            result: dict[str, Any] = json.load(source)
        result["seen"] = seen
        return result


# -- checking what came back --------------------------------------------------------------------


def check_search(result: dict[str, Any], query: dict[str, Any]) -> dict[str, Any]:
    ids = result.get("ids") or []
    expected = query["expected"]
    got, want = set(ids), set(expected)
    missing = want - got
    note = ""
    for order in (expected, query["expected_post_order"]):
        if missing and set(order[len(order) - len(missing) :]) == missing:
            note = f"the last {len(missing)} records of the result (its last page)"
    return {
        "returned": len(ids),
        "missing": len(missing),
        "extra": len(got - want),
        "duplicates": len(ids) - len(got),
        "why": note,
    }


def _file_name(path: str) -> str:
    base = os.path.basename(path)
    for suffix in (".CNG.swc", ".swc"):
        if base.endswith(suffix):
            return base[: -len(suffix)]
    return base


def check_download(
    result: dict[str, Any], files: list[dict[str, Any]], dest: str
) -> dict[str, Any]:
    truth = {f["truth"]["name"]: f["truth"] for f in files}
    returned: dict[str, bool] = {}  # neuron name -> byte-exact (or, for navis, same node count)
    if "neurons" in result:
        for neuron in result["neurons"]:
            want = truth.get(str(neuron["name"]))
            if want is not None:
                returned[want["name"]] = neuron["nodes"] == want["nodes"]
    else:
        by_hash = {t["sha256"]: name for name, t in truth.items()}
        for folder, _, names in os.walk(dest):
            for leaf in names:
                path = os.path.join(folder, leaf)
                with open(path, "rb") as body:
                    digest = hashlib.sha256(body.read()).hexdigest()
                if digest in by_hash:
                    returned[by_hash[digest]] = True
                elif _file_name(path) in truth:
                    returned.setdefault(_file_name(path), False)
    missing = [name for name in truth if name not in returned]
    altered = [name for name, exact in returned.items() if not exact]

    def causes(names: list[str]) -> str:
        kinds = dict.fromkeys(("name with +", "tab-separated", "latin-1", "BOM+CRLF", "other"), 0)
        for name in names:
            t = truth[name]
            kind = (
                "name with +"
                if t["plus"]
                else "tab-separated"
                if t["tabs"]
                else "latin-1"
                if t["encoding"] == "latin-1"
                else "BOM+CRLF"
                if t["encoding"] == "utf-8-sig"
                else "other"
            )
            kinds[kind] += 1
        return ", ".join(f"{n} {k}" for k, n in kinds.items() if n)

    return {
        "returned": len(returned),
        "exact": len(returned) - len(altered),
        "missing": len(missing),
        "altered": len(altered),
        "why": "; ".join(
            part
            for part in (
                f"missing: {causes(missing)}" if missing else "",
                f"altered: {causes(altered)}" if altered else "",
            )
            if part
        ),
    }


# -- the benchmark ------------------------------------------------------------------------------


def measure(args: argparse.Namespace) -> dict[str, Any]:
    sizes = {
        "neurons": 3000 if args.quick else 30000,
        "searches": (200, 1000) if args.quick else (2000, 10000),
        "files": 20 if args.quick else 200,
        "memory_files": 100 if args.quick else 2000,
        "import_runs": 3 if args.quick else 7,
    }
    versions = {
        client: installed_version(client_python(client, args), dist)
        for client, (dist, _) in CLIENTS.items()
    }
    present = [client for client, version in versions.items() if version]
    results: dict[str, Any] = {"sizes": sizes, "versions": versions, "tasks": []}
    emulator = EmulatorProcess(
        sizes["neurons"], args.seed, args.latency, args.profile, nodelay=not args.as_is
    )
    try:
        results["emulator"] = {k: v for k, v in emulator.hello.items() if k != "environ"}
        tasks: list[tuple[str, str, dict[str, Any], Any]] = []
        for target in sizes["searches"]:
            query = emulator.call("query", target=target)
            title = f"search {query['field']}:{query['value']} ({len(query['expected'])} records)"
            tasks.append((title, "search", query, args.runs))
        files = emulator.call(
            "files", count=max(sizes["files"], sizes["memory_files"]), head=sizes["files"]
        )
        tasks.append(
            (f"download {sizes['files']} SWC files", "download", files[: sizes["files"]], args.runs)
        )
        tasks.append(
            (f"download {sizes['memory_files']} SWC files (peak RSS)", "download", files, 1)
        )
        for title, kind, subject, runs in tasks:
            clients = [c for c in CLIENTS if kind == "search" or c not in SEARCH_ONLY]
            rows: dict[str, list[dict[str, Any]]] = {c: [] for c in clients}
            clients = [c for c in clients if c in present]
            for run in range(runs):
                for client in clients[run % len(clients) :] + clients[: run % len(clients)]:
                    rows[client].append(one_run(emulator, args, client, kind, subject))
                    print(f"  {title}: {client} run {run + 1}/{runs} done", file=sys.stderr)
            results["tasks"].append({"title": title, "kind": kind, "runs": rows})
    finally:
        emulator.stop()
    results["imports"] = measure_imports(args, present, sizes["import_runs"])
    return results


def one_run(
    emulator: EmulatorProcess, args: argparse.Namespace, client: str, kind: str, subject: Any
) -> dict[str, Any]:
    python = client_python(client, args)
    if kind == "search":
        task = {"field": subject["field"], "value": subject["value"]}
        if client.startswith("neuromorpho-api"):
            task["options"] = {"rate_limit": None} if "rate limit off" in client else {}
        result = run_client(emulator, python, client, kind, task)
        return {**result, "check": check_search(result, subject), "ids": None}
    dest = tempfile.mkdtemp(prefix="neuromorpho-peers-files-")
    try:
        task = {"records": [f["record"] for f in subject], "dest": dest}
        result = run_client(emulator, python, client, kind, task)
        return {**result, "check": check_download(result, subject, dest), "neurons": None}
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def measure_imports(args: argparse.Namespace, present: list[str], runs: int) -> dict[str, Any]:
    """Median wall time of ``python -c "import x"`` minus ``python -c pass``, fresh processes."""
    subjects = {"requests (baseline)": (sys.executable, "import requests")}
    for client in present:
        if client not in SEARCH_ONLY:
            subjects[client] = (client_python(client, args), CLIENTS[client][1])
    samples: dict[str, list[float]] = {name: [] for name in subjects}
    empty: dict[str, list[float]] = {}
    for _ in range(runs):
        for name, (python, statement) in subjects.items():
            for code, sink in ((statement, samples[name]), ("pass", empty.setdefault(python, []))):
                started = time.perf_counter()
                subprocess.run([python, "-c", code], check=True, env=_clean_environ())
                sink.append((time.perf_counter() - started) * 1000)
    return {
        name: {
            "ms": round(statistics.median(samples[name]) - statistics.median(empty[python]), 1),
            "process_ms": round(statistics.median(samples[name]), 1),
            "import": statement,
        }
        for name, (python, statement) in subjects.items()
    }


# -- the report ---------------------------------------------------------------------------------


def _spread(values: list[Any]) -> str:
    distinct = sorted(set(values))
    return str(distinct[0]) if len(distinct) == 1 else "/".join(str(v) for v in values)


def _most(values: list[int | None]) -> str:
    known = [v for v in values if v is not None]
    return str(max(known)) if known else "n/a"


def report(results: dict[str, Any], machine: dict[str, Any], command: str) -> str:
    lines = [
        "machine: " + ", ".join(f"{k} {v}" for k, v in machine.items()),
        f"command: {command}",
        "emulator: {neurons} neurons in its own process, TLS profile {profile}, {latency} s "
        "added per response, python {python}, {openssl}".format(**results["emulator"]),
        "added to the emulator by this script: request timings"
        + (", a neuron_info.jsp page" if results["emulator"]["neuron_info_page"] else "")
        + ("" if results["emulator"]["as_is"] else ", TCP_NODELAY on the proxy relay"),
        "clients: "
        + ", ".join(
            f"{c} {v or 'not installed'}"
            for c, v in results["versions"].items()
            if c not in SEARCH_ONLY
        ),
        "",
    ]
    header = (
        f"{'client':<32} {'s':>7} {'returned':>9} {'exact':>6} {'missing':>8} {'extra/alt':>9} "
        f"{'RSS MB':>7} {'req':>5} {'peak/s':>7} {'inflight':>8} {'conns':>6} {'TLS hs':>7}"
    )
    for task in results["tasks"]:
        runs = max(map(len, task["runs"].values()), default=0)
        lines += [task["title"] + f" (median of {runs} run{'s' if runs != 1 else ''})"]
        lines += [header]
        notes = []
        for client, runs in task["runs"].items():
            if not runs:
                continue
            seen = [r["seen"] for r in runs]
            checks = [r["check"] for r in runs]
            seconds = [r["seconds"] for r in runs if "seconds" in r]
            exact = _spread([c["exact"] for c in checks]) if "exact" in checks[0] else "-"
            lost = [c["missing"] + c.get("altered", 0) + c.get("extra", 0) for c in checks]
            lines.append(
                f"{client:<32} {statistics.median(seconds) if seconds else float('nan'):>7.2f} "
                f"{_spread([c['returned'] for c in checks]):>9} {exact:>6} "
                f"{_spread([c['missing'] for c in checks]):>8} "
                f"{_spread([c.get('extra', c.get('altered', 0)) for c in checks]):>9} "
                f"{max(r.get('maxrss_kb', 0) for r in runs) / 1024:>7.0f} "
                f"{_spread([s['requests'] for s in seen]):>5} "
                f"{_most([s['peak_per_s'] for s in seen]):>7} "
                f"{_most([s['in_flight'] for s in seen]):>8} "
                f"{_spread([s['connections'] for s in seen]):>6} "
                f"{_spread([s['handshakes'] for s in seen]):>7}"
            )
            errors = sorted({r["error"] for r in runs if r.get("error")})
            if any(lost) and not errors:
                notes.append(f"  {client}: SILENT loss, no error raised; {checks[0]['why']}")
            elif any(lost):
                notes.append(f"  {client}: loss with an error; {checks[0]['why']}")
            for error in errors:
                notes.append(f"  {client}: raised {error[:200]}")
            scraped = max(s["pages"] for s in seen)
            if scraped:
                notes.append(f"  {client}: {scraped} neuron_info.jsp pages scraped for links")
        for client, runs in task["runs"].items():
            if not runs:
                lines.append(f"{client:<32} not installed")
        lines += [*notes, ""]
    lines.append("import (python -c 'import x' minus python -c pass, median, fresh processes)")
    for name, values in results["imports"].items():
        lines.append(f"  {name:<30} {values['ms']:>7.1f} ms   ({values['import']})")
    lines.append(
        "columns: s = wall seconds of the task after imports; exact = byte-identical files "
        "(navis: neurons with the right node count); extra/alt = records not asked for, or files "
        "present but altered; req = requests the emulator answered; peak/s = most requests "
        "started in any 1-s window; inflight = most requests being served at once; conns = TCP "
        "connections (proxy tunnels); TLS hs = handshakes."
    )
    return "\n".join(lines)


def machine_description(args: argparse.Namespace) -> dict[str, Any]:
    import ssl

    description: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(terse=True),
        "python": platform.python_version(),
        "openssl": ssl.OPENSSL_VERSION,
    }
    if os.path.realpath(args.peers_python) != os.path.realpath(sys.executable):
        probe = "import platform, ssl; print(platform.python_version(), ssl.OPENSSL_VERSION)"
        done = subprocess.run([args.peers_python, "-c", probe], capture_output=True, text=True)
        description["peers' python"] = done.stdout.strip() or "unusable"
    return description


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke check")
    parser.add_argument("--json", metavar="FILE", help="also write every measurement as JSON")
    parser.add_argument(
        "--latency", type=float, default=0.05, help="seconds the emulator adds to each response"
    )
    parser.add_argument("--runs", type=int, default=3, help="interleaved runs per task (median)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic database")
    parser.add_argument(
        "--profile",
        default="dhe2048",
        help="emulator TLS profile; the default dhe2048 is the real site's shape (TLS 1.2, "
        "DHE) with a group that plain requests (navis) accepts; 'legacy' is the real 1024-bit one",
    )
    parser.add_argument(
        "--peers-python",
        default=sys.executable,
        metavar="PYTHON",
        help="interpreter with neuromorphopy and navis installed (default: this one)",
    )
    parser.add_argument(
        "--as-is",
        action="store_true",
        help="leave the emulator's proxy relay without TCP_NODELAY (it then adds ~40 ms to "
        "small back-to-back responses)",
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    command = " ".join(["python", "benchmarks/peers.py", *map(shlex.quote, sys.argv[1:])])
    machine = machine_description(args)
    results = measure(args)
    results["emulator"].update(profile=args.profile, latency=args.latency, as_is=args.as_is)
    text = report(results, machine, command)
    print(text)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"machine": machine, "command": command, **results}, out, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
