"""What a download run tells its caller: a result per record, failures, the report."""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from neuromorpho_api._errors import DownloadError

__all__ = [
    "DiskFullError",
    "DownloadFailure",
    "DownloadInterrupted",
    "DownloadReport",
    "FileResult",
    "Status",
    "failed_result",
    "format_size",
]

Status = Literal["downloaded", "skipped", "failed"]


class FileResult(NamedTuple):
    """What happened to one file of one record: what ``on_progress`` receives.

    One per file, in completion order, to the ``on_progress`` callback of
    :meth:`NeuroMorpho.download`; a named tuple.

    Attributes:
        status (str): ``"downloaded"``, ``"skipped"`` (already complete) or ``"failed"``.
        name (str): The neuron name, as the server wrote it.
        neuron_id (int | None): The neuron id, if the record has one.
        url (str): The URL fetched (or that would have been).
        path (str): Where the file is (or would have been written).
        size (int): Bytes written (downloaded) or found (skipped); 0 when failed.
        reason (str): Why it was skipped or failed; empty when downloaded with a confirmed
            length.
        record (Mapping[str, Any]): The record it was made from.
        kind (str): Which of the neuron's files: ``swc``, ``original``,
            ``standardization_log``, ``remaining_issues`` or ``png``.
        length_confirmed (bool): ``False`` when the server did not state the body's length
            (a rerun checks it again).
    """

    status: Status
    name: str
    neuron_id: int | None
    url: str
    path: str
    size: int
    reason: str
    record: Mapping[str, Any]
    kind: str = "swc"
    length_confirmed: bool = True


@dataclass(frozen=True)
class DownloadFailure:
    """A record whose file could not be downloaded and verified.

    Attributes:
        name (str): The neuron name, as the server wrote it.
        url (str): The URL that was tried.
        reason (str): Why it failed, in words.
        neuron_id (int | None): The neuron id, if the record has one.
        path (str): Where the file would have been written.
        kind (str): Which of the neuron's files (``swc``, ``png``, ...).
    """

    name: str
    url: str
    reason: str
    neuron_id: int | None = None
    path: str = ""
    kind: str = "swc"

    def __str__(self) -> str:
        label = self.name if self.kind == "swc" else f"{self.name} ({self.kind})"
        return f"{label}: {self.reason}"


@dataclass
class DownloadReport:
    """The outcome of :meth:`NeuroMorpho.download`: neuron names by outcome, failures with why.

    A download never raises for files that failed; it lists them here. With several
    ``kinds``, a neuron is listed once per file.

    Attributes:
        dest (str): The destination directory.
        downloaded (list[str]): Names of the neurons whose file was fetched by this run.
        skipped (list[str]): Names of the neurons whose file was already complete in
            ``dest``.
        failed (list[DownloadFailure]): The records whose file could not be downloaded and
            verified, with the reason.
        bytes (int): Bytes written by this run.
        seconds (float): How long the run took.
        metadata_file (str | None): The metadata file written (with ``metadata=``), if any.
        unconfirmed (list[str]): Names of downloaded neurons whose file length the server
            did not state: kept, and fetched again by the next run to confirm it.
        warnings (list[str]): Things to know that are not failures (e.g. a damaged
            manifest).
    """

    dest: str
    downloaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[DownloadFailure] = field(default_factory=list)
    bytes: int = 0
    seconds: float = 0.0
    metadata_file: str | None = None
    unconfirmed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def kept(self) -> int:
        """Files complete in ``dest`` after this run: downloaded or already there."""
        return len(self.downloaded) + len(self.skipped)

    @property
    def ok(self) -> bool:
        """True when no record failed."""
        return not self.failed

    def raise_for_failures(self) -> None:
        """Raise if any record failed; do nothing otherwise.

        Raises:
            DownloadError: Some files failed; the message lists up to 20 of them.
        """
        if self.failed:
            lines = "\n".join(f"  {failure}" for failure in self.failed[:20])
            more = f"\n  ... and {len(self.failed) - 20} more" if len(self.failed) > 20 else ""
            raise DownloadError(f"{len(self.failed)} download(s) failed:\n{lines}{more}")

    def __str__(self) -> str:
        text = (
            f"{len(self.downloaded)} downloaded ({format_size(self.bytes)}), "
            f"{len(self.skipped)} already complete, {len(self.failed)} failed, "
            f"in {self.seconds:.1f} s"
        )
        if self.failed:
            shown = ", ".join(failure.name for failure in self.failed[:3])
            more = f" and {len(self.failed) - 3} more" if len(self.failed) > 3 else ""
            text += f" (failed: {shown}{more})"
        if self.unconfirmed:
            text += (
                f"; {len(self.unconfirmed)} accepted without a length from the server "
                "(a rerun checks them again)"
            )
        return text

    def __repr__(self) -> str:
        return (
            f"<DownloadReport {len(self.downloaded)} downloaded, {len(self.skipped)} skipped, "
            f"{len(self.failed)} failed, dest={self.dest!r}>"
        )

    def _repr_html_(self) -> str:
        """The summary and the failures, as a notebook shows them."""
        esc = html.escape
        parts = [f"<p><b>DownloadReport</b> <code>{esc(self.dest)}</code>: {esc(str(self))}</p>"]
        if self.warnings:
            items = "".join(f"<li>{esc(warning)}</li>" for warning in self.warnings)
            parts.append(f"<ul>{items}</ul>")
        if self.failed:
            shown = self.failed[:_HTML_ROWS]
            rows = "".join(
                f"<tr><td>{esc(f.name)}</td><td>{esc(f.kind)}</td><td>{esc(f.reason)}</td>"
                f"<td><code>{esc(f.url)}</code></td></tr>"
                for f in shown
            )
            parts.append(
                "<table><thead><tr><th>failed</th><th>kind</th><th>reason</th><th>URL</th>"
                f"</tr></thead><tbody>{rows}</tbody></table>"
            )
            if len(self.failed) > _HTML_ROWS:
                parts.append(f"<p>... and {len(self.failed) - _HTML_ROWS} more failures</p>")
        return "\n".join(parts)


_HTML_ROWS = 50


class DownloadInterrupted(KeyboardInterrupt):
    """Ctrl-C (or ``on_progress`` raising ``KeyboardInterrupt``) stopped a download.

    A :class:`KeyboardInterrupt`, so ``except KeyboardInterrupt`` still catches it; what
    completed before is in :attr:`report` (and on disk, in the manifest: a rerun resumes).

    Args:
        report: What the run completed before it stopped.

    Attributes:
        report (DownloadReport): What the run completed before it stopped.
    """

    def __init__(self, report: DownloadReport) -> None:
        super().__init__(
            f"interrupted: {report.kept} file(s) kept in {report.dest}; rerun to resume"
        )
        self.report = report


class DiskFullError(OSError):
    """The destination ran out of space (or quota, or maximum file size): the run stopped.

    Every file listed in :attr:`report` is complete and in the manifest: a rerun resumes.
    An :class:`OSError` with the original ``errno``.

    Args:
        code: The ``errno`` (``ENOSPC``, ``EDQUOT``, ``EFBIG``), if known.
        report: What the run completed before it stopped.

    Attributes:
        report (DownloadReport): What the run completed before it stopped.
    """

    def __init__(self, code: int | None, report: DownloadReport) -> None:
        message = f"no space left on {report.dest}: {report.kept} files kept, rerun to resume"
        super().__init__(code, message, report.dest)
        self.report = report

    def __str__(self) -> str:
        return str(self.strerror)


def format_size(count: int) -> str:
    """*count* bytes in kB or MB, for people."""
    return f"{count / 1e6:.1f} MB" if count >= 100_000 else f"{count / 1e3:.1f} kB"


def failed_result(
    name: str,
    neuron_id: int | None,
    url: str,
    path: str,
    reason: str,
    record: Mapping[str, Any],
    kind: str = "swc",
) -> FileResult:
    """The result of a record whose file was not written."""
    return FileResult("failed", name, neuron_id, url, path, 0, reason, record, kind)
