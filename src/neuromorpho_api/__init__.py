"""Safe, fast access to NeuroMorpho.Org.

``from neuromorpho_api import requestor as requests`` gives a drop-in for the ``requests`` module
that reaches NeuroMorpho.Org despite its 1024-bit Diffie-Hellman group, lowering the TLS
security level for ``neuromorpho.org`` and ``www.neuromorpho.org`` only, with certificate and
hostname verification always on.

Only the transport (``requestor``, the session, the adapter, the TLS context) and the errors
are imported with the package; the client, the downloader and the rest load on first use
(PEP 562), so ``import neuromorpho_api`` costs little more than ``import requests``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from neuromorpho_api._adapter import NeuroMorphoAdapter
from neuromorpho_api._errors import (
    APIError,
    ArticleNotFound,
    DownloadError,
    NeuroMorphoError,
    NeuronNotFound,
    ServiceUnavailable,
    UnknownFieldError,
    UnknownValueError,
)
from neuromorpho_api._session import DEFAULT_TIMEOUT, NeuroMorphoSession, requestor
from neuromorpho_api._tls import NEUROMORPHO_HOSTS, ssl_context
from neuromorpho_api._version import __version__

if TYPE_CHECKING:
    from neuromorpho_api._client import NeuroMorpho
    from neuromorpho_api._download import (
        DiskFullError,
        DownloadFailure,
        DownloadInterrupted,
        DownloadReport,
        FileResult,
    )
    from neuromorpho_api._mirror import (
        MirrorCorruptError,
        MirrorError,
        MirrorLockedError,
        MirrorVersionError,
        OfflineUnsupportedError,
        StaleMirrorWarning,
        SyncReport,
    )
    from neuromorpho_api._results import SearchResult
    from neuromorpho_api._urls import NeuronFiles

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
    "MirrorCorruptError",
    "MirrorError",
    "MirrorLockedError",
    "MirrorVersionError",
    "NeuroMorpho",
    "NeuroMorphoAdapter",
    "NeuroMorphoError",
    "NeuroMorphoSession",
    "NeuronFiles",
    "NeuronNotFound",
    "OfflineUnsupportedError",
    "SearchResult",
    "ServiceUnavailable",
    "StaleMirrorWarning",
    "SyncReport",
    "UnknownFieldError",
    "UnknownValueError",
    "__version__",
    "requestor",
    "ssl_context",
]

# Public name -> the private module that defines it, imported on first access. Add new lazy
# names here and under TYPE_CHECKING above (for type checkers and IDEs).
_LAZY: dict[str, str] = {
    "NeuroMorpho": "_client",
    "SearchResult": "_results",
    "DownloadReport": "_download",
    "DownloadFailure": "_download",
    "FileResult": "_download",
    "DownloadInterrupted": "_download",
    "DiskFullError": "_download",
    "NeuronFiles": "_urls",
    "SyncReport": "_mirror",
    "MirrorError": "_mirror",
    "MirrorCorruptError": "_mirror",
    "MirrorLockedError": "_mirror",
    "MirrorVersionError": "_mirror",
    "OfflineUnsupportedError": "_mirror",
    "StaleMirrorWarning": "_mirror",
}


def _public(value: Any) -> Any:
    # Tracebacks, reprs and docs show the public name, not the private module.
    if isinstance(value, type) or callable(value):
        value.__module__ = __name__
    return value


for _name in (
    "NeuroMorphoAdapter",
    "NeuroMorphoSession",
    "ssl_context",
    "NeuroMorphoError",
    "NeuronNotFound",
    "UnknownFieldError",
    "UnknownValueError",
    "APIError",
    "ArticleNotFound",
    "ServiceUnavailable",
    "DownloadError",
):
    _public(globals()[_name])
del _name


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = _public(getattr(importlib.import_module(f"{__name__}.{module}"), name))
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
