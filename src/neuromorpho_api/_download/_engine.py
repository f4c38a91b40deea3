"""The download engine: records in, files out through a pool of workers, a report back.

Workers (``workers`` daemon threads sharing one kept-alive session) each fetch one file at a
time (:mod:`._fetch`). A rerun reads the manifest and skips files whose size (and sha256, with
``verify_existing``) still match. A file present but not in the manifest is never trusted,
however valid it looks (another tool's partial download cut at a line end is valid SWC): it is
downloaded again and renamed over. Records are pulled from the caller's iterable only as
workers free up, so a lazy search of any size is never held in memory.

The calling thread pulls records, collects results and calls ``on_progress``; a
``KeyboardInterrupt`` there (Ctrl-C, or raised by ``on_progress``) stops the workers, deletes
every temporary file, keeps the manifest of what completed, and is re-raised.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Hashable, Iterable, Mapping, Sized
from typing import Any, Callable, Literal

import requests

from neuromorpho_api._adapter import pool_maxsize
from neuromorpho_api._download._fetch import Cancelled, FileFetcher, Job
from neuromorpho_api._download._manifest import MANIFEST_NAME, Manifest
from neuromorpho_api._download._metadata import MetadataWriter
from neuromorpho_api._download._names import SWC_SUFFIX, name_tag, safe_filename, tagged_name
from neuromorpho_api._download._report import (
    DownloadFailure,
    DownloadReport,
    FileResult,
    failed_result,
    format_size,
)
from neuromorpho_api._explain import short
from neuromorpho_api._progress import make_progress
from neuromorpho_api._retry import no_retries
from neuromorpho_api._session import DEFAULT_TIMEOUT, NeuroMorphoSession, TimeoutSpec
from neuromorpho_api._urls import DEFAULT_BASE_URL, normalize_base_url, swc_url

__all__ = ["download", "positive_int"]

logger = logging.getLogger(__name__)

# Temporary files of a run killed without cleanup (power loss, SIGKILL): a live download
# writes at least every read timeout, so an hour without a write means nobody owns it.
STALE_PART_SECONDS = 3600.0
# Records pulled ahead of the workers, per worker. A search loads pages of up to 500 records
# (about 3.5 s each on the real server) in the calling thread; 256 queued files keep 4
# workers busy through such a pause at ~80 files/s, and hold well under a megabyte.
QUEUE_PER_WORKER = 64
_PART_RE = re.compile(r"^\..+\.part-[0-9a-f]{8}$")


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
    ) -> None:
        self.dest = dest
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
        )
        self.jobs: queue.Queue[Job | None] = queue.Queue(maxsize=QUEUE_PER_WORKER * workers)
        self.results: queue.Queue[FileResult] = queue.Queue()
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
        size = pool_maxsize(adapter)
        if size is not None and size < self.workers:
            logger.warning(
                "the session keeps %d connections for %d workers: expect a TLS handshake per "
                "file (build it with NeuroMorphoSession(pool_maxsize=%d))",
                size,
                self.workers,
                self.workers,
            )

    def _prepare(self, record: Mapping[str, Any]) -> Job | FileResult:
        """Turn a record into a job, or into a result when there is nothing to fetch."""
        if not isinstance(record, Mapping):
            label = short(ValueError(repr(record)), 80)
            return failed_result(label, None, "", "", "not a neuron record (a mapping)", {})
        name, archive = record.get("neuron_name"), record.get("archive")
        raw_id = record.get("neuron_id")
        neuron_id = raw_id if isinstance(raw_id, int) and not isinstance(raw_id, bool) else None
        if isinstance(raw_id, str) and raw_id.isdigit():
            neuron_id = int(raw_id)
        if not isinstance(name, str) or not name or not isinstance(archive, str) or not archive:
            label = name if isinstance(name, str) and name else f"neuron {raw_id!r}"
            return failed_result(
                label, neuron_id, "", "", "record has no neuron_name or archive", record
            )
        try:
            url = swc_url(self.base_url, archive, name)
        except (TypeError, ValueError) as error:
            return failed_result(
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
            filename = tagged_name(
                filename[: -len(SWC_SUFFIX)], name_tag(neuron_id, name), SWC_SUFFIX
            )
            owner = self.claims.get(filename.casefold())
            if owner is not None and owner != identity:
                reason = f"its file name {filename!r} collides with another neuron's"
                return failed_result(name, neuron_id, url, "", reason, record)
        path = os.path.join(self.dest, filename)
        if owner == identity:
            return FileResult("skipped", name, neuron_id, url, path, 0, "duplicate record", record)
        self.claims[filename.casefold()] = identity
        # safe_filename guarantees it; checked again because escaping dest must be impossible.
        if os.path.dirname(path) != self.dest or os.path.basename(path) != filename:
            raise AssertionError(f"unsafe file name {filename!r}")
        return Job(name, neuron_id, url, filename, path, record)

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
            self._finish(result, bar, writer)
            block = False

    def _finish(self, result: FileResult, bar: Any, writer: MetadataWriter | None) -> None:
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
        postfix = format_size(report.bytes)
        if report.failed:
            postfix += f", {len(report.failed)} failed"
        bar.set_postfix_str(postfix, refresh=False)
        bar.update(1)
        if self.on_progress is not None:
            self.on_progress(result)

    def _abort(self, writer: MetadataWriter | None) -> None:
        """Stop the workers and delete every temporary file; keep the manifest."""
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
                result = self.fetcher.fetch(job)
            except Cancelled:
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
                )
            if self.stop.is_set():
                return
            self.results.put(result)


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
