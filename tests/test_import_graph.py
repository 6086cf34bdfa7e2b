"""No import cycles in engine/, native_kernels/ and bench/: neither between modules nor between
packages (engine.<subpackage>, engine's own top-level modules, native_kernels, bench).

The graph is read from the source with `ast`: every import statement counts, those inside
functions too (a deferred import is still a dependency), except under `if TYPE_CHECKING:`
(never executed). A cycle is reported by naming its modules in order.
"""

from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
TOP_PACKAGES = ("engine", "native_kernels", "bench")

# Package edges known to close a cycle, waiting for a change on another branch (none now).
EXPECTED_PACKAGE_EDGES: set[tuple[str, str]] = set()


def _module_files() -> dict[str, pathlib.Path]:
    """Module name -> file, for every module of the top packages (a package is its __init__)."""
    modules = {}
    for top in TOP_PACKAGES:
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement of `tree` but those under `if TYPE_CHECKING:`."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            for statement in node.orelse:
                visit(statement)
            return
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _resolve(name: str, modules: dict[str, pathlib.Path]) -> str | None:
    """The module `name` names, or the nearest package above it that is one of ours."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def module_graph() -> dict[str, set[str]]:
    """Module -> the modules of ours it imports."""
    modules = _module_files()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        targets: set[str | None] = set()
        for node in _imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(_resolve(alias.name, modules) for alias in node.names)
                continue
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import name`: the submodule pkg.name when there is one, else pkg itself.
            targets.update(_resolve(f"{base}.{alias.name}", modules) for alias in node.names)
        graph[module] = {t for t in targets if t is not None and t != module}
    return graph


def package_of(module: str) -> str:
    """engine.store.rows -> engine.store; engine.cli -> engine.cli; bench.* -> bench."""
    parts = module.split(".")
    if parts[0] != "engine":
        return parts[0]
    return ".".join(parts[:2])


def package_graph(modules: dict[str, set[str]]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, targets in modules.items():
        source = package_of(module)
        edges = graph.setdefault(source, set())
        edges.update(package_of(t) for t in targets if package_of(t) != source)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (its nodes in import order, the first repeated at the end) per strongly
    connected component of more than one node (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [_cycle_in(graph, component) for component in components]


def _cycle_in(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest path from the component's first node back to itself, within the component."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph.get(node, set()) & component):
                if nxt == start:
                    return [*paths[node], start]
                if nxt not in paths:
                    paths[nxt] = [*paths[node], nxt]
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"no cycle through {start} in its own component")  # cannot happen


def test_no_module_cycles() -> None:
    found = cycles(module_graph())
    assert not found, "import cycles between modules:\n" + "\n".join(" -> ".join(c) for c in found)


def test_no_package_cycles() -> None:
    graph = package_graph(module_graph())
    for source, target in EXPECTED_PACKAGE_EDGES:
        graph.get(source, set()).discard(target)
    found = cycles(graph)
    assert not found, "import cycles between packages:\n" + "\n".join(" -> ".join(c) for c in found)


def test_expected_edges_still_exist() -> None:
    """An expected edge that is gone must leave EXPECTED_PACKAGE_EDGES too, so that it cannot
    come back unnoticed."""
    graph = package_graph(module_graph())
    gone = {(s, t) for s, t in EXPECTED_PACKAGE_EDGES if t not in graph.get(s, set())}
    assert not gone, f"remove from EXPECTED_PACKAGE_EDGES: {sorted(gone)}"


def test_a_cycle_is_named() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]


def test_engine_never_imports_bench() -> None:
    graph = package_graph(module_graph())
    assert not [p for p, targets in graph.items() if p.startswith("engine") and "bench" in targets]
