"""``command-output``: run shell commands while the docs are built and show what they printed.

The command-line page shows real output, produced by the build from the emulator, never pasted::

    ```{command-output}
    neuromorpho count species=rat
    neuromorpho download species=rat --out swc/ --limit 5
    ```

Each line of the content is one command, run with ``bash -c`` in a temporary directory kept for
the whole document (so a second ``download`` into the same folder sees the first one's files),
with the environment of the build minus the variables named in ``command_output_clear`` (the
building machine's CA and proxy settings) plus ``command_output_env`` (the emulator's). Standard output and standard error are captured together, in the order
they were written, as a terminal shows them. The block shows ``$ command`` and its output.

Options:

``:returncode: N``
    The exit status every command of the block must have (default 0). Any other status is a
    build warning, so with ``-W`` the prose around a block cannot drift from what it shows.
``:no-emulator:``
    Run without ``command_output_env``'s variables (for ``neuromorpho demo``, which brings its
    own emulator).

Machine-specific strings (the emulator's temporary CA bundle, its proxy port, the temporary
directory) are replaced by ``command_output_substitutions``. Documents using the directive are
read again on every build, so their outputs are never older than the code.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from typing import Any, ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

_WORKDIRS: dict[str, str] = {}


def _workdir(docname: str) -> str:
    if docname not in _WORKDIRS:
        _WORKDIRS[docname] = tempfile.mkdtemp(prefix="docs-command-output-")
    return _WORKDIRS[docname]


class CommandOutput(SphinxDirective):
    has_content = True
    option_spec: ClassVar[dict[str, Any]] = {
        "returncode": directives.nonnegative_int,
        "no-emulator": directives.flag,
    }

    def run(self) -> list[nodes.Node]:
        config = self.env.config
        self.env.command_output_docs.add(self.env.docname)  # type: ignore[attr-defined]
        expected = self.options.get("returncode", 0)
        cwd = _workdir(self.env.docname)
        # The outputs must not depend on the CA and proxy settings of the machine that builds.
        env = {k: v for k, v in os.environ.items() if k not in config.command_output_clear}
        if "no-emulator" in self.options:
            for name in config.command_output_env:
                env.pop(name, None)
        else:
            env.update(config.command_output_env)
        # The `neuromorpho` installed next to the Python that runs Sphinx, whatever PATH says.
        env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
        env.setdefault("COLUMNS", "100")
        substitutions = [(cwd + os.sep, ""), (cwd, "."), *config.command_output_substitutions]

        shown: list[str] = []
        for command in (line.strip() for line in self.content):
            if not command:
                continue
            try:
                result = subprocess.run(
                    ["bash", "-c", command],
                    cwd=cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    timeout=config.command_output_timeout,
                    check=False,
                )
                output = result.stdout.decode("utf-8", "replace")
                status: int | str = result.returncode
            except subprocess.TimeoutExpired:
                output, status = "", f"no exit within {config.command_output_timeout} s"
            for old, new in substitutions:
                output = output.replace(old, new)
            if status != expected:
                logger.warning(
                    "command-output: `%s` exited with %s, expected %s:\n%s",
                    command,
                    status,
                    expected,
                    output,
                    location=self.get_location(),
                )
            shown.append(f"$ {command}\n{output.rstrip()}".rstrip())
        text = "\n".join(shown)
        block = nodes.literal_block(text, text, language="console", classes=["command-output"])
        self.set_source_info(block)
        return [block]


def _init_env(app: Sphinx, env: BuildEnvironment, docnames: list[str]) -> None:
    if not hasattr(env, "command_output_docs"):
        env.command_output_docs = set()  # type: ignore[attr-defined]


def _purge(app: Sphinx, env: BuildEnvironment, docname: str) -> None:
    getattr(env, "command_output_docs", set()).discard(docname)


def _merge(
    app: Sphinx, env: BuildEnvironment, docnames: Iterable[str], other: BuildEnvironment
) -> None:
    env.command_output_docs.update(other.command_output_docs)  # type: ignore[attr-defined]


def _always_outdated(
    app: Sphinx, env: BuildEnvironment, added: set[str], changed: set[str], removed: set[str]
) -> list[str]:
    # Their output comes from the code, which Sphinx does not watch: read them every time.
    return sorted(getattr(env, "command_output_docs", set()) - removed)


def _cleanup(app: Sphinx, exception: BaseException | None) -> None:
    for path in _WORKDIRS.values():
        shutil.rmtree(path, ignore_errors=True)
    _WORKDIRS.clear()


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("command_output_env", {}, "env")
    app.add_config_value("command_output_substitutions", [], "env")
    app.add_config_value("command_output_timeout", 120, "env")
    app.add_config_value("command_output_clear", [], "env")
    app.add_directive("command-output", CommandOutput)
    app.connect("env-before-read-docs", _init_env)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    app.connect("env-get-outdated", _always_outdated)
    app.connect("build-finished", _cleanup)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
