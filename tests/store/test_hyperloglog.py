"""HyperLogLog: replies checked against xcache and redis-server alike (fixture `r`), and the stored
representation compared byte for byte with redis-server's for the same commands (`both`)."""

import random

import pytest
import redis

from tests.store.crosscheck import both_fixture, raw, same  # noqa: F401

NOT_HLL = "WRONGTYPE Key is not a valid HyperLogLog string value."


def test_pfadd_pfcount_basic(r):
    assert r.pfadd("h", "a", "b", "c") == 1
    assert r.pfadd("h", "a") == 0
    assert r.pfcount("h") == 3
    assert r.pfcount("nokey") == 0
    assert r.pfadd("empty") == 1
    assert r.pfadd("empty") == 0
    assert r.pfcount("empty") == 0
    assert r.type("h") == b"string"


def test_same_bytes_small_and_large(both):
    for n in (1, 7, 100, 1000, 5000):
        same(both, "PFADD", f"h{n}", *[f"elem:{i}" for i in range(n)])
        same(both, "GET", f"h{n}")
        assert same(both, "PFCOUNT", f"h{n}") > 0
        same(both, "GET", f"h{n}")  # the cached cardinality is stored the same way
        same(both, "PFDEBUG", "ENCODING", f"h{n}")


def test_same_bytes_one_by_one_through_promotion(both):
    rng = random.Random(15)
    for i in range(2500):
        same(both, "PFADD", "inc", f"x{rng.randrange(10**9)}")
        if i % 250 == 0:
            same(both, "GET", "inc")
            same(both, "PFDEBUG", "DECODE", "inc")
    same(both, "GET", "inc")
    assert same(both, "PFDEBUG", "ENCODING", "inc") == b"dense"
    same(both, "PFCOUNT", "inc")


def test_value_moves_between_servers(both):
    x, r = both
    r.pfadd("h", *[f"e{i}" for i in range(300)])
    x.set("h", r.get("h"))
    assert x.pfcount("h") == r.pfcount("h")
    assert x.pfadd("h", "new") == r.pfadd("h", "new") == 1
    assert x.get("h") == r.get("h")


def test_pfcount_several_and_pfmerge(both):
    same(both, "PFADD", "a", *[f"a{i}" for i in range(200)])
    same(both, "PFADD", "b", *[f"b{i}" for i in range(3000)])
    same(both, "PFADD", "c", *[f"a{i}" for i in range(50)])
    same(both, "PFCOUNT", "a", "b", "c", "missing")
    same(both, "PFMERGE", "m1", "a", "c")
    same(both, "GET", "m1")
    same(both, "PFMERGE", "m2", "a", "b")
    same(both, "GET", "m2")
    same(both, "PFMERGE", "a", "c")  # the destination's own registers are merged too
    same(both, "GET", "a")
    same(both, "PFMERGE", "only")
    same(both, "GET", "only")
    same(both, "PFCOUNT", "m2")


def test_pfdebug(both):
    same(both, "PFADD", "h", "x", "y", "z")
    same(both, "PFDEBUG", "DECODE", "h")
    same(both, "PFDEBUG", "ENCODING", "h")
    same(both, "PFDEBUG", "GETREG", "h")
    same(both, "GET", "h")
    same(both, "PFDEBUG", "TODENSE", "h")
    same(both, "PFDEBUG", "DECODE", "h")
    same(both, "PFDEBUG", "foo", "h")
    same(both, "PFDEBUG", "ENCODING", "nokey")


def test_errors(r):
    r.set("s", "not an hll")
    r.lpush("l", "x")
    for args in (("PFADD", "s", "a"), ("PFCOUNT", "s"), ("PFCOUNT", "s", "nokey"), ("PFMERGE", "d", "s")):
        with pytest.raises(redis.ResponseError, match=NOT_HLL):
            raw(r, *args)
    with pytest.raises(redis.ResponseError, match="WRONGTYPE Operation against a key"):
        raw(r, "PFADD", "l", "a")
    with pytest.raises(redis.ResponseError, match="wrong number of arguments"):
        raw(r, "PFADD")
    assert raw(r, "PFSELFTEST") == b"OK"


def test_corrupted_sparse(r):
    r.pfadd("h", "a")
    value = bytearray(r.get("h"))
    value[-1] = 0x00  # the XZERO run gets shorter: registers no longer add up to 16384
    r.set("bad", bytes(value))
    with pytest.raises(redis.ResponseError, match="INVALIDOBJ Corrupted HLL object detected"):
        raw(r, "PFCOUNT", "bad")


def test_same_bytes_random_batches_and_merges(both):
    rng = random.Random(42)
    for key in ("r1", "r2", "r3"):
        for _ in range(40):
            batch = [f"{key}:{rng.randrange(3000)}" for _ in range(rng.randrange(1, 40))]
            same(both, "PFADD", key, *batch)
        same(both, "GET", key)
        same(both, "PFMERGE", "acc", key)
        same(both, "GET", "acc")
    same(both, "PFCOUNT", "r1", "r2", "r3", "acc")
