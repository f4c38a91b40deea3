"""Build NeuroMorpho.Org URLs from a configurable site root. Pure functions, no I/O.

The ``_links`` found in API responses are never used: the server writes them with
``http://`` whatever the request used, which costs a redirect and a second TLS connection.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Union
from urllib.parse import quote, urlsplit

__all__ = [
    "DEFAULT_BASE_URL",
    "NeuronFiles",
    "api_url",
    "neuron_files",
    "normalize_base_url",
    "original_url",
    "png_url",
    "remaining_issues_url",
    "source_version_url",
    "standardization_log_url",
    "swc_url",
]

DEFAULT_BASE_URL = "https://neuromorpho.org"

_Segment = Union[str, int]


def normalize_base_url(base_url: str) -> str:
    """Check a site root (``https://neuromorpho.org``, a mirror, ...) and drop trailing ``/``.

    The API lives under ``{base}/api`` and the files under ``{base}/dableFiles``; for the
    mirror use ``http://cng.gmu.edu:8080/neuroMorpho``.
    """
    if not isinstance(base_url, str):
        raise TypeError(f"base_url must be a str, not {type(base_url).__name__}")
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"base_url must not have a query or fragment: {base_url!r}")
    base = base_url.rstrip("/")
    if base.endswith("/api"):
        raise ValueError(
            f"base_url is the site root, not the API root: use {base[:-4]!r}, not {base_url!r}"
        )
    return base


def _seg(segment: _Segment) -> str:
    if isinstance(segment, bool) or not isinstance(segment, (str, int)):
        raise TypeError(f"URL segment must be str or int, not {type(segment).__name__}")
    text = str(segment)
    if text in ("", ".", ".."):
        raise ValueError(f"invalid URL path segment {text!r}")
    return quote(text, safe="")


def api_url(base: str, *segments: _Segment) -> str:
    """``{base}/api/seg1/seg2...``, each segment percent-encoded (``/`` included)."""
    return "/".join([base, "api", *(_seg(s) for s in segments)])


def _archive_path(archive: str) -> str:
    """An archive directory: percent-encoded per ``/``-separated segment."""
    if not archive.strip("/"):
        raise ValueError(f"invalid archive {archive!r}")
    return "/".join(_seg(part) for part in archive.strip("/").split("/"))


def swc_url(base: str, archive: str, name: str) -> str:
    """The standardized SWC file: ``dableFiles/{archive lower}/CNG%20version/{name}.CNG.swc``."""
    return f"{base}/dableFiles/{_archive_path(archive.lower())}/CNG%20version/{_seg(name)}.CNG.swc"


def original_extension(original_format: str | None) -> str | None:
    """The Source-Version file extension for ``original_format``; ``None`` when unknown.

    ``Neurolucida.dat`` -> ``dat``, ``Neurozoom.swc`` -> ``swc``, ``Custom.xml`` -> ``morph.xml``.
    """
    if not isinstance(original_format, str):
        return None
    fmt = original_format.strip()
    if fmt.casefold() == "custom.xml":
        return "morph.xml"
    _, dot, ext = fmt.partition(".")
    if not dot or not ext or "/" in ext:
        return None
    return ext


def original_url(base: str, archive: str, name: str, original_format: str | None) -> str | None:
    """The file as uploaded: ``dableFiles/{archive lower}/Source-Version/{name}.{ext}``.

    ``None`` when ``original_format`` gives no extension.
    """
    ext = original_extension(original_format)
    if ext is None:
        return None
    return source_version_url(base, archive, name, ext)


def source_version_url(base: str, archive: str, name: str, ext: str) -> str:
    """``dableFiles/{archive lower}/Source-Version/{name}.{ext}``."""
    archive_dir = _archive_path(archive.lower())
    return f"{base}/dableFiles/{archive_dir}/Source-Version/{_seg(name + '.' + ext)}"


def standardization_log_url(base: str, archive: str, name: str) -> str:
    """The standardization log: ``dableFiles/{archive lower}/Standardization%20log/{name}.std``."""
    archive_dir = _archive_path(archive.lower())
    return f"{base}/dableFiles/{archive_dir}/Standardization%20log/{_seg(name)}.std"


def remaining_issues_url(base: str, archive: str, name: str) -> str:
    """Issues left after standardization: ``.../Remaining%20issues/{name}.CNG.swc.std``."""
    return (
        f"{base}/dableFiles/{_archive_path(archive.lower())}/Remaining%20issues/"
        f"{_seg(name)}.CNG.swc.std"
    )


def png_url(base: str, archive: str, name: str) -> str:
    """The neuron's image: ``images/imageFiles/{Archive}/{name}.png`` (archive case kept)."""
    return f"{base}/images/imageFiles/{_archive_path(archive)}/{_seg(name)}.png"


@dataclass(frozen=True)
class NeuronFiles:
    """URLs of the files NeuroMorpho.Org serves for one neuron.

    Attributes:
        swc (str): Standardized SWC (``CNG version``): what most users want.
        original (str | None): The file as uploaded (``Source-Version``); ``None`` if the
            format has no extension.
        standardization_log (str): Log of the standardization steps (``.std``).
        remaining_issues (str): Issues left after standardization (``.CNG.swc.std``).
        png (str): Image of the reconstruction.
    """

    swc: str
    original: str | None
    standardization_log: str
    remaining_issues: str
    png: str


def _text(record: Mapping[str, Any], key: str) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"record has no usable {key!r}: {value!r}")
    return value


def neuron_files(base: str, record: Mapping[str, Any]) -> NeuronFiles:
    """All file URLs of a record (from ``archive``, ``neuron_name``, ``original_format``)."""
    archive, name = _text(record, "archive"), _text(record, "neuron_name")
    fmt = record.get("original_format")
    return NeuronFiles(
        swc=swc_url(base, archive, name),
        original=original_url(base, archive, name, fmt if isinstance(fmt, str) else None),
        standardization_log=standardization_log_url(base, archive, name),
        remaining_issues=remaining_issues_url(base, archive, name),
        png=png_url(base, archive, name),
    )
