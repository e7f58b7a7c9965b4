"""The node's meta cache (xcache/store/metacache.py): bounded, and never stale whatever path
wrote a key it holds (a single write, a pipelined group, MULTI/EXEC, FLUSHDB, a replica's
stream)."""

from __future__ import annotations

import random

import pytest
import redis

from tests.procs import start_xcache_server, wait_until
from xcache.store.metacache import ENTRY_OVERHEAD, MISSING, MetaCache


def test_lookups_fill_young_and_old_entries_move_back():
    c = MetaCache(64 * 1024)
    c.put(b"\x00a", b"1")
    assert c.young[b"\x00a"] == b"1"
    c._turn()
    assert (c.young, c.old) == ({}, {b"\x00a": b"1"})
    assert c.lookup_old(b"\x00a") == b"1"
    assert (c.young, c.old, c.hits) == ({b"\x00a": b"1"}, {}, 1)
    assert c.lookup_old(b"\x00b") is MISSING and c.misses == 1


def test_the_cache_never_holds_more_than_its_capacity():
    c = MetaCache(100_000)
    rng = random.Random(7)
    for _ in range(20_000):
        c.put(b"\x00k%d" % rng.randrange(5_000), b"v" * rng.randrange(200))
        assert c.young_bytes + c.old_bytes <= c.capacity
    held = sum(len(k) + ENTRY_OVERHEAD + len(v) for d in (c.young, c.old) for k, v in d.items())
    assert held <= c.capacity


def test_an_entry_too_large_is_not_kept():
    c = MetaCache(64 * 1024)  # entries above 1 KiB are not cached
    c.put(b"\x00a", b"small")
    c._turn()
    c.put(b"\x00a", b"x" * 4096)  # the new value is too large: the old copy must go too
    assert b"\x00a" not in c.young and b"\x00a" not in c.old
    c.put(b"\x00b", b"small")
    c.absorb({b"\x00b": b"y" * 4096})
    assert b"\x00b" not in c.young


def test_writes_refresh_only_the_keys_it_holds():
    c = MetaCache(64 * 1024)
    c.put(b"\x00old", b"3")
    c._turn()
    c.put(b"\x00a", b"1")
    c.put(b"\x00gone", b"2")
    c.absorb({b"\x00a": b"new", b"\x00gone": None, b"\x00old": b"4", b"\x00never": b"5"})
    assert c.young == {b"\x00a": b"new", b"\x00gone": None, b"\x00old": b"4"}
    assert c.old == {}
    c.refresh(b"\x00other", b"6")
    assert b"\x00other" not in c.young
    c.refresh(b"\x00a", b"7")
    assert c.young[b"\x00a"] == b"7"


def test_a_smaller_capacity_clears_it():
    c = MetaCache(64 * 1024)
    c.put(b"\x00a", b"1")
    c.resize(32 * 1024)
    assert (c.young, c.old, c.capacity) == ({}, {}, 32 * 1024)
    c.resize(0)
    c.put(b"\x00a", b"1")
    c.absorb({b"\x00a": b"2"})
    assert (c.young, c.old) == ({}, {})


@pytest.fixture
def node(tmp_path):
    proc = start_xcache_server(tmp_path)
    r = redis.Redis(port=proc.port)
    try:
        yield r
    finally:
        r.close()
        proc.stop()


def _cached(r) -> int:
    return r.info("memory")["meta_cache_keys"]


def test_every_write_path_is_seen_by_a_cached_read(node):
    r = node
    r.mset({f"k{i}": "old" for i in range(10)})
    assert r.mget([f"k{i}" for i in range(10)]) == [b"old"] * 10  # all cached now
    assert _cached(r) >= 10
    r.set("k0", "single")
    p = r.pipeline(transaction=False)  # one group: write then read in the same chunk
    p.set("k1", "piped").get("k1").append("k2", "+").delete("k3")
    assert p.execute() == [True, b"piped", 4, 1]
    with r.pipeline() as t:  # MULTI/EXEC
        t.set("k4", "multi").incr("n").rename("k5", "k5b")
        t.execute()
    r.expire("k6", 100)
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        r.lpush("k7", "x")  # a string key: refused, nothing changes
    assert r.mget([f"k{i}" for i in range(8)] + ["k5b"]) == [
        b"single", b"piped", b"old+", None, b"multi", None, b"old", b"old", b"old"]
    assert r.ttl("k6") > 0
    r.swapdb(0, 1)
    assert r.get("k0") is None
    r.swapdb(0, 1)
    assert r.get("k0") == b"single"
    r.flushdb()
    assert r.mget(["k0", "k1"]) == [None, None] and r.dbsize() == 0
    m = r.info("memory")
    assert m["meta_cache_hits"] > 0 and m["meta_cache_misses"] > 0


def test_meta_cache_can_be_turned_off_at_runtime(node):
    r = node
    r.set("a", "1")
    assert r.get("a") == b"1" and _cached(r) >= 1
    assert r.config_set("meta-cache-bytes", "0")
    assert r.config_get("meta-cache-bytes") == {"meta-cache-bytes": "0"}
    r.set("a", "2")
    assert r.get("a") == b"2"
    m = r.info("memory")
    assert (m["meta_cache_capacity"], m["meta_cache_keys"]) == (0, 0)


def test_a_replica_applies_writes_to_the_keys_it_cached(tmp_path):
    master = start_xcache_server(tmp_path)
    replica = start_xcache_server(tmp_path)
    m, s = redis.Redis(port=master.port), redis.Redis(port=replica.port)
    try:
        s.replicaof("127.0.0.1", master.port)
        m.set("k", "1")
        wait_until(lambda: s.get("k") == b"1", what="first value on the replica")
        assert _cached(s) >= 1
        m.set("k", "2")
        m.hset("h", "f", "v")
        wait_until(lambda: s.get("k") == b"2", what="second value on the replica")
        m.delete("k")
        wait_until(lambda: s.get("k") is None, what="the delete on the replica")
    finally:
        m.close()
        s.close()
        replica.stop()
        master.stop()
