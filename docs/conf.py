"""Sphinx configuration for the neuromorpho-api documentation.

Build: ``python -m sphinx -W --keep-going -b html docs docs/_build/html`` (offline).

Every output on the site is produced by the build. The notebooks (the tutorial, and the MyST
notebooks such as the quickstart and the analysis pages) are executed, and the command-line
outputs come from the ``command-output`` directive (``_ext/command_output.py``), which runs the
``neuromorpho`` command. All of them talk to ``https://neuromorpho.org`` as written: during the
build an emulator of the site runs in this process, and the child processes (notebook kernels,
commands), which inherit ``os.environ``, reach it through the emulator's loopback proxy,
trusting the emulator's throwaway CA. Nothing leaves the machine.

Code blocks that the build does not execute are run by ``tests/docs/test_code_blocks.py``.
"""

from __future__ import annotations

import atexit
import os
import sys
from importlib.metadata import metadata

from sphinx.application import Sphinx

from neuromorpho_api import __version__
from neuromorpho_api.testing import Emulator

project = "neuromorpho-api"
author = "neuromorpho-api developers"
copyright = "neuromorpho-api developers, BSD-3-Clause"
release = __version__
version = ".".join(__version__.split(".")[:2])

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "_ext"))

extensions = [
    "myst_nb",  # also loads myst_parser
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx_copybutton",
    "command_output",  # _ext/: shell commands run by the build
    "page_checks",  # _ext/: alt text for every image, no path of this machine in outputs
]

# The project's links, from the installed package's metadata (pyproject.toml's [project.urls]).
project_urls = dict(
    entry.split(", ", 1) for entry in metadata("neuromorpho-api").get_all("Project-URL") or []
)
source_url = project_urls["Source"]
issues_url = project_urls.get("Issues", source_url + "/issues")

source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "jupyter_execute", "**.ipynb_checkpoints", "Thumbs.db", ".DS_Store"]
root_doc = "index"

# No intersphinx: the build must not touch the network.
nitpicky = False

myst_enable_extensions = ["colon_fence", "deflist", "substitution"]
myst_heading_anchors = 3
myst_substitutions = {"source_url": source_url, "issues_url": issues_url}

# -- copy buttons: copy the commands, not the prompts or the outputs ----------------------------
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True
copybutton_only_copy_prompt_lines = True
copybutton_exclude = ".linenos, .gp, .go"

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
html_theme_options = {
    "source_repository": source_url + "/",
    "source_branch": "main",
    "source_directory": "docs/",
    "footer_icons": [
        {"name": "Source", "url": source_url, "html": "Source", "class": ""},
        {"name": "Issues", "url": issues_url, "html": "Issues", "class": ""},
    ],
}

# -- the emulator the tutorial runs against --------------------------------------------------------
_emulator = Emulator()  # 3000 synthetic neurons, the real site's TLS shape
_emulator.start()
_saved_environ = {name: os.environ.get(name) for name in _emulator.environ()}
os.environ.update(_emulator.environ())

# -- command-output: what the `neuromorpho` commands print, against the same emulator ----------
command_output_env = _emulator.environ()
_PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY")
command_output_clear = [
    *_PROXY_VARIABLES,
    *(name.lower() for name in _PROXY_VARIABLES),
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
]
command_output_substitutions = [
    (_emulator.ca_bundle, "<the emulator's CA bundle>"),
    (_emulator.proxy_url, "<the emulator's loopback proxy>"),
]


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
