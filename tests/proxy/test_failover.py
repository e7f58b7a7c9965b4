"""Failover hiding: held requests, replay on a pushed master, no errors or disconnects for reads."""

from __future__ import annotations

import threading

import pytest
import redis

from tests.procs import start_redis
from tests.proxy.conftest import direct, exchange
from tests.proxy.test_proxy import keys_in
from xcache.resp import encode_command


def _table(proxy) -> dict:
    return proxy.admin("GET", "/slots")[1]


def _push_master(proxy, group: int, port: int) -> None:
    table = _table(proxy)
    table["epoch"] += 1
    table["groups"][str(group)] = {"master": f"127.0.0.1:{port}", "replicas": []}
    status, body = proxy.admin("PUT", "/slots", table)
    assert status == 200, body


def _proxy_on_replica(backends, start_proxy, replica):
    """A proxy whose group 2 master was switched to a node that is still a replica (-READONLY)."""
    a, b = backends
    p = start_proxy(f"1=127.0.0.1:{a.port},2=127.0.0.1:{b.port}", hold_timeout_ms=20000)
    _push_master(p, 2, replica.port)
    p.wait_until(lambda: p.stats()["groups"]["2"]["state"] == "up", what="group 2 up")
    return p


class Load:
    """Client threads looping GETs (and optionally SETs) until stopped; they count everything."""

    def __init__(self, proxy, keys: list[bytes], clients: int = 4, writes: bool = False):
        self.proxy, self.keys, self.writes = proxy, keys, writes
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ok = 0
        self.read_errors: list[str] = []
        self.write_errors: list[str] = []
        self.connections: set = set()
        self.threads = [threading.Thread(target=self.run, args=(i,)) for i in range(clients)]

    def run(self, i: int) -> None:
        # One connection per thread for the whole run: a reconnect would show up as a new id.
        c = self.proxy.client(single_connection_client=True, retry_on_timeout=False)
        n = 0
        while not self.stop.is_set():
            k = self.keys[(n + i) % len(self.keys)]
            n += 1
            try:
                if self.writes and n % 4 == 0:
                    c.set(k, b"x")
                else:
                    c.get(k)
                with self.lock:
                    self.ok += 1
            except redis.ResponseError as exc:
                with self.lock:
                    (self.write_errors if self.writes and n % 4 == 0 else self.read_errors).append(str(exc))
            except redis.ConnectionError as exc:
                with self.lock:
                    self.read_errors.append(f"disconnected: {exc}")
                return
        with self.lock:
            self.connections.add(c.client_id())
        c.close()

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def wait_ops(self, more: int) -> None:
        target = self.ok + more
        self.proxy.wait_until(lambda: self.ok >= target or self.read_errors, what=f"{more} more ops")

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(30)


def test_master_switch_under_load_is_invisible(tmp_path, backends, start_proxy):
    """Sentinel-style switch: promote the replica, push it as master, demote the old one."""
    a, b = backends
    replica = start_redis(tmp_path, "--replicaof", "127.0.0.1", str(a.port))
    try:
        p = start_proxy(f"1=127.0.0.1:{a.port},2=127.0.0.1:{b.port}")
        keys = keys_in(1, 20, "f") + keys_in(2, 20, "f")
        c = p.client()
        for k in keys:
            c.set(k, b"v")
        p.wait_until(lambda: all(direct(replica).get(k) == b"v" for k in keys[:20]), what="replica in sync")
        with Load(p, keys, clients=4, writes=True) as load:
            load.wait_ops(500)
            direct(replica).replicaof("NO", "ONE")
            _push_master(p, 1, replica.port)
            direct(a).replicaof("127.0.0.1", replica.port)  # old master now answers -READONLY
            load.wait_ops(500)
            p.wait_until(lambda: p.stats()["groups"]["1"]["state"] == "up", what="group 1 up")
            load.wait_ops(500)
        assert load.read_errors == []
        assert not any("READONLY" in e or "LOADING" in e for e in load.write_errors)
        assert len(load.connections) == 4  # every client kept its one connection
        assert p.stats()["groups"]["1"]["master"] == f"127.0.0.1:{replica.port}"
        assert c.set(keys[0], b"after") and direct(replica).get(keys[0]) == b"after"
    finally:
        replica.stop()


def test_dead_master_requests_held_until_new_master(tmp_path, backends, start_proxy):
    a, b = backends
    p = start_proxy(f"1=127.0.0.1:{a.port},2=127.0.0.1:{b.port}", hold_timeout_ms=20000, hold_while_master_down=True)
    keys = keys_in(2, 10, "d")
    c = p.client()
    for k in keys:
        c.set(k, b"old")
    new = start_redis(tmp_path)
    try:
        for k in keys:
            direct(new).set(k, b"new")
        with Load(p, keys, clients=3) as load:
            load.wait_ops(200)
            b.kill9()
            p.wait_until(lambda: p.stats()["groups"]["2"]["held"] > 0, what="requests held")
            _push_master(p, 2, new.port)
            load.wait_ops(200)
        assert load.read_errors == []
        assert p.metric("xcache_proxy_replayed_total", group="2") > 0
        assert p.metric("xcache_proxy_hold_timeouts_total") == 0
        assert c.get(keys[0]) == b"new"
    finally:
        new.stop()


def test_hold_deadline_gives_clear_error_and_keeps_client(backends, start_proxy):
    a, b = backends
    p = start_proxy(f"1=127.0.0.1:{a.port},2=127.0.0.1:{b.port}", hold_timeout_ms=300, hold_while_master_down=True)
    k1, k2 = keys_in(1, 1, "h")[0], keys_in(2, 1, "h")[0]
    c = p.client(single_connection_client=True)
    cid = c.client_id()
    b.kill9()
    with pytest.raises(redis.ResponseError, match="group 2 master unavailable"):
        c.get(k2)
    assert c.set(k1, b"fine")  # other groups unaffected, same connection
    assert c.client_id() == cid
    assert p.metric("xcache_proxy_hold_timeouts_total", group="2") == 1
    assert p.metric("xcache_proxy_backend_state", group="2", state="suspect") == 1


def test_readonly_master_is_masked_and_replayed(tmp_path, backends, start_proxy):
    """A pushed master that is still a replica answers -READONLY: the write waits, then succeeds."""
    replica = start_redis(tmp_path, "--replicaof", "127.0.0.1", str(backends[1].port))
    try:
        p = _proxy_on_replica(backends, start_proxy, replica)
        k = keys_in(2, 1, "r")[0]
        result: list = []
        t = threading.Thread(target=lambda: result.append(p.client().set(k, b"w")))
        t.start()
        p.wait_until(lambda: p.stats()["groups"]["2"]["held"] > 0 or p.metric(
            "xcache_proxy_backend_state", group="2", state="suspect"), what="write held")
        direct(replica).replicaof("NO", "ONE")
        t.join(30)
        assert result == [True]
        assert direct(replica).get(k) == b"w"
    finally:
        replica.stop()


def test_inflight_write_on_lost_master_is_not_replayed(tmp_path, backends, start_proxy):
    a, b = backends
    p = start_proxy(f"1=127.0.0.1:{a.port},2=127.0.0.1:{b.port}", hold_timeout_ms=20000, hold_while_master_down=True)
    k = keys_in(2, 1, "w")[0]
    c = p.client(single_connection_client=True)
    c.set(k, b"0")
    direct(b).execute_command("CLIENT", "PAUSE", 60000, "ALL")  # the master hangs, as in the incident
    results: list = []

    def run():
        try:
            results.append(c.incr(k))
        except redis.ResponseError as exc:
            results.append(exc)

    t = threading.Thread(target=run)
    t.start()
    p.wait_until(lambda: p.stats()["groups"]["2"]["inflight"] >= 1, what="INCR sent to the paused master")
    b.kill9()  # the connection breaks with the INCR in flight
    t.join(30)
    assert isinstance(results[0], redis.ResponseError)
    assert "may have executed and was not retried" in str(results[0])
    assert p.metric("xcache_proxy_failed_inflight_writes_total", group="2") == 1


def test_reads_from_replicas(tmp_path, backends, start_proxy):
    a, b = backends
    replica = start_redis(tmp_path, "--replicaof", "127.0.0.1", str(a.port))
    try:
        p = start_proxy(f"1=127.0.0.1:{a.port}/127.0.0.1:{replica.port},2=127.0.0.1:{b.port}",
                        read_from_replicas="true")
        k = keys_in(1, 1, "rr")[0]
        c = p.client()
        assert c.set(k, b"master")  # writes go to the master
        p.wait_until(lambda: direct(replica).get(k) == b"master", what="replicated")
        direct(replica).execute_command("CONFIG", "SET", "replica-read-only", "no")
        direct(replica).set(k, b"replica")  # now the two differ: reads must come from the replica
        assert c.get(k) == b"replica"
        assert direct(a).get(k) == b"master"
    finally:
        replica.stop()


def test_hung_master_connection_is_abandoned(backends, start_proxy):
    """The incident's stalled master: a read in flight past backend_timeout_ms is logged as slow
    and counted, and answered when the node resumes; it is not re-sent (issue 12)."""
    a, b = backends
    p = start_proxy(f"1=127.0.0.1:{a.port},2=127.0.0.1:{b.port}", backend_timeout_ms=300,
                    hold_timeout_ms=20000)
    k = keys_in(2, 1, "hung")[0]
    c = p.client()
    c.set(k, b"v")
    direct(b).execute_command("CLIENT", "PAUSE", 1500, "ALL")
    assert c.get(k) == b"v"  # answered once the stall ends
    assert p.metric("xcache_proxy_backend_timeouts_total", group="2") >= 1


def _send_and_read(port: int, chunk: bytes, n: int, done: list) -> None:
    done.append(exchange(port, chunk, n))


def test_batch_in_flight_on_lost_master_is_replayed(tmp_path, backends, start_proxy):
    a, b = backends
    p = start_proxy(f"1=127.0.0.1:{a.port},2=127.0.0.1:{b.port}", hold_timeout_ms=20000, hold_while_master_down=True)
    ks = keys_in(2, 20, "bl")
    new = start_redis(tmp_path)
    try:
        for i, k in enumerate(ks):
            direct(new).set(k, b"%d" % i)
        direct(b).execute_command("CLIENT", "PAUSE", 60000, "ALL")
        chunk = b"".join(encode_command(b"GET", k) for k in ks)
        done: list = []
        t = threading.Thread(target=_send_and_read, args=(p.port, chunk, len(ks), done))
        t.start()
        p.wait_until(lambda: p.stats()["groups"]["2"]["inflight"] >= 1, what="batch in flight")
        b.kill9()
        _push_master(p, 2, new.port)
        t.join(30)
        assert done == [[b"%d" % i for i in range(len(ks))]]
    finally:
        new.stop()


def test_batch_refused_by_readonly_master_is_replayed(tmp_path, backends, start_proxy):
    replica = start_redis(tmp_path, "--replicaof", "127.0.0.1", str(backends[1].port))
    try:
        p = _proxy_on_replica(backends, start_proxy, replica)
        ks = keys_in(2, 10, "ro")
        chunk = b"".join(encode_command(b"SET", k, b"v") for k in ks)
        done: list = []
        t = threading.Thread(target=_send_and_read, args=(p.port, chunk, len(ks), done))
        t.start()
        p.wait_until(lambda: p.stats()["groups"]["2"]["held"] > 0, what="writes held")
        direct(replica).replicaof("NO", "ONE")
        t.join(30)
        assert done == [[b"OK"] * len(ks)]
        assert all(direct(replica).get(k) == b"v" for k in ks)
    finally:
        replica.stop()
