"""INFO's counters as Redis keeps them: keyspace_hits / keyspace_misses and the `keymiss` event,
total_commands_processed inside a transaction, the subcommand rows of commandstats.

Redis counts a hit or a miss at every read lookup of a key (lookupKeyRead): each key of a read
command (EXISTS k k counts two), the keys a write command only reads (SUNIONSTORE's sources, the
GET of SET ... GET, GETDEL), nothing for a write's own key, a key scan or an internal lookup.
A miss also raises the `keymiss` keyspace event (class `m`). Each command runs alone after a
CONFIG RESETSTAT on both servers, and the two counters must match redis-server's.
"""

from __future__ import annotations

import redis

from tests.store.crosscheck import both_fixture, raw  # noqa: F401 (the fixture)

SETUP = [
    ("SET", "s", "v"), ("SET", "s2", "v"), ("HSET", "h", "f", "1"), ("RPUSH", "l", "a", "b"),
    ("SADD", "st", "m"), ("ZADD", "z", "1", "m"), ("XADD", "x", "1-1", "f", "v"), ("PFADD", "p", "a"),
    ("GEOADD", "g", "13.361389", "38.115556", "m"),
]

COMMANDS = [
    ("GET", "s"), ("GET", "nope"), ("GET", "l"), ("MGET", "s", "s", "nope"), ("EXISTS", "s", "h", "nope"),
    ("TYPE", "s"), ("TYPE", "nope"), ("TTL", "s"), ("PTTL", "nope"), ("EXPIRETIME", "s"), ("STRLEN", "s"),
    ("GETRANGE", "s", "0", "1"), ("SUBSTR", "s", "0", "1"), ("LCS", "s", "s2"),
    ("HGET", "h", "f"), ("HGET", "nope", "f"), ("HMGET", "h", "f", "g"), ("HGETALL", "h"), ("HLEN", "h"),
    ("HEXISTS", "h", "f"), ("HKEYS", "nope"), ("HSTRLEN", "h", "f"), ("HRANDFIELD", "h"),
    ("LRANGE", "l", "0", "-1"), ("LLEN", "nope"), ("LINDEX", "l", "0"), ("LPOS", "l", "a"),
    ("SMEMBERS", "st"), ("SISMEMBER", "st", "m"), ("SMISMEMBER", "st", "m", "n"), ("SCARD", "nope"),
    ("SINTER", "st", "nope"), ("SUNION", "st", "st"), ("SDIFF", "st", "nope"), ("SRANDMEMBER", "st"),
    ("SINTERCARD", "2", "st", "st"),
    ("ZSCORE", "z", "m"), ("ZRANGE", "z", "0", "-1"), ("ZCARD", "z"), ("ZRANK", "z", "m"), ("ZCOUNT", "z", "0", "5"),
    ("ZRANGEBYSCORE", "z", "0", "5"), ("ZMSCORE", "z", "m"), ("ZUNION", "2", "z", "nope"), ("ZRANDMEMBER", "z"),
    ("XLEN", "x"), ("XRANGE", "x", "-", "+"), ("XREAD", "STREAMS", "x", "0"), ("XINFO", "STREAM", "x"),
    ("PFCOUNT", "p"), ("PFCOUNT", "p", "nope"), ("BITCOUNT", "s"), ("GETBIT", "s", "1"), ("BITPOS", "s", "1"),
    ("GEOPOS", "g", "m"), ("GEODIST", "g", "m", "m"), ("GEOSEARCH", "g", "FROMMEMBER", "m", "BYRADIUS", "1", "km"),
    ("DUMP", "s"), ("OBJECT", "ENCODING", "s"), ("OBJECT", "ENCODING", "nope"), ("MEMORY", "USAGE", "s"),
    ("SCAN", "0"), ("SCAN", "0", "TYPE", "string"), ("KEYS", "*"), ("DBSIZE",), ("RANDOMKEY",),
    ("SORT", "l", "ALPHA"), ("SORT_RO", "l", "ALPHA"), ("TOUCH", "s", "nope"),
    ("GETDEL", "s2"), ("GETEX", "s"), ("GETSET", "s", "w"), ("SET", "s", "v", "GET"), ("SET", "n", "v", "NX"),
    ("SET", "s", "v"), ("SUNIONSTORE", "dst", "st", "nope"), ("ZUNIONSTORE", "zd", "2", "z", "nope"),
    ("BITOP", "OR", "bd", "s", "nope"), ("COPY", "s", "s3"), ("RENAME", "s3", "s4"), ("LPUSH", "l", "c"),
    ("INCR", "cnt"), ("APPEND", "s", "x"), ("HSET", "h", "g", "2"), ("HINCRBY", "h", "n", "1"), ("DEL", "nope"),
    ("EXPIRE", "s", "100"), ("PERSIST", "s"), ("LMOVE", "l", "l2", "LEFT", "LEFT"), ("SMOVE", "st", "st2", "m"),
    ("ZADD", "z", "2", "m"), ("PFADD", "p", "b"), ("PFMERGE", "pd", "p"), ("SETRANGE", "s", "0", "x"),
]


def test_keyspace_hits_and_misses_are_counted_as_redis_does(both):
    for cl in both:
        for cmd in SETUP:
            raw(cl, *cmd)
    wrong = []
    for cmd in COMMANDS:
        counts = []
        for cl in both:
            cl.config_resetstat()
            try:
                raw(cl, *cmd)
            except redis.ResponseError:
                pass
            info = cl.info("stats")
            counts.append((info["keyspace_hits"], info["keyspace_misses"]))
        if counts[0] != counts[1]:
            wrong.append((cmd, counts))
    assert wrong == [], "\n".join(map(str, wrong))


def test_a_miss_raises_the_keymiss_event(both):
    for cl in both:
        cl.set("s", "v")
        sub = cl.pubsub()
        try:
            cl.config_set("notify-keyspace-events", "Km")
            sub.psubscribe("__keyspace@0__:*")
            assert sub.get_message(timeout=5)["type"] == "psubscribe"
            cl.get("s")
            cl.get("nope")
            cl.hget("nope2", "f")
            cl.exists("s", "nope3")
            cl.set("nope4", "v")  # a write's own key: no event
            cl.lrange("nope5", 0, -1)
            got = [sub.get_message(timeout=5) for _ in range(4)]
            assert [(m["channel"], m["data"]) for m in got] == [
                (b"__keyspace@0__:nope", b"keymiss"), (b"__keyspace@0__:nope2", b"keymiss"),
                (b"__keyspace@0__:nope3", b"keymiss"), (b"__keyspace@0__:nope5", b"keymiss")]
        finally:
            cl.config_set("notify-keyspace-events", "")
            sub.close()


def test_each_command_a_transaction_runs_is_a_command_processed(both):
    """Redis's call() counts every command it runs: EXEC's queued ones too, and their reads."""
    counts = []
    for cl in both:
        cl.set("a", "1")
        cl.config_resetstat()
        for cmd in (("WATCH", "a"), ("MULTI",), ("GET", "a"), ("GET", "nope"), ("SET", "b", "1"), ("EXEC",)):
            raw(cl, *cmd)
        info = cl.info("stats")
        counts.append((info["total_commands_processed"], info["keyspace_hits"], info["keyspace_misses"]))
    assert counts[0] == counts[1] == (7, 1, 1)  # RESETSTAT itself, then six


def test_client_setinfo_and_no_touch_have_their_own_commandstats_rows(xcache_node):
    """Redis 7.2's CLIENT SETINFO / NO-TOUCH (which clients send on connect) count as
    `client|setinfo` and `client|no-touch`, as there, not as a bare `client` row."""
    with redis.Redis(port=xcache_node.port, protocol=2) as cl:
        cl.config_resetstat()
        assert raw(cl, "CLIENT", "SETINFO", "LIB-NAME", "probe") == b"OK"
        assert raw(cl, "CLIENT", "NO-TOUCH", "OFF") == b"OK"
        stats = cl.info("commandstats")
    assert stats["cmdstat_client|setinfo"]["calls"] == 1
    assert stats["cmdstat_client|no-touch"]["calls"] == 1
    assert "cmdstat_client" not in stats
