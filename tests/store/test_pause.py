"""CLIENT PAUSE / UNPAUSE. Every test using `r` runs against xcache AND redis-server (Redis 7.0)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from tests.store.test_lists import other_client, wait_blocked


def port_of(r: redis.Redis) -> int:
    return r.connection_pool.connection_kwargs["port"]


def in_thread(fn, *args):
    pool = ThreadPoolExecutor(1)
    fut = pool.submit(fn, *args)
    pool.shutdown(wait=False)
    return fut


@pytest.fixture
def paused(r):
    """r, with CLIENT UNPAUSE guaranteed at the end (the server is shared by the next tests)."""
    yield r
    r.execute_command("CLIENT", "UNPAUSE")


def test_write_waits_until_unpause_reads_do_not(paused):
    r = paused
    r.set("counter", 5)
    writer = other_client(r)
    assert r.execute_command("CLIENT", "PAUSE", 10000, "WRITE") in (True, b"OK")
    fut = in_thread(writer.incr, "counter")
    wait_blocked(port_of(r), 1)  # the INCR is suspended, as a paused client in Redis
    reader = other_client(r)
    assert reader.get("counter") == b"5"  # reads, PING, INFO are served during a WRITE pause
    assert reader.ping() is True
    assert reader.info("replication")["role"] == "master"
    assert not fut.done()
    r.execute_command("CLIENT", "UNPAUSE")
    assert fut.result(timeout=5) == 6
    assert r.get("counter") == b"6"
    writer.close()
    reader.close()


def test_write_pause_covers_publish_and_transactions(paused):
    r = paused
    other = other_client(r)
    r.execute_command("CLIENT", "PAUSE", 10000, "WRITE")
    pub = in_thread(other.publish, "chan", "msg")
    wait_blocked(port_of(r), 1)
    assert not pub.done()
    r.execute_command("CLIENT", "UNPAUSE")
    assert pub.result(timeout=5) == 0
    # a write queued in MULTI waits at EXEC time; a read-only transaction does not
    r.set("k", "v")
    pipe = other.pipeline(transaction=True)
    pipe.get("k")
    r.execute_command("CLIENT", "PAUSE", 10000, "WRITE")
    assert pipe.execute() == [b"v"]
    r.execute_command("CLIENT", "UNPAUSE")
    other.close()


def test_all_pause_delays_reads_until_timeout(r):
    reader = other_client(r)
    start = time.monotonic()
    r.execute_command("CLIENT", "PAUSE", 300, "ALL")
    assert reader.get("k") is None  # answered once the pause times out by itself
    assert time.monotonic() - start >= 0.29
    reader.close()


def test_write_pause_ends_by_itself(r):
    writer = other_client(r)
    start = time.monotonic()
    r.execute_command("CLIENT", "PAUSE", 300, "WRITE")
    assert writer.set("k", "v") is True
    assert time.monotonic() - start >= 0.29
    assert r.get("k") == b"v"
    writer.close()


def test_pause_mode_defaults_to_all(r):
    other = other_client(r)
    start = time.monotonic()
    r.execute_command("CLIENT", "PAUSE", 300)
    assert other.ping() is True  # even PING waits for an ALL pause
    assert time.monotonic() - start >= 0.29
    other.close()


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["abc"], "timeout is not an integer or out of range"),
        (["1.5"], "timeout is not an integer or out of range"),
        (["-1"], "timeout is negative"),
        (["100", "foo"], "CLIENT PAUSE mode must be WRITE or ALL"),
        ([], "wrong number of arguments for 'client|pause' command"),
        (["100", "WRITE", "x"], "unknown subcommand or wrong number of arguments for 'PAUSE'"),
    ],
)
def test_pause_bad_arguments(r, args, error):
    with pytest.raises(redis.ResponseError, match=error.replace("|", r"\|")):
        r.execute_command("CLIENT", "PAUSE", *args)


def test_unpause_arguments(r):
    assert r.execute_command("CLIENT", "UNPAUSE") in (True, b"OK")  # nothing paused: fine
    with pytest.raises(redis.ResponseError, match=r"wrong number of arguments for 'client\|unpause'"):
        r.execute_command("CLIENT", "UNPAUSE", "x")
    with pytest.raises(redis.ResponseError, match=r"wrong number of arguments for 'client\|unpause'"):
        r.execute_command("CLIENT", "UNPAUSE", "x", "y")


def test_info_reports_the_pause(x):
    """xcache only: INFO clients tells why writes wait (the fields newer Redis versions have)."""
    assert x.info("clients")["paused_actions"] == "none"
    x.execute_command("CLIENT", "PAUSE", 10000, "WRITE")
    try:
        info = x.info("clients")
        assert info["paused_reason"] == "client_pause" and info["paused_actions"] == "write"
        assert 0 < info["paused_timeout_milliseconds"] <= 10000
    finally:
        x.execute_command("CLIENT", "UNPAUSE")
    assert x.info("clients")["paused_reason"] == "none"


def test_paused_nodes_keep_replicating(cluster):
    """xcache only: a WRITE-paused master still streams to its replica, which (paused too) still
    applies and ACKs: the replica catches up, as a failover needs."""
    from tests.store.cluster import client, wait_synced

    master = cluster.node()
    replica = cluster.replica_of(master)
    m, rep = client(master), client(replica)
    writer = client(master)
    rep.execute_command("CLIENT", "PAUSE", 10000, "WRITE")
    pipe = writer.pipeline(transaction=False)
    for i in range(2000):
        pipe.set(f"k{i}", i)
    pipe.execute()
    m.execute_command("CLIENT", "PAUSE", 10000, "WRITE")
    assert writer.execute_command("WAIT", 1, 10000) == 1  # applied and acked while both paused
    wait_synced(master, replica)
    assert rep.get("k1999") == b"1999"
    for node in (m, rep):
        node.execute_command("CLIENT", "UNPAUSE")


def test_nothing_expires_during_a_pause_a_read_after_it_expires(paused):
    """Redis's unit pause: neither the background cycle nor a read deletes an expired key while
    clients are paused; after UNPAUSE a read deletes what it finds expired (passive expiry)."""
    r = paused
    before = r.info("stats")["expired_keys"]
    tx = r.pipeline(transaction=True)
    tx.set("pe{t}", "v", px=10).set("pf{t}", "v", px=10).execute_command("CLIENT", "PAUSE", 50000, "WRITE")
    tx.execute()
    deadline = time.monotonic() + 10
    while (r.get("pe{t}"), r.get("pf{t}")) != (None, None):  # the keys' own 10 ms run out
        assert time.monotonic() < deadline, "the keys never expired logically"
        time.sleep(0.01)
    assert r.info("stats")["expired_keys"] == before
    r.execute_command("CLIENT", "UNPAUSE")
    r.get("pe{t}")
    r.get("pf{t}")
    assert r.info("stats")["expired_keys"] == before + 2
