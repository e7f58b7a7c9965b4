"""Hash commands, checked against xcache and redis-server alike (fixture `r`)."""

import time

import pytest
import redis

from tests.store.crosscheck import both_fixture, same  # noqa: F401
from tests.store.test_strings import FLOAT_CASES

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"


def test_hset_hget_hlen(r):
    assert r.hset("h", "f1", "v1") == 1
    assert r.execute_command("hset", "h", "f1", "x", "f2", "v2", "f3", "v3") == 2
    assert r.hget("h", "f1") == b"x"
    assert r.hget("h", "nope") is None
    assert r.hget("nokey", "f") is None
    assert r.hlen("h") == 3
    assert r.hlen("nokey") == 0
    assert r.type("h") == b"hash"


def test_hset_repeated_field(r):
    assert r.execute_command("hset", "h", "f", "1", "f", "2") == 1
    assert r.hget("h", "f") == b"2"
    assert r.hlen("h") == 1


def test_hset_binary_and_empty(r):
    assert r.hset("h", b"\x00\xff", b"") == 1
    assert r.hget("h", b"\x00\xff") == b""
    assert r.hstrlen("h", b"\x00\xff") == 0
    assert r.hexists("h", b"\x00\xff")


@pytest.mark.parametrize("args", [["hset", "h", "f"], ["hset", "h", "f", "v", "g"],
                                  ["hmset", "h", "f"], ["hmset", "h", "f", "v", "g"],
                                  ["hget", "h"], ["hsetnx", "h", "f"], ["hdel", "h"],
                                  ["hlen"], ["hmget", "h"], ["hincrby", "h", "f"],
                                  ["hincrbyfloat", "h", "f"], ["hstrlen", "h"], ["hscan", "h"],
                                  ["hrandfield"], ["hgetall"], ["hkeys", "a", "b"]])
def test_wrong_arity(r, args):
    with pytest.raises(redis.ResponseError, match=f"wrong number of arguments for '{args[0]}'"):
        r.execute_command(*args)


def test_hmset_hmget(r):
    assert r.execute_command("hmset", "h", "a", "1", "b", "2") is True
    assert r.hmget("h", ["a", "x", "b"]) == [b"1", None, b"2"]
    assert r.hmget("nokey", ["a", "b"]) == [None, None]


def test_hsetnx(r):
    assert r.hsetnx("h", "f", "1") == 1
    assert r.hsetnx("h", "f", "2") == 0
    assert r.hget("h", "f") == b"1"
    assert r.hlen("h") == 1


def test_hdel_removes_key_when_empty(r):
    r.hset("h", mapping={"a": "1", "b": "2", "c": "3"})
    assert r.hdel("h", "a", "a", "zz") == 1
    assert r.hlen("h") == 2
    assert r.hdel("nokey", "a") == 0
    assert r.hdel("h", "zz") == 0
    assert r.hdel("h", "b", "c") == 2
    assert r.exists("h") == 0
    assert r.type("h") == b"none"
    # Recreated key does not see stale fields.
    r.hset("h", "z", "1")
    assert r.hgetall("h") == {b"z": b"1"}


def test_hexists_hstrlen(r):
    r.hset("h", "f", "hello")
    assert r.hexists("h", "f") is True
    assert r.hexists("h", "g") is False
    assert r.hexists("nokey", "g") is False
    assert r.hstrlen("h", "f") == 5
    assert r.hstrlen("h", "g") == 0
    assert r.hstrlen("nokey", "g") == 0


def test_hgetall_hkeys_hvals(r):
    data = {b"f%d" % i: b"v%d" % i for i in range(50)}
    r.hset("h", mapping=data)
    assert r.hgetall("h") == data
    assert sorted(r.hkeys("h")) == sorted(data)
    assert sorted(r.hvals("h")) == sorted(data.values())
    assert r.hgetall("nokey") == {}
    assert r.hkeys("nokey") == []
    assert r.hvals("nokey") == []


def test_hincrby(r):
    assert r.hincrby("h", "n", 5) == 5
    assert r.hincrby("h", "n", -7) == -2
    assert r.hget("h", "n") == b"-2"
    r.hset("h", "s", "abc")
    with pytest.raises(redis.ResponseError, match="^hash value is not an integer$"):
        r.hincrby("h", "s", 1)
    r.hset("h", "sp", " 1")
    with pytest.raises(redis.ResponseError, match="^hash value is not an integer$"):
        r.hincrby("h", "sp", 1)
    with pytest.raises(redis.ResponseError, match="^value is not an integer or out of range$"):
        r.execute_command("hincrby", "h", "n", "1.5")
    r.hset("h", "big", str(2**63 - 1))
    with pytest.raises(redis.ResponseError, match="^increment or decrement would overflow$"):
        r.hincrby("h", "big", 1)
    assert r.hget("h", "big") == str(2**63 - 1).encode()


def test_hincrbyfloat(r):
    assert r.hincrbyfloat("h", "f", 10.5) == 10.5
    # The stored text is Redis's human format: plain decimal, no exponent, no trailing zeros.
    for field, delta, text in [("f", "0.1", b"10.6"), ("g", "1.5e-7", b"0.00000015"), ("i", "3", b"3"),
                               ("i", "-3.0", b"0")]:
        r.execute_command("hincrbyfloat", "h", field, delta)
        assert r.hget("h", field) == text
    r.hset("h", "big", "1e20")
    r.execute_command("hincrbyfloat", "h", "big", "1")
    assert r.hget("h", "big") == b"100000000000000000000"
    r.hset("h", "s", "abc")
    with pytest.raises(redis.ResponseError, match="^hash value is not a float$"):
        r.hincrbyfloat("h", "s", 1)
    for bad in ("abc", "nan", " 1"):
        with pytest.raises(redis.ResponseError, match="^value is not a valid float$"):
            r.execute_command("hincrbyfloat", "h", "f", bad)
    with pytest.raises(redis.ResponseError, match="^value is NaN or Infinity$"):
        r.execute_command("hincrbyfloat", "h", "f", "inf")
    assert r.hget("h", "f") == b"10.6"


def test_wrongtype(r):
    r.set("s", "x")
    for args in (["hset", "s", "f", "v"], ["hget", "s", "f"], ["hgetall", "s"], ["hlen", "s"],
                 ["hdel", "s", "f"], ["hincrby", "s", "f", "1"], ["hscan", "s", "0"],
                 ["hrandfield", "s"], ["hmget", "s", "f"], ["hsetnx", "s", "f", "v"],
                 ["hexists", "s", "f"], ["hstrlen", "s", "f"], ["hkeys", "s"], ["hvals", "s"],
                 ["hincrbyfloat", "s", "f", "1"], ["hmset", "s", "f", "v"]):
        with pytest.raises(redis.ResponseError, match=WRONGTYPE):
            r.execute_command(*args)
    r.hset("h", "f", "v")
    with pytest.raises(redis.ResponseError, match=WRONGTYPE):
        r.get("h")


def test_expiry_kept_on_modification(r):
    r.hset("h", "a", "1")
    r.expire("h", 100)
    r.hset("h", "b", "2")
    r.hdel("h", "a")
    r.hincrby("h", "c", 1)
    assert 0 < r.ttl("h") <= 100


def test_expired_hash_is_gone(r):
    r.hset("h", mapping={"a": "1", "b": "2"})
    r.pexpire("h", 1)
    time.sleep(0.02)
    assert r.hlen("h") == 0
    assert r.hset("h", "c", "3") == 1
    assert r.hgetall("h") == {b"c": b"3"}
    assert r.ttl("h") == -1


def test_hscan(r):
    data = {b"f%03d" % i: b"%d" % i for i in range(300)}
    r.hset("h", mapping=data)
    assert dict(r.hscan_iter("h")) == data
    assert dict(r.hscan_iter("h", count=7)) == data
    assert dict(r.hscan_iter("h", match="f1*", count=50)) == {k: v for k, v in data.items() if k.startswith(b"f1")}
    assert r.hscan("nokey", 0) == (0, {})


def test_hscan_errors(r):
    r.hset("h", "f", "v")
    with pytest.raises(redis.ResponseError, match="^invalid cursor$"):
        r.execute_command("hscan", "h", "abc")
    for args in (["count", "0"], ["count"], ["foo", "bar"], ["match"]):
        with pytest.raises(redis.ResponseError, match="^syntax error$"):
            r.execute_command("hscan", "h", "0", *args)
    with pytest.raises(redis.ResponseError, match="^value is not an integer or out of range$"):
        r.execute_command("hscan", "h", "0", "count", "x")


def test_hscan_cursor_then_key_then_options(r):
    r.set("str", "v")
    for key in ("str", "nokey"):
        with pytest.raises(redis.ResponseError, match="^invalid cursor$"):
            r.execute_command("HSCAN", key, "x", "COUNT", "0")
    with pytest.raises(redis.ResponseError, match=WRONGTYPE):
        r.execute_command("HSCAN", "str", "0", "COUNT", "0")
    assert r.execute_command("HSCAN", "nokey", "0", "COUNT", "0") == (0, {})
    assert r.execute_command("HSCAN", "nokey", "-1", "NX", "LIMIT", "") == (0, {})


def test_hrandfield_withvalues_count_range(r):
    """With WITHVALUES, |count| > LONG_MAX/2 is refused before the key is looked up."""
    r.set("str", "v")
    r.hset("h", "f", "v")
    for key in ("nokey", "str", "h"):
        for count in ("4611686018427387904", "-4611686018427387904", "9223372036854775807"):
            with pytest.raises(redis.ResponseError, match="^value is out of range$"):
                r.execute_command("HRANDFIELD", key, count, "WITHVALUES")
    assert r.execute_command("HRANDFIELD", "nokey", "4611686018427387903", "WITHVALUES") == []
    assert r.execute_command("HRANDFIELD", "nokey", "-4611686018427387903", "WITHVALUES") == []
    assert r.execute_command("HRANDFIELD", "nokey", "4611686018427387904") == []
    with pytest.raises(redis.ResponseError, match="^syntax error$"):
        r.execute_command("HRANDFIELD", "nokey", "4611686018427387904", "WITHVALUE")


def test_hrandfield(r):
    data = {b"f%d" % i: b"v%d" % i for i in range(10)}
    r.hset("h", mapping=data)
    assert r.hrandfield("h") in data
    assert r.hrandfield("nokey") is None
    assert r.hrandfield("nokey", 3) == []
    assert r.hrandfield("h", 0) == []
    got = r.hrandfield("h", 5)
    assert len(got) == 5 and len(set(got)) == 5 and set(got) <= set(data)
    assert sorted(r.hrandfield("h", 20)) == sorted(data)
    got = r.hrandfield("h", -30)
    assert len(got) == 30 and set(got) <= set(data)
    pairs = r.hrandfield("h", 4, withvalues=True)
    if r.get_connection_kwargs().get("protocol") in (3, "3"):  # RESP3: [[field, value], ...]
        assert all(len(p) == 2 for p in pairs)
        pairs = [x for p in pairs for x in p]
    assert len(pairs) == 8
    for f, v in zip(pairs[0::2], pairs[1::2], strict=True):
        assert data[f] == v
    pairs = r.hrandfield("h", -12, withvalues=True)
    if r.get_connection_kwargs().get("protocol") in (3, "3"):
        pairs = [x for p in pairs for x in p]
    assert len(pairs) == 24
    for f, v in zip(pairs[0::2], pairs[1::2], strict=True):
        assert data[f] == v


def test_hrandfield_uniform_enough(r):
    r.hset("h", mapping={b"f%d" % i: b"1" for i in range(4)})
    seen = {}
    for f in r.hrandfield("h", -2000):
        seen[f] = seen.get(f, 0) + 1
    assert len(seen) == 4 and min(seen.values()) > 350


def test_hrandfield_errors(r):
    r.hset("h", "f", "v")
    with pytest.raises(redis.ResponseError, match="^syntax error$"):
        r.execute_command("hrandfield", "h", "1", "withvaluesx")
    with pytest.raises(redis.ResponseError, match="^syntax error$"):
        r.execute_command("hrandfield", "h", "1", "withvalues", "x")
    with pytest.raises(redis.ResponseError, match="^value is not an integer or out of range$"):
        r.execute_command("hrandfield", "h", "x")
    with pytest.raises(redis.ResponseError, match="^value is out of range, value must between"):
        r.execute_command("hrandfield", "h", str(-(2**63)))
    with pytest.raises(redis.ResponseError, match="^value is out of range$"):
        r.execute_command("hrandfield", "h", str(-(2**63) + 1), "withvalues")


def test_rename_and_delete_hash(r):
    r.hset("h", mapping={"a": "1", "b": "2"})
    r.rename("h", "h2")
    assert r.hgetall("h2") == {b"a": b"1", b"b": b"2"}
    assert r.delete("h2") == 1
    assert r.hgetall("h2") == {}
    r.hset("h2", "c", "3")
    assert r.hgetall("h2") == {b"c": b"3"}


def test_hincrbyfloat_long_double(both):
    for i, (start, delta) in enumerate(FLOAT_CASES):
        if start is not None:
            same(both, "hset", "h", f"f{i}", start)
        same(both, "hincrbyfloat", "h", f"f{i}", delta)
        same(both, "hget", "h", f"f{i}")
    same(both, "hset", "h", "acc", "0.1")
    for delta in ("0.2", "5.0e3", "-7.25", "1e-17", "0.3"):
        same(both, "hincrbyfloat", "h", "acc", delta)
        same(both, "hget", "h", "acc")

