"""Sans-IO: what the API's overview shows (dashboard/overview.py)."""

from __future__ import annotations

from xcache.dashboard import overview as O
from xcache.dashboard import topology as T

M, R = "127.0.0.1:7001", "127.0.0.1:7002"
P = "127.0.0.1:19000"


def topo():
    t, _ = T.add_group(T.Topology(), 1)
    t = T.add_server(T.add_server(t, 1, M), 1, R)
    t = T.assign_slots(t, list(range(100)), 1)
    return T.add_proxy(t, P, "127.0.0.1:11080")


def test_groups_and_proxies_join_the_observed_state():
    t = topo()
    groups = O.groups_view(t, {R: {"up": True, "link": "up", "lag_bytes": 3}})
    assert groups[0]["slots"] == 100 and groups[0]["master"] == M
    assert groups[0]["servers"] == [{"addr": M, "role": "master"},
                                    {"addr": R, "role": "replica", "up": True, "link": "up", "lag_bytes": 3}]
    proxies = O.proxies_view(t, {P: {"up": True, "stats": {"sessions": 4, "ops_total": 9}}})
    assert proxies[0]["admin_addr"] == "127.0.0.1:11080"
    assert O.totals(proxies + [{"stats": {"sessions": 1, "rejected": 2}}]) == {
        "sessions": 5, "ops_total": 9, "accept_dropped": 0, "rejected": 2}


def test_current_conditions():
    t = topo()
    groups = O.groups_view(t, {M: {"up": False}, R: {"up": True, "link": "down"}})
    proxies = [{"addr": P, "up": False, "dropped_changed_at": 5.0,
                "stats": {"accept_dropped": 3, "listener_paused": True, "groups": {"1": "switching", "2": "up"}}}]
    kinds = [(c["kind"], c["level"]) for c in O.conditions(proxies, groups, 10.0)]
    assert kinds == [("proxy_down", "error"), ("accept_dropped", "warning"), ("listener_paused", "warning"),
                     ("backend_switching", "warning"), ("server_down", "error"),
                     ("replication_link_down", "warning")]
    assert O.conditions([{"addr": P, "up": True, "stats": {}}], O.groups_view(t, {}), 10.0) == []


def test_evaluated_alerts_as_lines():
    a = {"labels": {"alertname": "XcacheFailoverStarted", "severity": "critical", "master": "group-1"},
         "annotations": {"summary": "Failover of group-1 in progress", "description": "..."},
         "startsAt": 7.0}
    assert O.alert_lines([a]) == [{"kind": "XcacheFailoverStarted", "level": "error", "time": 7.0,
                                   "master": "group-1", "summary": "Failover of group-1 in progress"}]
    assert O.active_alerts_view([a])[0]["name"] == "XcacheFailoverStarted"
