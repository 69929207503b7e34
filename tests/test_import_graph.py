"""The package's modules import each other without circles.

The graph is built from the source with :mod:`ast`: every module-level ``import`` and ``from ...
import`` of an ``airflow_provider_sim`` module (relative ones resolved), including those nested in
``try`` / ``if`` at module level, but not those under ``if TYPE_CHECKING:`` nor inside functions
(both run after every module has loaded). ``from package import name`` counts as an import of
``package.name`` when that is a module, and of ``package``; importing ``a.b.c`` also runs the
``__init__`` of ``a`` and ``a.b``, an edge unless the importer lives in that package (then it has
begun already).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = "airflow_provider_sim"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE


def module_name(path: Path, root: Path) -> str:
    """``<root>/hooks/sim.py`` -> ``airflow_provider_sim.hooks.sim`` (a package drops ``__init__``)."""
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def module_level_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements that run when the module is first imported."""
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                pending += node.body
            pending += node.orelse
        elif isinstance(node, ast.Try):
            pending += node.body + node.orelse + node.finalbody
            pending += [stmt for handler in node.handlers for stmt in handler.body]
        elif isinstance(node, ast.With):
            pending += node.body


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Each module of the package -> the package's modules it imports at module level."""
    files = {module_name(path, root): path for path in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        for node in module_level_imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                bases = [alias.name for alias in node.names]
                names: list[str] = []
            else:
                base = node.module or ""
                if node.level:
                    anchor = name.split(".")
                    anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                    base = ".".join([*anchor, base] if base else anchor)
                bases, names = [base], [alias.name for alias in node.names]
            for base in bases:
                parts = base.split(".")
                targets.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
                targets.update(f"{base}.{item}" for item in names)
        ancestors = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        graph[name] = {target for target in targets if target in files} - ancestors - {name}
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module, as one cycle through it (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(_one_cycle(graph, set(group)))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def _one_cycle(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A shortest path from the group's first module back to itself, through the group only."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node] & group):
                if target == start:
                    return [*paths[node], start]
                if target not in paths:
                    paths[target] = [*paths[node], target]
                    following.append(target)
        frontier = following
    raise AssertionError(f"no cycle through {start}")  # pragma: no cover - Tarjan found one


def test_the_package_has_no_import_cycles() -> None:
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_the_graph_sees_the_package_and_its_imports() -> None:
    graph = import_graph()
    assert "airflow_provider_sim.hooks.sim" in graph
    assert "airflow_provider_sim.exceptions" in graph["airflow_provider_sim.hooks.sim"]


@pytest.mark.parametrize(
    ("files", "cycle"),
    [
        pytest.param(
            {"__init__.py": "", "a.py": "from pkg import b\n", "b.py": "from pkg.a import X\n"},
            ["pkg.a", "pkg.b", "pkg.a"],
            id="direct",
        ),
        pytest.param(
            {
                "__init__.py": "",
                "a.py": "from . import b\n",
                "b.py": "from .c import X\n",
                "c.py": "import pkg.a\n",
            },
            ["pkg.a", "pkg.b", "pkg.c", "pkg.a"],
            id="relative-and-through-three",
        ),
        pytest.param(
            {
                "__init__.py": "",
                "a.py": "try:\n    from pkg.b import X\nexcept ImportError:\n    pass\n",
                "b.py": "if True:\n    from pkg import a\n",
            },
            ["pkg.a", "pkg.b", "pkg.a"],
            id="nested-at-module-level",
        ),
        pytest.param(
            {
                "__init__.py": "",
                "x/__init__.py": "from pkg.y import Y\n",
                "x/z.py": "",
                "y.py": "from pkg.x.z import Z\n",
            },
            ["pkg.x", "pkg.y", "pkg.x"],
            id="through-a-package-init",
        ),
    ],
)
def test_a_cycle_is_found_and_named(tmp_path: Path, files: dict[str, str], cycle: list[str]) -> None:
    root = tmp_path / "pkg"
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    assert find_cycles(import_graph(root)) == [cycle]


@pytest.mark.parametrize(
    "b_source",
    [
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import X\n",
        "import typing\nif typing.TYPE_CHECKING:\n    from pkg.a import X\n",
        "def later():\n    from pkg.a import X\n",
    ],
    ids=["type-checking", "typing.TYPE_CHECKING", "inside-a-function"],
)
def test_imports_that_run_later_make_no_cycle(tmp_path: Path, b_source: str) -> None:
    root = tmp_path / "pkg"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "a.py").write_text("from pkg.b import Y\n")
    (root / "b.py").write_text(b_source)
    graph = import_graph(root)
    assert graph["pkg.a"] == {"pkg.b"}
    assert find_cycles(graph) == []
