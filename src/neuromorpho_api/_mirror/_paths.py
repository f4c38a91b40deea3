"""Where a mirror lives when the caller does not say: ``NEUROMORPHO_MIRROR``, else one file in
the user's data directory (``platformdirs``: ``~/.local/share/neuromorpho-api`` on Linux,
``~/Library/Application Support/neuromorpho-api`` on macOS, ``%LOCALAPPDATA%`` on Windows)."""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["ENV_VAR", "FILE_NAME", "default_path", "resolve"]

ENV_VAR = "NEUROMORPHO_MIRROR"
FILE_NAME = "mirror.sqlite"
_APP = "neuromorpho-api"


def default_path(environ: Mapping[str, str] | None = None) -> str:
    """The mirror file used when none is named: ``$NEUROMORPHO_MIRROR`` if set and not empty,
    else ``mirror.sqlite`` in the user's data directory. Creates no directory."""
    env = os.environ if environ is None else environ
    named = env.get(ENV_VAR, "").strip()
    if named:
        return os.path.abspath(os.path.expanduser(named))
    import platformdirs  # only when needed: importing the package stays light

    return os.path.join(platformdirs.user_data_dir(_APP, appauthor=False), FILE_NAME)


def resolve(path: str | os.PathLike[str] | None, *, create_dir: bool = False) -> str:
    """``path`` as a string, or :func:`default_path` for ``None``; with ``create_dir`` the
    directory holding it is created (for a sync, never for a reader)."""
    chosen = default_path() if path is None else os.fspath(path)
    if create_dir:
        parent = os.path.dirname(os.path.abspath(chosen))
        os.makedirs(parent, exist_ok=True)
    return chosen
