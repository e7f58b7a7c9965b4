"""ZUNION/ZINTER/ZDIFF(+STORE), ZINTERCARD, ZRANGESTORE, ZMPOP/LMPOP and the blocking
BZPOPMIN/BZPOPMAX/BZMPOP/BLMPOP: replies compared exactly with redis-server's (`same`)."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.store.crosscheck import both_fixture, raw, same  # noqa: F401
from tests.store.test_lists import blocked_clients, other_client


def in_background(client, *args):
    """Send a blocking command from client in a thread (raw reply); return once it blocks."""
    port = client.connection_pool.connection_kwargs["port"]
    before = blocked_clients(port)
    pool = ThreadPoolExecutor(1)
    fut = pool.submit(raw, client, *args)
    pool.shutdown(wait=False)
    deadline = time.monotonic() + 10
    while blocked_clients(port) <= before and not fut.done():
        assert time.monotonic() < deadline, "the command never blocked"
        time.sleep(0.01)
    return fut


@pytest.fixture
def data(both):
    same(both, "ZADD", "z1", 1, "a", 2, "b", 3, "c", "inf", "i")
    same(both, "ZADD", "z2", 2, "b", 5, "c", 1, "d", "-inf", "i")
    same(both, "SADD", "s1", "a", "c", "x")
    same(both, "SET", "str", "x")
    return both


KEYSETS = [["z1"], ["z1", "z2"], ["z1", "z2", "s1"], ["z1", "nokey"], ["nokey", "z1"], ["s1", "z1"]]


@pytest.mark.parametrize("cmd", ["ZUNION", "ZINTER", "ZDIFF"])
def test_algebra(data, cmd):
    for keys in KEYSETS:
        same(data, cmd, len(keys), *keys)
        same(data, cmd, len(keys), *keys, "WITHSCORES")
        if cmd != "ZDIFF":
            weights = ([2, -1.5, 0] + [1] * len(keys))[:len(keys)]
            for agg in ("SUM", "MIN", "MAX", "min"):
                same(data, cmd, len(keys), *keys, "WEIGHTS", *weights, "AGGREGATE", agg, "WITHSCORES")
        same(data, cmd + "STORE", "dst", len(keys), *keys)
        same(data, "ZRANGE", "dst", 0, -1, "WITHSCORES")


@pytest.mark.parametrize("cmd", ["ZUNION", "ZINTER", "ZDIFF"])
def test_algebra_errors(data, cmd):
    for args in ((1, "str"), (0, "z1"), (3, "z1"), ("x", "z1"), (1, "z1", "WEIGHTS", "x"),
                 (1, "z1", "AGGREGATE", "FOO"), (1, "z1", "WITHSCORES", "WITHSCORES"),
                 (1, "z1", "WEIGHTS", 1)):
        same(data, cmd, *args)
    same(data, cmd + "STORE", "d", 1, "z1", "WITHSCORES")


def test_zintercard(data):
    for keys in KEYSETS:
        for extra in ((), ("LIMIT", 1), ("LIMIT", 0)):
            same(data, "ZINTERCARD", len(keys), *keys, *extra)
    for args in ((1, "z1", "LIMIT", -1), (1, "z1", "LIMIT", "x"), (1, "z1", "WITHSCORES"),
                 (0, "z1"), (2, "z1"), (1, "str")):
        same(data, "ZINTERCARD", *args)


@pytest.mark.parametrize("args", [["0", "-1"], ["1", "2"], ["-2", "-1", "REV"], ["(1", "+inf", "BYSCORE"],
                                  ["+inf", "(1", "BYSCORE", "REV", "LIMIT", 0, 2], ["[a", "[c", "BYLEX"],
                                  ["0", "-1", "WITHSCORES"], ["5", "10"]])
def test_zrangestore(data, args):
    same(data, "ZRANGESTORE", "rs", "z1", *args)
    same(data, "ZRANGE", "rs", 0, -1, "WITHSCORES")
    same(data, "ZRANGESTORE", "rs", "nokey", 0, -1)
    same(data, "EXISTS", "rs")
    same(data, "ZRANGESTORE", "rs", "str", 0, -1)


def test_pops(data):
    for args in (["ZMPOP", 2, "nokey", "z1", "MIN"], ["ZMPOP", 1, "z1", "MAX", "COUNT", 2],
                 ["ZMPOP", 1, "z1", "MAX", "COUNT", 10], ["ZMPOP", 1, "z1", "MIN"], ["ZMPOP", 1, "str", "MIN"],
                 ["ZMPOP", 1, "nokey", "MIN"], ["ZMPOP", 0, "z1", "MIN"], ["ZMPOP", 1, "z1", "FOO"],
                 ["ZMPOP", 1, "z2", "MIN", "COUNT", 0], ["ZMPOP", 2, "z2", "MIN"],
                 ["BZPOPMIN", "nokey", "z2", 0], ["BZPOPMAX", "z2", 0], ["BZMPOP", 0, 1, "z2", "MIN", "COUNT", 5],
                 ["BZPOPMIN", "str", 0], ["BZMPOP", 0.01, 1, "nokey", "MIN"], ["BZPOPMIN", "nokey", 0.01],
                 ["BZPOPMIN", "nokey", "x"], ["BZMPOP", "x", 1, "a", "MIN", "COUNT", 0],
                 ["RPUSH", "l1", "a", "b", "c", "d"], ["LMPOP", 2, "nokey", "l1", "LEFT"],
                 ["LMPOP", 1, "l1", "RIGHT", "COUNT", 2], ["LMPOP", 1, "l1", "RIGHT", "COUNT", 5],
                 ["LMPOP", 1, "l1", "RIGHT"], ["LMPOP", 1, "str", "LEFT"], ["LMPOP", 0, "l1", "LEFT"],
                 ["LMPOP", 1, "l1", "UP"], ["RPUSH", "l2", 1, 2, 3],
                 ["BLMPOP", 0, 2, "l1", "l2", "LEFT", "COUNT", 2], ["BLMPOP", 0.01, 1, "nokey", "LEFT"],
                 ["BLMPOP", -1, 1, "nokey", "LEFT"]):
        same(data, *args)


@pytest.mark.parametrize("call, push, expected", [
    (("BZPOPMIN", "za", "zb", 0), ("ZADD", "zb", 1, "m"), [b"zb", b"m", b"1"]),
    (("BZPOPMAX", "za", 5), ("ZADD", "za", 1, "m", 2, "n"), [b"za", b"n", b"2"]),
    (("BZMPOP", 0, 2, "za", "zb", "MIN", "COUNT", 5), ("ZADD", "zb", 1, "m", 2, "n"),
     [b"zb", [[b"m", b"1"], [b"n", b"2"]]]),
    (("BLMPOP", 0, 1, "la", "RIGHT", "COUNT", 2), ("RPUSH", "la", "x", "y", "z"), [b"la", [b"z", b"y"]]),
])
def test_blocking_woken(r, call, push, expected):
    waiter = other_client(r)
    fut = in_background(waiter, *call)
    raw(r, *push)
    assert fut.result(timeout=5) == expected
    waiter.close()


def test_blocking_timeout_and_multi(r):
    assert raw(r, "BZPOPMIN", "nokey", "0.05") is None
    assert raw(r, "BZMPOP", "0.05", 1, "nokey", "MAX") is None
    p = r.pipeline(transaction=True)
    p.execute_command("BZPOPMAX", "nokey", 0)
    p.execute_command("BLMPOP", 0, 1, "nokey", "LEFT")
    assert p.execute() == [None, None]


def test_zstore_wakes_blocked_client(r):
    waiter = other_client(r)
    fut = in_background(waiter, "BZPOPMIN", "dst", 0)
    r.zadd("src", {"a": 1, "b": 2})
    assert raw(r, "ZUNIONSTORE", "dst", 1, "src") == 2
    assert fut.result(timeout=5) == [b"dst", b"a", b"1"]
    waiter.close()


def test_pop_scores_are_doubles_in_resp3(r):
    """ZMPOP, BZMPOP and BZPOPMIN/MAX answer scores as RESP3 doubles (bulk strings in RESP2)."""
    r.zadd("z", {"a": 1.5, "b": 2, "c": 3})
    resp3 = r.get_connection_kwargs().get("protocol") == 3

    def score(text):
        return float(text) if resp3 else text.encode()

    replies = [raw(r, "ZMPOP", 1, "z", "MIN"), raw(r, "BZPOPMAX", "z", 0),
               raw(r, "BZMPOP", 0, 1, "z", "MIN")]
    assert replies == [[b"z", [[b"a", score("1.5")]]], [b"z", b"c", score("3")],
                       [b"z", [[b"b", score("2")]]]]
    scores = [replies[0][1][0][1], replies[1][2], replies[2][1][0][1]]
    assert all(isinstance(s, float if resp3 else bytes) for s in scores)
