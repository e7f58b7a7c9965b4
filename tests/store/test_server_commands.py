"""Connection and server commands, transactions and pub/sub, against xcache and redis-server."""

import socket
import threading
from contextlib import contextmanager

import pytest
import redis

from tests.conftest import NOT_APPLICABLE
from tests.procs import read_until


@contextmanager
def one_connection(r):
    """A connection of r's pool, for commands sent one at a time with their raw replies."""
    conn = r.connection_pool.get_connection()
    try:
        yield conn
    finally:
        r.connection_pool.release(conn)


def call(conn, *args):
    """Send one command on conn and read its reply (an error reply raises)."""
    conn.send_command(*args)
    return conn.read_response()


def test_ping_echo_time(r):
    assert r.ping() is True
    with one_connection(r) as conn:
        assert call(conn, "ping", "hi") == b"hi"
    assert r.echo("hello") == b"hello"
    seconds, micros = r.time()
    assert seconds > 1_700_000_000 and 0 <= micros < 1_000_000
    with pytest.raises(redis.ResponseError, match="wrong number of arguments for 'ping' command"):
        r.execute_command("ping", "a", "b")


def test_unknown_command(r):
    with pytest.raises(redis.ResponseError, match="unknown command 'NOPE', with args beginning with: 'a' 'b'"):
        r.execute_command("NOPE", "a", "b")


def test_hello_resp2(r):
    reply = r.execute_command("hello", 2)
    fields = dict(zip(reply[::2], reply[1::2], strict=True))
    assert fields[b"proto"] == 2
    assert fields[b"role"] == b"master"
    with pytest.raises(redis.ResponseError, match="NOPROTO"):
        r.execute_command("hello", 4)


def test_info_sections(r):
    info = r.info()
    assert "redis_version" in info and "connected_clients" in info
    assert r.info("replication")["role"] == "master"
    assert "total_commands_processed" in r.info("stats")


def test_config_get_set(r):
    assert r.config_get("save") == {"save": ""}
    assert r.config_get("appendonly") == {"appendonly": "no"}
    r.config_set("maxclients", 5000)
    assert r.config_get("maxclients") == {"maxclients": "5000"}
    r.config_set("maxclients", 10000)
    with pytest.raises(redis.ResponseError, match="Unknown option"):
        r.config_set("no-such-option", 1)
    with pytest.raises(redis.ResponseError, match="unknown subcommand"):
        r.execute_command("config", "nope")


def test_client_commands(r):
    assert r.client_setname("worker-1") is True
    assert r.client_getname() in ("worker-1", b"worker-1")
    my_id = r.client_id()
    me = [c for c in r.client_list() if int(c["id"]) == my_id][0]
    assert me["name"] == "worker-1"
    with pytest.raises(redis.ResponseError, match="Client names cannot contain spaces"):
        r.client_setname("a b")
    other = redis.Redis(port=r.connection_pool.connection_kwargs["port"], protocol=2)
    other.ping()
    other_id = other.client_id()
    assert r.client_kill_filter(_id=other_id) == 1
    assert other_id not in {int(c["id"]) for c in r.client_list()}
    other.close()
    with pytest.raises(redis.ResponseError, match="No such client"):
        r.client_kill("1.2.3.4:5")


def test_client_kill_type_normal_skips_me(r):
    port = r.connection_pool.connection_kwargs["port"]
    others = [redis.Redis(port=port, protocol=2) for _ in range(3)]
    for o in others:
        o.ping()
    assert r.execute_command("client", "kill", "type", "normal") >= 3
    assert r.ping() is True
    for o in others:
        o.close()


def test_command_count_and_info(r):
    assert r.command_count() > 100
    with one_connection(r) as conn:
        info = call(conn, "command", "info", "get")
    assert info[0][0] == b"get" and info[0][1] == 2


def test_multi_exec(r):
    with r.pipeline(transaction=True) as p:
        p.set("a", "1").incr("a").get("a")
        assert p.execute() == [True, 2, b"2"]


def test_exec_errors(r):
    with pytest.raises(redis.ResponseError, match="EXEC without MULTI"):
        r.execute_command("exec")
    with pytest.raises(redis.ResponseError, match="DISCARD without MULTI"):
        r.execute_command("discard")


def test_execabort_on_queue_error(r):
    with one_connection(r) as conn:
        assert call(conn, "multi") == b"OK"
        with pytest.raises(redis.ResponseError, match="wrong number of arguments"):
            call(conn, "set", "k")
        with pytest.raises(redis.ResponseError, match="Transaction discarded because of previous errors"):
            call(conn, "exec")
    assert r.get("k") is None


def test_exec_runtime_error_does_not_abort(r):
    r.set("s", "x")
    with r.pipeline(transaction=True) as p:
        p.incr("s").set("t", "1")
        results = p.execute(raise_on_error=False)
    assert isinstance(results[0], redis.ResponseError) and results[1] is True


def test_watch(r):
    port = r.connection_pool.connection_kwargs["port"]
    other = redis.Redis(port=port, protocol=2)
    r.set("w", "1")
    with r.pipeline() as p:
        p.watch("w")
        other.set("w", "2")
        p.multi()
        p.set("w", "3")
        with pytest.raises(redis.WatchError):
            p.execute()
    assert r.get("w") == b"2"
    with r.pipeline() as p:
        p.watch("w")
        p.multi()
        p.set("w", "4")
        assert p.execute() == [True]
    assert r.get("w") == b"4"
    other.close()


def test_watch_inside_multi_and_nested_multi(r):
    with one_connection(r) as conn:
        call(conn, "multi")
        with pytest.raises(redis.ResponseError, match="WATCH inside MULTI is not allowed"):
            call(conn, "watch", "x")
        with pytest.raises(redis.ResponseError, match="MULTI calls can not be nested"):
            call(conn, "multi")
        assert call(conn, "discard") == b"OK"


def test_pubsub(r):
    port = r.connection_pool.connection_kwargs["port"]
    sub = redis.Redis(port=port, protocol=r.connection_pool.connection_kwargs["protocol"]).pubsub()
    sub.subscribe("news")
    sub.psubscribe("ne*")
    assert sub.get_message(timeout=5)["type"] == "subscribe"
    assert sub.get_message(timeout=5)["type"] == "psubscribe"
    assert r.publish("news", "hello") == 2
    got = [sub.get_message(timeout=5) for _ in range(2)]
    assert {(m["type"], m["data"]) for m in got} == {("message", b"hello"), ("pmessage", b"hello")}
    assert dict(r.pubsub_numsub("news")) == {b"news": 1}  # a map in RESP3
    assert r.pubsub_numpat() == 1
    assert b"news" in r.pubsub_channels()
    sub.unsubscribe("news")
    sub.punsubscribe("ne*")
    assert sub.get_message(timeout=5)["type"] == "unsubscribe"
    assert sub.get_message(timeout=5)["type"] == "punsubscribe"
    assert r.publish("news", "x") == 0
    sub.close()


def test_subscribed_client_may_only_run_pubsub_commands(r):
    if r.connection_pool.connection_kwargs["protocol"] == 3:
        pytest.skip(NOT_APPLICABLE + "RESP2 only: a RESP3 client may run any command while subscribed")
    conn = r.connection_pool.get_connection()
    try:
        call(conn, "subscribe", "c")
        with pytest.raises(redis.ResponseError, match="only .* allowed in this context"):
            call(conn, "get", "k")
        assert call(conn, "ping") == [b"pong", b""]
    finally:
        conn.disconnect()


def test_resp3_subscriber_runs_commands_between_pushes(r):
    """In RESP3 pub/sub confirmations and messages are pushes, and other commands still run."""
    port = r.connection_pool.connection_kwargs["port"]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"HELLO 3\r\n")
        assert read_until(s, b"$7\r\nmodules\r\n*0\r\n").startswith(b"%7\r\n")
        s.sendall(b"SUBSCRIBE c\r\nGET k\r\nPING\r\n")
        want = b">3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n_\r\n+PONG\r\n"
        assert read_until(s, b"+PONG\r\n") == want
        r.publish("c", "hi")
        want = b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$2\r\nhi\r\n"
        assert read_until(s, b"hi\r\n") == want
        s.sendall(b"HELLO 2\r\n")
        assert read_until(s, b"*0\r\n").startswith(b"*14\r\n")


def test_role_and_dbsize(r):
    assert r.role()[0] == b"master"
    r.set("a", 1)
    assert r.dbsize() == 1


def test_blocking_publish_from_thread(r):
    port = r.connection_pool.connection_kwargs["port"]
    sub = redis.Redis(port=port, protocol=2).pubsub(ignore_subscribe_messages=True)
    sub.subscribe("jobs")
    sub.get_message(timeout=1)
    t = threading.Thread(target=lambda: redis.Redis(port=port, protocol=2).publish("jobs", "j1"))
    t.start()
    t.join()
    msg = sub.get_message(timeout=5)
    assert msg["data"] == b"j1"
    sub.close()


@pytest.mark.parametrize(("args", "error"), [
    (["CONFIG", "bogus", "1"], "unknown subcommand 'bogus'. Try CONFIG HELP."),
    (["CONFIG", "GET"], "wrong number of arguments for 'config|get' command"),
    (["CLIENT", "bogus"], "unknown subcommand 'bogus'. Try CLIENT HELP."),
    (["CLIENT", "ID", "x"], "wrong number of arguments for 'client|id' command"),
    (["CLIENT", "Pause", "100", "WRITE", "x"],
     "unknown subcommand or wrong number of arguments for 'Pause'. Try CLIENT HELP."),
    (["COMMAND", "bogus"], "unknown subcommand 'bogus'. Try COMMAND HELP."),
    (["COMMAND", "COUNT", "x"], "wrong number of arguments for 'command|count' command"),
    (["MEMORY", "USAGE"], "wrong number of arguments for 'memory|usage' command"),
    (["MEMORY", "bogus"], "unknown subcommand 'bogus'. Try MEMORY HELP."),
    (["LATENCY", "HISTORY", "a", "b"], "wrong number of arguments for 'latency|history' command"),
    (["SLOWLOG", "LEN", "x"], "wrong number of arguments for 'slowlog|len' command"),
    (["SLOWLOG", "bogus"], "unknown subcommand 'bogus'. Try SLOWLOG HELP."),
    (["PUBSUB", "NUMPAT", "x"], "wrong number of arguments for 'pubsub|numpat' command"),
    (["PUBSUB", "bogus", "1"], "unknown subcommand 'bogus'. Try PUBSUB HELP."),
    (["SCRIPT", "DEBUG", "a", "b"], "wrong number of arguments for 'script|debug' command"),
])
def test_container_subcommand_errors(r, args, error):
    """Redis looks a subcommand up before its handler runs (issue 13: same errors as Redis 7)."""
    with pytest.raises(redis.ResponseError) as exc:
        r.execute_command(*args)
    assert str(exc.value) == error


@pytest.mark.parametrize("queued,error", [
    (["OBJECT", "nosuch", "k"], "unknown subcommand 'nosuch'. Try OBJECT HELP."),
    (["OBJECT", "ENCODING"], "wrong number of arguments for 'object|encoding' command"),
    (["CONFIG", "GET"], "wrong number of arguments for 'config|get' command"),
])
def test_subcommand_lookup_refuses_at_queueing(r, queued, error):
    """As Redis: an unknown subcommand or a wrong subcommand arity is refused when MULTI queues
    it, and EXEC then aborts."""
    with one_connection(r) as conn:
        assert call(conn, "MULTI") == b"OK"
        with pytest.raises(redis.ResponseError) as got:
            call(conn, *queued)
        assert str(got.value) == error  # redis-py drops the ERR code
        with pytest.raises(redis.exceptions.ExecAbortError, match="^Transaction discarded because of previous errors."):
            call(conn, "EXEC")


def test_argument_checks_in_redis_order(r):
    # Found by sending every command with the same argument patterns to redis-server and a node.
    r.set("k1", "v")
    with pytest.raises(redis.ResponseError, match="^syntax error$"):
        r.execute_command("MEMORY", "USAGE", "k1", "x", "y", "z")
    with pytest.raises(redis.ResponseError, match="^syntax error$"):
        r.execute_command("MEMORY", "USAGE", "k1", "SAMPLES")
    assert r.execute_command("MEMORY", "USAGE", "k1", "SAMPLES", "1", "SAMPLES", "2") > 0
    # EVALSHA: a digest that is not 40 characters long cannot match, whatever follows it.
    with pytest.raises(redis.exceptions.NoScriptError):
        r.execute_command("EVALSHA", "abc", "notanumber")
    with pytest.raises(redis.ResponseError, match="not an integer"):
        r.execute_command("EVALSHA", "a" * 40, "notanumber")
    # RESTORE-ASKING is RESTORE (cluster's variant) and is listed like it.
    with pytest.raises(redis.ResponseError, match="^BUSYKEY"):
        r.execute_command("RESTORE-ASKING", "k1", "0", "x")
    info = r.execute_command("COMMAND", "INFO", "restore-asking")["restore-asking"]
    assert (info["arity"], sorted(info["flags"])) == (-4, ["asking", "denyoom", "write"])
