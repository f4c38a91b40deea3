"""The files a neuron has, as download kinds: where each lives, its local name, its check.

=======================  ==========================================  ===========================
kind                     local file (server's name)                  check while it streams
=======================  ==========================================  ===========================
``swc``                  ``{name}.CNG.swc``                          SWC content
``original``             ``{name}.{ext}`` (``ext`` from the format)  non-empty, not an HTML page
``standardization_log``  ``{name}.std``                              non-empty, not an HTML page
``remaining_issues``     ``{name}.CNG.swc.std``                      non-empty, not an HTML page
``png``                  ``{name}.png``                              the PNG signature
=======================  ==========================================  ===========================
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol

from neuromorpho_api._swc import SWCError, SWCValidator
from neuromorpho_api._urls import (
    original_extension,
    png_url,
    remaining_issues_url,
    source_version_url,
    standardization_log_url,
    swc_url,
)

__all__ = ["KINDS", "ContentCheck", "ContentError", "check_for", "file_suffix", "file_url"]

KINDS = ("swc", "original", "standardization_log", "remaining_issues", "png")
"""Every kind of file :func:`~neuromorpho_api._download.download` can fetch."""

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_HTML_START = re.compile(rb"\s*<(?:!doctype\s+html|html|head|body|title)\b", re.IGNORECASE)
# Extensions are built from server data: allow only what a format name really gives.
_SAFE_EXTENSION = re.compile(r"[A-Za-z0-9]{1,10}(?:\.[A-Za-z0-9]{1,10}){0,2}")


class ContentError(ValueError):
    """The body is not the kind of file asked for."""

    def __init__(self, reason: str, *, html: bool = False, empty: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.html = html
        self.empty = empty


class ContentCheck(Protocol):
    """A check fed the body in chunks: ``feed()`` each, then ``finish()``."""

    def feed(self, chunk: bytes) -> None: ...

    def finish(self) -> object: ...


class _SWCCheck:
    def __init__(self) -> None:
        self._validator = SWCValidator()

    def feed(self, chunk: bytes) -> None:
        try:
            self._validator.feed(chunk)
        except SWCError as error:
            raise _from_swc(error) from error

    def finish(self) -> int:
        try:
            return self._validator.finish()
        except SWCError as error:
            raise _from_swc(error) from error


def _from_swc(error: SWCError) -> ContentError:
    if error.html:
        return ContentError("the server sent an HTML page instead of the SWC file", html=True)
    if error.reason == "empty body":
        return ContentError("the server sent an empty file", empty=True)
    return ContentError(f"not a valid SWC file ({error})")


class _HeadCheck:
    """Checks the first bytes: held until there are enough to decide."""

    NEED = 512

    def __init__(self, what: str) -> None:
        self.what = what
        self._head = b""
        self._done = False

    def feed(self, chunk: bytes) -> None:
        if self._done:
            return
        self._head += chunk
        if len(self._head) >= self.NEED:
            self._decide()

    def finish(self) -> None:
        if not self._done:
            self._decide()

    def _decide(self) -> None:
        self._done = True
        head = self._head.lstrip(b"\xef\xbb\xbf")
        if not head.strip():
            raise ContentError("the server sent an empty file", empty=True)
        if _HTML_START.match(head):
            raise ContentError(
                f"the server sent an HTML page instead of the {self.what}", html=True
            )
        self._check(head)

    def _check(self, head: bytes) -> None:
        pass


class _PNGCheck(_HeadCheck):
    NEED = len(_PNG_SIGNATURE)

    def _check(self, head: bytes) -> None:
        if not self._head.startswith(_PNG_SIGNATURE):
            raise ContentError("not a PNG image (no PNG signature)")


_WHAT = {
    "original": "original file",
    "standardization_log": "standardization log",
    "remaining_issues": "remaining-issues file",
    "png": "image",
}


def check_for(kind: str) -> ContentCheck:
    """A fresh content check for a file of *kind*."""
    if kind == "swc":
        return _SWCCheck()
    if kind == "png":
        return _PNGCheck(_WHAT[kind])
    return _HeadCheck(_WHAT[kind])


def file_suffix(kind: str, record: Mapping[str, Any]) -> str:
    """The local (and server) file name suffix of *kind* for *record*.

    Raises:
        ValueError: the record's ``original_format`` gives no usable extension.
    """
    if kind == "swc":
        return ".CNG.swc"
    if kind == "standardization_log":
        return ".std"
    if kind == "remaining_issues":
        return ".CNG.swc.std"
    if kind == "png":
        return ".png"
    fmt = record.get("original_format")
    ext = original_extension(fmt if isinstance(fmt, str) else None)
    if ext is None or not _SAFE_EXTENSION.fullmatch(ext):
        raise ValueError(f"no file extension known for original_format {fmt!r}")
    return "." + ext


def file_url(kind: str, base: str, archive: str, name: str, suffix: str) -> str:
    """The URL of the file of *kind* (*suffix* from :func:`file_suffix`)."""
    if kind == "swc":
        return swc_url(base, archive, name)
    if kind == "standardization_log":
        return standardization_log_url(base, archive, name)
    if kind == "remaining_issues":
        return remaining_issues_url(base, archive, name)
    if kind == "png":
        return png_url(base, archive, name)
    return source_version_url(base, archive, name, suffix[1:])
