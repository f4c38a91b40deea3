"""Bulk SWC downloads that never leave a partial or unverified file under a final name.

The layers, each in its own module, each importing only those listed before it:

- :mod:`._names`: safe local file names for neuron names;
- :mod:`._report`: what a run tells its caller (:class:`FileResult`, :class:`DownloadReport`,
  the exceptions that carry it);
- :mod:`._kinds`: the files of a neuron, their names, URLs and content checks;
- :mod:`._manifest`: the record of completed files that makes reruns resume;
- :mod:`._metadata`: the optional metadata file of the neurons in the destination;
- :mod:`._watchdog`: the time limit per file;
- :mod:`._fetch`: one file from the server to its final name, with retries;
- :mod:`._engine`: :func:`download`, the workers and the calling thread's loop.
"""

from __future__ import annotations

from neuromorpho_api._download._engine import (
    DEFAULT_MAX_SIZE,
    DEFAULT_TIME_LIMIT,
    POLITE_WORKERS,
    check_dest,
    check_kinds,
    download,
)
from neuromorpho_api._download._kinds import KINDS
from neuromorpho_api._download._manifest import MANIFEST_NAME
from neuromorpho_api._download._metadata import METADATA_NAMES
from neuromorpho_api._download._names import safe_filename
from neuromorpho_api._download._report import (
    DiskFullError,
    DownloadFailure,
    DownloadInterrupted,
    DownloadReport,
    FileResult,
)

__all__ = [
    "DEFAULT_MAX_SIZE",
    "DEFAULT_TIME_LIMIT",
    "KINDS",
    "MANIFEST_NAME",
    "METADATA_NAMES",
    "POLITE_WORKERS",
    "DiskFullError",
    "DownloadFailure",
    "DownloadInterrupted",
    "DownloadReport",
    "FileResult",
    "check_dest",
    "check_kinds",
    "download",
    "safe_filename",
]
