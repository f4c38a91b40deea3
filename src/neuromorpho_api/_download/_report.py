"""What a download run tells its caller: a result per record, failures, the report."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from neuromorpho_api._errors import DownloadError

__all__ = [
    "DownloadFailure",
    "DownloadReport",
    "FileResult",
    "Status",
    "failed_result",
    "format_size",
]

Status = Literal["downloaded", "skipped", "failed"]


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
            f"{len(self.downloaded)} downloaded ({format_size(self.bytes)}), "
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
) -> FileResult:
    """The result of a record whose file was not written."""
    return FileResult("failed", name, neuron_id, url, path, 0, reason, record)
