"""Replication between real `xcache server` processes: full and partial resync, the write stream,
promotion, rejoin, restart, INFO/ROLE formats, WAIT, and discovery by a real Redis Sentinel."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import pytest
import redis

from tests.procs import Proc, free_port, wait_for_port, wait_until
from tests.store.cluster import assert_replicated, client, wait_synced


def link_up(node: Proc) -> bool:
    return client(node).info("replication").get("master_link_status") == "up"


def stats(node: Proc) -> dict:
    return client(node).info("stats")


def dump_all(node: Proc, dbs=(0,)) -> dict:
    """Every key of dbs with its type, value and (rounded) absolute expiry."""
    out = {}
    for db in dbs:
        r = client(node, db)
        for key in r.scan_iter(count=1000):
            t = r.type(key).decode()
            if t == "string":
                value = r.get(key)
            elif t == "hash":
                value = r.hgetall(key)
            elif t == "set":
                value = r.smembers(key)
            elif t == "list":
                value = r.lrange(key, 0, -1)
            elif t == "zset":
                value = r.zrange(key, 0, -1, withscores=True)
            else:
                value = None
            out[(db, key)] = (t, value, r.pexpiretime(key))
    return out


def has_command(r: redis.Redis, name: str) -> bool:
    """Other data types are being written in parallel: use them when they exist."""
    try:
        r.execute_command(name)  # too few arguments: an arity error if the command exists
    except redis.ResponseError as exc:
        return "unknown command" not in str(exc)
    return True


def fill(r: redis.Redis, prefix: str = "") -> None:
    """Some data of every type the node supports, some with TTLs."""
    r.set(f"{prefix}s", "v")
    r.set(f"{prefix}s_ttl", "v", ex=1000)
    r.set(f"{prefix}n", 10)
    r.hset(f"{prefix}h", mapping={"a": "1", "b": "2"})
    r.sadd(f"{prefix}set", "x", "y", "z")
    r.expire(f"{prefix}set", 500)
    if has_command(r, "rpush"):
        r.rpush(f"{prefix}l", "1", "2", "3")
        r.pexpire(f"{prefix}l", 700_000)
    if has_command(r, "zadd"):
        r.zadd(f"{prefix}z", {"m1": 1.5, "m2": -2})


# --- full sync and the write stream -----------------------------------------------------------


def test_full_sync_of_all_types_with_ttls(cluster):
    m = cluster.node()
    rm = client(m)
    fill(rm)
    fill(client(m, 7), "db7:")
    big = "x" * 100_000
    with rm.pipeline(transaction=False) as p:  # a few MB: the snapshot goes in many chunks
        for i in range(60):
            p.set(f"big:{i}", big)
        p.execute()
    r = cluster.replica_of(m)
    assert dump_all(r, (0, 7)) == dump_all(m, (0, 7))
    assert client(r).ttl("s_ttl") > 990
    assert stats(m)["sync_full"] == 1
    info = client(m).info("replication")
    assert info["connected_slaves"] == 1
    assert info["slave0"]["state"] == "online" and info["slave0"]["port"] == r.port


def test_writes_made_during_the_snapshot_are_not_lost(cluster):
    m = cluster.node()
    rm = client(m)
    with rm.pipeline(transaction=False) as p:
        for i in range(200):
            p.set(f"pre:{i}", "y" * 20_000)
        p.execute()
    rep = cluster.node()
    client(rep).replicaof("127.0.0.1", m.port)
    for i in range(300):  # racing the checkpoint, the tar and the transfer
        rm.incr("counter")
        rm.set(f"during:{i}", i)
    wait_synced(m, rep)
    assert client(rep).get("counter") == b"300"
    assert client(rep).get("during:299") == b"299"
    assert client(rep).dbsize() == rm.dbsize()


def test_stream_select_expire_and_incrbyfloat(cluster):
    m = cluster.node()
    r = cluster.replica_of(m)
    rm0, rm5 = client(m), client(m, 5)
    rm0.set("k", "1")
    rm5.set("k5", "five")
    rm0.expire("k", 100)
    rm0.set("f", "1.5")
    rm0.incrbyfloat("f", "0.25")
    rm5.delete("k5")
    rm5.hset("h5", "a", "b")
    wait_synced(m, r)
    assert client(r).get("k") == b"1"
    assert client(r).pexpiretime("k") == rm0.pexpiretime("k")  # absolute: PEXPIREAT in the stream
    assert client(r).get("f") == b"1.75"
    assert client(r, 5).get("k5") is None
    assert client(r, 5).hgetall("h5") == {b"a": b"b"}


def read_stream(sock: socket.socket, want: int) -> list[list[bytes]]:
    """Read RESP commands from a raw replication socket until `want` commands arrived."""
    import hiredis

    reader = hiredis.Reader()
    out: list = []
    deadline = time.monotonic() + 10
    while len(out) < want and time.monotonic() < deadline:
        reader.feed(sock.recv(65536))
        while (item := reader.gets()) is not False:
            out.append(item)
    return out


def test_blocking_pop_served_later_is_replicated(cluster):
    import threading

    m = cluster.node()
    r = cluster.replica_of(m)
    if not has_command(client(m), "blpop"):
        pytest.skip("lists not available yet")
    result = []
    blocked = threading.Thread(target=lambda: result.append(client(m).blpop(["q"], 10)))
    blocked.start()
    wait_until(lambda: client(m).info("clients")["blocked_clients"] == 1, what="a blocked client")
    client(m).rpush("q", "a", "b")
    blocked.join(10)
    assert result == [(b"q", b"a")]
    wait_synced(m, r)
    assert client(r).lrange("q", 0, -1) == client(m).lrange("q", 0, -1) == [b"b"]


def test_stream_bytes_are_redis_commands(cluster):
    """A hand-made replica: PSYNC at the master's offset gets +CONTINUE and the exact stream."""
    m = cluster.node()
    cluster.replica_of(m)  # creates the backlog
    rm = client(m)
    info = rm.info("replication")
    with socket.create_connection(("127.0.0.1", m.port), timeout=10) as s:
        s.sendall(
            b"PSYNC %s %d\r\n" % (info["master_replid"].encode(), info["master_repl_offset"] + 1)
        )
        line = b""
        while not line.endswith(b"\r\n"):
            line += s.recv(1)
        assert line == b"+CONTINUE %s\r\n" % info["master_replid"].encode()
        client(m, 2).expire("nokey", 10)  # no key, no change: not in the stream, as Redis
        client(m, 2).set("a", "1")
        client(m, 2).expire("a", 100)
        client(m, 2).incrbyfloat("a", "0.5")
        client(m, 2).set("b", "1", ex=100)
        client(m, 2).setex("c", 100, "1")
        cmds = [c for c in read_stream(s, 6) if c[0] != b"PING"]
    assert cmds[0] == [b"SELECT", b"2"]
    assert [cmds[1][0].upper(), *cmds[1][1:]] == [b"SET", b"a", b"1"]
    assert cmds[2][0] == b"PEXPIREAT" and cmds[2][1] == b"a"
    assert cmds[3] == [b"SET", b"a", b"1.5", b"KEEPTTL"]
    pxat = str(client(m, 2).pexpiretime("b")).encode()
    assert [cmds[4][0].upper(), *cmds[4][1:]] == [b"SET", b"b", b"1", b"PXAT", pxat]
    assert cmds[5] == [b"SET", b"c", b"1", b"PXAT", str(client(m, 2).pexpiretime("c")).encode()]
    assert stats(m)["sync_partial_ok"] == 1


def test_replica_rejects_writes_but_serves_reads(cluster):
    m = cluster.node()
    client(m).set("k", "v")
    r = cluster.replica_of(m)
    with pytest.raises(redis.ReadOnlyError, match="You can't write against a read only replica"):
        client(r).set("k", "w")
    with pytest.raises(redis.ReadOnlyError):
        client(r).hset("h", "a", "b")
    assert client(r).get("k") == b"v"


def test_replica_waits_out_write_stalls_without_dropping_writes(cluster):
    """Tiny memtables and a flush rate limit make the replica's RocksDB stall while it applies;
    with a 1 ms stall deadline every stall ends in -BUSY internally, and apply must retry."""
    m = cluster.node()
    r = cluster.replica_of(
        m,
        "--set",
        "rocksdb_write_buffer_bytes=65536",
        "--set",
        "rocksdb_max_write_buffer_number=2",
        "--set",
        "rocksdb_rate_limit_bytes_per_sec=262144",
        "--set",
        "write_stall_timeout_ms=1",
    )
    rm = client(m)
    for batch in range(100):
        with rm.pipeline(transaction=False) as p:
            for i in range(20):
                p.set(f"k{batch}:{i}", b"x" * 1000)
            p.execute()
    wait_until(
        lambda: client(r).info("storage")["stalled_writes_total"] > 0, what="a replica stall"
    )
    assert client(r).ping()  # stalled, not hung
    wait_synced(m, r, timeout=60)
    assert client(r).info("storage")["stall_rejected_writes_total"] > 0  # the -BUSY path was taken
    assert client(r).dbsize() == 2000
    assert client(r).get("k99:19") == b"x" * 1000


# --- partial resync, promotion, rejoin, restart -----------------------------------------------


def test_partial_resync_after_the_link_is_killed(cluster):
    m = cluster.node()
    r = cluster.replica_of(m)
    rm, rr = client(m), client(r)
    rm.set("before", "1")
    wait_synced(m, r)
    assert rr.client_list(_type="master")[0]["flags"] == "M"
    assert client(m).client_list(_type="replica")[0]["flags"] == "S"
    assert rr.client_kill_filter(_type="master") == 1
    rm.set("during", "2")  # the replica may or may not be linked: either way it must arrive
    wait_until(lambda: stats(m)["sync_partial_ok"] == 1, what="partial resync")
    rm.set("after", "3")
    wait_synced(m, r)
    assert stats(m)["sync_full"] == 1  # only the first sync was full
    assert [rr.get(k) for k in ("before", "during", "after")] == [b"1", b"2", b"3"]
    # The same through the master side: CLIENT KILL TYPE replica.
    assert rm.client_kill_filter(_type="replica") == 1
    wait_until(lambda: stats(m)["sync_partial_ok"] == 2, what="second partial resync")


def test_promotion_keeps_data_and_replicas_follow_with_partial_resync(cluster):
    m = cluster.node()
    a = cluster.replica_of(m)
    b = cluster.replica_of(m)
    fill(client(m))
    wait_synced(m, a)
    wait_synced(m, b)
    before = dump_all(m)
    # m pings its replicas into the stream (every 0.75 s here): frozen, it sends nothing more,
    # so a and b end at the same offset and b's PSYNC to a is a partial one
    m.signal(signal.SIGSTOP)
    try:
        offset = lambda n: client(n).info("replication")["master_repl_offset"]  # noqa: E731
        wait_until(lambda: offset(a) == offset(b), what="both replicas at m's last offset")
        old = client(a).info("replication")

        # Promote a.
        assert client(a).replicaof("NO", "ONE") == b"OK"
        info = client(a).info("replication")
        assert info["role"] == "master"
        assert info["master_replid2"] == old["master_replid"]
        assert info["second_repl_offset"] == old["master_repl_offset"] + 1
        assert info["master_replid"] != old["master_replid"]
        assert dump_all(a) == before
        client(a).set("new", "on-a")

        # b follows a with a partial resync (a's history continues m's).
        client(b).replicaof("127.0.0.1", a.port)
        wait_synced(a, b)
        assert stats(a)["sync_partial_ok"] == 1 and stats(a)["sync_full"] == 0
        assert client(b).get("new") == b"on-a"
        assert (
            client(b).info("replication")["master_replid"]
            == client(a).info("replication")["master_replid"]
        )
    finally:
        m.signal(signal.SIGCONT)

    # The old master took writes a never saw; told to follow a, it ends with exactly a's data.
    client(m).set("lost", "only-on-old-master")
    client(m).replicaof("127.0.0.1", a.port)
    wait_synced(a, m)
    assert stats(a)["sync_full"] == 1
    assert client(m).get("lost") is None
    assert dump_all(m) == dump_all(a)
    client(a).set("later", "x")
    wait_synced(a, m)
    wait_synced(a, b)
    assert client(m).get("later") == client(b).get("later") == b"x"
    assert client(a).info("replication")["connected_slaves"] == 2


def test_old_master_without_extra_writes_resumes_partially(cluster):
    m = cluster.node()
    a = cluster.replica_of(m)
    client(m).set("k", "v")
    wait_synced(m, a)
    client(a).replicaof("NO", "ONE")
    client(m).replicaof("127.0.0.1", a.port)  # same history up to the switch: +CONTINUE
    wait_synced(a, m)
    assert stats(a)["sync_partial_ok"] == 1 and stats(a)["sync_full"] == 0
    assert_replicated(a, m, "k2", "v2")


def test_chained_replica(cluster):
    m = cluster.node()
    a = cluster.replica_of(m)
    b = cluster.replica_of(a)  # a serves b from its own snapshot and forwards m's stream
    client(m).set("k", "v")
    client(m, 3).hset("h", "f", "v")
    wait_synced(m, a)
    wait_synced(a, b)
    assert client(b).get("k") == b"v" and client(b, 3).hgetall("h") == {b"f": b"v"}
    assert (
        client(b).info("replication")["master_replid"]
        == client(m).info("replication")["master_replid"]
    )


def test_replica_killed_and_restarted_resyncs(cluster, tmp_path):
    m = cluster.node()
    data = tmp_path / "replica-data"
    port = free_port()
    r = cluster.node("--replicaof", f"127.0.0.1 {m.port}", port=port, data_dir=data)
    client(m).set("a", "1")
    wait_synced(m, r)
    r.kill9()
    client(m).set("b", "2")
    client(m).delete("a")
    r2 = cluster.node("--replicaof", f"127.0.0.1 {m.port}", port=port, data_dir=data)
    wait_synced(m, r2)
    assert client(r2).get("a") is None and client(r2).get("b") == b"2"
    assert stats(m)["sync_full"] == 2


def test_link_down_is_reported_and_recovers(cluster):
    m = cluster.node()
    port = m.port
    r = cluster.replica_of(m)
    m.stop()
    info = wait_until(
        lambda: (i := client(r).info("replication"))["master_link_status"] == "down" and i,
        what="link down",
    )
    assert info["master_link_down_since_seconds"] >= 0
    assert info["master_last_io_seconds_ago"] == -1
    assert client(r).role()[3] in (b"connect", b"connecting")
    m2 = cluster.node(port=port, data_dir=Path(m.args[m.args.index("--dir") + 1]))
    # a master that had replicas restarts fenced (store/fence.py) until its role is confirmed
    client(m2).execute_command("REPLICAOF", "NO", "ONE")
    assert_replicated(m2, r, "x", "y")


def test_replica_detects_a_silent_master_by_timeout(cluster):
    import signal

    m = cluster.node()
    r = cluster.replica_of(m)
    m.signal(signal.SIGSTOP)
    try:
        wait_until(lambda: not link_up(r), timeout=15, what="timeout of a stopped master")
    finally:
        m.signal(signal.SIGCONT)
    wait_until(lambda: link_up(r), what="link back up")


# --- INFO / ROLE / WAIT -----------------------------------------------------------------------


def test_info_and_role_formats_parse_in_redis_py(cluster):
    m = cluster.node()
    r = cluster.replica_of(m, "--set", "replica_priority=42")
    client(m).set("k", "v")
    wait_until(
        lambda: (
            client(m).info("replication")["slave0"]["offset"]
            == client(m).info("replication")["master_repl_offset"]
        ),
        what="ack",
    )
    mi, ri = client(m).info("replication"), client(r).info("replication")
    assert mi["role"] == "master" and mi["connected_slaves"] == 1
    assert set(mi["slave0"]) == {"ip", "port", "state", "offset", "lag"}
    assert mi["slave0"]["ip"] == "127.0.0.1" and mi["slave0"]["port"] == r.port
    for key in (
        "master_failover_state",
        "master_replid",
        "master_replid2",
        "master_repl_offset",
        "second_repl_offset",
        "repl_backlog_active",
        "repl_backlog_size",
        "repl_backlog_first_byte_offset",
        "repl_backlog_histlen",
    ):
        assert key in mi and key in ri
    assert (
        ri["role"] == "slave" and ri["master_host"] == "127.0.0.1" and ri["master_port"] == m.port
    )
    assert ri["master_link_status"] == "up" and ri["master_sync_in_progress"] == 0
    assert (
        ri["slave_priority"] == 42 and ri["slave_read_only"] == 1 and ri["replica_announced"] == 1
    )
    assert ri["slave_repl_offset"] == mi["master_repl_offset"] == ri["master_repl_offset"]
    assert "master_link_down_since_seconds" not in ri
    assert client(m).role() == [
        b"master",
        mi["master_repl_offset"],
        [[b"127.0.0.1", str(r.port).encode(), str(mi["master_repl_offset"]).encode()]],
    ]
    assert client(r).role() == [
        b"slave",
        b"127.0.0.1",
        m.port,
        b"connected",
        ri["slave_repl_offset"],
    ]
    assert {"sync_full", "sync_partial_ok", "sync_partial_err"} <= set(stats(m))


def test_wait(cluster):
    m = cluster.node()
    cluster.replica_of(m)
    rm = client(m)
    rm.set("k", "v")
    assert rm.wait(1, 5000) == 1
    started = time.monotonic()
    assert rm.wait(2, 200) == 1  # only one replica: times out
    assert time.monotonic() - started >= 0.15
    assert rm.wait(0, 0) >= 0


def test_replicaof_errors_and_idempotence(cluster):
    m = cluster.node()
    r = cluster.replica_of(m)
    assert client(r).replicaof("127.0.0.1", m.port) == b"OK Already connected to specified master"
    with pytest.raises(redis.ResponseError):
        client(r).replicaof("127.0.0.1", "notaport")
    assert client(m).replicaof("NO", "ONE") == b"OK"  # already a master: no-op
    assert client(r).config_get("replicaof") == {"replicaof": f"127.0.0.1 {m.port}"}
    assert client(r).execute_command("SLAVEOF", "NO", "ONE")
    assert client(r).info("replication")["role"] == "master"
    assert client(r).config_get("replicaof") == {"replicaof": ""}  # what CONFIG REWRITE saves


def test_masterauth(cluster):
    m = cluster.node("--requirepass", "s3cret")
    r = cluster.node("--replicaof", f"127.0.0.1 {m.port}", "--set", "masterauth=s3cret")
    rm = redis.Redis(port=m.port, password="s3cret", protocol=2)
    rm.set("k", "v")
    wait_until(lambda: client(r).get("k") == b"v", what="authenticated replication")


# --- real Redis Sentinel ----------------------------------------------------------------------


def test_real_redis_sentinel_discovers_the_replica(cluster, tmp_path):
    m = cluster.node()
    r = cluster.replica_of(m)
    port = free_port()
    conf = tmp_path / "sentinel.conf"
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor mymaster 127.0.0.1 {m.port} 1\n"
        "sentinel down-after-milliseconds mymaster 5000\n"
    )
    sentinel = Proc(
        ["redis-server", str(conf), "--sentinel"], port, stderr_path=str(tmp_path / "sentinel.log")
    )
    cluster.procs.append(sentinel)
    wait_for_port(port)
    s = redis.Redis(port=port, protocol=2, decode_responses=True)

    def replica_seen():
        for entry in s.execute_command("SENTINEL", "REPLICAS", "mymaster"):
            fields = dict(zip(entry[::2], entry[1::2], strict=True))
            if (
                fields["port"] == str(r.port)
                and "disconnected" not in fields["flags"]
                and fields["master-link-status"] == "ok"
            ):
                return fields
        return None

    fields = wait_until(replica_seen, timeout=30, what="sentinel discovering the replica")
    assert fields["slave-priority"] == "100"
    master = dict(
        zip(*[iter(s.execute_command("SENTINEL", "MASTER", "mymaster"))] * 2, strict=True)
    )
    assert master["flags"] == "master" and master["num-slaves"] == "1"

    # A forced failover driven by real Sentinel: MULTI/SLAVEOF NO ONE/CONFIG REWRITE/CLIENT KILL/
    # EXEC on the replica, then SLAVEOF on the old master once it is seen as a stale master.
    client(m).set("k", "v")
    wait_synced(m, r)
    assert s.execute_command("SENTINEL", "FAILOVER", "mymaster") == "OK"
    wait_until(
        lambda: (
            s.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")[1] == str(r.port)
        ),
        timeout=30,
        what="switch-master",
    )
    wait_synced(r, m, timeout=40)  # the old master is reconfigured as a replica of the new one
    assert client(r).get("k") == b"v" and client(r).info("replication")["role"] == "master"
    assert stats(r)["sync_partial_ok"] == 1  # same history: the old master resumed partially


def test_blocking_pop_inside_exec_replicates_nothing(cluster):
    """A BLPOP that found nothing inside MULTI/EXEC wrote nothing: the replica must not apply it
    (it would block its stream forever)."""
    m = cluster.node()
    r = cluster.replica_of(m)
    with client(m).pipeline(transaction=True) as p:
        p.blpop("emptyq", 0)
        assert p.execute() == [None]
    assert_replicated(m, r, "after", "1")


# --- a redis-server replica of a node ---------------------------------------------------------


def test_a_redis_server_replica_syncs_from_an_rdb_and_resumes_partially(cluster, tmp_path):
    """Without xcache's snapshot capability (redis-server, redis-shake...), a full resync is the
    RDB SYNC sends, behind Redis's +FULLRESYNC line; the stream and +CONTINUE are Redis's."""
    from tests.procs import start_redis

    m = cluster.node()
    rm = client(m)
    fill(rm)
    fill(client(m, 7), "db7:")
    rm.xadd("st", {"f": "v"}, id="1-1")
    replica = start_redis(tmp_path, "--replicaof", "127.0.0.1", str(m.port))
    try:
        rr = redis.Redis(port=replica.port, protocol=2, socket_timeout=10)
        wait_until(lambda: rr.info("replication")["master_link_status"] == "up", what="link up")
        rm.set("live", "1")
        rm.hincrby("h", "a", 5)
        wait_until(lambda: rr.get("live") == b"1", what="the stream")
        assert dump_all(replica, (0, 7)) == dump_all(m, (0, 7))
        assert rr.xrange("st") == [(b"1-1", {b"f": b"v"})]
        assert stats(m)["sync_full"] == 1
        assert rm.info("replication")["slave0"]["port"] == replica.port
        # the link dropped: the replica resumes from the node's backlog
        assert rm.client_kill_filter(_type="replica") == 1
        rm.set("during", "2")
        wait_until(lambda: stats(m)["sync_partial_ok"] == 1, what="partial resync")
        wait_until(lambda: rr.get("during") == b"2", what="the resumed stream")
        assert stats(m)["sync_full"] == 1
    finally:
        replica.stop()


def test_an_xcache_replica_still_gets_a_checkpoint(cluster):
    m = cluster.node()
    client(m).set("k", "v")
    r = cluster.replica_of(m)
    assert client(r).get("k") == b"v"
    log = Path(m._stderr_path).read_text()
    assert "format=tar" in log and "format=rdb" not in log
