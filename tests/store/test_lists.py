"""List commands. Every test using `r` runs against xcache AND redis-server (Redis 7.0 semantics).

Why one module (~760 lines): it mirrors xcache/store/lists.py, blocking pops included, section
by section; its blocking helpers (other_client, in_background, wait_blocked) serve the other
data types' blocking tests too.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
NOT_INT = "value is not an integer or out of range"


def other_client(r: redis.Redis, timeout: float = 10) -> redis.Redis:
    return redis.Redis(port=r.connection_pool.connection_kwargs["port"], socket_timeout=timeout, protocol=2)


def blocked_clients(port: int) -> int:
    probe = redis.Redis(port=port, protocol=2)
    try:
        return probe.info("clients")["blocked_clients"]
    finally:
        probe.close()


def wait_blocked(port: int, count: int, timeout: float = 10) -> None:
    """Wait until the server reports `count` blocked clients (INFO clients)."""
    deadline = time.monotonic() + timeout
    while blocked_clients(port) != count:
        assert time.monotonic() < deadline, f"never saw {count} blocked clients"


def in_background(fn, *args):
    """Start fn(*args) (a blocking call of a redis client) in a thread; return once it blocks."""
    port = fn.__self__.connection_pool.connection_kwargs["port"]
    before = blocked_clients(port)
    pool = ThreadPoolExecutor(1)
    fut = pool.submit(fn, *args)
    pool.shutdown(wait=False)
    deadline = time.monotonic() + 10
    while blocked_clients(port) <= before and not fut.done():
        assert time.monotonic() < deadline, "the call never blocked"
    return fut


# --- push / pop -------------------------------------------------------------------------------


def test_push_order_and_counts(r):
    assert r.lpush("k", "a", "b", "c") == 3
    assert r.rpush("k", "d", "e") == 5
    assert r.lrange("k", 0, -1) == [b"c", b"b", b"a", b"d", b"e"]
    assert r.type("k") == b"list"
    assert r.llen("k") == 5
    assert r.llen("missing") == 0


def test_pushx(r):
    assert r.lpushx("k", "a") == 0
    assert r.rpushx("k", "a") == 0
    assert r.exists("k") == 0
    r.rpush("k", "m")
    assert r.lpushx("k", "l1", "l2") == 3
    assert r.rpushx("k", "r1", "r2") == 5
    assert r.lrange("k", 0, -1) == [b"l2", b"l1", b"m", b"r1", b"r2"]


def test_pop_single(r):
    r.rpush("k", "a", "b", "c")
    assert r.lpop("k") == b"a"
    assert r.rpop("k") == b"c"
    assert r.lpop("k") == b"b"
    assert r.exists("k") == 0
    assert r.type("k") == b"none"
    assert r.lpop("k") is None
    assert r.rpop("k") is None


def test_pop_count(r):
    r.rpush("k", *"abcdef")
    assert r.lpop("k", 2) == [b"a", b"b"]
    assert r.rpop("k", 2) == [b"f", b"e"]
    assert r.lpop("k", 0) == []
    assert r.rpop("k", 0) == []
    assert r.lrange("k", 0, -1) == [b"c", b"d"]
    assert r.rpop("k", 10) == [b"d", b"c"]
    assert r.exists("k") == 0
    # a missing key with a count is a null array (redis-py: None), even for count 0
    assert r.lpop("k", 3) is None
    assert r.rpop("k", 0) is None
    assert r.execute_command("LPOP", "k", "0") is None


def test_pop_count_errors(r):
    r.rpush("k", "a")
    for cmd in ("LPOP", "RPOP"):
        for bad in ("-1", "abc", "1.5", "99999999999999999999"):
            with pytest.raises(redis.ResponseError, match="^value is out of range, must be positive$"):
                r.execute_command(cmd, "k", bad)
        with pytest.raises(redis.ResponseError, match=f"wrong number of arguments for '{cmd.lower()}'"):
            r.execute_command(cmd, "k", "1", "2")
    assert r.lrange("k", 0, -1) == [b"a"]


def test_wrongtype_everywhere(r):
    r.set("s", "v")
    calls = [
        ("LPUSH", "s", "a"), ("RPUSH", "s", "a"), ("LPUSHX", "s", "a"), ("RPUSHX", "s", "a"),
        ("LPOP", "s"), ("RPOP", "s"), ("LPOP", "s", "0"), ("LLEN", "s"), ("LRANGE", "s", "0", "-1"),
        ("LINDEX", "s", "0"), ("LSET", "s", "0", "v"), ("LREM", "s", "0", "a"),
        ("LTRIM", "s", "0", "1"), ("LINSERT", "s", "BEFORE", "a", "b"), ("LPOS", "s", "a"),
        ("RPOPLPUSH", "s", "d"), ("LMOVE", "s", "d", "LEFT", "LEFT"), ("BLPOP", "s", "0.01"),
        ("BRPOP", "s", "0.01"), ("BLMOVE", "s", "d", "LEFT", "LEFT", "0.01"),
        ("BRPOPLPUSH", "s", "d", "0.01"),
    ]
    for call in calls:
        with pytest.raises(redis.ResponseError, match=WRONGTYPE):
            r.execute_command(*call)
    assert r.get("s") == b"v"
    assert r.exists("d") == 0


def test_wrong_arity(r):
    calls = [("LPUSH", "k"), ("RPUSH", "k"), ("LPUSHX", "k"), ("RPUSHX", "k"), ("LPOP",),
             ("RPOP",), ("LLEN",), ("LLEN", "a", "b"), ("LRANGE", "k", "0"), ("LINDEX", "k"),
             ("LSET", "k", "0"), ("LREM", "k", "0"), ("LTRIM", "k", "0"), ("LINSERT", "k", "BEFORE", "a"),
             ("LPOS", "k"), ("RPOPLPUSH", "k"), ("LMOVE", "a", "b", "LEFT"), ("BLPOP", "k"),
             ("BRPOP", "k"), ("BLMOVE", "a", "b", "LEFT", "LEFT"), ("BRPOPLPUSH", "a", "b")]
    for call in calls:
        with pytest.raises(redis.ResponseError, match=f"wrong number of arguments for '{call[0].lower()}' command"):
            r.execute_command(*call)


# --- reads -----------------------------------------------------------------------------------


@pytest.mark.parametrize("start,stop", [
    (0, -1), (0, 0), (1, 2), (-2, -1), (-100, 100), (5, 10), (3, 1), (-1, -2), (0, -100),
    (-100, -6), (4, 4), (-3, 2), (2, 9223372036854775807), (-9223372036854775808, 0),
])
def test_lrange_ranges(r, start, stop):
    items = [b"a", b"b", b"c", b"d", b"e"]
    r.rpush("k", *items)
    n = len(items)
    s = start + n if start < 0 else start
    e = stop + n if stop < 0 else stop
    s = max(s, 0)
    expected = [] if s > e or s >= n else items[s:min(e, n - 1) + 1]
    assert r.lrange("k", start, stop) == expected


def test_lrange_long_list_and_errors(r):
    r.rpush("k", *range(1000))
    assert r.lrange("k", 100, 899) == [str(i).encode() for i in range(100, 900)]
    r.lpush("k", *range(-1, -501, -1))
    full = r.lrange("k", 0, -1)
    assert full == [str(i).encode() for i in range(-500, 1000)]
    assert r.lrange("missing", 0, -1) == []
    for bad in (("a", "1"), ("0", "1.0"), ("0", " 1")):
        with pytest.raises(redis.ResponseError, match=NOT_INT):
            r.execute_command("LRANGE", "k", *bad)
    with pytest.raises(redis.ResponseError, match=NOT_INT):
        r.execute_command("LRANGE", "missing", "x", "1")  # integers are checked first


def test_lindex(r):
    r.rpush("k", "a", "b", "c")
    assert [r.lindex("k", i) for i in (0, 1, 2, 3, -1, -3, -4)] == [b"a", b"b", b"c", None, b"c", b"a", None]
    assert r.lindex("missing", 0) is None
    assert r.execute_command("LINDEX", "missing", "notanint") is None  # key is looked up first
    with pytest.raises(redis.ResponseError, match=NOT_INT):
        r.execute_command("LINDEX", "k", "x")


def test_lpos(r):
    r.rpush("k", *"abcabcab")  # a b c a b c a b
    assert r.lpos("k", "a") == 0
    assert r.lpos("k", "c") == 2
    assert r.lpos("k", "z") is None
    assert r.lpos("k", "a", rank=2) == 3
    assert r.lpos("k", "a", rank=-1) == 6
    assert r.lpos("k", "a", rank=-2) == 3
    assert r.lpos("k", "a", rank=4) is None
    assert r.lpos("k", "a", count=0) == [0, 3, 6]
    assert r.lpos("k", "a", count=2) == [0, 3]
    assert r.lpos("k", "a", count=2, rank=2) == [3, 6]
    assert r.lpos("k", "a", count=0, rank=-1) == [6, 3, 0]
    assert r.lpos("k", "a", count=5, rank=-2) == [3, 0]
    assert r.lpos("k", "z", count=2) == []
    assert r.lpos("k", "b", maxlen=1) is None
    assert r.lpos("k", "b", maxlen=2) == 1
    assert r.lpos("k", "a", count=0, maxlen=4) == [0, 3]
    assert r.lpos("k", "a", count=0, maxlen=3, rank=-1) == [6]
    assert r.lpos("k", "a", maxlen=0, rank=3) == 6
    assert r.lpos("missing", "a") is None
    assert r.lpos("missing", "a", count=1) == []
    assert r.execute_command("LPOS", "k", "a", "rank", "-9223372036854775808") == 6
    assert r.execute_command("LPOS", "k", "a", "RANK", "2", "COUNT", "1", "RANK", "1") == [0]


def test_lpos_errors(r):
    r.rpush("k", "a")
    cases = [
        (("RANK", "0"), "RANK can't be zero: use 1 to start from the first match, 2 from the second ... "
                        "or use negative to start from the end of the list"),
        (("RANK", "x"), NOT_INT),
        (("COUNT", "-1"), "COUNT can't be negative"),
        (("COUNT", "x"), "COUNT can't be negative"),
        (("MAXLEN", "-1"), "MAXLEN can't be negative"),
        (("MAXLEN", "x"), "MAXLEN can't be negative"),
        (("FOO", "1"), "syntax error"),
        (("RANK",), "syntax error"),
        (("COUNT", "1", "MAXLEN"), "syntax error"),
    ]
    for opts, msg in cases:
        with pytest.raises(redis.ResponseError) as info:
            r.execute_command("LPOS", "k", "a", *opts)
        assert str(info.value) == msg
        with pytest.raises(redis.ResponseError) as info:  # options are checked before the key
            r.execute_command("LPOS", "missing", "a", *opts)
        assert str(info.value) == msg


# --- in-place modifications ------------------------------------------------------------------


def test_lset(r):
    r.rpush("k", "a", "b", "c")
    assert r.lset("k", 0, "A") is True
    assert r.lset("k", -1, "C") is True
    assert r.lrange("k", 0, -1) == [b"A", b"b", b"C"]
    for idx in (3, -4):
        with pytest.raises(redis.ResponseError, match="^index out of range$"):
            r.lset("k", idx, "x")
    with pytest.raises(redis.ResponseError, match="^no such key$"):
        r.lset("missing", 0, "x")
    with pytest.raises(redis.ResponseError, match="^no such key$"):
        r.execute_command("LSET", "missing", "x", "v")
    with pytest.raises(redis.ResponseError, match=NOT_INT):
        r.execute_command("LSET", "k", "x", "v")
    assert r.exists("missing") == 0


@pytest.mark.parametrize("count,expected_removed,expected", [
    (0, 3, [b"b", b"c", b"b"]),
    (1, 1, [b"b", b"c", b"a", b"b", b"a"]),
    (2, 2, [b"b", b"c", b"b", b"a"]),
    (-1, 1, [b"a", b"b", b"c", b"a", b"b"]),
    (-2, 2, [b"a", b"b", b"c", b"b"]),
    (10, 3, [b"b", b"c", b"b"]),
    (-10, 3, [b"b", b"c", b"b"]),
])
def test_lrem(r, count, expected_removed, expected):
    r.rpush("k", "a", "b", "c", "a", "b", "a")
    assert r.lrem("k", count, "a") == expected_removed
    assert r.lrange("k", 0, -1) == expected
    assert r.llen("k") == len(expected)
    # the list still works at both ends after the rewrite
    r.lpush("k", "L")
    r.rpush("k", "R")
    assert r.lrange("k", 0, -1) == [b"L", *expected, b"R"]
    assert r.lindex("k", -2) == expected[-1]


def test_lrem_edge_cases(r):
    assert r.lrem("missing", 0, "a") == 0
    r.rpush("k", "a", "a")
    assert r.lrem("k", 0, "z") == 0
    assert r.lrem("k", 0, "a") == 2
    assert r.exists("k") == 0
    with pytest.raises(redis.ResponseError, match=NOT_INT):
        r.execute_command("LREM", "missing", "x", "a")


@pytest.mark.parametrize("start,stop", [
    (0, -1), (1, -1), (0, 2), (2, 3), (-2, -1), (-100, 100), (3, 1), (10, 20), (0, 0), (-1, -1), (5, 5),
])
def test_ltrim(r, start, stop):
    items = [b"a", b"b", b"c", b"d", b"e"]
    r.rpush("k", *items)
    assert r.ltrim("k", start, stop) is True
    expected = r.lrange("k", 0, -1)
    n = len(items)
    s = start + n if start < 0 else start
    e = stop + n if stop < 0 else stop
    s = max(s, 0)
    assert expected == ([] if s > e or s >= n else items[s:min(e, n - 1) + 1])
    assert r.exists("k") == (1 if expected else 0)
    r.rpush("k", "z")
    r.lpush("k", "y")
    assert r.lrange("k", 0, -1) == [b"y", *expected, b"z"]


def test_ltrim_missing_and_errors(r):
    assert r.ltrim("missing", 0, 1) is True
    assert r.exists("missing") == 0
    with pytest.raises(redis.ResponseError, match=NOT_INT):
        r.execute_command("LTRIM", "missing", "0", "x")


def test_linsert(r):
    r.rpush("k", "a", "b", "c", "b")
    assert r.linsert("k", "BEFORE", "b", "X") == 5
    assert r.lrange("k", 0, -1) == [b"a", b"X", b"b", b"c", b"b"]
    assert r.linsert("k", "after", "b", "Y") == 6
    assert r.lrange("k", 0, -1) == [b"a", b"X", b"b", b"Y", b"c", b"b"]
    assert r.linsert("k", "before", "a", "first") == 7
    assert r.linsert("k", "AFTER", "c", "near-end") == 8
    assert r.execute_command("LINSERT", "k", "AFTER", "first", "second") == 9
    assert r.linsert("k", "after", "b", "mid") == 10
    r.rpush("k", "tail")
    assert r.linsert("k", "AFTER", "tail", "last") == 12
    assert r.lrange("k", 0, -1) == [b"first", b"second", b"a", b"X", b"b", b"mid", b"Y", b"c",
                                    b"near-end", b"b", b"tail", b"last"]
    assert r.lindex("k", 5) == b"mid"
    assert r.linsert("k", "BEFORE", "nope", "x") == -1
    assert r.linsert("missing", "BEFORE", "a", "x") == 0
    assert r.exists("missing") == 0
    with pytest.raises(redis.ResponseError, match="^syntax error$"):
        r.execute_command("LINSERT", "k", "MIDDLE", "a", "x")
    with pytest.raises(redis.ResponseError, match="^syntax error$"):
        r.execute_command("LINSERT", "missing", "MIDDLE", "a", "x")


# --- moves -----------------------------------------------------------------------------------


def test_rpoplpush_and_lmove(r):
    r.rpush("src", "a", "b", "c")
    assert r.rpoplpush("src", "dst") == b"c"
    assert r.lmove("src", "dst", "LEFT", "RIGHT") == b"a"
    assert r.lrange("src", 0, -1) == [b"b"]
    assert r.lrange("dst", 0, -1) == [b"c", b"a"]
    assert r.lmove("src", "dst", "RIGHT", "LEFT") == b"b"
    assert r.exists("src") == 0
    assert r.lrange("dst", 0, -1) == [b"b", b"c", b"a"]
    assert r.rpoplpush("src", "dst") is None
    assert r.lmove("src", "dst") is None
    assert r.execute_command("LMOVE", "dst", "dst", "left", "right") == b"b"  # rotation
    assert r.lrange("dst", 0, -1) == [b"c", b"a", b"b"]
    assert r.rpoplpush("dst", "dst") == b"b"
    assert r.lrange("dst", 0, -1) == [b"b", b"c", b"a"]


def test_move_single_element_to_itself(r):
    for wfrom in ("LEFT", "RIGHT"):
        for wto in ("LEFT", "RIGHT"):
            r.delete("k")
            r.rpush("k", "only")
            assert r.lmove("k", "k", wfrom, wto) == b"only"
            assert r.lrange("k", 0, -1) == [b"only"]
            assert r.llen("k") == 1


def test_move_errors(r):
    r.set("s", "v")
    r.rpush("l", "a")
    assert r.lmove("missing", "s") is None  # the source is checked first
    with pytest.raises(redis.ResponseError, match=WRONGTYPE):
        r.lmove("l", "s")
    with pytest.raises(redis.ResponseError, match=WRONGTYPE):
        r.rpoplpush("l", "s")
    assert r.lrange("l", 0, -1) == [b"a"]  # nothing was popped
    with pytest.raises(redis.ResponseError, match="^syntax error$"):
        r.execute_command("LMOVE", "l", "d", "UP", "LEFT")
    with pytest.raises(redis.ResponseError, match="^syntax error$"):
        r.execute_command("LMOVE", "l", "d", "LEFT", "DOWN")
    with pytest.raises(redis.ResponseError, match="^syntax error$"):
        r.execute_command("BLMOVE", "l", "d", "LEFT", "DOWN", "0")


# --- TTL and recreation ----------------------------------------------------------------------


def test_modifications_keep_ttl(r):
    r.rpush("k", "a", "b", "c")
    r.expire("k", 100)
    r.rpush("k", "d")
    r.lpop("k")
    r.lset("k", 0, "x")
    r.linsert("k", "BEFORE", "x", "w")
    r.lrem("k", 1, "c")
    r.ltrim("k", 0, 1)
    r.lmove("k", "k")
    assert 90 < r.ttl("k") <= 100
    assert r.lrange("k", 0, -1) == [b"x", b"w"]


def test_expired_list_is_gone(r):
    r.rpush("k", "old1", "old2")
    r.pexpire("k", 30)
    while r.pttl("k") != -2:
        pass
    assert r.llen("k") == 0
    assert r.lpushx("k", "x") == 0
    assert r.rpush("k", "new") == 1
    assert r.lrange("k", 0, -1) == [b"new"]
    assert r.ttl("k") == -1


def test_recreated_after_delete(r):
    r.rpush("k", *range(10))
    r.delete("k")
    r.lpush("k", "z")
    assert r.lrange("k", 0, -1) == [b"z"]
    r.rpush("k2", "a")
    r.rpop("k2")
    r.rpush("k2", "b")
    assert r.lrange("k2", 0, -1) == [b"b"]


def test_binary_and_empty_elements(r):
    values = [b"", b"\x00\xff", b"\r\n", b"x" * 10000]
    r.rpush("k", *values)
    assert r.lrange("k", 0, -1) == values
    assert r.lpos("k", b"") == 0
    assert r.lrem("k", 0, b"") == 1
    assert r.lindex("k", 0) == b"\x00\xff"


def test_list_in_other_db(r):
    r.rpush("k", "db0")
    r.execute_command("SELECT", "1")
    try:
        assert r.llen("k") == 0
        r.rpush("k", "db1")
        assert r.lrange("k", 0, -1) == [b"db1"]
    finally:
        r.execute_command("SELECT", "0")
    assert r.lrange("k", 0, -1) == [b"db0"]


# --- blocking --------------------------------------------------------------------------------


def test_blpop_immediate(r):
    r.rpush("b", "b1", "b2")
    r.rpush("c", "c1")
    assert tuple(r.blpop(["a", "b", "c"], timeout=1)) == (b"b", b"b1")  # a list in RESP3
    assert tuple(r.brpop(["a", "b", "c"], timeout=1)) == (b"b", b"b2")
    assert tuple(r.brpop(["a", "b", "c"], timeout=1)) == (b"c", b"c1")
    assert r.exists("b", "c") == 0
    r.rpush("b", "x")
    r.set("s", "v")
    assert tuple(r.blpop(["b", "s"], 1)) == (b"b", b"x")  # a wrong-type key after the served one is fine


def test_blpop_timeout_returns_none(r):
    t0 = time.monotonic()
    assert r.blpop(["a", "b"], timeout=0.2) is None
    assert r.brpop("a", timeout=0.1) is None
    assert 0.25 <= time.monotonic() - t0 < 3
    assert r.execute_command("BLPOP", "a", "0.05") is None
    assert r.blmove("a", "b", 0.1) is None
    assert r.brpoplpush("a", "b", 0.1) is None
    assert r.exists("a", "b") == 0


def test_blpop_woken_by_push(r):
    waiter = other_client(r)
    fut = in_background(waiter.blpop, ["a", "b"], 0)
    assert not fut.done()
    assert r.rpush("b", "x", "y") == 2
    assert fut.result(timeout=5) == (b"b", b"x")
    assert r.lrange("b", 0, -1) == [b"y"]
    waiter.close()


def test_brpop_woken_by_lpush_with_timeout(r):
    waiter = other_client(r)
    fut = in_background(waiter.brpop, "k", 5)
    r.lpush("k", "1", "2", "3")
    assert fut.result(timeout=5) == (b"k", b"1")
    assert r.lrange("k", 0, -1) == [b"3", b"2"]
    waiter.close()


def test_blocked_clients_served_in_order(r):
    waiters = [other_client(r) for _ in range(3)]
    futs = []
    for w in waiters:
        futs.append(in_background(w.blpop, "q", 0))
    r.rpush("q", "first", "second")
    assert futs[0].result(timeout=5) == (b"q", b"first")
    assert futs[1].result(timeout=5) == (b"q", b"second")
    wait_blocked(r.connection_pool.connection_kwargs["port"], 1)
    assert not futs[2].done()
    assert r.exists("q") == 0
    r.rpush("q", "third")
    assert futs[2].result(timeout=5) == (b"q", b"third")
    for w in waiters:
        w.close()


def _resp(*args: str) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a.encode()) for a in args)


def _read_reply(sock: socket.socket) -> bytes:
    """One simple or bulk reply line(s), raw."""
    data = b""
    while not data.endswith(b"\r\n") or (data.startswith(b"$") and data.count(b"\r\n") < 2
                                          and not data.startswith(b"$-1")):
        chunk = sock.recv(4096)
        assert chunk, data
        data += chunk
    return data


@pytest.mark.parametrize("registered_first", [False, True])
def test_clients_blocking_back_to_back_are_served_in_order(r, registered_first):
    """Redis's list unit, "BRPOPLPUSH with multiple blocked clients": two clients block one
    right after the other and a push follows at once, before the node has run either's wait (or
    with the first one's already registered); the first is served first (with WRONGTYPE here,
    leaving the element) and the second gets the element."""
    port = r.connection_pool.connection_kwargs["port"]
    r.set("target1", "nolist")
    socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(3)]
    try:
        for sock in socks:  # connected and served once: nothing but the commands below left
            sock.sendall(_resp("PING"))
            assert _read_reply(sock) == b"+PONG\r\n"
        rd1, rd2, pusher = socks
        rd1.sendall(_resp("BRPOPLPUSH", "blist", "target1", "0"))
        if registered_first:
            wait_blocked(port, 1)
        rd2.sendall(_resp("BRPOPLPUSH", "blist", "target2", "0"))
        pusher.sendall(_resp("LPUSH", "blist", "foo"))
        assert _read_reply(pusher) == b":1\r\n"
        assert _read_reply(rd1) == b"-" + WRONGTYPE.encode() + b"\r\n"
        assert _read_reply(rd2) == b"$3\r\nfoo\r\n"
        assert r.lrange("target2", 0, -1) == [b"foo"]
        assert r.exists("blist") == 0
    finally:
        for sock in socks:
            sock.close()


def test_blpop_lmove_and_pushx_wake(r):
    waiter = other_client(r)
    fut = in_background(waiter.blpop, "dst", 0)
    r.rpush("src", "moved")
    assert r.lmove("src", "dst") == b"moved"
    assert fut.result(timeout=5) == (b"dst", b"moved")
    waiter.close()


def test_blmove_blocks_then_moves(r):
    waiter = other_client(r)
    fut = in_background(waiter.blmove, "src", "dst", 0, "RIGHT", "LEFT")
    r.rpush("dst", "old")
    r.rpush("src", "a", "b")
    assert fut.result(timeout=5) == b"b"
    assert r.lrange("src", 0, -1) == [b"a"]
    assert r.lrange("dst", 0, -1) == [b"b", b"old"]
    assert r.blmove("src", "dst", 1, "LEFT", "RIGHT") == b"a"
    assert r.exists("src") == 0
    waiter.close()


def test_brpoplpush_blocks_and_chain_wakes(r):
    w1, w2 = other_client(r), other_client(r)
    f1 = in_background(w1.brpoplpush, "a", "b", 0)
    f2 = in_background(w2.blpop, "b", 0)  # woken by the element that w1 moves into b
    r.rpush("a", "x")
    assert f1.result(timeout=5) == b"x"
    assert f2.result(timeout=5) == (b"b", b"x")
    assert r.exists("a", "b") == 0
    w1.close()
    w2.close()


def test_blmove_destination_wrong_type_when_woken(r):
    waiter = other_client(r)
    fut = in_background(waiter.blmove, "src", "dst", 0, "LEFT", "LEFT")
    r.set("dst", "string")
    r.rpush("src", "a")
    with pytest.raises(redis.ResponseError, match=WRONGTYPE):
        fut.result(timeout=5)
    assert r.lrange("src", 0, -1) == [b"a"]
    waiter.close()


def test_blpop_timeout_while_others_push_elsewhere(r):
    waiter = other_client(r)
    fut = in_background(waiter.blpop, "a", 0.6)
    r.rpush("b", "x")
    assert fut.result(timeout=5) is None
    assert r.lrange("b", 0, -1) == [b"x"]
    waiter.close()


def test_blocking_in_multi_does_not_block(r):
    r.rpush("full", "v")
    pipe = r.pipeline(transaction=True)
    pipe.blpop("empty", 0)
    pipe.brpop("empty", 0)
    pipe.blmove("empty", "d", 0)
    pipe.brpoplpush("empty", "d", 0)
    pipe.blpop(["empty", "full"], 0)
    replies = pipe.execute()
    assert replies[:4] == [None, None, None, None] and tuple(replies[4]) == (b"full", b"v")


def raw_replies(r: redis.Redis, *commands) -> bytes:
    """The raw bytes answering `commands` on a fresh connection of r's protocol (redis-py reads
    a null array and a null bulk alike)."""
    kwargs = r.connection_pool.connection_kwargs
    sock = socket.create_connection(("127.0.0.1", kwargs["port"]), timeout=10)

    def exchange(cmds) -> bytes:
        out = b""
        for cmd in [*cmds, ("PING",)]:  # PING's +PONG marks the end of the replies
            out += b"*%d\r\n" % len(cmd) + b"".join(
                b"$%d\r\n%b\r\n" % (len(a), a.encode()) for a in cmd)
        sock.sendall(out)
        got = b""
        while not got.endswith(b"+PONG\r\n"):
            got += sock.recv(4096)
        return got[:-len(b"+PONG\r\n")]

    try:
        if kwargs.get("protocol") == 3:
            exchange([("HELLO", "3")])
        return exchange(commands)
    finally:
        sock.close()


def test_blmove_timeout_null_array(r):
    """A timed-out BLMOVE/BRPOPLPUSH answers a null array like BLPOP; inside MULTI it does not
    block and answers LMOVE's null bulk."""
    null_array = b"_\r\n" if r.connection_pool.connection_kwargs.get("protocol") == 3 else b"*-1\r\n"
    null_bulk = b"_\r\n" if null_array == b"_\r\n" else b"$-1\r\n"
    assert raw_replies(r, ("BLMOVE", "empty", "d", "LEFT", "RIGHT", "0.01")) == null_array
    assert raw_replies(r, ("BRPOPLPUSH", "empty", "d", "0.01")) == null_array
    in_multi = raw_replies(r, ("MULTI",), ("BLMOVE", "empty", "d", "LEFT", "LEFT", "0"),
                           ("BRPOPLPUSH", "empty", "d", "0"), ("EXEC",))
    assert in_multi == b"+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n" + null_bulk * 2
    assert r.exists("d") == 0


def test_blocking_timeout_errors(r):
    cases = {
        "-1": "timeout is negative",
        "-0.5": "timeout is negative",
        "inf": "timeout is negative",
        "1e400": "timeout is negative",
        "abc": "timeout is not a float or out of range",
        "nan": "timeout is not a float or out of range",
        " 1": "timeout is not a float or out of range",
        "1 ": "timeout is not a float or out of range",
        "1_0": "timeout is not a float or out of range",
        "": "timeout is not a float or out of range",
        "1e5000": "timeout is not a float or out of range",
        "1e-5000": "timeout is not a float or out of range",
    }
    r.rpush("full", "v")
    for raw, msg in cases.items():
        for call in (("BLPOP", "full", raw), ("BRPOP", "empty", raw), ("BRPOPLPUSH", "full", "d", raw),
                     ("BLMOVE", "empty", "d", "LEFT", "RIGHT", raw)):
            with pytest.raises(redis.ResponseError) as info:
                r.execute_command(*call)
            assert str(info.value) == msg, (call, str(info.value))
    assert r.lrange("full", 0, -1) == [b"v"]


def test_blocking_float_timeouts(r):
    t0 = time.monotonic()
    assert r.execute_command("BLPOP", "a", ".1") is None
    assert r.execute_command("BLPOP", "a", "+0.1") is None
    assert r.execute_command("BLPOP", "a", "1e-1") is None
    assert r.execute_command("BRPOPLPUSH", "a", "b", "0x0.2p0") is None  # strtold accepts hex
    assert time.monotonic() - t0 < 3


def test_blocked_client_disconnect_loses_nothing(r):
    sock = socket.create_connection(("127.0.0.1", r.connection_pool.connection_kwargs["port"]))
    port = r.connection_pool.connection_kwargs["port"]
    sock.sendall(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nk\r\n$1\r\n0\r\n")
    wait_blocked(port, 1)
    sock.close()  # the server notices the disconnect and forgets the blocked BLPOP
    wait_blocked(port, 0)
    r.rpush("k", "kept")
    assert r.lrange("k", 0, -1) == [b"kept"]


def test_push_right_after_blpop_is_not_missed(r):
    """A push handled in the same event-loop turn right after a BLPOP blocked must serve it."""
    port = r.connection_pool.connection_kwargs["port"]
    a, b = (socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(2))
    missed = 0
    for i in range(100):
        key = b"race%d" % i
        a.sendall(b"*3\r\n$5\r\nBLPOP\r\n$%d\r\n%b\r\n$3\r\n0.5\r\n" % (len(key), key))
        b.sendall(b"*3\r\n$5\r\nRPUSH\r\n$%d\r\n%b\r\n$1\r\nv\r\n" % (len(key), key))
        assert b.recv(100) == b":1\r\n"
        if not a.recv(100).startswith(b"*2\r\n"):
            missed += 1
            break
    a.close()
    b.close()
    assert missed == 0


def test_transaction_push_and_pop_wakes_nobody(r):
    waiter = other_client(r)
    fut = in_background(waiter.blpop, "k", 1)
    pipe = r.pipeline(transaction=True)
    pipe.rpush("k", "a")
    pipe.lpop("k")
    assert pipe.execute() == [1, b"a"]
    assert fut.result(timeout=5) is None
    waiter.close()


def test_woken_client_skips_key_that_changed_type(r):
    waiter = other_client(r)
    fut = in_background(waiter.blpop, ["a", "b"], 0)
    r.set("a", "string")
    r.rpush("b", "v")
    assert fut.result(timeout=5) == (b"b", b"v")
    assert r.get("a") == b"string"
    waiter.close()


def test_blpop_pipelined_commands_wait(r):
    waiter = other_client(r)
    pipe = waiter.pipeline(transaction=False)
    pipe.blpop("k", 0)
    pipe.llen("k")
    pipe.echo("after")
    fut = in_background(pipe.execute)
    r.rpush("k", "a", "b")
    assert fut.result(timeout=5) == [(b"k", b"a"), 1, b"after"]
    waiter.close()


def test_concurrent_pushers_and_poppers(r):
    n = 200
    got = []

    def consume():
        c = other_client(r)
        while True:
            item = c.blpop("q", 2)
            if item is None:
                break
            got.append(item[1])
        c.close()

    consumers = [threading.Thread(target=consume) for _ in range(3)]
    for t in consumers:
        t.start()
    for i in range(n):
        r.rpush("q", i)
    for t in consumers:
        t.join(10)
    assert sorted(int(x) for x in got) == list(range(n))


# --- xcache and redis-server side by side on random operations ---------------------------------


@pytest.mark.parametrize("seed", [7, 8])
def test_random_operations_match_redis(xcache_node, redis_node, seed):
    xs = redis.Redis(port=xcache_node.port, socket_timeout=10, protocol=2)
    rs = redis.Redis(port=redis_node.port, socket_timeout=10, protocol=2)
    xs.flushall()
    rs.flushall()
    rnd = random.Random(seed)
    vals = ["a", "b", "c", "d"]

    def op():
        k = rnd.choice(["l1", "l2"])
        v = rnd.choice(vals)
        i, j = rnd.randint(-12, 12), rnd.randint(-12, 12)
        return rnd.choice([
            ("LPUSH", k, v, rnd.choice(vals)), ("RPUSH", k, v), ("LPUSHX", k, v), ("RPUSHX", k, v),
            ("RPUSH", k, *rnd.choices(vals, k=rnd.randint(5, 15))), ("LPOP", k, str(abs(i) + 6)),
            ("LPOP", k), ("RPOP", k), ("LPOP", k, str(abs(i))), ("RPOP", k, str(abs(j))),
            ("LINSERT", k, rnd.choice(["BEFORE", "AFTER"]), v, rnd.choice(vals) + "x"),
            ("LREM", k, str(i), v), ("LTRIM", k, str(i), str(j)), ("LSET", k, str(i), v + "s"),
            ("LRANGE", k, str(i), str(j)), ("LINDEX", k, str(i)), ("LLEN", k),
            ("LPOS", k, v, "RANK", str(i or 1), "COUNT", str(abs(j))),
            ("LMOVE", k, rnd.choice(["l1", "l2"]), rnd.choice(["LEFT", "RIGHT"]), rnd.choice(["LEFT", "RIGHT"])),
            ("RPOPLPUSH", k, rnd.choice(["l1", "l2"])),
        ])

    def run(client, cmd):
        try:
            return client.execute_command(*cmd)
        except redis.ResponseError as exc:
            return ("error", str(exc))

    for _ in range(3000):
        cmd = op()
        assert run(xs, cmd) == run(rs, cmd), cmd
    for k in ("l1", "l2"):
        assert xs.lrange(k, 0, -1) == rs.lrange(k, 0, -1)
    xs.close()
    rs.close()
