"""String commands, checked against xcache and redis-server alike (fixture `r`)."""

import time

import pytest
import redis

from tests.store.crosscheck import both_fixture, same  # noqa: F401


def test_set_get_and_options(r):
    assert r.set("k", "v") is True
    assert r.get("k") == b"v"
    assert r.set("k", "w", nx=True) is None
    assert r.set("missing", "w", xx=True) is None
    assert r.set("k", "w", xx=True) is True
    assert r.set("k", "x", get=True) == b"w"
    assert r.set("new", "x", get=True) is None
    assert r.get("new") == b"x"
    assert r.get("nokey") is None


def test_set_expiry_options(r):
    r.set("a", "1", ex=100)
    assert 99 <= r.ttl("a") <= 100
    r.set("b", "1", px=100000)
    assert 99000 < r.pttl("b") <= 100000
    r.set("c", "1", exat=int(time.time()) + 100)
    assert 98 <= r.ttl("c") <= 100
    r.set("d", "1", pxat=int(time.time() * 1000) + 100000)
    assert 98 <= r.ttl("d") <= 100
    r.set("a", "2", keepttl=True)
    assert r.ttl("a") > 0
    r.set("a", "3")
    assert r.ttl("a") == -1


@pytest.mark.parametrize("args", [["set", "k", "v", "EX", "0"], ["set", "k", "v", "PX", "-1"],
                                  ["setex", "k", "0", "v"]])
def test_invalid_expire(r, args):
    with pytest.raises(redis.ResponseError, match="invalid expire time"):
        r.execute_command(*args)


@pytest.mark.parametrize("args", [["set", "k", "v", "NX", "XX"], ["set", "k", "v", "EX", "1", "PX", "1"],
                                  ["set", "k", "v", "KEEPTTL", "EX", "1"], ["set", "k", "v", "FOO"],
                                  ["set", "k", "v", "EX"]])
def test_set_syntax_errors(r, args):
    with pytest.raises(redis.ResponseError, match="syntax error"):
        r.execute_command(*args)


def test_set_non_integer_expire(r):
    with pytest.raises(redis.ResponseError, match="not an integer or out of range"):
        r.execute_command("set", "k", "v", "EX", "abc")


def test_setnx_setex_psetex_getset_getdel(r):
    assert r.setnx("k", "1") is True
    assert r.setnx("k", "2") is False
    assert r.setex("e", 100, "v") is True
    assert 99 <= r.ttl("e") <= 100
    assert r.psetex("p", 100000, "v") is True
    assert r.pttl("p") > 99000
    assert r.getset("k", "3") == b"1"
    assert r.getset("none", "x") is None
    assert r.getdel("k") == b"3"
    assert r.getdel("k") is None
    assert r.exists("k") == 0


def test_getex(r):
    r.set("k", "v")
    assert r.getex("k", ex=100) == b"v"
    assert 99 <= r.ttl("k") <= 100
    assert r.getex("k", persist=True) == b"v"
    assert r.ttl("k") == -1
    assert r.getex("missing", ex=10) is None
    with pytest.raises(redis.ResponseError, match="syntax error"):
        r.execute_command("getex", "k", "EX", "1", "PERSIST")


def test_mget_mset_msetnx(r):
    assert r.mset({"a": "1", "b": "2"}) is True
    r.lpush("list", "x")
    assert r.mget("a", "b", "c", "list") == [b"1", b"2", None, None]
    assert r.msetnx({"c": "3", "a": "9"}) is False
    assert r.get("c") is None
    assert r.msetnx({"c": "3", "d": "4"}) is True
    with pytest.raises(redis.ResponseError, match="wrong number of arguments"):
        r.execute_command("mset", "a", "1", "b")


def test_incr_family(r):
    assert r.incr("n") == 1
    assert r.incrby("n", 10) == 11
    assert r.decr("n") == 10
    assert r.decrby("n", 5) == 5
    assert r.incrby("n", -10) == -5
    r.set("s", "abc")
    with pytest.raises(redis.ResponseError, match="not an integer or out of range"):
        r.incr("s")
    r.set("sp", " 1")
    with pytest.raises(redis.ResponseError, match="not an integer or out of range"):
        r.incr("sp")
    r.set("big", "9223372036854775807")
    with pytest.raises(redis.ResponseError, match="increment or decrement would overflow"):
        r.incr("big")
    with pytest.raises(redis.ResponseError, match="not an integer or out of range"):
        r.incrby("n", "1.5")


def test_incr_keeps_ttl(r):
    r.set("n", "1", ex=100)
    r.incr("n")
    assert r.ttl("n") > 0


def test_incrbyfloat(r):
    assert r.incrbyfloat("f", 10.5) == 10.5
    assert r.get("f") == b"10.5"
    assert r.incrbyfloat("f", 0.1) == pytest.approx(10.6)
    assert r.get("f") == b"10.6"
    r.set("i", "3")
    assert r.incrbyfloat("i", 2) == 5
    assert r.get("i") == b"5"
    assert r.incrbyfloat("e", 5.0e3) == 5000
    assert r.get("e") == b"5000"
    r.set("s", "abc")
    with pytest.raises(redis.ResponseError, match="not a valid float"):
        r.incrbyfloat("s", 1)
    with pytest.raises(redis.ResponseError, match="not a valid float"):
        r.execute_command("incrbyfloat", "f", "abc")
    with pytest.raises(redis.ResponseError, match="NaN or Infinity"):
        r.incrbyfloat("f", "inf")


def test_append_strlen_getrange_setrange(r):
    assert r.append("k", "Hello") == 5
    assert r.append("k", " World") == 11
    assert r.strlen("k") == 11
    assert r.strlen("missing") == 0
    assert r.getrange("k", 0, 4) == b"Hello"
    assert r.getrange("k", -5, -1) == b"World"
    assert r.getrange("k", 5, 2) == b""
    assert r.getrange("k", 0, 100) == b"Hello World"
    assert r.getrange("k", -1, -5) == b""
    assert r.getrange("missing", 0, 10) == b""
    assert r.setrange("k", 6, "Redis") == 11
    assert r.get("k") == b"Hello Redis"
    assert r.setrange("pad", 5, "x") == 6
    assert r.get("pad") == b"\x00\x00\x00\x00\x00x"
    assert r.setrange("empty", 0, "") == 0
    assert r.exists("empty") == 0
    with pytest.raises(redis.ResponseError, match="offset is out of range"):
        r.setrange("k", -1, "x")


def test_bits(r):
    assert r.setbit("b", 7, 1) == 0
    assert r.setbit("b", 7, 0) == 1
    assert r.setbit("b", 100, 1) == 0
    assert r.getbit("b", 100) == 1
    assert r.getbit("b", 1000) == 0
    assert r.getbit("missing", 0) == 0
    r.set("s", "foobar")
    assert r.bitcount("s") == 26
    assert r.bitcount("s", 0, 0) == 4
    assert r.bitcount("s", 1, 1) == 6
    assert r.bitcount("s", -2, -1) == 7
    assert r.execute_command("bitcount", "s", 5, 30, "BIT") == 17
    assert r.bitcount("missing") == 0
    with pytest.raises(redis.ResponseError, match="bit is not an integer"):
        r.execute_command("setbit", "b", 1, 2)
    with pytest.raises(redis.ResponseError, match="bit offset is not an integer"):
        r.setbit("b", -1, 1)


def test_wrongtype(r):
    r.lpush("l", "x")
    for call in (lambda: r.get("l"), lambda: r.incr("l"), lambda: r.append("l", "x"),
                 lambda: r.strlen("l"), lambda: r.getrange("l", 0, 1), lambda: r.setbit("l", 1, 1)):
        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            call()
    assert r.set("l", "now a string") is True
    assert r.type("l") == b"string"


def test_binary_safe(r):
    value = bytes(range(256)) * 4
    r.set(b"\x00key\r\n", value)
    assert r.get(b"\x00key\r\n") == value


def test_wrong_arity(r):
    with pytest.raises(redis.ResponseError, match="wrong number of arguments for 'get' command"):
        r.execute_command("get")
    with pytest.raises(redis.ResponseError, match="wrong number of arguments for 'set' command"):
        r.execute_command("set", "k")


def test_negative_end_clamps_to_zero(r):
    r.set("s", "5")
    assert r.getrange("s", 0, -100) == b"5"
    assert r.bitcount("s", 0, -100) == 4


def test_bitcount_looks_key_up_before_arguments(both):
    same(both, "rpush", "list", "a")
    same(both, "set", "s", "\xff")
    same(both, "set", "empty", "")
    for args in (["0", "1", "x"], ["", "1"], ["0"], ["0", "1", "2", "3"], ["x", "1"],
                 ["0", "1", "bit"], ["0", "-1", "BYTE"], []):
        for key in ("nokey", "list", "s", "empty"):
            same(both, "bitcount", key, *args)


def test_set_checks_syntax_before_expire_number(both):
    same(both, "rpush", "list", "a")
    for opts in (["GET", "EX", "-1", "KEEPTTL"], ["EX", "0", "NX", "XX"], ["EX", "x", "NX"],
                 ["EX", "0", "PX", "1"], ["KEEPTTL", "EX", "0"], ["EX", "0", "foo"],
                 ["EX", "0", "GET"], ["EX"], ["PERSIST"], ["EX", "0", "EX", "100"],
                 ["PX", "5000", "PX", "6000"], ["GET", "GET", "NX", "NX"], ["XX", "XX"]):
        for key in ("k", "list"):
            same(both, "set", key, "v", *opts)
    same(both, "pttl", "k")


def test_getex_checks_key_before_expire_number(both):
    same(both, "rpush", "list", "a")
    same(both, "set", "s", "v")
    for opts in (["PXAT", "x"], ["EX", "0"], ["EX", "-5"], ["foo"], ["EX"], ["EX", "0", "PX", "1"],
                 ["PERSIST", "PERSIST"], ["EX", "0", "EX", "100"], ["KEEPTTL"], ["PERSIST", "EX", "1"]):
        for key in ("nokey", "list", "s"):
            same(both, "getex", key, *opts)
    same(both, "ttl", "s")


# (start value or None, increment): binary rounding, long double range, hex, errors.
FLOAT_CASES = [
    ("0.1", "0.2"), ("0.3", "5.0e3"), (None, "1e308"), (None, "-1e308"), (None, "1e400"),
    (None, "1e-20"), ("-1e-20", "0"), (None, "0x1p-18"), ("10", "-0.1"), ("3", "2"),
    (None, "12345678901234567890123"), ("1.5", "-1.5"), (None, "0x10"), (None, "1e-4940"),
    (None, "inf"), ("1e4932", "1e4932"), (None, "nan"), (None, "1e4933"), (None, "1e-5000"),
    (None, " 1"), (None, "1 "), (None, ""), ("abc", "1"), ("1e4933", "1"), (None, "-0"),
]


def test_incrbyfloat_long_double(both):
    for i, (start, delta) in enumerate(FLOAT_CASES):
        if start is not None:
            same(both, "set", f"f{i}", start)
        same(both, "incrbyfloat", f"f{i}", delta)
        same(both, "get", f"f{i}")
    same(both, "set", "acc", "0.1")
    for delta in ("0.2", "5.0e3", "-7.25", "1e-17", "0.3"):
        same(both, "incrbyfloat", "acc", delta)
        same(both, "get", "acc")

