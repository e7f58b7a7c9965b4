"""CLIENT LIST/INFO fields, CLIENT KILL's argument checks, RESET and per-command statistics
(INFO commandstats, LATENCY HISTOGRAM) as Redis 7 gives them; against xcache and redis-server
alike (fixture `r2`). Regressions from Redis's own unit/introspection, introspection-2, other
and latency-monitor tests."""

from __future__ import annotations

import re

import pytest
import redis

from tests.procs import wait_until


def fields(line: bytes) -> dict[str, str]:
    return dict(f.split("=", 1) for f in line.decode().split())


def new_client(r) -> redis.Redis:
    return redis.Redis(port=r.connection_pool.connection_kwargs["port"], socket_timeout=10)


def test_client_info_fields_of_the_running_command(r2):
    # redis-py sends *2 $6 CLIENT $4 INFO: the 26 bytes Redis has in its query buffer meanwhile
    info = fields(r2.execute_command("CLIENT", "INFO"))
    assert info["cmd"] == "client|info"
    assert info["qbuf"] == "26"
    assert info["argv-mem"] == "10"
    assert info["flags"] == "N"
    assert info["redir"] == "-1"
    assert int(info["fd"]) > 2
    mine = int(info["id"])
    listed = [fields(line) for line in r2.execute_command("CLIENT", "LIST", "ID", mine).splitlines()]
    assert [c["cmd"] for c in listed] == ["client|list"]


def test_client_list_shows_another_clients_state(r2):
    other = new_client(r2)
    try:
        other.execute_command("CLIENT", "SETNAME", "watcher")
        pipe = other.pipeline(transaction=False)
        pipe.execute_command("MULTI")
        pipe.execute_command("SET", "k", "v")
        pipe.execute()
        line = next(line for line in r2.execute_command("CLIENT", "LIST").splitlines()
                    if b"name=watcher" in line)
        info = fields(line)
        assert (info["flags"], info["multi"], info["cmd"]) == ("x", "1", "set")
        assert (info["qbuf"], info["argv-mem"]) == ("0", "0")
        # one queued command: its argument bytes plus an argv pointer each (8 on x86-64)
        assert info["multi-mem"] == str(len(b"SETkv") + 3 * 8)
        other.execute_command("DISCARD")
        with pytest.raises(redis.ResponseError):
            other.execute_command("CLIENT", "NOSUCH")
        info = fields(next(line for line in r2.execute_command("CLIENT", "LIST").splitlines()
                           if b"name=watcher" in line))
        assert info["cmd"] == "NULL"  # an unknown subcommand is no command
    finally:
        other.close()


@pytest.mark.parametrize("args,error", [
    (["id", "str"], "ERR client-id should be greater than 0"),
    (["id", "-1"], "ERR client-id should be greater than 0"),
    (["id", "0"], "ERR client-id should be greater than 0"),
    (["id", "0", "wrong_arg"], "ERR client-id should be greater than 0"),
    (["id", "10", "wrong_arg"], "ERR syntax error"),
    (["type", "wrong_type"], "ERR Unknown client type 'wrong_type'"),
    (["user", "wrong_user"], "ERR No such user 'wrong_user'"),
    (["skipme", "yes_or_no"], "ERR syntax error"),
    ([], "ERR wrong number of arguments for 'client|kill' command"),
    (["127.0.0.1:1"], "ERR No such client"),
])
def test_client_kill_illegal_arguments(r2, args, error):
    with pytest.raises(redis.ResponseError) as exc:
        r2.execute_command("CLIENT", "KILL", *args)
    assert str(exc.value) == error.removeprefix("ERR ")  # redis-py drops the ERR prefix
    assert r2.ping()


def test_client_kill_skipme_no_answers_then_closes(r2):
    others = [new_client(r2) for _ in range(2)]
    for o in others:
        o.ping()
    killer = new_client(r2)
    conn = killer.connection_pool.get_connection()
    try:
        conn.send_command("CLIENT", "KILL", "SKIPME", "NO")
        killed = conn.read_response()
        assert killed >= 4  # the fixture's client, the two others and itself
        with pytest.raises(redis.ConnectionError):
            conn.send_command("PING")
            conn.read_response()
    finally:
        killer.connection_pool.release(conn)
        killer.close()
        for o in others:
            o.close()
    assert r2.ping()  # redis-py reconnects the killed fixture client


def test_reset_clears_name_tracking_and_monitor(r2):
    r2.execute_command("CLIENT", "SETNAME", "test-client")
    r2.execute_command("CLIENT", "TRACKING", "ON")
    assert r2.execute_command("RESET") in (b"RESET", "RESET")
    info = fields(r2.execute_command("CLIENT", "INFO"))
    assert (info["name"], info["flags"], info["redir"]) == ("", "N", "-1")
    mon = new_client(r2)
    conn = mon.connection_pool.get_connection()
    try:
        conn.send_command("MONITOR")
        assert conn.read_response() in (b"OK", "OK")
        conn.send_command("RESET")
        assert conn.read_response() in (b"RESET", "RESET")  # not its own "reset" line
        assert b"flags=O" not in r2.execute_command("CLIENT", "LIST")
        conn.send_command("PING")
        assert conn.read_response() in (b"PONG", "PONG")
    finally:
        mon.connection_pool.release(conn)
        mon.close()


def cmdstat(r, name: str) -> tuple | None:
    """(calls, rejected_calls, failed_calls) of INFO commandstats, None when not listed."""
    stat = r.info("commandstats").get(f"cmdstat_{name}")
    return None if stat is None else (stat["calls"], stat["rejected_calls"], stat["failed_calls"])


def test_commandstats_failed_calls_are_calls(r2):
    r2.execute_command("CONFIG", "RESETSTAT")
    r2.set("foo", "1")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        r2.execute_command("GEOADD", "foo", 0, 0, "bar")
    assert cmdstat(r2, "geoadd") == (1, 0, 1)
    assert cmdstat(r2, "zadd") is None


def test_commandstats_count_commands_run_by_exec(r2):
    r2.execute_command("CONFIG", "RESETSTAT")
    pipe = r2.pipeline(transaction=True)
    pipe.set("foo{t}", "bar")
    pipe.execute_command("GEOADD", "foo2{t}", 0, 0, "bar")
    pipe.execute_command("EXPIRE", "foo2{t}", 0)
    pipe.execute()
    for name in ("multi", "exec", "set", "geoadd", "expire"):
        assert cmdstat(r2, name) == (1, 0, 0), name


def test_commandstats_and_latency_histogram_per_subcommand(r2):
    r2.execute_command("CONFIG", "RESETSTAT")
    r2.execute_command("CONFIG", "GET", "maxmemory")
    with pytest.raises(redis.ResponseError, match="wrong number of arguments for 'config\\|get'"):
        r2.execute_command("CONFIG", "GET")
    with pytest.raises(redis.ResponseError, match="unknown subcommand 'NOSUCH'"):
        r2.execute_command("CONFIG", "NOSUCH")
    assert cmdstat(r2, "config|get") == (1, 1, 0)
    assert cmdstat(r2, "config") is None  # counted per subcommand only
    histo = r2.execute_command("LATENCY", "HISTOGRAM", "config|get", "config|resetstat", "nosuch")
    names = [histo[i] for i in range(0, len(histo), 2)]
    assert names == [b"config|get", b"config|resetstat"]  # RESETSTAT counts itself once done
    r2.execute_command("CONFIG", "RESETSTAT")
    histo = r2.execute_command("LATENCY", "HISTOGRAM")
    assert histo[0] == b"config|resetstat"


# Redis's unit/introspection "CONFIG sanity" leaves these out (immutable, or not to be touched).
SANITY_SKIP = set("""rdbchecksum daemonize io-threads-do-reads tcp-backlog always-show-logo
syslog-enabled cluster-enabled disable-thp aclfile unixsocket pidfile syslog-ident appendfilename
appenddirname supervised syslog-facility databases io-threads logfile unixsocketperm replicaof
slaveof requirepass server_cpulist bio_cpulist aof_rewrite_cpulist bgsave_cpulist set-proc-title
cluster-config-file cluster-port oom-score-adj oom-score-adj-values enable-protected-configs
enable-debug-command enable-module-command dbfilename dir socket-mark-id""".split())


def test_config_set_every_parameter_to_its_own_value(r2):
    before = r2.config_get("*")
    for name, value in before.items():
        if name in SANITY_SKIP or name.startswith("tls-"):
            continue
        assert r2.config_set(name, value), name
    after = r2.config_get("*")
    assert {k: after[k] for k in before} == before
    with pytest.raises(redis.ResponseError, match="can't set immutable config"):
        r2.config_set("databases", before["databases"])  # immutable in Redis whatever the value


GETKEYS_CASES = [
    ["set", "k1", "v1"], ["set", "k1", "v1", "get"], ["mset", "k1", "v1", "k2", "v2"],
    ["lmove", "k1", "k2", "left", "right"], ["sort", "k1", "store", "k2"],
    ["sort", "k1", "limit", "0", "1", "by", "store", "get", "x", "store", "k3"], ["sort_ro", "k1"],
    ["bitfield", "k1", "get", "u8", "0"], ["bitfield", "k1", "incrby", "u8", "0", "1"],
    ["memory", "usage", "key"], ["xgroup", "create", "key", "g", "$"],
    ["eval", "return 1", "1", "key"], ["eval", "return 1", "0"], ["lcs", "key1", "key2"],
    ["zunionstore", "target", "2", "a", "b"], ["get"], ["memory"], ["memory", "nosuch"],
    ["ping"], ["nosuchcommand", "x"], ["zunionstore", "target", "3", "a"],
]


@pytest.mark.parametrize("argv", GETKEYS_CASES, ids=" ".join)
def test_command_getkeys_and_flags_as_redis(xcache_node, redis_node, argv):
    def answer(node, sub):
        conn = redis.Connection(port=node.port, socket_timeout=10)  # no reply callbacks
        try:
            conn.send_command("COMMAND", sub, *argv)
            return conn.read_response()
        except redis.ResponseError as exc:
            return str(exc)
        finally:
            conn.disconnect()

    for sub in ("GETKEYS", "GETKEYSANDFLAGS"):
        assert answer(xcache_node, sub) == answer(redis_node, sub), sub


def test_latency_histogram_of_a_container_lists_its_subcommands(r2):
    r2.execute_command("CONFIG", "RESETSTAT")
    r2.execute_command("CLIENT", "ID")
    r2.execute_command("CLIENT", "GETNAME")
    histo = r2.execute_command("LATENCY", "HISTOGRAM", "client")
    assert sorted(histo[0::2]) == [b"client|getname", b"client|id"]
    histo = r2.execute_command("LATENCY", "HISTOGRAM", "client|id")
    assert histo[0::2] == [b"client|id"]


def test_slowlog_logs_a_served_blocking_command_as_itself(r2):
    r2.config_set("slowlog-log-slower-than", 0)
    try:
        r2.execute_command("CONFIG", "RESETSTAT")
        blocked = new_client(r2)
        conn = blocked.connection_pool.get_connection()
        conn.send_command("BLPOP", "l", 0)
        wait_until(lambda: r2.info("clients")["blocked_clients"] == 1, what="BLPOP blocked")
        pipe = r2.pipeline(transaction=True)
        pipe.lpush("l", "foo")
        pipe.execute_command("SLOWLOG", "RESET")
        pipe.execute()
        assert conn.read_response() == [b"l", b"foo"]
        blocked.connection_pool.release(conn)
        blocked.close()
        entries = r2.execute_command("SLOWLOG", "GET")
        # newest first: the BLPOP served after EXEC (itself skip_slowlog), then SLOWLOG RESET
        # (logged once it ran)
        assert [e[3] for e in entries] == [[b"BLPOP", b"l", b"0"], [b"SLOWLOG", b"RESET"]]
        assert cmdstat(r2, "blpop") == (1, 0, 0)
    finally:
        r2.config_set("slowlog-log-slower-than", 10000)


def latencystat(r, name: str) -> str:
    conn = redis.Connection(port=r.connection_pool.connection_kwargs["port"])  # the raw text
    try:
        conn.send_command("INFO", "latencystats")
        text = conn.read_response().decode()
    finally:
        conn.disconnect()
    for line in text.splitlines():
        if line.startswith(f"latency_percentiles_usec_{name}:"):
            return line.split(":", 1)[1]
    return ""


def test_latency_tracking_switch_and_percentiles_format(r2):
    r2.execute_command("CONFIG", "RESETSTAT")
    try:
        r2.config_set("latency-tracking", "no")
        r2.set("a", "b")
        assert latencystat(r2, "set") == ""
        r2.config_set("latency-tracking", "yes")
        r2.set("a", "b")
        assert re.fullmatch(r"p50=[\d.]+,p99=[\d.]+,p99\.9=[\d.]+", latencystat(r2, "set"))
        r2.config_set("latency-tracking-info-percentiles", "0.0 50.0 99.99 100.0")
        assert r2.config_get("latency-tracking-info-percentiles") == {
            "latency-tracking-info-percentiles": "0 50 99.99 100"}
        assert re.fullmatch(r"p0=[\d.]+,p50=[\d.]+,p99\.99=[\d.]+,p100=[\d.]+",
                            latencystat(r2, "set"))
    finally:
        r2.config_set("latency-tracking-info-percentiles", "50 99 99.9")


def errorstat(r, prefix: str) -> int:
    return r.info("errorstats").get(f"errorstat_{prefix}", {}).get("count", 0)


def test_errorstats_and_rejected_calls(r2):
    r2.execute_command("CONFIG", "RESETSTAT")
    pipe = r2.pipeline(transaction=True)
    pipe.set("a", "b")
    pipe.execute_command("AUTH", "a")
    replies = pipe.execute(raise_on_error=False)
    assert isinstance(replies[1], redis.RedisError) and "AUTH" in str(replies[1])
    assert errorstat(r2, "ERR") == 1
    assert (cmdstat(r2, "auth"), cmdstat(r2, "set")) == ((1, 0, 1), (1, 0, 0))
    assert r2.info("stats")["total_error_replies"] == 1
    r2.execute_command("CONFIG", "RESETSTAT")
    r2.execute_command("ACL", "SETUSER", "alice", "on", ">p1pp0", "~cached:*", "+get", "+info")
    try:
        limited = new_client(r2)
        limited.execute_command("AUTH", "alice", "p1pp0")
        with pytest.raises(redis.ResponseError, match="no permissions"):
            limited.set("a", "b")
        limited.close()
        assert errorstat(r2, "NOPERM") == 1
        assert cmdstat(r2, "set") == (0, 1, 0)
    finally:
        r2.execute_command("ACL", "DELUSER", "alice")


def test_errorstats_of_an_unblocked_command(r2):
    r2.execute_command("CONFIG", "RESETSTAT")
    blocked = new_client(r2)
    conn = blocked.connection_pool.get_connection()
    try:
        conn.send_command("CLIENT", "ID")
        cid = conn.read_response()
        conn.send_command("BLPOP", "nolist", 0)
        wait_until(lambda: r2.info("clients")["blocked_clients"] == 1, what="BLPOP blocked")
        assert r2.client_unblock(cid, error=True)
        with pytest.raises(redis.ResponseError, match="UNBLOCKED"):
            conn.read_response()
    finally:
        blocked.connection_pool.release(conn)
        blocked.close()
    assert errorstat(r2, "UNBLOCKED") == 1
    assert cmdstat(r2, "blpop") == (1, 0, 1)


def test_config_get_hidden_parameters_by_exact_name_only(r2):
    assert "key-load-delay" not in r2.config_get("*")
    assert r2.config_get("key-load-delay") == {"key-load-delay": "0"}
    assert r2.config_get("rdb-key-save-delay", "maxmemory") == {"rdb-key-save-delay": "0",
                                                              "maxmemory": "0"}
    assert r2.config_set("key-load-delay", "0")


@pytest.mark.parametrize("script,raises", [
    ("redis.pcall('XGROUP', 'CREATECONSUMER', 's1', 'g', 'c') return 1", False),
    ("return redis.pcall('XGROUP', 'CREATECONSUMER', 's1', 'g', 'c')", True),
    ("redis.call('XGROUP', 'CREATECONSUMER', 's1', 'g', 'c') return 1", True),
])
def test_errorstats_of_errors_inside_scripts_counted_once(r2, script, raises):
    r2.execute_command("CONFIG", "RESETSTAT")
    if raises:
        with pytest.raises(redis.ResponseError):
            r2.eval(script, 0)
    else:
        r2.eval(script, 0)
    assert errorstat(r2, "ERR") == 1
    assert r2.info("stats")["total_error_replies"] == 1
    assert cmdstat(r2, "xgroup|createconsumer") == (1, 0, 1)
    assert cmdstat(r2, "eval") == (1, 0, 1 if raises else 0)


def test_errorstats_of_a_scripts_own_error(r2):
    r2.execute_command("CONFIG", "RESETSTAT")
    with pytest.raises(redis.ResponseError):
        r2.eval("return nosuchglobal.x", 0)
    assert (errorstat(r2, "ERR"), cmdstat(r2, "eval")) == (1, (1, 0, 1))


LONG_SCRIPT = """
local t0 = redis.call('TIME')
local i = 0
while i < 2000000 do i = i + 1 end
local t1 = redis.call('TIME')
return (t1[1] - t0[1]) * 1000000 + (t1[2] - t0[2])
"""


def test_slowlog_times_a_script_over_its_whole_run(r2):
    r2.config_set("slowlog-log-slower-than", 0)
    try:
        r2.execute_command("SLOWLOG", "RESET")
        ran_usec = r2.eval(LONG_SCRIPT, 0)
        entry = next(e for e in r2.execute_command("SLOWLOG", "GET", -1) if e[3][0].lower() == b"eval")
        assert entry[2] >= ran_usec  # the slow log's duration covers the script's own clock
    finally:
        r2.config_set("slowlog-log-slower-than", 10000)
