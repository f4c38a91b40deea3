"""Every picture on the site needs alt text that says what it shows.

A warning (an error under ``-W``) for each image whose alt text is missing, is a file name, or is
one of the placeholders that plotting libraries and notebook tools write (``<Figure size ...>``).
For a figure made by a notebook cell, give the cell ``mystnb: image: alt: ...`` metadata (see the
tutorial notebook and the analysis pages).
"""

from __future__ import annotations

import re
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


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("doctree-resolved", check_alt_text)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
