"""The query commands' handlers (fields, values, count, search, neuron, doctor, demo,
emulator) and what every handler shares: the selection of neurons, the client, the messages."""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from neuromorpho_api._cli._policy import EXIT_FAILED, EXIT_OK, UsageError, _fail
from neuromorpho_api._records import write_records


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
