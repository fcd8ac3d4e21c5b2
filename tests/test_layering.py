"""The import graph, drawn from the code: no module imports another that imports it back
(directly or through others), and the ``adapters`` package, the plug-in layer, imports
nothing from ``conformance``, the suite built on it. Every import statement counts,
including those inside functions and under ``TYPE_CHECKING``."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("adapters", "conformance", "benchmarks")


def _modules() -> dict[str, Path]:
    """Dotted name -> file, for every module of the packages (tests excluded)."""
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if path.name.startswith("test_") or path.name == "conftest.py":
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The package modules ``path`` imports (a name imported from a module counts as the
    module, or as the submodule when it is one)."""
    named = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            named.add(node.module)
            named.update(f"{node.module}.{alias.name}" for alias in node.names)
    found = set()
    for name in named:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        if name:
            found.add(name)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        # a package's __init__ is where its modules' imports of it lead; not an edge back
        graph[name] = {
            m for m in _imports(path, modules) if m != name and not name.startswith(m + ".")
        }
    return graph


def _cycle_from(start: str, graph: dict[str, set[str]]) -> list[str] | None:
    """A path of imports from ``start`` back to itself, or None."""
    stack, seen = [(start, [start])], set()
    while stack:
        node, path = stack.pop()
        for nxt in graph[node]:
            if nxt == start:
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


def test_the_graph_is_drawn_from_every_package():
    graph = _graph()
    assert {"adapters.base", "conformance.engine.matrix", "benchmarks.speed"} <= set(graph)
    assert "adapters.calls" in graph["adapters.base"]


def test_no_module_imports_itself_back():
    graph = _graph()
    cycles = [cycle for name in sorted(graph) if (cycle := _cycle_from(name, graph))]
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles[:5])


def test_the_adapters_import_nothing_from_the_suite():
    graph = _graph()
    upward = sorted(
        f"{name} -> {target}"
        for name, targets in graph.items()
        if name.split(".")[0] == "adapters"
        for target in targets
        if target.split(".")[0] != "adapters"
    )
    assert not upward, upward
