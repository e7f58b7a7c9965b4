"""Sans-IO: what table each proxy needs and what a push did (dashboard/proxies.py)."""

from __future__ import annotations

from xcache.dashboard import proxies as P
from xcache.dashboard import topology as T


def table():
    t, _ = T.add_group(T.Topology(), 1)
    t = T.add_server(t, 1, "127.0.0.1:7001")
    return T.slot_table(T.assign_slots(t, list(range(1024)), 1))


def test_a_proxy_needs_the_table_when_its_epoch_differs_or_a_push_failed():
    tab = table()
    assert not P.needs_table(tab["epoch"], tab, in_sync=True)
    assert P.needs_table(tab["epoch"] - 1, tab, in_sync=True)  # restarted or missed a push
    assert P.needs_table(tab["epoch"], tab, in_sync=False)
    assert not P.needs_table(0, None, in_sync=False)  # no table yet (slots unassigned)


def test_push_outcomes():
    tab = table()
    got = {**tab}
    res = P.after_push({"workers_applied": 2, "drained": True}, got, tab)
    assert res == {"ok": True, "proxy_epoch": tab["epoch"], "workers_applied": 2, "drained": True}
    res = P.after_push({}, {**tab, "epoch": tab["epoch"] - 1}, tab)
    assert not res["ok"] and "after the push" in res["error"] and res["drained"] is False
    # 409: the proxy is ahead; the same content is fine, another one must be passed
    assert P.after_conflict({**tab, "epoch": tab["epoch"] + 5}, tab)["ok"]
    other = {**tab, "epoch": tab["epoch"] + 5, "slots": {}}
    assert P.after_conflict(other, tab) == {"ok": False, "ahead": True, "proxy_epoch": tab["epoch"] + 5}
    assert P.epoch_to_pass([{"ok": True}, {"ok": False, "ahead": True, "proxy_epoch": 9},
                            {"ok": False, "ahead": True, "proxy_epoch": 12}]) == 12
    assert P.epoch_to_pass([{"ok": True}, {"ok": False, "error": "unreachable"}]) is None


def test_summary_of_stats():
    stats = {"epoch": 3, "sessions": 5, "ops": {"get": 10, "set": 5}, "errors": {"x": 1},
             "accept_dropped": {"dead": 2, "queued_too_long": 1}, "rejected": {"qps_global": 4},
             "listen_queues": [{"queued": 10, "backlog": 100}, {"queued": 60, "backlog": 100}],
             "workers": [{"loop_lag_seconds": 0.2, "listener_paused": True}, {"loop_lag_seconds": None}],
             "max_clients": 100, "groups": {"1": {"state": "up", "hold_timeouts": 3}},
             "netstat": {"ListenOverflows": 7}}
    s = P.summary(stats, 123.0)
    assert (s["ops_total"], s["errors_total"], s["accept_dropped"], s["rejected"]) == (15, 1, 3, 4)
    assert s["listen_queue"] == 70 and s["listen_backlog"] == 200 and s["listen_queue_fill"] == 0.6
    assert s["loop_lag_s"] == 0.2 and s["listener_paused"] and s["workers"] == 2
    assert s["hold_timeouts"] == {"1": 3} and s["groups"] == {"1": "up"} and s["listen_overflows"] == 7
    assert s["time"] == 123.0
    empty = P.summary({}, 0.0)
    assert empty["listen_queue_fill"] == 0.0 and empty["loop_lag_s"] == 0.0 and empty["workers"] == 0
