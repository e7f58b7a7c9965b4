"""Keyspace notifications (notify-keyspace-events): the events each write command publishes,
compared with redis-server's for the same commands; the CONFIG text of the classes; `expired`
from the background expiry; pub/sub confirmations under CLIENT REPLY OFF/SKIP."""

from __future__ import annotations

import socket

import pytest
import redis

from tests.procs import read_until, wait_until
from tests.store.crosscheck import both_fixture, raw, same  # noqa: F401 (fixture)

# Each script runs on a flushed server; its events are compared in order.
SCRIPTS = {
    "strings": [
        ("set", "s", "1"), ("set", "s", "2", "NX"), ("set", "s", "3", "XX", "GET"),
        ("set", "s", "4", "EX", "100"), ("setnx", "s", "x"), ("setnx", "s2", "x"),
        ("setex", "s3", "10", "v"), ("psetex", "s4", "10000", "v"), ("getset", "s", "5"),
        ("mset", "m1", "a", "m2", "b"), ("msetnx", "m1", "a", "m3", "c"),
        ("msetnx", "m4", "a", "m5", "c"), ("setrange", "s", "1", "xy"), ("setrange", "s", "0", ""),
        ("append", "s", "z"), ("incr", "n"), ("decrby", "n", "3"), ("incrbyfloat", "n", "1.5"),
        ("setbit", "b", "7", "1"), ("bitfield", "b", "SET", "u8", "0", "3"),
        ("bitop", "OR", "dst", "b", "s"), ("bitop", "AND", "dst", "nokey"),
        ("getex", "s", "EX", "100"), ("getdel", "m1"), ("getdel", "m1"),
        ("pfadd", "h", "a", "b"), ("pfadd", "h", "a"), ("pfmerge", "h2", "h"),
    ],
    "lists": [
        ("lpush", "l", "a", "b", "c"), ("rpush", "l", "d"), ("lpushx", "nol", "a"),
        ("rpushx", "l", "e"), ("linsert", "l", "BEFORE", "a", "z"),
        ("linsert", "l", "BEFORE", "nope", "z"), ("lset", "l", "0", "q"), ("lrem", "l", "0", "z"),
        ("lrem", "l", "0", "nope"), ("ltrim", "l", "0", "2"), ("lpop", "l"), ("rpop", "l", "1"),
        ("rpoplpush", "l", "l2"), ("lmove", "l2", "l3", "LEFT", "RIGHT"), ("lpop", "l"),
        ("lmpop", "1", "l3", "RIGHT"), ("blpop", "l", "l4", "0.01"),
        ("rpush", "sl", "3", "1", "2"), ("sort", "sl", "STORE", "sorted"),
        ("sort", "nolist", "STORE", "sorted"),
    ],
    "sets": [
        ("sadd", "a", "1", "2", "3"), ("sadd", "a", "1"), ("srem", "a", "9"), ("srem", "a", "1"),
        ("sadd", "b", "2"), ("smove", "a", "b", "3"), ("smove", "a", "b", "2"),
        ("sinterstore", "i", "a", "b"), ("sunionstore", "u", "a", "b"),
        ("sdiffstore", "u", "nokey"), ("spop", "b"), ("spop", "b"), ("spop", "nokey"),
    ],
    "hashes": [
        ("hset", "h", "a", "1", "b", "2"), ("hmset", "h", "c", "3"), ("hsetnx", "h", "a", "9"),
        ("hsetnx", "h", "d", "4"), ("hincrby", "h", "a", "1"), ("hincrbyfloat", "h", "a", "0.5"),
        ("hdel", "h", "zz"), ("hdel", "h", "a", "b"), ("hdel", "h", "c", "d"),
    ],
    "zsets": [
        ("zadd", "z", "1", "a", "2", "b", "3", "c", "4", "d"), ("zadd", "z", "NX", "5", "a"),
        ("zadd", "z", "INCR", "1", "a"), ("zincrby", "z", "1", "b"), ("zrem", "z", "nope"),
        ("zadd", "z", "4", "d"), ("zadd", "z", "XX", "5", "d"), ("zadd", "z", "GT", "1", "d"),
        ("zadd", "z", "CH", "6", "d", "4", "c"), ("zadd", "z", "LT", "CH", "9", "d"),
        ("zrem", "z", "a"), ("zremrangebyscore", "z", "100", "200"),
        ("zremrangebyrank", "z", "0", "0"), ("zadd", "z", "0", "x", "0", "y"),
        ("zremrangebylex", "z", "[x", "[x"), ("zpopmin", "z"), ("zpopmax", "z", "1"),
        ("zadd", "z2", "1", "m"), ("zunionstore", "zu", "2", "z", "z2"),
        ("zinterstore", "zi", "2", "z", "z2"), ("zdiffstore", "zd", "1", "z"),
        ("zrangestore", "zr", "z", "0", "-1"), ("zmpop", "1", "z2", "MIN"),
        ("bzpopmax", "z", "0.01"), ("geoadd", "g", "13.36", "38.11", "p"),
        ("geoadd", "g", "13.36", "38.11", "p"), ("geoadd", "g", "NX", "13.4", "38.1", "p"),
        ("geoadd", "g", "XX", "CH", "13.4", "38.1", "p"),
        ("geosearchstore", "gs", "g", "FROMLONLAT", "13.36", "38.11", "BYRADIUS", "10", "km"),
        ("georadius", "g", "13.36", "38.11", "10", "km", "STORE", "gr"),
    ],
    "keys": [
        ("set", "k", "v"), ("expire", "k", "100"), ("persist", "k"), ("persist", "k"),
        ("pexpire", "k", "100000"), ("rename", "k", "k2"), ("set", "k3", "v"),
        ("renamenx", "k2", "k3"), ("renamenx", "k2", "k4"), ("copy", "k4", "k5"),
        ("move", "k5", "1"), ("del", "k3", "nokey", "k4"), ("set", "e", "v"),
        ("expire", "e", "-1"), ("unlink", "k2"), ("set", "x", "1"), ("pexpireat", "x", "1"),
    ],
    "streams": [
        ("xgroup", "CREATE", "st", "g", "$", "MKSTREAM"), ("xgroup", "CREATECONSUMER", "st", "g", "Bob"),
        ("xgroup", "CREATECONSUMER", "st", "g", "Bob"), ("xadd", "st", "1-1", "f", "v"),
        ("xadd", "nost", "NOMKSTREAM", "*", "f", "v"), ("xreadgroup", "GROUP", "g", "Alice",
                                                         "STREAMS", "st", ">"),
        ("xclaim", "st", "g", "Mike", "0", "1-1", "FORCE"),
        ("xautoclaim", "st", "g", "Bob", "0", "1-1"), ("xgroup", "DELCONSUMER", "st", "g", "Lee"),
        ("xgroup", "DELCONSUMER", "st", "g", "Bob"), ("xgroup", "SETID", "st", "g", "0"),
        ("xadd", "st", "2-1", "f", "v"), ("xdel", "st", "2-1"), ("xdel", "st", "9-9"),
        ("xtrim", "st", "MAXLEN", "0"), ("xsetid", "st", "5-5"), ("xgroup", "DESTROY", "st", "g"),
        ("xgroup", "DESTROY", "st", "g"),
    ],
    "transactions": [
        ("multi",), ("set", "t", "1"), ("lpush", "tl", "a"), ("exec",),
        ("eval", "redis.call('set', KEYS[1], 'v'); redis.call('del', KEYS[1])", "1", "ev"),
    ],
}


def _events(client: redis.Redis, flags: str, script: list) -> list:
    """The (channel, data) of every event the script publishes, with flags enabled."""
    client.flushall()
    sub = client.pubsub()
    sub.psubscribe("*")
    assert sub.get_message(timeout=5)["type"] == "psubscribe"
    client.config_set("notify-keyspace-events", flags)
    try:
        for args in script:
            try:
                raw(client, *args)
            except redis.ResponseError:
                pass  # errors publish nothing; they are part of the comparison
        client.config_set("notify-keyspace-events", "")
        client.publish("end", "x")
        got = []
        while (m := sub.get_message(timeout=10)) is not None and m["channel"] != b"end":
            got.append((m["channel"], m["data"]))
        return got
    finally:
        client.config_set("notify-keyspace-events", "")
        sub.close()


@pytest.mark.parametrize("flags", ["KEA", "KEn"])
@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_events_match_redis(both, name, flags):
    xcache, real = both
    script = SCRIPTS[name]
    if flags == "KEn" and name != "keys":
        script = [a for a in script if a[0] in ("set", "lpush", "sadd", "hset", "zadd", "xadd")]
    want = _events(real, flags, script)
    assert want, "the script publishes events on redis-server"
    assert _events(xcache, flags, script) == want


def test_expired_event_from_background_expiry(both):
    for client in both:
        client.flushall()
        sub = client.pubsub()
        sub.psubscribe("__keyevent@*")
        assert sub.get_message(timeout=5)["type"] == "psubscribe"
        client.config_set("notify-keyspace-events", "Ex")
        try:
            client.psetex("foo", 50, "1")
            m = sub.get_message(timeout=10)
            assert (m["channel"], m["data"]) == (b"__keyevent@0__:expired", b"foo")
        finally:
            client.config_set("notify-keyspace-events", "")
            sub.close()


@pytest.mark.parametrize("text", ["gKE", "$lshzxeKE", "KA", "EA", "Am", "nK", "", "AgK"])
def test_config_text_of_classes(both, text):
    try:
        same(both, "config", "set", "notify-keyspace-events", text)
        same(both, "config", "get", "notify-keyspace-events")
    finally:
        for client in both:
            client.config_set("notify-keyspace-events", "")


def test_config_rejects_unknown_class(both):
    same(both, "config", "set", "notify-keyspace-events", "KEq")
    same(both, "config", "get", "notify-keyspace-events")


@pytest.mark.parametrize("mode", [b"OFF", b"SKIP"])
@pytest.mark.parametrize("hello", [b"", b"HELLO 3\r\n"])
def test_subscribe_confirmations_under_client_reply_off(both, mode, hello):
    """CLIENT REPLY OFF/SKIP silences replies, not pub/sub pushes (Redis's CLIENT_PUSHING)."""
    got = []
    for client in both:
        port = client.connection_pool.connection_kwargs["port"]
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            if hello:
                s.sendall(hello)
                read_until(s, b"*0\r\n")
            s.sendall(b"CLIENT REPLY " + mode + b"\r\nSUBSCRIBE ch\r\nPSUBSCRIBE c*\r\n"
                      b"UNSUBSCRIBE ch\r\nPUNSUBSCRIBE c*\r\nCLIENT REPLY ON\r\n")
            got.append(read_until(s, b"+OK\r\n"))
    assert got[0] == got[1]


def test_numpat_counts_unique_patterns(both):
    subs = [cl.pubsub() for cl in both for _ in range(2)]
    try:
        for sub in subs:
            sub.psubscribe("a*", "b*")
            for _ in range(2):
                assert sub.get_message(timeout=5)["type"] == "psubscribe"
        assert same(both, "pubsub", "numpat") == 2
    finally:
        for sub in subs:
            sub.close()


def test_shard_subscriber_is_a_pubsub_client(both):
    """SSUBSCRIBE makes a pubsub client (flags=P, CLIENT KILL TYPE pubsub) counted in INFO."""
    got = []
    for client in both:
        port = client.connection_pool.connection_kwargs["port"]
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"CLIENT SETNAME shardsub\r\nSSUBSCRIBE a b\r\n")
            read_until(s, b":2\r\n")
            line = next(ln for ln in client.execute_command("CLIENT", "LIST").decode().splitlines()
                        if "name=shardsub" in ln)
            fields = dict(f.split("=", 1) for f in line.split())
            stats = client.info("stats")
            got.append((fields["flags"], fields["ssub"], stats["pubsubshard_channels"],
                        client.execute_command("CLIENT", "KILL", "TYPE", "pubsub")))
    assert got[0] == got[1]


@pytest.mark.parametrize("blocking,push", [
    (("BLPOP", "l", "0"), ("RPUSH", "l", "a")),
    (("BLMOVE", "l", "dst", "RIGHT", "LEFT", "0"), ("RPUSH", "l", "a", "b")),
    (("BZPOPMIN", "z", "0"), ("ZADD", "z", "1", "m")),
    (("BLMPOP", "0", "2", "x", "l", "LEFT", "COUNT", "5"), ("RPUSH", "l", "a", "b")),
])
def test_events_of_a_blocked_command_served_later(both, blocking, push):
    got = []
    for client in both:
        client.flushall()
        client.rpush("dst", "old")  # an existing destination: `new` is not published for it
        port = client.connection_pool.connection_kwargs["port"]
        sub = client.pubsub()
        sub.psubscribe("__keyspace@*")
        assert sub.get_message(timeout=5)["type"] == "psubscribe"
        client.config_set("notify-keyspace-events", "KA")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(b"".join(b"%s " % a.encode() for a in blocking).strip() + b"\r\n")
                wait_until(lambda cl=client: cl.info("clients")["blocked_clients"] == 1,
                           what="the command blocked")
                raw(client, *push)
                s.recv(1000)  # its reply
            client.publish("__keyspace@0__:end", "x")
            events = []
            while (m := sub.get_message(timeout=10))["channel"] != b"__keyspace@0__:end":
                events.append((m["channel"], m["data"]))
            got.append(events)
        finally:
            client.config_set("notify-keyspace-events", "")
            sub.close()
    assert got[0] == got[1]
