"""OBJECT IDLETIME / FREQ, RESTORE IDLETIME / FREQ and what touches a key (xcache/store/access.py):
the table itself without a server, then the commands against a node and a redis-server."""

from __future__ import annotations

import pytest
import redis

from tests.store.crosscheck import both_fixture, same  # noqa: F401  (fixture)
from xcache.store import access as access_mod
from xcache.store.access import LFU_INIT_VAL, AccessTable

LRU = {"maxmemory-policy": "noeviction", "lfu-log-factor": "10", "lfu-decay-time": "1"}
LFU = {**LRU, "maxmemory-policy": "allkeys-lfu"}


def table(settings=LRU, clock=1_000_000) -> AccessTable:
    t = AccessTable()
    t.clock = t.since = clock
    t.configure(settings)
    return t


def test_idle_time_counts_from_the_last_use():
    t = table()
    t.touch(b"k")
    t.clock += 7
    assert t.idle_seconds(b"k") == 7
    t.touch(b"k")
    assert t.idle_seconds(b"k") == 0


def test_a_key_unused_since_the_old_generation_began_is_idle_since_then(monkeypatch):
    monkeypatch.setattr(access_mod, "GENERATION_KEYS", 2)
    t = table()
    t.touch(b"a")
    t.clock += 10
    for k in (b"b", b"c", b"d", b"e", b"f", b"g"):  # two turns: a's stamp is dropped
        t.touch(k)
    t.clock += 5
    assert t.idle_seconds(b"a") == 5  # a lower bound: unused since the old generation began
    assert t.idle_seconds(b"g") == 5
    assert len(t.young) <= 2 and len(t.old) <= 3


def test_restore_idletime_and_freq_follow_the_policy():
    t = table()
    t.set(b"k", 1000, None)
    assert t.idle_seconds(b"k") == 1000
    t.set(b"k", None, 100)  # FREQ under an LRU policy: ignored, as objectSetLRUOrLFU does
    assert t.idle_seconds(b"k") == 1000
    t.configure(LFU)  # a switch starts afresh
    assert t.frequency(b"k") == LFU_INIT_VAL
    t.set(b"k", None, 100)
    assert t.frequency(b"k") == 100


def test_lfu_counter_grows_logarithmically_and_decays(monkeypatch):
    t = table(LFU)
    monkeypatch.setattr(access_mod.random, "random", lambda: 0.0)  # every increment happens
    for _ in range(3):
        t.touch(b"k")
    assert t.frequency(b"k") == LFU_INIT_VAL + 3
    monkeypatch.setattr(access_mod.random, "random", lambda: 0.99)  # p = 1/(3*10+1): none
    t.touch(b"k")
    assert t.frequency(b"k") == LFU_INIT_VAL + 3
    stamp = t.young[b"k"]
    t.young[b"k"] = (((stamp >> 8) - 2) & 0xFFFF) << 8 | (stamp & 0xFF)  # used 2 minutes ago
    assert t.frequency(b"k") == LFU_INIT_VAL + 1  # lfu-decay-time 1: one less per minute


# --- against redis-server ------------------------------------------------------------------------


def _restore_old(cl, key, idle):
    cl.set("src", "bar")
    cl.restore(key, 0, cl.dump("src"), idletime=idle, replace=True)


def test_restore_idletime_is_what_object_idletime_answers(both):
    for cl in both:
        _restore_old(cl, "foo", 1000)
        idle = cl.object("idletime", "foo")
        assert 1000 <= idle <= 1010
        for look in (("TYPE", "foo"), ("TTL", "foo"), ("PTTL", "foo"), ("EXISTS", "foo"),
                     ("OBJECT", "ENCODING", "foo")):
            cl.execute_command(*look)  # LOOKUP_NOTOUCH: looking is not using
        assert cl.object("idletime", "foo") >= 1000
        cl.get("foo")
        assert cl.object("idletime", "foo") <= 1
        _restore_old(cl, "bar", 500)
        cl.touch("bar")
        assert cl.object("idletime", "bar") <= 1


def test_restore_freq_under_an_lfu_policy(both):
    for cl in both:
        cl.config_set("maxmemory-policy", "allkeys-lfu")
        try:
            cl.set("src", "bar")
            cl.restore("foo", 0, cl.dump("src"), frequency=100)
            assert cl.object("freq", "foo") == 100
            assert cl.get("foo") == b"bar"
            assert cl.object("freq", "foo") in (100, 101)  # a log increment, rarely taken at 100
        finally:
            cl.config_set("maxmemory-policy", "noeviction")


def test_the_policy_decides_which_figure_is_kept(both):
    same(both, "SET", "k", "v")
    same(both, "OBJECT", "FREQ", "k")  # error: no LFU policy
    same(both, "CONFIG", "SET", "maxmemory-policy", "volatile-lfu")
    try:
        same(both, "OBJECT", "IDLETIME", "k")  # error: an LFU policy
    finally:
        same(both, "CONFIG", "SET", "maxmemory-policy", "noeviction")


def test_a_no_touch_client_does_not_use_keys(xcache_node):
    """CLIENT NO-TOUCH (Redis 7.2): reads leave the idle time alone; TOUCH still touches."""
    c = redis.Redis(port=xcache_node.port, socket_timeout=10)
    _restore_old(c, "nt", 1000)
    c.execute_command("CLIENT", "NO-TOUCH", "ON")
    c.get("nt")
    assert c.object("idletime", "nt") >= 1000
    c.touch("nt")
    assert c.object("idletime", "nt") <= 1
    c.close()


@pytest.mark.parametrize("policy", ["allkeys-lru", "allkeys-lfu"])
def test_debug_object_shows_the_lru_field(xcache_node, policy):
    c = redis.Redis(port=xcache_node.port, socket_timeout=10)
    c.config_set("maxmemory-policy", policy)
    try:
        _restore_old(c, "d", 100)
        line = c.execute_command("DEBUG", "OBJECT", "d")
        idle = int(line.split(b"lru_seconds_idle:")[1]) if isinstance(line, bytes) else line["lru_seconds_idle"]
        assert (idle >= 100) if policy == "allkeys-lru" else idle == 0
    finally:
        c.config_set("maxmemory-policy", "noeviction")
        c.close()
