"""The optional metadata file of a download: one row per neuron whose file is in ``dest``."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import secrets
from collections.abc import Iterator, Mapping
from typing import IO, Any, Literal

from neuromorpho_api._records import csv_cell

__all__ = ["METADATA_NAMES", "MetadataWriter"]

METADATA_NAMES = {"jsonl": "neuromorpho-metadata.jsonl", "csv": "neuromorpho-metadata.csv"}
"""File names of the optional metadata, in the destination directory."""


class MetadataWriter:
    """Metadata of the neurons whose file is in ``dest``, replaced atomically at the end.

    Rows go to a temporary JSON-lines file as results arrive (memory stays flat); CSV is made
    from it at the end, with the union of the keys as columns, in first-seen order.
    """

    def __init__(self, dest: str, fmt: Literal["jsonl", "csv"]) -> None:
        self.fmt = fmt
        self.path = os.path.join(dest, METADATA_NAMES[fmt])
        self._rows = os.path.join(dest, f".{METADATA_NAMES['jsonl']}.part-{secrets.token_hex(4)}")
        self._file: IO[str] | None = open(  # noqa: SIM115 (closed in commit() or discard())
            self._rows, "x", encoding="utf-8", errors="backslashreplace"
        )

    def add(self, filename: str, record: Mapping[str, Any], *, kind: str | None = None) -> None:
        assert self._file is not None
        row: dict[str, Any] = {"file": filename}
        if kind is not None:
            row["kind"] = kind
        row.update((k, v) for k, v in record.items() if k not in ("_links", "file", "kind"))
        self._file.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")

    def commit(self) -> str:
        assert self._file is not None
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        if self.fmt == "jsonl":
            os.replace(self._rows, self.path)
            return self.path
        temp = f"{os.path.dirname(self.path)}/.{METADATA_NAMES['csv']}.part-{secrets.token_hex(4)}"
        try:
            columns: dict[str, None] = {}
            for row in self._read_rows():
                columns.update(dict.fromkeys(row))
            with open(temp, "x", encoding="utf-8", errors="replace", newline="") as out:
                writer = csv.DictWriter(out, fieldnames=list(columns), restval="")
                writer.writeheader()
                for row in self._read_rows():
                    writer.writerow({key: csv_cell(value) for key, value in row.items()})
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, self.path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(temp)
            self.discard()
        return self.path

    def _read_rows(self) -> Iterator[dict[str, Any]]:
        with open(self._rows, encoding="utf-8") as rows:
            for line in rows:
                yield json.loads(line)

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        with contextlib.suppress(FileNotFoundError):
            os.remove(self._rows)
