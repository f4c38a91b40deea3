"""The ``neuromorpho`` command line (also ``python -m neuromorpho_api``).

This module is long because it is the whole command line (parser, error policy and each
command's handler next to its options); several engineers add commands here, one hunk each.

Every failure is one line on standard error, never a traceback (``--debug`` or
``NEUROMORPHO_DEBUG=1`` adds it): usage errors exit 2, other failures 1, Ctrl-C 130.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import sys
import traceback
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Callable, NoReturn, TextIO, cast

from neuromorpho_api._records import write_records
from neuromorpho_api._version import __version__

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

DEBUG_VARIABLE = "NEUROMORPHO_DEBUG"
"""Set to a non-empty value other than ``0``: tracebacks are printed, as with ``--debug``."""

DESCRIPTION = """\
Query NeuroMorpho.Org and download SWC reconstructions, safely: TLS is relaxed only as far as
the site needs, and only for neuromorpho.org, with certificates always verified.

Criteria are FIELD=VALUE pairs. Different fields are combined with AND; repeat a field for OR.
Values may contain spaces (quote them for your shell) and the wildcards * and ?.
"""

EPILOG = f"""\
examples:
  neuromorpho demo                                   try everything offline, no network needed
  neuromorpho fields                                 the searchable fields
  neuromorpho values species                         every value of one field
  neuromorpho count species=rat brain_region=neocortex
  neuromorpho search species=rat species=mouse --limit 20
  neuromorpho search "brain_region=principal cell layer" --format csv > cells.csv
  neuromorpho search "neuron_name=CB_CKp25_2w_F_Animal01_*"
  neuromorpho download species=rat brain_region=neocortex --out swc/
  neuromorpho urls cnic_001 --format csv             where each file of a neuron lives
  neuromorpho neuron cnic_001
  neuromorpho morphometry archive=Smith --format csv one row of measurements per neuron
  neuromorpho sync                                   copy the metadata to this machine...
  neuromorpho --offline count species=rat            ...and ask it, with no request at all
  neuromorpho doctor                                 does this machine need the TLS fix?
  neuromorpho emulator                               serve the offline emulator to other tools
  neuromorpho COMMAND --help                         options and examples of one command

exit status: 0 success (also when nothing matches: "no neurons match" goes to standard
error), 1 failure (e.g. some downloads failed, the site cannot be reached), 2 usage error,
130 interrupted. Errors are one line on standard error; --debug or {DEBUG_VARIABLE}=1 adds
the traceback.
"""


DOWNLOAD_EPILOG = """\
examples:
  neuromorpho download species=rat brain_region=neocortex --out swc/
  neuromorpho download archive=Smith --kind swc --kind png --out smith/
  neuromorpho download "neuron_name=cnic_*" --kind original --metadata csv -o cnic/

exit status: 0 every file complete, or no neuron matched (says "no neurons match" and creates
nothing), 1 some failed, 2 usage error, 130 interrupted (completed files are kept; rerun
the same command to resume)
"""


class UsageError(Exception):
    """A command-line mistake: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, without the usage block."""

    def error(self, message: str) -> NoReturn:
        text = " ".join(message.split())
        self.exit(EXIT_USAGE, f"neuromorpho: error: {text} (see {self.prog} --help)\n")


def parse_criteria(items: Sequence[str]) -> dict[str, list[str]]:
    """``["species=rat", "species=mouse", "archive=Smith"]`` -> ``{"species": [...], ...}``."""
    criteria: dict[str, list[str]] = {}
    for item in items:
        field, sep, value = item.partition("=")
        field = field.strip()
        if not sep or not field:
            raise UsageError(f"criterion {item!r} is not FIELD=VALUE (e.g. species=rat)")
        criteria.setdefault(field, []).append(value)
    return criteria


@dataclass(frozen=True)
class Selection:
    """Neurons named one by one (ids and names) or by criteria, never both."""

    keys: tuple[int | str, ...]
    criteria: dict[str, list[str]]


def parse_selection(items: Sequence[str], ids: Sequence[int] = ()) -> Selection:
    """Split ``NAME``, ``ID`` and ``FIELD=VALUE`` arguments (plus ``--id`` values).

    An item with ``=`` is a criterion, an all-digit one an id, anything else a name.
    """
    keys: list[int | str] = list(ids)
    criteria_items = []
    for item in items:
        if "=" in item:
            criteria_items.append(item)
        elif item.strip():
            keys.append(int(item) if item.isdigit() else item)
        else:
            raise UsageError("an empty neuron name")
    if keys and criteria_items:
        raise UsageError(
            "give neuron ids and names, or criteria, not both "
            f"(criteria: {' '.join(criteria_items)})"
        )
    return Selection(tuple(keys), parse_criteria(criteria_items))


# -- commands ----------------------------------------------------------------------------------


def _mirror_path(args: argparse.Namespace) -> str | None:
    """The mirror the query commands read: ``--mirror PATH``; with ``--offline`` or
    ``$NEUROMORPHO_MIRROR`` set, the default one; ``None`` (ask the server) with ``--online``."""
    from neuromorpho_api._mirror._paths import ENV_VAR, default_path

    if args.online:
        if args.mirror or args.offline:
            raise UsageError("--online asks the server: give it without --mirror or --offline")
        return None
    if args.mirror:
        return str(args.mirror)
    if args.offline or os.environ.get(ENV_VAR, "").strip():
        return default_path()
    return None


def _client(args: argparse.Namespace) -> Any:
    from neuromorpho_api._client import NeuroMorpho

    return NeuroMorpho(args.base_url, mirror=_mirror_path(args))


def _info(args: argparse.Namespace, message: str) -> None:
    if not args.quiet:
        print(message, file=sys.stderr)


def _no_match(args: argparse.Namespace) -> int:
    # An empty table header looked like a result; zero hits is an answer, not a failure.
    _info(args, "neuromorpho: no neurons match")
    return EXIT_OK


def _selected_records(
    args: argparse.Namespace, client: Any, failures: list[str]
) -> Iterator[Mapping[str, Any]]:
    """The records of the neurons ``args`` selects; ids and names not found go to *failures*."""
    from neuromorpho_api._errors import NeuronNotFound

    selection = parse_selection(args.selection, args.id or ())
    if not selection.keys:
        yield from client.search(selection.criteria, limit=args.limit)
        return
    for key in selection.keys[: args.limit]:
        try:
            yield client.neuron(key)
        except NeuronNotFound as error:
            failures.append(str(error))


def cmd_fields(args: argparse.Namespace) -> int:
    for name in _client(args).fields():
        print(name)
    return EXIT_OK


def cmd_values(args: argparse.Namespace) -> int:
    for value in _client(args).values(args.field):
        print(value)
    return EXIT_OK


def cmd_count(args: argparse.Namespace) -> int:
    print(_client(args).count(parse_criteria(args.criteria)))
    return EXIT_OK


def cmd_search(args: argparse.Namespace) -> int:
    criteria = parse_criteria(args.criteria)
    records = iter(_client(args).search(criteria, limit=args.limit))
    first = next(records, None)
    if first is None:
        return _no_match(args)
    count = write_records(itertools.chain([first], records), args.format, sys.stdout)
    _info(args, f"{count} neuron{'s' if count != 1 else ''}")
    return EXIT_OK


def cmd_neuron(args: argparse.Namespace) -> int:
    if not args.neuron.strip():
        raise UsageError("give a neuron id (e.g. 1) or name (e.g. cnic_001)")
    key: int | str = int(args.neuron) if args.neuron.isdigit() else args.neuron
    record = _client(args).neuron(key)
    print(json.dumps(record, indent=2, ensure_ascii=False))
    return EXIT_OK


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


def cmd_doctor(args: argparse.Namespace) -> int:
    from neuromorpho_api._doctor import diagnose

    diagnosis = diagnose(args.base_url)
    for line in diagnosis.lines():
        print(line)
    return EXIT_OK if diagnosis.ok else EXIT_FAILED


def cmd_demo(args: argparse.Namespace) -> int:
    from neuromorpho_api._demo import run_demo
    from neuromorpho_api._urls import DEFAULT_BASE_URL

    if args.base_url != DEFAULT_BASE_URL or args.ca_bundle:
        raise UsageError(
            "demo talks only to its own emulator: --base-url and --ca-bundle do not apply"
        )

    return run_demo(args.out, quiet=args.quiet)


def cmd_emulator(args: argparse.Namespace) -> int:
    from neuromorpho_api._demo import run_emulator

    try:
        return run_emulator(
            n_neurons=args.neurons,
            seed=args.seed,
            profile=args.profile,
            latency=args.latency,
            port=args.port,
            quiet=args.quiet,
        )
    except ImportError as error:
        return _fail(str(error), EXIT_FAILED)


EMULATOR_EPILOG = """\
examples:
  neuromorpho emulator                     serve 3,000 neurons; run the printed lines in another shell
  neuromorpho emulator --neurons 200 --seed 1 --latency 0.05
  neuromorpho emulator --profile modern --port 8899   a fixed server, on a fixed proxy port
"""

EMULATOR_DETAILS = """\
The printed lines set HTTPS_PROXY (and friends) to the emulator's loopback proxy, which reaches
only the emulator, and REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE and SSL_CERT_FILE to a temporary
bundle trusting a CA made for this run only. Ctrl-C or SIGTERM stops it and deletes the bundle.
"""


# -- parser ------------------------------------------------------------------------------------


def _examples(*lines: str) -> str:
    return "examples:\n" + "".join(f"  {line}\n" for line in lines)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="neuromorpho",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"neuromorpho-api {__version__}")
    _add_site_options(parser, suppress=False)
    _add_run_options(parser, suppress=False)
    # The same options after the command (`neuromorpho download ... --quiet`); SUPPRESS keeps
    # a value given before the command when none is given after it.
    after_command = argparse.ArgumentParser(add_help=False)
    _add_site_options(after_command, suppress=True)
    _add_run_options(after_command, suppress=True)
    # Commands that never talk to a site of the user's choosing (demo) take only these.
    offline = argparse.ArgumentParser(add_help=False)
    _add_run_options(offline, suppress=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    def command(
        name: str,
        handler: Callable[[argparse.Namespace], int],
        text: str,
        *examples: str,
        details: str = "",
        parents: Sequence[argparse.ArgumentParser] = (),
        common: argparse.ArgumentParser = after_command,
    ) -> argparse.ArgumentParser:
        """A subcommand: *text* is its line in the command list, *examples* end its help."""
        sub = commands.add_parser(
            name,
            help=text,
            description=f"{text}.\n\n{details}" if details else f"{text}.",
            epilog=_examples(*examples) if examples else None,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            # typeshed wants parents of the subparsers' class; any ArgumentParser works.
            parents=cast("list[_Parser]", [*parents, common]),
        )
        sub.set_defaults(handler=handler, command_parser=sub)
        return sub

    # Shared option groups for the commands that take them: a new command that selects
    # neurons and prints rows is `command(..., parents=[selection, output])`.
    criteria_help = "FIELD=VALUE; repeat a field for OR, different fields are ANDed"
    criteria = argparse.ArgumentParser(add_help=False)
    criteria.add_argument("criteria", nargs="*", metavar="CRITERION", help=criteria_help)
    selection = argparse.ArgumentParser(add_help=False)
    selection.add_argument(
        "selection",
        nargs="*",
        metavar="NAME|ID|CRITERION",
        help="neuron names or ids, or criteria (FIELD=VALUE, as for search); not both",
    )
    selection.add_argument(
        "--id", type=_positive_int, action="append", metavar="ID", help="a neuron id (repeatable)"
    )
    limit = argparse.ArgumentParser(add_help=False)
    limit.add_argument("--limit", type=_positive_int, metavar="N", help="stop after N neurons")
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument(
        "--format",
        choices=("table", "csv", "jsonl"),
        default="table",
        help="output format (default: %(default)s)",
    )

    command(
        "fields",
        cmd_fields,
        "list the searchable neuron fields",
        "neuromorpho fields",
        "neuromorpho fields | grep -i region",
    )
    values = command(
        "values",
        cmd_values,
        "list every value of one field, e.g. species",
        "neuromorpho values species",
        "neuromorpho values brain_region | grep -i hippo",
    )
    values.add_argument("field", metavar="FIELD")

    command(
        "count",
        cmd_count,
        "count the neurons matching the criteria",
        "neuromorpho count                                  every neuron",
        "neuromorpho count species=rat brain_region=neocortex",
        "neuromorpho count species=rat species=mouse        rat OR mouse",
        parents=[criteria],
    )

    command(
        "search",
        cmd_search,
        "list the neurons matching the criteria",
        "neuromorpho search species=rat brain_region=neocortex --limit 20",
        'neuromorpho search "brain_region=principal cell layer" --format csv > cells.csv',
        'neuromorpho search "neuron_name=CB_CKp25_*" --format jsonl | head -1',
        details="When nothing matches, standard output stays empty, standard error says\n"
        '"no neurons match" (unless --quiet), and the exit status is 0, as `count` prints 0.',
        parents=[criteria, output, limit],
    )

    download = command(
        "download", cmd_download, "download the standardized SWC files of the matching neurons"
    )
    download.epilog = DOWNLOAD_EPILOG
    download.formatter_class = argparse.RawDescriptionHelpFormatter
    download.add_argument("criteria", nargs="*", metavar="CRITERION", help=criteria_help)
    download.add_argument(
        "--out",
        "-o",
        required=True,
        metavar="DIR",
        help="destination directory (checked before any download, created; reruns resume)",
    )
    download.add_argument(
        "--all",
        action="store_true",
        help="with no criteria, download every neuron on the site (about 18 GB)",
    )
    download.add_argument(
        "--kind",
        action="append",
        choices=("swc", "original", "standardization_log", "remaining_issues", "png"),
        help="which file of each neuron; repeat for several (default: swc, the standardized "
        "reconstruction; original is the file as uploaded)",
    )
    download.add_argument(
        "--workers",
        type=_positive_int,
        default=4,
        metavar="N",
        help="parallel downloads (default: %(default)s, the site's politeness bound; more is "
        "allowed, with a warning)",
    )
    download.add_argument("--limit", type=_positive_int, metavar="N", help="at most N neurons")
    download.add_argument(
        "--metadata",
        choices=("jsonl", "csv"),
        help="also write the metadata of the downloaded and already complete neurons",
    )
    download.add_argument(
        "--rate-limit",
        type=_positive_float,
        metavar="PER_SECOND",
        help="at most this many files per second (default: no cap)",
    )
    download.add_argument(
        "--fast-resume",
        action="store_true",
        help="on a rerun, trust files whose size matches the manifest instead of re-hashing "
        "them (sha256)",
    )

    neuron = command(
        "neuron",
        cmd_neuron,
        "show one neuron's metadata, by id or by name",
        "neuromorpho neuron cnic_001",
        "neuromorpho neuron 1",
    )
    neuron.add_argument("neuron", metavar="ID|NAME")
    download.epilog = _examples(
        "neuromorpho download species=rat brain_region=neocortex --out swc/",
        "neuromorpho download archive=Smith --out smith/ --metadata csv --limit 100",
        "neuromorpho download species=rat --out swc/      rerun: resumes, re-verifies",
    )

    urls = command(
        "urls",
        cmd_urls,
        "list the file URLs of neurons, by name, id or criteria",
        "neuromorpho urls cnic_001 cnic_002                  two neurons, by name",
        "neuromorpho urls --id 1 --kind swc --kind png --format csv",
        "neuromorpho urls archive=Smith --kind swc --format jsonl > smith.jsonl",
        details="Files: swc (standardized SWC), original (the upload, when its format has a\n"
        "known extension), standardization_log, remaining_issues, png (an image). CSV and\n"
        "JSON lines give a row per neuron, the table a line per file. No match: as search.",
        parents=[selection, output, limit],
    )
    urls.add_argument(
        "--kind",
        choices=URL_KINDS,
        action="append",
        metavar="KIND",
        help=f"only these files, of {', '.join(URL_KINDS)} (repeatable; default: all)",
    )

    number_rows = argparse.ArgumentParser(add_help=False)
    number_rows.add_argument(
        "--format",
        choices=("table", "csv", "jsonl"),
        default="table",
        help="output format; numbers stay numbers (default: %(default)s)",
    )
    command(
        "morphometry",
        cmd_morphometry,
        "morphometric measurements of the matching neurons, one row each",
        "neuromorpho morphometry archive=Smith --format csv > smith.csv",
        "neuromorpho --offline morphometry species=rat --format jsonl   from the mirror",
        details="Measurements come 500 neurons per request (about 3 requests for 1,000\n"
        "neurons, not 1,000); neurons without measurements are left out.",
        parents=[criteria, number_rows, limit],
    )
    command(
        "pvec",
        cmd_pvec,
        "persistence vectors of the matching neurons, one row each",
        "neuromorpho pvec archive=Smith --format csv      one column per coefficient",
        parents=[criteria, number_rows, limit],
    )

    sync = command(
        "sync",
        cmd_sync,
        "copy NeuroMorpho.Org's metadata and morphometry into one local file",
        "neuromorpho sync                                   the default mirror",
        "neuromorpho --offline count species=rat            then ask it, no request sent",
        "neuromorpho sync ~/nmo.sqlite --pvec               somewhere else, with pvecs",
        "NEUROMORPHO_MIRROR=~/nmo.sqlite neuromorpho search species=rat",
        details="About 3 KB per neuron. A rerun fetches only what changed (a few requests\n"
        "when nothing did); --full fetches everything, which also finds records edited in\n"
        "place. An interrupted sync continues where it stopped; readers see the last\n"
        "complete sync. Query commands read the mirror with --mirror PATH, --offline or\n"
        "NEUROMORPHO_MIRROR (the default path), and files still come from the server.",
    )
    sync.add_argument(
        "path",
        nargs="?",
        metavar="PATH",
        help="the mirror file (default: --mirror, $NEUROMORPHO_MIRROR, else mirror.sqlite in "
        "your data directory)",
    )
    sync.add_argument(
        "--full", action="store_true", help="fetch every record (finds in-place edits too)"
    )
    sync.add_argument(
        "--rebuild",
        action="store_true",
        help="move a damaged or foreign file at PATH aside and start anew",
    )
    sync.add_argument("--pvec", action="store_true", help="also keep persistence vectors")
    sync.add_argument("--literature", action="store_true", help="also keep the literature")
    sync.add_argument("--no-morphometry", action="store_true", help="keep the neuron records only")

    command(
        "doctor",
        cmd_doctor,
        "check TLS, proxy and CA settings; is the fix needed here?",
        "neuromorpho doctor",
        "neuromorpho --ca-bundle campus-ca.pem doctor      behind a TLS-inspecting proxy",
        details="Prints versions, the CA bundle and proxy in use, every certificate variable\n"
        "(REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, SSL_CERT_FILE, SSL_CERT_DIR) and what is wrong\n"
        "with it, and probes the site with plain requests and with this package. Exit\n"
        "status 1 when this package cannot reach the site.",
    )
    demo = command(
        "demo",
        cmd_demo,
        "try search and download offline, on a built-in emulator",
        "neuromorpho demo",
        "neuromorpho demo --out demo-files --quiet",
        common=offline,
    )
    demo.add_argument(
        "--out",
        "-o",
        default="neuromorpho-demo",
        metavar="DIR",
        help="where the demo writes its files (default: ./%(default)s)",
    )
    emulator = command(
        "emulator",
        cmd_emulator,
        "serve the offline emulator in the foreground and print the environment that reaches it",
        details=EMULATOR_DETAILS,
        common=offline,
    )
    emulator.epilog = EMULATOR_EPILOG
    emulator.add_argument(
        "--neurons",
        type=_positive_int,
        default=3000,
        metavar="N",
        help="synthetic neurons to serve (default: %(default)s)",
    )
    emulator.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the synthetic database; the same seed gives the same data "
        "(default: %(default)s)",
    )
    emulator.add_argument(
        "--profile",
        choices=("legacy", "legacy+ecdhe", "legacy+rsa", "dhe2048", "modern"),
        default="legacy",
        help="TLS shape: legacy is the real site as reported (TLS 1.2, DHE-RSA, 1024-bit "
        "group), modern a fixed server (default: %(default)s)",
    )
    emulator.add_argument(
        "--latency",
        type=_non_negative_float,
        default=0.0,
        metavar="SECONDS",
        help="added to every response, to imitate a real network (default: %(default)s)",
    )
    emulator.add_argument(
        "--port",
        type=_port,
        default=0,
        help="port of the loopback proxy clients go through (default: any free port)",
    )
    return parser


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text} is not zero or a positive number")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (0 to 65535)")
    return value


def _add_site_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument(
        "--base-url",
        type=_base_url,
        default=default("https://neuromorpho.org"),
        metavar="URL",
        help="site to talk to (default: https://neuromorpho.org; the plain-HTTP mirror is "
        "http://cng.gmu.edu:8080/neuroMorpho)",
    )
    parser.add_argument(
        "--ca-bundle",
        default=default(None),
        metavar="PEM",
        help="trust this CA bundle instead of certifi's (e.g. a TLS-inspecting proxy's); "
        "same as setting REQUESTS_CA_BUNDLE",
    )


def _add_run_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument(
        "--mirror",
        default=default(None),
        metavar="PATH",
        help="answer from this mirror file (written by `neuromorpho sync`), sending no request",
    )
    parser.add_argument(
        "--offline",
        action="store_true",
        default=default(False),
        help="answer from the default mirror: $NEUROMORPHO_MIRROR (which alone does the same) "
        "or mirror.sqlite in your data directory",
    )
    parser.add_argument(
        "--online",
        action="store_true",
        default=default(False),
        help="ask the server even when $NEUROMORPHO_MIRROR is set",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default(False),
        help="no progress bar or summaries",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        default=default(False),
        help=f"print the traceback of an error (as does {DEBUG_VARIABLE}=1)",
    )


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def _base_url(text: str) -> str:
    from neuromorpho_api._urls import normalize_base_url

    try:
        return normalize_base_url(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not positive")
    return value


def _debug_requested(args: argparse.Namespace | None) -> bool:
    if args is not None and getattr(args, "debug", False):
        return True
    return os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args: argparse.Namespace | None = None
    try:
        parser = build_parser()
        # Usage errors exit 2 here, in one line; unknown options name the command's help.
        args, extras = parser.parse_known_args(argv)
        if extras:
            args.command_parser.error(f"unrecognized arguments: {' '.join(extras)}")
        if args.ca_bundle:
            if not os.path.isfile(args.ca_bundle):
                parser.error(f"--ca-bundle {args.ca_bundle!r} is not a file")
            # An explicit bundle must win over session settings, as REQUESTS_CA_BUNDLE does.
            os.environ["REQUESTS_CA_BUNDLE"] = os.path.abspath(args.ca_bundle)
        status: int = _run(args)
        # Output still buffered is written here, where a reader that left (`| head`) is
        # caught below, not at interpreter exit where it would print a traceback.
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        # `neuromorpho search ... | head`: the reader left; that is not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        return _fail("interrupted", EXIT_INTERRUPTED, debug=_debug_requested(args))


def _run(args: argparse.Namespace) -> int:
    """Run the command's handler and turn each kind of failure into one line and a status."""
    debug = _debug_requested(args)
    try:
        import requests

        from neuromorpho_api import _errors

        status: int = args.handler(args)
        return status
    except (BrokenPipeError, KeyboardInterrupt):
        raise
    except UsageError as error:
        return _fail(f"{error}", EXIT_USAGE, debug=debug)
    except _errors.UnknownFieldError as error:
        hint = f"; did you mean {', '.join(error.suggestions)}?" if error.suggestions else ""
        return _fail(
            f"unknown field {error.field!r}{hint} (run `neuromorpho fields`)",
            EXIT_USAGE,
            debug=debug,
        )
    except requests.RequestException as error:
        from neuromorpho_api._explain import describe

        url = getattr(error.request, "url", None) or args.base_url
        return _fail(f"{describe(error)[0]} ({url})", EXIT_FAILED, debug=debug)
    except (_errors.NeuroMorphoError, OSError, ValueError) as error:
        # The client's check of criterion values (UnknownValueError, when present) is a
        # usage mistake like an unknown field; its message carries the suggestions.
        unknown_value = getattr(_errors, "UnknownValueError", None)
        if unknown_value is not None and isinstance(error, unknown_value):
            return _fail(str(error), EXIT_USAGE, debug=debug)
        message = (str(error) or type(error).__name__) + _trust_hint(error)
        return _fail(message, EXIT_FAILED, debug=debug)
    except Exception as error:
        return _fail(
            f"unexpected {type(error).__name__}: {error} (a bug? rerun with --debug for the "
            "traceback, and please report it)",
            EXIT_FAILED,
            debug=debug,
        )


def _trust_hint(error: BaseException) -> str:
    """Name the trust variable behind a CA bundle error requests reports without it."""
    if not isinstance(error, OSError) or "CA certificate bundle" not in str(error):
        return ""
    from neuromorpho_api._doctor import trust_settings

    for setting in trust_settings():
        if setting.used_by_requests and setting.problem:
            return f" (set by {setting.variable}; `neuromorpho doctor` explains)"
    return ""


def _fail(message: str, status: int, *, debug: bool = False) -> int:
    if debug:
        traceback.print_exc()
    print(f"neuromorpho: error: {' '.join(message.split())}", file=sys.stderr)
    return status
