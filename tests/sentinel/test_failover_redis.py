"""Multi-process failover tests: 3 `xcache sentinel` processes, a real redis-server master and 2
replicas on loopback (kill -9, SIGSTOP, split brain, rejoin)."""

from __future__ import annotations

import signal
import time

import redis

from tests.sentinel.conftest import FAST, GROUP, client, role_of, wait_until


def _write_keys(port: int, n: int, replicas: int = 2) -> None:
    with client(port) as c:
        pipe = c.pipeline(transaction=False)
        for i in range(n):
            pipe.set(f"k{i}", f"v{i}")
        pipe.execute()
        # Acknowledged = replicated to the replicas (the replication lag window is closed).
        assert c.execute_command("WAIT", replicas, 5000) == replicas


def _keys_present(port: int, n: int) -> bool:
    with client(port) as c:
        values = c.mget([f"k{i}" for i in range(n)])
    return values == [f"v{i}" for i in range(n)]


def _is_replica_of(port: int, master_port: int) -> bool:
    role = role_of(port)
    return role[0] == "slave" and int(role[2]) == master_port and role[3] == "connected"


def test_kill9_master_promotes_replica_and_old_master_rejoins(group, sentinels):
    sentinels.wait_connected()
    old = group.master.port
    _write_keys(old, 200)
    group.master.kill9()

    _, new = wait_until(lambda: sentinels.agreed_master(not_port=old), what="new master on all sentinels")
    assert new in [r.port for r in group.replicas]
    assert role_of(new)[0] == "master"
    other = next(r.port for r in group.replicas if r.port != new)
    wait_until(lambda: _is_replica_of(other, new), what="other replica following the new master")
    assert _keys_present(new, 200)
    with client(new) as c:
        assert c.set("after", "failover")

    group.restart(old)  # comes back empty, thinking it is a master
    wait_until(lambda: _is_replica_of(old, new), what="old master converted to a replica")
    wait_until(lambda: _keys_present(old, 200), what="old master resynced")
    with client(sentinels.ports[0]) as c:
        replicas = c.sentinel_slaves(GROUP)
    ports = {r["port"] for r in replicas}
    assert ports == {old, other}


def test_sigstop_master_is_failed_over_after_down_after(group, sentinels):
    sentinels.wait_connected()
    old = group.master.port
    stopped_at = time.monotonic()
    group.master.signal(signal.SIGSTOP)
    _, new = wait_until(lambda: sentinels.agreed_master(not_port=old), what="failover of the stopped master")
    assert time.monotonic() - stopped_at >= FAST["down_after_ms"] / 1000
    assert role_of(new)[0] == "master"


def test_split_brain_old_master_is_demoted_by_epoch(group, sentinels):
    sentinels.wait_connected()
    old = group.master.port
    group.master.signal(signal.SIGSTOP)
    _, new = wait_until(lambda: sentinels.agreed_master(not_port=old), what="failover of the stopped master")
    group.master.signal(signal.SIGCONT)  # the old master wakes up believing it is still master

    wait_until(lambda: _is_replica_of(old, new), what="old master demoted to a replica of the new one")
    assert sentinels.agreed_master() == ("127.0.0.1", new)
    epochs = set()
    for port in sentinels.ports:
        with client(port) as c:
            d = c.sentinel_master(GROUP)
        epochs.add(d["config-epoch"])
        assert d["is_master"] and not d["is_sdown"] and not d["is_odown"]
    assert len(epochs) == 1 and epochs.pop() >= 1
    with client(old) as c:  # writes to the demoted master are refused
        try:
            c.set("stale", "write")
            raise AssertionError("write accepted by the demoted master")
        except redis.ReadOnlyError:
            pass


def test_redis_py_sentinel_client_follows_failover(group, sentinels):
    sentinels.wait_connected()
    sentinel = redis.sentinel.Sentinel([("127.0.0.1", p) for p in sentinels.ports],
                                       socket_timeout=1, decode_responses=True)
    assert sentinel.discover_master(GROUP) == ("127.0.0.1", group.master.port)
    assert {p for _, p in sentinel.discover_slaves(GROUP)} == {r.port for r in group.replicas}
    master = sentinel.master_for(GROUP, socket_timeout=1)
    master.set("before", "1")
    master.execute_command("WAIT", 2, 5000)
    old = group.master.port
    group.master.kill9()

    def write_ok() -> bool:
        try:
            return bool(master.set("after", "2"))
        except (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError,
                redis.sentinel.MasterNotFoundError):
            return False

    wait_until(write_ok, what="redis-py writing to the new master")
    host, port = sentinel.discover_master(GROUP)
    assert port != old and port in [r.port for r in group.replicas]
    assert master.get("before") == "1" and master.get("after") == "2"


def test_two_failovers_in_a_row(group, sentinels):
    sentinels.wait_connected()
    first = group.master.port
    group.master.kill9()
    _, second = wait_until(lambda: sentinels.agreed_master(not_port=first), what="first failover")
    third = next(r.port for r in group.replicas if r.port != second)
    wait_until(lambda: _is_replica_of(third, second), what="replica following the second master")
    _write_keys(second, 50, replicas=1)
    group.by_port(second).kill9()
    assert wait_until(lambda: sentinels.agreed_master(not_port=second), what="second failover") == \
        ("127.0.0.1", third)
    assert role_of(third)[0] == "master" and _keys_present(third, 50)

