"""The client-facing Sentinel protocol of one `xcache sentinel` process over a real redis-server
group: queries, SENTINEL MONITOR/SET/REMOVE/RESET, FAILOVER with events on SUBSCRIBE/PSUBSCRIBE,
RESP2 and RESP3 clients, /metrics and /health."""

from __future__ import annotations

import json
import sys
import urllib.request

import pytest
import redis

from tests.procs import Proc, free_port
from tests.sentinel.conftest import FAST, GROUP, role_of, wait_until


def replicas_known(c: redis.Redis) -> bool:
    """The sentinel knows both replicas and has their INFO."""
    replicas = c.sentinel_slaves(GROUP)
    return len(replicas) == 2 and all(r["master-link-status"] == "ok" for r in replicas)


@pytest.fixture
def solo(tmp_path, group):
    """One sentinel (quorum 1) with its metrics port."""
    port, metrics_port = free_port(), free_port()
    args = [sys.executable, "-m", "xcache.cli", "sentinel", "--port", str(port), "--metrics-port",
            str(metrics_port), "--monitor", f"{GROUP} 127.0.0.1 {group.master.port} 1"]
    for k, v in FAST.items():
        args += ["--set", f"{k}={v}"]
    proc = Proc(args, port, stderr_path=str(tmp_path / "sentinel.log")).wait_ready()
    proc.metrics_port = metrics_port
    yield proc
    proc.stop()


@pytest.fixture(params=[2, 3])
def sc(request, solo, group):
    """A client of the sentinel, RESP2 and RESP3 (redis-py parses both)."""
    c = redis.Redis(port=solo.port, decode_responses=True, protocol=request.param, socket_timeout=5)
    wait_until(lambda: replicas_known(c), what="replicas discovered")
    yield c
    c.close()


def test_queries(sc, group):
    assert sc.ping()
    assert sc.execute_command("ROLE") == ["sentinel", [GROUP]]
    masters = sc.sentinel_masters()
    m = masters[GROUP]
    assert (m["ip"], m["port"], m["is_master"], m["is_sdown"]) == ("127.0.0.1", group.master.port, True, False)
    assert m["quorum"] == 1 and m["down-after-milliseconds"] == FAST["down_after_ms"]
    assert sc.sentinel_get_master_addr_by_name(GROUP) == ("127.0.0.1", group.master.port)
    replicas = sc.sentinel_slaves(GROUP)
    assert sorted(r["port"] for r in replicas) == sorted(r.port for r in group.replicas)
    assert all(r["is_slave"] and r["master-port"] == group.master.port for r in replicas)
    assert sc.execute_command("SENTINEL", "REPLICAS", GROUP)
    assert sc.sentinel_sentinels(GROUP) == []
    assert sc.execute_command("SENTINEL", "CKQUORUM", GROUP).startswith("OK 1 usable Sentinels")
    info = sc.info()
    assert info["sentinel_masters"] == 1 and info["master0"]["name"] == GROUP
    assert len(sc.execute_command("SENTINEL", "MYID")) == 40
    assert sc.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "nope") is None
    with pytest.raises(redis.ResponseError, match="No such master"):
        sc.sentinel_master("nope")
    with pytest.raises(redis.ResponseError, match="unknown command"):
        sc.execute_command("GET", "x")


def test_is_master_down_by_addr_and_votes(sc, group):
    down, leader, epoch = sc.execute_command("SENTINEL", "IS-MASTER-DOWN-BY-ADDR", "127.0.0.1",
                                             group.master.port, 0, "*")
    assert (down, leader, epoch) == (0, "*", 0)
    reply = sc.execute_command("SENTINEL", "IS-MASTER-DOWN-BY-ADDR", "127.0.0.1",
                               group.master.port, 7, "a" * 40)
    assert reply == [0, "a" * 40, 7]  # vote granted in epoch 7
    reply = sc.execute_command("SENTINEL", "IS-MASTER-DOWN-BY-ADDR", "127.0.0.1",
                               group.master.port, 7, "b" * 40)
    assert reply == [0, "a" * 40, 7]  # one vote per epoch


def test_monitor_set_remove_reset(sc, group):
    assert sc.sentinel_monitor("other", "127.0.0.1", group.replicas[0].port, 2)
    with pytest.raises(redis.ResponseError, match="Duplicated master name"):
        sc.sentinel_monitor("other", "127.0.0.1", group.replicas[0].port, 2)
    assert sc.sentinel_set("other", "down-after-milliseconds", 1234)
    assert sc.execute_command("SENTINEL", "SET", "other", "quorum", 3, "failover-timeout", 9000)
    m = sc.sentinel_master("other")
    assert (m["down-after-milliseconds"], m["quorum"], m["failover-timeout"]) == (1234, 3, 9000)
    with pytest.raises(redis.ResponseError, match="Unknown option"):
        sc.sentinel_set("other", "bogus", 1)
    assert sc.sentinel_remove("other")
    assert "other" not in sc.sentinel_masters()
    assert sc.execute_command("SENTINEL", "RESET", "g*") == 1
    wait_until(lambda: replicas_known(sc), what="replicas rediscovered")


def test_forced_failover_publishes_events(solo, group):
    c = redis.Redis(port=solo.port, decode_responses=True, socket_timeout=10)
    wait_until(lambda: replicas_known(c), what="replicas discovered")
    ps = c.pubsub()
    ps.subscribe("+switch-master")
    ps.psubscribe("+*")
    old = group.master.port
    assert c.sentinel_failover(GROUP)
    with pytest.raises(redis.ResponseError, match="INPROG"):
        c.sentinel_failover(GROUP)
    seen: dict[str, str] = {}

    def switched() -> bool:
        msg = ps.get_message(timeout=0.5)
        if msg and msg["type"] in ("message", "pmessage"):
            seen.setdefault(msg["channel"], msg["data"])
        return "+switch-master" in seen and msg and msg["type"] == "message"

    wait_until(switched, what="+switch-master")
    for ev in ("+try-failover", "+elected-leader", "+selected-slave", "+promoted-slave",
               "+slave-reconf-sent"):
        assert ev in seen, (ev, seen)
    name, oldip, oldport, newip, newport = seen["+switch-master"].split()
    assert (name, int(oldport)) == (GROUP, old)
    assert seen["+selected-slave"] == f"slave 127.0.0.1:{newport} 127.0.0.1 {newport} @ {GROUP} 127.0.0.1 {old}"
    assert role_of(int(newport))[0] == "master"
    assert c.sentinel_get_master_addr_by_name(GROUP) == ("127.0.0.1", int(newport))
    ps.close()
    c.close()


def test_metrics_and_health(solo, group):
    base = f"http://127.0.0.1:{solo.metrics_port}"
    with urllib.request.urlopen(base + "/health", timeout=5) as r:
        doc = json.load(r)
    assert doc["status"] == "ok" and GROUP in doc["masters"]

    def metrics() -> str:
        with urllib.request.urlopen(base + "/metrics", timeout=5) as r:
            return r.read().decode()

    wait_until(lambda: f'xcache_sentinel_master_state{{master="{GROUP}",state="ok"}} 1.0' in metrics(),
               what="master state ok in metrics")
    text = metrics()
    for name in ("xcache_sentinel_current_epoch", "xcache_sentinel_probe_latency_seconds",
                 "xcache_sentinel_failover_attempts", "xcache_sentinel_events_total"):
        assert name in text


def test_state_file_survives_restart_after_failover(tmp_path, group):
    """A sentinel restarted after a failover watches the new master, keeps its id and epoch,
    even though its `monitor` setting still names the old (now dead) master."""
    port, state = free_port(), tmp_path / "sentinel-state.json"
    args = [sys.executable, "-m", "xcache.cli", "sentinel", "--port", str(port),
            "--monitor", f"{GROUP} 127.0.0.1 {group.master.port} 1", "--set", f"state_file={state}"]
    for k, v in FAST.items():
        args += ["--set", f"{k}={v}"]
    proc = Proc(args, port, stderr_path=str(tmp_path / "sentinel.log")).wait_ready()
    try:
        c = redis.Redis(port=port, decode_responses=True, socket_timeout=5)
        wait_until(lambda: replicas_known(c), what="replicas discovered")
        myid = c.execute_command("SENTINEL", "MYID")
        old = group.master.port
        assert c.sentinel_failover(GROUP)
        _, new = wait_until(lambda: (a := c.sentinel_get_master_addr_by_name(GROUP)) and a[1] != old and a,
                            what="switch-master")
        wait_until(lambda: json.loads(state.read_text())["masters"][GROUP]["port"] == new,
                   what="state file updated")
        epoch = c.info()["sentinel_current_epoch"]
        c.close()
        proc.stop()
        group.master.kill9()  # the configured master is gone for good

        proc = Proc(args, port, stderr_path=str(tmp_path / "sentinel2.log")).wait_ready()
        c = redis.Redis(port=port, decode_responses=True, socket_timeout=5)
        assert c.sentinel_get_master_addr_by_name(GROUP) == ("127.0.0.1", new)
        assert c.execute_command("SENTINEL", "MYID") == myid
        assert c.info()["sentinel_current_epoch"] == epoch >= 1
        assert c.sentinel_master(GROUP)["config-epoch"] == epoch
        c.close()
    finally:
        proc.stop()


def test_replica_with_priority_zero_is_never_promoted(solo, group):
    c = redis.Redis(port=solo.port, decode_responses=True, socket_timeout=5)
    never, chosen = group.replicas
    with redis.Redis(port=never.port, protocol=2) as r:
        r.config_set("replica-priority", 0)

    def priority_seen() -> bool:
        return any(s["port"] == never.port and s["slave-priority"] == 0 for s in c.sentinel_slaves(GROUP))

    wait_until(priority_seen, what="priority 0 reported by the sentinel")
    wait_until(lambda: replicas_known(c), what="replicas discovered")
    assert c.sentinel_failover(GROUP)
    wait_until(lambda: c.sentinel_get_master_addr_by_name(GROUP) == ("127.0.0.1", chosen.port),
               what="the other replica promoted")
    wait_until(lambda: role_of(never.port)[2] == chosen.port, what="priority-0 replica following")
    c.close()


def test_failover_does_not_kill_client_connections(solo, group):
    """No CLIENT KILL on promotion or reconfiguration: connections to every node survive."""
    c = redis.Redis(port=solo.port, decode_responses=True, socket_timeout=5)
    wait_until(lambda: replicas_known(c), what="replicas discovered")
    conns = {p.port: redis.Redis(port=p.port, protocol=2, single_connection_client=True)
             for p in group.procs}
    ids = {port: r.client_id() for port, r in conns.items()}
    old = group.master.port
    assert c.sentinel_failover(GROUP)
    _, new = wait_until(lambda: (a := c.sentinel_get_master_addr_by_name(GROUP)) and a[1] != old and a,
                        what="switch-master")
    wait_until(lambda: role_of(old)[0] == "slave", what="old master demoted")
    for port, r in conns.items():
        assert r.client_id() == ids[port]  # same connection, never killed
        r.close()
    c.close()
