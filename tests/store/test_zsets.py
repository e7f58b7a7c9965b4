"""Sorted-set commands, checked against xcache and redis-server alike (fixture `r`).

Why one module (~750 lines): it mirrors xcache/store/zsets.py section by section, and most
sections share the raw-reply helpers (zr, zall) and the z6 fixture; the set algebra compared
byte for byte and the pops of several keys (ZMPOP, BZPOPMIN...) are in test_zsetops.py.
"""

import time

import pytest
import redis

from tests.store.resp3 import raw

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"


def zr(r, *args):
    """Send a command and return the raw reply (redis-py's callbacks would turn scores into
    floats), in its RESP2 form also over RESP3 (scores typed as doubles there)."""
    return raw(r, *args)


def zall(r, key="z"):
    return zr(r, "ZRANGE", key, 0, -1, "WITHSCORES")


# --- ZADD ------------------------------------------------------------------------------------


def test_zadd_basic(r):
    assert zr(r, "ZADD", "z", 1, "a", 2, "b") == 2
    assert zr(r, "ZADD", "z", 3, "a", 2, "c") == 1
    assert zall(r) == [b"b", b"2", b"c", b"2", b"a", b"3"]
    assert r.zcard("z") == 3
    assert r.type("z") == b"zset"
    assert zr(r, "ZADD", "z", 1.5, "d", -3.25, "e", "inf", "f", "-inf", "g") == 4
    assert zall(r) == [b"g", b"-inf", b"e", b"-3.25", b"d", b"1.5", b"b", b"2", b"c", b"2",
                       b"a", b"3", b"f", b"inf"]


def test_zadd_same_member_twice(r):
    assert zr(r, "ZADD", "z", 1, "a", 2, "a") == 1
    assert zr(r, "ZSCORE", "z", "a") == b"2"
    assert zr(r, "ZADD", "z", "CH", 5, "b", 6, "b") == 2  # one add, then one update
    assert zr(r, "ZADD", "z", "CH", 3, "a", 2, "a") == 2  # each step is an update
    assert zr(r, "ZADD", "z", "CH", 2, "a") == 0
    assert r.zcard("z") == 2


def test_zadd_nx_xx_ch(r):
    zr(r, "ZADD", "z", 1, "a")
    assert zr(r, "ZADD", "z", "NX", 5, "a", 2, "b") == 1
    assert zr(r, "ZSCORE", "z", "a") == b"1"
    assert zr(r, "ZADD", "z", "XX", 5, "a", 3, "c") == 0
    assert zr(r, "ZSCORE", "z", "a") == b"5"
    assert zr(r, "ZSCORE", "z", "c") is None
    assert zr(r, "ZADD", "z", "xx", "ch", 6, "a", 2, "b", 7, "c") == 1
    assert zr(r, "ZADD", "z", "ch", 7, "a", 8, "d") == 2
    assert zr(r, "ZADD", "nokey", "XX", 1, "a") == 0
    assert r.exists("nokey") == 0


def test_zadd_gt_lt(r):
    zr(r, "ZADD", "z", 5, "a", 5, "b")
    assert zr(r, "ZADD", "z", "GT", "CH", 3, "a", 7, "b", 1, "c") == 2
    assert zall(r) == [b"c", b"1", b"a", b"5", b"b", b"7"]
    assert zr(r, "ZADD", "z", "LT", "CH", 3, "a", 9, "b") == 1
    assert zall(r) == [b"c", b"1", b"a", b"3", b"b", b"7"]
    assert zr(r, "ZADD", "z", "XX", "GT", 10, "c", 10, "new") == 0
    assert zr(r, "ZSCORE", "z", "c") == b"10"
    assert zr(r, "ZSCORE", "z", "new") is None


def test_zadd_incr(r):
    assert zr(r, "ZADD", "z", "INCR", 1.5, "a") == b"1.5"
    assert zr(r, "ZADD", "z", "INCR", 2, "a") == b"3.5"
    assert zr(r, "ZADD", "z", "NX", "INCR", 2, "a") is None
    assert zr(r, "ZADD", "z", "XX", "INCR", 2, "b") is None
    assert zr(r, "ZADD", "z", "GT", "INCR", -1, "a") is None
    assert zr(r, "ZADD", "z", "LT", "INCR", -1, "a") == b"2.5"
    assert zr(r, "ZADD", "z", "NX", "INCR", -3.25, "b") == b"-3.25"
    assert zr(r, "ZADD", "nokey", "XX", "INCR", 1, "a") is None
    assert r.exists("nokey") == 0
    zr(r, "ZADD", "z", "inf", "i")
    with pytest.raises(redis.ResponseError, match=r"^resulting score is not a number \(NaN\)$"):
        zr(r, "ZADD", "z", "INCR", "-inf", "i")
    assert zr(r, "ZSCORE", "z", "i") == b"inf"


def test_zadd_errors(r):
    for args, msg in [
        (["z", "NX", "XX", 1, "a"], "^XX and NX options at the same time are not compatible$"),
        (["z", "GT", "LT", 1, "a"], "^GT, LT, and/or NX options at the same time are not compatible$"),
        (["z", "NX", "GT", 1, "a"], "^GT, LT, and/or NX options at the same time are not compatible$"),
        (["z", "INCR", 1, "a", 2, "b"], "^INCR option supports a single increment-element pair$"),
        (["z", "1", "a", "2"], "^syntax error$"),
        (["z", "NX", "XX", "1"], "^syntax error$"),
        (["z", "1", "a", "INCR"], "^syntax error$"),
        (["z", "x", "a"], "^value is not a valid float$"),
        (["z", "1", "a", "nan", "b"], "^value is not a valid float$"),
        (["z", " 1", "a"], "^value is not a valid float$"),
        (["z", "1 ", "a"], "^value is not a valid float$"),
        (["z", "1_0", "a"], "^value is not a valid float$"),
        (["z", "1e400", "a"], "^value is not a valid float$"),
        (["z", "", "a"], "^value is not a valid float$"),
    ]:
        with pytest.raises(redis.ResponseError, match=msg):
            zr(r, "ZADD", *args)
    assert r.exists("z") == 0  # all-or-nothing: nothing was added
    r.set("s", "x")
    with pytest.raises(redis.ResponseError, match="^value is not a valid float$"):
        zr(r, "ZADD", "s", "x", "a")  # scores are parsed before the key's type is looked at
    with pytest.raises(redis.ResponseError, match=WRONGTYPE):
        zr(r, "ZADD", "s", "XX", 1, "a")


def test_zadd_odd_scores(r):
    zr(r, "ZADD", "z", "-0", "a", "0x10", "b", "+inf", "c", "1e-310", "d", "+2", "e")
    assert zall(r) == [b"a", b"0", b"d", b"9.9999999999999694e-311", b"e", b"2", b"b", b"16", b"c", b"inf"]
    zr(r, "ZADD", "z", 0, "a")
    assert zr(r, "ZINCRBY", "z", -1, "a") == b"-1"
    assert zr(r, "ZINCRBY", "z", 1, "a") == b"0"
    assert zr(r, "ZSCORE", "z", "a") == b"0"


def test_binary_members(r):
    members = [b"", b"\x00", b"\x00\x01", b"\xff", b"a\r\nb"]
    for m in members:
        zr(r, "ZADD", "z", 1, m)
    assert zr(r, "ZRANGE", "z", 0, -1) == sorted(members)
    assert zr(r, "ZRANGEBYLEX", "z", "[\x00", "(\xff".encode("latin-1")) == [b"\x00", b"\x00\x01", b"a\r\nb"]
    assert zr(r, "ZSCORE", "z", b"") == b"1"
    assert zr(r, "ZREM", "z", b"", b"\xff") == 2
    assert zr(r, "ZRANGE", "z", 0, -1) == [b"\x00", b"\x00\x01", b"a\r\nb"]


# --- ZREM / ZCARD / ZSCORE / ZMSCORE / ZINCRBY -----------------------------------------------


def test_zrem_deletes_key_when_empty(r):
    zr(r, "ZADD", "z", 1, "a", 2, "b", 3, "c")
    assert zr(r, "ZREM", "z", "a", "a", "x") == 1
    assert zr(r, "ZREM", "nokey", "a") == 0
    assert zr(r, "ZREM", "z", "x") == 0
    assert r.zcard("z") == 2
    assert zr(r, "ZREM", "z", "b", "c") == 2
    assert r.exists("z") == 0
    assert r.type("z") == b"none"
    assert r.zcard("z") == 0
    zr(r, "ZADD", "z", 5, "x")
    assert zall(r) == [b"x", b"5"]


def test_zscore_zmscore(r):
    zr(r, "ZADD", "z", 1.5, "a", -3.25, "b")
    assert zr(r, "ZSCORE", "z", "a") == b"1.5"
    assert zr(r, "ZSCORE", "z", "x") is None
    assert zr(r, "ZSCORE", "nokey", "x") is None
    assert zr(r, "ZMSCORE", "z", "a", "x", "b") == [b"1.5", None, b"-3.25"]
    assert zr(r, "ZMSCORE", "nokey", "a", "b") == [None, None]


def test_zincrby(r):
    assert zr(r, "ZINCRBY", "z", 1.5, "a") == b"1.5"
    assert zr(r, "ZINCRBY", "z", 2, "a") == b"3.5"
    assert zr(r, "ZINCRBY", "z", "-inf", "a") == b"-inf"
    assert zall(r) == [b"a", b"-inf"]
    with pytest.raises(redis.ResponseError, match=r"^resulting score is not a number \(NaN\)$"):
        zr(r, "ZINCRBY", "z", "inf", "a")
    with pytest.raises(redis.ResponseError, match="^value is not a valid float$"):
        zr(r, "ZINCRBY", "z", "abc", "a")
    zr(r, "ZADD", "z", 1, "b", 2, "c")
    assert zr(r, "ZINCRBY", "z", 5, "b") == b"6"
    assert zr(r, "ZRANGE", "z", 0, -1) == [b"a", b"c", b"b"]
    assert zr(r, "ZRANGEBYSCORE", "z", 6, 6) == [b"b"]
    assert zr(r, "ZRANGEBYSCORE", "z", 1, 1) == []  # the old score entry is gone


def test_zincrby_flag_as_increment_is_syntax_error(r):
    """ZINCRBY goes through ZADD's flag loop: a flag where the increment goes leaves no pair."""
    r.set("str", "v")
    for flag in ("NX", "xx", "CH", "incr", "GT", "lt"):
        for key in ("z", "str"):  # before the key's type is checked
            with pytest.raises(redis.ResponseError, match="^syntax error$"):
                zr(r, "ZINCRBY", key, flag, "0")
    assert zr(r, "ZINCRBY", "z", 1, "NX") == b"1"  # a flag name as the member is a member
    with pytest.raises(redis.ResponseError, match="^value is not a valid float$"):
        zr(r, "ZINCRBY", "str", "abc", "a")  # the increment is parsed before the lookup too
    assert zall(r) == [b"NX", b"1"]


def test_incr_by_negative_zero(r):
    """A new member incremented by -0 replies the increment ("-0"); the score is stored as 0."""
    assert zr(r, "ZINCRBY", "z", "-0", "a") == b"-0"
    assert zr(r, "ZSCORE", "z", "a") == b"0"
    assert zr(r, "ZINCRBY", "z", "-0", "a") == b"0"  # an existing one: 0 + -0
    assert zr(r, "ZINCRBY", "z", "-0.0", "b") == b"-0"
    assert zr(r, "ZADD", "z", "INCR", "-0e0", "c") == b"-0"
    assert zr(r, "ZADD", "z", "NX", "INCR", "-0", "d") == b"-0"
    assert zr(r, "ZADD", "z", "GT", "INCR", "-0", "e") == b"-0"
    assert zr(r, "ZADD", "z", "XX", "INCR", "-0", "a") == b"0"
    assert zr(r, "ZADD", "z", "LT", "INCR", "-0", "a") is None  # 0 is not less than 0
    assert zr(r, "ZADD", "z", "-0", "f") == 1
    assert zall(r) == [b"a", b"0", b"b", b"0", b"c", b"0", b"d", b"0", b"e", b"0", b"f", b"0"]
    assert zr(r, "ZRANGEBYSCORE", "z", 0, 0) == [b"a", b"b", b"c", b"d", b"e", b"f"]


def test_keeps_ttl_on_modification(r):
    zr(r, "ZADD", "z", 1, "a", 2, "b")
    r.expire("z", 100)
    zr(r, "ZADD", "z", 3, "c")
    zr(r, "ZINCRBY", "z", 1, "a")
    zr(r, "ZREM", "z", "b")
    zr(r, "ZPOPMIN", "z")
    assert 0 < r.ttl("z") <= 100


def test_expired_zset_is_gone(r):
    zr(r, "ZADD", "z", 1, "a", 2, "b")
    r.pexpire("z", 50)
    time.sleep(0.1)
    assert r.zcard("z") == 0
    assert zr(r, "ZADD", "z", 3, "c") == 1
    assert zall(r) == [b"c", b"3"]
    assert r.ttl("z") == -1


def test_del_then_recreate(r):
    zr(r, "ZADD", "z", 1, "a", 2, "b")
    r.delete("z")
    assert zr(r, "ZADD", "z", 3, "c") == 1
    assert zall(r) == [b"c", b"3"]
    assert zr(r, "ZRANGEBYSCORE", "z", "-inf", "+inf") == [b"c"]
    assert zr(r, "ZRANGEBYLEX", "z", "-", "+") == [b"c"]


# --- ranks and counts ------------------------------------------------------------------------


def test_zrank_zrevrank(r):
    zr(r, "ZADD", "z", 1, "a", 2, "b", 2, "c", 3, "d")
    assert [zr(r, "ZRANK", "z", m) for m in "abcd"] == [0, 1, 2, 3]
    assert [zr(r, "ZREVRANK", "z", m) for m in "abcd"] == [3, 2, 1, 0]
    assert zr(r, "ZRANK", "z", "x") is None
    assert zr(r, "ZREVRANK", "z", "x") is None
    assert zr(r, "ZRANK", "nokey", "x") is None


def test_zcount(r):
    zr(r, "ZADD", "z", 1, "a", 2, "b", 2, "c", 3, "d", "-inf", "m", "inf", "p")
    assert zr(r, "ZCOUNT", "z", 2, 2) == 2
    assert zr(r, "ZCOUNT", "z", "(1", "(3") == 2
    assert zr(r, "ZCOUNT", "z", "(1", 3) == 3
    assert zr(r, "ZCOUNT", "z", "-inf", "+inf") == 6
    assert zr(r, "ZCOUNT", "z", "(-inf", "(inf") == 4
    assert zr(r, "ZCOUNT", "z", 3, 1) == 0
    assert zr(r, "ZCOUNT", "z", "(2", 2) == 0
    assert zr(r, "ZCOUNT", "z", 1.5, 2.5) == 2
    assert zr(r, "ZCOUNT", "nokey", 0, 1) == 0
    for bad in (["x", 1], [1, "x"], ["((1", 2], ["1 ", 2], [1, "nan"]):
        with pytest.raises(redis.ResponseError, match="^min or max is not a float$"):
            zr(r, "ZCOUNT", "z", *bad)


def test_score_range_odd_bounds(r):
    zr(r, "ZADD", "z", 0, "a", 1, "b")
    assert zr(r, "ZCOUNT", "z", "", "") == 1  # strtod("") is 0
    assert zr(r, "ZCOUNT", "z", "(", 1) == 1
    assert zr(r, "ZCOUNT", "z", " 0", "1e400") == 2
    assert zr(r, "ZCOUNT", "z", "0x0", "0x1") == 2


def test_zlexcount(r):
    zr(r, "ZADD", "z", 0, "a", 0, "b", 0, "c", 0, "d", 0, "e")
    counts = [("-", "+", 5), ("[b", "[d", 3), ("(b", "(d", 1), ("(a", "+", 4), ("-", "(c", 2),
              ("[bb", "[cc", 1), ("+", "-", 0), ("-", "-", 0), ("+", "+", 0), ("[d", "[b", 0),
              ("(b", "[b", 0), ("[b", "[b", 1)]
    for lo, hi, n in counts:
        assert zr(r, "ZLEXCOUNT", "z", lo, hi) == n, (lo, hi)
    assert zr(r, "ZLEXCOUNT", "nokey", "-", "+") == 0
    for bad in (["a", "+"], ["-", "c"], ["", "+"], ["+a", "+"], ["-", "-a"]):
        with pytest.raises(redis.ResponseError, match="^min or max not valid string range item$"):
            zr(r, "ZLEXCOUNT", "z", *bad)


# --- ZRANGE family ---------------------------------------------------------------------------


@pytest.fixture
def z6(r):
    zr(r, "ZADD", "z", 1, "a", 2, "b", 2, "c", 3, "d", 4.5, "e", -3.25, "f")
    return r  # order: f a b c d e


def test_zrange_by_rank(z6):
    r = z6
    assert zr(r, "ZRANGE", "z", 0, -1) == [b"f", b"a", b"b", b"c", b"d", b"e"]
    assert zr(r, "ZRANGE", "z", 1, 2, "WITHSCORES") == [b"a", b"1", b"b", b"2"]
    assert zr(r, "ZRANGE", "z", -2, -1) == [b"d", b"e"]
    assert zr(r, "ZRANGE", "z", -100, 1) == [b"f", b"a"]
    assert zr(r, "ZRANGE", "z", 4, 100) == [b"d", b"e"]
    assert zr(r, "ZRANGE", "z", 3, 2) == []
    assert zr(r, "ZRANGE", "z", 6, 10) == []
    assert zr(r, "ZRANGE", "z", -1, -2) == []
    assert zr(r, "ZRANGE", "z", 0, 1, "REV") == [b"e", b"d"]
    assert zr(r, "ZRANGE", "z", 0, -1, "rev", "withscores") == [b"e", b"4.5", b"d", b"3", b"c", b"2",
                                                                 b"b", b"2", b"a", b"1", b"f", b"-3.25"]
    assert zr(r, "ZREVRANGE", "z", 1, 2) == [b"d", b"c"]
    assert zr(r, "ZREVRANGE", "z", -1, -1, "WITHSCORES") == [b"f", b"-3.25"]
    assert zr(r, "ZRANGE", "z", 0, -1, "LIMIT", 0, -1) == [b"f", b"a", b"b", b"c", b"d", b"e"]  # Redis quirk
    assert zr(r, "ZRANGE", "nokey", 0, -1) == []


def test_zrange_by_score(z6):
    r = z6
    assert zr(r, "ZRANGE", "z", 2, 3, "BYSCORE") == [b"b", b"c", b"d"]
    assert zr(r, "ZRANGE", "z", "(2", "+inf", "BYSCORE", "WITHSCORES") == [b"d", b"3", b"e", b"4.5"]
    assert zr(r, "ZRANGE", "z", "+inf", "(2", "BYSCORE", "REV") == [b"e", b"d"]
    assert zr(r, "ZRANGE", "z", 3, 2, "BYSCORE", "REV") == [b"d", b"c", b"b"]
    assert zr(r, "ZRANGE", "z", 2, 3, "BYSCORE", "REV") == []
    assert zr(r, "ZRANGE", "z", "-inf", "inf", "BYSCORE", "LIMIT", 1, 2) == [b"a", b"b"]
    assert zr(r, "ZRANGE", "z", "-inf", "inf", "BYSCORE", "LIMIT", 4, -1) == [b"d", b"e"]
    assert zr(r, "ZRANGE", "z", "-inf", "inf", "BYSCORE", "LIMIT", -1, 2) == []
    assert zr(r, "ZRANGE", "z", "-inf", "inf", "BYSCORE", "LIMIT", 1, 0) == []
    assert zr(r, "ZRANGE", "z", "-inf", "inf", "BYSCORE", "LIMIT", 10, 2) == []
    assert zr(r, "ZRANGE", "z", "inf", "-inf", "BYSCORE", "REV", "LIMIT", 1, 2) == [b"d", b"c"]
    assert zr(r, "ZRANGEBYSCORE", "z", "(1", "(3") == [b"b", b"c"]
    assert zr(r, "ZRANGEBYSCORE", "z", "-inf", 1, "WITHSCORES") == [b"f", b"-3.25", b"a", b"1"]
    assert zr(r, "ZRANGEBYSCORE", "z", 2, 2, "LIMIT", 1, 5) == [b"c"]
    assert zr(r, "ZRANGEBYSCORE", "z", 2, 2, "WITHSCORES", "LIMIT", 0, 1) == [b"b", b"2"]
    assert zr(r, "ZREVRANGEBYSCORE", "z", 2, 1) == [b"c", b"b", b"a"]
    assert zr(r, "ZREVRANGEBYSCORE", "z", "(2", "-inf", "WITHSCORES") == [b"a", b"1", b"f", b"-3.25"]
    assert zr(r, "ZREVRANGEBYSCORE", "z", "+inf", "-inf", "LIMIT", 2, 2) == [b"c", b"b"]
    assert zr(r, "ZRANGEBYSCORE", "z", 5, 10) == []
    assert zr(r, "ZRANGEBYSCORE", "z", -10, -5) == []
    assert zr(r, "ZRANGEBYSCORE", "z", "(2", "(2") == []
    assert zr(r, "ZRANGEBYSCORE", "nokey", 0, 1) == []


def test_score_boundaries_next_to_members(r):
    # The empty member sorts first among equal scores, so it sits right at the seek keys; the
    # neighbours of 1.0 (next doubles up and down) sit right next to them.
    up, down = "1.0000000000000002", "0.99999999999999989"
    zr(r, "ZADD", "z", 1, "", 1, "a", up, "", down, "x", 2, "b")
    assert zall(r) == [b"x", down.encode(), b"a", b"1", b"", up.encode(), b"b", b"2"]
    assert zr(r, "ZRANGEBYSCORE", "z", 1, 1) == [b"a"]
    assert zr(r, "ZREVRANGEBYSCORE", "z", 1, 1) == [b"a"]
    assert zr(r, "ZREVRANGEBYSCORE", "z", 1, "-inf") == [b"a", b"x"]
    assert zr(r, "ZRANGEBYSCORE", "z", "(1", "+inf") == [b"", b"b"]
    assert zr(r, "ZREVRANGEBYSCORE", "z", "(2", "(1") == [b""]
    assert zr(r, "ZRANGEBYSCORE", "z", "-inf", "(1") == [b"x"]
    zr(r, "ZADD", "s", 1, "", 2, "x", 2, "", 3, "y")  # "" moves from 1 to 2
    assert zall(r, "s") == [b"", b"2", b"x", b"2", b"y", b"3"]
    assert zr(r, "ZRANGEBYSCORE", "s", "(1", "(3") == [b"", b"x"]
    assert zr(r, "ZREVRANGEBYSCORE", "s", "(3", "(1") == [b"x", b""]
    assert zr(r, "ZREVRANGEBYSCORE", "s", 2, 2) == [b"x", b""]
    assert zr(r, "ZREVRANGEBYSCORE", "s", 1.5, "-inf") == []


def test_zrange_by_lex(r):
    zr(r, "ZADD", "z", 0, "a", 0, "b", 0, "c", 0, "d", 0, "e", 0, "ee")
    assert zr(r, "ZRANGE", "z", "[b", "(e", "BYLEX") == [b"b", b"c", b"d"]
    assert zr(r, "ZRANGE", "z", "-", "+", "BYLEX", "LIMIT", 1, 2) == [b"b", b"c"]
    assert zr(r, "ZRANGE", "z", "+", "[c", "BYLEX", "REV") == [b"ee", b"e", b"d", b"c"]
    assert zr(r, "ZRANGE", "z", "+", "-", "BYLEX", "REV", "LIMIT", 0, 2) == [b"ee", b"e"]
    assert zr(r, "ZRANGEBYLEX", "z", "(a", "[c") == [b"b", b"c"]
    assert zr(r, "ZRANGEBYLEX", "z", "[e", "+") == [b"e", b"ee"]
    assert zr(r, "ZRANGEBYLEX", "z", "(e", "+") == [b"ee"]
    assert zr(r, "ZRANGEBYLEX", "z", "-", "(b") == [b"a"]
    assert zr(r, "ZRANGEBYLEX", "z", "-", "+", "LIMIT", 2, -1) == [b"c", b"d", b"e", b"ee"]
    assert zr(r, "ZRANGEBYLEX", "z", "-", "+", "LIMIT", -1, 2) == []
    assert zr(r, "ZRANGEBYLEX", "z", "+", "-") == []
    assert zr(r, "ZRANGEBYLEX", "z", "[c", "[b") == []
    assert zr(r, "ZRANGEBYLEX", "z", "[z", "+") == []
    assert zr(r, "ZREVRANGEBYLEX", "z", "(e", "-") == [b"d", b"c", b"b", b"a"]
    assert zr(r, "ZREVRANGEBYLEX", "z", "[e", "(c", "LIMIT", 1, 1) == [b"d"]
    assert zr(r, "ZREVRANGEBYLEX", "z", "[0", "-") == []
    assert zr(r, "ZRANGEBYLEX", "nokey", "-", "+") == []


def test_zrange_errors(z6):
    r = z6
    cases = [
        (["ZRANGE", "z", 0, -1, "LIMIT", 0, 1], "^syntax error, LIMIT is only supported in combination "
                                                 "with either BYSCORE or BYLEX$"),
        (["ZREVRANGE", "z", 0, -1, "LIMIT", 0, 1], "LIMIT is only supported"),
        (["ZRANGE", "z", "-", "+", "BYLEX", "WITHSCORES"],
         "^syntax error, WITHSCORES not supported in combination with BYLEX$"),
        (["ZRANGEBYLEX", "z", "-", "+", "WITHSCORES"], "WITHSCORES not supported"),
        (["ZRANGE", "z", 0, 1, "BYSCORE", "BYLEX"], "^syntax error$"),
        (["ZRANGE", "z", 0, 1, "REV", "REV"], "^syntax error$"),
        (["ZRANGE", "z", 0, 1, "LIMIT", 1], "^syntax error$"),
        (["ZRANGE", "z", 0, 1, "FOO"], "^syntax error$"),
        (["ZRANGEBYSCORE", "z", 0, 1, "REV"], "^syntax error$"),
        (["ZRANGEBYSCORE", "z", 0, 1, "BYSCORE"], "^syntax error$"),
        (["ZREVRANGE", "z", 0, 1, "REV"], "^syntax error$"),
        (["ZRANGE", "z", "a", 1], "^value is not an integer or out of range$"),
        (["ZRANGE", "z", 0, "1.5"], "^value is not an integer or out of range$"),
        (["ZRANGE", "z", 0, 1, "BYSCORE", "LIMIT", "x", 1], "^value is not an integer or out of range$"),
        (["ZRANGE", "z", "x", 1, "BYSCORE"], "^min or max is not a float$"),
        (["ZRANGEBYSCORE", "z", 0, "y"], "^min or max is not a float$"),
        (["ZRANGE", "z", "a", "+", "BYLEX"], "^min or max not valid string range item$"),
        (["ZREVRANGEBYLEX", "z", "+", "b"], "^min or max not valid string range item$"),
    ]
    for args, msg in cases:
        with pytest.raises(redis.ResponseError, match=msg):
            zr(r, *args)


# --- ZREMRANGEBY* and ZPOP* ------------------------------------------------------------------


def test_zremrangebyrank(z6):
    r = z6
    assert zr(r, "ZREMRANGEBYRANK", "z", 1, 2) == 2
    assert zr(r, "ZRANGE", "z", 0, -1) == [b"f", b"c", b"d", b"e"]
    assert zr(r, "ZREMRANGEBYRANK", "z", -1, -1) == 1
    assert zr(r, "ZREMRANGEBYRANK", "z", 5, 10) == 0
    assert zr(r, "ZREMRANGEBYRANK", "z", 2, 1) == 0
    assert zr(r, "ZREMRANGEBYRANK", "nokey", 0, -1) == 0
    assert zr(r, "ZREMRANGEBYRANK", "z", 0, -1) == 3
    assert r.exists("z") == 0
    with pytest.raises(redis.ResponseError, match="^value is not an integer or out of range$"):
        zr(r, "ZREMRANGEBYRANK", "z", "a", 1)


def test_zremrangebyscore(z6):
    r = z6
    assert zr(r, "ZREMRANGEBYSCORE", "z", "(1", 2) == 2
    assert zr(r, "ZRANGE", "z", 0, -1) == [b"f", b"a", b"d", b"e"]
    assert zr(r, "ZRANGEBYSCORE", "z", 2, 2) == []
    assert zr(r, "ZREMRANGEBYSCORE", "z", 10, 20) == 0
    assert zr(r, "ZREMRANGEBYSCORE", "nokey", 0, 1) == 0
    assert zr(r, "ZREMRANGEBYSCORE", "z", "-inf", "+inf") == 4
    assert r.exists("z") == 0
    with pytest.raises(redis.ResponseError, match="^min or max is not a float$"):
        zr(r, "ZREMRANGEBYSCORE", "z", "a", 1)


def test_zremrangebylex(r):
    zr(r, "ZADD", "z", 0, "a", 0, "b", 0, "c", 0, "d")
    assert zr(r, "ZREMRANGEBYLEX", "z", "(a", "[c") == 2
    assert zr(r, "ZRANGE", "z", 0, -1) == [b"a", b"d"]
    assert zr(r, "ZRANGEBYSCORE", "z", 0, 0) == [b"a", b"d"]
    assert zr(r, "ZREMRANGEBYLEX", "z", "+", "-") == 0
    assert zr(r, "ZREMRANGEBYLEX", "nokey", "-", "+") == 0
    assert zr(r, "ZREMRANGEBYLEX", "z", "-", "+") == 2
    assert r.exists("z") == 0
    with pytest.raises(redis.ResponseError, match="^min or max not valid string range item$"):
        zr(r, "ZREMRANGEBYLEX", "z", "a", "+")


def test_lex_ranges_over_mixed_scores(r):
    """Lex ranges assume equal scores; over mixed ones a small (listpack) zset answers Redis's
    walk in score order: from the first member >= min (the last <= max when reversed), which must
    be in range, taking members while <= max (>= min) - LIMIT's offset is skipped unchecked."""
    zr(r, "ZADD", "z", 0, "c", 1, "a", 1, "d", 2, "b", 3, "e")
    assert zr(r, "ZRANGEBYLEX", "z", "[b", "[d") == [b"c", b"a", b"d", b"b"]
    assert zr(r, "ZRANGEBYLEX", "z", "-", "[b") == []  # c, the first >= min, is above max
    assert zr(r, "ZRANGEBYLEX", "z", "[b", "+", "LIMIT", 1, 2) == [b"a", b"d"]
    assert zr(r, "ZRANGEBYLEX", "z", "[a", "[c") == [b"c", b"a"]  # stops at d
    assert zr(r, "ZRANGEBYLEX", "z", "[a", "[c", "LIMIT", 3, 5) == [b"b"]  # skipped past d
    assert zr(r, "ZRANGE", "z", "[a", "[c", "BYLEX") == [b"c", b"a"]
    assert zr(r, "ZREVRANGEBYLEX", "z", "[c", "-") == [b"b", b"d", b"a", b"c"]
    assert zr(r, "ZREVRANGEBYLEX", "z", "[b", "[a") == []
    assert zr(r, "ZREVRANGEBYLEX", "z", "+", "[b", "LIMIT", 1, 1) == [b"b"]
    assert zr(r, "ZRANGE", "z", "[d", "[a", "BYLEX", "REV") == [b"b", b"d", b"a", b"c"]
    assert zr(r, "ZLEXCOUNT", "z", "[a", "[c") == 2
    assert zr(r, "ZLEXCOUNT", "z", "[b", "+") == 5
    assert zr(r, "ZRANGESTORE", "d", "z", "[a", "[d", "BYLEX", "LIMIT", 1, -1) == 3
    assert zall(r, "d") == [b"a", b"1", b"d", b"1", b"b", b"2"]
    assert zr(r, "ZREMRANGEBYLEX", "z", "[b", "[d") == 4
    assert zall(r) == [b"e", b"3"]
    zr(r, "ZADD", "b", 1, "b", 1, "1", 2, "a")
    assert zr(r, "ZREMRANGEBYLEX", "b", "-", "[a") == 1
    assert zall(r, "b") == [b"b", b"1", b"a", b"2"]


def test_zpopmin_zpopmax(z6):
    r = z6
    assert zr(r, "ZPOPMIN", "z") == [b"f", b"-3.25"]
    assert zr(r, "ZPOPMAX", "z") == [b"e", b"4.5"]
    assert zr(r, "ZPOPMIN", "z", 2) == [b"a", b"1", b"b", b"2"]
    assert zr(r, "ZPOPMAX", "z", 0) == []
    assert zr(r, "ZPOPMAX", "z", 10) == [b"d", b"3", b"c", b"2"]
    assert r.exists("z") == 0
    assert zr(r, "ZPOPMIN", "z") == []
    assert zr(r, "ZPOPMAX", "nokey", 3) == []


def test_zpop_errors(r):
    r.set("s", "x")
    with pytest.raises(redis.ResponseError, match=WRONGTYPE):
        zr(r, "ZPOPMIN", "s", 0)
    for bad in ("-1", "x", "1.5"):
        with pytest.raises(redis.ResponseError, match="^value is out of range, must be positive$"):
            zr(r, "ZPOPMIN", "s", bad)
    with pytest.raises(redis.ResponseError, match="^syntax error$"):
        zr(r, "ZPOPMAX", "z", 1, 2)


# --- ZUNIONSTORE / ZINTERSTORE ---------------------------------------------------------------


@pytest.fixture
def two(r):
    zr(r, "ZADD", "z1", 1, "a", 2, "b", 3, "c")
    zr(r, "ZADD", "z2", 1.5, "b", 2, "c", 4, "d")
    return r


def test_zunionstore(two):
    r = two
    assert zr(r, "ZUNIONSTORE", "d", 2, "z1", "z2") == 4
    assert zall(r, "d") == [b"a", b"1", b"b", b"3.5", b"d", b"4", b"c", b"5"]
    assert zr(r, "ZUNIONSTORE", "d", 2, "z1", "z2", "WEIGHTS", 2, -1) == 4
    assert zall(r, "d") == [b"d", b"-4", b"a", b"2", b"b", b"2.5", b"c", b"4"]
    assert zr(r, "ZUNIONSTORE", "d", 2, "z1", "z2", "AGGREGATE", "MIN") == 4
    assert zall(r, "d") == [b"a", b"1", b"b", b"1.5", b"c", b"2", b"d", b"4"]
    assert zr(r, "ZUNIONSTORE", "d", 2, "z1", "z2", "aggregate", "max", "weights", 1, 2) == 4
    assert zall(r, "d") == [b"a", b"1", b"b", b"3", b"c", b"4", b"d", b"8"]
    assert zr(r, "ZUNIONSTORE", "d", 3, "z1", "nokey", "z1") == 3
    assert zall(r, "d") == [b"a", b"2", b"b", b"4", b"c", b"6"]
    assert zr(r, "ZUNIONSTORE", "z1", 1, "z1", "WEIGHTS", 0.5) == 3  # the destination is an input
    assert zall(r, "z1") == [b"a", b"0.5", b"b", b"1", b"c", b"1.5"]


def test_zinterstore(two):
    r = two
    assert zr(r, "ZINTERSTORE", "d", 2, "z1", "z2") == 2
    assert zall(r, "d") == [b"b", b"3.5", b"c", b"5"]
    assert zr(r, "ZINTERSTORE", "d", 2, "z1", "z2", "WEIGHTS", 2, 3, "AGGREGATE", "MAX") == 2
    assert zall(r, "d") == [b"b", b"4.5", b"c", b"6"]
    assert zr(r, "ZINTERSTORE", "d", 2, "z1", "z2", "AGGREGATE", "MIN") == 2
    assert zall(r, "d") == [b"b", b"1.5", b"c", b"2"]
    assert zr(r, "ZINTERSTORE", "d", 2, "z1", "nokey") == 0
    assert r.exists("d") == 0
    zr(r, "ZADD", "e", 1, "x")
    assert zr(r, "ZINTERSTORE", "d", 2, "z1", "z1") == 3
    assert zr(r, "ZINTERSTORE", "d", 2, "z1", "e") == 0
    assert r.exists("d") == 0


def test_store_with_sets_and_overwrite(two):
    r = two
    r.sadd("s", "a", "d", "x")
    assert zr(r, "ZUNIONSTORE", "d", 2, "z1", "s") == 5
    assert zall(r, "d") == [b"d", b"1", b"x", b"1", b"a", b"2", b"b", b"2", b"c", b"3"]
    assert zr(r, "ZINTERSTORE", "d", 2, "s", "z2", "WEIGHTS", 10, 1) == 1
    assert zall(r, "d") == [b"d", b"14"]
    r.set("str", "v")
    r.expire("d", 100)
    assert zr(r, "ZUNIONSTORE", "str", 1, "z1") == 3  # any destination type is overwritten
    assert r.type("str") == b"zset"
    assert zr(r, "ZUNIONSTORE", "d", 1, "z2") == 3
    assert r.ttl("d") == -1
    assert zr(r, "ZUNIONSTORE", "d", 1, "nokey") == 0
    assert r.exists("d") == 0


def test_store_inf_arithmetic(r):
    zr(r, "ZADD", "a", "inf", "m", 1, "n")
    zr(r, "ZADD", "b", "-inf", "m", 2, "n")
    assert zr(r, "ZUNIONSTORE", "d", 2, "a", "b") == 2
    assert zall(r, "d") == [b"m", b"0", b"n", b"3"]
    assert zr(r, "ZINTERSTORE", "d", 2, "a", "b") == 2
    assert zall(r, "d") == [b"m", b"0", b"n", b"3"]
    assert zr(r, "ZUNIONSTORE", "d", 1, "a", "WEIGHTS", 0) == 2
    assert zall(r, "d") == [b"m", b"0", b"n", b"0"]


def test_store_errors(two):
    r = two
    r.set("str", "v")
    cases = [
        (["ZUNIONSTORE", "d", 0, "z1"], "^at least 1 input key is needed for 'zunionstore' command$"),
        (["ZINTERSTORE", "d", -1, "z1"], "^at least 1 input key is needed for 'zinterstore' command$"),
        (["ZUNIONSTORE", "d", 3, "z1", "z2"], "^syntax error$"),
        (["ZUNIONSTORE", "d", "x", "z1"], "^value is not an integer or out of range$"),
        (["ZUNIONSTORE", "d", 1, "z1", "WEIGHTS"], "^syntax error$"),
        (["ZUNIONSTORE", "d", 2, "z1", "z2", "WEIGHTS", 1], "^syntax error$"),
        (["ZUNIONSTORE", "d", 1, "z1", "WEIGHTS", "x"], "^weight value is not a float$"),
        (["ZINTERSTORE", "d", 1, "z1", "AGGREGATE", "AVG"], "^syntax error$"),
        (["ZINTERSTORE", "d", 1, "z1", "AGGREGATE"], "^syntax error$"),
        (["ZINTERSTORE", "d", 1, "z1", "WITHSCORES"], "^syntax error$"),
        (["ZUNIONSTORE", "d", 2, "z1", "str"], WRONGTYPE),
        (["ZINTERSTORE", "d", 2, "nokey", "str"], WRONGTYPE),
        (["ZINTERSTORE", "d", 1, "str", "WEIGHTS", "x"], WRONGTYPE),  # keys are checked first
    ]
    for args, msg in cases:
        with pytest.raises(redis.ResponseError, match=msg):
            zr(r, *args)
    assert r.exists("d") == 0


def test_zscan_cursor_then_key_then_options(r):
    r.set("str", "v")
    with pytest.raises(redis.ResponseError, match="^invalid cursor$"):
        zr(r, "ZSCAN", "str", "x")
    for key in ("str", "nokey"):
        with pytest.raises(redis.ResponseError, match="^invalid cursor$"):
            zr(r, "ZSCAN", key, "x", "COUNT", "0")
    with pytest.raises(redis.ResponseError, match=WRONGTYPE):
        zr(r, "ZSCAN", "str", "0", "MATCH")
    assert zr(r, "ZSCAN", "nokey", "0", "COUNT", "0") == [b"0", []]
    assert zr(r, "ZSCAN", "nokey", "-1", "NX", "LIMIT", "") == [b"0", []]


# --- ZSCAN / ZRANDMEMBER ---------------------------------------------------------------------


def test_zscan(r):
    members = {f"m{i}".encode(): float(i) + 0.5 for i in range(50)}
    zr(r, "ZADD", "z", *[x for m, s in members.items() for x in (s, m)])
    seen = {}
    cursor = 0
    while True:
        cursor, items = zr(r, "ZSCAN", "z", cursor, "COUNT", 7)
        for m, s in zip(items[0::2], items[1::2], strict=True):
            seen[m] = float(s)
        if cursor == b"0":
            break
    assert seen == members
    _, items = zr(r, "ZSCAN", "z", 0, "MATCH", "m1*", "COUNT", 1000)
    assert dict(zip(items[0::2], items[1::2], strict=True)) == {m: b"%g" % s for m, s in members.items()
                                                   if m.startswith(b"m1")}
    assert zr(r, "ZSCAN", "nokey", 0) == [b"0", []]
    with pytest.raises(redis.ResponseError, match="^invalid cursor$"):
        zr(r, "ZSCAN", "z", "abc")
    with pytest.raises(redis.ResponseError, match="^syntax error$"):
        zr(r, "ZSCAN", "z", 0, "FOO")


def test_zrandmember(r):
    zr(r, "ZADD", "z", 1, "a", 2, "b", 3.5, "c")
    assert zr(r, "ZRANDMEMBER", "z") in (b"a", b"b", b"c")
    assert zr(r, "ZRANDMEMBER", "nokey") is None
    assert zr(r, "ZRANDMEMBER", "nokey", 3) == []
    assert zr(r, "ZRANDMEMBER", "z", 0) == []
    assert sorted(zr(r, "ZRANDMEMBER", "z", 3)) == [b"a", b"b", b"c"]
    assert sorted(zr(r, "ZRANDMEMBER", "z", 10)) == [b"a", b"b", b"c"]
    two = zr(r, "ZRANDMEMBER", "z", 2)
    assert len(two) == 2 == len(set(two)) and set(two) <= {b"a", b"b", b"c"}
    many = zr(r, "ZRANDMEMBER", "z", -20)
    assert len(many) == 20 and set(many) <= {b"a", b"b", b"c"}
    pairs = zr(r, "ZRANDMEMBER", "z", -5, "WITHSCORES")
    assert len(pairs) == 10
    scores = {b"a": b"1", b"b": b"2", b"c": b"3.5"}
    assert all(scores[m] == s for m, s in zip(pairs[0::2], pairs[1::2], strict=True))
    allp = zr(r, "ZRANDMEMBER", "z", 5, "withscores")
    assert dict(zip(allp[0::2], allp[1::2], strict=True)) == scores
    one = zr(r, "ZRANDMEMBER", "z", 1, "WITHSCORES")
    assert len(one) == 2 and scores[one[0]] == one[1]


def test_zrandmember_errors(r):
    r.set("s", "x")
    with pytest.raises(redis.ResponseError, match=WRONGTYPE):
        zr(r, "ZRANDMEMBER", "s", 0)
    with pytest.raises(redis.ResponseError, match=WRONGTYPE):
        zr(r, "ZRANDMEMBER", "s")
    with pytest.raises(redis.ResponseError, match="^syntax error$"):
        zr(r, "ZRANDMEMBER", "z", 1, "FOO")
    with pytest.raises(redis.ResponseError, match="^syntax error$"):
        zr(r, "ZRANDMEMBER", "z", 1, "WITHSCORES", "x")
    with pytest.raises(redis.ResponseError, match="^value is not an integer or out of range$"):
        zr(r, "ZRANDMEMBER", "z", "x")
    with pytest.raises(redis.ResponseError, match="^value is out of range$"):
        zr(r, "ZRANDMEMBER", "z", 4611686018427387904, "WITHSCORES")
    with pytest.raises(redis.ResponseError, match="^value is out of range, value must between"):
        zr(r, "ZRANDMEMBER", "z", -9223372036854775808)


# --- arity and types -------------------------------------------------------------------------


@pytest.mark.parametrize("args", [
    ["zadd", "z", "1"], ["zrem", "z"], ["zcard"], ["zscore", "z"], ["zmscore", "z"],
    ["zincrby", "z", "1"], ["zrank", "z"], ["zrevrank", "z"], ["zcount", "z", "0"],
    ["zlexcount", "z", "-"], ["zrange", "z", "0"], ["zrangebyscore", "z", "0"],
    ["zrevrangebyscore", "z", "0"], ["zrangebylex", "z", "-"], ["zrevrangebylex", "z", "+"],
    ["zrevrange", "z", "0"], ["zremrangebyrank", "z", "0"], ["zremrangebyscore", "z", "0"],
    ["zremrangebylex", "z", "-"], ["zpopmin"], ["zpopmax"], ["zunionstore", "d", "1"],
    ["zinterstore", "d", "1"], ["zscan", "z"], ["zrandmember"], ["zcard", "a", "b"],
    ["zrank", "z", "a", "b"],
])
def test_wrong_arity(r, args):
    with pytest.raises(redis.ResponseError, match=f"wrong number of arguments for '{args[0]}'"):
        zr(r, *args)


def test_wrongtype(r):
    r.set("str", "x")
    for args in (["zadd", "str", 1, "a"], ["zrem", "str", "a"], ["zcard", "str"], ["zscore", "str", "a"],
                 ["zmscore", "str", "a"], ["zincrby", "str", 1, "a"], ["zrank", "str", "a"],
                 ["zrevrank", "str", "a"], ["zcount", "str", 0, 1], ["zlexcount", "str", "-", "+"],
                 ["zrange", "str", 0, -1], ["zrange", "str", 0, 1, "BYSCORE"],
                 ["zrangebylex", "str", "-", "+"], ["zrevrange", "str", 0, -1],
                 ["zrangebyscore", "str", 0, 1], ["zrevrangebyscore", "str", 1, 0],
                 ["zrevrangebylex", "str", "+", "-"], ["zremrangebyrank", "str", 0, -1],
                 ["zremrangebyscore", "str", 0, 1], ["zremrangebylex", "str", "-", "+"],
                 ["zpopmin", "str"], ["zpopmax", "str", 2], ["zscan", "str", 0],
                 ["zrandmember", "str", 2]):
        with pytest.raises(redis.ResponseError, match=WRONGTYPE):
            zr(r, *args)
    zr(r, "ZADD", "z", 1, "a")
    with pytest.raises(redis.ResponseError, match=WRONGTYPE):
        r.get("z")
    with pytest.raises(redis.ResponseError, match=WRONGTYPE):
        r.sadd("z", "a")
    assert r.get("str") == b"x"


def test_many_members_and_equal_scores(r):
    n = 300
    args = []
    for i in range(n):
        args += [i % 7, f"m{i:03d}"]
    assert zr(r, "ZADD", "z", *args) == n
    expected = sorted((i % 7, f"m{i:03d}".encode()) for i in range(n))
    assert zr(r, "ZRANGE", "z", 0, -1) == [m for _, m in expected]
    assert zr(r, "ZRANGEBYSCORE", "z", 3, "(5") == [m for s, m in expected if 3 <= s < 5]
    assert zr(r, "ZREVRANGEBYSCORE", "z", 3, "(1", "LIMIT", 5, 10) == [m for s, m in expected
                                                                        if 1 < s <= 3][::-1][5:15]
    assert zr(r, "ZRANK", "z", "m150") == expected.index((150 % 7, b"m150"))
    assert zr(r, "ZREVRANK", "z", "m150") == n - 1 - expected.index((150 % 7, b"m150"))
    assert zr(r, "ZCOUNT", "z", 2, 4) == sum(1 for s, _ in expected if 2 <= s <= 4)
    assert zr(r, "ZREMRANGEBYSCORE", "z", 0, 0) == sum(1 for s, _ in expected if s == 0)
    assert r.zcard("z") == n - sum(1 for s, _ in expected if s == 0)


def test_rename_keeps_both_indexes(r):
    zr(r, "ZADD", "z", 1, "a", 2.5, "b", 0, "c")
    r.rename("z", "y")
    assert r.exists("z") == 0
    assert zall(r, "y") == [b"c", b"0", b"a", b"1", b"b", b"2.5"]
    assert zr(r, "ZRANGEBYSCORE", "y", "(0", "inf") == [b"a", b"b"]
    assert zr(r, "ZSCORE", "y", "b") == b"2.5"
    assert zr(r, "ZADD", "z", 7, "a") == 1  # the old name starts empty
    assert zall(r, "z") == [b"a", b"7"]


def test_multi_exec_and_watch(r):
    zr(r, "ZADD", "z", 1, "a")
    p = r.pipeline(transaction=True)
    p.execute_command("ZADD", "z", 2, "b")
    p.execute_command("ZINCRBY", "z", 5, "a")
    p.execute_command("ZCARD", "z")
    assert p.execute() == [1, 6.0, 2]  # redis-py parses ZINCRBY's reply here
    with r.pipeline() as p:
        p.watch("d")
        zr(r, "ZUNIONSTORE", "d", 1, "z")  # touches the watched destination
        p.multi()
        p.execute_command("ZCARD", "d")
        with pytest.raises(redis.WatchError):
            p.execute()
