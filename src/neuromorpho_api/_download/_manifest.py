"""The manifest: which files of the destination are complete, by size and sha256.

``.neuromorpho-manifest.jsonl`` in the destination gets a line once a file has been renamed
into place; a rerun trusts a file only if its line is there and its size (and sha256) match.
The manifest is read line by line with a bound per line, and never through a symlink: a link
planted under its name (to a file outside the destination) is foreign and is replaced.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import secrets
import stat
import threading
from collections.abc import Iterator, Mapping
from typing import IO, Any, NamedTuple

__all__ = ["MANIFEST_NAME", "MAX_LINE_BYTES", "Manifest", "ManifestEntry", "open_no_follow"]

logger = logging.getLogger(__name__)

MANIFEST_NAME = ".neuromorpho-manifest.jsonl"
"""The manifest of completed files, in the destination directory."""
# Our lines are well under 2 kB (a name of at most 200 bytes, its URL, a hash); a longer line
# is garbage and is skipped without being held in memory whole.
MAX_LINE_BYTES = 1 << 16
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class ManifestEntry(NamedTuple):
    """One completed file, as the manifest lists it."""

    name: str
    size: int
    sha256: str
    neuron_id: int | None
    confirmed: bool = True
    """False when the server gave no length for the body: a rerun fetches it again."""


def open_no_follow(path: str, flags: int, mode: int = 0o666) -> int:
    """``os.open`` that refuses a symlink as the last component (``ELOOP``).

    Where ``O_NOFOLLOW`` does not exist (Windows) an ``lstat`` check stands in for it.
    """
    if not _NOFOLLOW:
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISLNK(os.lstat(path).st_mode):
                raise OSError(errno.ELOOP, "is a symbolic link", path)
    return os.open(path, flags | _NOFOLLOW | getattr(os, "O_BINARY", 0), mode)


def bounded_lines(file: IO[bytes], limit: int) -> Iterator[bytes | None]:
    """The lines of *file*; ``None`` for a line longer than *limit*, skipped in chunks."""
    while True:
        line = file.readline(limit + 1)
        if not line:
            return
        if len(line) <= limit:
            yield line
            continue
        while line and not line.endswith(b"\n"):
            line = file.readline(limit)
        yield None


class Manifest:
    """Append-only JSON lines, one per completed file; the last line for a name wins.

    A torn last line (a crash mid-write) is ignored, and the next append starts on a new line.
    Lines that are not ours (too long, not JSON, wrong fields) are skipped and counted in
    :attr:`garbage`.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.entries: dict[str, ManifestEntry] = {}  # by case-folded file name
        self.garbage = 0
        self.replaced_link = False
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        self._needs_newline = False
        self._lines = 0

    def load(self) -> None:
        """Read the manifest, if there is one; replace a symlink planted under its name."""
        try:
            fd = open_no_follow(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return
        except OSError as error:
            if error.errno != errno.ELOOP or not stat.S_ISLNK(os.lstat(self.path).st_mode):
                raise
            # Not ours: never read or append through it. Removing the link leaves its target
            # alone; the files it vouched for are fetched again.
            logger.warning(
                "%s is a symbolic link; replacing it with a manifest of our own", self.path
            )
            os.remove(self.path)
            self.replaced_link = True
            return
        latest: dict[str, int] = {}  # line number of the entry that counts, by name
        with open(fd, "rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                raise OSError(errno.EISDIR, f"{self.path} is not a regular file; move it away")
            last = b"\n"
            for number, raw in enumerate(bounded_lines(file, MAX_LINE_BYTES)):
                self._lines += 1
                entry = self._parse(raw) if raw is not None else None
                last = raw if raw is not None else b"\n"
                if entry is None:
                    if raw is None or raw.strip():
                        self.garbage += 1
                    continue
                self.entries[entry.name.casefold()] = entry
                latest[entry.name.casefold()] = number
        self._needs_newline = not last.endswith(b"\n")
        if self.garbage or self._lines > 2 * len(self.entries) + 1000:
            if self.garbage:
                logger.warning("skipped %d unreadable line(s) in %s", self.garbage, self.path)
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
        return ManifestEntry(
            name,
            size,
            digest,
            neuron_id if isinstance(neuron_id, int) else None,
            data.get("length_confirmed", True) is not False,
        )

    def _compact(self, keep: set[int]) -> None:
        # Reruns that re-download changed files append new lines; drop the superseded ones.
        temp = f"{self.path}.part-{secrets.token_hex(4)}"
        try:
            source_fd = open_no_follow(self.path, os.O_RDONLY)
            out_fd = open_no_follow(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
            with open(source_fd, "rb") as source, open(out_fd, "wb") as out:
                for number, raw in enumerate(bounded_lines(source, MAX_LINE_BYTES)):
                    if number in keep and raw is not None:
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
        entry = ManifestEntry(
            line["name"],
            line["size"],
            line["sha256"],
            line["neuron_id"],
            line.get("length_confirmed", True) is not False,
        )
        with self._lock:
            if self._file is None:
                fd = open_no_follow(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
                # backslashreplace writes a lone surrogate as a JSON escape of itself.
                self._file = open(  # noqa: SIM115 (closed in close())
                    fd, "a", encoding="utf-8", errors="backslashreplace"
                )
            if self._needs_newline:
                text = "\n" + text
            # One write per line: appends of whole lines do not interleave. Until it is on
            # disk whole (a full disk may cut it), the next line must start on a line of its own.
            self._needs_newline = True
            self._file.write(text)
            self._file.flush()
            self._needs_newline = False
            self.entries[entry.name.casefold()] = entry

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                with contextlib.suppress(OSError):  # a full disk: nothing more to lose
                    self._file.close()
                self._file = None
