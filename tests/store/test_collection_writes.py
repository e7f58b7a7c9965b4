"""Collection writes with several members per command (one meta read, one read of the members,
one batch each): duplicates within a call, flag combinations, members changed and changed back,
keys deleted and re-created inside one pipeline. Checked against xcache and redis-server alike."""

import random

import pytest

from tests.store.crosscheck import both_fixture, same  # noqa: F401 (fixture)
from tests.store.resp3 import raw


def test_zadd_duplicates_with_flags(r):
    # Each pair is applied in order, as Redis's zsetAdd does; the last score is written.
    assert raw(r, "ZADD", "z", 1, "a", 2, "a", 3, "a") == 1
    assert raw(r, "ZSCORE", "z", "a") == b"3"
    assert raw(r, "ZADD", "z", "CH", 1, "a", 3, "a") == 2  # updated twice, ends where it began
    assert raw(r, "ZRANGEBYSCORE", "z", 3, 3) == [b"a"]
    assert raw(r, "ZRANGEBYSCORE", "z", 1, 1) == []
    assert raw(r, "ZADD", "z", "NX", "CH", 5, "b", 6, "b", 7, "a") == 1  # b added once, a kept
    assert raw(r, "ZRANGE", "z", 0, -1, "WITHSCORES") == [b"a", b"3", b"b", b"5"]
    assert raw(r, "ZADD", "z", "XX", "CH", 9, "c", 8, "b", 4, "b") == 2
    assert raw(r, "ZSCORE", "z", "c") is None
    assert raw(r, "ZADD", "z", "GT", "CH", 10, "a", 2, "a", 11, "a") == 2
    assert raw(r, "ZADD", "z", "LT", "CH", 1, "b", 5, "b", 0, "b") == 2
    assert raw(r, "ZADD", "z", "GT", 1, "new", 0, "new") == 1  # GT never blocks an addition
    assert raw(r, "ZADD", "z", "XX", "GT", "CH", 12, "a", 12, "a") == 1
    assert raw(r, "ZRANGE", "z", 0, -1, "WITHSCORES") == [b"b", b"0", b"new", b"1", b"a", b"12"]
    assert raw(r, "ZCARD", "z") == 3


def test_zadd_incr_variants(r):
    assert raw(r, "ZADD", "z", "INCR", 2, "a") == b"2"
    assert raw(r, "ZADD", "z", "INCR", "NX", 5, "a") is None
    assert raw(r, "ZADD", "z", "INCR", "XX", 5, "nope") is None
    assert raw(r, "ZADD", "z", "INCR", "GT", -1, "a") is None
    assert raw(r, "ZADD", "z", "INCR", "LT", -1, "a") == b"1"
    assert raw(r, "ZADD", "z", "INCR", "XX", "CH", 1.5, "a") == b"2.5"
    assert raw(r, "ZINCRBY", "z", "inf", "a") == b"inf"
    with pytest.raises(Exception, match="NaN"):
        raw(r, "ZINCRBY", "z", "-inf", "a")
    assert raw(r, "ZRANGEBYSCORE", "z", "inf", "inf", "WITHSCORES") == [b"a", b"inf"]
    assert raw(r, "ZCARD", "z") == 1


def test_zadd_digit_scores(r):
    assert raw(r, "ZADD", "z", "000012", "a", "0", "b", "00", "c", "9" * 299, "d") == 4
    assert raw(r, "ZRANGE", "z", 0, -1, "WITHSCORES") == [
        b"b", b"0", b"c", b"0", b"a", b"12", b"d", b"1.0000000000000001e+299"]
    with pytest.raises(Exception, match="not a valid float"):
        raw(r, "ZADD", "z", "9" * 400, "e")


def test_zrem_duplicates_and_last_member(r):
    raw(r, "ZADD", "z", 1, "a", 2, "b")
    assert raw(r, "ZREM", "z", "a", "a", "x") == 1
    assert raw(r, "ZREM", "z", "b") == 1
    assert raw(r, "EXISTS", "z") == 0
    assert raw(r, "ZRANGEBYSCORE", "z", "-inf", "+inf") == []


def test_sadd_srem_duplicates(r):
    assert raw(r, "SADD", "s", "a", "a", "b", "a") == 2
    assert raw(r, "SADD", "s", "b", "c", "c") == 1
    assert raw(r, "SADD", "s", "a") == 0
    assert raw(r, "SCARD", "s") == 3
    assert raw(r, "SREM", "s", "a", "a", "zz") == 1
    assert raw(r, "SREM", "s", "zz") == 0
    assert sorted(raw(r, "SMEMBERS", "s")) == [b"b", b"c"]
    assert raw(r, "SREM", "s", "b", "c", "b") == 2
    assert raw(r, "EXISTS", "s") == 0


def test_hset_duplicates_and_overwrites(r):
    assert raw(r, "HSET", "h", "f", "1", "f", "2", "g", "3") == 2
    assert raw(r, "HGETALL", "h") in ([b"f", b"2", b"g", b"3"], {b"f": b"2", b"g": b"3"})
    raw(r, "EXPIRE", "h", 1000)
    assert raw(r, "HSET", "h", "f", "4") == 0  # an overwrite: count and TTL unchanged
    assert raw(r, "HSET", "h", "f", "5", "g", "6", "f", "7") == 0
    assert raw(r, "HLEN", "h") == 2
    assert 0 < raw(r, "TTL", "h") <= 1000
    assert raw(r, "HMGET", "h", "f", "g") == [b"7", b"6"]
    assert raw(r, "HSETNX", "h", "f", "x") == 0
    assert raw(r, "HSETNX", "h", "n", "x") == 1
    assert raw(r, "HINCRBY", "h", "n2", 5) == 5
    assert raw(r, "HINCRBY", "h", "n2", -7) == -2
    assert raw(r, "HLEN", "h") == 4
    with pytest.raises(Exception, match="not an integer"):
        raw(r, "HINCRBY", "h", "n", 1)
    assert raw(r, "HINCRBYFLOAT", "h", "fl", "1.5") == b"1.5"
    assert raw(r, "HINCRBYFLOAT", "h", "fl", "1") == b"2.5"
    assert raw(r, "HLEN", "h") == 5
    assert raw(r, "HSETNX", "fresh", "a", "1") == 1
    assert raw(r, "HINCRBY", "fresh2", "a", 3) == 3
    assert raw(r, "HLEN", "fresh") == raw(r, "HLEN", "fresh2") == 1


def test_push_many_then_range(r):
    values = [b"v%d" % i for i in range(300)]
    assert raw(r, "LPUSH", "l", *values) == 300
    assert raw(r, "RPUSH", "l", *values[:5]) == 305
    assert raw(r, "LRANGE", "l", 0, -1) == values[::-1] + values[:5]
    assert raw(r, "LRANGE", "l", 298, 301) == [b"v1", b"v0", b"v0", b"v1"]
    assert raw(r, "LPOP", "l", 3) == [b"v299", b"v298", b"v297"]
    assert raw(r, "RPOP", "l", 2) == [b"v4", b"v3"]
    assert raw(r, "LPUSHX", "l", "x", "y") == 302
    assert raw(r, "LINDEX", "l", 0) == b"y"
    assert raw(r, "RPOP", "l", 1000)[-1] == b"y"
    assert raw(r, "EXISTS", "l") == 0
    assert raw(r, "LPUSHX", "l", "x") == 0


def test_write_delete_recreate_in_one_pipeline(r):
    p = r.pipeline(transaction=False)
    for key, create in (("h", ("HSET", "h", "a", "1", "b", "2")), ("s", ("SADD", "s", "a", "b")),
                        ("z", ("ZADD", "z", 1, "a", 2, "b")), ("l", ("RPUSH", "l", "a", "b"))):
        p.execute_command(*create)
        p.execute_command("DEL", key)
    p.execute_command("HSET", "h", "c", "3")
    p.execute_command("SADD", "s", "c", "a")
    p.execute_command("ZADD", "z", 3, "c", 5, "a")
    p.execute_command("RPUSH", "l", "c")
    p.execute_command("SET", "h2", "x")
    p.execute_command("DEL", "h2")
    p.execute_command("HSET", "h2", "f", "v")
    replies = p.execute()
    assert replies[-7:] == [1, 2, 2, 1, True, 1, 1]
    assert raw(r, "HGETALL", "h") in ([b"c", b"3"], {b"c": b"3"})
    assert sorted(raw(r, "SMEMBERS", "s")) == [b"a", b"c"]
    assert raw(r, "ZRANGE", "z", 0, -1, "WITHSCORES") == [b"c", b"3", b"a", b"5"]
    assert raw(r, "ZRANGEBYSCORE", "z", 1, 2) == []
    assert raw(r, "LRANGE", "l", 0, -1) == [b"c"]
    assert raw(r, "TYPE", "h2") in (b"hash", "hash")


def test_random_collection_writes_match_redis(both):
    """A seeded random mix of multi-member writes, with duplicates and flags, gives the same
    replies and the same final contents on both servers."""
    rnd = random.Random(14)
    members = [b"m%d" % i for i in range(8)]
    flags = [[], ["NX"], ["XX"], ["GT"], ["LT"], ["CH"], ["XX", "CH"], ["GT", "CH"], ["NX", "CH"],
             ["LT", "XX", "CH"]]
    for _ in range(400):
        n = rnd.randint(1, 4)
        pick = [rnd.choice(members) for _ in range(n)]
        op = rnd.randrange(9)
        if op == 0:
            args = [x for m in pick for x in (rnd.choice(["1", "2", "-1.5", "3", "inf"]), m)]
            same(both, "ZADD", "z", *rnd.choice(flags), *args)
        elif op == 1:
            incr_flags = rnd.choice([[], ["NX"], ["XX"], ["GT"], ["LT"]])
            same(both, "ZADD", "z", "INCR", *incr_flags, rnd.choice(["1", "-2", "0.5"]), pick[0])
        elif op == 2:
            same(both, "ZREM", "z", *pick)
        elif op == 3:
            same(both, "SADD", "s", *pick)
        elif op == 4:
            same(both, "SREM", "s", *pick)
        elif op == 5:
            same(both, "HSET", "h", *[x for m in pick for x in (m, b"v%d" % rnd.randrange(3))])
        elif op == 6:
            same(both, rnd.choice(["HDEL", "HMGET"]), "h", *pick)
        elif op == 7:
            same(both, rnd.choice(["LPUSH", "RPUSH"]), "l", *pick)
        else:
            same(both, rnd.choice(["LPOP", "RPOP"]), "l", str(rnd.randint(1, 3)))
        if rnd.random() < 0.03:
            same(both, "DEL", rnd.choice(["z", "s", "h", "l"]))
    same(both, "ZRANGE", "z", 0, -1, "WITHSCORES")
    same(both, "ZRANGEBYSCORE", "z", "-inf", "+inf")
    same(both, "SORT", "s", "ALPHA")
    same(both, "HGETALL", "h")
    same(both, "LRANGE", "l", 0, -1)
    for key in ("z", "s", "h", "l"):
        same(both, "EXISTS", key)
