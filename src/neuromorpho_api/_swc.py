"""A streaming sanity check of SWC bodies: is this what a download should have produced?

It is not a parser: it answers "is this an SWC file and not an error page, an empty body or
garbage", fast and in constant memory, on chunks as they arrive. What passes:

- comment lines: first non-blank character ``#``; any bytes after it (real headers come in
  latin-1, cp1252, UTF-8 with or without a BOM);
- blank lines, leading or repeated spaces and tabs, LF, CRLF or CR line ends;
- data lines: at least 7 whitespace-separated columns whose first 7 are numbers, the id and
  parent integers (``3`` or ``3.0``), the id positive, the parent ``-1`` or positive; columns
  after the 7th are ignored.

A body with no data line, or any other line, fails with :class:`SWCError` naming the line; so
does one with more than :data:`MAX_COMMENT_BYTES` of comment and blank lines (real headers are a
few kB), which would otherwise let one data line carry an endless body.
"""

from __future__ import annotations

import math
import os
import re
from typing import NoReturn

__all__ = ["MAX_COMMENT_BYTES", "SWCError", "SWCValidator", "check_swc_bytes", "check_swc_file"]

_BOM = b"\xef\xbb\xbf"
# A data line longer than this is not SWC (real ones are < 100 bytes); the limit keeps memory
# flat on a body that never sends a newline. Comment lines are skipped, whatever their length,
# up to MAX_COMMENT_BYTES in all.
MAX_DATA_LINE = 4096
MAX_COMMENT_BYTES = 1 << 20

# The common shape of a valid data line, checked in C; anything else takes the exact path.
_NUMBER = rb"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_FAST_DATA_LINE = re.compile(
    rb"[ \t]*[1-9]\d*"
    + rb"[ \t]+" + rb"[ \t]+".join([_NUMBER] * 5)
    + rb"[ \t]+(?:-1|[1-9]\d*)(?:[ \t].*)?"
)  # fmt: skip


class SWCError(ValueError):
    """The body is not a plausible SWC file."""

    def __init__(self, reason: str, *, line: int | None = None, html: bool = False) -> None:
        self.reason = reason
        self.line = line
        self.html = html
        super().__init__(f"line {line}: {reason}" if line is not None else reason)


def _number(token: bytes) -> float:
    value = float(token)  # float() accepts ASCII bytes; anything else raises ValueError
    if math.isnan(value):
        raise ValueError("nan")
    return value


def _integer(token: bytes) -> int:
    try:
        return int(token)
    except ValueError:
        value = _number(token)
        if not value.is_integer():
            raise
        return int(value)


class SWCValidator:
    """Check an SWC body fed in chunks of any size: ``feed()`` each chunk, then ``finish()``.

    ``feed`` raises :class:`SWCError` as soon as a bad line is complete (so a download can stop
    early); ``finish`` raises if the end is bad or nothing was ever a data line, and returns the
    number of data lines.
    """

    def __init__(self) -> None:
        self.data_lines = 0
        self.size = 0
        self._line = 0  # number of the line being assembled (1-based once started)
        self._pending = b""  # the incomplete current line (only when it is not a comment)
        self._in_comment = False  # the current incomplete line is a comment: drop its bytes
        self._started = False  # the first non-BOM byte has been seen
        self._bom_buffer = b""
        self._after_cr = False  # the last byte seen was a CR ending a line
        self._finished = False
        self.comment_bytes = 0  # bytes of comment and blank lines so far

    def _count_comment(self, size: int) -> None:
        self.comment_bytes += size
        if self.comment_bytes > MAX_COMMENT_BYTES:
            raise SWCError(
                f"more than {MAX_COMMENT_BYTES} bytes of comment and blank lines",
                line=self._line + 1,
            )

    def feed(self, chunk: bytes) -> None:
        """Check the complete lines of *chunk*; keep the incomplete last one for later."""
        if self._finished:
            raise RuntimeError("feed() after finish()")
        self.size += len(chunk)
        if not self._started:
            # The BOM may be split across chunks: hold bytes until we know.
            self._bom_buffer += chunk
            if len(self._bom_buffer) < len(_BOM) and _BOM.startswith(self._bom_buffer):
                return
            chunk, self._bom_buffer = self._bom_buffer, b""
            self._started = True
            if chunk.startswith(_BOM):
                chunk = chunk[len(_BOM) :]
        self._consume(chunk)

    def _consume(self, chunk: bytes) -> None:
        # Line ends: LF, CRLF, or CR alone (old Mac files); a CRLF may straddle two chunks.
        if self._after_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        if not chunk:
            return
        chunk = chunk.replace(b"\r\n", b"\n")
        self._after_cr = chunk.endswith(b"\r")
        lines = chunk.replace(b"\r", b"\n").split(b"\n")
        if len(lines) > 1:
            self._end_line(lines[0])  # it completes the pending line
            fast = _FAST_DATA_LINE.fullmatch
            for index in range(1, len(lines) - 1):
                self._line += 1
                if len(lines[index]) <= MAX_DATA_LINE and fast(lines[index]):
                    self.data_lines += 1
                else:
                    self._check_line(lines[index])
        self._extend(lines[-1])

    def _extend(self, piece: bytes) -> None:
        if not piece:
            return
        if self._in_comment:
            self._count_comment(len(piece))
            return
        if not self._pending and piece.lstrip().startswith(b"#"):
            self._in_comment = True
            self._count_comment(len(piece))
            return
        self._pending += piece
        stripped = self._pending.lstrip()
        if stripped.startswith(b"#"):
            self._in_comment = True
            self._count_comment(len(self._pending))
            self._pending = b""
        elif len(self._pending) > MAX_DATA_LINE:
            self._line += 1
            self._fail(self._pending, "line too long for SWC data")

    def _end_line(self, piece: bytes) -> None:
        self._line += 1
        if self._in_comment:
            self._in_comment = False
            self._count_comment(len(piece) + 1)
            return
        line = self._pending + piece if self._pending else piece
        self._pending = b""
        self._check_line(line)

    def _check_line(self, line: bytes) -> None:
        columns = line.split()
        if not columns or columns[0].startswith(b"#"):
            self._count_comment(len(line) + 1)
            return
        if len(line) > MAX_DATA_LINE:
            self._fail(line, "line too long for SWC data")
        if len(columns) < 7:
            self._fail(line, f"expected at least 7 columns, got {len(columns)}")
        try:
            node = _integer(columns[0])
            _number(columns[1])
            for token in columns[2:6]:
                _number(token)
            parent = _integer(columns[6])
        except ValueError:
            self._fail(line, "the first 7 columns must be numbers (id type x y z radius parent)")
        if node < 1:
            self._fail(line, f"node id must be a positive integer, got {node}")
        if parent < 1 and parent != -1:
            self._fail(line, f"parent must be -1 or a positive id, got {parent}")
        self.data_lines += 1

    def _fail(self, line: bytes, reason: str) -> NoReturn:
        # No SWC line starts with "<"; a first bad line that does is an error or login page.
        if self.data_lines == 0 and line.lstrip().startswith(b"<"):
            raise SWCError("an HTML page, not an SWC file", line=self._line, html=True)
        raise SWCError(reason, line=self._line)

    def finish(self) -> int:
        """Check the last line and the whole; return the number of data lines."""
        if self._finished:
            return self.data_lines
        self._finished = True
        if not self._started:
            # The whole body is shorter than a BOM and a prefix of one: check it as it is.
            self._started = True
            buffered, self._bom_buffer = self._bom_buffer, b""
            self._consume(buffered)
        if self._in_comment:
            self._in_comment = False
            self._line += 1
        elif self._pending:
            self._line += 1
            line, self._pending = self._pending, b""
            self._check_line(line)
        if self.data_lines == 0:
            if self.size == 0:
                raise SWCError("empty body")
            raise SWCError("no data lines (only comments or blank lines)")
        return self.data_lines


def check_swc_bytes(data: bytes) -> int:
    """Check a whole SWC body; return its number of data lines or raise :class:`SWCError`."""
    validator = SWCValidator()
    validator.feed(data)
    return validator.finish()


def check_swc_file(path: str | os.PathLike[str], chunk_size: int = 1 << 16) -> int:
    """Check an SWC file on disk in constant memory; return its number of data lines."""
    validator = SWCValidator()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(chunk_size), b""):
            validator.feed(chunk)
    return validator.finish()
