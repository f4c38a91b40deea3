"""Checks of every page, as built: warnings, so errors under ``-W``.

- Every picture needs alt text that says what it shows: not missing, not a file name, not one of
  the placeholders that plotting libraries and notebook tools write (``<Figure size ...>``). For
  a figure made by a notebook cell, give the cell ``mystnb: image: alt: ...`` metadata (see the
  tutorial notebook and the analysis pages).
- No page may show a path of the machine that built the docs (the checkout, the Python
  installation), and no output its temporary directory: executed cells and commands print what
  they see, and a warning that names an installed file, or a temporary path, says nothing to a
  reader. (A page may show an example temporary path in its prose or a pasted example.)
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"^(<Figure size .*>|image|figure|plot|png|output.*|_build.*)$", re.I)
_FILE_NAME = re.compile(r"^[\w./-]+\.(png|jpe?g|svg|gif)$", re.I)


def check_alt_text(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    for image in doctree.findall(nodes.image):
        alt = (image.get("alt") or "").strip()
        if not alt or _PLACEHOLDER.match(alt) or _FILE_NAME.match(alt) or len(alt.split()) < 4:
            logger.warning(
                "image %s has no real alt text (%r): say what it shows",
                image.get("uri"),
                alt,
                location=image,
            )


def _is_output(node: nodes.Node) -> bool:
    """Whether *node* is inside what a cell or a command printed during the build."""
    while node is not None:
        classes = getattr(node, "get", lambda *_: [])("classes", [])
        if "cell_output" in classes or "command-output" in classes:
            return True
        node = node.parent
    return False


def check_machine_paths(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    checkout = os.path.dirname(os.path.abspath(app.srcdir))
    everywhere = {checkout, sys.prefix, sys.base_prefix}
    # A page may show an example temporary path; an output must not show the build's own.
    in_outputs = {tempfile.gettempdir() + os.sep}
    for node in doctree.findall(nodes.Text):
        text = str(node)
        places = everywhere | in_outputs if _is_output(node.parent) else everywhere
        for place in places:
            if place in text:
                logger.warning(
                    "a path of this machine (%s) in the page: %s",
                    place,
                    " ".join(text.split())[:200],
                    location=node.parent,
                )
                break


def relative_run_directories(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """Show a notebook's run directory as the current one, as a reader's own run would.

    Notebooks run in a fresh temporary directory (``nb_execution_in_temp``), and what they print
    about the files they wrote names it (``/tmp/tmpab12cd34/swc``). Their outputs show the path
    relative to it (``swc``), as ``command-output`` does for commands; any other temporary path
    is still caught by :func:`check_machine_paths`.
    """
    run_dir = re.compile(
        re.escape(tempfile.gettempdir() + os.sep) + r"tmp\w{6,}" + re.escape(os.sep)
    )
    for node in list(doctree.findall(nodes.Text)):
        if _is_output(node.parent) and run_dir.search(str(node)):
            node.parent.replace(node, nodes.Text(run_dir.sub("", str(node))))


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("doctree-resolved", relative_run_directories, priority=400)
    app.connect("doctree-resolved", check_alt_text)
    app.connect("doctree-resolved", check_machine_paths)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
