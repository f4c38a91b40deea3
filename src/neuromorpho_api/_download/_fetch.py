"""One file from the server to its final name: the work each download worker does.

The body is streamed in 64 KiB chunks into ``.{name}.part-{random}`` in the destination,
checked as it arrives (an SWC sanity check, then the byte count against ``Content-Length``)
and hashed; the temporary file is then fsynced, renamed into place with :func:`os.replace`, and
only then is the file added to the manifest. Anything else removes the temporary file. A
failed attempt says whether another may succeed; retries follow :mod:`neuromorpho_api._retry`.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import logging
import os
import secrets
import stat
import threading
import time
from collections.abc import Mapping
from typing import Any, NamedTuple

import requests

from neuromorpho_api._download._manifest import Manifest
from neuromorpho_api._download._report import FileResult, failed_result
from neuromorpho_api._explain import describe, short
from neuromorpho_api._ratelimit import RateLimiter
from neuromorpho_api._retry import (
    MAX_RETRY_AFTER,
    RETRY_STATUSES,
    backoff_time,
    parse_retry_after,
)
from neuromorpho_api._session import TimeoutSpec
from neuromorpho_api._swc import SWCError, SWCValidator

__all__ = ["Cancelled", "FileFetcher", "Job", "timeout_pair"]

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1 << 16


def _pause(stop: threading.Event, seconds: float) -> None:
    """Sleep for a retry, waking early on cancellation (tests replace this)."""
    stop.wait(seconds)


class Job(NamedTuple):
    """A record turned into a file to fetch."""

    name: str
    neuron_id: int | None
    url: str
    filename: str
    path: str
    record: Mapping[str, Any]


class Cancelled(Exception):
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


def timeout_pair(timeout: TimeoutSpec) -> tuple[float | None, float | None]:
    """``(connect, read)`` from a requests timeout."""
    if isinstance(timeout, tuple):
        return timeout
    return (timeout, timeout)


class FileFetcher:
    """Fetches files into *dest* for any number of worker threads sharing one session.

    Setting *stop* cancels every fetch: the next check raises :class:`Cancelled`.
    """

    def __init__(
        self,
        dest: str,
        *,
        session: requests.Session,
        manifest: Manifest,
        stop: threading.Event,
        attempts: int,
        verify_existing: bool,
        timeout: TimeoutSpec,
        rate_limit: float | None,
    ) -> None:
        self.dest = dest
        self.session = session
        self.manifest = manifest
        self.stop = stop
        self.attempts = attempts
        self.verify_existing = verify_existing
        self.timeout = timeout
        self.limiter = (
            RateLimiter(rate_limit, burst=1, sleep=lambda s: _pause(self.stop, s))
            if rate_limit is not None
            else None
        )
        # Held to create or commit a temporary file, and by the cleanup after an interrupt:
        # once the cleanup has it, no temporary file can appear or be renamed into place.
        self.commit_lock = threading.Lock()
        self.temps: set[str] = set()
        self.resume_at = 0.0  # monotonic time before which no request may start (Retry-After)
        self.gate_lock = threading.Lock()

    def remove_temps(self) -> None:
        """Delete every temporary file; none can be created or renamed into place meanwhile."""
        with self.commit_lock:
            for temp in list(self.temps):
                with contextlib.suppress(OSError):
                    os.remove(temp)
            self.temps.clear()

    def fetch(self, job: Job) -> FileResult:
        """The file of *job* in place and in the manifest, or why not."""
        present = self._existing(job)
        if present is not None:
            return present
        last: _Attempt | None = None
        for attempt in range(1, self.attempts + 1):
            if self.stop.is_set():
                raise Cancelled
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
                _pause(self.stop, backoff_time(attempt))
            logger.info("retrying %s (%s)", job.name, last.reason)
        assert last is not None
        tries = f" (after {self.attempts} attempts)" if last.retry and self.attempts > 1 else ""
        return failed_result(
            job.name, job.neuron_id, job.url, job.path, last.reason + tries, job.record
        )

    def _existing(self, job: Job) -> FileResult | None:
        """A "skipped" result if the manifest vouches for the file at ``job.path``."""
        try:
            stat = os.lstat(job.path)
        except FileNotFoundError:
            return None
        except OSError as error:
            return failed_result(
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
            raise Cancelled

    def _fetch(self, job: Job) -> int:
        """Download ``job.url`` into ``job.path``; return its size or raise :class:`_Attempt`."""
        self._gate()
        timeout = timeout_pair(self.timeout)
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
        if status in RETRY_STATUSES:
            return _Attempt(
                label,
                retry=True,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        return _Attempt(label, retry=False)

    def _save(self, job: Job, response: requests.Response) -> int:
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
                        raise Cancelled
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

    def _new_temp(self, job: Job) -> tuple[str, int]:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        with self.commit_lock:
            if self.stop.is_set():
                raise Cancelled
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

    def _commit(self, job: Job, temp: str, size: int, sha256: str) -> None:
        with self.commit_lock:
            if self.stop.is_set():
                raise Cancelled
            try:
                os.replace(temp, job.path)
            except OSError as error:
                raise _Attempt(f"cannot move the file into place: {error}", retry=False) from error
            self.temps.discard(temp)
            self.manifest.add(self._manifest_line(job, size, sha256))

    @staticmethod
    def _manifest_line(job: Job, size: int, sha256: str) -> dict[str, Any]:
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
    return stat.S_ISREG(mode)


def _sha256_file(path: str, stop: threading.Event) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            if stop.is_set():
                raise Cancelled
            digest.update(chunk)
    return digest.hexdigest()
