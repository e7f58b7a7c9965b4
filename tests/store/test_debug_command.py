"""DEBUG's replies that clients and Redis's own test suite compare: DIGEST / DIGEST-VALUE (the
same 40 hex digits as redis-server for the same data) and PROTOCOL (one reply of each type)."""

import socket

import pytest
import redis

from tests.procs import proc_fixture, start_redis, start_xcache_server

redis_dbg = proc_fixture(lambda tmp: start_redis(tmp, "--enable-debug-command", "yes"),
                         "redis-digest", scope="module")
xcache_dbg = proc_fixture(start_xcache_server, "xcache-digest", scope="module")
KEYS = ["s", "i", "l", "set", "iset", "z", "h", "st", "e", "nokey"]


def load(r: redis.Redis) -> None:
    r.flushall()
    r.set("s", "hello")
    r.set("i", 12345)
    r.rpush("l", "a", "b", "1")
    r.sadd("set", "x", "y", 5)
    r.sadd("iset", 1, 2, 300000)
    r.zadd("z", {"a": 1.5, "b": 2, "c": -3.25, "d": float("inf")})
    r.hset("h", mapping={"f": "v", "g": "1"})
    r.xadd("st", {"f": "v", "a": "b"}, id="1-1")
    r.xadd("st", {"x": "y"}, id="2-5")
    r.set("e", "v", ex=100)
    redis.Redis(port=r.connection_pool.connection_kwargs["port"], db=2).set("other", "x")


def digests(r: redis.Redis) -> tuple:
    return (r.execute_command("DEBUG", "DIGEST"),
            r.execute_command("DEBUG", "DIGEST-VALUE", *KEYS))


def test_digests_are_redis(redis_dbg, xcache_dbg):
    reference, node = redis.Redis(port=redis_dbg.port), redis.Redis(port=xcache_dbg.port)
    for r in (reference, node):
        load(r)
    expected = digests(reference)
    assert digests(node) == expected
    assert expected[1][-1] == b"0" * 40  # a missing key
    # Order matters for a list, not for a set; the dataset digest follows any change.
    for r in (reference, node):
        r.lpush("l", "first")
        r.srem("set", "x")
        r.sadd("set", "x")
    assert digests(node) == digests(reference) != expected
    for r in (reference, node):
        r.flushall()
    assert node.execute_command("DEBUG", "DIGEST") == b"0" * 40
    assert node.execute_command("DEBUG", "DIGEST-VALUE") == []


PROTOCOL_TYPES = "string integer double bignum null array set map attrib push true false verbatim nope"


@pytest.mark.parametrize("resp", [2, 3])
def test_debug_protocol_replies_are_redis(redis_dbg, xcache_dbg, resp):
    def replies(port: int) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            chunk = (b"HELLO 3\r\n" if resp == 3 else b"") + b"".join(
                b"DEBUG PROTOCOL %s\r\n" % t.encode() for t in PROTOCOL_TYPES.split()) + b"PING\r\n"
            s.sendall(chunk)
            got = b""
            while not got.endswith(b"+PONG\r\n"):
                got += s.recv(65536)
            return got[got.index(b"$11\r\nHello World"):]  # after HELLO's reply (its id differs)

    assert replies(xcache_dbg.port) == replies(redis_dbg.port)


def test_bgrewriteaof_and_htstats_answer(xcache_dbg, redis_dbg):
    # BGREWRITEAOF flushes the log (the WAL) as Redis rewrites its AOF; HTSTATS-KEY answers a
    # text (the node keeps members as RocksDB keys), an error for a missing key as Redis does.
    for port in (xcache_dbg.port, redis_dbg.port):
        r = redis.Redis(port=port)
        assert r.execute_command("BGREWRITEAOF") is True  # redis-py reads the status line as True
        r.sadd("hs", *range(600))
        assert isinstance(r.execute_command("DEBUG", "HTSTATS-KEY", "hs"), bytes)
        with pytest.raises(redis.ResponseError, match="no such key"):
            r.execute_command("DEBUG", "HTSTATS-KEY", "nokey")


def test_debug_error_and_help_as_redis(redis_dbg, xcache_dbg):
    def replies(port: int) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"DEBUG ERROR \"MYERR a\\nb\"\r\nDEBUG ERROR x\r\nPING\r\n")
            got = b""
            while not got.endswith(b"+PONG\r\n"):
                got += s.recv(65536)
            return got

    assert replies(xcache_dbg.port) == replies(redis_dbg.port) == b"-MYERR a b\r\n-x\r\n+PONG\r\n"
    # the node's DEBUG HELP is Redis's, less the subcommands it does not serve
    ours = redis.Redis(port=xcache_dbg.port).execute_command("DEBUG", "HELP")
    theirs = redis.Redis(port=redis_dbg.port).execute_command("DEBUG", "HELP")
    assert [line for line in theirs if line in ours] == ours
    assert b"DIGEST-VALUE <key> [<key> ...]" in ours and b"PROTOCOL <type>" in ours


def test_reads_expire_keys_while_active_expiry_is_off(redis_dbg, xcache_dbg):
    # DEBUG SET-ACTIVE-EXPIRE 0: nothing expires in the background, a read that meets an
    # expired key deletes it (expired event, expired_keys), as Redis's lazy expiry
    from tests.procs import wait_until

    for port in (redis_dbg.port, xcache_dbg.port):
        r = redis.Redis(port=port)
        r.flushall()
        r.config_set("notify-keyspace-events", "Ex")
        r.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "0")
        try:
            events = r.pubsub()
            events.psubscribe("__keyevent@*__:expired")
            assert events.get_message(timeout=5)["type"] == "psubscribe"
            r.set("gone", "v", px=20)
            r.set("kept", "v")
            before = r.info("stats")["expired_keys"]
            wait_until(lambda r=r: r.pttl("gone") == -2, what="gone's TTL passed")
            assert r.mget("kept", "gone") == [b"v", None]
            msg = events.get_message(timeout=5)
            assert (msg["channel"], msg["data"]) == (b"__keyevent@0__:expired", b"gone")
            assert r.info("stats")["expired_keys"] == before + 1
            events.close()
        finally:
            r.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "1")
            r.config_set("notify-keyspace-events", "")
