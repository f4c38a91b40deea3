"""Sphinx configuration for the neuromorpho-api documentation.

Build: ``python -m sphinx -W --keep-going -b html docs docs/_build/html`` (offline).

The tutorial notebook is executed on every build. It talks to ``https://neuromorpho.org`` as
written; during the build, an emulator of the site runs in this process and the notebook's
kernel (a child process, which inherits ``os.environ``) reaches it through the emulator's
loopback proxy, trusting the emulator's throwaway CA. Nothing leaves the machine.
"""

from __future__ import annotations

import atexit
import os

from sphinx.application import Sphinx

from neuromorpho_api import __version__
from neuromorpho_api.testing import Emulator

project = "neuromorpho-api"
author = "neuromorpho-api developers"
copyright = "neuromorpho-api developers, BSD-3-Clause"
release = __version__
version = ".".join(__version__.split(".")[:2])

extensions = [
    "myst_nb",  # also loads myst_parser
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
]

source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "jupyter_execute", "**.ipynb_checkpoints", "Thumbs.db", ".DS_Store"]
root_doc = "index"

# No intersphinx: the build must not touch the network.
nitpicky = False

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# -- notebooks ----------------------------------------------------------------------------------
nb_execution_mode = "force"
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_execution_timeout = 180
# Run in a temporary directory, so that the files the tutorial downloads never land in docs/.
nb_execution_in_temp = True
nb_merge_streams = True

# -- autodoc ------------------------------------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
# A private alias in annotations, spelled out for readers.
autodoc_type_aliases = {
    "_Timeout": "float | tuple[float | None, float | None] | None",
}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True

# -- HTML ---------------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"neuromorpho-api {release}"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_show_sourcelink = False

# -- the emulator the tutorial runs against --------------------------------------------------------
_emulator = Emulator()  # 3000 synthetic neurons, the real site's TLS shape
_emulator.start()
_saved_environ = {name: os.environ.get(name) for name in _emulator.environ()}
os.environ.update(_emulator.environ())


def _stop_emulator(*_args: object) -> None:
    _emulator.stop()
    for name, value in _saved_environ.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    _saved_environ.clear()


atexit.register(_emulator.stop)


def setup(app: Sphinx) -> None:
    app.connect("build-finished", _stop_emulator)
