"""Stream commands, checked against xcache and redis-server alike (fixture `r`), plus the
xcache-only parts: replication of XADD/XREADGROUP effects and MIGRATE of a stream."""

from __future__ import annotations

import threading

import pytest
import redis

from tests.procs import start_redis
from tests.store.cluster import Cluster, client, wait_synced
from tests.store.test_lists import in_background, other_client


def cmd(r, *args):
    """The raw reply (redis-py's reply callbacks for stream commands set aside)."""
    name = str(args[0]).upper()
    saved = r.response_callbacks.pop(name, None)
    try:
        return r.execute_command(*args)
    finally:
        if saved is not None:
            r.response_callbacks[name] = saved


def grouped_stream(c, entries: int, read: int) -> None:
    """Stream s: entries 1-1 .. <entries>-1, the last one deleted; group g from 0, in which
    consumer alice has read the first `read`."""
    for i in range(1, entries + 1):
        c.xadd("s", {"f": str(i)}, id=f"{i}-1")
    c.xdel("s", f"{entries}-1")
    c.xgroup_create("s", "g", "0")
    c.execute_command("XREADGROUP", "GROUP", "g", "alice", "COUNT", str(read), "STREAMS", "s", ">")


def err(r, *args) -> str:
    with pytest.raises(redis.ResponseError) as exc:
        cmd(r, *args)
    return str(exc.value)


def test_xadd_ids_and_errors(r):
    assert cmd(r, "XADD", "s", "1-1", "a", "1") == b"1-1"
    assert err(r, "XADD", "s", "1-1", "a", "1") == (
        "The ID specified in XADD is equal or smaller than the target stream top item")
    assert cmd(r, "XADD", "s", "1-*", "b", "2") == b"1-2"
    assert cmd(r, "XADD", "s", "2", "c", "3") == b"2-0"
    assert err(r, "XADD", "s2", "0-0", "c", "3") == "The ID specified in XADD must be greater than 0-0"
    assert err(r, "XADD", "s", "abc", "c", "3") == (
        "Invalid stream ID specified as stream command argument")
    assert err(r, "XADD", "s", "5-1", "c") == "wrong number of arguments for 'xadd' command"
    assert cmd(r, "XADD", "nope", "NOMKSTREAM", "*", "a", "1") is None
    assert r.exists("nope") == 0
    auto = cmd(r, "XADD", "s", "*", "d", "4")
    assert int(auto.split(b"-")[0]) > 2
    assert r.xlen("s") == 4 and r.type("s") == b"stream"
    r.set("str", "v")
    assert err(r, "XADD", "str", "*", "a", "b").startswith("WRONGTYPE")


def test_xrange_xrevrange(r):
    for i in range(1, 6):
        cmd(r, "XADD", "s", f"{i}-0", "f", str(i))
    assert cmd(r, "XRANGE", "s", "-", "+", "COUNT", "2") == [[b"1-0", [b"f", b"1"]],
                                                             [b"2-0", [b"f", b"2"]]]
    assert [e[0] for e in cmd(r, "XRANGE", "s", "(2-0", "4")] == [b"3-0", b"4-0"]
    assert [e[0] for e in cmd(r, "XREVRANGE", "s", "+", "(3", "COUNT", "5")] == [b"5-0", b"4-0"]
    assert cmd(r, "XRANGE", "s", "-", "+", "COUNT", "0") is None
    assert cmd(r, "XRANGE", "nokey", "-", "+") == []
    assert err(r, "XRANGE", "s", "(-", "+") == "Invalid stream ID specified as stream command argument"
    assert err(r, "XRANGE", "s", "(18446744073709551615-18446744073709551615", "+") == (
        "invalid start ID for the interval")


def test_trimming_and_xdel(r2):
    r = r2
    for i in range(1, 351):
        cmd(r, "XADD", "s", f"{i}-1", "a", "1")
    assert r.xtrim("s", maxlen=10, approximate=True) == 300  # whole nodes of 100 only
    assert r.xlen("s") == 50
    assert cmd(r, "XADD", "s", "MAXLEN", "2", "400-1", "x", "y") == b"400-1"
    assert r.xlen("s") == 2
    assert err(r, "XADD", "s", "MAXLEN", "1", "LIMIT", "10", "*", "f", "6") == (
        "syntax error, LIMIT cannot be used without the special ~ option")
    assert err(r, "XADD", "s", "MAXLEN", "1", "MINID", "1", "*", "f", "6") == (
        "syntax error, MAXLEN and MINID options at the same time are not compatible")
    assert err(r, "XTRIM", "s", "FOO", "1") == "syntax error"
    assert cmd(r, "XTRIM", "s", "MINID", "400") == 1
    assert cmd(r, "XDEL", "s", "400-1", "500-1") == 1
    assert err(r, "XDEL", "s", "bad") == "Invalid stream ID specified as stream command argument"
    info = cmd(r, "XINFO", "STREAM", "s")
    assert info[:2] == [b"length", 0]
    assert info[6:14] == [b"last-generated-id", b"400-1", b"max-deleted-entry-id", b"400-1",
                          b"entries-added", 351, b"recorded-first-entry-id", b"0-0"]
    assert info[-4:] == [b"first-entry", None, b"last-entry", None]
    assert cmd(r, "XSETID", "s", "500", "ENTRIESADDED", "400") == b"OK"
    assert err(r, "XSETID", "nokey", "1") == "no such key"


def test_consumer_groups(r2):
    r = r2
    assert err(r, "XGROUP", "CREATE", "s", "g", "$") .startswith("The XGROUP subcommand requires")
    assert cmd(r, "XGROUP", "CREATE", "s", "g", "$", "MKSTREAM") == b"OK"
    assert err(r, "XGROUP", "CREATE", "s", "g", "$") == "BUSYGROUP Consumer Group name already exists"
    for i in (1, 2, 3):
        cmd(r, "XADD", "s", f"{i}-1", "k", str(i))
    assert cmd(r, "XREADGROUP", "GROUP", "g", "c1", "COUNT", "1", "STREAMS", "s", ">") == [
        [b"s", [[b"1-1", [b"k", b"1"]]]]]
    assert len(cmd(r, "XREADGROUP", "GROUP", "g", "c2", "STREAMS", "s", ">")[0][1]) == 2
    assert cmd(r, "XREADGROUP", "GROUP", "g", "c2", "STREAMS", "s", ">") is None
    assert cmd(r, "XREADGROUP", "GROUP", "g", "c1", "STREAMS", "s", "0") == [
        [b"s", [[b"1-1", [b"k", b"1"]]]]]
    assert err(r, "XREADGROUP", "GROUP", "nog", "c1", "STREAMS", "s", ">") == (
        "NOGROUP No such key 's' or consumer group 'nog' in XREADGROUP with GROUP option")
    summary = cmd(r, "XPENDING", "s", "g")
    assert summary == [3, b"1-1", b"3-1", [[b"c1", b"1"], [b"c2", b"2"]]]
    ext = cmd(r, "XPENDING", "s", "g", "-", "+", "10", "c2")
    assert [(e[0], e[1], e[3]) for e in ext] == [(b"2-1", b"c2", 1), (b"3-1", b"c2", 1)]
    assert cmd(r, "XACK", "s", "g", "1-1", "9-9") == 1
    assert cmd(r, "XCLAIM", "s", "g", "c3", "0", "2-1", "JUSTID") == [b"2-1"]
    assert cmd(r, "XCLAIM", "s", "g", "c3", "0", "3-1", "RETRYCOUNT", "7") == [[b"3-1", [b"k", b"3"]]]
    assert cmd(r, "XPENDING", "s", "g", "3-1", "+", "1", "c3")[0][3] == 7
    cmd(r, "XDEL", "s", "2-1")
    assert cmd(r, "XAUTOCLAIM", "s", "g", "c4", "0", "0", "COUNT", "1") == [b"3-1", [], [b"2-1"]]
    assert cmd(r, "XAUTOCLAIM", "s", "g", "c4", "0", "0", "JUSTID") == [b"0-0", [b"3-1"], []]
    assert err(r, "XAUTOCLAIM", "s", "g", "c4", "0", "0", "COUNT", "0") == "COUNT must be > 0"
    consumers = cmd(r, "XINFO", "CONSUMERS", "s", "g")
    assert [(c[1], c[3]) for c in consumers] == [(b"c1", 0), (b"c2", 0), (b"c3", 0), (b"c4", 1)]
    groups = cmd(r, "XINFO", "GROUPS", "s")
    assert groups == [[b"name", b"g", b"consumers", 4, b"pending", 1, b"last-delivered-id", b"3-1",
                       b"entries-read", 3, b"lag", 0]]
    assert cmd(r, "XGROUP", "DELCONSUMER", "s", "g", "c4") == 1
    assert cmd(r, "XGROUP", "CREATECONSUMER", "s", "g", "c9") == 1
    assert cmd(r, "XGROUP", "SETID", "s", "g", "0", "ENTRIESREAD", "0") == b"OK"
    assert cmd(r, "XREADGROUP", "GROUP", "g", "c1", "NOACK", "STREAMS", "s", ">") == [
        [b"s", [[b"1-1", [b"k", b"1"]], [b"3-1", [b"k", b"3"]]]]]
    assert cmd(r, "XPENDING", "s", "g") == [0, None, None, None]
    assert cmd(r, "XGROUP", "DESTROY", "s", "g") == 1
    assert cmd(r, "XINFO", "GROUPS", "s") == []
    assert err(r, "XGROUP", "FOO") == "unknown subcommand 'FOO'. Try XGROUP HELP."


def test_xread_and_blocking(r2):
    r = r2
    cmd(r, "XADD", "s", "1-0", "a", "1")
    assert cmd(r, "XREAD", "STREAMS", "s", "nokey", "0", "0") == [[b"s", [[b"1-0", [b"a", b"1"]]]]]
    assert cmd(r, "XREAD", "STREAMS", "s", "$") is None
    assert err(r, "XREAD", "STREAMS", "s", "t", "0") == (
        "Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.")
    assert cmd(r, "XREAD", "BLOCK", "50", "STREAMS", "s", "$") is None
    waiter = other_client(r)
    waiter.response_callbacks.pop("XREAD", None)
    waiter.response_callbacks.pop("XREADGROUP", None)
    fut = in_background(waiter.execute_command, "XREAD", "BLOCK", "0", "STREAMS", "s", "$")
    cmd(r, "XADD", "s", "2-0", "b", "2")
    assert fut.result(timeout=5) == [[b"s", [[b"2-0", [b"b", b"2"]]]]]
    cmd(r, "XGROUP", "CREATE", "s", "g", "$")
    fut = in_background(waiter.execute_command, "XREADGROUP", "GROUP", "g", "c", "BLOCK", "0",
                        "STREAMS", "s", ">")
    cmd(r, "XADD", "s", "3-0", "c", "3")
    assert fut.result(timeout=5) == [[b"s", [[b"3-0", [b"c", b"3"]]]]]
    assert cmd(r, "XPENDING", "s", "g")[0] == 1
    waiter.close()


def test_stream_effects_replicate(cluster):
    m = cluster.node()
    rep = cluster.replica_of(m)
    mc = client(m)
    auto = mc.xadd("s", {"a": "1"})
    mc.xadd("s", {"b": "2"}, id="9999999999999-0", maxlen=1, approximate=False)
    mc.xgroup_create("s", "g", "0")
    mc.xadd("s", {"c": "3"}, id="9999999999999-5")
    result = []
    t = threading.Thread(target=lambda: result.append(client(m).execute_command(
        "XREADGROUP", "GROUP", "g", "alice", "BLOCK", "5000", "STREAMS", "s", ">")))
    t.start()
    t.join()
    mc.xclaim("s", "g", "bob", 0, ["9999999999999-5"], retrycount=3)
    wait_synced(m, rep)
    rc = client(rep)
    assert auto not in [e[0] for e in rc.xrange("s")], (mc.xrange("s"), rc.xrange("s"))
    for c in ("XINFO GROUPS s", "XPENDING s g - + 10", "XRANGE s - +"):
        mine, theirs = mc.execute_command(c), rc.execute_command(c)
        if c.startswith("XPENDING"):
            mine = [[e[0], e[1], e[3]] for e in mine]
            theirs = [[e[0], e[1], e[3]] for e in theirs]
        assert mine == theirs
    assert rc.xinfo_stream("s")["last-generated-id"] == b"9999999999999-5"


@pytest.mark.parametrize("target_kind", ["redis", "xcache"])
def test_migrate_moves_a_stream(tmp_path, target_kind):
    cluster = Cluster(tmp_path)
    target = None
    try:
        src = cluster.node()
        target = start_redis(tmp_path) if target_kind == "redis" else cluster.node()
        sc = client(src)
        grouped_stream(sc, entries=7, read=3)
        sc.xack("s", "g", "2-1")
        before = {c: sc.execute_command(c) for c in ("XRANGE s - +", "XINFO GROUPS s",
                                                      "XINFO CONSUMERS s g")}
        pend = [e[:2] + e[3:] for e in sc.execute_command("XPENDING s g - + 10")]
        assert sc.execute_command("MIGRATE", "127.0.0.1", target.port, "s", 0, 5000) == b"OK"
        tc = redis.Redis(port=target.port, protocol=2)
        assert sc.exists("s") == 0
        for c, want in before.items():
            got = tc.execute_command(c)
            if c.startswith("XINFO CONSUMERS"):
                got = [x[:4] for x in got]
                want = [x[:4] for x in want]
            assert got == want, c
        assert [e[:2] + e[3:] for e in tc.execute_command("XPENDING s g - + 10")] == pend
        assert tc.xinfo_stream("s")["max-deleted-entry-id"] == b"7-1"
    finally:
        if target_kind == "redis" and target is not None:
            target.stop()
        cluster.stop()


def test_blocked_xreadgroup_learns_its_group_or_stream_went(r):
    cmd(r, "XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
    waiter = other_client(r)
    waiter.response_callbacks.clear()
    read = ("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "s", ">")
    fut = in_background(waiter.execute_command, *read)
    cmd(r, "XGROUP", "DESTROY", "s", "g")
    with pytest.raises(redis.ResponseError) as exc:
        fut.result(timeout=5)
    assert str(exc.value) == "NOGROUP the consumer group this client was blocked on no longer exists"
    cmd(r, "XGROUP", "CREATE", "s", "g", "$")
    fut = in_background(waiter.execute_command, *read)
    r.delete("s")
    with pytest.raises(redis.ResponseError) as exc:
        fut.result(timeout=5)
    assert str(exc.value) == "UNBLOCKED the stream key no longer exists"
    waiter.close()


def test_stream_and_groups_survive_a_restart(tmp_path):
    from tests.procs import start_xcache_server

    def state(c) -> list:
        queries = ("XRANGE s - +", "XINFO GROUPS s", "XPENDING s g")
        return [*(cmd(c, *q.split()) for q in queries), cmd(c, "XINFO", "STREAM", "s")[:14]]

    data = tmp_path / "node"
    with start_xcache_server(tmp_path, data_dir=data) as node:
        c = client(node)
        grouped_stream(c, entries=5, read=2)
        before = state(c)
    with start_xcache_server(tmp_path, data_dir=data) as node:
        assert state(client(node)) == before
