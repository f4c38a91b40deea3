"""Safe, fast access to NeuroMorpho.Org.

``from neuromorpho_api import requestor as requests`` gives a drop-in for the ``requests`` module
that reaches NeuroMorpho.Org despite its 1024-bit Diffie-Hellman group, lowering the TLS
security level for ``neuromorpho.org`` and ``www.neuromorpho.org`` only, with certificate and
hostname verification always on.
"""

from __future__ import annotations

from neuromorpho_api._adapter import NeuroMorphoAdapter
from neuromorpho_api._client import NeuroMorpho
from neuromorpho_api._download import (
    DiskFullError,
    DownloadFailure,
    DownloadInterrupted,
    DownloadReport,
    FileResult,
)
from neuromorpho_api._errors import (
    APIError,
    ArticleNotFound,
    DownloadError,
    NeuroMorphoError,
    NeuronNotFound,
    ServiceUnavailable,
    UnknownFieldError,
)
from neuromorpho_api._session import DEFAULT_TIMEOUT, NeuroMorphoSession, requestor
from neuromorpho_api._tls import NEUROMORPHO_HOSTS, ssl_context
from neuromorpho_api._urls import NeuronFiles
from neuromorpho_api._version import __version__

__all__ = [
    "DEFAULT_TIMEOUT",
    "NEUROMORPHO_HOSTS",
    "APIError",
    "ArticleNotFound",
    "DiskFullError",
    "DownloadError",
    "DownloadFailure",
    "DownloadInterrupted",
    "DownloadReport",
    "FileResult",
    "NeuroMorpho",
    "NeuroMorphoAdapter",
    "NeuroMorphoError",
    "NeuroMorphoSession",
    "NeuronFiles",
    "NeuronNotFound",
    "ServiceUnavailable",
    "UnknownFieldError",
    "__version__",
    "requestor",
    "ssl_context",
]

for _name in (
    "NeuroMorpho",
    "NeuronFiles",
    "DownloadReport",
    "DownloadFailure",
    "DownloadInterrupted",
    "DiskFullError",
    "FileResult",
    "NeuroMorphoAdapter",
    "NeuroMorphoSession",
    "ssl_context",
    "NeuroMorphoError",
    "NeuronNotFound",
    "UnknownFieldError",
    "APIError",
    "ArticleNotFound",
    "ServiceUnavailable",
    "DownloadError",
):
    # Tracebacks and reprs show the public name, not the private module.
    globals()[_name].__module__ = __name__
del _name
