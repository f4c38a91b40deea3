"""Neuron records written out as JSON lines, CSV or a text table.

Shared by the command line, the demo and the downloader's metadata file, so that a record
reads the same in each: lists joined with ``"; "``, nested objects as JSON, ``None`` empty.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TextIO

__all__ = ["TABLE_COLUMNS", "csv_cell", "write_records"]

TABLE_COLUMNS = ("neuron_id", "neuron_name", "archive", "species", "brain_region", "cell_type")


def csv_cell(value: Any) -> str:
    """A record's value as the text of one CSV or table cell.

    Args:
        value: A value parsed from the API's JSON.

    Returns:
        ``""`` for ``None``, list items joined with ``"; "``, a mapping as JSON, else ``str``.
    """
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(csv_cell(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _records_without_links(records: Iterable[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    for record in records:
        yield {key: value for key, value in record.items() if key != "_links"}


def write_records(records: Iterable[Mapping[str, Any]], fmt: str, out: TextIO) -> int:
    """Stream *records* to *out* as a table, CSV or JSON lines; return how many.

    Args:
        records: Neuron records; their ``_links`` are left out.
        fmt: ``"jsonl"``, ``"csv"`` (columns from the first record; a note on stderr names the
            fields of later records that did not fit) or anything else for a fixed-width table
            of :data:`TABLE_COLUMNS`.
        out: Where to write.

    Returns:
        The number of records written.
    """
    count = 0
    rows = _records_without_links(records)
    if fmt == "jsonl":
        for record in rows:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    elif fmt == "csv":
        writer: csv.DictWriter[str] | None = None
        dropped: set[str] = set()
        for record in rows:
            if writer is None:
                writer = csv.DictWriter(out, fieldnames=list(record), extrasaction="ignore")
                writer.writeheader()
            dropped.update(key for key in record if key not in writer.fieldnames)
            writer.writerow({key: csv_cell(value) for key, value in record.items()})
            count += 1
        if dropped:
            # A CSV header is written once; say what did not fit instead of losing it silently.
            print(
                f"neuromorpho: note: fields missing from the CSV header: {', '.join(sorted(dropped))}"
                " (use --format jsonl to keep every field)",
                file=sys.stderr,
            )
    else:
        widths = (9, 36, 20, 14, 34, 30)
        header = "  ".join(name.ljust(width) for name, width in zip(TABLE_COLUMNS, widths))
        out.write(header.rstrip() + "\n")
        for record in rows:
            cells = []
            for name, width in zip(TABLE_COLUMNS, widths):
                text = csv_cell(record.get(name)).replace("\n", " ")
                cells.append((text[: width - 1] + "…" if len(text) > width else text).ljust(width))
            out.write("  ".join(cells).rstrip() + "\n")
            count += 1
    return count
