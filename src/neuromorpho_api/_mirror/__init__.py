"""An offline copy of NeuroMorpho.Org's metadata and morphometry in one SQLite file.

- :func:`sync` brings a mirror file up to date with a :class:`~neuromorpho_api.NeuroMorpho`
  client's server (polite, resumable, atomic for readers, incremental).
- :class:`Mirror` answers the client's query methods from the file, sending no request.

Modules: ``_schema`` (file layout, versioning), ``_records`` (writing rows), ``_sql``
(the mirror's own reading of ``q``/``fq``), ``_store`` (the reader), ``_probe`` (cheap
server questions), ``_sync`` (the sync), ``_merge`` (staging into the live tables),
``_lock`` (one sync per file), ``_paths`` (where the default mirror lives).
"""

from __future__ import annotations

from neuromorpho_api._mirror._errors import (
    MirrorCorruptError,
    MirrorError,
    MirrorLockedError,
    MirrorVersionError,
    OfflineUnsupportedError,
    StaleMirrorWarning,
)
from neuromorpho_api._mirror._store import Mirror
from neuromorpho_api._mirror._sync import SyncReport, sync

__all__ = [
    "Mirror",
    "MirrorCorruptError",
    "MirrorError",
    "MirrorLockedError",
    "MirrorVersionError",
    "OfflineUnsupportedError",
    "StaleMirrorWarning",
    "SyncReport",
    "sync",
]
