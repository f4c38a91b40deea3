"""Progress reporting on stderr: a tqdm bar when tqdm is installed, else a one-line counter.

``progress=None`` (the default everywhere) shows progress only to a person: not when the
``CI`` environment variable is set, and otherwise as tqdm decides (``disable=None``: on a
terminal; ``tqdm.auto``: a widget in a notebook). ``True`` forces it on, ``False`` off. tqdm is
an optional extra (``pip install neuromorpho-api[progress]``), imported only when progress may
be shown; without it, the counter makes the same terminal-or-notebook check itself.
"""

from __future__ import annotations

import os
import sys
import time
from typing import IO, Any, Protocol

__all__ = ["ProgressBar", "make_progress", "progress_wanted"]


class ProgressBar(Protocol):
    """What the downloader needs from a progress bar (tqdm has it)."""

    def update(self, n: int = 1) -> Any: ...

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> Any: ...

    def close(self) -> Any: ...


class NullProgress:
    """No output at all."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        pass

    def close(self) -> None:
        pass


class CounterProgress:
    """``desc: 12/340 files [postfix]`` rewritten in place on one line, at most 10 times a second."""

    interval = 0.1

    def __init__(
        self, total: int | None, desc: str, unit: str, stream: IO[str] | None = None
    ) -> None:
        self.total = total
        self.desc = desc
        self.unit = unit
        self.count = 0
        self.postfix = ""
        self._stream = stream
        self._last = 0.0
        self._width = 0
        self._closed = False

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        stream = self._stream if self._stream is not None else sys.stderr
        done = f"{self.count}/{self.total}" if self.total is not None else f"{self.count}"
        text = f"{self.desc}: {done} {self.unit}" + (f" [{self.postfix}]" if self.postfix else "")
        # Pad over the previous, possibly longer, text instead of relying on ANSI codes.
        stream.write("\r" + text.ljust(self._width))
        stream.flush()
        self._width = len(text)

    def update(self, n: int = 1) -> None:
        self.count += n
        self._draw(force=self.total is not None and self.count >= self.total)

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = s
        if refresh:
            self._draw()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._draw(force=True)
        stream = self._stream if self._stream is not None else sys.stderr
        stream.write("\n")
        stream.flush()


def _in_notebook() -> bool:
    # ipykernel replaces sys.stderr with an OutStream that is not a TTY but shows progress well.
    return "ipykernel" in sys.modules and type(sys.stderr).__name__ == "OutStream"


def progress_wanted(progress: bool | None) -> bool:
    """Resolve a ``progress`` argument without tqdm: ``None`` means "if a person is watching"."""
    if progress is not None:
        return bool(progress)
    if os.environ.get("CI"):
        return False
    try:
        return sys.stderr.isatty() or _in_notebook()
    except (AttributeError, ValueError):  # stderr replaced, closed, or None
        return False


def _tqdm_class() -> Any:
    try:
        import tqdm.auto  # a widget in a notebook with ipywidgets, else the terminal bar
    except ImportError:
        return None
    return tqdm.auto.tqdm


def make_progress(
    progress: bool | None,
    *,
    total: int | None = None,
    desc: str = "neuromorpho",
    unit: str = "file",
) -> ProgressBar:
    """A progress bar on stderr, or one that prints nothing (see the module docstring)."""
    if progress is False or sys.stderr is None or (progress is None and os.environ.get("CI")):
        return NullProgress()
    tqdm = _tqdm_class()
    if tqdm is None:
        if not progress_wanted(progress):
            return NullProgress()
        return CounterProgress(total, desc, unit + "s")
    bar: ProgressBar = tqdm(
        total=total,
        desc=desc,
        unit=unit,
        file=sys.stderr,
        dynamic_ncols=True,
        leave=True,
        disable=None if progress is None else False,  # None: tqdm checks for a terminal
    )
    return bar
