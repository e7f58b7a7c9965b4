"""The lean lane (xcache/store/fastpath.py) keeps every gate of the full dispatch.

Pipelined GET/SET (and the other common commands) skip Server.execute's checks while none
applies; a pipeline makes the node run them as one chunk with a group open, so the writes take
the lane too. Each test runs the same steps on an xcache node and on redis-server (`node`) with a
gate in force, and asserts what Redis does. Own servers (module scope): the tests change
configuration, ACL users and replication, restored in `finally`.
"""

from __future__ import annotations

import socket

import pytest
import redis

from tests.procs import proc_fixture, start_redis, start_xcache_server, wait_until

lean_xcache = proc_fixture(start_xcache_server, "lean-xcache", scope="module")
lean_redis = proc_fixture(start_redis, "lean-redis", scope="module")


@pytest.fixture(params=["xcache", "redis"])
def node(request):
    proc = request.getfixturevalue(f"lean_{request.param}")
    with redis.Redis(port=proc.port, socket_timeout=10) as admin:
        admin.flushall()
    return proc


def client(node, **kw) -> redis.Redis:
    return redis.Redis(port=node.port, socket_timeout=10, protocol=2, **kw)


def pipeline(cl: redis.Redis, *commands) -> list:
    """The raw replies of commands sent in one write (no redis-py callbacks), errors in place."""
    conn = cl.connection_pool.get_connection()
    try:
        conn.send_packed_command(conn.pack_commands(commands))
        out = []
        for _ in commands:
            try:
                out.append(conn.read_response())
            except redis.ResponseError as exc:
                out.append(exc)
        return out
    finally:
        cl.connection_pool.release(conn)


def expect(sock: socket.socket, want: bytes) -> None:
    got = b""
    while len(got) < len(want):
        chunk = sock.recv(65536)
        assert chunk, got
        got += chunk
    assert got == want


def errors(replies: list) -> list:
    """Replies with each error as the name of redis-py's class for its code."""
    return [type(r).__name__ if isinstance(r, redis.ResponseError) else r for r in replies]


def test_a_pipelined_set_fails_a_watchers_transaction(node):
    with client(node) as watcher, client(node) as writer:
        watcher_pipe = watcher.pipeline(transaction=True)
        watcher_pipe.watch("k")
        assert pipeline(writer, ("SET", "k", "v"), ("GET", "k"), ("SET", "other", "x")) == [b"OK", b"v", b"OK"]
        watcher_pipe.multi()
        watcher_pipe.set("k", "mine")
        with pytest.raises(redis.WatchError):
            watcher_pipe.execute()
        assert writer.get("k") == b"v"


def test_pipelined_commands_are_seen_by_monitor(node):
    with client(node) as cl, client(node) as mon_client:
        cl.ping()  # connected (and its HELLO sent) before MONITOR starts
        with mon_client.monitor() as mon:
            assert pipeline(cl, ("SET", "k", "v"), ("GET", "k"), ("HSET", "h", "f", "1")) == [b"OK", b"v", 1]
            seen = [mon.next_command()["command"] for _ in range(3)]
    assert seen == ["SET k v", "GET k", "HSET h f 1"]


def test_pipelined_writes_raise_keyspace_events(node):
    with client(node) as cl, client(node) as sub_client:
        sub = sub_client.pubsub()
        try:
            cl.config_set("notify-keyspace-events", "KA")
            sub.psubscribe("__keyspace@0__:*")
            assert sub.get_message(timeout=5)["type"] == "psubscribe"
            assert pipeline(cl, ("SET", "k", "v"), ("GET", "k"), ("LPUSH", "l", "a")) == [b"OK", b"v", 1]
            events = [sub.get_message(timeout=5) for _ in range(2)]
            assert [(e["channel"], e["data"]) for e in events] == [
                (b"__keyspace@0__:k", b"set"), (b"__keyspace@0__:l", b"lpush")]
        finally:
            cl.config_set("notify-keyspace-events", "")
            sub.close()


def test_acl_refuses_a_pipelined_command_the_user_lacks(node):
    with client(node) as admin:
        admin.execute_command("ACL", "SETUSER", "lean", "on", ">pw", "~*", "+@all", "-set")
        try:
            with client(node, username="lean", password="pw") as cl:
                replies = pipeline(cl, ("GET", "k"), ("SET", "k", "v"), ("GET", "k"), ("INCR", "n"))
            assert errors(replies) == [None, "NoPermissionError", None, 1]
            assert "no permissions to run the 'set' command" in str(replies[1])
        finally:
            admin.execute_command("ACL", "DELUSER", "lean")


def test_pipelined_commands_are_counted_timed_and_slow_logged(node):
    with client(node) as cl:
        cl.config_resetstat()
        cl.slowlog_reset()
        cl.config_set("slowlog-log-slower-than", "0")
        try:
            assert pipeline(cl, *[("SET", f"k{i}", "v") for i in range(5)], *[("GET", f"k{i}") for i in range(3)],
                            ("GET", "missing")) == [b"OK"] * 5 + [b"v"] * 3 + [None]
            entries = cl.slowlog_get(20)
        finally:
            cl.config_set("slowlog-log-slower-than", "10000")
        stats = cl.info("commandstats")
        assert stats["cmdstat_set"]["calls"] == 5
        assert stats["cmdstat_get"]["calls"] == 4
        latency = cl.info("latencystats")
        assert {"latency_percentiles_usec_set", "latency_percentiles_usec_get"} <= set(latency)
        logged = [e["command"] for e in entries]
        assert b"SET k4 v" in logged and b"GET missing" in logged
        info = cl.info("stats")
        assert (info["keyspace_hits"], info["keyspace_misses"]) == (3, 1)


def test_client_pause_write_holds_a_pipelined_set(node):
    with client(node) as cl, client(node) as admin, client(node) as reader:
        cl.set("k", "old")
        admin.execute_command("CLIENT", "PAUSE", "100000", "WRITE")
        try:
            conn = cl.connection_pool.get_connection()
            conn.send_packed_command(conn.pack_commands([("GET", "k"), ("SET", "k", "new")]))
            assert conn.read_response() == b"old"
            assert reader.get("k") == b"old"  # the SET waits while clients are paused
        finally:
            admin.execute_command("CLIENT", "UNPAUSE")
        assert conn.read_response() == b"OK"
        cl.connection_pool.release(conn)
        assert reader.get("k") == b"new"


def test_tracking_invalidates_keys_read_and_written_in_pipelines(node):
    with client(node) as tracked, client(node) as writer, client(node) as sink:
        sink_id = sink.client_id()
        sub = sink.pubsub()
        try:
            sub.subscribe("__redis__:invalidate")
            assert sub.get_message(timeout=5)["type"] == "subscribe"
            tracked.execute_command("CLIENT", "TRACKING", "on", "REDIRECT", sink_id)
            assert pipeline(tracked, ("SET", "a", "1"), ("GET", "a"), ("GET", "b")) == [b"OK", b"1", None]
            assert pipeline(writer, ("SET", "a", "2"), ("SET", "b", "2")) == [b"OK", b"OK"]
            got = [sub.get_message(timeout=5) for _ in range(2)]
            assert sorted(m["data"][0] for m in got) == [b"a", b"b"]
        finally:
            sub.close()


def test_gates_refuse_pipelined_commands_as_redis_does(node):
    with client(node) as cl:
        cl.set("k", "v")
        try:
            cl.config_set("min-replicas-to-write", "1")
            replies = pipeline(cl, ("GET", "k"), ("SET", "k", "w"), ("GET", "k"))
            assert errors(replies) == [b"v", "ResponseError", b"v"]
            assert str(replies[1]) == "NOREPLICAS Not enough good replicas to write."
        finally:
            cl.config_set("min-replicas-to-write", "0")
        try:
            cl.config_set("maxmemory", "1")  # below what either server uses: writes refused
            replies = pipeline(cl, ("GET", "k"), ("SET", "k", "w"), ("LPUSH", "l", "a"), ("DEL", "k2"))
            assert errors(replies) == [b"v", "OutOfMemoryError", "OutOfMemoryError", 0]
        finally:
            cl.config_set("maxmemory", "0")
        try:
            cl.execute_command("REPLICAOF", "127.0.0.1", "1")  # nobody there: a replica with its link down
            assert errors(pipeline(cl, ("GET", "k"), ("SET", "k", "w"), ("HSET", "h", "f", "1"))) == [
                b"v", "ReadOnlyError", "ReadOnlyError"]
        finally:
            cl.execute_command("REPLICAOF", "NO", "ONE")
    with socket.create_connection(("127.0.0.1", node.port), timeout=10) as sub:
        # RESP2, subscribed: only (un)subscribe commands, PING, QUIT and RESET may run
        sub.sendall(b"SUBSCRIBE ch\r\n")
        expect(sub, b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n")
        sub.sendall(b"GET k\r\nSET k w\r\n")
        expect(sub, b"-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET"
               b" are allowed in this context\r\n-ERR Can't execute 'set': only (P|S)SUBSCRIBE /"
               b" (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n")
    with client(node) as cl:
        assert cl.get("k") == b"v"


def test_a_pipelined_transaction_still_queues(node):
    with client(node) as cl:
        replies = pipeline(cl, ("SET", "k", "1"), ("MULTI",), ("SET", "k", "2"), ("GET", "k"), ("INCR", "k"),
                           ("EXEC",), ("GET", "k"))
        assert replies == [b"OK", b"OK", b"QUEUED", b"QUEUED", b"QUEUED", [b"OK", b"2", 3], b"3"]


def test_lone_reads_served_at_once_keep_the_gates(node):
    """A chunk of one read (a P=1 GET, HGET, EXISTS) skips the round and its group
    (Client._serve_read): with other clients connected, each command sent alone."""
    with client(node) as cl, client(node) as other, client(node) as mon_client:
        other.ping()
        cl.set("k", "v")
        cl.hset("h", "f", "1")
        cl.set("gone", "x", px=1)
        cl.lpush("l", "a")
        cl.config_resetstat()
        with mon_client.monitor() as mon:
            assert cl.get("k") == b"v"
            seen = mon.next_command()["command"]
        assert seen == "GET k"
        assert (cl.hget("h", "f"), cl.exists("k", "h", "nope"), cl.get("nope")) == (b"1", 2, None)
        with pytest.raises(redis.ResponseError, match="^WRONGTYPE"):
            cl.get("l")
        stats, info = cl.info("commandstats"), cl.info("stats")
        assert (stats["cmdstat_get"]["calls"], stats["cmdstat_get"]["failed_calls"]) == (3, 1)
        assert (stats["cmdstat_hget"]["calls"], stats["cmdstat_exists"]["calls"]) == (1, 1)
        # hits: GET k, HGET, EXISTS k h, GET l (found, then WRONGTYPE); misses: nope twice
        assert (info["keyspace_hits"], info["keyspace_misses"]) == (5, 2)
        wait_until(lambda: cl.get("gone") is None, what="the 1 ms TTL due")
        assert cl.info("stats")["expired_keys"] == 1
        assert other.exists("gone") == 0
        conn = cl.connection_pool.get_connection()
        try:  # each command alone: MULTI still queues the GET
            for cmd, want in ((("MULTI",), b"OK"), (("GET", "k"), b"QUEUED"), (("EXEC",), [b"v"])):
                conn.send_command(*cmd)
                assert conn.read_response() == want
        finally:
            cl.connection_pool.release(conn)
        cl.execute_command("ACL", "SETUSER", "lone", "on", ">pw", "~*", "+@all", "-get")
        try:
            with client(node, username="lone", password="pw") as limited:
                with pytest.raises(redis.exceptions.NoPermissionError):
                    limited.get("k")
                assert limited.hget("h", "f") == b"1"
        finally:
            cl.execute_command("ACL", "DELUSER", "lone")
