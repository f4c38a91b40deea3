"""The package's import graph: no circles, and no layer imports a higher one (docs/design.md).

The graph is read from the source with ``ast``, so it covers lazy imports inside functions and
``if TYPE_CHECKING:`` imports too: a circle through a lazy import is still a circle.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

import neuromorpho_api

PACKAGE = "neuromorpho_api"
SOURCE = Path(neuromorpho_api.__file__).parent

# Lowest first. A module may import modules of its own layer and of the layers it names below.
LAYERS: dict[str, frozenset[str]] = {
    "foundation": frozenset({"_version", "_errors"}),
    "transport": frozenset({"_tls", "_explain", "_adapter", "_retry", "_ratelimit", "_session"}),
    "query and parsing": frozenset({"_query", "_parse", "_urls", "_swc", "_records", "_frames"}),
    "downloads": frozenset({"_download", "_progress"}),
    "mirror": frozenset({"_bulk", "_mirror"}),
    "client": frozenset({"_client", "_paging", "_results"}),
    "commands": frozenset({"_cli", "_doctor", "_demo", "__main__"}),
    "package face": frozenset({"__init__"}),
    "testing": frozenset({"testing"}),
}
MAY_IMPORT: dict[str, frozenset[str]] = {
    "foundation": frozenset(),
    "transport": frozenset({"foundation"}),
    "query and parsing": frozenset({"foundation"}),
    "downloads": frozenset({"foundation", "transport", "query and parsing"}),
    "mirror": frozenset({"foundation", "transport", "query and parsing", "downloads"}),
    "client": frozenset({"foundation", "transport", "query and parsing", "downloads", "mirror"}),
    "commands": frozenset(
        {"foundation", "transport", "query and parsing", "downloads", "client", "mirror"}
    ),
    "package face": frozenset(
        {"foundation", "transport", "query and parsing", "downloads", "client", "mirror"}
    ),
    # The emulator is a test double: it shares no code with what it checks.
    "testing": frozenset(),
}
# The only library modules that may use the emulator, and only inside a function, so that
# importing the library never imports it.
EMULATOR_USERS = frozenset({"_demo"})


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    lazy: bool  # inside a function, or under ``if TYPE_CHECKING:``


def module_name(path: Path, root: Path) -> str:
    """``_client`` for ``_client.py``, ``testing._app`` for ``testing/_app.py``."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def read_sources(root: Path) -> dict[str, str]:
    return {
        module_name(path, root): path.read_text(encoding="utf-8")
        for path in sorted(root.rglob("*.py"))
    }


def _resolve(module: str, level: int, importer: str, packages: set[str]) -> str:
    """The package-relative module an import statement names (``""`` is the package face)."""
    if level:
        base = [] if importer == "__init__" else importer.split(".")
        if importer not in packages:
            base = base[:-1]
        base = base[: len(base) - (level - 1)]
        return ".".join([*base, *([module] if module else [])])
    if module == PACKAGE:
        return ""
    return module[len(PACKAGE) + 1 :]


def import_edges(sources: Mapping[str, str]) -> list[Edge]:
    """Every import of a package module by a package module."""
    known = set(sources)
    packages = {"__init__"} | {m.rpartition(".")[0] for m in known if "." in m}
    edges: list[Edge] = []
    for importer, text in sources.items():
        tree = ast.parse(text)
        lazy_nodes: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or (
                isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            ):
                lazy_nodes.update(id(inner) for inner in ast.walk(node) if inner is not node)
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [
                    _resolve(alias.name, 0, importer, packages)
                    for alias in node.names
                    if alias.name == PACKAGE or alias.name.startswith(PACKAGE + ".")
                ]
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if not node.level and not (module == PACKAGE or module.startswith(PACKAGE + ".")):
                    continue
                target = _resolve(module, node.level, importer, packages)
                # ``from neuromorpho_api import _parse`` imports the submodule, not the face.
                subs = [
                    ".".join(p for p in (target, alias.name) if p)
                    for alias in node.names
                    if ".".join(p for p in (target, alias.name) if p) in known
                ]
                targets = subs or [target]
            for target in targets:
                edges.append(
                    Edge(importer, target or "__init__", node.lineno, id(node) in lazy_nodes)
                )
    return edges


def layer_of(module: str) -> str | None:
    top = module.split(".")[0]
    for layer, members in LAYERS.items():
        if module in members or top in members:
            return layer
    return None


def cycles(edges: list[Edge]) -> list[list[str]]:
    """Each strongly connected group of more than one module (or a module importing itself)."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.source, set()).add(edge.target)
        graph.setdefault(edge.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph[node]:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def violations(sources: Mapping[str, str]) -> list[str]:
    """Every import that breaks the layering, in words; empty when the graph is clean."""
    problems = [
        f"{module}: not in any layer (add it to LAYERS here and to docs/design.md)"
        for module in sorted(sources)
        if layer_of(module) is None
    ]
    edges = import_edges(sources)
    for edge in edges:
        source, target = layer_of(edge.source), layer_of(edge.target)
        if source is None or target is None:
            continue
        where = f"{edge.source} line {edge.line} imports {edge.target}"
        if target == "testing" and source != "testing":
            if edge.source not in EMULATOR_USERS:
                problems.append(f"{where}: only {sorted(EMULATOR_USERS)} may use the emulator")
            elif not edge.lazy:
                problems.append(f"{where}: the emulator must be imported inside a function")
            continue
        if target != source and target not in MAY_IMPORT[source]:
            problems.append(f"{where}: layer {source!r} may not import layer {target!r}")
    problems += [f"circular imports: {' <-> '.join(group)}" for group in cycles(edges)]
    return problems


# -- the package ---------------------------------------------------------------------------------


def test_the_package_imports_only_downwards_and_without_circles() -> None:
    assert violations(read_sources(SOURCE)) == []


def test_every_declared_module_exists() -> None:
    # A stale entry would let a future module of that name in unchecked.
    sources = read_sources(SOURCE)
    tops = {module.split(".")[0] for module in sources}
    declared = set().union(*LAYERS.values())
    assert declared - tops == set()


def test_the_graph_sees_the_imports_that_matter() -> None:
    # Guards the checker itself: these real edges must be found, lazy or not.
    edges = {(e.source, e.target, e.lazy) for e in import_edges(read_sources(SOURCE))}
    assert ("_client", "_session", False) in edges
    assert ("_client", "_parse", False) in edges  # ``from neuromorpho_api import _parse``
    assert ("_demo", "testing", True) in edges
    assert ("_cli._commands", "_demo", True) in edges
    assert ("__init__", "_session", False) in edges
    assert ("testing", "testing._app", False) in edges


# -- the checker fails when it should -------------------------------------------------------------


def _with(module: str, extra: str) -> dict[str, str]:
    sources = read_sources(SOURCE)
    sources[module] = sources[module] + "\n" + extra + "\n"
    return sources


@pytest.mark.parametrize(
    ("module", "statement", "complaint"),
    [
        (
            "_tls",
            "from neuromorpho_api._client import NeuroMorpho",
            "may not import layer 'client'",
        ),
        ("_client", "import neuromorpho_api", "may not import layer 'package face'"),
        (
            "_client",
            "def f():\n    from neuromorpho_api import requestor",
            "may not import layer 'package face'",
        ),
        ("_parse", "from neuromorpho_api._session import requestor", "layer 'transport'"),
        ("_download", "from neuromorpho_api._cli import main", "may not import layer 'commands'"),
        ("_doctor", "from neuromorpho_api.testing import Emulator", "may use the emulator"),
        ("_demo", "from neuromorpho_api.testing import Emulator", "inside a function"),
        ("testing._app", "from neuromorpho_api._tls import NEUROMORPHO_HOSTS", "layer 'testing'"),
        ("_session", "from neuromorpho_api._adapter import *", ""),
        ("_adapter", "def f():\n    from neuromorpho_api import _session", "circular imports"),
        ("_cli._commands", "from .. import _demo", ""),
        (
            "_mirror._sync",
            "from neuromorpho_api._client import NeuroMorpho",
            "layer 'mirror' may not import layer 'client'",
        ),
        ("_bulk", "def f():\n    from neuromorpho_api._client import NeuroMorpho", "'client'"),
        ("_client", "from neuromorpho_api._mirror import Mirror", ""),
    ],
)
def test_an_added_upward_or_circular_import_is_reported(
    module: str, statement: str, complaint: str
) -> None:
    found = violations(_with(module, statement))
    if complaint:
        assert any(complaint in problem for problem in found), found
    else:  # imports that keep the layering
        assert found == []


def test_a_module_outside_the_layers_is_reported() -> None:
    sources = read_sources(SOURCE)
    sources["_elsewhere"] = "from neuromorpho_api._client import NeuroMorpho\n"
    assert violations(sources) == [
        "_elsewhere: not in any layer (add it to LAYERS here and to docs/design.md)"
    ]


def test_the_demo_importing_the_cli_again_is_a_circle() -> None:
    found = violations(_with("_demo", "def g():\n    from neuromorpho_api._cli import main"))
    assert any(
        p.startswith("circular imports: _cli <-> ") and p.endswith(" <-> _demo") for p in found
    ), found
