"""One file from the server to its final name: the work each download worker does.

This module is long because every check on a body (kind, size, time, length, ``HEAD``) is a
step of one streaming loop whose clean-up rules hold for all of them.

The body is streamed in 64 KiB chunks into ``.{name}.part-{random}`` in the destination,
checked as it arrives (the content check of its kind, a size cap on the decoded bytes, a time
limit for the whole file, then the byte count against ``Content-Length``) and hashed; the
temporary file is then fsynced, renamed into place with :func:`os.replace`, and only then is
the file added to the manifest. Anything else removes the temporary file. A failed attempt says
whether another may succeed; retries follow :mod:`neuromorpho_api._retry`.

A body whose length the server did not state (no ``Content-Length``, not chunked: it ends
when the connection closes) cannot be told from one cut short. It must end as its kind ends
(a line end; a PNG's ``IEND`` chunk), and a ``HEAD`` request is asked for the length; when
neither settles it the file is kept but marked unconfirmed in the manifest, so the next run
fetches it again, and trusts it once two transfers agree.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import hashlib
import logging
import os
import secrets
import socket
import ssl
import stat
import threading
import time
from collections.abc import Mapping
from typing import Any, NamedTuple

import requests

from neuromorpho_api._download._kinds import ContentError, check_for
from neuromorpho_api._download._manifest import Manifest, open_no_follow
from neuromorpho_api._download._report import FileResult, failed_result, format_size
from neuromorpho_api._download._watchdog import Watchdog, monotonic, response_socket
from neuromorpho_api._explain import describe, short
from neuromorpho_api._ratelimit import RateLimiter
from neuromorpho_api._retry import (
    MAX_RETRY_AFTER,
    RETRY_STATUSES,
    backoff_time,
    parse_retry_after,
)
from neuromorpho_api._session import TimeoutSpec

__all__ = ["DISK_FULL", "Cancelled", "DiskFull", "FileFetcher", "Job", "timeout_pair"]

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1 << 16
# Errors that mean the destination cannot take more data: the whole run stops.
DISK_FULL = frozenset(
    code for code in (errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", None)) if code
)
# What a read may raise once the watchdog has shut the socket down, besides requests' errors.
_CONNECTION_ERRORS = (
    requests.exceptions.RequestException,
    socket.timeout,
    ConnectionError,
    ssl.SSLError,
)
_PNG_END = b"IEND\xaeB`\x82"

clock = monotonic
"""The clock of the time limit per file (tests replace it)."""


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
    kind: str = "swc"


class Cancelled(Exception):
    """The run is being stopped."""


class DiskFull(Exception):
    """The destination is full (or over quota, or the file too large for it): stop the run."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.errno = error.errno
        self.error = error


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
        max_size: int | None = None,
        time_limit: float | None = None,
    ) -> None:
        self.dest = dest
        self.max_size = max_size
        self.time_limit = time_limit
        self.watchdog = Watchdog(lambda: clock(), stop)
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
        previous = self.manifest.get(job.filename)
        last: _Attempt | None = None
        for attempt in range(1, self.attempts + 1):
            if self.stop.is_set():
                raise Cancelled
            try:
                size, confirmed = self._fetch(job, previous)
            except _Attempt as failure:
                last = failure
            else:
                return FileResult(
                    "downloaded",
                    job.name,
                    job.neuron_id,
                    job.url,
                    job.path,
                    size,
                    "" if confirmed else "the server did not confirm its length",
                    job.record,
                    job.kind,
                    confirmed,
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
            job.name, job.neuron_id, job.url, job.path, last.reason + tries, job.record, job.kind
        )

    def close(self) -> None:
        """Stop the watchdog thread."""
        self.watchdog.close()

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
                job.kind,
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
        if not entry.confirmed:
            logger.info("%s: its length was never confirmed; fetching it again", job.path)
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
            job.kind,
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

    def _fetch(self, job: Job, previous: Any) -> tuple[int, bool]:
        """Download ``job.url`` into ``job.path``: its size and whether its length was confirmed.

        Raises :class:`_Attempt` when this attempt failed.
        """
        self._gate()
        timeout = timeout_pair(self.timeout)
        deadline = None if self.time_limit is None else clock() + self.time_limit
        try:
            response = self.session.get(job.url, stream=True, timeout=self.timeout)
        except requests.exceptions.RequestException as error:
            raise _describe(error, timeout) from error
        expired = [False]
        with response:
            if response.status_code != 200:
                raise self._bad_status(response)
            if deadline is not None:
                sock = response_socket(response)
                if sock is not None:
                    self.watchdog.watch(id(expired), deadline, sock, expired)
            try:
                return self._save(job, response, previous, deadline, expired)
            except requests.exceptions.ChunkedEncodingError as error:
                if expired[0]:
                    raise self._too_slow() from error
                raise _Attempt(
                    "connection closed before the end of the file (the chunked body was cut short)",
                    retry=True,
                ) from error
            except requests.exceptions.ContentDecodingError as error:
                raise _Attempt(
                    "the server sent a compressed body that does not decompress", retry=True
                ) from error
            except _CONNECTION_ERRORS as error:
                if expired[0]:
                    raise self._too_slow() from error
                raise _describe(error, timeout) from error
            finally:
                self.watchdog.forget(id(expired))

    def _too_slow(self) -> _Attempt:
        return _Attempt(
            f"took longer than the time limit of {self.time_limit:g} s per file (the server "
            "sends too slowly; raise time_limit if the file is that large)",
            retry=False,
        )

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

    def _too_large(self) -> _Attempt:
        assert self.max_size is not None
        return _Attempt(
            f"larger than the limit of {format_size(self.max_size)} per file (max_size)",
            retry=False,
        )

    def _save(
        self,
        job: Job,
        response: requests.Response,
        previous: Any,
        deadline: float | None,
        expired: list[bool],
    ) -> tuple[int, bool]:
        length = response.headers.get("Content-Length")
        expected = int(length) if length is not None and length.isdigit() else None
        # The one check of the length, the same on urllib3 1.26 (which does not check) and 2.x
        # (which would raise its own error), so that the reason is always this one.
        if hasattr(response.raw, "enforce_content_length"):
            response.raw.enforce_content_length = False
        framed = expected is not None or bool(getattr(response.raw, "chunked", False))
        encoded = response.headers.get("Content-Encoding", "identity").strip().lower()
        plain = encoded in ("", "identity")
        if (
            self.max_size is not None
            and expected is not None
            and plain
            and expected > self.max_size
        ):
            raise self._too_large()
        temp, fd = self._new_temp(job)
        try:
            check = check_for(job.kind)
            digest = hashlib.sha256()
            size = 0
            tail = b""
            with open(fd, "wb") as out:
                # Decoded bytes, counted as they come: a small gzip body cannot become a huge file.
                for chunk in response.iter_content(CHUNK_SIZE):
                    if self.stop.is_set():
                        raise Cancelled
                    if deadline is not None and clock() > deadline:
                        expired[0] = True
                        raise self._too_slow()
                    size += len(chunk)
                    if self.max_size is not None and size > self.max_size:
                        raise self._too_large()
                    try:
                        check.feed(chunk)
                    except ContentError as error:
                        raise _invalid(error) from error
                    _write(out, chunk)
                    digest.update(chunk)
                    tail = (tail + chunk)[-len(_PNG_END) :]
                if expired[0]:
                    raise self._too_slow()
                received = _raw_bytes(response, size)
                if expected is not None and received != expected:
                    raise _Attempt(
                        "connection closed before the end of the file "
                        f"({received} of {expected} bytes)",
                        retry=True,
                    )
                if not framed:
                    # Before the content check, which would call a cut last line invalid.
                    self._check_end(job, tail)
                try:
                    check.finish()
                except ContentError as error:
                    raise _invalid(error) from error
                confirmed = framed or self._second_opinion(job, received, previous, digest)
                _sync(out)
            self._commit(job, temp, size, digest.hexdigest(), confirmed)
            return size, confirmed
        finally:
            with self.commit_lock:
                self.temps.discard(temp)
            with contextlib.suppress(FileNotFoundError):
                os.remove(temp)

    @staticmethod
    def _check_end(job: Job, tail: bytes) -> None:
        """A body of unstated length must end as its kind ends, or it was cut."""
        if job.kind == "png" and not tail.endswith(_PNG_END):
            raise _Attempt("connection closed before the end of the image", retry=True)
        if job.kind in ("swc", "standardization_log", "remaining_issues") and not tail.endswith(
            (b"\n", b"\r")
        ):
            raise _Attempt(
                "connection closed before the end of the file (its last line is cut)", retry=True
            )

    def _second_opinion(self, job: Job, received: int, previous: Any, digest: Any) -> bool:
        """For a body of unstated length, ask ``HEAD``; whether the length is confirmed.

        Raises :class:`_Attempt` when the ``HEAD`` length shows it was cut short.
        """
        try:
            with self.session.head(job.url, timeout=self.timeout, allow_redirects=True) as head:
                length = head.headers.get("Content-Length", "") if head.status_code == 200 else ""
        except requests.exceptions.RequestException:
            length = ""
        if length.isdigit():
            if int(length) != received:
                raise _Attempt(
                    "connection closed before the end of the file "
                    f"({received} of {length} bytes, as HEAD says)",
                    retry=True,
                )
            return True
        # Two transfers that agree are as good as a stated length.
        return bool(
            previous is not None
            and not previous.confirmed
            and previous.sha256 == digest.hexdigest()
        )

    def _new_temp(self, job: Job) -> tuple[str, int]:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        with self.commit_lock:
            if self.stop.is_set():
                raise Cancelled
            while True:
                temp = os.path.join(self.dest, f".{job.filename}.part-{secrets.token_hex(4)}")
                try:
                    # O_EXCL never follows a symlink; the umask applies, as for any new file.
                    fd = open_no_follow(temp, flags, 0o666)
                except FileExistsError:
                    continue
                except OSError as error:
                    if error.errno in DISK_FULL:
                        raise DiskFull(error) from error
                    raise _Attempt(f"cannot write in {self.dest}: {error}", retry=False) from error
                self.temps.add(temp)
                return temp, fd

    def _commit(self, job: Job, temp: str, size: int, sha256: str, confirmed: bool) -> None:
        with self.commit_lock:
            if self.stop.is_set():
                raise Cancelled
            try:
                os.replace(temp, job.path)
            except OSError as error:
                raise _Attempt(f"cannot move the file into place: {error}", retry=False) from error
            self.temps.discard(temp)
            try:
                self.manifest.add(self._manifest_line(job, size, sha256, confirmed))
            except OSError as error:
                if error.errno in DISK_FULL:
                    # In place but not in the manifest: the next run fetches it again.
                    raise DiskFull(error) from error
                raise

    @staticmethod
    def _manifest_line(job: Job, size: int, sha256: str, confirmed: bool) -> dict[str, Any]:
        line: dict[str, Any] = {
            "name": job.filename,
            "kind": job.kind,
            "neuron_name": job.name,
            "neuron_id": job.neuron_id,
            "url": job.url,
            "size": size,
            "sha256": sha256,
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }
        if not confirmed:
            line["length_confirmed"] = False
        return line


def _write(out: Any, chunk: bytes) -> None:
    try:
        out.write(chunk)
    except OSError as error:
        if error.errno in DISK_FULL:
            raise DiskFull(error) from error
        raise


def _sync(out: Any) -> None:
    try:
        out.flush()
        os.fsync(out.fileno())
    except OSError as error:
        if error.errno in DISK_FULL:
            raise DiskFull(error) from error
        raise


def _invalid(error: ContentError) -> _Attempt:
    if error.html or error.empty:
        return _Attempt(error.reason, retry=True)
    # The server sent all of it, intact, and it is not what was asked for: asking again will
    # not help.
    return _Attempt(error.reason, retry=False)


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
    with open(open_no_follow(path, os.O_RDONLY), "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            if stop.is_set():
                raise Cancelled
            digest.update(chunk)
    return digest.hexdigest()
