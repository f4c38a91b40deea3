"""Records written as a table, CSV or JSON lines: shared by the CLI and the demo."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TextIO

__all__ = ["TABLE_COLUMNS", "cell_text", "write_records"]

TABLE_COLUMNS = ("neuron_id", "neuron_name", "archive", "species", "brain_region", "cell_type")


def cell_text(value: Any) -> str:
    """A record value as one CSV or table cell: lists joined with ``"; "``, ``None`` empty."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(cell_text(item) for item in value)
    return str(value)


def _records_without_links(records: Iterable[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    for record in records:
        yield {key: value for key, value in record.items() if key != "_links"}


def write_records(records: Iterable[Mapping[str, Any]], fmt: str, out: TextIO) -> int:
    """Stream *records* to *out* as a table, CSV or JSON lines; return how many."""
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
            writer.writerow({key: cell_text(value) for key, value in record.items()})
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
                text = cell_text(record.get(name)).replace("\n", " ")
                cells.append((text[: width - 1] + "…" if len(text) > width else text).ljust(width))
            out.write("  ".join(cells).rstrip() + "\n")
            count += 1
    return count
