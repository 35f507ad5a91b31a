"""Static import graph of the package ``mosaic`` (the repository root, or the unpacked plugin zip), from the AST.

Nothing is imported. Every ``import``/``from ... import`` statement of a module counts, module-level and inside
functions (a function-level import still runs in the same process, e.g. inside QGIS), except those under
``if TYPE_CHECKING:`` (never executed). Imports by name at run time (``importlib.import_module``) are not seen.
``from pkg import name`` points at the submodule ``pkg.name`` when there is one, else at ``pkg``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "mosaic"


@dataclass(frozen=True)
class Import:
    """One imported name: ``target`` is absolute (``mosaic.backend.errors``, ``torch.nn``)."""

    module: str
    target: str
    line: int


def module_files(root: Path, folders: tuple[str, ...] | None = None) -> dict[str, Path]:
    """Dotted module name → file for ``root/__init__.py`` and every ``.py`` under ``folders`` (default: all)."""
    paths = [root / "__init__.py"]
    for folder in folders or (".",):
        paths += sorted(p for p in (root / folder).rglob("*.py") if p != root / "__init__.py")
    names = {}
    for path in paths:
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join((PACKAGE, *parts))] = path
    return names


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _statements(tree: ast.AST):
    """Every import statement of ``tree`` except those under ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            yield from (s for child in node.orelse for s in _statements(ast.Module(body=[child], type_ignores=[])))
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        yield from _statements(node)


def imports(name: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    """The imports of module ``name`` (file ``path``), resolved against the known ``modules``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in _statements(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [Import(name, alias.name, node.lineno) for alias in node.names]
            continue
        if node.level:
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            source = f"{base}.{node.module}" if node.module else base
        else:
            source = node.module or ""
        for alias in node.names:
            submodule = f"{source}.{alias.name}"
            found.append(Import(name, submodule if submodule in modules else source, node.lineno))
    return found


def graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module → the modules of the package it imports (parent packages run by Python implicitly not counted)."""
    return {
        name: {imp.target for imp in imports(name, path, modules) if imp.target in modules and imp.target != name}
        for name, path in modules.items()
    }


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The import circles: strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def reachable(edges: dict[str, set[str]], start: set[str]) -> set[str]:
    """``start`` and every module imported from it, directly or through others."""
    seen, todo = set(), list(start)
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo += edges.get(node, ())
    return seen
