"""The command line's parser: its help texts, the shared option groups, the argument types.

This module is long because every command's options and help text are declared in one
``build_parser``, so the help pages stay consistent and read side by side.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any, Callable, NoReturn, cast

from neuromorpho_api._cli._files import URL_KINDS
from neuromorpho_api._cli._policy import DEBUG_VARIABLE, EXIT_USAGE
from neuromorpho_api._version import __version__

Handler = Callable[[argparse.Namespace], int]
"""A command's handler: the parsed arguments in, the exit status out."""


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


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, without the usage block."""

    def error(self, message: str) -> NoReturn:
        text = " ".join(message.split())
        self.exit(EXIT_USAGE, f"neuromorpho: error: {text} (see {self.prog} --help)\n")


def _examples(*lines: str) -> str:
    return "examples:\n" + "".join(f"  {line}\n" for line in lines)


def build_parser(handlers: Mapping[str, Handler]) -> argparse.ArgumentParser:
    """The whole parser; *handlers* maps each command's name to the function that runs it."""
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
        handler: Handler,
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
        handlers["fields"],
        "list the searchable neuron fields",
        "neuromorpho fields",
        "neuromorpho fields | grep -i region",
    )
    values = command(
        "values",
        handlers["values"],
        "list every value of one field, e.g. species",
        "neuromorpho values species",
        "neuromorpho values brain_region | grep -i hippo",
    )
    values.add_argument("field", metavar="FIELD")

    command(
        "count",
        handlers["count"],
        "count the neurons matching the criteria",
        "neuromorpho count                                  every neuron",
        "neuromorpho count species=rat brain_region=neocortex",
        "neuromorpho count species=rat species=mouse        rat OR mouse",
        parents=[criteria],
    )

    command(
        "search",
        handlers["search"],
        "list the neurons matching the criteria",
        "neuromorpho search species=rat brain_region=neocortex --limit 20",
        'neuromorpho search "brain_region=principal cell layer" --format csv > cells.csv',
        'neuromorpho search "neuron_name=CB_CKp25_*" --format jsonl | head -1',
        details="When nothing matches, standard output stays empty, standard error says\n"
        '"no neurons match" (unless --quiet), and the exit status is 0, as `count` prints 0.',
        parents=[criteria, output, limit],
    )

    download = command(
        "download",
        handlers["download"],
        "download the standardized SWC files of the matching neurons",
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
        handlers["neuron"],
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
        handlers["urls"],
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
        handlers["morphometry"],
        "morphometric measurements of the matching neurons, one row each",
        "neuromorpho morphometry archive=Smith --format csv > smith.csv",
        "neuromorpho --offline morphometry species=rat --format jsonl   from the mirror",
        details="Measurements come 500 neurons per request (about 3 requests for 1,000\n"
        "neurons, not 1,000); neurons without measurements are left out.",
        parents=[criteria, number_rows, limit],
    )
    command(
        "pvec",
        handlers["pvec"],
        "persistence vectors of the matching neurons, one row each",
        "neuromorpho pvec archive=Smith --format csv      one column per coefficient",
        parents=[criteria, number_rows, limit],
    )

    sync = command(
        "sync",
        handlers["sync"],
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
        handlers["doctor"],
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
        handlers["demo"],
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
        handlers["emulator"],
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
