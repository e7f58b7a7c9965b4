"""Regressions found by running Redis 7.0's own data-type test units (tests/unit/type/*, sort,
bitops, keyspace, dump) against a node: each test runs against xcache and redis-server alike
(fixture `r`) unless it needs something only one of them has."""

from __future__ import annotations

import contextlib

import pytest
import redis

from tests.store.cluster import client, wait_synced
from tests.store.crosscheck import both_fixture, same  # noqa: F401 (fixture)
from tests.store.test_lists import in_background, other_client


@contextlib.contextmanager
def config(r, name: str, value: str):
    """CONFIG SET name value for the block, then back to what it was (the servers are shared)."""
    old = r.config_get(name)[name]
    r.config_set(name, value)
    try:
        yield
    finally:
        r.config_set(name, old)


# --- streams ---------------------------------------------------------------------------------

def test_xadd_auto_id_after_max_sequence(r):
    """A future ms with the largest sequence: the next automatic id carries into the ms part."""
    r.execute_command("XADD", "x", "2577343934890-18446744073709551615", "f", "v")
    assert r.execute_command("XADD", "x", "*", "f2", "v2") == b"2577343934891-0"
    r.execute_command("XADD", "y", "5-18446744073709551614", "f", "v")
    assert r.execute_command("XADD", "y", "5-*", "f", "v") == b"5-18446744073709551615"
    with pytest.raises(redis.ResponseError, match="^Elements are too large to be stored$"):
        r.execute_command("XADD", "y", "5-*", "f", "v")


def test_approximate_trim_follows_stream_node_max_entries(r):
    with config(r, "stream-node-max-entries", "10"):
        for _ in range(100):
            r.execute_command("XADD", "s", "*", "xitem", "v")
        r.execute_command("XADD", "s", "MAXLEN", "~", "55", "LIMIT", "30", "*", "xitem", "v")
        assert r.xlen("s") == 71
        r.execute_command("XADD", "s", "MAXLEN", "~", "55", "LIMIT", "30", "*", "xitem", "v")
        assert r.xlen("s") == 62
    with config(r, "stream-node-max-entries", "2"):
        for _ in range(3):
            r.execute_command("XADD", "t", "*", "xitem", "v")
        assert r.execute_command("XTRIM", "t", "MAXLEN", "~", "0", "LIMIT", "1") == 0
        assert r.execute_command("XTRIM", "t", "MAXLEN", "~", "0", "LIMIT", "2") == 2


LEGACY_STREAM = bytes.fromhex(  # DUMP of a Redis 5 stream with two groups (stream-cgroups.tcl)
    "0f011000000000000000010000000000000000c3404a40571657000000230002010401010184646174610500"
    "0103010020010381610204200a0001400a0062600a0002400a0063600a4022018164200a4039200a0065600a"
    "0005400a0066200a00ff02060002026731050004000000000000000100000000000000003ef783437a010000"
    "01000000000000000200000000000000003ef783437a01000001000000000000000400000000000000003ef7"
    "83437a01000001000000000000000500000000000000003ef783437a0100000101036331313ef783437a0100"
    "0004000000000000000100000000000000000000000000000002000000000000000000000000000000040000"
    "000000000000000000000000000500000000000000000267320000000009003d52ef6867521dfa")


def as_dict(reply) -> dict:
    """A RESP2 flat list of pairs or a RESP3 map, as a dict."""
    return dict(zip(reply[::2], reply[1::2], strict=True)) if isinstance(reply, list) else reply


def test_restore_legacy_stream_estimates_entries_read(r):
    """A Redis <= 6.2 payload has no entries-read: it is estimated as Redis's RDB load does."""
    r.restore("x", 0, LEGACY_STREAM)
    info = r.execute_command("XINFO", "STREAM", "x", "FULL")
    info = as_dict(info)
    assert info[b"entries-added"] == 2 and info[b"max-deleted-entry-id"] == b"0-0"
    groups = [as_dict(g) for g in info[b"groups"]]
    assert [(g[b"entries-read"], g[b"lag"]) for g in groups] == [(1, 1), (0, 2)]


# --- blocked commands: wake-ups and their COMMANDSTATS -------------------------------------------

def cmdstat(r, name: str) -> dict:
    return r.info("commandstats").get(f"cmdstat_{name}", {})


def waiting_reader(r, reader: redis.Redis, key: str):
    """Group g on stream key (created), and reader's XREADGROUP for alice blocked on it: its
    future."""
    r.xgroup_create(key, "g", "$", mkstream=True)
    return in_background(reader.execute_command, "XREADGROUP", "GROUP", "g", "alice",
                         "BLOCK", "0", "STREAMS", key, ">")


def test_rename_wakes_blocked_xreadgroup(r2):
    r = r2
    other = other_client(r)
    try:
        fut = waiting_reader(r, other, "s{t}")
        r.xgroup_create("s2{t}", "g", "$", mkstream=True)
        r.xadd("s2{t}", {"f1": "v1"}, id="100")
        r.rename("s2{t}", "s{t}")
        assert fut.result(10) == [[b"s{t}", [(b"100-0", {b"f1": b"v1"})]]]
    finally:
        other.close()


def test_overwritten_key_wakes_blocked_clients(r2):
    """SET over a stream a XREADGROUP waits on ends it with Redis's error; a BLPOP whose key
    became a string keeps waiting, and is served once a list is pushed there."""
    r = r2
    other, popper = other_client(r), other_client(r)
    try:
        fut = waiting_reader(r, other, "s{w}")
        r.set("s{w}", "string")
        with pytest.raises(redis.ResponseError, match="no longer exists"):
            fut.result(10)
        pop = in_background(popper.blpop, ["l{w}"], 0)
        r.set("l{w}", "string")
        r.delete("l{w}")
        r.rpush("l{w}", "x")
        assert pop.result(10) == (b"l{w}", b"x")
    finally:
        other.close()
        popper.close()


def test_blocked_command_stats(r2):
    """A blocked command counts its call when it blocks and its failure when it is served."""
    r = r2
    r.config_resetstat()
    other = redis.Redis(port=r.connection_pool.connection_kwargs["port"], socket_timeout=10,
                        single_connection_client=True)
    try:
        fut = waiting_reader(r, other, "s")
        r.xgroup_destroy("s", "g")
        with pytest.raises(redis.ResponseError, match="^NOGROUP"):
            fut.result(10)
        stat = cmdstat(r, "xreadgroup")
        assert (stat["calls"], stat["rejected_calls"], stat["failed_calls"]) == (1, 0, 1)
        fut = in_background(other.blpop, ["l"], 0)
        r.rpush("l", "a")
        assert fut.result(10) == (b"l", b"a")
        other_id = other.client_id()
        fut = in_background(other.blpop, ["l"], 0)
        r.client_unblock(other_id, error=False)
        assert fut.result(10) is None
        assert other.blpop(["l"], 0.01) is None
        stat = cmdstat(r, "blpop")
        assert (stat["calls"], stat["failed_calls"]) == (3, 1)
    finally:
        other.close()


# --- COMMAND GETKEYS through the getkeys procedures (specs of unknown position or flags) ------

GETKEYS_CASES = [
    ["sort", "abc", "store", "def"],
    ["sort", "abc", "store", "invalid", "store", "stillbad", "store", "def"],
    ["sort", "abc", "limit", "0", "1", "store", "x", "get", "#", "by", "y"],
    ["sort", "abc", "store"],
    ["sort_ro", "abc"],
    ["set", "k", "v"],
    ["set", "k", "v", "get"],
    ["bitfield", "k", "get", "u8", "0"],
    ["bitfield", "k", "overflow", "wrap", "get", "u8", "0", "incrby", "u8", "0", "1"],
    ["bitfield", "k", "bogus"],
    ["migrate", "h", "1", "k", "0", "10"],
    ["migrate", "h", "1", "", "0", "10", "auth", "p", "keys", "a", "b"],
    ["migrate", "h", "1", "k", "0", "10", "keys", "a", "b"],
    ["zunion", "0", "a"],
    ["ping"],
]


@pytest.mark.parametrize("sub", ["GETKEYS", "GETKEYSANDFLAGS"])
@pytest.mark.parametrize("argv", GETKEYS_CASES, ids=" ".join)
def test_command_getkeys_procedures(both, sub, argv):
    same(both, "COMMAND", sub, *argv)


# --- bit commands ------------------------------------------------------------------------------

def test_bitcount_negative_range_start_after_end(r):
    r.set("str", "xxxx")
    assert r.execute_command("BITCOUNT", "str", "-6", "-7") == 0
    assert r.execute_command("BITCOUNT", "str", "-6", "-15", "BIT") == 0
    assert r.execute_command("BITCOUNT", "str", "-6", "-7", "NOTAUNIT") == 0  # checked first
    assert r.execute_command("BITCOUNT", "str", "-7", "-6") == 4  # both clamp to byte 0
    assert r.execute_command("BITCOUNT", "str", "-7", "-1") == 16


def test_setbit_bitfield_dirty_only_when_changed(r):
    def dirty() -> int:
        return r.info("persistence")["rdb_changes_since_last_save"]

    before = dirty()
    r.setbit("foo", 0, 0)  # a new key always counts
    r.execute_command("BITFIELD", "foo2", "SET", "i5", "0", "0")
    assert dirty() == before + 2
    before = dirty()
    r.setbit("foo", 0, 0)  # no change
    r.execute_command("BITFIELD", "foo2", "SET", "i5", "0", "0")
    assert dirty() == before
    r.setbit("foo", 0, 1)
    r.setbit("foo", 0, 1)
    r.execute_command("BITFIELD", "foo2", "SET", "i5", "0", "1")
    r.execute_command("BITFIELD", "foo2", "SET", "i5", "0", "1")
    assert dirty() == before + 2
    before = dirty()
    r.setbit("foo", 90, 0)  # the length changes
    r.execute_command("BITFIELD", "foo2", "SET", "i5", "90", "0")
    assert dirty() == before + 2
    assert r.get("foo") == b"\x80" + b"\x00" * 11


# --- SWAPDB ------------------------------------------------------------------------------------

def db_client(r, db: int) -> redis.Redis:
    return redis.Redis(port=r.connection_pool.connection_kwargs["port"], db=db, socket_timeout=10)


def test_swapdb_exchanges_keys(r2):
    one, nine = db_client(r2, 1), db_client(r2, 9)
    try:
        one.rpush("l", "a")
        one.set("s", "1", px=100_000)
        one.zadd("z", {"m": 1})
        nine.set("only9", "x")
        assert r2.swapdb(1, 9) is True
        assert sorted(nine.keys()) == [b"l", b"s", b"z"] and one.keys() == [b"only9"]
        assert nine.lrange("l", 0, -1) == [b"a"] and nine.zscore("z", "m") == 1.0
        assert 0 < nine.pttl("s") <= 100_000
        assert nine.dbsize() == 3 and one.dbsize() == 1
        one.flushdb()  # flushes what db 1 holds now
        assert nine.dbsize() == 3 and one.dbsize() == 0
        assert r2.swapdb(9, 9) is True
        for args, error in [((1, "a"), "invalid second DB index"),
                            (("x", 1), "invalid first DB index"),
                            ((1, 99), "DB index is out of range"),
                            ((1 << 40, 1), "invalid first DB index"),
                            ((-1, 1), "DB index is out of range")]:
            with pytest.raises(redis.ResponseError, match=f"^{error}$"):
                r2.execute_command("SWAPDB", *args)
    finally:
        one.close()
        nine.close()


def test_swapdb_wakes_blocked_client_and_touches_watched_keys(r2):
    one, nine = db_client(r2, 1), db_client(r2, 9)
    try:
        one.rpush("k", "hello")
        fut = in_background(nine.brpop, ["k"], 5)
        with nine.pipeline() as p:
            p.watch("k")
            r2.swapdb(1, 9)
            assert fut.result(10) == (b"k", b"hello")
            p.multi()
            p.set("k", "v")
            with pytest.raises(redis.WatchError):
                p.execute()
    finally:
        one.close()
        nine.close()


def test_circular_brpoplpush_completes_before_the_next_command(r2):
    """Redis serves the clients a push unblocks (and those their pushes unblock) before any
    other command runs: a reader never sees the element in flight."""
    r = r2
    first, second = other_client(r), other_client(r)
    try:
        for _ in range(5):
            r.delete("list1{t}", "list2{t}")
            a = in_background(first.brpoplpush, "list1{t}", "list2{t}", 0)
            b = in_background(second.brpoplpush, "list2{t}", "list1{t}", 0)
            r.rpush("list1{t}", "foo")
            assert r.lrange("list1{t}", 0, -1) == [b"foo"]
            assert r.lrange("list2{t}", 0, -1) == []
            assert a.result(10) == b.result(10) == b"foo"
    finally:
        first.close()
        second.close()


def test_swapdb_replicates_and_persists(cluster, tmp_path):
    master = cluster.node(data_dir=tmp_path / "master")
    replica = cluster.replica_of(master)
    m1 = client(master, 1)
    m1.set("a", "1")
    client(master, 2).set("b", "2")
    client(master).swapdb(1, 2)
    wait_synced(master, replica)
    for node in (master, replica):
        assert client(node, 2).keys() == [b"a"] and client(node, 1).keys() == [b"b"]
    master.stop()
    restarted = cluster.node(data_dir=tmp_path / "master")  # the swap is stored with the data
    assert client(restarted, 2).get("a") == b"1" and client(restarted, 1).get("b") == b"2"


# --- OBJECT ENCODING of strings changed in place -------------------------------------------------

def test_string_changed_in_place_is_raw_encoded(r):
    def enc(key: str) -> bytes:
        return r.object("encoding", key)

    r.set("k", "1234")
    assert enc("k") == b"int"
    assert r.setrange("k", 0, "") == 4 and enc("k") == b"int"  # nothing set: unchanged
    assert r.setrange("k", 0, "2") == 4 and enc("k") == b"raw" and r.get("k") == b"2234"
    r.expire("k", 100)
    r.execute_command("GETEX", "k", "PERSIST")
    r.rename("k", "k2")
    assert enc("k2") == b"raw"  # EXPIRE, GETEX and RENAME keep the encoding
    r.set("k2", "5")
    assert enc("k2") == b"int"
    r.append("ap", "12")
    assert enc("ap") == b"int"  # APPEND to a new key encodes it as SET does
    r.append("ap", "3")
    assert enc("ap") == b"raw"
    r.setrange("new", 0, "12")
    r.setbit("bits", 1, 1)
    r.execute_command("BITFIELD", "bf", "SET", "u8", "0", "49")
    r.bitop("OR", "dst", "new", "new")
    r.pfadd("hll", "a")
    assert [enc(k) for k in ("new", "bits", "bf", "dst", "hll")] == [b"raw"] * 5
    assert r.type("bits") == b"string" and r.scan(0, _type="string")[1]


def test_smove_touches_dst_watchers_only_when_added(r2):
    r = r2
    r.sadd("src{t}", "a", "b")
    r.sadd("dst{t}", "a")
    other = other_client(r)
    try:
        with r.pipeline() as p:
            p.watch("dst{t}")
            p.multi()
            p.sadd("dst{t}", "c")
            assert other.smove("src{t}", "dst{t}", "a") is True  # dst unchanged
            assert p.execute() == [1]
        with r.pipeline() as p:
            p.watch("src{t}")
            p.multi()
            p.sadd("src{t}", "c")
            assert other.smove("src{t}", "dst{t}", "b") is True
            with pytest.raises(redis.WatchError):
                p.execute()
    finally:
        other.close()
    assert r.smembers("dst{t}") == {b"a", b"b", b"c"}
