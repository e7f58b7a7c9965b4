"""The dashboard's layout: the concern modules (failover, proxies, sentinels, nodes, alerts,
scale, overview) never import the controller at run time (only for type hints); the controller
wires them. No import circle at run time."""

from __future__ import annotations

from tests.import_graph import find_cycle, graph

CONCERNS = ("failover", "proxies", "sentinels", "nodes", "alerts", "scale", "overview")


def test_no_runtime_import_cycle_in_the_dashboard():
    cycle = find_cycle(graph("xcache.dashboard", type_checking=False))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_concerns_do_not_import_the_controller():
    g = graph("xcache.dashboard", type_checking=False)
    for m in CONCERNS:
        assert "xcache.dashboard.controller" not in g[f"xcache.dashboard.{m}"], m
        assert f"xcache.dashboard.{m}" in g["xcache.dashboard.controller"], m
    # type hints may name it: the checker tells the two apart
    assert "xcache.dashboard.controller" in graph("xcache.dashboard")["xcache.dashboard.failover"]
