"""Errors and warnings of the offline mirror."""

from __future__ import annotations

from neuromorpho_api._errors import NeuroMorphoError

__all__ = [
    "MirrorCorruptError",
    "MirrorError",
    "MirrorLockedError",
    "MirrorVersionError",
    "OfflineUnsupportedError",
    "StaleMirrorWarning",
]

REBUILD_HINT = "rebuild it with `neuromorpho sync --rebuild` (or sync(..., rebuild=True))"


class MirrorError(NeuroMorphoError):
    """A mirror file cannot be used as asked."""


class MirrorCorruptError(MirrorError):
    """The file is not a readable neuromorpho mirror (corrupt, truncated or another program's)."""


class MirrorVersionError(MirrorError):
    """The mirror was written with a schema this version cannot read."""


class MirrorLockedError(MirrorError):
    """Another process is syncing the same mirror."""


class OfflineUnsupportedError(MirrorError, ValueError):
    """A query the mirror cannot answer exactly as the server would; names the clause.

    Also a :class:`ValueError`. Ask the server (a client without ``mirror=``) instead.

    Args:
        clause: The part of the query that cannot be answered.
        reason: Why not.

    Attributes:
        clause (str): The part of the query that cannot be answered.
        reason (str): Why not.
    """

    def __init__(self, clause: str, reason: str) -> None:
        self.clause = clause
        self.reason = reason
        super().__init__(
            f"the mirror cannot answer {clause!r} offline: {reason}; "
            "ask the server (a client without mirror=) for this query"
        )


class StaleMirrorWarning(UserWarning):
    """The mirror's last complete sync is older than 30 days."""
