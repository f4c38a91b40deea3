"""The ``neuromorpho`` command line (also ``python -m neuromorpho_api``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, Callable

from neuromorpho_api._records import write_records
from neuromorpho_api._version import __version__

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

DESCRIPTION = """\
Query NeuroMorpho.Org and download SWC reconstructions, safely: TLS is relaxed only as far as
the site needs, and only for neuromorpho.org, with certificates always verified.

Criteria are FIELD=VALUE pairs. Different fields are combined with AND; repeat a field for OR.
Values may contain spaces (quote them for your shell) and the wildcards * and ?.
"""

EPILOG = """\
examples:
  neuromorpho demo                                   try everything offline, no network needed
  neuromorpho fields                                 the searchable fields
  neuromorpho values species                         every value of one field
  neuromorpho count species=rat brain_region=neocortex
  neuromorpho search species=rat species=mouse --limit 20
  neuromorpho search "brain_region=principal cell layer" --format csv > cells.csv
  neuromorpho search "neuron_name=CB_CKp25_2w_F_Animal01_*"
  neuromorpho download species=rat brain_region=neocortex --out swc/
  neuromorpho neuron cnic_001
  neuromorpho doctor                                 does this machine need the TLS fix?

exit status: 0 success, 1 failure (e.g. some downloads failed), 2 usage error
"""


class UsageError(Exception):
    """A command-line mistake: reported in one line, exit status 2."""


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


# -- commands ----------------------------------------------------------------------------------


def _client(args: argparse.Namespace) -> Any:
    from neuromorpho_api._client import NeuroMorpho

    return NeuroMorpho(args.base_url)


def _info(args: argparse.Namespace, message: str) -> None:
    if not args.quiet:
        print(message, file=sys.stderr)


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
    records = _client(args).search(criteria, limit=args.limit)
    count = write_records(records, args.format, sys.stdout)
    _info(args, f"{count} neuron{'s' if count != 1 else ''}")
    return EXIT_OK


def cmd_neuron(args: argparse.Namespace) -> int:
    if not args.neuron.strip():
        raise UsageError("give a neuron id (e.g. 1) or name (e.g. cnic_001)")
    key: int | str = int(args.neuron) if args.neuron.isdigit() else args.neuron
    record = _client(args).neuron(key)
    print(json.dumps(record, indent=2, ensure_ascii=False))
    return EXIT_OK


def cmd_download(args: argparse.Namespace) -> int:
    criteria = parse_criteria(args.criteria)
    if not criteria:
        raise UsageError(
            "give at least one criterion, e.g. species=rat (downloading everything is 18 GB)"
        )
    client = _client(args)
    report = client.download(
        criteria,
        args.out,
        workers=args.workers,
        limit=args.limit,
        metadata=args.metadata,
        rate_limit=args.rate_limit,
        verify_existing=not args.fast_resume,
        progress=False if args.quiet else None,
    )
    _info(args, str(report))
    for failure in report.failed:
        print(f"failed: {failure.name}: {failure.reason}", file=sys.stderr)
    return EXIT_OK if report.ok else EXIT_FAILED


def cmd_doctor(args: argparse.Namespace) -> int:
    from neuromorpho_api._doctor import diagnose

    diagnosis = diagnose(args.base_url)
    for line in diagnosis.lines():
        print(line)
    return EXIT_OK if diagnosis.ok else EXIT_FAILED


def cmd_demo(args: argparse.Namespace) -> int:
    from neuromorpho_api._demo import run_demo

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

The printed lines set HTTPS_PROXY (and friends) to the emulator's loopback proxy, which reaches
only the emulator, and REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE and SSL_CERT_FILE to a temporary
bundle trusting a CA made for this run only. Ctrl-C or SIGTERM stops it and deletes the bundle.
"""


# -- parser ------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neuromorpho",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"neuromorpho-api {__version__}")
    _add_global_options(parser, suppress=False)
    # The same options after the command (`neuromorpho download ... --quiet`); SUPPRESS keeps
    # a value given before the command when none is given after it.
    after_command = argparse.ArgumentParser(add_help=False)
    _add_global_options(after_command, suppress=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    def command(
        name: str, handler: Callable[[argparse.Namespace], int], text: str
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=text, description=text, parents=[after_command])
        sub.set_defaults(handler=handler)
        return sub

    command("fields", cmd_fields, "list the searchable neuron fields")
    values = command("values", cmd_values, "list every value of one field, e.g. species")
    values.add_argument("field", metavar="FIELD")

    criteria_help = "FIELD=VALUE; repeat a field for OR, different fields are ANDed"
    count = command("count", cmd_count, "count the neurons matching the criteria")
    count.add_argument("criteria", nargs="*", metavar="CRITERION", help=criteria_help)

    search = command("search", cmd_search, "list the neurons matching the criteria")
    search.add_argument("criteria", nargs="*", metavar="CRITERION", help=criteria_help)
    search.add_argument(
        "--format",
        choices=("table", "csv", "jsonl"),
        default="table",
        help="output format (default: %(default)s)",
    )
    search.add_argument("--limit", type=_positive_int, metavar="N", help="stop after N neurons")

    download = command(
        "download", cmd_download, "download the standardized SWC files of the matching neurons"
    )
    download.add_argument("criteria", nargs="+", metavar="CRITERION", help=criteria_help)
    download.add_argument(
        "--out",
        "-o",
        required=True,
        metavar="DIR",
        help="destination directory (created; reruns resume)",
    )
    download.add_argument(
        "--workers",
        type=_positive_int,
        default=4,
        metavar="N",
        help="parallel downloads (default: %(default)s, the site's politeness bound)",
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

    neuron = command("neuron", cmd_neuron, "show one neuron's metadata, by id or by name")
    neuron.add_argument("neuron", metavar="ID|NAME")

    command(
        "doctor",
        cmd_doctor,
        "check Python/OpenSSL and whether this machine needs the TLS workaround",
    )
    demo = command(
        "demo", cmd_demo, "run a real search and download against a built-in offline emulator"
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
    )
    emulator.epilog = EMULATOR_EPILOG
    emulator.formatter_class = argparse.RawDescriptionHelpFormatter
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


def _add_global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
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
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default(False),
        help="no progress bar or summaries",
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.ca_bundle:
        if not os.path.isfile(args.ca_bundle):
            parser.error(f"--ca-bundle {args.ca_bundle!r} is not a file")
        # An explicit bundle must win over session settings, as REQUESTS_CA_BUNDLE does.
        os.environ["REQUESTS_CA_BUNDLE"] = os.path.abspath(args.ca_bundle)

    import requests

    from neuromorpho_api._errors import NeuroMorphoError, UnknownFieldError

    try:
        status: int = args.handler(args)
        return status
    except UsageError as error:
        return _fail(f"{error}", EXIT_USAGE)
    except UnknownFieldError as error:
        hint = f"; did you mean {', '.join(error.suggestions)}?" if error.suggestions else ""
        return _fail(f"unknown field {error.field!r}{hint} (run `neuromorpho fields`)", EXIT_USAGE)
    except KeyboardInterrupt:
        return _fail("interrupted", EXIT_INTERRUPTED)
    except BrokenPipeError:
        # `neuromorpho search ... | head`: the reader left; that is not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except requests.RequestException as error:
        from neuromorpho_api._explain import describe

        url = getattr(error.request, "url", None) or args.base_url
        return _fail(f"{describe(error)[0]} ({url})", EXIT_FAILED)
    except (NeuroMorphoError, OSError, ValueError) as error:
        return _fail(" ".join(str(error).split()) or type(error).__name__, EXIT_FAILED)


def _fail(message: str, status: int) -> int:
    print(f"neuromorpho: error: {message}", file=sys.stderr)
    return status
