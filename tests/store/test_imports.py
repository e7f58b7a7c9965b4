"""The store's modules import each other without a circle: server.py imports the command
modules (they register their commands), so none of them may import server.py, not even inside a
function or for type checking. They use xcache.store.interfaces instead."""

from __future__ import annotations

from tests.import_graph import find_cycle, graph

PACKAGE = "xcache.store"


def test_no_import_cycle_in_the_store():
    cycle = find_cycle(graph(PACKAGE))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_checker_sees_function_level_and_registry_imports():
    g = graph(PACKAGE)
    assert "xcache.store.replication" in g["xcache.store.server"]  # top-level
    assert "xcache.store.lists" in g["xcache.store.server"]  # COMMAND_MODULES
    assert "xcache.store.interfaces" in g["xcache.store.replication"]
    assert "xcache.store.pubsub" in g["xcache.store.admin"]  # inside a function
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_replication_and_migration_do_not_import_the_server():
    g = graph(PACKAGE)
    for m in ("replication", "migrate", "lists"):
        assert "xcache.store.server" not in g[f"{PACKAGE}.{m}"]
