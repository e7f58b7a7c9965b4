"""MIGRATE and SLOTSHASHKEY.

Tests using `r` run with the source being xcache AND redis-server (the target is a redis-server),
so they pin Redis 7's replies. The xcache-only tests cover xcache and redis-server targets, big
keys moved in chunks while the node keeps answering, the key lock, replication of the DEL and
the metrics.
"""

from __future__ import annotations

import threading

import httpx
import pytest
import redis

from tests.procs import free_port, proc_fixture, start_redis, start_xcache_server, wait_until
from xcache.keyslot import slot_of

PW = "s3cret"


target_node = proc_fixture(start_redis, "target", scope="module")
xtarget_node = proc_fixture(start_xcache_server, "xtarget", scope="module")


def connect(port: int, db: int = 0, password: str | None = None) -> redis.Redis:
    return redis.Redis(port=port, db=db, password=password, socket_timeout=30, protocol=2)


@pytest.fixture
def t(target_node):
    """A flushed redis-server target."""
    client = connect(target_node.port)
    client.flushall()
    yield client
    client.close()


def port_of(client: redis.Redis) -> int:
    return client.connection_pool.connection_kwargs["port"]


def fill_all_types(src: redis.Redis) -> None:
    src.set("str", b"\x00bin\xff")
    src.rpush("list", "c", "a", "b", "a")
    src.sadd("set", "x", "y", "z")
    src.hset("hash", mapping={"f1": "v1", "f2": b"\x00"})
    src.zadd("zset", {"inf": float("inf"), "ninf": float("-inf"), "tenth": 0.1, "big": 1e300,
                      "tiny": -2.5e-10, "int": 3})
    src.pexpire("hash", 100_000)


def assert_all_types(dst: redis.Redis) -> None:
    assert dst.get("str") == b"\x00bin\xff"
    assert dst.lrange("list", 0, -1) == [b"c", b"a", b"b", b"a"]
    assert dst.smembers("set") == {b"x", b"y", b"z"}
    assert dst.hgetall("hash") == {b"f1": b"v1", b"f2": b"\x00"}
    assert dst.zrange("zset", 0, -1, withscores=True) == [
        (b"ninf", float("-inf")), (b"tiny", -2.5e-10), (b"tenth", 0.1), (b"int", 3.0), (b"big", 1e300),
        (b"inf", float("inf"))]
    assert 90_000 < dst.pttl("hash") <= 100_000
    assert dst.pttl("str") == -1


ALL = ["str", "list", "set", "hash", "zset"]


# --- Redis semantics (source: xcache and redis-server) ----------------------------------------

def test_all_types_move_with_keys_form(r, t):
    fill_all_types(r)
    assert r.execute_command("MIGRATE", "127.0.0.1", port_of(t), "", 0, 5000, "KEYS", *ALL, "absent") == b"OK"
    assert r.exists(*ALL) == 0
    assert_all_types(t)


def test_single_key_form_and_nokey(r, t):
    r.set("k", "v")
    assert r.execute_command("MIGRATE", "127.0.0.1", port_of(t), "k", 0, 1000) == b"OK"
    assert t.get("k") == b"v" and not r.exists("k")
    # Gone here now: NOKEY, even when the target is unreachable (checked before connecting).
    assert r.execute_command("MIGRATE", "127.0.0.1", port_of(t), "k", 0, 1000) == b"NOKEY"
    assert r.execute_command("MIGRATE", "127.0.0.1", free_port(), "", 0, 1000, "KEYS", "a", "b") == b"NOKEY"


def test_busykey_replace_and_copy(r, t):
    r.set("k", "new")
    t.set("k", "old")
    with pytest.raises(redis.ResponseError) as err:
        r.execute_command("MIGRATE", "127.0.0.1", port_of(t), "k", 0, 1000)
    assert str(err.value) == "Target instance replied with error: BUSYKEY Target key name already exists."
    assert r.get("k") == b"new" and t.get("k") == b"old"
    assert r.execute_command("MIGRATE", "127.0.0.1", port_of(t), "k", 0, 1000, "COPY", "REPLACE") == b"OK"
    assert r.get("k") == b"new" and t.get("k") == b"new"
    r.rpush("l", "1", "2")
    t.rpush("l", "x")
    assert r.execute_command("MIGRATE", "127.0.0.1", port_of(t), "l", 0, 1000, "REPLACE") == b"OK"
    assert t.lrange("l", 0, -1) == [b"1", b"2"] and not r.exists("l")


def test_keys_form_moves_the_others_when_one_is_busy(r, t):
    r.mset({"a": "1", "b": "2", "c": "3"})
    t.set("b", "x")
    with pytest.raises(redis.ResponseError, match="BUSYKEY"):
        r.execute_command("MIGRATE", "127.0.0.1", port_of(t), "", 0, 1000, "KEYS", "a", "b", "c")
    assert r.keys("*") == [b"b"]
    assert t.mget("a", "b", "c") == [b"1", b"x", b"3"]


def test_destination_db(r, t):
    r.set("k", "v")
    assert r.execute_command("MIGRATE", "127.0.0.1", port_of(t), "k", 3, 0) == b"OK"
    assert connect(port_of(t), db=3).get("k") == b"v" and t.get("k") is None
    r.set("k", "v2")
    with pytest.raises(redis.ResponseError) as err:
        r.execute_command("MIGRATE", "127.0.0.1", port_of(t), "k", 99, 1000)
    assert str(err.value) == "Target instance replied with error: ERR DB index is out of range"
    assert r.get("k") == b"v2"


def test_auth_to_a_password_protected_target(r, tmp_path):
    node = start_redis(tmp_path, "--requirepass", PW)
    try:
        r.set("k", "v")
        with pytest.raises(redis.ResponseError) as err:
            r.execute_command("MIGRATE", "127.0.0.1", node.port, "k", 0, 1000)
        assert str(err.value) == "Target instance replied with error: NOAUTH Authentication required."
        with pytest.raises(redis.ResponseError, match="^Target instance replied with error: WRONGPASS"):
            r.execute_command("MIGRATE", "127.0.0.1", node.port, "k", 0, 1000, "AUTH", "wrong")
        assert r.get("k") == b"v"
        assert r.execute_command("MIGRATE", "127.0.0.1", node.port, "k", 0, 1000, "AUTH", PW) == b"OK"
        r.set("k2", "v2")
        assert r.execute_command("MIGRATE", "127.0.0.1", node.port, "k2", 0, 1000, "AUTH2", "default", PW) == b"OK"
        assert connect(node.port, password=PW).mget("k", "k2") == [b"v", b"v2"]
    finally:
        node.stop()


def test_unreachable_target_is_an_ioerr_and_the_key_stays(r):
    r.set("k", "v")
    with pytest.raises(redis.ResponseError) as err:
        r.execute_command("MIGRATE", "127.0.0.1", free_port(), "k", 0, 200)
    assert str(err.value).startswith("IOERR error or timeout")
    assert r.get("k") == b"v"


@pytest.mark.parametrize(("args", "error"), [
    (["127.0.0.1", "1", "k", "0"], "wrong number of arguments for 'migrate' command"),
    (["127.0.0.1", "1", "k", "0", "1000", "BOGUS"], "syntax error"),
    (["127.0.0.1", "1", "k", "0", "1000", "AUTH"], "syntax error"),
    (["127.0.0.1", "1", "k", "0", "1000", "AUTH2", "user"], "syntax error"),
    (["127.0.0.1", "1", "k", "0", "1000", "KEYS", "a"],
     "When using MIGRATE KEYS option, the key argument must be set to the empty string"),
    (["127.0.0.1", "1", "k", "0", "soon"], "value is not an integer or out of range"),
    (["127.0.0.1", "1", "k", "x", "1000"], "value is not an integer or out of range"),
])
def test_bad_arguments(r, args, error):
    r.set("k", "v")
    with pytest.raises(redis.ResponseError) as err:
        r.execute_command("MIGRATE", *args)
    assert str(err.value) == error
    assert r.get("k") == b"v"


# --- xcache only ------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["redis", "xcache"])
def test_xcache_to_redis_and_xcache(x, kind, target_node, xtarget_node):
    dst = connect((target_node if kind == "redis" else xtarget_node).port)
    dst.flushall()
    fill_all_types(x)
    assert x.execute_command("MIGRATE", "127.0.0.1", port_of(dst), "", 0, 5000, "KEYS", *ALL) == b"OK"
    assert x.exists(*ALL) == 0
    assert_all_types(dst)


def fill_big(src: redis.Redis, n: int) -> None:
    step = 10_000
    for i in range(0, n, step):
        pipe = src.pipeline(transaction=False)
        pipe.hset("bighash", mapping={f"f{j}": f"v{j}" for j in range(i, i + step)})
        pipe.zadd("bigzset", {f"m{j}": j / 7 for j in range(i, i + step)})
        pipe.rpush("biglist", *(f"e{j}" for j in range(i, i + step)))
        pipe.execute()


def test_big_keys_move_in_chunks_while_the_node_keeps_answering(x, xtarget_node):
    n = 100_000
    fill_big(x, n)
    x.pexpire("bigzset", 200_000)
    dst = connect(xtarget_node.port)
    dst.flushall()
    result = {}
    mover = threading.Thread(target=lambda: result.setdefault("reply", connect(port_of(x)).execute_command(
        "MIGRATE", "127.0.0.1", xtarget_node.port, "", 0, 5000, "KEYS", "bighash", "bigzset", "biglist")))
    mover.start()
    other = connect(port_of(x))
    pings = answered_while_migrating = 0
    while mover.is_alive():
        assert other.ping()
        pings += 1
        if other.info("migrate")["migrate_in_progress"]:
            answered_while_migrating += 1
    mover.join()
    assert result["reply"] == b"OK"
    assert answered_while_migrating > 0, f"no INFO answered during the move ({pings} pings)"
    assert x.exists("bighash", "bigzset", "biglist") == 0
    assert dst.hlen("bighash") == n and dst.hget("bighash", "f99999") == b"v99999"
    assert dst.hgetall("bighash") == {f"f{j}".encode(): f"v{j}".encode() for j in range(n)}
    assert dst.zrange("bigzset", 0, -1, withscores=True) == [(f"m{j}".encode(), j / 7) for j in range(n)]
    assert 100_000 < dst.pttl("bigzset") <= 200_000
    assert dst.lrange("biglist", 0, -1) == [f"e{j}".encode() for j in range(n)]


def test_a_write_to_a_key_being_migrated_waits_and_is_not_lost(x, xtarget_node):
    n = 50_000
    x.rpush("L", *(f"e{j}" for j in range(n)))
    dst = connect(xtarget_node.port)
    dst.flushall()
    replies = {}

    def run(name, *cmd):
        replies[name] = connect(port_of(x)).execute_command(*cmd)

    mover = threading.Thread(target=run, args=("first", "MIGRATE", "127.0.0.1", xtarget_node.port, "L", 0, 5000))
    mover.start()
    wait_until(lambda: x.info("migrate")["migrate_in_progress"] or not mover.is_alive(), what="migration",
               interval=0.001)
    # A write and a second MIGRATE of the key (to db 1) arrive while it is being moved.
    writers = [threading.Thread(target=run, args=("push", "RPUSH", "L", "extra")),
               threading.Thread(target=run, args=("second", "MIGRATE", "127.0.0.1", xtarget_node.port, "L", 1, 5000))]
    for w in writers:
        w.start()
    for w in [mover, *writers]:
        w.join()
    assert replies["first"] == b"OK"
    assert dst.lrange("L", 0, -1) == [f"e{j}".encode() for j in range(n)]  # intact, no "extra"
    assert replies["push"] == 1  # it waited for the move, then created a new list (Redis semantics)
    if replies["second"] == b"NOKEY":  # it ran before the push
        assert x.lrange("L", 0, -1) == [b"extra"]
    else:  # it ran after the push and moved the new list
        assert replies["second"] == b"OK" and not x.exists("L")
        assert connect(xtarget_node.port, db=1).lrange("L", 0, -1) == [b"extra"]


def test_replicas_see_the_del_and_metrics_count(tmp_path, target_node):
    metrics_port = free_port()
    src = start_xcache_server(tmp_path / "m", "--set", f"metrics_port={metrics_port}")
    rep = start_xcache_server(tmp_path / "r", "--replicaof", f"127.0.0.1 {src.port}")
    try:
        m, replica = connect(src.port), connect(rep.port)
        connect(target_node.port).flushall()
        m.mset({"a": "1", "b": "2", "c": "3"})
        m.hset("h", mapping={f"f{j}": j for j in range(2500)})  # bigger than a chunk
        wait_until(lambda: replica.exists("a", "b", "c", "h") == 4, what="replica sync")
        reply = m.execute_command("MIGRATE", "127.0.0.1", target_node.port, "", 0, 5000, "KEYS", "a", "b", "h")
        assert reply == b"OK"
        wait_until(lambda: replica.exists("a", "b", "h") == 0, what="DEL replicated")
        assert replica.get("c") == b"3"
        info = m.info("migrate")
        assert info["migrate_keys_total"] == 3 and info["migrate_bytes_total"] > 2500 * 6
        assert info["migrate_in_progress"] == 0
        body = wait_until(lambda: httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text,
                          what="metrics endpoint")
        assert "xcache_server_migrate_keys_total 3.0" in body
        assert f"xcache_server_migrate_bytes_total {float(info['migrate_bytes_total'])}" in body
    finally:
        rep.stop()
        src.stop()


def test_migrate_is_refused_inside_multi(x):
    pipe = x.pipeline(transaction=True)
    pipe.execute_command("MIGRATE", "127.0.0.1", 1, "k", 0, 1000)
    with pytest.raises(redis.ResponseError, match="not allowed inside a transaction|EXECABORT"):
        pipe.execute()


def test_slotshashkey(x):
    keys = [b"a", b"b", b"user:1000", b"{user}:1", b"x{user}y", b"{}", b"{", b"", b"\xff\x00"]
    assert x.execute_command("SLOTSHASHKEY", *keys) == [slot_of(k) for k in keys]
    assert x.execute_command("SLOTSHASHKEY") == []
