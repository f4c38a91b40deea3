"""The handlers of the commands about files and measurements: urls, download, sync,
morphometry and pvec."""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any, Callable, TextIO

from neuromorpho_api._cli._commands import (
    _client,
    _info,
    _no_match,
    _selected_records,
    parse_criteria,
)
from neuromorpho_api._cli._policy import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, UsageError, _fail
from neuromorpho_api._records import write_records

URL_KINDS = ("swc", "original", "standardization_log", "remaining_issues", "png")
"""The files of a neuron, named as the fields of :class:`NeuronFiles`."""


def cmd_urls(args: argparse.Namespace) -> int:
    client = _client(args)
    kinds = args.kind or URL_KINDS
    failures: list[str] = []
    count = 0
    out = _UrlWriter(args.format, kinds, sys.stdout)
    for record in _selected_records(args, client, failures):
        try:
            files = client.file_urls(record)
        except ValueError as error:
            failures.append(f"{record.get('neuron_name') or record.get('neuron_id')}: {error}")
            continue
        out.write(record, {kind: getattr(files, kind) for kind in kinds})
        count += 1
    for failure in failures:
        print(f"neuromorpho: error: {' '.join(failure.split())}", file=sys.stderr)
    if failures:
        return EXIT_FAILED
    if count == 0:
        return _no_match(args)
    _info(args, f"{count} neuron{'s' if count != 1 else ''}")
    return EXIT_OK


class _UrlWriter:
    """One row per neuron (CSV, JSON lines) or one line per file (table)."""

    def __init__(self, fmt: str, kinds: Sequence[str], out: TextIO) -> None:
        self.fmt, self.kinds, self.out = fmt, kinds, out
        self.csv: Any = None
        self.started = False

    def write(self, record: Mapping[str, Any], urls: Mapping[str, str | None]) -> None:
        head = {"neuron_id": record.get("neuron_id"), "neuron_name": record.get("neuron_name")}
        # Headers wait for the first row: no match prints nothing on standard output.
        first, self.started = not self.started, True
        if self.fmt == "jsonl":
            self.out.write(json.dumps({**head, **urls}, ensure_ascii=False) + "\n")
        elif self.fmt == "csv":
            if first:
                self.csv = csv.writer(self.out)
                self.csv.writerow([*head, *self.kinds])
            self.csv.writerow([*head.values(), *(urls[kind] or "" for kind in self.kinds)])
        else:
            if first:
                self.out.write(f"{'neuron_id':<9}  {'neuron_name':<36}  {'file':<19}  url\n")
            name = str(head["neuron_name"])
            name = name[:35] + "…" if len(name) > 36 else name
            for kind, url in urls.items():
                # A neuron whose original format has no known extension has no such file.
                if url is not None:
                    self.out.write(f"{head['neuron_id']!s:<9}  {name:<36}  {kind:<19}  {url}\n")


def cmd_download(args: argparse.Namespace) -> int:
    import warnings

    from neuromorpho_api._download import DiskFullError, DownloadInterrupted

    criteria = parse_criteria(args.criteria)
    if not criteria and not args.all:
        raise UsageError(
            "give at least one criterion, e.g. species=rat, or --all for every neuron (18 GB) "
            "(see neuromorpho download --help)"
        )
    if not args.out.strip():
        raise UsageError(
            "--out is empty: give the destination directory (see neuromorpho download --help)"
        )
    client = _client(args)
    # Warnings (e.g. --workers above the politeness bound) as one line each, not two.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            report = client.download(
                criteria,
                args.out,
                workers=args.workers,
                limit=args.limit,
                metadata=args.metadata,
                rate_limit=args.rate_limit,
                verify_existing=not args.fast_resume,
                progress=False if args.quiet else None,
                kinds=args.kind or ("swc",),
                all=args.all,
            )
        except DownloadInterrupted as interrupted:
            kept = interrupted.report.kept
            return _fail(
                f"interrupted: {kept} file{'s' if kept != 1 else ''} kept in {args.out}; "
                "rerun the same command to resume",
                EXIT_INTERRUPTED,
            )
        except DiskFullError as error:
            return _fail(str(error), EXIT_FAILED)
        finally:
            for warning in caught:
                print(f"neuromorpho: warning: {warning.message}", file=sys.stderr)
    if not report.kept and not report.failed:
        return _no_match(args)
    _info(args, str(report))
    for warning_text in report.warnings:
        print(f"neuromorpho: warning: {warning_text}", file=sys.stderr)
    for failure in report.failed:
        print(f"failed: {failure}", file=sys.stderr)
    return EXIT_OK if report.ok else EXIT_FAILED


def cmd_sync(args: argparse.Namespace) -> int:
    from neuromorpho_api._client import NeuroMorpho
    from neuromorpho_api._mirror._paths import default_path

    path = args.path or args.mirror or default_path()
    report = NeuroMorpho(args.base_url).sync(
        path,
        morphometry=not args.no_morphometry,
        pvec=args.pvec,
        literature=args.literature,
        full=args.full,
        rebuild=args.rebuild,
        progress=False if args.quiet else None,
    )
    _info(args, f"{path}: {report}")
    return EXIT_OK


def _measurement_rows(args: argparse.Namespace, kind: str) -> int:
    """``morphometry``/``pvec``: one row per matching neuron, numbers as numbers.

    CSV and JSON lines stream, 500 neurons at a time; a table waits for every row (widths).
    """
    client = _client(args)
    records = client.search(parse_criteria(args.criteria), limit=args.limit)
    many = client.morphometry_many if kind == "morphometry" else client.pvec_many
    expand = args.format != "jsonl"  # JSON keeps a list a list; CSV and tables want cells
    rows = iter(_row(record, found, expand) for record, found in _in_order(records, many))
    first = next(rows, None)
    if first is None:
        _info(args, f"neuromorpho: no neurons with {kind} match")
        return EXIT_OK
    if args.format == "table":
        every = [first, *rows]
        _write_number_table(every, sys.stdout)
        count = len(every)
    else:
        count = write_records(itertools.chain([first], rows), args.format, sys.stdout)
    _info(args, f"{count} neuron{'s' if count != 1 else ''} with {kind}")
    return EXIT_OK


def _row(record: Mapping[str, Any], found: Mapping[str, Any], expand: bool) -> dict[str, Any]:
    row = {"neuron_id": record["neuron_id"], "neuron_name": record.get("neuron_name")}
    for key, value in found.items():
        if expand and isinstance(value, list):  # a pvec's coefficients: one column each
            row.update({f"{key}_{i}": item for i, item in enumerate(value)})
        elif key not in row:
            row[key] = value
    return row


def _in_order(records: Any, many: Callable[[list[Any]], dict[int, Any]]) -> Any:
    """(record, measurements) for each record that has them, 500 records at a time."""
    batch: list[Any] = []
    for record in records:
        batch.append(record)
        if len(batch) == 500:
            found = many(batch)
            yield from ((r, found[r["neuron_id"]]) for r in batch if r["neuron_id"] in found)
            batch = []
    if batch:
        found = many(batch)
        yield from ((r, found[r["neuron_id"]]) for r in batch if r["neuron_id"] in found)


def _write_number_table(rows: list[dict[str, Any]], out: Any) -> None:
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.6g}"
        return "" if value is None else str(value)

    cells = [[cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    out.write("  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip() + "\n")
    for line in cells:
        out.write("  ".join(v.ljust(w) for v, w in zip(line, widths)).rstrip() + "\n")


def cmd_morphometry(args: argparse.Namespace) -> int:
    return _measurement_rows(args, "morphometry")


def cmd_pvec(args: argparse.Namespace) -> int:
    return _measurement_rows(args, "pvec")
