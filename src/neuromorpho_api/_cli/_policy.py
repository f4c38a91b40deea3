"""The command line's error policy: exit statuses, one-line errors, ``--debug``.

Every failure is one line on standard error, never a traceback (``--debug`` or
``NEUROMORPHO_DEBUG=1`` adds it): usage errors exit 2, other failures 1, Ctrl-C 130.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

DEBUG_VARIABLE = "NEUROMORPHO_DEBUG"
"""Set to a non-empty value other than ``0``: tracebacks are printed, as with ``--debug``."""


class UsageError(Exception):
    """A command-line mistake: reported in one line, exit status 2."""


def _debug_requested(args: argparse.Namespace | None) -> bool:
    if args is not None and getattr(args, "debug", False):
        return True
    return os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")


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
    except _errors.UnknownValueError as error:
        # A usage mistake like an unknown field; the shell way to look the values up, not
        # the Python one the exception's own message names.
        hint = (
            f"; did you mean {', '.join(repr(s) for s in error.suggestions)}?"
            if error.suggestions
            else ""
        )
        return _fail(
            f"no neuron has {error.field}={error.value!r}{hint} "
            f"(run `neuromorpho values {error.field}`)",
            EXIT_USAGE,
            debug=debug,
        )
    except requests.RequestException as error:
        from neuromorpho_api._explain import describe

        url = getattr(error.request, "url", None) or args.base_url
        return _fail(f"{describe(error)[0]} ({url})", EXIT_FAILED, debug=debug)
    except (_errors.NeuroMorphoError, OSError, ValueError) as error:
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
