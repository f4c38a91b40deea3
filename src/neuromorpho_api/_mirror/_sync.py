"""``sync``: bring a mirror file up to date with the server, politely, resumably, atomically.

How (reference §4, §9):

1. Ask a few cheap questions (:mod:`._probe`): the neuron total (a listing page of one
   record), ``/partition/archive`` and ``/partition/upload_date`` and, with morphometry,
   the morphometry total. On an unchanged server that is all: 4 requests.
2. Plan: everything (``full=True``, a new file, another server, a new record key, or more
   than half the records touched), or only the archives and upload dates whose counts
   differ from the mirror's, fetched with exact ``select`` clauses.
3. Fetch pages of 500 into ``stage_*`` tables, committing each page with the plan's
   progress: a kill loses at most the page in flight, and a rerun continues the plan.
4. Merge staging into the live tables in one transaction: readers see the last complete
   sync or this one, never a mixture.
5. Compare the server's partition counts fetched in step 1 with the mirror's own and
   report any difference.

Incremental sync detects records added to, removed from, or moved between archives and
upload dates. A record edited in place without any such count changing is found only by
``full=True``, which is exact.

Merging staging into the live tables is ``_merge``.
"""

# SQL here interpolates only table names from fixed lists and column names the mirror made
# itself (c1, r1, ...: validated when read back); every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import json
import math
import os
import shutil
import sqlite3
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Callable

from neuromorpho_api import _bulk, _parse, _query
from neuromorpho_api._mirror import _lock, _merge, _probe, _records, _schema
from neuromorpho_api._mirror._errors import REBUILD_HINT, MirrorError
from neuromorpho_api._progress import make_progress

__all__ = ["SyncReport", "sync"]

PAGE = 500
_KEYS = {"neuron": "neuronResources", "morphometry": "measurements", "pvec": "pvecs"}
_KEYS["literature"] = "publicationResources"
_DIFF_FIELDS = ("archive", "upload_date")


@dataclass(frozen=True)
class SyncReport:
    """What a sync changed and cost.

    Attributes:
        added (int): Neurons added to the mirror.
        updated (int): Neurons whose record changed.
        removed (int): Neurons removed (gone from the server).
        total (int): Neurons in the mirror after the sync.
        requests (int): Requests sent.
        seconds (float): How long the sync took.
        full (bool): Whether every record was fetched.
        mismatches (dict[str, dict[str, tuple[int, int]]]): For each field, ``{value:
            (server count, mirror count)}`` for every value whose neuron count differs after
            the sync; empty when the mirror agrees with the server.
    """

    added: int
    updated: int
    removed: int
    total: int
    requests: int
    seconds: float
    full: bool = False
    mismatches: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)

    def __str__(self) -> str:
        text = (
            f"{self.total} neurons: {self.added} added, {self.updated} updated, "
            f"{self.removed} removed ({self.requests} requests, {self.seconds:.1f} s)"
        )
        if self.mismatches:
            text += f"; differs from the server in {', '.join(self.mismatches)}: sync full=True"
        return text


PageHook = Callable[[int, int], None]


class _Run:
    def __init__(self, client: _bulk.Api, db: sqlite3.Connection, progress: bool | None):
        self.client = client
        self.db = db
        self.fetch = _probe.Fetcher(client)
        self.columns = _schema.Columns(db)
        self.codec = _records.Codec(db)
        self.progress = progress
        self.hook: PageHook | None = None

    # -- state ------------------------------------------------------------------------------

    def state(self) -> dict[str, Any] | None:
        row = self.db.execute("SELECT value FROM sync_state WHERE key = 'plan'").fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def save(self, plan: Mapping[str, Any]) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO sync_state (key, value) VALUES ('plan', ?)",
            (_records.dumps(plan),),
        )

    def clear_stage(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        for table in ("neurons", "neuron_values", "morphometry", "pvec", "literature"):
            self.db.execute(f"DELETE FROM stage_{table}")
        self.db.execute("DELETE FROM stage_seen")
        self.db.execute("DELETE FROM sync_state")
        self.db.execute("COMMIT")

    def meta(self, key: str) -> str | None:
        return _schema.get_meta(self.db, key)

    # -- planning ---------------------------------------------------------------------------

    def plan(self, options: dict[str, bool], full: bool) -> dict[str, Any]:
        fetch = self.fetch
        total, first = _probe.total(fetch, "neuron", _KEYS["neuron"])
        server: dict[str, Any] = {"total": total, "partitions": {}}
        for name in _DIFF_FIELDS:
            server["partitions"][name] = _probe.partition(fetch, name)
        if options["morphometry"]:
            server["morphometry"] = _probe.total(fetch, "morphometry", _KEYS["morphometry"])[0]
        complete = self.meta("synced_at") is not None
        new_keys = {k for r in first for k in r if k != "_links"} - set(self.columns.col)
        full = (
            full
            or not complete
            or self.meta("source") != self.client.base_url
            or bool(new_keys)
            or any(self.meta(f"has_{k}") != "1" for k, on in options.items() if on)
        )
        plan: dict[str, Any] = {"options": options, "server": server, "meta": {}}
        if not full:
            changed: dict[str, list[str]] = {}
            touched = 0
            for name in _DIFF_FIELDS:
                key = self.columns.key_for(name)
                mine = _records.partition_counts(self.db, self.columns, key) if key else {}
                theirs = server["partitions"][name]
                diff = sorted(v for v in {*mine, *theirs} if mine.get(v) != theirs.get(v))
                changed[name] = diff
                touched += sum(max(mine.get(v, 0), theirs.get(v, 0)) for v in diff)
            if touched * 2 > max(total, 1):
                full = True
            else:
                plan["changed"] = changed
                tasks: list[dict[str, Any]] = [
                    {"kind": "neurons", "q": f"{n}:{_query.quote_value(v, wildcards=False)}"}
                    for n in _DIFF_FIELDS
                    for v in changed[n]
                ]
                morph_total = int(self.meta("morphometry_total") or -1)
                if options["morphometry"]:
                    if tasks:
                        tasks.append({"kind": "bulk", "collection": "morphometry"})
                    elif server["morphometry"] != morph_total:
                        tasks.append({"kind": "objects", "collection": "morphometry"})
                if options["pvec"] and tasks:
                    tasks.append({"kind": "bulk", "collection": "pvec"})
                if options["literature"]:
                    tasks.append({"kind": "objects", "collection": "literature"})
                plan["tasks"] = tasks
        if full:
            plan["tasks"] = [{"kind": "neurons", "q": None}] + [
                {"kind": "objects", "collection": k}
                for k in ("morphometry", "pvec", "literature")
                if options[k]
            ]
            plan["meta"].update(self.settle(server))
        plan["full"] = full
        for task in plan["tasks"]:
            task.update(page=0, done=False, retried=False)
        return plan

    def settle(self, server: dict[str, Any]) -> dict[str, str]:
        """Full syncs also fetch the field list and settle case and order (§9): 4 requests."""
        fetch = self.fetch
        species = _probe.partition(fetch, "species")
        server["partitions"]["species"] = species
        settled = {"neuron_fields": _records.dumps(_probe.fields(fetch))}
        settled["case_sensitive"] = _probe.case_probe(fetch, "species", species)
        settled.update(_probe.order_probe(fetch, "species", species))
        return settled

    # -- fetching ---------------------------------------------------------------------------

    def run_tasks(self, plan: dict[str, Any]) -> None:
        server = plan["server"]

        def pages(task: dict[str, Any]) -> int:
            if task["kind"] == "neurons":
                return math.ceil(server["total"] / PAGE) if task.get("q") is None else 1
            return max(1, math.ceil(int(server.get(task.get("collection", ""), PAGE)) / PAGE))

        estimate = sum(pages(t) - t["page"] for t in plan["tasks"] if not t["done"])
        bar = make_progress(self.progress, total=estimate, desc="neuromorpho sync", unit="page")
        # One request ahead: the next page travels while this one is parsed and written.
        # Still one request at a time on one connection, under the client's rate limit.
        ahead = ThreadPoolExecutor(max_workers=1, thread_name_prefix="neuromorpho-sync")
        pending: tuple[int, int, Future[Any]] | None = None
        try:
            for index, task in enumerate(plan["tasks"]):
                while not task["done"]:
                    if task["kind"] == "bulk":
                        self.bulk(plan, index, task, bar)
                        continue
                    number = task["page"]
                    if pending is not None and pending[:2] == (index, number):
                        doc = pending[2].result()
                    else:
                        if pending is not None:  # a page no longer wanted: let it land
                            wait([pending[2]])
                        doc = self.request(task, number)
                    pending = None
                    page = self.parse(task, doc)
                    if page is not None and page.items and number + 1 < page.total_pages:
                        pending = (index, number + 1, ahead.submit(self.request, task, number + 1))
                    self.page(plan, index, task, page)
                    bar.update()
        finally:
            ahead.shutdown(wait=False, cancel_futures=True)
            bar.close()

    def request(self, task: Mapping[str, Any], number: int) -> Any:
        """The JSON of page ``number`` of ``task`` (``None`` for the API's 404)."""
        collection = task.get("collection", "neuron")
        params: dict[str, Any] = {"page": number, "size": PAGE}
        if collection == "neuron":
            params["sort"] = "neuron_id,asc"
        if task.get("q") is not None:
            params["q"] = task["q"]
            return self.fetch.get(collection, "select", params=params, allow_404=True)
        return self.fetch.get(collection, params=params, allow_404=number > 0)

    def parse(self, task: Mapping[str, Any], doc: Any) -> _parse.Page | None:
        collection = task.get("collection", "neuron")
        url = self.fetch.url(collection)
        return _parse.parse_page(doc, _KEYS[collection], url=url) if doc is not None else None

    def page(
        self, plan: dict[str, Any], index: int, task: dict[str, Any], page: _parse.Page | None
    ) -> None:
        """Write one page into staging and advance the task, in one transaction."""
        collection = task.get("collection", "neuron")
        url = self.fetch.url(collection)
        self.db.execute("BEGIN IMMEDIATE")
        try:
            items = page.items if page is not None else []
            if collection == "neuron":
                self.store_neurons(index, items, url)
            for raw in items if collection != "neuron" else []:
                self.store(index, collection, raw, url)
            task["page"] += 1
            if page is None or not page.items or task["page"] >= page.total_pages:
                expected = 0 if page is None else page.total_elements
                if collection == "neuron":
                    seen = self.db.execute(
                        "SELECT count(*) FROM stage_seen WHERE task = ?", (index,)
                    ).fetchone()[0]
                else:
                    seen = self.db.execute(f"SELECT count(*) FROM stage_{collection}").fetchone()[0]
                if seen >= expected or task["retried"]:
                    task["done"] = True
                    if seen < expected:
                        raise MirrorError(
                            f"the server changed while it was being read ({seen} of {expected} "
                            "records arrived); run sync again"
                        )
                else:  # records shifted between pages while paging: read the task again
                    task.update(page=0, retried=True)
            self.save(plan)
            self.db.execute("COMMIT")
        except BaseException:
            _schema.rollback(self.db)
            raise
        if self.hook is not None:
            self.hook(index, task["page"])

    def store_neurons(self, index: int, items: list[Any], url: str) -> None:
        records = [_parse.parse_record(raw, url=url) for raw in items]
        _records.insert_neurons(self.db, self.columns, self.codec, "stage_", records)
        self.db.executemany(
            "INSERT OR IGNORE INTO stage_seen VALUES (?, ?)",
            [(index, record["neuron_id"]) for record in records],
        )

    def store(self, index: int, collection: str, raw: Any, url: str) -> None:
        if collection == "literature":
            record = _parse.parse_article(raw, url=url)
            _records.insert_object(
                self.db, self.codec, "stage_literature", record["article_id"], record
            )
            return
        if collection == "morphometry":
            record = _parse.parse_measurements(raw, url=url)
            ident = record.get("neuron_id")
            if not isinstance(ident, int):
                raise MirrorError(f"a morphometry object from {url} has no neuron_id")
            raw_obj = {k: v for k, v in raw.items() if k != "_links"}
            _records.insert_object(
                self.db, self.codec, "stage_morphometry", ident, raw_obj, record.get("neuron_name")
            )
            return
        record = _parse.parse_pvec(_records.dumps(raw), url=url) or {}
        ident = record.get("neuron_id")
        if not isinstance(ident, int):
            raise MirrorError(f"a persistence vector from {url} has no neuron_id")
        _records.insert_object(self.db, self.codec, "stage_pvec", ident, record)

    def bulk(self, plan: dict[str, Any], index: int, task: dict[str, Any], bar: Any) -> None:
        """Morphometry or pvec of the neurons added or changed, 500 ids per committed chunk."""
        if "ids" not in task:
            task["ids"] = [
                r[0]
                for r in self.db.execute(
                    "SELECT s.neuron_id FROM stage_neurons s LEFT JOIN neurons n "
                    "USING (neuron_id) WHERE n.raw IS NULL OR n.raw != s.raw ORDER BY 1"
                )
            ]
        collection = task["collection"]
        ids: list[int] = task["ids"][task["page"] * PAGE :]

        def commit(chunk: list[int], found: dict[int, dict[str, Any]]) -> None:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                for nid, obj in found.items():
                    name = obj.get("neuron_name") if collection == "morphometry" else None
                    _records.insert_object(
                        self.db, self.codec, f"stage_{collection}", nid, obj, name
                    )
                task["page"] += 1
                self.save(plan)
                self.db.execute("COMMIT")
            except BaseException:
                _schema.rollback(self.db)
                raise
            bar.update()
            if self.hook is not None:
                self.hook(index, task["page"])

        _bulk.fetch_many(self.client, collection, ids, on_request=self.fetch.count, on_chunk=commit)
        task["done"] = True
        self.save(plan)


def _open(path: str, rebuild: bool) -> sqlite3.Connection:
    if rebuild and os.path.exists(path):
        aside = f"{path}.broken-{time.strftime('%Y%m%d-%H%M%S')}"
        shutil.move(path, aside)  # kept, in case it was not the mirror it looked like
        for suffix in ("-wal", "-shm"):
            if os.path.exists(path + suffix):
                shutil.move(path + suffix, aside + suffix)
    db = _schema.connect(path, readonly=False)
    try:
        state = _schema.validate(db, path)
        if state == "older":
            _schema.drop_everything(db)  # no migration from older layouts yet: rebuild
            state = "empty"
        if state == "empty":
            _schema.create_schema(db)
    except BaseException:
        db.close()
        raise
    return db


def sync(
    client: _bulk.Api,
    path: str | os.PathLike[str],
    *,
    morphometry: bool = True,
    pvec: bool = False,
    literature: bool = False,
    full: bool = False,
    rebuild: bool = False,
    progress: bool | None = None,
    page_hook: PageHook | None = None,
) -> SyncReport:
    """Bring the mirror at ``path`` up to date with ``client``'s server.

    Args:
        client: The client (:class:`~neuromorpho_api.NeuroMorpho` or any
            :class:`~neuromorpho_api._bulk.Api`) whose session, rate limit and base URL are used.
        path: The mirror file; created if missing.
        morphometry: Also keep the morphometry.
        pvec: Also keep the persistence vectors.
        literature: Also keep the literature.
        full: Fetch every record (exact); otherwise only what the cheap checks show changed.
        rebuild: Move an unreadable or foreign file at ``path`` aside (``.broken-<time>``)
            and start anew.
        progress: Progress bar on stderr; ``None``: when a person is watching.
        page_hook: Called as ``hook(task, page)`` after each page is committed (tests
            interrupt here).

    Returns:
        What changed and what it cost, as a :class:`SyncReport`.

    Raises:
        MirrorLockedError: Another process is syncing ``path``.
        MirrorCorruptError: ``path`` is damaged or another program's file (use ``rebuild``).
        MirrorError: The disk is full, or the server changed while being read; the mirror
            still holds its last complete sync, and a rerun continues.
        APIError: The server failed; a rerun continues where this one stopped.
    """
    path = os.fspath(path)
    started = time.monotonic()
    options = {"morphometry": morphometry, "pvec": pvec, "literature": literature}
    with _lock.hold(path):
        db = _open(path, rebuild)
        run = _Run(client, db, progress)
        run.hook = page_hook
        try:
            plan = run.state()
            if plan is None or plan["options"] != options or (full and not plan["full"]):
                run.clear_stage()
                plan = run.plan(options, full)
                if not plan["full"] and not plan["tasks"]:
                    _touch(run, plan)
                    return _report(run, plan, (0, 0, 0), started)
                db.execute("BEGIN IMMEDIATE")
                run.save(plan)
                db.execute("COMMIT")
            run.run_tasks(plan)
            counts = _merge.merge(db, run.columns, plan, client.base_url)
            report = _report(run, plan, counts, started)
            _merge.compact(db)
            return report
        except sqlite3.OperationalError as exc:
            if "full" in str(exc).lower():
                raise MirrorError(
                    f"the disk holding {path} is full; the mirror still holds its last complete "
                    "sync; free some space and run sync again to continue"
                ) from None
            raise
        except sqlite3.DatabaseError as exc:
            from neuromorpho_api._mirror._errors import MirrorCorruptError

            raise MirrorCorruptError(f"{path} is damaged ({exc}); {REBUILD_HINT}") from None
        finally:
            db.close()


def _touch(run: _Run, plan: dict[str, Any]) -> None:
    run.db.execute("BEGIN IMMEDIATE")
    try:
        _merge.write_meta(db=run.db, plan=plan, source=run.client.base_url)
        run.db.execute("COMMIT")
    except BaseException:
        _schema.rollback(run.db)
        raise


def _report(
    run: _Run, plan: dict[str, Any], counts: tuple[int, int, int], started: float
) -> SyncReport:
    mismatches: dict[str, dict[str, tuple[int, int]]] = {}
    for name, theirs in plan["server"]["partitions"].items():
        key = run.columns.key_for(name)
        mine = _records.partition_counts(run.db, run.columns, key) if key else {}
        diff = {
            v: (theirs.get(v, 0), mine.get(v, 0))
            for v in sorted({*theirs, *mine})
            if theirs.get(v, 0) != mine.get(v, 0)
        }
        if diff:
            mismatches[name] = diff
    total = run.db.execute("SELECT count(*) FROM neurons").fetchone()[0]
    return SyncReport(
        *counts,
        total=int(total),
        requests=run.fetch.requests,
        seconds=time.monotonic() - started,
        full=bool(plan["full"]),
        mismatches=mismatches,
    )
