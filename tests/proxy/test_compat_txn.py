"""Transactions and blocking commands through the proxy, against two redis-server groups."""

from __future__ import annotations

import socket
import threading

import pytest
import redis

from tests.procs import start_redis
from tests.proxy.conftest import direct, exchange
from tests.proxy.test_failover import _push_master
from tests.proxy.test_proxy import keys_in, owner
from xcache.resp import ReplyParser, encode_command


@pytest.mark.parametrize("protocol", [2, 3])
def test_pipeline_transaction_with_defaults(proxy, protocol):
    c = redis.Redis(port=proxy.port, socket_timeout=10, protocol=protocol)
    pipe = c.pipeline()  # transaction=True
    pipe.set("{u1}.a", 1).incr("{u1}.b").get("{u1}.a").hset("{u1}.h", "f", "v").hgetall("{u1}.h")
    assert pipe.execute() == [True, 1, b"1", 1, {b"f": b"v"}]
    # keys on two slots of one group run as one transaction there
    k1, k2 = keys_in(1, 2, "t")
    assert c.pipeline().set(k1, "x").set(k2, "y").execute() == [True, True]


def test_transaction_across_groups_is_refused_before_anything_runs(proxy, backends):
    (k1,), (k2,) = keys_in(1, 1, "x"), keys_in(2, 1, "x")
    got = exchange(proxy.port, b"".join(encode_command(*a) for a in (
        [b"MULTI"], [b"SET", k1, b"1"], [b"SET", k2, b"2"], [b"EXEC"], [b"GET", k1])), 5)
    assert got[:2] == [b"OK", b"QUEUED"]
    assert str(got[2]).startswith("CROSSSLOT xcache: keys of one transaction must all be on one group")
    assert "groups 1 and 2" in str(got[2])
    assert str(got[3]) == "EXECABORT Transaction discarded because of previous errors."
    assert got[4] is None and direct(backends[1]).get(k2) is None


def test_multi_errors_like_redis(proxy):
    got = exchange(proxy.port, b"".join(encode_command(*a) for a in (
        [b"EXEC"], [b"DISCARD"], [b"MULTI"], [b"MULTI"], [b"NOSUCH"], [b"EXEC"],
        [b"MULTI"], [b"SET", b"d", b"1"], [b"DISCARD"], [b"GET", b"d"], [b"MULTI"], [b"EXEC"])), 12)
    assert [g.decode() if isinstance(g, bytes) else str(g) for g in got] == [
        "ERR EXEC without MULTI", "ERR DISCARD without MULTI", "OK", "ERR MULTI calls can not be nested",
        "ERR unknown command 'NOSUCH', with args beginning with: ", "EXECABORT Transaction discarded because of previous errors.",
        "OK", "QUEUED", "OK", "None", "OK", "[]"]


def test_watch_transaction_and_lock(proxy):
    c = proxy.client()
    other = proxy.client()
    c.set("{acct}.bal", 10)

    def spend(pipe):
        bal = int(pipe.get("{acct}.bal"))
        pipe.multi()
        pipe.set("{acct}.bal", bal - 1)

    assert c.transaction(spend, "{acct}.bal") == [True]
    assert c.get("{acct}.bal") == b"9"
    # a write from another client between WATCH and EXEC aborts the EXEC (null reply)
    with c.pipeline() as pipe:
        pipe.watch("{acct}.bal")
        other.set("{acct}.bal", 100)
        pipe.multi()
        pipe.set("{acct}.bal", 0)
        with pytest.raises(redis.WatchError):
            pipe.execute()
    assert c.get("{acct}.bal") == b"100"
    for client in (c, redis.Redis(port=proxy.port, socket_timeout=10)):  # RESP2 and RESP3
        lock = client.lock("res", timeout=5)
        assert lock.acquire(blocking=False)
        assert not client.lock("res", timeout=5).acquire(blocking=False)
        lock.release()
        assert client.get("res") is None


def test_watch_across_groups_is_refused(proxy):
    (k1,), (k2,) = keys_in(1, 1, "w"), keys_in(2, 1, "w")
    c = proxy.client()
    with pytest.raises(redis.exceptions.ClusterCrossSlotError, match="groups 1 and 2"):
        c.execute_command("WATCH", k1, k2)


def test_blpop_waits_on_its_own_connection(proxy):
    c = proxy.client()
    other = proxy.client()
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("v", c.blpop(["{q}a", "{q}b"], 10)))
    t.start()
    proxy.wait_until(lambda: other.info("clients")["blocked_clients"] == 1, what="client blocked")
    assert other.get("plain") is None  # other sessions are not stuck behind it
    other.rpush("{q}b", "job")
    t.join(10)
    assert result["v"] == (b"{q}b", b"job")
    assert c.blpop(["{q}a"], 0.05) is None  # timeout: null, like redis
    c.rpush("{q}src", "1")
    assert c.blmove("{q}src", "{q}dst", 1) == b"1"
    c.zadd("{q}z", {"m": 1})
    assert c.bzpopmin(["{q}z"], 1) == (b"{q}z", b"m", 1.0)
    c.xadd("{q}s", {"f": "v"}, id="1-1")
    assert c.xread({"{q}s": "0-0"}, block=100) == [[b"{q}s", [(b"1-1", {b"f": b"v"})]]]
    assert c.xread({"{q}s": "$"}, block=50) == []


def test_blocking_limit_and_disconnect(backends, start_proxy):
    a, b = backends
    p = start_proxy(f"1=127.0.0.1:{a.port},2=127.0.0.1:{b.port}", max_blocked_sessions=1)
    c = p.client()
    key = keys_in(1, 1, "bq")[0]
    blocked = socket.create_connection(("127.0.0.1", p.port), timeout=10)
    blocked.sendall(encode_command(b"BLPOP", key, b"30"))
    node = direct(a)
    p.wait_until(lambda: node.info("clients")["blocked_clients"] == 1, what="backend client blocked")
    with pytest.raises(redis.ResponseError, match="too many blocked clients.*max_blocked_sessions=1"):
        c.blpop([key], 1)
    blocked.close()  # the client leaves: its backend connection closes
    p.wait_until(lambda: node.info("clients")["blocked_clients"] == 0, what="backend client gone")
    node.rpush(key, "kept")  # nothing was popped by the departed client
    assert c.blpop([key], 1) == (key, b"kept")


def test_blocked_client_is_released_on_failover(tmp_path, backends, start_proxy):
    a, b = backends
    p = start_proxy(f"1=127.0.0.1:{a.port},2=127.0.0.1:{b.port}")
    key = keys_in(1, 1, "fq")[0]
    c = p.client()
    errors = []
    t = threading.Thread(target=lambda: _ignore(lambda: c.blpop([key], 30), errors))
    t.start()
    p.wait_until(lambda: direct(a).info("clients")["blocked_clients"] == 1, what="blocked")
    new = start_redis(tmp_path)
    try:
        _push_master(p, 1, new.port)
        t.join(10)
        assert not t.is_alive() and "UNBLOCKED" in str(errors) and "retry" in str(errors)
        direct(new).rpush(key, "v")
        assert c.blpop([key], 1) == (key, b"v")  # the next one waits on the new master
    finally:
        new.stop()


def _ignore(fn, errors=None):
    try:
        fn()
    except (redis.RedisError, OSError) as exc:
        if errors is not None:
            errors.append(f"{type(exc).__name__}: {exc}")


def test_eval_and_scripts_on_one_group(proxy):
    c = proxy.client()
    k1, k2 = keys_in(2, 2, "ev")
    assert c.eval("redis.call('set', KEYS[1], ARGV[1]); return redis.call('set', KEYS[2], ARGV[1])",
                  2, k1, k2, "v") == b"OK"
    sha = c.script_load("return redis.call('get', KEYS[1])")
    for k in (k1, keys_in(1, 1, "ev")[0]):  # loaded on every group
        c.set(k, "x")
        assert c.evalsha(sha, 1, k) == b"x"
    assert c.script_exists(sha, "0" * 40) == [True, False]
    assert owner(k1) == 2
    lib = "#!lua name=xlib\nredis.register_function('xget', function(keys) return redis.call('get', keys[1]) end)"
    assert c.function_load(lib) == b"xlib"  # loaded on every group
    for k in (k1, keys_in(1, 1, "ev")[0]):
        assert c.fcall("xget", 1, k) == b"x"
    with pytest.raises(redis.exceptions.ClusterCrossSlotError, match="groups"):
        c.fcall("xget", 2, k1, keys_in(1, 1, "ev")[0])
    assert c.function_flush() is True


def test_client_unblock_and_kill(proxy):
    c = proxy.client()
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
        s.sendall(encode_command(b"CLIENT", b"ID") + encode_command(b"BLPOP", b"{u}q", b"30"))
        parser, got = ReplyParser(), []
        got += parser.feed(s.recv(100))
        proxy.wait_until(lambda: c.info("clients")["blocked_clients"] == 1, what="blocked")
        assert c.client_unblock(got[0]) is True  # TIMEOUT: the null reply of a timeout
        while len(got) < 2:
            got += parser.feed(s.recv(100))
        assert got[1] is None
        assert c.client_unblock(got[0]) is False  # not blocked any more
        s.sendall(encode_command(b"BLPOP", b"{u}q", b"30"))
        proxy.wait_until(lambda: c.info("clients")["blocked_clients"] == 1, what="blocked again")
        assert c.client_unblock(got[0], error=True) is True  # ERROR: Redis's own text
        while len(got) < 3:
            got += parser.feed(s.recv(100))
        assert str(got[2]) == "UNBLOCKED client unblocked via CLIENT UNBLOCK"
        assert c.client_kill_filter(_id=got[0]) == 1
        assert s.recv(100) == b""  # closed by the kill


def test_blocked_clients_served_in_the_order_info_saw_them_block(proxy):
    """Redis's own suite: wait for INFO blocked_clients to grow after each BLMPOP, then push.
    INFO counts a session once its node has the command, so the node serves them in that order."""
    c = proxy.client()
    conns = []
    try:
        for i, end in enumerate((b"LEFT", b"RIGHT", b"LEFT", b"RIGHT")):
            s = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
            conns.append(s)
            s.sendall(encode_command(b"BLMPOP", b"0", b"2", b"{b}l", b"{b}l2", end, b"COUNT",
                                     b"1" if i in (0, 3) else b"10"))
            proxy.wait_until(lambda n=i + 1: c.info("clients")["blocked_clients"] == n,
                             what=f"{i + 1} blocked")
        with c.pipeline(transaction=True) as t:
            t.lpush("{b}l", *"abcde").lpush("{b}l2", *"12345").execute()
        c.lpush("{b}l2", *"123")

        def read(s) -> list:
            parser, got = ReplyParser(), []
            while not got:
                got += parser.feed(s.recv(1000))
            return got[0]

        assert [read(s) for s in conns] == [
            [b"{b}l", [b"e"]], [b"{b}l", [b"a", b"b", b"c", b"d"]],
            [b"{b}l2", [b"5", b"4", b"3", b"2", b"1"]], [b"{b}l2", [b"1"]]]
    finally:
        for s in conns:
            s.close()


def test_blocking_command_reaches_the_node_before_a_later_write(proxy):
    """A session's first blocking command goes on a connected spare connection, so another
    client's write sent after it finds it blocked (Redis's suite: XREADGROUP BLOCK, then DEL)."""
    c = proxy.client()
    assert c.blpop(["{x}warm"], 0.01) is None  # the group's first blocking command opens a spare
    for i in range(10):
        c.delete("{x}s")
        c.xadd("{x}s", {"f": "v"}, id="666")
        c.xgroup_create("{x}s", "g", id="$")
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
            s.sendall(b"PING\r\n")
            assert s.recv(100) == b"+PONG\r\n"  # the session is in place
            s.sendall(encode_command(b"XREADGROUP", b"GROUP", b"g", b"alice", b"BLOCK", b"0",
                                     b"STREAMS", b"{x}s", b">"))
            c.delete("{x}s")
            parser, got = ReplyParser(), []
            while not got:
                got += parser.feed(s.recv(1000))
        assert "no longer exists" in str(got[0]), (i, got)
