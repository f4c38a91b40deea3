"""The download engine: records in, files out through a pool of workers, a report back.

This module is long because the run loop and its stop paths (Ctrl-C, a full disk, a bad
destination) unwind the same workers, manifest and metadata, and read best side by side.

Workers (``workers`` daemon threads sharing one kept-alive session) each fetch one file at a
time (:mod:`._fetch`). A rerun reads the manifest and skips files whose size (and sha256, with
``verify_existing``) still match. A file present but not in the manifest is never trusted,
however valid it looks (another tool's partial download cut at a line end is valid SWC): it is
downloaded again and renamed over. Records are pulled from the caller's iterable only as
workers free up, so a lazy search of any size is never held in memory.

The calling thread pulls records, collects results and calls ``on_progress``; a
``KeyboardInterrupt`` there (Ctrl-C, or raised by ``on_progress``) stops the workers, deletes
every temporary file, keeps the manifest of what completed, writes the metadata of what
completed, and is re-raised as :class:`DownloadInterrupted` carrying the report. A full disk
stops the run the same way, as :class:`DiskFullError`.

The destination is checked (a directory, creatable, writable: a file is created and removed
in it) before the first request; a directory created for a run that kept nothing is removed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import re
import secrets
import threading
import time
import warnings
from collections.abc import Hashable, Iterable, Mapping, Sequence, Sized
from typing import Any, Callable, Literal

import requests

from neuromorpho_api._adapter import pool_maxsize
from neuromorpho_api._download._fetch import Cancelled, DiskFull, FileFetcher, Job
from neuromorpho_api._download._kinds import KINDS, file_suffix, file_url
from neuromorpho_api._download._manifest import MANIFEST_NAME, Manifest, open_no_follow
from neuromorpho_api._download._metadata import MetadataWriter
from neuromorpho_api._download._names import name_tag, safe_filename, tagged_name
from neuromorpho_api._download._report import (
    DiskFullError,
    DownloadFailure,
    DownloadInterrupted,
    DownloadReport,
    FileResult,
    failed_result,
    format_size,
)
from neuromorpho_api._explain import short
from neuromorpho_api._progress import make_progress
from neuromorpho_api._retry import no_retries
from neuromorpho_api._session import DEFAULT_TIMEOUT, NeuroMorphoSession, TimeoutSpec
from neuromorpho_api._urls import DEFAULT_BASE_URL, normalize_base_url

__all__ = [
    "DEFAULT_MAX_SIZE",
    "DEFAULT_TIME_LIMIT",
    "POLITE_WORKERS",
    "check_dest",
    "download",
    "positive_int",
]

logger = logging.getLogger(__name__)

# Temporary files of a run killed without cleanup (power loss, SIGKILL): a live download
# writes at least every read timeout, so an hour without a write means nobody owns it.
STALE_PART_SECONDS = 3600.0
# Records pulled ahead of the workers, per worker. A search loads pages of up to 500 records
# (about 3.5 s each on the real server) in the calling thread; 256 queued files keep 4
# workers busy through such a pause at ~80 files/s, and hold well under a megabyte.
QUEUE_PER_WORKER = 64
_PART_RE = re.compile(r"^\..+\.part-[0-9a-f]{8}$")
# Real SWC files reach tens of MB (whole-brain axons); 256 MiB stops a hostile endless or
# decompression-bomb body long before it fills a disk.
DEFAULT_MAX_SIZE = 256 * 1024 * 1024
# Seconds for one file, from the request to the last byte: 256 MiB at 150 kB/s.
DEFAULT_TIME_LIMIT = 1800.0
# Parallel downloads NeuroMorpho.Org's operators are known to tolerate.
POLITE_WORKERS = 4


class _Downloader:
    """One run of :func:`download`: the calling thread's loop and its worker threads."""

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
        timeout: TimeoutSpec,
        on_progress: Callable[[FileResult], object] | None,
        total: int | None,
        kinds: tuple[str, ...] = ("swc",),
        max_size: int | None = DEFAULT_MAX_SIZE,
        time_limit: float | None = DEFAULT_TIME_LIMIT,
        created: list[str] | None = None,
    ) -> None:
        self.dest = dest
        self.kinds = kinds
        self.created = created or []
        self.base_url = base_url
        self.workers = workers
        self.metadata_format = metadata
        self.on_progress = on_progress
        self.progress_flag = progress
        self.total = total
        self.own_session = session is None
        self.session: requests.Session = (
            session
            if session is not None
            else NeuroMorphoSession(pool_maxsize=workers, retries=no_retries())
        )
        if timeout is None:
            timeout = (
                session.timeout
                if isinstance(session, NeuroMorphoSession) and session.timeout is not None
                else DEFAULT_TIMEOUT
            )
        self.stop = threading.Event()
        self.manifest = Manifest(os.path.join(dest, MANIFEST_NAME))
        self.fetcher = FileFetcher(
            dest,
            session=self.session,
            manifest=self.manifest,
            stop=self.stop,
            attempts=attempts,
            verify_existing=verify_existing,
            timeout=timeout,
            rate_limit=rate_limit,
            max_size=max_size,
            time_limit=time_limit,
        )
        self.jobs: queue.Queue[Job | None] = queue.Queue(maxsize=QUEUE_PER_WORKER * workers)
        self.results: queue.Queue[FileResult | DiskFull] = queue.Queue()
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
            self._remove_created()
            raise
        if self.manifest.replaced_link:
            self.report.warnings.append(
                f"{MANIFEST_NAME} was a symbolic link; it was replaced, not followed"
            )
        if self.manifest.garbage:
            self.report.warnings.append(
                f"{self.manifest.garbage} unreadable line(s) in {MANIFEST_NAME} were skipped"
            )
        total = self.total
        if total is None and isinstance(records, Sized):
            total = len(records)
        if total is not None:
            total *= len(self.kinds)
        bar = make_progress(self.progress_flag, total=total, desc="neuromorpho", unit="file")
        writer = MetadataWriter(self.dest, self.metadata_format) if self.metadata_format else None
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
                for job in self._prepare(record):
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
            if writer is not None and self.report.kept:
                self.report.metadata_file = writer.commit()
        except KeyboardInterrupt as error:
            self._abort(writer, keep_metadata=True)
            self._end(started, bar)
            raise DownloadInterrupted(self.report) from error
        except DiskFull as error:
            self._abort(writer, keep_metadata=True)
            self._end(started, bar)
            raise DiskFullError(error.errno, self.report) from error.error
        except BaseException:
            self._abort(writer)
            self._end(started, bar)
            raise
        if writer is not None:
            writer.discard()
        self._end(started, bar)
        return self.report

    def _end(self, started: float, bar: Any) -> None:
        bar.close()
        self.manifest.close()
        self.fetcher.close()
        if self.own_session:
            self.session.close()
        self.report.seconds = time.monotonic() - started
        if not self.report.kept:
            self._remove_created()

    def _remove_created(self) -> None:
        """Remove the directories this run created, if it left nothing in them."""
        for directory in reversed(self.created):
            try:
                os.rmdir(directory)
            except OSError:
                return

    def _remove_stale_parts(self) -> None:
        if self.created:
            return  # new: nothing stale in it
        now = time.time()
        with os.scandir(self.dest) as entries:
            for entry in entries:
                if _PART_RE.match(entry.name):
                    with contextlib.suppress(OSError):
                        if now - entry.stat(follow_symlinks=False).st_mtime > STALE_PART_SECONDS:
                            os.remove(entry.path)

    def _check_pool(self) -> None:
        adapter = self.session.get_adapter(self.base_url)
        size = pool_maxsize(adapter)
        if size is not None and size < self.workers:
            logger.warning(
                "the session keeps %d connections for %d workers: expect a TLS handshake per "
                "file (build it with NeuroMorphoSession(pool_maxsize=%d))",
                size,
                self.workers,
                self.workers,
            )

    def _prepare(self, record: Mapping[str, Any]) -> list[Job | FileResult]:
        """Turn a record into a job per kind, or into results when there is nothing to fetch."""
        if not isinstance(record, Mapping):
            label = short(ValueError(repr(record)), 80)
            return [failed_result(label, None, "", "", "not a neuron record (a mapping)", {})]
        name, archive = record.get("neuron_name"), record.get("archive")
        raw_id = record.get("neuron_id")
        neuron_id = raw_id if isinstance(raw_id, int) and not isinstance(raw_id, bool) else None
        if isinstance(raw_id, str) and raw_id.isdigit():
            neuron_id = int(raw_id)
        if not isinstance(name, str) or not name or not isinstance(archive, str) or not archive:
            label = name if isinstance(name, str) and name else f"neuron {raw_id!r}"
            return [
                failed_result(
                    label, neuron_id, "", "", "record has no neuron_name or archive", record
                )
            ]
        return [self._prepare_kind(record, name, archive, neuron_id, kind) for kind in self.kinds]

    def _prepare_kind(
        self,
        record: Mapping[str, Any],
        name: str,
        archive: str,
        neuron_id: int | None,
        kind: str,
    ) -> Job | FileResult:
        try:
            suffix = file_suffix(kind, record)
            url = file_url(kind, self.base_url, archive, name, suffix)
        except (TypeError, ValueError) as error:
            return failed_result(
                name, neuron_id, "", "", f"cannot build the file URL: {error}", record, kind
            )
        identity: Hashable = (neuron_id if neuron_id is not None else ("name", name), kind)
        filename = safe_filename(name, suffix)
        owner = self.claims.get(filename.casefold())
        previous = self.manifest.get(filename)
        earlier = previous.neuron_id if previous is not None else None
        if owner is None and earlier is not None and neuron_id not in (None, earlier):
            owner = (earlier, kind)  # an earlier run gave this file name to another neuron
        if owner is not None and owner != identity:
            # Another file has this name (names that differ only in case, or in characters
            # that had to be replaced, or another kind's name): use a name derived from this
            # neuron and kind too.
            tag = name_tag(neuron_id, name) if kind == "swc" else name_tag(neuron_id, name, kind)
            filename = tagged_name(filename[: -len(suffix)], tag, suffix)
            owner = self.claims.get(filename.casefold())
            if owner is not None and owner != identity:
                reason = f"its file name {filename!r} collides with another neuron's"
                return failed_result(name, neuron_id, url, "", reason, record, kind)
        path = os.path.join(self.dest, filename)
        if owner == identity:
            return FileResult(
                "skipped", name, neuron_id, url, path, 0, "duplicate record", record, kind
            )
        self.claims[filename.casefold()] = identity
        # safe_filename guarantees it; checked again because escaping dest must be impossible.
        if os.path.dirname(path) != self.dest or os.path.basename(path) != filename:
            raise AssertionError(f"unsafe file name {filename!r}")
        return Job(name, neuron_id, url, filename, path, record, kind)

    def _put(self, job: Job | None, bar: Any, writer: MetadataWriter | None) -> None:
        if job is not None:
            self.submitted += 1
        while True:
            try:
                self.jobs.put(job, timeout=0.05)
                break
            except queue.Full:
                self._collect(bar, writer, block=False)
        self._collect(bar, writer, block=False)

    def _collect(self, bar: Any, writer: MetadataWriter | None, *, block: bool) -> None:
        while True:
            try:
                result = self.results.get(timeout=0.1) if block else self.results.get_nowait()
            except queue.Empty:
                if block and not any(thread.is_alive() for thread in self.threads):
                    raise RuntimeError("download workers exited unexpectedly") from None
                return
            self.received += 1
            if isinstance(result, DiskFull):
                raise result
            self._finish(result, bar, writer)
            block = False

    def _finish(self, result: FileResult, bar: Any, writer: MetadataWriter | None) -> None:
        self._record(result, writer)
        report = self.report
        postfix = format_size(report.bytes)
        if report.failed:
            postfix += f", {len(report.failed)} failed"
        bar.set_postfix_str(postfix, refresh=False)
        bar.update(1)
        if self.on_progress is not None:
            self.on_progress(result)

    def _record(self, result: FileResult, writer: MetadataWriter | None) -> None:
        report = self.report
        if result.status == "downloaded":
            report.downloaded.append(result.name)
            report.bytes += result.size
            if not result.length_confirmed:
                report.unconfirmed.append(result.name)
        elif result.status == "skipped":
            report.skipped.append(result.name)
        else:
            report.failed.append(
                DownloadFailure(
                    result.name,
                    result.url,
                    result.reason,
                    result.neuron_id,
                    result.path,
                    result.kind,
                )
            )
            logger.info("failed: %s: %s (%s)", result.name, result.reason, result.url)
        if writer is not None and result.status != "failed" and result.reason != "duplicate record":
            kind = None if self.kinds == ("swc",) else result.kind
            writer.add(os.path.basename(result.path), result.record, kind=kind)

    def _abort(self, writer: MetadataWriter | None, *, keep_metadata: bool = False) -> None:
        """Stop the workers and delete every temporary file; keep the manifest.

        With *keep_metadata*, write the metadata of the files that completed.
        """
        self.stop.set()
        try:
            with contextlib.suppress(queue.Empty):
                while True:  # let idle workers see their end at once
                    self.jobs.get_nowait()
            for _ in self.threads:
                with contextlib.suppress(queue.Full):
                    self.jobs.put_nowait(None)
            self.fetcher.remove_temps()
            # Workers blocked in a read are daemon threads: give the others a moment to finish
            # their cleanup, without waiting for a stalled server.
            deadline = time.monotonic() + 1.0
            for thread in self.threads:
                thread.join(max(0.0, deadline - time.monotonic()))
            # Files completed but not yet seen by this thread: on disk, so in the report.
            with contextlib.suppress(queue.Empty):
                while True:
                    result = self.results.get_nowait()
                    if isinstance(result, FileResult) and result.status != "failed":
                        self._record(result, writer)
        finally:
            if writer is not None:
                if keep_metadata and self.report.kept:
                    try:
                        self.report.metadata_file = writer.commit()
                    except OSError as error:  # e.g. the disk is full
                        logger.warning("could not write the metadata file: %s", short(error))
                writer.discard()

    # -- workers --------------------------------------------------------------------------------

    def _work(self) -> None:
        while not self.stop.is_set():
            job = self.jobs.get()
            if job is None:
                return
            result: FileResult | DiskFull
            try:
                result = self.fetcher.fetch(job)
            except Cancelled:
                return
            except DiskFull as full:
                self.stop.set()  # no worker starts another file
                self.results.put(full)
                return
            except BaseException as error:  # a bug must not lose the file silently
                logger.exception("unexpected error while downloading %s", job.url)
                result = failed_result(
                    job.name,
                    job.neuron_id,
                    job.url,
                    job.path,
                    f"internal error: {error!r}",
                    job.record,
                    job.kind,
                )
            # Even when stopping: a file renamed into place must reach the report.
            self.results.put(result)


def check_dest(directory: str) -> list[str]:
    """Make sure files can be written in *directory*: create it if needed, write a file in it.

    Returns:
        The directories created, outermost first (for removal if the run keeps nothing).

    Raises:
        NotADirectoryError: *directory* or one of its parents is a file.
        OSError: it cannot be created or written in (the message says which and why).
    """
    missing: list[str] = []
    existing = directory
    while not os.path.lexists(existing):  # the deepest part of the path that exists
        parent = os.path.dirname(existing)
        if parent == existing:
            break
        missing.append(existing)
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
    created = [path for path in reversed(missing) if os.path.isdir(path)]
    probe = os.path.join(directory, f".neuromorpho-write-test-{secrets.token_hex(4)}")
    try:
        os.close(open_no_follow(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
        os.remove(probe)
    except OSError as error:
        for path in reversed(created):
            with contextlib.suppress(OSError):
                os.rmdir(path)
        reason = error.strerror.lower() if error.strerror else short(error)
        raise type(error)(f"cannot write in {directory}: {reason}") from error
    return created


def positive_int(name: str, value: object) -> int:
    """*value* if it is an int of at least 1, else a :class:`ValueError` naming *name*."""
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
    timeout: TimeoutSpec = None,
    on_progress: Callable[[FileResult], object] | None = None,
    total: int | None = None,
    kinds: Sequence[str] = ("swc",),
    max_size: int | None = DEFAULT_MAX_SIZE,
    time_limit: float | None = DEFAULT_TIME_LIMIT,
) -> DownloadReport:
    """Download the standardized SWC file (or other *kinds*) of every record into *dest*.

    Args:
        records: neuron records (``neuron_name``, ``archive``, ``neuron_id``), e.g. a search;
            pulled lazily, a few ahead of the workers.
        dest: directory for the files, checked (a directory, creatable, writable) before the
            first request and created if needed (removed again if the run keeps nothing).
            Files are named from ``neuron_name`` made safe (:func:`safe_filename`). A file
            already there is skipped only if the manifest of an earlier run lists it with the
            same size (and sha256); any other is downloaded again and replaced.
        session: a requests session shared by the workers; default: a
            :class:`~neuromorpho_api.NeuroMorphoSession` with one kept-alive connection per
            worker (its own retries are off: files are retried here).
        base_url: the site root, e.g. a mirror's.
        workers: parallel downloads; more than 4, the politeness bound for the site's files,
            is allowed with a :class:`UserWarning`.
        rate_limit: at most this many files per second in total (default: no cap).
        attempts: tries per file; connection errors, timeouts, truncated bodies, HTML pages,
            429 and 5xx are retried with backoff honouring ``Retry-After``; 404 is final.
        verify_existing: on a rerun, check files listed in the manifest by sha256 (else by
            size only).
        metadata: also write the metadata of the neurons now in *dest*, as
            ``neuromorpho-metadata.jsonl`` or ``.csv`` (lists joined with ``"; "``); with
            kinds other than ``("swc",)``, one row per file with a ``kind`` column.
        progress: progress bar on stderr; ``None``: only on a terminal or notebook, not in CI.
        timeout: ``(connect, read)`` seconds; default: the session's, else 10 and 60.
        on_progress: called in the calling thread with a :class:`FileResult` per file; an
            exception it raises stops the download like Ctrl-C.
        total: the number of records, for the progress bar when ``len(records)`` fails.
        kinds: which files of each neuron: ``"swc"`` (standardized SWC, checked as SWC),
            ``"original"`` (the upload, ``Source-Version``; extension from
            ``original_format``), ``"standardization_log"`` (``.std``), ``"remaining_issues"``
            (``.CNG.swc.std``), ``"png"`` (the image, checked for the PNG signature). Files
            other than SWC and PNG must be non-empty and not an HTML page.
        max_size: bytes per file, counted after decompression as the body streams (a file
            over it fails); ``None`` lifts the cap.
        time_limit: seconds per file from the request to the last byte (a server that drips
            bytes fails the file); ``None`` lifts the limit.

    Returns:
        What happened to each file. A download whose records are empty keeps nothing and
        creates nothing.

    Raises:
        DownloadInterrupted: Ctrl-C (a :class:`KeyboardInterrupt`); within a second or so,
            partial files removed, the manifest and the metadata of what completed written;
            ``.report`` says what was kept.
        DiskFullError: the destination is full or over quota (an :class:`OSError`); the run
            stops at once, completed files and the manifest stay consistent.
        NotADirectoryError: *dest* or a parent of it is a file.
        OSError: *dest* cannot be created or written in.
        ValueError: an argument is out of range.

    Failures of single files are listed in :attr:`DownloadReport.failed`, never raised. An
    exception raised by *records* itself (a search page that fails) is re-raised once the
    records already handed to the workers are done. Memory use does not grow with the number
    of files beyond a few dozen bytes per record (names for the report and for collisions).
    """
    workers = positive_int("workers", workers)
    attempts = positive_int("attempts", attempts)
    if rate_limit is not None and not rate_limit > 0:
        raise ValueError(
            f"rate_limit must be a positive number of files per second, got {rate_limit!r}"
        )
    if metadata not in (None, "jsonl", "csv"):
        raise ValueError(f"metadata must be 'jsonl', 'csv' or None, got {metadata!r}")
    if isinstance(records, (str, bytes, Mapping)):
        raise TypeError("records must be an iterable of neuron records, not a single record")
    kinds = check_kinds(kinds)
    if max_size is not None:
        max_size = positive_int("max_size", max_size)
    if time_limit is not None and (isinstance(time_limit, bool) or not time_limit > 0):
        raise ValueError(f"time_limit must be a positive number of seconds, got {time_limit!r}")
    base = normalize_base_url(base_url)
    if workers > POLITE_WORKERS:
        warnings.warn(
            f"workers={workers} is above the politeness bound of {POLITE_WORKERS} parallel "
            "downloads for NeuroMorpho.Org; keep such runs short",
            UserWarning,
            stacklevel=2,
        )
    directory = os.path.abspath(os.fspath(dest))
    created = check_dest(directory)
    downloader = _Downloader(
        directory,
        session=session,
        base_url=base,
        workers=workers,
        rate_limit=rate_limit,
        attempts=attempts,
        verify_existing=verify_existing,
        metadata=metadata,
        progress=progress,
        timeout=timeout,
        on_progress=on_progress,
        total=total,
        kinds=kinds,
        max_size=max_size,
        time_limit=time_limit,
        created=created,
    )
    return downloader.run(records)


def check_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    """*kinds* without repeats, in order, or a :class:`ValueError` naming the unknown one."""
    if isinstance(kinds, str):
        kinds = (kinds,)
    chosen = tuple(dict.fromkeys(kinds))
    for kind in chosen:
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; choose from {', '.join(KINDS)}")
    if not chosen:
        raise ValueError("kinds must name at least one kind of file")
    return chosen
