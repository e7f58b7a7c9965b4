"""Set commands, checked against xcache and redis-server alike (fixture `r`)."""

import time

import pytest
import redis

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"


def test_sadd_scard_smembers(r):
    assert r.sadd("s", "a", "b", "a") == 2
    assert r.sadd("s", "b", "c") == 1
    assert r.scard("s") == 3
    assert r.smembers("s") == {b"a", b"b", b"c"}
    assert r.scard("nokey") == 0
    assert r.smembers("nokey") == set()
    assert r.type("s") == b"set"


def test_sismember_smismember(r):
    r.sadd("s", "a", b"\x00")
    assert r.sismember("s", "a") == 1
    assert r.sismember("s", b"\x00") == 1
    assert r.sismember("s", "z") == 0
    assert r.sismember("nokey", "z") == 0
    assert r.smismember("s", ["a", "z", "a"]) == [1, 0, 1]
    assert r.smismember("nokey", ["a"]) == [0]


def test_srem_removes_key_when_empty(r):
    r.sadd("s", "a", "b", "c")
    assert r.srem("s", "a", "a", "z") == 1
    assert r.srem("nokey", "a") == 0
    assert r.srem("s", "z") == 0
    assert r.scard("s") == 2
    assert r.srem("s", "b", "c") == 2
    assert r.exists("s") == 0
    assert r.type("s") == b"none"
    r.sadd("s", "x")
    assert r.smembers("s") == {b"x"}


@pytest.mark.parametrize("args", [["sadd", "s"], ["srem", "s"], ["scard"], ["sismember", "s"],
                                  ["smismember", "s"], ["smembers"], ["spop"], ["srandmember"],
                                  ["smove", "a", "b"], ["sinter"], ["sunion"], ["sdiff"],
                                  ["sinterstore", "d"], ["sunionstore", "d"], ["sdiffstore", "d"],
                                  ["sintercard", "1"], ["sscan", "s"]])
def test_wrong_arity(r, args):
    with pytest.raises(redis.ResponseError, match=f"wrong number of arguments for '{args[0]}'"):
        r.execute_command(*args)


def test_wrongtype(r):
    r.set("str", "x")
    r.sadd("s", "a")
    for args in (["sadd", "str", "a"], ["srem", "str", "a"], ["scard", "str"], ["sismember", "str", "a"],
                 ["smismember", "str", "a"], ["smembers", "str"], ["spop", "str"], ["spop", "str", "0"],
                 ["srandmember", "str"], ["srandmember", "str", "2"], ["sscan", "str", "0"],
                 ["sinter", "s", "str"], ["sinter", "nokey", "str"], ["sunion", "s", "str"],
                 ["sdiff", "nokey", "str"], ["sdiff", "s", "str"], ["sinterstore", "d", "s", "str"],
                 ["sunionstore", "d", "str"], ["sdiffstore", "d", "s", "str"], ["sintercard", "2", "s", "str"],
                 ["smove", "str", "s", "a"], ["smove", "s", "str", "a"]):
        with pytest.raises(redis.ResponseError, match=WRONGTYPE):
            r.execute_command(*args)
    with pytest.raises(redis.ResponseError, match=WRONGTYPE):
        r.get("s")


def test_spop(r):
    members = {b"m%d" % i for i in range(20)}
    r.sadd("s", *members)
    one = r.spop("s")
    assert one in members
    assert r.sismember("s", one) == 0
    assert r.scard("s") == 19
    got = r.spop("s", 5)
    assert len(got) == 5 and len(set(got)) == 5 and one not in got and set(got) <= members
    assert r.scard("s") == 14
    assert r.spop("s", 0) == []
    rest = r.spop("s", 100)
    assert set(rest) | set(got) | {one} == members
    assert r.exists("s") == 0
    assert r.spop("s") is None
    assert r.spop("s", 3) == []


def test_spop_last_member_deletes_key(r):
    r.sadd("s", "a")
    assert r.spop("s") == b"a"
    assert r.exists("s") == 0


def test_spop_errors(r):
    r.sadd("s", "a")
    for bad in ("-1", "x"):
        with pytest.raises(redis.ResponseError, match="^value is out of range, must be positive$"):
            r.execute_command("spop", "s", bad)
    with pytest.raises(redis.ResponseError, match="^syntax error$"):
        r.execute_command("spop", "s", "1", "2")


def test_srandmember(r):
    members = {b"m%d" % i for i in range(10)}
    r.sadd("s", *members)
    assert r.srandmember("s") in members
    assert r.srandmember("nokey") is None
    assert r.srandmember("nokey", 5) == []
    assert r.srandmember("s", 0) == []
    got = r.srandmember("s", 4)
    assert len(got) == 4 and len(set(got)) == 4 and set(got) <= members
    assert sorted(r.srandmember("s", 50)) == sorted(members)
    got = r.srandmember("s", -25)
    assert len(got) == 25 and set(got) <= members
    assert r.scard("s") == 10


def test_srandmember_uniform_enough(r):
    r.sadd("s", "a", "b", "c", "d")
    seen = {}
    for m in r.srandmember("s", -2000):
        seen[m] = seen.get(m, 0) + 1
    assert len(seen) == 4 and min(seen.values()) > 350
    picks = {r.srandmember("s") for _ in range(100)}
    assert picks == {b"a", b"b", b"c", b"d"}


def test_srandmember_errors(r):
    r.sadd("s", "a")
    with pytest.raises(redis.ResponseError, match="^value is not an integer or out of range$"):
        r.execute_command("srandmember", "s", "x")
    with pytest.raises(redis.ResponseError, match="^value is out of range, value must between"):
        r.execute_command("srandmember", "s", str(-(2**63)))
    with pytest.raises(redis.ResponseError, match="^syntax error$"):
        r.execute_command("srandmember", "s", "1", "2")


def test_smove(r):
    r.sadd("a", "x", "y")
    r.sadd("b", "z")
    assert r.smove("a", "b", "x") == 1
    assert r.smembers("a") == {b"y"}
    assert r.smembers("b") == {b"x", b"z"}
    assert r.smove("a", "b", "nope") == 0
    assert r.smove("nokey", "b", "x") == 0
    assert r.smove("a", "a", "y") == 1
    assert r.smove("a", "a", "q") == 0
    assert r.smove("a", "new", "y") == 1  # last member: source vanishes, destination is created
    assert r.exists("a") == 0
    assert r.smembers("new") == {b"y"}
    assert r.smove("b", "new", "x") == 1  # already in destination
    assert r.smembers("new") == {b"x", b"y"}
    assert r.smembers("b") == {b"z"}


def test_smove_missing_source_ignores_destination_type(r):
    r.set("str", "v")
    assert r.smove("nokey", "str", "a") == 0


def test_sinter_sunion_sdiff(r):
    r.sadd("a", "1", "2", "3", "4")
    r.sadd("b", "2", "3", "5")
    r.sadd("c", "3", "4", "6")
    assert r.sinter("a", "b") == {b"2", b"3"}
    assert r.sinter("a", "b", "c") == {b"3"}
    assert r.sinter("a") == {b"1", b"2", b"3", b"4"}
    assert r.sinter("a", "nokey") == set()
    assert r.sunion("a", "b", "nokey") == {b"1", b"2", b"3", b"4", b"5"}
    assert r.sunion("nokey") == set()
    assert r.sdiff("a", "b") == {b"1", b"4"}
    assert r.sdiff("a", "b", "c") == {b"1"}
    assert r.sdiff("a", "nokey") == {b"1", b"2", b"3", b"4"}
    assert r.sdiff("nokey", "a") == set()
    assert r.sdiff("a", "a") == set()


def test_store_variants(r):
    r.sadd("a", "1", "2", "3")
    r.sadd("b", "2", "3", "4")
    assert r.sinterstore("d", ["a", "b"]) == 2
    assert r.smembers("d") == {b"2", b"3"}
    assert r.sunionstore("d", ["a", "b"]) == 4
    assert r.smembers("d") == {b"1", b"2", b"3", b"4"}
    assert r.sdiffstore("d", ["a", "b"]) == 1
    assert r.smembers("d") == {b"1"}
    # The destination can be one of the sources.
    assert r.sunionstore("a", ["a", "b"]) == 4
    assert r.smembers("a") == {b"1", b"2", b"3", b"4"}


def test_store_overwrites_any_type_and_ttl(r):
    r.sadd("a", "1", "2")
    r.set("d", "string")
    r.expire("d", 100)
    assert r.sunionstore("d", ["a"]) == 2
    assert r.type("d") == b"set"
    assert r.ttl("d") == -1
    r.hset("h", "f", "v")
    assert r.sinterstore("h", ["a"]) == 2
    assert r.smembers("h") == {b"1", b"2"}
    # A stale member of the old set under the same name must not reappear.
    r.sadd("d2", "old1", "old2")
    assert r.sdiffstore("d2", ["a"]) == 2
    assert r.smembers("d2") == {b"1", b"2"}


def test_store_empty_result_deletes_destination(r):
    r.sadd("a", "1")
    r.sadd("b", "2")
    r.set("d", "x")
    assert r.sinterstore("d", ["a", "b"]) == 0
    assert r.exists("d") == 0
    r.sadd("d", "z")
    assert r.sdiffstore("d", ["a", "a"]) == 0
    assert r.exists("d") == 0
    r.sadd("d", "z")
    assert r.sunionstore("d", ["nokey"]) == 0
    assert r.exists("d") == 0
    assert r.sinterstore("d", ["nokey", "a"]) == 0
    assert r.exists("d") == 0


def test_sintercard(r):
    r.sadd("a", "1", "2", "3", "4")
    r.sadd("b", "2", "3", "4", "5")
    assert r.sintercard(2, ["a", "b"]) == 3
    assert r.sintercard(2, ["a", "b"], limit=2) == 2
    assert r.sintercard(2, ["a", "b"], limit=0) == 3
    assert r.sintercard(2, ["a", "b"], limit=10) == 3
    assert r.sintercard(1, ["a"]) == 4
    assert r.sintercard(2, ["a", "nokey"]) == 0
    assert r.execute_command("sintercard", "2", "a", "b", "LIMIT", "1", "limit", "2") == 2


@pytest.mark.parametrize("args,error", [
    (["0", "a"], "^numkeys should be greater than 0$"),
    (["x", "a"], "^numkeys should be greater than 0$"),
    (["3", "a", "b"], "^Number of keys can't be greater than number of args$"),
    (["1", "a", "LIMIT", "-1"], "^LIMIT can't be negative$"),
    (["1", "a", "LIMIT", "x"], "^LIMIT can't be negative$"),
    (["1", "a", "LIMIT"], "^syntax error$"),
    (["1", "a", "foo", "1"], "^syntax error$"),
])
def test_sintercard_errors(r, args, error):
    r.sadd("a", "1")
    with pytest.raises(redis.ResponseError, match=error):
        r.execute_command("sintercard", *args)


def test_sscan(r):
    members = {b"m%03d" % i for i in range(300)}
    r.sadd("s", *members)
    assert sorted(r.sscan_iter("s")) == sorted(members)
    assert sorted(r.sscan_iter("s", count=7)) == sorted(members)
    assert set(r.sscan_iter("s", match="m1?5", count=20)) == {b"m1%d5" % i for i in range(10)}
    assert r.sscan("nokey", 0) == (0, [])


def test_sscan_errors(r):
    r.sadd("s", "a")
    with pytest.raises(redis.ResponseError, match="^invalid cursor$"):
        r.execute_command("sscan", "s", "x")
    for args in (["count", "0"], ["match"], ["foo", "1"]):
        with pytest.raises(redis.ResponseError, match="^syntax error$"):
            r.execute_command("sscan", "s", "0", *args)


def test_sscan_cursor_then_key_then_options(r):
    r.set("str", "v")
    for key in ("str", "nokey"):
        with pytest.raises(redis.ResponseError, match="^invalid cursor$"):
            r.execute_command("SSCAN", key, "x", "MATCH")
    with pytest.raises(redis.ResponseError, match=WRONGTYPE):
        r.execute_command("SSCAN", "str", "-1", "COUNT", "0")
    assert r.execute_command("SSCAN", "nokey", "-1", "NX", "LIMIT", "") == (0, [])


def test_expiry_kept_on_modification(r):
    r.sadd("s", "a", "b", "c")
    r.expire("s", 100)
    r.sadd("s", "d")
    r.srem("s", "a")
    r.spop("s")
    assert 0 < r.ttl("s") <= 100


def test_expired_set_is_gone(r):
    r.sadd("s", "a", "b")
    r.pexpire("s", 1)
    time.sleep(0.02)
    assert r.scard("s") == 0
    assert r.sadd("s", "c") == 1
    assert r.smembers("s") == {b"c"}


def test_large_set_operations(r):
    r.sadd("big", *range(2000))
    r.sadd("odd", *range(1, 2000, 2))
    assert r.scard("big") == 2000
    assert r.sintercard(2, ["big", "odd"]) == 1000
    assert r.sdiffstore("even", ["big", "odd"]) == 1000
    assert r.sismember("even", "1998") == 1
    got = r.spop("big", 1500)
    assert len(set(got)) == 1500
    assert r.scard("big") == 500


class _FakeClient:
    """Just what a handler touches (c.db, c.engine, c.propagate, the encoding thresholds), to
    test without a server."""

    def __init__(self, engine):
        from types import SimpleNamespace

        from xcache.store.settings import Settings

        self.db, self.engine, self.propagate = 0, engine, None
        self.server = SimpleNamespace(settings=Settings())


def test_spop_propagates_srem_of_popped_members(tmp_path):
    from xcache.config import ServerConfig
    from xcache.store import sets
    from xcache.store.engine import Engine

    engine = Engine(ServerConfig(dir=str(tmp_path)))
    try:
        c = _FakeClient(engine)
        sets.sadd(c, [b"s", b"a", b"b", b"c"])
        popped = sets.spop(c, [b"s", b"2"])
        assert c.propagate == [b"SREM", b"s", *popped]
        assert sorted(popped + sets.smembers(c, [b"s"])) == [b"a", b"b", b"c"]
    finally:
        engine.close()
