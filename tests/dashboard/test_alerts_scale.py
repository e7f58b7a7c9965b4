"""Sans-IO: the dashboard's alert evaluator (same conditions as deploy/prometheus/alerts.yml), the
Alertmanager payloads, and the scale-out decision."""

from __future__ import annotations

import os

import pytest

from xcache.config import ConfigError, load
from xcache.dashboard import alerts as A
from xcache.dashboard import scale as S
from xcache.dashboard.config import DashboardConfig


def proxy(**kw) -> dict:
    base = {"listen_overflows": 0, "listen_queue_fill": 0.0, "accept_dropped": 0, "sessions": 10,
            "sessions_max": 10000, "rejected_by_reason": {}, "loop_lag_s": 0.001, "hold_timeouts": {"1": 0}}
    return {**base, **kw}


def snap(p=None, servers=None, sentinels=None, switches=None) -> dict:
    return {"proxies": {"127.0.0.1:19000": p if p is not None else proxy()}, "servers": servers or {},
            "sentinels": sentinels or {"total": 3, "up": 3, "masters": {}}, "switches": switches or {}}


def names(active) -> set[str]:
    return {a["labels"]["alertname"] for a in active}


def run(ev, snaps, start=1000.0, step=1.0):
    active = changes = None
    for i, s in enumerate(snaps):
        active, changes = ev.evaluate(s, start + i * step)
    return active, changes


def test_quiet_cluster_has_no_alerts():
    active, changes = run(A.AlertEvaluator(), [snap()] * 5)
    assert active == [] and changes == []


def test_max_clients_refusals_fire_their_own_alert():
    ev = A.AlertEvaluator()
    active, _ = run(ev, [snap(), snap(proxy(rejected_by_reason={"max_clients": 7, "ip_rate": 50}))])
    assert names(active) == {"XcacheClientsRefused"}
    (alert,) = active
    assert alert["labels"]["severity"] == "critical"
    assert alert["annotations"]["description"].startswith("7 connections refused")


def test_counter_rules_fire_on_any_increase_and_resolve_after_the_window():
    ev = A.AlertEvaluator()
    active, changes = run(ev, [snap(), snap(proxy(listen_overflows=5, accept_dropped=40,
                                                  rejected_by_reason={"qps_global": 3},
                                                  hold_timeouts={"1": 2}))])
    assert names(active) == {"XcacheAcceptQueueOverflow", "XcacheDeadSocketDrops", "XcacheQpsLimitHit",
                             "XcacheHeldRequestsTimingOut"}
    assert {c["status"] for c in changes} == {"firing"}
    held = next(a for a in active if a["labels"]["alertname"] == "XcacheHeldRequestsTimingOut")
    assert held["labels"]["group"] == "1" and held["labels"]["severity"] == "critical"
    # flat counters: still firing within the window, resolved after it
    later = proxy(listen_overflows=5, accept_dropped=40, rejected_by_reason={"qps_global": 3}, hold_timeouts={"1": 2})
    active, changes = ev.evaluate(snap(later), 1030.0)
    assert len(active) == 4 and changes == []
    active, changes = ev.evaluate(snap(later), 1100.0)
    assert active == [] and {c["status"] for c in changes} == {"resolved"}
    assert ev.fired_total["XcacheDeadSocketDrops"] == 1


def test_counter_reset_is_not_a_negative_increase():
    ev = A.AlertEvaluator()
    run(ev, [snap(proxy(accept_dropped=100))] * 2)
    active, _ = ev.evaluate(snap(proxy(accept_dropped=0)), 1100.0)  # proxy restarted
    assert active == []


def test_for_durations():
    ev = A.AlertEvaluator()
    hot = snap(proxy(listen_queue_fill=0.7, loop_lag_s=0.5, sessions=9500))
    active, _ = run(ev, [hot] * 5)  # 4 s
    assert names(active) == set()
    active, _ = ev.evaluate(hot, 1005.0)
    assert names(active) == {"XcacheListenQueueHalfFull"}
    active, _ = ev.evaluate(hot, 1030.0)
    assert names(active) == {"XcacheListenQueueHalfFull", "XcacheEventLoopLag"}
    active, _ = ev.evaluate(hot, 1060.0)
    assert "XcacheSessionsNearMax" in names(active)
    active, _ = ev.evaluate(snap(), 1061.0)
    assert active == []


def test_unreachable_proxy_gives_no_data():
    ev = A.AlertEvaluator()
    active, _ = run(ev, [snap(proxy(accept_dropped=5)), snap(None) | {"proxies": {"127.0.0.1:19000": None}}])
    assert active == []


def test_failover_stall_and_quorum_rules():
    ev = A.AlertEvaluator()
    s = snap(servers={"127.0.0.1:6380": {"up": True, "write_stall_active": 1, "write_stall_seconds": 12.0}},
             sentinels={"total": 3, "up": 1, "masters": {"group-1": "master,o_down"}}, switches={"group-1": 0})
    active, _ = ev.evaluate(s, 0.0)
    assert names(active) == {"XcacheFailoverStarted"}
    s2 = {**s, "switches": {"group-1": 1}}
    active, _ = ev.evaluate(s2, 10.0)
    assert names(active) == {"XcacheFailoverStarted", "XcacheFailoverFinished", "XcacheNodeWriteStall",
                             "XcacheSentinelQuorumLost"}
    stall = next(a for a in active if a["labels"]["alertname"] == "XcacheNodeWriteStall")
    assert stall["labels"]["instance"] == "127.0.0.1:6380" and "12s" in stall["annotations"]["description"]
    assert next(a for a in active if a["labels"]["alertname"] == "XcacheFailoverStarted")["labels"]["master"] == "group-1"


def test_disk_full_fires_at_once_and_resolves():
    ev = A.AlertEvaluator()
    full = {"up": True, "write_stall_active": 0, "disk_full": 1, "disk_error_seconds": 3.0}
    active, _ = ev.evaluate(snap(servers={"127.0.0.1:6380": full}), 0.0)
    assert names(active) == {"XcacheNodeDiskFull"}
    alert = active[0]
    assert alert["labels"]["instance"] == "127.0.0.1:6380" and alert["labels"]["severity"] == "critical"
    assert "-MISCONF since 3s" in alert["annotations"]["description"]
    active, _ = ev.evaluate(snap(servers={"127.0.0.1:6380": {**full, "disk_full": 0}}), 1.0)
    assert active == []


def test_migration_stalled_fires_only_without_progress_and_not_when_paused():
    ev = A.AlertEvaluator()

    def mig(moved, paused=False, waiting=128):
        return {**snap(), "instance": "127.0.0.1:18080",
                "migration": {"waiting": waiting, "paused": paused, "moved": moved}}
    active, _ = run(ev, [mig(i * 100) for i in range(400)])  # moving for 400 s
    assert "XcacheMigrationStalled" not in names(active)
    active, _ = run(ev, [mig(40000)] * 700, start=1400.0)  # then flat: 5 min to leave the window, 5 min held
    stalled = [a for a in active if a["labels"]["alertname"] == "XcacheMigrationStalled"]
    assert stalled and stalled[0]["labels"]["instance"] == "127.0.0.1:18080"
    assert "128 slots wait" in stalled[0]["annotations"]["description"]
    active, _ = ev.evaluate(mig(40000, paused=True), 2100.0)  # the operator paused it
    assert "XcacheMigrationStalled" not in names(active)
    ev2 = A.AlertEvaluator()
    active, _ = run(ev2, [mig(0, paused=True)] * 700)
    assert "XcacheMigrationStalled" not in names(active)


def test_payload_formats():
    ev = A.AlertEvaluator()
    _, changes = run(ev, [snap(), snap(proxy(accept_dropped=3))])
    body = A.payload(changes, "webhook", "http://127.0.0.1:18080")
    assert body["version"] == "4" and body["status"] == "firing"
    assert body["alerts"][0]["labels"]["alertname"] == "XcacheDeadSocketDrops"
    assert body["alerts"][0]["startsAt"].endswith("Z") and body["alerts"][0]["endsAt"].startswith("0001")
    assert body["commonLabels"]["instance"] == "127.0.0.1:19000"
    lst = A.payload(changes, "alertmanager")
    assert isinstance(lst, list) and set(lst[0]) == {"labels", "annotations", "startsAt", "endsAt", "generatorURL"}


# --- scale-out ------------------------------------------------------------------------------
P = S.ScalePolicy(queue_fill_high=0.5, loop_lag_high_s=0.1, up_after_s=5, down_after_s=20, cooldown_s=10,
                  max_extra=2)


def feed(st, start, seconds, fill, lag):
    out = []
    for i in range(seconds):
        a = S.decide(P, st, start + i, fill, lag)
        if a:
            out.append((start + i, a))
    return out


def test_scale_up_only_after_sustained_pressure():
    st = S.ScaleState()
    assert feed(st, 0, 4, 0.9, 0.0) == []
    assert S.decide(P, st, 4.5, 0.1, 0.0) is None  # a dip resets the timer
    assert feed(st, 5, 5, 0.9, 0.0) == []
    assert S.decide(P, st, 10, 0.9, 0.0) == "up" and st.extra == 1


def test_scale_up_on_loop_lag_with_cooldown_and_cap():
    st = S.ScaleState()
    actions = feed(st, 0, 60, 0.0, 0.5)
    assert [a for _, a in actions] == ["up", "up"]  # capped at max_extra
    assert actions[1][0] - actions[0][0] >= P.cooldown_s


def test_scale_down_when_calm_only_what_was_added():
    st = S.ScaleState()
    assert feed(st, 0, 100, 0.0, 0.0) == []  # nothing added: nothing to remove
    feed(st, 100, 6, 0.9, 0.0)
    assert st.extra == 1
    acts = feed(st, 106, 40, 0.01, 0.005)
    assert [a for _, a in acts] == ["down"] and st.extra == 0
    assert acts[0][0] - 106 >= P.down_after_s


def test_no_data_neither_hot_nor_calm():
    st = S.ScaleState()
    feed(st, 0, 4, 0.9, 0.0)
    assert S.decide(P, st, 4, None, None) is None
    assert feed(st, 5, 4, 0.9, 0.0) == []  # the hot timer restarted


def test_measure_takes_the_worst_reachable_proxy():
    assert S.measure([None, None]) == (None, None)
    assert S.measure([{"listen_queue_fill": 0.2, "loop_lag_s": 0.3}, None,
                      {"listen_queue_fill": 0.6, "loop_lag_s": 0.01}]) == (0.6, 0.3)


def test_worker_steps_stay_within_what_the_scaler_added():
    assert S.worker_step(0, +1, 2) and S.worker_step(1, +1, 2) and not S.worker_step(2, +1, 2)
    assert not S.worker_step(0, -1, 2)  # never below the proxy's own workers
    assert S.worker_step(2, -1, 2) and S.worker_step(1, -1, 2)
    assert not S.worker_step(0, +1, 0)  # scale_max_extra = 0: the scaler never adds


def test_scale_modes_in_config():
    for mode in ("off", "local", "local-proxy", "hook"):
        assert load(DashboardConfig, None, {"scale_mode": mode}).scale_mode == mode
    with pytest.raises(ConfigError):
        load(DashboardConfig, None, {"scale_mode": "cluster"})


# --- the controller's side: snapshot, webhook timing, scale actions ----------------------------
def test_snapshot_from_polled_state():
    from xcache.dashboard import topology as T
    t, _ = T.add_group(T.Topology(), 1)
    t = T.add_server(t, 1, "127.0.0.1:7001")
    t = T.add_proxy(t, "127.0.0.1:19000", "127.0.0.1:11080")
    for s in ("127.0.0.1:26001", "127.0.0.1:26002", "127.0.0.1:26003"):
        t = T.add_sentinel(t, s)
    proxies = {"127.0.0.1:19000": {"up": True, "stats": proxy()}, "127.0.0.1:1": {"up": True, "stats": {}}}
    sentinels = {"127.0.0.1:26001": {"up": True, "flags": {"group-1": "master,o_down", "mymaster": "o_down"}},
                 "127.0.0.1:26002": {"up": False}}
    mig = {"slots_pending": 3, "slots_migrating": 1, "paused": False, "keys_moved": 10, "slots_done": 2}
    s = A.snapshot(t, proxies, {}, sentinels, {"group-2": 5.0}, {"group-1": 1}, mig, "dash")
    assert list(s["proxies"]) == ["127.0.0.1:19000"]  # proxies outside the topology ignored
    assert s["sentinels"] == {"total": 3, "up": 1, "masters": {"group-1": "master,o_down",
                                                                "group-2": "o_down (event)"}}
    assert s["switches"] == {"group-1": 1} and s["migration"] == {"waiting": 4, "paused": False, "moved": 12}
    assert A.odowns_done({"group-1": 100.0, "group-2": 100.0, "group-3": 10.0},
                         {"group-1": 101.0}, 120.0) == ["group-1", "group-3"]


def test_webhook_posts_changes_and_resends_active_alerts():
    firing = [{"status": "firing"}]
    assert A.should_post(firing, firing, 10.0, 9.0, 300.0)
    assert not A.should_post([], firing, 10.0, 9.0, 300.0)
    assert A.should_post([], firing, 400.0, 9.0, 300.0)
    assert not A.should_post([], [], 400.0, 9.0, 300.0)
    ev = A.AlertEvaluator()
    _, changes = run(ev, [snap(), snap(proxy(accept_dropped=3))])
    assert A.event_of(changes[0]) == ("alert_firing", "warning",
                                      {"alert": "XcacheDeadSocketDrops", "instance": "127.0.0.1:19000"})


def test_scale_actions():
    cfg = load(DashboardConfig, None, {"scale_queue_fill_pct": 40, "scale_cooldown_ms": 2000})
    p = S.policy_of(cfg)
    assert p.queue_fill_high == 0.4 and p.cooldown_s == 2.0 and p.max_extra == cfg.scale_max_extra
    argv = S.proxy_argv("127.0.0.1", 19001, 11081, "/run/p.toml", "max_clients=100 'a=b c'")
    assert argv[1:4] == ["-m", "xcache.cli", "proxy"]
    assert argv[4:] == ["--config", "/run/p.toml", "--bind", "127.0.0.1", "--port", "19001",
                        "--admin-port", "11081", "--set", "admin_bind=127.0.0.1",
                        "--set", "max_clients=100", "--set", "a=b c"]
    assert "admin_token" not in " ".join(argv)  # the token is in the 0600 config file
    path = S.scaled_proxy_config("", "tok")
    try:
        assert os.stat(path).st_mode & 0o777 == 0o600
        assert 'admin_token = "tok"' in open(path).read()
    finally:
        os.unlink(path)
    assert S.hook_env("up", 0.5, 0.25, "127.0.0.1:18080") == {
        "XCACHE_SCALE": "up", "XCACHE_SCALE_FILL": "0.500", "XCACHE_SCALE_LAG_S": "0.250",
        "XCACHE_DASHBOARD": "http://127.0.0.1:18080"}
