"""DUMP/RESTORE in Redis 7.0's RDB format: values move between a real redis-server and xcache both
ways (every encoding Redis 7.0 writes for small and big values), and RESTORE's options and errors
match Redis (fixture `r`)."""

from __future__ import annotations

import pytest
import redis

from xcache.store.rdb import crc64, lzf_decompress


def fill(c: redis.Redis) -> None:
    c.set("int8", "12")
    c.set("int32", "-70000")
    c.set("raw", "hello")
    c.set("empty", "")
    c.set("bigint", "99999999999")
    c.set("lzf", "x" * 500 + "y" * 300)  # Redis compresses it
    c.rpush("list", "a", "b", 1, 2, 300, -5, 70000, 2**40, "z" * 100)  # quicklist of listpacks
    c.rpush("longlist", *[str(i) for i in range(300)], "q" * 10000)
    c.sadd("intset", 1, 2, 3, -100000, 2**40)
    c.sadd("hashset", "a", "b", 1)
    c.sadd("bigset", *range(1000))
    c.zadd("zlistpack", {"a": 1.5, "b": -2, "c": float("inf")})
    c.zadd("zskiplist", {f"m{i}": i / 3 for i in range(200)})
    c.hset("hlistpack", mapping={"f": "v", "n": 12})
    c.hset("hhashtable", mapping={f"f{i}": "v" * (i % 70) for i in range(600)})


def read(c: redis.Redis, key: str):
    t = c.type(key)
    if t == b"string":
        return c.get(key)
    if t == b"list":
        return c.lrange(key, 0, -1)
    if t == b"set":
        return sorted(c.smembers(key))
    if t == b"zset":
        return c.zrange(key, 0, -1, withscores=True)
    return sorted(c.hgetall(key).items())


KEYS = ["int8", "int32", "raw", "empty", "bigint", "lzf", "list", "longlist", "intset", "hashset",
        "bigset", "zlistpack", "zskiplist", "hlistpack", "hhashtable"]


@pytest.fixture
def both(xcache_node, redis_node):
    x = redis.Redis(port=xcache_node.port, protocol=2, socket_timeout=10)
    r = redis.Redis(port=redis_node.port, protocol=2, socket_timeout=10)
    x.flushall()
    r.flushall()
    yield x, r
    x.close()
    r.close()


@pytest.mark.parametrize("key", KEYS)
def test_values_move_both_ways(both, key):
    x, r = both
    fill(r)
    payload = r.dump(key)
    assert x.restore(key, 0, payload) == b"OK"
    assert read(x, key) == read(r, key)
    back = x.dump(key)
    r.delete(key)
    assert r.restore(key, 0, back) == b"OK"
    assert read(r, key) == read(x, key)
    if key in ("int8", "int32", "raw", "empty", "bigint"):
        assert back == payload  # same integer/raw encodings, same version footer and CRC


def test_ttl_replace_and_errors(r):
    r.set("a", "1")
    payload = r.dump("a")
    assert r.dump("nokey") is None

    def err(*args):
        with pytest.raises(redis.ResponseError) as exc:
            r.execute_command("RESTORE", *args)
        return str(exc.value)

    assert err("a", 0, payload) == "BUSYKEY Target key name already exists."
    assert err("b", -1, payload) == "Invalid TTL value, must be >= 0"
    assert err("b", "x", payload) == "value is not an integer or out of range"
    assert err("b", 0, b"garbage") == "DUMP payload version or checksum are wrong"
    assert err("b", 0, payload[:-1] + bytes([payload[-1] ^ 1])) == (
        "DUMP payload version or checksum are wrong")
    assert err("b", 0, payload, "FOO") == "syntax error"
    assert err("b", 0, payload, "FREQ", 300) == "Invalid FREQ value, must be >= 0 and <= 255"
    assert err("b", 0, payload, "IDLETIME", -1) == "Invalid IDLETIME value, must be >= 0"
    assert err("b", 0, payload, "IDLETIME", 1, "FREQ", 1) == "syntax error"
    assert r.execute_command("RESTORE", "a", 0, payload, "REPLACE", "IDLETIME", 5) == b"OK"
    assert r.execute_command("RESTORE", "b", 100000, payload, "FREQ", 3) == b"OK"
    assert 99000 < r.pttl("b") <= 100000
    assert r.execute_command("RESTORE", "a", 1, payload, "REPLACE", "ABSTTL") == b"OK"
    assert r.exists("a") == 0  # already expired: restored and gone
    r.rpush("l", "x")
    assert r.execute_command("RESTORE", "l", 0, payload, "REPLACE") == b"OK"
    assert r.type("l") == b"string"


def test_crc64_and_lzf_primitives():
    assert crc64(b"123456789") == 0xE9C6D914C4B8D9CA  # Redis's crc64.c test vector
    # "aaaaaaaaaa": one literal 'a' then a back reference of length 9 at distance 1
    assert lzf_decompress(b"\x00a\xe0\x00\x00", 10) == b"a" * 10
    with pytest.raises(ValueError):
        lzf_decompress(b"\x05ab", 6)


def _raw(c: redis.Redis, *args):
    name = str(args[0]).upper()
    saved = c.response_callbacks.pop(name, None)
    try:
        return c.execute_command(*args)
    finally:
        if saved is not None:
            c.response_callbacks[name] = saved


def _fill_stream(c: redis.Redis) -> None:
    for i in range(1, 251):  # several nodes; entries with the master's fields and with others
        fields = ("other", str(i), "x", "y") if i % 7 == 0 else ("f", str(i), "g", "v" * (i % 5))
        _raw(c, "XADD", "s", f"{i}-1", *fields)
    _raw(c, "XDEL", "s", "5-1", "120-1")
    _raw(c, "XGROUP", "CREATE", "s", "g1", "0")
    _raw(c, "XGROUP", "CREATE", "s", "g2", "$")
    _raw(c, "XREADGROUP", "GROUP", "g1", "alice", "COUNT", "5", "STREAMS", "s", ">")
    _raw(c, "XREADGROUP", "GROUP", "g1", "bob", "COUNT", "3", "STREAMS", "s", ">")
    _raw(c, "XACK", "s", "g1", "2-1")
    _raw(c, "XGROUP", "CREATECONSUMER", "s", "g2", "carol")
    _raw(c, "XADD", "empty", "1-1", "a", "b")
    _raw(c, "XDEL", "empty", "1-1")


def _stream_state(c: redis.Redis, key: str) -> list:
    info = _raw(c, "XINFO", "STREAM", key)
    out = [_raw(c, "XRANGE", key, "-", "+"), [info[i] for i in (1, 7, 9, 11, 13, 15)],
           _raw(c, "XINFO", "GROUPS", key)]
    for g in out[2]:
        out.append([e[:2] + e[3:] for e in _raw(c, "XPENDING", key, g[1], "-", "+", "100")])
        out.append([cons[:4] for cons in _raw(c, "XINFO", "CONSUMERS", key, g[1])])
    return out


@pytest.mark.parametrize("key", ["s", "empty"])
def test_streams_move_both_ways(both, key):
    x, r = both
    _fill_stream(r)
    assert x.restore(key, 0, r.dump(key)) == b"OK"
    assert _stream_state(x, key) == _stream_state(r, key)
    back = x.dump(key)
    r.delete(key)
    assert r.restore(key, 0, back) == b"OK"
    assert _stream_state(r, key) == _stream_state(x, key)
