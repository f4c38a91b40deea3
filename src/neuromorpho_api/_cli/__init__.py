"""The ``neuromorpho`` command line (also ``python -m neuromorpho_api``).

The package's modules: ``_policy`` (exit statuses, one-line errors), ``_parser`` (the
parser), ``_commands`` (the query commands) and ``_files`` (downloads, URLs, sync, measurements).

Every failure is one line on standard error, never a traceback (``--debug`` or
``NEUROMORPHO_DEBUG=1`` adds it): usage errors exit 2, other failures 1, Ctrl-C 130.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from neuromorpho_api._cli._commands import (
    Selection as Selection,
)
from neuromorpho_api._cli._commands import (
    cmd_count,
    cmd_demo,
    cmd_doctor,
    cmd_emulator,
    cmd_fields,
    cmd_neuron,
    cmd_search,
    cmd_values,
)
from neuromorpho_api._cli._commands import (
    parse_criteria as parse_criteria,
)
from neuromorpho_api._cli._commands import (
    parse_selection as parse_selection,
)
from neuromorpho_api._cli._files import (
    URL_KINDS as URL_KINDS,
)
from neuromorpho_api._cli._files import (
    cmd_download,
    cmd_morphometry,
    cmd_pvec,
    cmd_sync,
    cmd_urls,
)
from neuromorpho_api._cli._parser import build_parser as _build_parser
from neuromorpho_api._cli._policy import (
    DEBUG_VARIABLE as DEBUG_VARIABLE,
)
from neuromorpho_api._cli._policy import (
    EXIT_FAILED as EXIT_FAILED,
)
from neuromorpho_api._cli._policy import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    _debug_requested,
    _fail,
    _run,
)
from neuromorpho_api._cli._policy import (
    EXIT_USAGE as EXIT_USAGE,
)
from neuromorpho_api._cli._policy import (
    UsageError as UsageError,
)

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser, each command bound to its handler as this module names it
    when the parser is built (so replacing ``cmd_fields`` here replaces the command)."""
    return _build_parser(
        {
            "fields": cmd_fields,
            "values": cmd_values,
            "count": cmd_count,
            "search": cmd_search,
            "download": cmd_download,
            "neuron": cmd_neuron,
            "urls": cmd_urls,
            "morphometry": cmd_morphometry,
            "pvec": cmd_pvec,
            "sync": cmd_sync,
            "doctor": cmd_doctor,
            "demo": cmd_demo,
            "emulator": cmd_emulator,
        }
    )


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
