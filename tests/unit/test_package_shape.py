"""The package's shape: no module imports itself back through others, and no module is long.

Imports are read from the source with ``ast``, every ``import`` and ``from`` statement wherever
it stands (module level, inside functions, under ``TYPE_CHECKING``), relative ones resolved, so
a cycle hidden in a function or a type annotation is found too.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import airflow_provider_hbsms

PACKAGE = Path(airflow_provider_hbsms.__file__).resolve().parent
NAME = airflow_provider_hbsms.__name__
MAX_LINES = 350



@cache
def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = (NAME, *path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _imported(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` imports anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the package, up level - 1 packages
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            for alias in node.names:
                # ``from package import module`` imports the module, else a name of ``source``.
                submodule = f"{source}.{alias.name}"
                targets.add(submodule if submodule in modules else source)
    return {t for t in targets if t in modules and t != name}


def import_graph() -> dict[str, set[str]]:
    """Each module of the package -> the package's modules it imports."""
    modules = _modules()
    return {name: _imported(name, path, modules) for name, path in modules.items()}


def _file(name: str) -> str:
    """A module's file, relative to the package (``store/reports.py``)."""
    return _modules()[name].relative_to(PACKAGE).as_posix()


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """The groups of two or more modules that each reach the others (Tarjan's algorithm,
    iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.add(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(group)
    return groups


def a_cycle(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """One cycle through the group's first module, shortest first: ``[a, b, ..., a]``."""
    start = min(group)
    paths = [[start]]
    seen = {start}
    while paths:
        path = paths.pop(0)
        for child in sorted(graph[path[-1]] & group):
            if child == start:
                return [*path, start]
            if child not in seen:
                seen.add(child)
                paths.append([*path, child])
    raise AssertionError(f"no cycle in {sorted(group)}")  # pragma: no cover


def test_the_import_graph_has_no_cycle() -> None:
    graph = import_graph()
    found = {frozenset(_file(m) for m in group): group for group in strongly_connected(graph)}
    cycles = [
        " -> ".join(_file(m) for m in a_cycle(graph, group))
        for _, group in sorted(found.items(), key=lambda item: sorted(item[0]))
    ]
    assert cycles == [], "import cycles:\n" + "\n".join(cycles)


def test_no_module_is_over_the_line_limit() -> None:
    lengths = {
        path.relative_to(PACKAGE).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for path in _modules().values()
    }
    over = sorted(f"{file} ({n} lines)" for file, n in lengths.items() if n > MAX_LINES)
    assert over == [], f"modules over {MAX_LINES} lines: {over}"


def test_the_checks_find_what_they_look_for(tmp_path: Path) -> None:
    """The cycle finder on a made-up graph: a cycle through a function-level import and a
    type-only one is found and named; a chain is not a cycle."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    (group,) = strongly_connected(graph)
    assert group == {"a", "b", "c"}
    assert a_cycle(graph, group) == ["a", "b", "c", "a"]
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "one.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..two import X\n"
    )
    (package / "two.py").write_text("def f():\n    from pkg.sub import one\n")
    modules = {
        "pkg": package / "__init__.py",
        "pkg.sub": package / "sub" / "__init__.py",
        "pkg.sub.one": package / "sub" / "one.py",
        "pkg.two": package / "two.py",
    }
    assert _imported("pkg.sub.one", modules["pkg.sub.one"], modules) == {"pkg.two"}
    assert _imported("pkg.two", modules["pkg.two"], modules) == {"pkg.sub.one"}
