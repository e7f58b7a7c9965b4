"""The store's modules import each other without a circle: server.py imports the command
modules (they register their commands), so none of them may import server.py, not even inside a
function. They use xcache.store.interfaces instead."""

from __future__ import annotations

import ast
from pathlib import Path

import xcache.store

STORE = Path(xcache.store.__file__).parent
PACKAGE = "xcache.store"


def imports_of(path: Path) -> set[str]:
    """Every xcache.store module `path` imports: at the top, in functions, under TYPE_CHECKING,
    and the modules named in a COMMAND_MODULES tuple (imported with importlib)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module if node.level == 0 else f"{PACKAGE}.{node.module}"
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)  # from xcache.store import x
        elif isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "COMMAND_MODULES" for t in node.targets):
            found.update(f"{PACKAGE}.{e.value}" for e in node.value.elts)  # type: ignore[attr-defined]
    modules = {f"{PACKAGE}.{p.stem}" for p in STORE.glob("*.py")}
    return {m for m in found if m in modules}


def graph() -> dict[str, set[str]]:
    return {f"{PACKAGE}.{p.stem}": imports_of(p) for p in sorted(STORE.glob("*.py"))}


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


def test_no_import_cycle_in_the_store():
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_checker_sees_function_level_and_registry_imports():
    g = graph()
    assert "xcache.store.replication" in g["xcache.store.server"]  # top-level
    assert "xcache.store.lists" in g["xcache.store.server"]  # COMMAND_MODULES
    assert "xcache.store.interfaces" in g["xcache.store.replication"]
    assert "xcache.store.pubsub" in g["xcache.store.admin"]  # inside a function
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_replication_and_migration_do_not_import_the_server():
    g = graph()
    for m in ("replication", "migrate", "lists"):
        assert "xcache.store.server" not in g[f"{PACKAGE}.{m}"]
