"""Every code block on the site runs, or says why it cannot.

The docs build executes the notebooks (``.ipynb`` and MyST notebooks' ``{code-cell}`` blocks)
and the ``{command-output}`` blocks. Every other fenced code block in ``docs/*.md``, in the
notebooks' markdown cells and in ``README.md`` is run here, the way a reader would copy it:

- Python blocks, page by page in one namespace (as a reader pastes them one after another), in
  a temporary directory, with the emulator active. A block that defines a ``test_*`` function
  is meant to be pasted into a test file by itself: it runs in a namespace of its own (so it
  must bring its imports), and the function is called with the pytest fixtures it names.
- Shell blocks whose every command is ``neuromorpho ...``, in a subprocess pointed at the
  emulator; each must exit with status 0.
- ``text`` blocks are outputs and synopses: none may start with a ``$``/``>>>`` prompt, since
  pasted terminal sessions go stale (use ``{command-output}``, which the build runs).

A block that cannot run here is listed in ``ILLUSTRATIVE`` with the reason, and an entry that
matches no block fails, so the list cannot rot.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import shlex
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import neuromorpho_api
from neuromorpho_api.testing import Emulator

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

# (page, a piece of the block's text) -> why the block is not run.
ILLUSTRATIVE: dict[tuple[str, str], str] = {
    # installing: tests have no network
    ("README.md", 'pip install -e ".[dev]"'): "installs the package (network)",
    ("README.md", "pip install .  "): "installs the package (network)",
    ("quickstart.md", "pip install neuromorpho-api\n"): "installs the package (network)",
    ("quickstart.md", 'pip install "neuromorpho-api[progress]"'): "installs extras (network)",
    ("tutorial.ipynb", 'pip install "neuromorpho-api[pandas]" matplotlib'): "installs (network)",
    ("analysis.md", "pip install"): "installs the analysis libraries (network)",
    ("index.md", "pip install neuromorpho-api"): "installs the package (network)",
    ("benchmarks.md", "python benchmarks/run.py"): "runs the benchmarks (minutes; CI runs --smoke)",
    # the real site's failure, shown on purpose
    (
        "README.md",
        'requests.get("https://neuromorpho.org/api/neuron/id/1")\n# requests.exceptions',
    ): ("shows plain requests failing with DH_KEY_TOO_SMALL; it raises by design"),
    ("security.md", "openssl s_client"): "inspects the real site's TLS with openssl (network)",
    # needs a library that is not a dependency of this package
    ("other-clients.md", "import httpx"): "needs httpx, not a dependency",
    ("other-clients.md", "import aiohttp"): "needs aiohttp, not a dependency",
    ("other-clients.md", "import requests_cache"): "needs requests-cache, not a dependency",
    ("other-clients.md", 'session.get("https://example.org/"'): (
        "the second request goes to another host on the internet, to show stock TLS there"
    ),
    # places the emulator does not serve, or settings that would break the test process
    ("troubleshooting.md", "export HTTPS_PROXY=http://proxy.example.edu:3128"): (
        "sets a proxy that exists only as an example"
    ),
    (
        "troubleshooting.md",
        'os.environ["HTTPS_PROXY"]',
    ): "sets a proxy that exists only as an example",
    ("troubleshooting.md", 'cat "$(python -m certifi)"'): (
        "writes a CA bundle into the home directory from a file that exists only as an example"
    ),
    ("troubleshooting.md", "--base-url http://cng.gmu.edu:8080/neuroMorpho"): (
        "the plain-HTTP mirror on the internet"
    ),
    # `neuromorpho emulator` serves in the foreground until Ctrl-C
    ("testing.md", "$ neuromorpho emulator --neurons 500"): (
        "a session of a command that runs until stopped; its output names a temporary port and file"
    ),
    ("testing.md", "curl https://neuromorpho.org/api/health"): (
        "the other shell of that session; the first curl fails on purpose"
    ),
}

# A block defining a test function is meant to be pasted into a test file on its own, so it runs
# in a fresh namespace and must bring its imports. Known exceptions, each to be fixed where it is
# (none at present):
NOT_SELF_CONTAINED: dict[tuple[str, str], str] = {}

# Placeholders in the docs, and what stands for them here.
PLACEHOLDERS = ("/path/to/corporate-ca.pem", "/path/to/ca.pem")

PYTHON = {"python", "py", "python3", "ipython3", "pycon"}
SHELL = {"bash", "sh", "shell", "console", "zsh"}
CONTAINERS = {
    "note",
    "warning",
    "tip",
    "important",
    "hint",
    "seealso",
    "attention",
    "caution",
    "danger",
    "error",
    "admonition",
    "dropdown",
}
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,}|:{3,})(?P<info>.*)$")


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    language: str
    text: str

    def __str__(self) -> str:
        return f"{self.page}:{self.line} ({self.language or 'no language'})"


def fenced_blocks(page: str, text: str, first_line: int = 1) -> Iterator[Block]:
    """The code blocks of a MyST page; directives such as ``{note}`` are looked into, others
    (``{code-cell}``, ``{command-output}``, ``{eval-rst}``, ``{toctree}``) are not code blocks."""
    stack: list[tuple[str, int, str]] = []  # (fence char, length, "container" or "leaf")
    leaf: list[str] = []
    leaf_start, leaf_language, leaf_indent = 0, "", 0
    for number, line in enumerate(text.splitlines(), start=first_line):
        match = FENCE.match(line)
        if stack and stack[-1][2] != "container":
            char, length, kind = stack[-1]
            closes = match and match["fence"][0] == char and len(match["fence"]) >= length
            if closes and not match["info"].strip():
                stack.pop()
                if kind == "code":
                    body = "\n".join(item[leaf_indent:] for item in leaf)
                    yield Block(page, leaf_start, leaf_language, body + "\n")
                continue
            leaf.append(line)
            continue
        if not match:
            continue
        fence, info = match["fence"], match["info"].strip()
        if stack and not info and fence[0] == stack[-1][0] and len(fence) >= stack[-1][1]:
            stack.pop()  # the end of a container
            continue
        if info.startswith("{"):
            directive = info[1 : info.find("}")]
            kind = "container" if directive in CONTAINERS else "directive"
            stack.append((fence[0], len(fence), kind))
            leaf = []
            continue
        stack.append((fence[0], len(fence), "code"))
        leaf, leaf_start, leaf_indent = [], number, len(match["indent"])
        leaf_language = info.split()[0].lower() if info else ""


def _cell_text(cell: dict[str, Any]) -> str:
    source = cell["source"]
    return "".join(source) if isinstance(source, list) else str(source)


def all_blocks() -> list[Block]:
    blocks: list[Block] = []
    for path in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]:
        blocks.extend(fenced_blocks(path.name, path.read_text(encoding="utf-8")))
    for path in sorted(DOCS.glob("*.ipynb")):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        for index, cell in enumerate(notebook["cells"]):
            if cell["cell_type"] == "markdown":
                blocks.extend(fenced_blocks(path.name, _cell_text(cell), first_line=index))
    return blocks


BLOCKS = all_blocks()


def illustrative_reason(block: Block) -> str | None:
    for (page, piece), reason in ILLUSTRATIVE.items():
        if block.page == page and piece in block.text:
            return reason
    return None


def _pages(languages: set[str]) -> list[str]:
    return sorted(
        {
            block.page
            for block in BLOCKS
            if block.language in languages and illustrative_reason(block) is None
        }
    )


def test_blocks_found() -> None:
    pages = {block.page for block in BLOCKS}
    assert {"quickstart.md", "troubleshooting.md", "README.md"} <= pages
    assert any(block.language in PYTHON for block in BLOCKS)
    assert any(block.language in SHELL for block in BLOCKS)


def test_illustrative_list_is_current() -> None:
    for (page, piece), reason in {**ILLUSTRATIVE, **NOT_SELF_CONTAINED}.items():
        matches = [b for b in BLOCKS if b.page == page and piece in b.text]
        assert len(matches) == 1, f"{page}: {piece!r} ({reason}) matches {len(matches)} blocks"


def test_no_pasted_terminal_sessions() -> None:
    pasted = [
        str(block)
        for block in BLOCKS
        if block.language not in PYTHON | SHELL
        and re.match(r"\s*(\$|>>>) ", block.text)
        and illustrative_reason(block) is None
    ]
    assert not pasted, f"pasted terminal output (use {{command-output}}): {pasted}"


def test_every_block_has_a_known_language() -> None:
    unknown = [
        str(block)
        for block in BLOCKS
        if block.language not in PYTHON | SHELL | {"text", "", "json", "toml", "yaml", "ini"}
    ]
    assert not unknown


# -- Python --------------------------------------------------------------------------------------


def _substitute(text: str, emulator: Emulator) -> str:
    for placeholder in PLACEHOLDERS:
        text = text.replace(placeholder, emulator.ca_bundle)
    return text


@pytest.mark.parametrize("page", _pages(PYTHON))
def test_python_blocks(
    page: str,
    neuromorpho_emulator: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    # `sync()` and `mirror=True` use a mirror here, not in the user's data directory
    # (platformdirs reads XDG_DATA_HOME on Linux); NEUROMORPHO_MIRROR would send the commands
    # that blocks run offline.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("NEUROMORPHO_MIRROR", raising=False)
    # Clients other than requests do not read REQUESTS_CA_BUNDLE: a context made without a CA
    # file trusts the emulator here, as certifi's roots trust the real site.
    real_ssl_context = neuromorpho_api.ssl_context

    def ssl_context(cafile: str | None = None, **others: Any) -> ssl.SSLContext:
        if cafile is None and not others:
            cafile = neuromorpho_emulator.ca_bundle
        return real_ssl_context(cafile, **others)

    monkeypatch.setattr(neuromorpho_api, "ssl_context", ssl_context)
    fixtures = {"neuromorpho_emulator": neuromorpho_emulator, "tmp_path": tmp_path}
    namespace: dict[str, Any] = {"__name__": f"docs_{page}"}
    ran = 0
    for block in BLOCKS:
        if block.page != page or block.language not in PYTHON or illustrative_reason(block):
            continue
        code = compile(_substitute(block.text, neuromorpho_emulator), str(block), "exec")
        defines_test = re.search(r"^def test_", block.text, re.M) is not None
        shared = not defines_test or any(
            page == listed and piece in block.text for listed, piece in NOT_SELF_CONTAINED
        )
        scope = namespace if shared else {"__name__": f"docs_{page}_{block.line}"}
        before = set(scope)
        exec(code, scope)
        for name in sorted(set(scope) - before):
            function = scope[name]
            if name.startswith("test_") and callable(function):
                arguments = inspect.signature(function).parameters
                neuromorpho_emulator.reset()  # as the fixture does before each test
                function(**{argument: fixtures[argument] for argument in arguments})
        ran += 1
    assert ran


# -- shell ---------------------------------------------------------------------------------------


def _commands(block: Block) -> list[str]:
    text = block.text.replace("\\\n", " ")
    commands = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("$ "):
            line = line[2:]
        words = shlex.split(line, comments=True)
        if words:
            commands.append(shlex.join(words))
    return commands


def _is_neuromorpho(command: str) -> bool:
    words = shlex.split(command)
    return words[0] == "neuromorpho" or words[:3] == ["python", "-m", "neuromorpho_api"]


def test_shell_blocks_are_runnable_or_listed() -> None:
    unrunnable = [
        f"{block}: {command}"
        for block in BLOCKS
        if block.language in SHELL and illustrative_reason(block) is None
        for command in _commands(block)
        if not _is_neuromorpho(command)
    ]
    assert not unrunnable, "list these in ILLUSTRATIVE, with the reason"


@pytest.mark.parametrize("page", _pages(SHELL))
def test_shell_blocks(page: str, neuromorpho_emulator: Emulator, tmp_path: Path) -> None:
    bin_dir = os.path.dirname(sys.executable)
    base = {
        **os.environ,
        "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")]),
        "SCRATCH": str(tmp_path),  # the cluster examples download into $SCRATCH
        # `neuromorpho sync` and `--offline` write and read their default mirror here, not in
        # the user's data directory (platformdirs reads XDG_DATA_HOME on Linux).
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    base.pop("NEUROMORPHO_MIRROR", None)
    ran = 0
    for block in BLOCKS:
        if block.page != page or block.language not in SHELL or illustrative_reason(block):
            continue
        for command in _commands(block):
            # `demo` brings its own emulator; the others reach this one through its proxy.
            demo = shlex.split(command)[1:2] == ["demo"]
            env = base if demo else {**base, **neuromorpho_emulator.environ()}
            result = subprocess.run(
                ["bash", "-c", _substitute(command, neuromorpho_emulator)],
                cwd=tmp_path,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert result.returncode == 0, f"{block}: `{command}`\n{result.stderr}"
            ran += 1
    assert ran


# -- the tutorial's first cell --------------------------------------------------------------------


def test_tutorial_offline_switch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``OFFLINE = True`` in the tutorial's first code cell makes the notebook run offline."""
    monkeypatch.chdir(tmp_path)
    notebook = json.loads((DOCS / "tutorial.ipynb").read_text(encoding="utf-8"))
    first = next(cell for cell in notebook["cells"] if cell["cell_type"] == "code")
    source = _cell_text(first)
    assert "OFFLINE = False" in source
    namespace: dict[str, Any] = {}
    exec(compile(source.replace("OFFLINE = False", "OFFLINE = True"), "cell", "exec"), namespace)
    emulator = namespace["emulator"]
    try:
        from neuromorpho_api import NeuroMorpho

        assert NeuroMorpho().count(species="rat") == len(emulator.database.search("species:rat"))
        assert emulator.requests, "the request did not reach the emulator"
    finally:
        emulator.deactivate()
        emulator.stop()
