"""Migrating slots: the proxy moves a request's keys from the source group (MIGRATE), then serves
it from the owner. Real redis-server groups, so their own MIGRATE does the moving."""

from __future__ import annotations

import itertools

import pytest
import redis

from tests.procs import start_redis, wait_until
from tests.proxy.conftest import ProxyProc, direct
from xcache.keyslot import slot_of


def keys_where(pred, prefix: str, n: int) -> list[str]:
    out = []
    for i in itertools.count():
        k = f"{prefix}{i}"
        if pred(slot_of(k.encode())):
            out.append(k)
            if len(out) == n:
                return out


def moving(prefix: str, n: int = 1) -> list[str]:  # keys of slots 0-511 (migrating below)
    return keys_where(lambda s: s < 512, prefix, n)


def staying(prefix: str, n: int = 1) -> list[str]:  # keys of slots 512-1023 (group 1 keeps them)
    return keys_where(lambda s: s >= 512, prefix, n)


def migrating_table(proxy, epoch: int = 1, **extra) -> dict:
    groups = proxy.admin("GET", "/slots")[1]["groups"]
    return {"epoch": epoch, "groups": groups, "slots": {"0-511": 2, "512-1023": 1},
            "migrating": {"0-511": 1}, **extra}


@pytest.fixture
def one_owner(backends, start_proxy):
    a, b = backends
    return start_proxy(f"1=127.0.0.1:{a.port},2=127.0.0.1:{b.port}", slots="0-1023=1"), a, b


def test_migrating_slot_moves_keys_then_serves_them(one_owner):
    proxy, a, b = one_owner
    c = proxy.client()
    s, h, li, z, st, old = moving("str", 1) + moving("hash", 1) + moving("list", 1) + moving("zset", 1) \
        + moving("set", 1) + moving("old", 1)
    tag = next(t for t in (f"t{i}" for i in range(1000)) if slot_of(t.encode()) < 512)
    c.set(s, "v1", ex=100)
    c.hset(h, mapping={"f1": "a", "f2": "b"})
    c.rpush(li, "x", "y", "z")
    c.zadd(z, {"m1": 1.0, "m2": 2.0})
    c.sadd(st, "p", "q")
    c.set(old, "0")
    c.set(f"{{{tag}}}src", "renamed")
    far = staying("far", 3)
    mv = moving("mm", 3)
    for k in far + mv:
        c.set(k, "orig")
    assert direct(a).exists(s, h, li, z, st, old, *far, *mv) == 12
    assert direct(b).dbsize() == 0

    status, body = proxy.admin("PUT", "/slots", migrating_table(proxy))
    assert status == 200 and body["drained"] is True
    assert proxy.admin("GET", "/slots")[1]["migrating"] == {"0-511": 1}

    # A read moves its key first: now on group 2 only, TTL kept.
    assert c.get(s) == b"v1"
    assert direct(b).get(s) == b"v1" and not direct(a).exists(s)
    assert 90 < c.ttl(s) <= 100 and 90 < direct(b).ttl(s) <= 100
    assert c.hgetall(h) == {b"f1": b"a", b"f2": b"b"}
    assert c.lrange(li, 0, -1) == [b"x", b"y", b"z"]
    assert c.zrange(z, 0, -1, withscores=True) == [(b"m1", 1.0), (b"m2", 2.0)]
    assert c.smembers(st) == {b"p", b"q"}
    assert direct(b).exists(h, li, z, st) == 4 and direct(a).exists(h, li, z, st) == 0
    # A new key lands on the owner.
    new = moving("new", 1)[0]
    assert c.set(new, "n")
    assert direct(b).get(new) == b"n" and not direct(a).exists(new)
    # Multi-key commands across migrating and staying slots.
    assert c.mget(*mv, *far) == [b"orig"] * 6
    assert direct(b).exists(*mv) == 3 and direct(a).exists(*mv) == 0 and direct(a).exists(*far) == 3
    more = moving("ms", 2)
    assert c.mset({more[0]: "1", more[1]: "2", far[0]: "3", mv[0]: "4"})
    assert direct(b).mget(more[0], more[1], mv[0]) == [b"1", b"2", b"4"] and direct(a).get(far[0]) == b"3"
    assert c.delete(mv[1], far[1], moving("absent", 1)[0]) == 2
    assert c.exists(mv[2], far[2]) == 2
    # A same-slot command moves all its keys.
    assert c.rename(f"{{{tag}}}src", f"{{{tag}}}dst")
    assert direct(b).get(f"{{{tag}}}dst") == b"renamed" and not direct(a).exists(f"{{{tag}}}src")
    # Pipelined on a key that was still on the source: executed and answered in order.
    p = c.pipeline(transaction=False)
    p.set(old, 1).incr(old).get(old)
    assert p.execute() == [True, 2, b"2"]
    assert direct(b).get(old) == b"2" and not direct(a).exists(old)

    stats = proxy.stats()
    assert stats["migrating_slots"] == 512
    mig = stats["migration"]
    assert mig["steps"] >= 12 and mig["moved"] >= 9 and mig["errors"] == 0
    assert proxy.metric("xcache_proxy_migrate_moved_total") == mig["moved"]
    assert proxy.metric("xcache_proxy_migrating_slots") == 512

    # Migration done: the owner alone serves the slots; a table without 'migrating' is drained too.
    done = {k: v for k, v in migrating_table(proxy, epoch=2).items() if k != "migrating"}
    status, body = proxy.admin("PUT", "/slots", done)
    assert status == 200 and body["drained"] is True
    assert c.get(s) == b"v1" and proxy.stats()["migrating_slots"] == 0
    assert proxy.stats()["migration"]["steps"] == mig["steps"]


def test_failed_move_fails_the_request_and_keeps_the_key(tmp_path):
    a = start_redis(tmp_path)
    b = start_redis(tmp_path, "--requirepass", "secret")  # the proxy does not know this password
    proxy = ProxyProc(tmp_path, f"1=127.0.0.1:{a.port},2=127.0.0.1:{b.port}", slots="0-1023=1",
                      migrate_timeout_ms=2000)
    try:
        # group 2 refuses the proxy's (missing) password: it shows auth_failed, never up
        wait_until(lambda: proxy.stats()["groups"]["2"]["state"] == "auth_failed", what="auth_failed")
        wait_until(lambda: proxy.stats()["groups"]["1"]["state"] == "up", what="group 1 up")
        c = proxy.client()
        k, k2 = moving("k", 2)
        c.set(k, "on-a")

        good = migrating_table(proxy)
        for bad, msg in [({"0-511": 9}, "unknown group 9"), ({"0-511": 2}, "already owns"),
                         ({"600-500": 1}, "bad range")]:
            status, body = proxy.admin("PUT", "/slots", {**good, "migrating": bad})
            assert status == 400 and msg in body["error"]
        assert proxy.admin("PUT", "/slots", good)[0] == 200

        with pytest.raises(redis.ResponseError, match=f"slot {slot_of(k.encode())} is migrating and key move failed"):
            c.get(k)
        with pytest.raises(redis.ResponseError, match="key move failed"):
            c.set(k, "lost")  # a write never lands on the owner when its key could not move
        assert direct(a).get(k) == b"on-a"
        bdirect = redis.Redis(port=b.port, password="secret", socket_timeout=5)
        assert not bdirect.exists(k)
        # A key on neither side needs no move: MIGRATE answers NOKEY without contacting the target.
        with pytest.raises(redis.ResponseError, match="refused the proxy's credentials"):
            c.set(k2, "x")  # the owner refuses the unauthenticated proxy
        assert not direct(a).exists(k2)
        assert proxy.stats()["migration"]["errors"] == 2
        assert proxy.metric("xcache_proxy_migrate_errors_total") == 2
    finally:
        proxy.stop()
        a.stop()
        b.stop()


def test_table_change_reroutes_held_requests(backends, start_proxy):
    """Barrier: a request held for a failing group whose slot moves away is served by the new owner
    at once, never replayed on the group that lost the slot."""
    import threading

    a, b = backends
    proxy = start_proxy(f"1=127.0.0.1:{a.port},2=127.0.0.1:{b.port}", slots="0-1023=1", hold_timeout_ms=20000,
                        hold_while_master_down=True)
    k = moving("held", 1)[0]
    direct(b).set(k, "on-b")
    c = proxy.client()
    assert c.get(k) is None  # group 1 owns it so far
    a.stop()
    got: list = []
    t = threading.Thread(target=lambda: got.append(proxy.client().get(k)))
    t.start()
    proxy.wait_until(lambda: proxy.stats()["groups"]["1"]["held"] == 1, what="request held")
    table = {**migrating_table(proxy), "slots": {"0-1023": 2}}
    del table["migrating"]
    status, body = proxy.admin("PUT", "/slots", table)
    assert status == 200 and body["drained"] is True
    t.join(10)
    assert got == [b"on-b"] and proxy.stats()["groups"]["1"]["held"] == 0


def test_unreachable_target_is_retried_until_the_table_names_a_new_one(tmp_path, start_proxy):
    """The target master dies mid-migration: a request of a migrating slot waits (MIGRATE retried)
    instead of failing, and is served once the failed-over target master is pushed."""
    import threading

    a, b, b2 = start_redis(tmp_path), start_redis(tmp_path), start_redis(tmp_path)
    try:
        proxy = start_proxy(f"1=127.0.0.1:{a.port},2=127.0.0.1:{b.port}", slots="0-1023=1",
                            hold_timeout_ms=20000, hold_while_master_down=True)
        c = proxy.client()
        k = moving("fo", 1)[0]
        c.set(k, "v")
        assert proxy.admin("PUT", "/slots", migrating_table(proxy))[0] == 200
        b.stop()  # the target master is gone; b2 will be its successor
        got: list = []
        t = threading.Thread(target=lambda: got.append(proxy.client().get(k)))
        t.start()
        proxy.wait_until(lambda: proxy.stats()["migration"]["retries"] > 0, what="MIGRATE retried")
        assert got == [] and direct(a).get(k) == b"v"  # nothing moved, nothing answered yet
        table = migrating_table(proxy, epoch=2)
        table["groups"]["2"] = {"master": f"127.0.0.1:{b2.port}", "replicas": []}
        assert proxy.admin("PUT", "/slots", table)[0] == 200
        t.join(20)
        assert got == [b"v"]
        assert direct(b2).get(k) == b"v" and not direct(a).exists(k)
        assert proxy.stats()["migration"]["errors"] == 0
    finally:
        for n in (a, b, b2):
            n.stop()
