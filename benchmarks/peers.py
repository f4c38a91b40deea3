"""neuromorpho-api, neuromorphopy and navis side by side, against the emulator in its own process.

Install the peers into a separate venv outside the repository (not part of the test run),
with this package (neuromorphopy needs Python >= 3.11):

    python3.11 -m venv ../peers-venv
    ../peers-venv/bin/python -m pip install -e ".[emulator]" -r benchmarks/peers-requirements.txt
    ../peers-venv/bin/python benchmarks/peers.py --quick      # smoke check, about two minutes
    ../peers-venv/bin/python benchmarks/peers.py --json peers.json

Or keep this package's own venv and name the peers' interpreter: ``--peers-python
peers-venv/bin/python``. A client that is not installed gets "not installed" rows.

How it measures: the emulator (``neuromorpho_api.testing.Emulator``) runs in a child process;
every client task runs in a fresh process of its own, pointed at the emulator only through the
environment (``HTTPS_PROXY``, ``REQUESTS_CA_BUNDLE``, ``SSL_CERT_FILE`` from
``Emulator.environ()``), with the real ``https://neuromorpho.org`` URLs the clients hard-code.
Each client is used through its documented API with its default settings (its own concurrency,
page size and politeness), plus two variants at equal concurrency: this package with the rate
limit off (4 pages in flight, its default) and neuromorphopy with ``max_concurrent=4`` (its
default is 20). Runs are interleaved (client order rotates) and times are medians.

The emulator's latency model (``--latency``, one round trip) charges every request, every TCP
connect (here: the proxy's CONNECT) and every TLS handshake flight, so a client that opens a
connection per request pays for it as it would on a real network; ``--server-time-per-row``
adds the server's own work per record of a listing page (the real site: about 0.007 s).

- search: every record of a one-value query with about 2,000 and 10,000 hits; records
  returned, missing, extra, duplicated;
- download: the standardized SWC files of 200 random neurons; files returned, byte-exact against
  the emulator's own bytes (navis parses files into neurons: there, nodes are compared);
- memory: peak RSS (``ru_maxrss``) of a client process downloading 2,000 files;
- import: ``python -c "import x"`` in fresh processes minus ``python -c pass``, median;
- politeness, from the emulator's own request records: requests, peak requests started in any
  1-s window, most requests in flight at once (``Emulator.peak_in_flight``), TCP connections
  and TLS handshakes.

Losses are attributed: names with ``+``, tab-separated SWC files, latin-1 or BOM+CRLF files, and
search results missing exactly their last records. One benchmark-local addition in the emulator
process: a ``neuron_info.jsp`` page (neuromorphopy scrapes its file links from it; the emulator
serves the API and the files, not the site's HTML pages).

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
    "neuromorphopy, 4 in flight": ("neuromorphopy", "import neuromorphopy"),
    "navis": ("navis", "import navis.interfaces.neuromorpho"),
}
# Variants: measured in searches (and, for a concurrency variant, downloads), not for imports.
VARIANTS = {"neuromorpho-api, rate limit off", "neuromorphopy, 4 in flight"}
SEARCH_ONLY = {"neuromorpho-api, rate limit off"}
TASK_TIMEOUT = 900

# -- the emulator process -----------------------------------------------------------------------

EMULATOR = r"""
import hashlib, json, random, re, ssl, sys, time
from urllib.parse import parse_qs

from neuromorpho_api.testing import Emulator, EmulatorOptions
try:  # private: the emulator's answer type; without it neuron_info.jsp stays a 404
    from neuromorpho_api.testing._app import Reply
except ImportError:
    Reply = None

n_neurons, seed, latency, profile = sys.argv[1:5]

class BenchEmulator(Emulator):
    # The one addition: neuron_info.jsp, the HTML page neuromorphopy scrapes its file links
    # from (the emulator serves the API and the files, not the site's pages).
    def _handle(self, method, target, headers, body, base_url):
        path, _, query = target.partition("?")
        if Reply is not None and path in ("/neuron_info.jsp", "/neuroMorpho/neuron_info.jsp"):
            return self._neuron_info(query)
        return super()._handle(method, target, headers, body, base_url)

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

def usable():
    unusable = db.missing_file_ids | db.broken_file_ids
    return [r for r in db.neurons if r["neuron_id"] not in unusable]

def pick_files(count, head):
    records = usable()
    sample = random.Random(f"peers:{seed}").sample(records, min(count, len(records)))
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

def smallest_files(count):
    # The smallest files, so that round trips dominate, as they do for a polite crawler.
    records = sorted(usable(), key=lambda r: db.swc_size_target(r["neuron_id"]))[:count]
    return [{"record": r, "truth": file_truth(r)} for r in records]

def stats(want_starts=False):
    # Everything from the emulator's own records: request start (head read) and end (answer
    # sent, server time and round trip included), connections, handshakes, peak in flight.
    requests = emulator.requests
    handshakes = emulator.handshakes
    starts = sorted(r.started for r in requests)
    peak_rate = low = 0
    for high, start in enumerate(starts):
        while starts[low] <= start - 1.0:
            low += 1
        peak_rate = max(peak_rate, high - low + 1)
    span = (max(r.ended for r in requests) - starts[0]) if requests else 0.0
    return {
        "requests": len(requests),
        "api": sum(r.target.startswith("/api") for r in requests),
        "files": sum(r.target.startswith("/dableFiles") for r in requests),
        "pages": sum(r.target.startswith(("/neuron_info", "/neuroMorpho/neuron_info"))
                     for r in requests),
        "errors": sum(r.status >= 400 for r in requests),
        "connections": len({r.connection for r in requests}),
        "tunnels": len(emulator.proxy_tunnels),
        "handshakes": len(handshakes),
        "failed_handshakes": sum(h.error is not None for h in handshakes),
        "peak_per_s": peak_rate,
        "mean_per_s": round(len(requests) / span, 1) if span else None,
        "in_flight": emulator.peak_in_flight,
        "span_s": round(span, 3),
        **({"starts": [s - starts[0] for s in starts]} if want_starts else {}),
    }

def reset(server_time_per_row=0.0, latency=None):
    emulator.reset()  # default options, empty logs, peak in flight from now
    emulator.options = EmulatorOptions(server_time_per_row=server_time_per_row)
    if latency is not None:
        emulator.latency = latency

environ = dict(emulator.environ(), SSL_CERT_FILE=emulator.ca_bundle)
reply({"environ": environ, "neurons": len(db.neurons), "openssl": ssl.OPENSSL_VERSION,
       "python": sys.version.split()[0], "neuron_info_page": Reply is not None})
for line in sys.stdin:
    command = json.loads(line)
    name = command.pop("cmd")
    if name == "query":
        reply(pick_query(command["target"]))
    elif name == "files":
        reply(pick_files(command["count"], command["head"]))
    elif name == "smallest_files":
        reply(smallest_files(command["count"]))
    elif name == "reset":
        reset(**command)
        reply({})
    elif name == "stats":
        reply(stats(**command))
    elif name == "stop":
        break
emulator.stop()
"""


class EmulatorProcess:
    """The emulator in a child process, driven by one JSON line per command."""

    def __init__(self, neurons: int, seed: int, latency: float, profile: str):
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                EMULATOR,
                str(neurons),
                str(seed),
                str(latency),
                profile,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=clean_environ(),
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


def clean_environ() -> dict[str, str]:
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
    async with NeuroMorphoClient(**task["options"]) as client:
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
    async with NeuroMorphoClient(**task["options"]) as client:
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
PROGRAMS[("neuromorphopy, 4 in flight", "search")] = PROGRAMS[("neuromorphopy", "search")]
PROGRAMS[("neuromorphopy, 4 in flight", "download")] = PROGRAMS[("neuromorphopy", "download")]
OPTIONS = {
    "neuromorpho-api, rate limit off": {"rate_limit": None},
    "neuromorphopy, 4 in flight": {"max_concurrent": 4},
}


def client_python(client: str, args: argparse.Namespace) -> str:
    return sys.executable if client.startswith("neuromorpho-api") else args.peers_python


def installed_version(python: str, distribution: str) -> str | None:
    probe = f"import importlib.metadata as m; print(m.version({distribution!r}))"
    done = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def run_client(
    emulator: EmulatorProcess,
    python: str,
    client: str,
    kind: str,
    task: dict[str, Any],
    server_time_per_row: float = 0.0,
) -> dict[str, Any]:
    """Run one task in a fresh process; the result plus what the emulator saw."""
    with tempfile.TemporaryDirectory(prefix="neuromorpho-peers-") as scratch:
        task_file, result_file = (os.path.join(scratch, n) for n in ("task.json", "result.json"))
        with open(task_file, "w") as out:
            json.dump(task, out)
        code = PROLOGUE + PROGRAMS[(client, kind)] + EPILOGUE
        emulator.call("reset", server_time_per_row=server_time_per_row)
        try:
            done = subprocess.run(
                [python, "-c", code, result_file, task_file],
                capture_output=True,
                text=True,
                env={**clean_environ(), **emulator.hello["environ"]},
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
    emulator = EmulatorProcess(sizes["neurons"], args.seed, args.latency, args.profile)
    try:
        results["emulator"] = {k: v for k, v in emulator.hello.items() if k != "environ"}
        # (title, kind, subject, runs, with the variants)
        tasks: list[tuple[str, str, Any, int, bool]] = []
        for target in sizes["searches"]:
            query = emulator.call("query", target=target)
            title = f"search {query['field']}:{query['value']} ({len(query['expected'])} records)"
            tasks.append((title, "search", query, args.runs, True))
        files = emulator.call(
            "files", count=max(sizes["files"], sizes["memory_files"]), head=sizes["files"]
        )
        title = f"download {sizes['files']} SWC files"
        tasks.append((title, "download", files[: sizes["files"]], args.runs, True))
        title = f"download {sizes['memory_files']} SWC files (peak RSS)"
        tasks.append((title, "download", files, 1, False))
        for title, kind, subject, runs, variants in tasks:
            clients = [c for c in CLIENTS if kind == "search" or c not in SEARCH_ONLY]
            if not variants:
                clients = [c for c in clients if c not in VARIANTS]
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
    options = OPTIONS.get(client, {})
    if kind == "search":
        task = {"field": subject["field"], "value": subject["value"], "options": options}
        result = run_client(emulator, python, client, kind, task, args.server_time_per_row)
        return {**result, "check": check_search(result, subject), "ids": None}
    dest = tempfile.mkdtemp(prefix="neuromorpho-peers-files-")
    try:
        task = {"records": [f["record"] for f in subject], "dest": dest, "options": options}
        result = run_client(emulator, python, client, kind, task, args.server_time_per_row)
        return {**result, "check": check_download(result, subject, dest), "neurons": None}
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def measure_imports(args: argparse.Namespace, present: list[str], runs: int) -> dict[str, Any]:
    """Median wall time of ``python -c "import x"`` minus ``python -c pass``, fresh processes."""
    subjects = {"requests (baseline)": (sys.executable, "import requests")}
    for client in present:
        if client not in VARIANTS:
            subjects[client] = (client_python(client, args), CLIENTS[client][1])
    samples: dict[str, list[float]] = {name: [] for name in subjects}
    empty: dict[str, list[float]] = {}
    for _ in range(runs):
        for name, (python, statement) in subjects.items():
            for code, sink in ((statement, samples[name]), ("pass", empty.setdefault(python, []))):
                started = time.perf_counter()
                subprocess.run([python, "-c", code], check=True, env=clean_environ())
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


def _median(values: list[float | None]) -> str:
    known = [v for v in values if v is not None]
    return f"{statistics.median(known):.1f}" if known else "n/a"


def _most(values: list[int | None]) -> str:
    known = [v for v in values if v is not None]
    return str(max(known)) if known else "n/a"


def report(results: dict[str, Any], machine: dict[str, Any], command: str) -> str:
    lines = [
        "machine: " + ", ".join(f"{k} {v}" for k, v in machine.items()),
        f"command: {command}",
        "emulator: {neurons} neurons in its own process, TLS profile {profile}, round trip "
        "{latency} s (per request, connect and TLS flight), server time {server_time_per_row} s "
        "per listed record, python {python}, {openssl}".format(**results["emulator"]),
        "added to the emulator by this script: "
        + ("a neuron_info.jsp page" if results["emulator"]["neuron_info_page"] else "nothing"),
        "clients: "
        + ", ".join(
            f"{c} {v or 'not installed'}"
            for c, v in results["versions"].items()
            if c not in VARIANTS
        ),
        "",
    ]
    header = (
        f"{'client':<32} {'s':>7} {'returned':>9} {'exact':>6} {'missing':>8} {'extra/alt':>9} "
        f"{'RSS MB':>7} {'req':>5} {'mean/s':>7} {'peak/s':>7} {'inflight':>8} {'conns':>6} "
        f"{'TLS hs':>7}"
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
                f"{_median([s['mean_per_s'] for s in seen]):>7} "
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
        "present but altered; req = requests the emulator answered; mean/s = requests per second "
        "from the first start to the last answer (median); peak/s = most requests started in "
        "any 1-s window; inflight = most requests being served at once "
        "(Emulator.peak_in_flight); conns = TCP connections that carried requests; TLS hs = "
        "handshakes."
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
        "--latency",
        type=float,
        default=0.05,
        help="one network round trip in seconds, charged by the emulator per request, per "
        "connect and per TLS handshake flight (default: 0.05)",
    )
    parser.add_argument(
        "--server-time-per-row",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="server work per record of a listing page (the real site: about 0.007; 0.0004 is "
        "0.2 s per 500-row page; default 0)",
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
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    command = " ".join(["python", "benchmarks/peers.py", *map(shlex.quote, sys.argv[1:])])
    machine = machine_description(args)
    results = measure(args)
    results["emulator"].update(
        profile=args.profile, latency=args.latency, server_time_per_row=args.server_time_per_row
    )
    text = report(results, machine, command)
    print(text)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"machine": machine, "command": command, **results}, out, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
