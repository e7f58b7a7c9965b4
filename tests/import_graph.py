"""Who imports whom inside a package, read with ast (nothing is imported): imports at the top,
inside functions, under TYPE_CHECKING (unless left out), and the modules named in a
COMMAND_MODULES tuple (imported with importlib). find_cycle() finds a circle."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            out |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return out


def imports_of(path: Path, package: str, modules: set[str], type_checking: bool = True) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    skip = set() if type_checking else _type_checking_nodes(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module if node.level == 0 else f"{package}.{node.module}"
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)  # from pkg import module
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Tuple) and any(
                isinstance(t, ast.Name) and t.id == "COMMAND_MODULES" for t in node.targets):
            found.update(f"{package}.{e.value}" for e in node.value.elts if isinstance(e, ast.Constant))
    return {m for m in found if m in modules}


def graph(package: str, type_checking: bool = True) -> dict[str, set[str]]:
    """{module: the package's modules it imports} for the modules directly in the package."""
    root = Path(importlib.import_module(package).__file__).parent
    files = sorted(root.glob("*.py"))
    modules = {f"{package}.{p.stem}" for p in files}
    return {f"{package}.{p.stem}": imports_of(p, package, modules, type_checking) for p in files}


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for n in sorted(g.get(m, ())):
            if state.get(n) == 1:
                return path[path.index(n):] + [n]
            if n not in state and (cycle := visit(n)):
                return cycle
        path.pop()
        state[m] = 2
        return None

    for m in sorted(g):
        if m not in state and (cycle := visit(m)):
            return cycle
    return None
