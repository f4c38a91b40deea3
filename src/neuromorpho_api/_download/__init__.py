"""Bulk SWC downloads that never leave a partial or unverified file under a final name.

The layers, each in its own module, each importing only those listed before it:

- :mod:`._names`: safe local file names for neuron names;
- :mod:`._report`: what a run tells its caller (:class:`FileResult`, :class:`DownloadReport`);
- :mod:`._manifest`: the record of completed files that makes reruns resume;
- :mod:`._metadata`: the optional metadata file of the neurons in the destination;
- :mod:`._fetch`: one file from the server to its final name, with retries;
- :mod:`._engine`: :func:`download`, the workers and the calling thread's loop.
"""

from __future__ import annotations

from neuromorpho_api._download._engine import download
from neuromorpho_api._download._manifest import MANIFEST_NAME
from neuromorpho_api._download._metadata import METADATA_NAMES
from neuromorpho_api._download._names import safe_filename
from neuromorpho_api._download._report import DownloadFailure, DownloadReport, FileResult

__all__ = [
    "MANIFEST_NAME",
    "METADATA_NAMES",
    "DownloadFailure",
    "DownloadReport",
    "FileResult",
    "download",
    "safe_filename",
]
