"""The manifest: which files of the destination are complete, by size and sha256.

``.neuromorpho-manifest.jsonl`` in the destination gets a line once a file has been renamed
into place; a rerun trusts a file only if its line is there and its size (and sha256) match.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import threading
from collections.abc import Mapping
from typing import IO, Any, NamedTuple

__all__ = ["MANIFEST_NAME", "Manifest", "ManifestEntry"]

MANIFEST_NAME = ".neuromorpho-manifest.jsonl"
"""The manifest of completed files, in the destination directory."""


class ManifestEntry(NamedTuple):
    """One completed file, as the manifest lists it."""

    name: str
    size: int
    sha256: str
    neuron_id: int | None


class Manifest:
    """Append-only JSON lines, one per completed file; the last line for a name wins.

    A torn last line (a crash mid-write) is ignored, and the next append starts on a new line.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.entries: dict[str, ManifestEntry] = {}  # by case-folded file name
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        self._needs_newline = False
        self._lines = 0

    def load(self) -> None:
        try:
            file = open(self.path, "rb")  # noqa: SIM115 (closed below; absent is normal)
        except FileNotFoundError:
            return
        latest: dict[str, int] = {}  # line number of the entry that counts, by name
        with file:
            last = b"\n"
            for number, raw in enumerate(file):
                last = raw
                self._lines += 1
                entry = self._parse(raw)
                if entry is not None:
                    self.entries[entry.name.casefold()] = entry
                    latest[entry.name.casefold()] = number
        self._needs_newline = not last.endswith(b"\n")
        if self._lines > 2 * len(self.entries) + 1000:
            self._compact(set(latest.values()))

    @staticmethod
    def _parse(raw: bytes) -> ManifestEntry | None:
        try:
            data = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        name, size, digest = data.get("name"), data.get("size"), data.get("sha256")
        neuron_id = data.get("neuron_id")
        if not (isinstance(name, str) and isinstance(size, int) and isinstance(digest, str)):
            return None
        if not re.fullmatch(r"[0-9a-f]{64}", digest) or size < 0:
            return None
        return ManifestEntry(name, size, digest, neuron_id if isinstance(neuron_id, int) else None)

    def _compact(self, keep: set[int]) -> None:
        # Reruns that re-download changed files append new lines; drop the superseded ones.
        temp = f"{self.path}.part-{secrets.token_hex(4)}"
        try:
            with open(self.path, "rb") as source, open(temp, "wb") as out:
                for number, raw in enumerate(source):
                    if number in keep:
                        out.write(raw.rstrip(b"\r\n") + b"\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, self.path)
            self._needs_newline = False
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(temp)

    def get(self, filename: str) -> ManifestEntry | None:
        return self.entries.get(filename.casefold())

    def add(self, line: Mapping[str, Any]) -> None:
        text = json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n"
        entry = ManifestEntry(line["name"], line["size"], line["sha256"], line["neuron_id"])
        with self._lock:
            if self._file is None:
                # backslashreplace writes a lone surrogate as a JSON escape of itself.
                self._file = open(  # noqa: SIM115 (closed in close())
                    self.path, "a", encoding="utf-8", errors="backslashreplace"
                )
            if self._needs_newline:
                text = "\n" + text
                self._needs_newline = False
            # One write per line: appends of whole lines do not interleave.
            self._file.write(text)
            self._file.flush()
            self.entries[entry.name.casefold()] = entry

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
