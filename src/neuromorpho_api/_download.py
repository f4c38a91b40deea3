"""Bulk SWC downloads that never leave a partial or unverified file under a final name.

How one file travels: a worker (one of ``workers`` daemon threads sharing one kept-alive
session) streams the body in 64 KiB chunks into ``.{name}.part-{random}`` in the destination,
checking it as it arrives (an SWC sanity check, then the byte count against
``Content-Length``) and hashing it; then it fsyncs the temporary file, renames it into place
with :func:`os.replace` and only then appends a line to the manifest
(``.neuromorpho-manifest.jsonl``). Anything else removes the temporary file.

A rerun reads the manifest and skips files whose size (and sha256, with ``verify_existing``)
still match. A file present but not in the manifest is never trusted, however valid it looks
(another tool's partial download cut at a line end is valid SWC): it is downloaded again and
renamed over. Records are pulled from the caller's iterable only as workers free up, so a lazy
search of any size is never held in memory.

The calling thread pulls records, collects results and calls ``on_progress``; a
``KeyboardInterrupt`` there (Ctrl-C, or raised by ``on_progress``) stops the workers, deletes
every temporary file, keeps the manifest of what completed, and is re-raised.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import email.utils
import hashlib
import json
import logging
import os
import queue
import random
import re
import secrets
import threading
import time
import unicodedata
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sized
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Literal, NamedTuple, Optional, Union

import requests
from urllib3.util.retry import Retry

from neuromorpho_api._errors import DownloadError
from neuromorpho_api._explain import describe, short
from neuromorpho_api._progress import make_progress
from neuromorpho_api._ratelimit import RateLimiter
from neuromorpho_api._session import DEFAULT_TIMEOUT, NeuroMorphoSession
from neuromorpho_api._swc import SWCError, SWCValidator
from neuromorpho_api._urls import DEFAULT_BASE_URL, normalize_base_url, swc_url

__all__ = [
    "MANIFEST_NAME",
    "METADATA_NAMES",
    "DownloadFailure",
    "DownloadReport",
    "FileResult",
    "download",
    "safe_filename",
]

logger = logging.getLogger(__name__)

MANIFEST_NAME = ".neuromorpho-manifest.jsonl"
"""The manifest of completed files, in the destination directory."""
METADATA_NAMES = {"jsonl": "neuromorpho-metadata.jsonl", "csv": "neuromorpho-metadata.csv"}
"""File names of the optional metadata, in the destination directory."""
SWC_SUFFIX = ".CNG.swc"
CHUNK_SIZE = 1 << 16
# File names are at most 255 bytes on common file systems; leave room for ".part-" suffixes.
MAX_NAME_BYTES = 200
BACKOFF_BASE = 0.5
BACKOFF_MAX = 30.0
MAX_RETRY_AFTER = 60.0
"""The longest ``Retry-After`` honoured; a longer one is cut to this."""
# Temporary files of a run killed without cleanup (power loss, SIGKILL): a live download
# writes at least every read timeout, so an hour without a write means nobody owns it.
STALE_PART_SECONDS = 3600.0
# Records pulled ahead of the workers, per worker. A search loads pages of up to 500 records
# (about 3.5 s each on the real server) in the calling thread; 256 queued files keep 4
# workers busy through such a pause at ~80 files/s, and hold well under a megabyte.
QUEUE_PER_WORKER = 64
_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_PART_RE = re.compile(r"^\..+\.part-[0-9a-f]{8}$")

_Timeout = Union[float, tuple[Optional[float], Optional[float]]]
Status = Literal["downloaded", "skipped", "failed"]


def _pause(stop: threading.Event, seconds: float) -> None:
    """Sleep for a retry, waking early on cancellation (tests replace this)."""
    stop.wait(seconds)


# -- file names ---------------------------------------------------------------------------------

# Letters and digits of any script, and a few harmless punctuation marks; everything else
# (path separators, NUL and other controls, ``:*?"<>|``, bidi overrides...) becomes "_".
_UNSAFE_CHARS = re.compile(r"[^\w.+\-()\[\]=,@~ ]")
_WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{port}{digit}" for port in ("COM", "LPT") for digit in "0123456789¹²³"]
)


def _tag(*parts: object) -> str:
    text = "\0".join(str(part) for part in parts)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]


def _truncate_utf8(text: str, limit: int) -> str:
    return text.encode("utf-8", "surrogatepass")[:limit].decode("utf-8", "ignore")


def _with_tag(stem: str, tag: str, suffix: str) -> str:
    budget = MAX_NAME_BYTES - len(suffix.encode()) - len(tag) - 1
    return _truncate_utf8(stem, budget).rstrip(" .") + "-" + tag + suffix


def safe_filename(neuron_name: str, suffix: str = SWC_SUFFIX) -> str:
    """The local file name for a neuron name: a single path component that stays in ``dest``.

    Names that are already safe are kept (``cnic_001`` -> ``cnic_001.CNG.swc``). Otherwise
    unsafe characters become ``_``, leading dots and spaces and trailing dots and spaces go,
    Windows device names get a ``_`` prefix, the result is cut to fit in :data:`MAX_NAME_BYTES`,
    and a hash of the original name is appended, so that two names that were changed into the
    same text still get different files (``a/b`` -> ``a_b-<hash>.CNG.swc``, never ``a_b``).
    """
    if not isinstance(neuron_name, str):
        raise TypeError(f"neuron_name must be a str, not {type(neuron_name).__name__}")
    clean = _UNSAFE_CHARS.sub("_", unicodedata.normalize("NFC", neuron_name)).strip(" .")
    if not clean:
        clean = "_"
    if clean.split(".")[0].rstrip(" ").upper() in _WINDOWS_RESERVED:
        clean = "_" + clean
    budget = MAX_NAME_BYTES - len(suffix.encode())
    if clean != neuron_name or len(clean.encode("utf-8", "surrogatepass")) > budget:
        return _with_tag(clean, _tag(neuron_name), suffix)
    return clean + suffix


# -- results ------------------------------------------------------------------------------------


class FileResult(NamedTuple):
    """What happened to one record (passed to ``on_progress``)."""

    status: Status
    name: str
    """The neuron name, as the server wrote it."""
    neuron_id: int | None
    url: str
    path: str
    """Where the file is (or would have been written)."""
    size: int
    """Bytes written (downloaded) or found (skipped); 0 when failed."""
    reason: str
    """Why it was skipped or failed; empty when downloaded."""
    record: Mapping[str, Any]


@dataclass(frozen=True)
class DownloadFailure:
    """A record whose file could not be downloaded and verified."""

    name: str
    url: str
    reason: str
    neuron_id: int | None = None
    path: str = ""

    def __str__(self) -> str:
        return f"{self.name}: {self.reason}"


@dataclass
class DownloadReport:
    """The outcome of :func:`download`: neuron names by outcome, failures with their reason."""

    dest: str
    downloaded: list[str] = field(default_factory=list)
    """Names of the neurons whose file was fetched by this run."""
    skipped: list[str] = field(default_factory=list)
    """Names of the neurons whose file was already complete in ``dest``."""
    failed: list[DownloadFailure] = field(default_factory=list)
    bytes: int = 0
    """Bytes written by this run."""
    seconds: float = 0.0
    metadata_file: str | None = None

    @property
    def ok(self) -> bool:
        """True when no record failed."""
        return not self.failed

    def raise_for_failures(self) -> None:
        """Raise :class:`~neuromorpho_api.DownloadError` listing the failures, if any."""
        if self.failed:
            lines = "\n".join(f"  {failure}" for failure in self.failed[:20])
            more = f"\n  ... and {len(self.failed) - 20} more" if len(self.failed) > 20 else ""
            raise DownloadError(f"{len(self.failed)} download(s) failed:\n{lines}{more}")

    def __str__(self) -> str:
        text = (
            f"{len(self.downloaded)} downloaded ({_megabytes(self.bytes)}), "
            f"{len(self.skipped)} already complete, {len(self.failed)} failed, "
            f"in {self.seconds:.1f} s"
        )
        if self.failed:
            shown = ", ".join(failure.name for failure in self.failed[:3])
            more = f" and {len(self.failed) - 3} more" if len(self.failed) > 3 else ""
            text += f" (failed: {shown}{more})"
        return text

    def __repr__(self) -> str:
        return (
            f"<DownloadReport {len(self.downloaded)} downloaded, {len(self.skipped)} skipped, "
            f"{len(self.failed)} failed, dest={self.dest!r}>"
        )


def _megabytes(count: int) -> str:
    return f"{count / 1e6:.1f} MB" if count >= 100_000 else f"{count / 1e3:.1f} kB"


# -- the manifest -------------------------------------------------------------------------------


class _Entry(NamedTuple):
    name: str
    size: int
    sha256: str
    neuron_id: int | None


class _Manifest:
    """Append-only JSON lines, one per completed file; the last line for a name wins.

    A torn last line (a crash mid-write) is ignored, and the next append starts on a new line.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.entries: dict[str, _Entry] = {}  # by case-folded file name
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
    def _parse(raw: bytes) -> _Entry | None:
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
        return _Entry(name, size, digest, neuron_id if isinstance(neuron_id, int) else None)

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

    def get(self, filename: str) -> _Entry | None:
        return self.entries.get(filename.casefold())

    def add(self, line: Mapping[str, Any]) -> None:
        text = json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n"
        entry = _Entry(line["name"], line["size"], line["sha256"], line["neuron_id"])
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


# -- metadata -----------------------------------------------------------------------------------


class _MetadataWriter:
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

    def add(self, filename: str, record: Mapping[str, Any]) -> None:
        assert self._file is not None
        row = {"file": filename, **{k: v for k, v in record.items() if k != "_links"}}
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
                    writer.writerow({key: _csv_value(value) for key, value in row.items()})
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


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join("" if item is None else str(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


# -- errors and their descriptions --------------------------------------------------------------


class _Cancelled(Exception):
    """The run is being stopped."""


class _Attempt(Exception):
    """One failed attempt: why, whether another may succeed, and how long to wait first."""

    def __init__(self, reason: str, *, retry: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry
        self.retry_after = retry_after


def _describe(error: BaseException, timeout: tuple[float | None, float | None]) -> _Attempt:
    """A human-readable reason for a transport error, and whether to retry."""
    reason, retry = describe(error, timeout)
    return _Attempt(reason, retry=retry)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return max(0.0, (moment - datetime.datetime.now(datetime.timezone.utc)).total_seconds())


# -- the downloader -----------------------------------------------------------------------------


class _Job(NamedTuple):
    name: str
    neuron_id: int | None
    url: str
    filename: str
    path: str
    record: Mapping[str, Any]


def _no_retries() -> Retry:
    # This module retries whole files itself (with backoff, Retry-After and a fresh temporary
    # file); urllib3 retrying underneath would multiply the attempts.
    return Retry(
        total=None, connect=0, read=0, status=0, other=0, redirect=5, raise_on_status=False
    )


def _timeout_pair(timeout: _Timeout | None) -> tuple[float | None, float | None]:
    if isinstance(timeout, tuple):
        return timeout
    return (timeout, timeout)


class _Downloader:
    def __init__(
        self,
        dest: str,
        *,
        session: requests.Session | None,
        base_url: str,
        workers: int,
        rate_limit: float | None,
        attempts: int,
        verify_existing: bool,
        metadata: Literal["jsonl", "csv"] | None,
        progress: bool | None,
        timeout: _Timeout | None,
        on_progress: Callable[[FileResult], object] | None,
        total: int | None,
    ) -> None:
        self.dest = dest
        self.base_url = base_url
        self.workers = workers
        self.attempts = attempts
        self.verify_existing = verify_existing
        self.metadata_format = metadata
        self.on_progress = on_progress
        self.progress_flag = progress
        self.total = total
        self.own_session = session is None
        self.session: requests.Session = (
            session
            if session is not None
            else NeuroMorphoSession(pool_maxsize=workers, retries=_no_retries())
        )
        if timeout is None:
            timeout = (
                session.timeout
                if isinstance(session, NeuroMorphoSession) and session.timeout is not None
                else DEFAULT_TIMEOUT
            )
        self.timeout: _Timeout = timeout
        self.stop = threading.Event()
        self.limiter = (
            RateLimiter(rate_limit, burst=1, sleep=lambda s: _pause(self.stop, s))
            if rate_limit is not None
            else None
        )
        self.manifest = _Manifest(os.path.join(dest, MANIFEST_NAME))
        self.jobs: queue.Queue[_Job | None] = queue.Queue(maxsize=QUEUE_PER_WORKER * workers)
        self.results: queue.Queue[FileResult] = queue.Queue()
        # Held to create or commit a temporary file, and by the cleanup after an interrupt:
        # once the cleanup has it, no temporary file can appear or be renamed into place.
        self.commit_lock = threading.Lock()
        self.temps: set[str] = set()
        self.resume_at = 0.0  # monotonic time before which no request may start (Retry-After)
        self.gate_lock = threading.Lock()
        self.claims: dict[str, Hashable] = {}
        self.threads: list[threading.Thread] = []
        self.submitted = 0
        self.received = 0
        self.report = DownloadReport(dest)

    # -- main thread ----------------------------------------------------------------------------

    def run(self, records: Iterable[Mapping[str, Any]]) -> DownloadReport:
        started = time.monotonic()
        try:
            self._remove_stale_parts()
            self.manifest.load()
            self._check_pool()
        except BaseException:
            if self.own_session:
                self.session.close()
            raise
        total = self.total
        if total is None and isinstance(records, Sized):
            total = len(records)
        bar = make_progress(self.progress_flag, total=total, desc="neuromorpho", unit="file")
        writer = _MetadataWriter(self.dest, self.metadata_format) if self.metadata_format else None
        try:
            for index in range(self.workers):
                thread = threading.Thread(
                    target=self._work, name=f"neuromorpho-download-{index}", daemon=True
                )
                thread.start()
                self.threads.append(thread)
            iterator = iter(records)
            source_error: Exception | None = None
            while True:
                try:
                    record = next(iterator)
                except StopIteration:
                    break
                except Exception as error:
                    # A failing search (a page that would not load): finish what was handed
                    # out, so it is on disk for the next run, then raise.
                    source_error = error
                    break
                job = self._prepare(record)
                if isinstance(job, FileResult):
                    self._finish(job, bar, writer)
                else:
                    self._put(job, bar, writer)
            for _ in self.threads:
                self._put(None, bar, writer)
            while self.received < self.submitted:
                self._collect(bar, writer, block=True)
            for thread in self.threads:
                thread.join()
            if source_error is not None:
                raise source_error
            if writer is not None:
                self.report.metadata_file = writer.commit()
        except BaseException:
            self._abort(writer)
            raise
        finally:
            bar.close()
            self.manifest.close()
            if self.own_session:
                self.session.close()
            self.report.seconds = time.monotonic() - started
        return self.report

    def _remove_stale_parts(self) -> None:
        now = time.time()
        with os.scandir(self.dest) as entries:
            for entry in entries:
                if _PART_RE.match(entry.name):
                    with contextlib.suppress(OSError):
                        if now - entry.stat(follow_symlinks=False).st_mtime > STALE_PART_SECONDS:
                            os.remove(entry.path)

    def _check_pool(self) -> None:
        adapter = self.session.get_adapter(self.base_url)
        size = getattr(adapter, "_pool_maxsize", None)
        if isinstance(size, int) and size < self.workers:
            logger.warning(
                "the session keeps %d connections for %d workers: expect a TLS handshake per "
                "file (build it with NeuroMorphoSession(pool_maxsize=%d))",
                size,
                self.workers,
                self.workers,
            )

    def _prepare(self, record: Mapping[str, Any]) -> _Job | FileResult:
        """Turn a record into a job, or into a result when there is nothing to fetch."""
        if not isinstance(record, Mapping):
            label = short(ValueError(repr(record)), 80)
            return self._failed(label, None, "", "", "not a neuron record (a mapping)", {})
        name, archive = record.get("neuron_name"), record.get("archive")
        raw_id = record.get("neuron_id")
        neuron_id = raw_id if isinstance(raw_id, int) and not isinstance(raw_id, bool) else None
        if isinstance(raw_id, str) and raw_id.isdigit():
            neuron_id = int(raw_id)
        if not isinstance(name, str) or not name or not isinstance(archive, str) or not archive:
            label = name if isinstance(name, str) and name else f"neuron {raw_id!r}"
            return self._failed(
                label, neuron_id, "", "", "record has no neuron_name or archive", record
            )
        try:
            url = swc_url(self.base_url, archive, name)
        except (TypeError, ValueError) as error:
            return self._failed(
                name, neuron_id, "", "", f"cannot build the file URL: {error}", record
            )
        identity: Hashable = neuron_id if neuron_id is not None else ("name", name)
        filename = safe_filename(name)
        owner = self.claims.get(filename.casefold())
        previous = self.manifest.get(filename)
        earlier = previous.neuron_id if previous is not None else None
        if owner is None and earlier is not None and neuron_id not in (None, earlier):
            owner = earlier  # an earlier run gave this file name to another neuron
        if owner is not None and owner != identity:
            # Another neuron has this file name (names that differ only in case, or in
            # characters that had to be replaced): use a name derived from this neuron too.
            filename = _with_tag(filename[: -len(SWC_SUFFIX)], _tag(neuron_id, name), SWC_SUFFIX)
            owner = self.claims.get(filename.casefold())
            if owner is not None and owner != identity:
                reason = f"its file name {filename!r} collides with another neuron's"
                return self._failed(name, neuron_id, url, "", reason, record)
        path = os.path.join(self.dest, filename)
        if owner == identity:
            return FileResult("skipped", name, neuron_id, url, path, 0, "duplicate record", record)
        self.claims[filename.casefold()] = identity
        # safe_filename guarantees it; checked again because escaping dest must be impossible.
        if os.path.dirname(path) != self.dest or os.path.basename(path) != filename:
            raise AssertionError(f"unsafe file name {filename!r}")
        return _Job(name, neuron_id, url, filename, path, record)

    def _failed(
        self,
        name: str,
        neuron_id: int | None,
        url: str,
        path: str,
        reason: str,
        record: Mapping[str, Any],
    ) -> FileResult:
        return FileResult("failed", name, neuron_id, url, path, 0, reason, record)

    def _put(self, job: _Job | None, bar: Any, writer: _MetadataWriter | None) -> None:
        if job is not None:
            self.submitted += 1
        while True:
            try:
                self.jobs.put(job, timeout=0.05)
                break
            except queue.Full:
                self._collect(bar, writer, block=False)
        self._collect(bar, writer, block=False)

    def _collect(self, bar: Any, writer: _MetadataWriter | None, *, block: bool) -> None:
        while True:
            try:
                result = self.results.get(timeout=0.1) if block else self.results.get_nowait()
            except queue.Empty:
                if block and not any(thread.is_alive() for thread in self.threads):
                    raise RuntimeError("download workers exited unexpectedly") from None
                return
            self.received += 1
            self._finish(result, bar, writer)
            block = False

    def _finish(self, result: FileResult, bar: Any, writer: _MetadataWriter | None) -> None:
        report = self.report
        if result.status == "downloaded":
            report.downloaded.append(result.name)
            report.bytes += result.size
        elif result.status == "skipped":
            report.skipped.append(result.name)
        else:
            report.failed.append(
                DownloadFailure(
                    result.name, result.url, result.reason, result.neuron_id, result.path
                )
            )
            logger.info("failed: %s: %s (%s)", result.name, result.reason, result.url)
        if writer is not None and result.status != "failed" and result.reason != "duplicate record":
            writer.add(os.path.basename(result.path), result.record)
        postfix = _megabytes(report.bytes)
        if report.failed:
            postfix += f", {len(report.failed)} failed"
        bar.set_postfix_str(postfix, refresh=False)
        bar.update(1)
        if self.on_progress is not None:
            self.on_progress(result)

    def _abort(self, writer: _MetadataWriter | None) -> None:
        """Stop the workers and delete every temporary file; keep the manifest."""
        self.stop.set()
        try:
            with contextlib.suppress(queue.Empty):
                while True:  # let idle workers see their end at once
                    self.jobs.get_nowait()
            for _ in self.threads:
                with contextlib.suppress(queue.Full):
                    self.jobs.put_nowait(None)
            with self.commit_lock:
                for temp in list(self.temps):
                    with contextlib.suppress(OSError):
                        os.remove(temp)
                self.temps.clear()
            # Workers blocked in a read are daemon threads: give the others a moment to finish
            # their cleanup, without waiting for a stalled server.
            deadline = time.monotonic() + 1.0
            for thread in self.threads:
                thread.join(max(0.0, deadline - time.monotonic()))
        finally:
            if writer is not None:
                writer.discard()

    # -- workers --------------------------------------------------------------------------------

    def _work(self) -> None:
        while not self.stop.is_set():
            job = self.jobs.get()
            if job is None:
                return
            try:
                result = self._process(job)
            except _Cancelled:
                return
            except BaseException as error:  # a bug must not lose the file silently
                logger.exception("unexpected error while downloading %s", job.url)
                result = self._failed(
                    job.name,
                    job.neuron_id,
                    job.url,
                    job.path,
                    f"internal error: {error!r}",
                    job.record,
                )
            if self.stop.is_set():
                return
            self.results.put(result)

    def _process(self, job: _Job) -> FileResult:
        present = self._existing(job)
        if present is not None:
            return present
        last: _Attempt | None = None
        for attempt in range(1, self.attempts + 1):
            if self.stop.is_set():
                raise _Cancelled
            try:
                size = self._fetch(job)
            except _Attempt as failure:
                last = failure
            else:
                return FileResult(
                    "downloaded", job.name, job.neuron_id, job.url, job.path, size, "", job.record
                )
            if not last.retry or attempt == self.attempts:
                break
            if last.retry_after is not None:
                wait = min(last.retry_after, MAX_RETRY_AFTER)
                with self.gate_lock:
                    # The server asked everyone to wait, not just this request.
                    self.resume_at = max(self.resume_at, time.monotonic() + wait)
            else:
                wait = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (attempt - 1))
                wait *= random.uniform(0.5, 1.0)  # spread the workers' retries apart
                _pause(self.stop, wait)
            logger.info("retrying %s (%s)", job.name, last.reason)
        assert last is not None
        tries = f" (after {self.attempts} attempts)" if last.retry and self.attempts > 1 else ""
        return self._failed(
            job.name, job.neuron_id, job.url, job.path, last.reason + tries, job.record
        )

    def _existing(self, job: _Job) -> FileResult | None:
        """A "skipped" result if the manifest vouches for the file at ``job.path``."""
        try:
            stat = os.lstat(job.path)
        except FileNotFoundError:
            return None
        except OSError as error:
            return self._failed(
                job.name,
                job.neuron_id,
                job.url,
                job.path,
                f"cannot read the existing file: {short(error)}",
                job.record,
            )
        if not _is_regular(stat.st_mode):
            return None  # a symlink or directory planted there is replaced, never followed
        entry = self.manifest.get(job.filename)
        if entry is None:
            # Another tool's file (maybe a partial download cut at a line end, which parses
            # as SWC), or a crash between the rename and the manifest line: nothing says it
            # is complete, so it is fetched again and renamed over.
            logger.info("%s is not in the manifest; fetching it again", job.path)
            return None
        if entry.size != stat.st_size:
            logger.info("%s changed size since it was downloaded; fetching it again", job.path)
            return None
        if not self.verify_existing:
            reason = "already complete (size matches the manifest)"
        elif _sha256_file(job.path, self.stop) == entry.sha256:
            reason = "already complete (sha256 matches the manifest)"
        else:
            logger.info("%s changed since it was downloaded; fetching it again", job.path)
            return None
        return FileResult(
            "skipped",
            job.name,
            job.neuron_id,
            job.url,
            job.path,
            stat.st_size,
            reason,
            job.record,
        )

    def _gate(self) -> None:
        with self.gate_lock:
            delay = self.resume_at - time.monotonic()
        if delay > 0:
            _pause(self.stop, delay)
        if self.limiter is not None:
            self.limiter.acquire()
        if self.stop.is_set():
            raise _Cancelled

    def _fetch(self, job: _Job) -> int:
        """Download ``job.url`` into ``job.path``; return its size or raise :class:`_Attempt`."""
        self._gate()
        timeout = _timeout_pair(self.timeout)
        try:
            response = self.session.get(job.url, stream=True, timeout=self.timeout)
        except requests.exceptions.RequestException as error:
            raise _describe(error, timeout) from error
        with response:
            if response.status_code != 200:
                raise self._bad_status(response)
            try:
                return self._save(job, response)
            except requests.exceptions.RequestException as error:
                raise _describe(error, timeout) from error

    @staticmethod
    def _bad_status(response: requests.Response) -> _Attempt:
        status = response.status_code
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) <= CHUNK_SIZE:
            # Reading a small error body lets the connection be reused.
            with contextlib.suppress(requests.exceptions.RequestException):
                _ = response.content
        label = f"HTTP {status} {response.reason or ''}".rstrip()
        if status in (404, 410):
            return _Attempt(f"not found on the server ({label})", retry=False)
        if status in _RETRY_STATUSES:
            return _Attempt(
                label, retry=True, retry_after=_retry_after(response.headers.get("Retry-After"))
            )
        return _Attempt(label, retry=False)

    def _save(self, job: _Job, response: requests.Response) -> int:
        length = response.headers.get("Content-Length")
        expected = int(length) if length is not None and length.isdigit() else None
        temp, fd = self._new_temp(job)
        try:
            validator = SWCValidator()
            digest = hashlib.sha256()
            size = 0
            with open(fd, "wb") as out:
                for chunk in response.iter_content(CHUNK_SIZE):
                    if self.stop.is_set():
                        raise _Cancelled
                    try:
                        validator.feed(chunk)
                    except SWCError as error:
                        raise _invalid(error) from error
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                received = _raw_bytes(response, size)
                if expected is not None and received != expected:
                    # urllib3 1.26 does not notice a short body by itself; 2.x raises above.
                    raise _Attempt(
                        "connection closed before the end of the file "
                        f"({received} of {expected} bytes)",
                        retry=True,
                    )
                try:
                    validator.finish()
                except SWCError as error:
                    raise _invalid(error) from error
                out.flush()
                os.fsync(out.fileno())
            self._commit(job, temp, size, digest.hexdigest())
            return size
        finally:
            with self.commit_lock:
                self.temps.discard(temp)
            with contextlib.suppress(FileNotFoundError):
                os.remove(temp)

    def _new_temp(self, job: _Job) -> tuple[str, int]:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        with self.commit_lock:
            if self.stop.is_set():
                raise _Cancelled
            while True:
                temp = os.path.join(self.dest, f".{job.filename}.part-{secrets.token_hex(4)}")
                try:
                    fd = os.open(temp, flags, 0o666)  # the umask applies, as for any new file
                except FileExistsError:
                    continue
                except OSError as error:
                    raise _Attempt(f"cannot write in {self.dest}: {error}", retry=False) from error
                self.temps.add(temp)
                return temp, fd

    def _commit(self, job: _Job, temp: str, size: int, sha256: str) -> None:
        with self.commit_lock:
            if self.stop.is_set():
                raise _Cancelled
            try:
                os.replace(temp, job.path)
            except OSError as error:
                raise _Attempt(f"cannot move the file into place: {error}", retry=False) from error
            self.temps.discard(temp)
            self.manifest.add(self._manifest_line(job, size, sha256))

    @staticmethod
    def _manifest_line(job: _Job, size: int, sha256: str) -> dict[str, Any]:
        return {
            "name": job.filename,
            "neuron_name": job.name,
            "neuron_id": job.neuron_id,
            "url": job.url,
            "size": size,
            "sha256": sha256,
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }


def _invalid(error: SWCError) -> _Attempt:
    if error.html:
        return _Attempt("the server sent an HTML page instead of the SWC file", retry=True)
    if error.reason == "empty body":
        return _Attempt("the server sent an empty file", retry=True)
    # The server sent all of it, intact, and it is not SWC: asking again will not help.
    return _Attempt(f"not a valid SWC file ({error})", retry=False)


def _raw_bytes(response: requests.Response, decoded: int) -> int:
    """Body bytes received on the wire (what Content-Length counts, even when compressed)."""
    tell = getattr(response.raw, "tell", None)
    if callable(tell):
        with contextlib.suppress(Exception):
            value = tell()
            if isinstance(value, int):
                return value
    return decoded


def _is_regular(mode: int) -> bool:
    import stat

    return stat.S_ISREG(mode)


def _sha256_file(path: str, stop: threading.Event) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            if stop.is_set():
                raise _Cancelled
            digest.update(chunk)
    return digest.hexdigest()


def _make_dest(directory: str) -> None:
    """Create *directory* if needed, or raise an error that says plainly what is wrong."""
    existing = directory
    while not os.path.lexists(existing):  # the deepest part of the path that exists
        parent = os.path.dirname(existing)
        if parent == existing:
            break
        existing = parent
    if os.path.lexists(existing) and not os.path.isdir(existing):
        raise NotADirectoryError(f"{existing} exists and is not a directory")
    try:
        os.makedirs(directory, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as error:
        # Created by someone else since the check above.
        raise NotADirectoryError(
            f"{error.filename or directory} exists and is not a directory"
        ) from None
    except OSError as error:
        reason = error.strerror.lower() if error.strerror else short(error)
        raise type(error)(f"cannot create the directory {directory}: {reason}") from error


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


# -- entry point --------------------------------------------------------------------------------


def download(
    records: Iterable[Mapping[str, Any]],
    dest: str | os.PathLike[str],
    *,
    session: requests.Session | None = None,
    base_url: str = DEFAULT_BASE_URL,
    workers: int = 4,
    rate_limit: float | None = None,
    attempts: int = 3,
    verify_existing: bool = True,
    metadata: Literal["jsonl", "csv"] | None = None,
    progress: bool | None = None,
    timeout: _Timeout | None = None,
    on_progress: Callable[[FileResult], object] | None = None,
    total: int | None = None,
) -> DownloadReport:
    """Download the standardized SWC file of every record into *dest*; return a report.

    :param records: neuron records (``neuron_name``, ``archive``, ``neuron_id``), e.g. a
        search; pulled lazily, a few ahead of the workers.
    :param dest: directory for the files (created if needed; :class:`NotADirectoryError`
        if it is a file), named from ``neuron_name`` made safe (:func:`safe_filename`). A file
        already there is skipped only if the manifest of an earlier run lists it with the same
        size (and sha256); any other is downloaded again and replaced.
    :param session: a requests session shared by the workers; default: a
        :class:`~neuromorpho_api.NeuroMorphoSession` with one kept-alive connection per worker
        (its own retries are off: files are retried here).
    :param base_url: the site root, e.g. a mirror's.
    :param workers: parallel downloads; 4 is the politeness bound for the site's files.
    :param rate_limit: at most this many files per second in total (default: no cap).
    :param attempts: tries per file; connection errors, timeouts, truncated bodies, HTML pages,
        429 and 5xx are retried with backoff honouring ``Retry-After``; 404 is final.
    :param verify_existing: on a rerun, check files listed in the manifest by sha256 (else by
        size only).
    :param metadata: also write the metadata of the neurons now in *dest*, as
        ``neuromorpho-metadata.jsonl`` or ``.csv`` (lists joined with ``"; "``).
    :param progress: progress bar on stderr; ``None``: only on a terminal or notebook, not in CI.
    :param timeout: ``(connect, read)`` seconds; default: the session's, else 10 and 60.
    :param on_progress: called in the calling thread with a :class:`FileResult` per record;
        an exception it raises stops the download like Ctrl-C.
    :param total: the number of records, for the progress bar when ``len(records)`` fails.

    Failures are listed in :attr:`DownloadReport.failed`, never raised; Ctrl-C stops within
    a second or so, removes partial files, and re-raises :class:`KeyboardInterrupt`. An
    exception raised by *records* itself (a search page that fails) is re-raised once the
    records already handed to the workers are done. Memory use does not grow with the number
    of files beyond a few dozen bytes per record (names for the report and for collisions).
    """
    workers = _positive_int("workers", workers)
    attempts = _positive_int("attempts", attempts)
    if rate_limit is not None and not rate_limit > 0:
        raise ValueError(
            f"rate_limit must be a positive number of files per second, got {rate_limit!r}"
        )
    if metadata not in (None, "jsonl", "csv"):
        raise ValueError(f"metadata must be 'jsonl', 'csv' or None, got {metadata!r}")
    if isinstance(records, (str, bytes, Mapping)):
        raise TypeError("records must be an iterable of neuron records, not a single record")
    directory = os.path.abspath(os.fspath(dest))
    _make_dest(directory)
    downloader = _Downloader(
        directory,
        session=session,
        base_url=normalize_base_url(base_url),
        workers=workers,
        rate_limit=rate_limit,
        attempts=attempts,
        verify_existing=verify_existing,
        metadata=metadata,
        progress=progress,
        timeout=timeout,
        on_progress=on_progress,
        total=total,
    )
    return downloader.run(records)
