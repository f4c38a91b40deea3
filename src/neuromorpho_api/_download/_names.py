"""Local file names for neuron names: one path component that stays in the destination."""

from __future__ import annotations

import hashlib
import re
import unicodedata

__all__ = ["MAX_NAME_BYTES", "SWC_SUFFIX", "name_tag", "safe_filename", "tagged_name"]

SWC_SUFFIX = ".CNG.swc"
# File names are at most 255 bytes on common file systems; leave room for ".part-" suffixes.
MAX_NAME_BYTES = 200

# Letters and digits of any script, and a few harmless punctuation marks; everything else
# (path separators, NUL and other controls, ``:*?"<>|``, bidi overrides...) becomes "_".
_UNSAFE_CHARS = re.compile(r"[^\w.+\-()\[\]=,@~ ]")
_WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{port}{digit}" for port in ("COM", "LPT") for digit in "0123456789¹²³"]
)


def name_tag(*parts: object) -> str:
    """A short hash of *parts*, to tell apart names that were changed into the same text."""
    text = "\0".join(str(part) for part in parts)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]


def _truncate_utf8(text: str, limit: int) -> str:
    return text.encode("utf-8", "surrogatepass")[:limit].decode("utf-8", "ignore")


def tagged_name(stem: str, tag: str, suffix: str) -> str:
    """``{stem}-{tag}{suffix}``, *stem* cut so that it fits in :data:`MAX_NAME_BYTES`."""
    budget = MAX_NAME_BYTES - len(suffix.encode()) - len(tag) - 1
    return _truncate_utf8(stem, budget).rstrip(" .") + "-" + tag + suffix


def safe_filename(neuron_name: str, suffix: str = SWC_SUFFIX) -> str:
    """The local file name for a neuron name: a single path component that stays in ``dest``.

    Names that are already safe are kept (``cnic_001`` -> ``cnic_001.CNG.swc``). Otherwise
    unsafe characters become ``_``, leading dots and spaces and trailing dots and spaces go,
    Windows device names get a ``_`` prefix, the result is cut to fit in :data:`MAX_NAME_BYTES`,
    and a hash of the original name is appended, so that two names that were changed into the
    same text still get different files (``a/b`` -> ``a_b-<hash>.CNG.swc``, never ``a_b``).
    """
    if not isinstance(neuron_name, str):
        raise TypeError(f"neuron_name must be a str, not {type(neuron_name).__name__}")
    clean = _UNSAFE_CHARS.sub("_", unicodedata.normalize("NFC", neuron_name)).strip(" .")
    if not clean:
        clean = "_"
    if clean.split(".")[0].rstrip(" ").upper() in _WINDOWS_RESERVED:
        clean = "_" + clean
    budget = MAX_NAME_BYTES - len(suffix.encode())
    if clean != neuron_name or len(clean.encode("utf-8", "surrogatepass")) > budget:
        return tagged_name(clean, name_tag(neuron_name), suffix)
    return clean + suffix
