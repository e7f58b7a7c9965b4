"""Commands the proxy answers itself (PING, CLIENT ...) show in SLOWLOG and LATENCY HISTOGRAM
as on redis-server; SLOWLOG may be queued in a transaction (one group)."""

from __future__ import annotations

import hashlib
import socket
import time

import pytest
import redis

from tests.store.test_querybuf import check_big_request_then_shrinks, check_idle_buffer_freed


def _client(port: int, protocol: int = 2) -> redis.Redis:
    return redis.Redis(port=port, socket_timeout=10, protocol=protocol)


@pytest.mark.parametrize("target", ["redis", "proxy"])
def test_pings_fill_the_slowlog_up_to_max_len(targets, target):
    c = _client(targets[target])
    try:
        c.config_set("slowlog-log-slower-than", 0)
        c.config_set("slowlog-max-len", 10)
        for _ in range(100):
            c.ping()
        assert c.slowlog_len() == 10
        entries = c.execute_command("SLOWLOG", "GET", 5)
        assert len(entries) == 5
        seen = {tuple(a.lower() for a in e[3]) for e in entries}
        assert seen <= {(b"ping",), (b"slowlog", b"len")} and (b"ping",) in seen
        c.slowlog_reset()
        c.echo("x" * 200)
        entry = next(e for e in c.execute_command("SLOWLOG", "GET") if e[3][0] == b"ECHO")
        assert entry[3] == [b"ECHO", b"x" * 128 + b"... (72 more bytes)"]
    finally:
        c.config_set("slowlog-log-slower-than", 10000)
        c.config_set("slowlog-max-len", 128)
        c.slowlog_reset()


@pytest.mark.parametrize("target", ["redis", "proxy"])
def test_slowlog_queued_in_a_transaction(targets, target):
    c = _client(targets[target])
    with c.pipeline(transaction=True) as t:
        t.lpush("{s}l", "foo").slowlog_reset().slowlog_len()
        got = t.execute()
    assert got[1:] == [True, 0]
    c.delete("{s}l")


@pytest.mark.parametrize("target", ["redis", "proxy"])
def test_config_queued_in_a_transaction(targets, target):
    # Redis's multi unit queues CONFIG SET in MULTI; with one group the proxy queues it too
    c = _client(targets[target])
    with c.pipeline(transaction=True) as t:
        t.config_set("maxmemory-policy", "allkeys-lru").config_get("maxmemory-policy")
        t.config_set("maxmemory-policy", "noeviction")
        got = t.execute()
    assert got == [True, {"maxmemory-policy": "allkeys-lru"}, True]
    with pytest.raises(redis.ResponseError, match="Unknown option"), c.pipeline(transaction=True) as t:
        t.config_set("nosuchparam", "1").execute()


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("target", ["redis", "proxy"])
def test_latency_histogram_of_client_subcommands(targets, target, protocol):
    c = _client(targets[target], protocol)
    c.config_resetstat()
    c.client_id()
    c.client_list()
    c.client_id()
    raw = c.execute_command("LATENCY", "HISTOGRAM", "client")
    histo = raw if isinstance(raw, dict) else dict(zip(raw[::2], raw[1::2], strict=True))
    calls = {k: (v[b"calls"] if isinstance(v, dict) else v[1]) for k, v in histo.items()}
    assert calls == {b"client|id": 2, b"client|list": 1}
    raw = c.execute_command("LATENCY", "HISTOGRAM", "client|list", "ping")
    names = list(raw) if isinstance(raw, dict) else raw[::2]
    assert names == [b"client|list"]


def _fields(line: str) -> dict[str, str]:
    return dict(f.split("=", 1) for f in line.strip().split(" "))


def test_client_info_and_list_lines_as_redis(targets):
    """Redis 7.0's fields in its order (the proxy adds 7.2's lib-name/lib-ver at the end);
    the running command is in the query buffer and is cmd=."""
    lines = {}
    for name, port in targets.items():
        c = _client(port)
        info = _fields(c.execute_command("CLIENT", "INFO").decode())
        me = c.client_id()
        listed = c.execute_command("CLIENT", "LIST", "ID", me).decode().splitlines()
        lines[name] = (info, _fields(listed[0]))
    ref_info, ref_list = lines["redis"]
    info, listed = lines["proxy"]
    assert list(info)[: len(ref_info)] == list(ref_info)
    for k in ("qbuf", "argv-mem", "cmd", "flags", "multi", "resp", "user", "events"):
        assert info[k] == ref_info[k], k
        assert listed[k] == ref_list[k], k
    assert listed["cmd"] == "client|list" and listed["qbuf"] != "0"


KILL_ERRORS = [
    ["CLIENT", "KILL"], ["CLIENT", "KILL", "id", "10", "wrong_arg"], ["CLIENT", "KILL", "id", "str"],
    ["CLIENT", "KILL", "id", "-1"], ["CLIENT", "KILL", "id", "0"],
    ["CLIENT", "KILL", "type", "wrong_type"], ["CLIENT", "KILL", "user", "wrong_user"],
    ["CLIENT", "KILL", "skipme", "yes_or_no"], ["CLIENT", "KILL", "maxage", "10"],
    ["CLIENT", "KILL", "127.0.0.1:1"], ["CLIENT", "KILL", "id", "999999", "skipme", "no"],
]


def test_client_kill_arguments_as_redis(targets):
    got = {}
    for name, port in targets.items():
        c = _client(port)
        out = []
        for argv in KILL_ERRORS:
            try:
                out.append(c.execute_command(*argv))
            except redis.exceptions.ResponseError as exc:
                out.append(str(exc))
        got[name] = out
    assert got["proxy"] == got["redis"]


@pytest.mark.parametrize("target", ["redis", "proxy"])
def test_latency_tracking_off(targets, target):
    c = _client(targets[target])
    try:
        c.config_set("latency-tracking", "no")
        c.config_resetstat()
        c.ping()
        assert c.execute_command("LATENCY", "HISTOGRAM", "ping") == []
    finally:
        c.config_set("latency-tracking", "yes")
    c.ping()
    assert c.execute_command("LATENCY", "HISTOGRAM", "ping")[0] == b"ping"


@pytest.mark.parametrize("proto", [2, 3])
@pytest.mark.parametrize("argv", [["ACL", "GETUSER", "default"], ["ACL", "GETUSER", "nouser"],
                                  ["ACL", "WHOAMI"], ["ACL", "LOG"]], ids=" ".join)
def test_acl_replies_typed_as_redis(targets, argv, proto):
    # ACL is answered by the proxy itself: a map (flags a set) and nulls in RESP3, as Redis
    from tests.help_lines import raw

    assert raw(targets["proxy"], *argv, proto=proto) == raw(targets["redis"], *argv, proto=proto)


@pytest.mark.parametrize("target", ["redis", "proxy"])
def test_whole_keyspace_commands_queued_in_a_transaction(targets, target):
    """With one group its node is the whole server: DBSIZE, SCRIPT... may be queued."""
    c = _client(targets[target])
    c.set("{q}a", "1")
    with c.pipeline(transaction=True) as t:
        t.dbsize().script_load("return 7").script_exists(hashlib.sha1(b"return 7").hexdigest())
        got = t.execute()
    assert got[0] >= 1 and got[2] == [True]
    c.delete("{q}a")


@pytest.mark.parametrize("target", ["redis", "proxy"])
def test_commands_queued_while_a_script_runs_abort_the_transaction(targets, target):
    """Redis's multi unit ("MULTI and script timeout"): a command queued while the node is busy
    with a script gets -BUSY, and EXEC then aborts."""
    port = targets[target]
    c = _client(port)
    c.config_set("lua-time-limit", 10)
    c.set("xx", 1)
    looping = socket.create_connection(("127.0.0.1", port))
    other = _client(port)
    try:
        looping.sendall(b"*3\r\n$4\r\nEVAL\r\n$17\r\nwhile true do end\r\n$1\r\n0\r\n")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # until the node answers others -BUSY
            try:
                c.ping()
            except redis.ResponseError as exc:
                if "BUSY" in str(exc):
                    break
        conn = other.connection_pool.get_connection()
        conn.send_command("MULTI")
        assert conn.read_response() == b"OK"
        conn.send_command("INCR", "xx")
        with pytest.raises(redis.ResponseError, match="^BUSY"):
            conn.read_response()
        c.script_kill()
        while time.monotonic() < deadline:  # until the script has stopped
            try:
                c.ping()
                break
            except redis.ResponseError:
                pass
        conn.send_command("INCR", "xx")
        assert conn.read_response() == b"QUEUED"
        conn.send_command("EXEC")
        with pytest.raises(redis.exceptions.ExecAbortError, match="previous errors"):
            conn.read_response()
        other.connection_pool.release(conn)
        assert c.get("xx") == b"1"
    finally:
        looping.close()
        c.config_set("lua-time-limit", 5000)


@pytest.mark.parametrize("target", ["redis", "proxy"])
def test_query_buffer_figures_of_client_list(targets, target):
    """qbuf + qbuf-free of a session follow Redis's query buffer (xcache/querybuf.py)."""
    check_idle_buffer_freed(targets[target])
    check_big_request_then_shrinks(targets[target])


@pytest.mark.parametrize("target", ["redis", "proxy"])
def test_slowlog_shows_auth_and_acl_setuser_redacted(targets, target):
    """The proxy answers AUTH, HELLO and ACL SETUSER itself: its SLOWLOG shows them as Redis's
    does, secrets as (redacted)."""
    from tests.procs import read_reply
    from xcache.resp import encode_command

    c = _client(targets[target])
    c.config_set("slowlog-log-slower-than", 0)
    c.slowlog_reset()
    try:
        with socket.create_connection(("127.0.0.1", targets[target]), timeout=10) as s:
            for argv in ((b"AUTH", b"nobody", b"pw"), (b"HELLO", b"2", b"AUTH", b"nobody", b"pw"),
                         (b"ACL", b"SETUSER", b"slowu", b">secret", b"+get")):
                s.sendall(encode_command(*argv))
                read_reply(s)
        shown = [e[3] for e in c.execute_command("SLOWLOG", "GET", -1)]
    finally:
        c.config_set("slowlog-log-slower-than", 10000)
        c.execute_command("ACL", "DELUSER", "slowu")
        c.slowlog_reset()
    for argv in ([b"AUTH", b"(redacted)", b"(redacted)"],
                 [b"HELLO", b"2", b"AUTH", b"(redacted)", b"(redacted)"],
                 [b"ACL", b"SETUSER", b"(redacted)", b"(redacted)", b"(redacted)"]):
        assert argv in shown, (argv, shown)
    assert not any(b"secret" in a or b"pw" == a for e in shown for a in e)
