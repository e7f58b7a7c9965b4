"""A node over `maxmemory` (a value below RocksDB's 32 MiB floor) answers as Redis 7 with nothing
to evict: -OOM for denyoom commands (server.c processCommand), MULTI/EXEC's EXECABORT, the
scripting rules of script.c (allow-oom / no-writes flags, scriptVerifyOOM, redis.pcall's error
table), FCALL. Raw replies are compared with redis-server's, on one connection per sequence."""

from __future__ import annotations

import hashlib
import socket

import hiredis
import pytest
import redis

from tests.procs import start_xcache_server, wait_until
from tests.store.cluster import client, wait_synced
from xcache.resp import encode_command

MiB = 1024 * 1024
OOM = b"-OOM command not allowed when used memory > 'maxmemory'.\r\n"


class Conn:
    """One raw connection: send(*argv) -> the reply's bytes."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.reader = hiredis.Reader(notEnoughData=Ellipsis)
        self.pending = b""

    def send(self, *argv: str) -> bytes:
        self.sock.sendall(encode_command(*[a.encode() for a in argv]))
        data = b""
        while True:
            chunk = self.sock.recv(65536)
            assert chunk, data
            data += chunk
            self.reader.feed(chunk)
            if self.reader.gets() is not Ellipsis:
                return data

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def nodes(xcache_node, redis_node):
    """(xcache port, redis port), flushed; maxmemory is set back to 0 whatever the test did."""
    ports = (xcache_node.port, redis_node.port)
    for port in ports:
        conn = Conn(port)
        for argv in (("FLUSHALL",), ("FUNCTION", "FLUSH"), ("CONFIG", "RESETSTAT")):
            conn.send(*argv)
        conn.close()
    yield ports
    for port in ports:
        with redis.Redis(port=port) as cl:
            cl.config_set("maxmemory", "0")
            cl.function_flush()


OTHER = "other"  # a step run on a second connection (CONFIG SET while a MULTI is open)


def run_both(ports, steps: list[tuple[str, ...]]) -> list[bytes]:
    """Run steps on one connection to each server (a step starting with OTHER on a second
    one); the replies, asserted equal."""
    replies = []
    for port in ports:
        conn, other = Conn(port), Conn(port)
        try:
            replies.append([other.send(*step[1:]) if step[0] == OTHER else conn.send(*step)
                            for step in steps])
        finally:
            conn.close()
            other.close()
    for step, mine, theirs in zip(steps, *replies, strict=True):
        assert mine == theirs, (step, mine, theirs)
    return replies[0]


def stat_lines(port: int, section: str, *names: str) -> dict:
    """INFO fields ('a=1,b=2' as a dict), timings left out; read on a raw connection (redis-py
    sends CLIENT SETINFO, which Redis 7.0 counts as an error)."""
    conn = Conn(port)
    try:
        reader = hiredis.Reader()
        reader.feed(conn.send("INFO", section))
        text = reader.gets().decode()
    finally:
        conn.close()
    info = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    out = {}
    for n in names:
        value = info.get(n)
        if value is not None and "=" in value:
            value = {k: int(v) for k, v in (kv.split("=") for kv in value.split(","))
                     if not k.startswith("usec")}
        out[n] = value
    return out


def test_denyoom_commands_refused_reads_served(nodes):
    out = run_both(nodes, [
        ("SET", "x", "123"), ("CONFIG", "SET", "maxmemory", "1"),
        ("SET", "x", "1"), ("INCR", "n"), ("SADD", "s", "a"), ("XGROUP", "CREATE", "st", "g", "$",
                                                              "MKSTREAM"),
        ("GET", "x"), ("DEL", "y"), ("EXPIRE", "x", "100"), ("PING",),
        ("CONFIG", "GET", "maxmemory"), ("CONFIG", "SET", "maxmemory", "0"),
        ("SET", "x", "2"), ("GET", "x")])
    assert out[2:6] == [OOM] * 4
    assert out[6] == b"$3\r\n123\r\n"
    assert out[10] == b"*2\r\n$9\r\nmaxmemory\r\n$1\r\n1\r\n"
    assert out[-2:] == [b"+OK\r\n", b"$1\r\n2\r\n"]
    xcache_stats, redis_stats = (stat_lines(p, "commandstats", "cmdstat_set", "cmdstat_incr")
                                 for p in nodes)
    for stats in (xcache_stats, redis_stats):
        assert (stats["cmdstat_set"]["calls"], stats["cmdstat_set"]["rejected_calls"]) == (2, 1)
        assert stats["cmdstat_incr"]["rejected_calls"] == 1
    assert [stat_lines(p, "errorstats", "errorstat_OOM") for p in nodes] == \
        [{"errorstat_OOM": {"count": 4}}] * 2


def test_info_shows_the_value_set(nodes):
    for port in nodes:
        with redis.Redis(port=port) as cl:
            cl.config_set("maxmemory", "10000001")
            mem = cl.info("memory")
            assert (mem["maxmemory"], mem["maxmemory_human"]) == (10000001, "9.54M")
            assert cl.config_get("maxmemory") == {"maxmemory": "10000001"}


def test_multi_exec(nodes):
    set_oom, no_oom = (OTHER, "CONFIG", "SET", "maxmemory", "1"), ("CONFIG", "SET", "maxmemory", "0")
    out = run_both(nodes, [
        set_oom,
        # every command queued but EXEC/DISCARD/QUIT/RESET is refused; EXEC is then aborted
        ("MULTI",), ("SET", "x", "1"), ("GET", "x"), ("MULTI",), ("WATCH", "x"), ("EXEC",),
        ("MULTI",), ("GET", "x"), ("DISCARD",), ("PING",), no_oom,
        # queued before: reads run, a queued denyoom command aborts the transaction for memory
        ("MULTI",), ("GET", "x"), ("DEL", "x"), set_oom, ("EXEC",), no_oom,
        ("MULTI",), ("SET", "x", "1"), set_oom, ("EXEC",), ("EXEC",), no_oom,
        # a script with default flags is denyoom; one without a shebang is not
        ("MULTI",), ("EVAL", "#!lua\nreturn 1", "0"), set_oom, ("EXEC",), no_oom,
        ("MULTI",), ("EVAL", "return 1", "0"), set_oom, ("EXEC",), no_oom,
        # a transaction with an error keeps no command after it (queueMultiCommand) ...
        ("MULTI",), ("SET", "x"), ("SET", "x", "1"), set_oom, ("EXEC",), no_oom,
        # ... but the commands before it, and memory is checked before EXEC looks at errors
        ("MULTI",), ("SET", "x", "1"), ("SET", "x"), set_oom, ("EXEC",)])
    assert out[2] == out[3] == out[4] == out[5] == OOM
    assert out[6] == b"-EXECABORT Transaction discarded because of previous errors.\r\n"
    assert (out[8], out[9]) == (OOM, b"+OK\r\n")
    assert out[16] == b"*2\r\n$-1\r\n:0\r\n"
    abort = (b"-EXECABORT Transaction discarded because of: OOM command not allowed "
             b"when used memory > 'maxmemory'.\r\n")
    assert (out[21], out[22]) == (abort, b"-ERR EXEC without MULTI\r\n")
    assert out[27] == abort
    assert out[32] == b"*1\r\n:1\r\n"
    assert out[38] == b"-EXECABORT Transaction discarded because of previous errors.\r\n"
    assert out[-1] == abort


def test_eval(nodes):
    out = run_both(nodes, [
        ("SET", "x", "123"), ("CONFIG", "SET", "maxmemory", "1"),
        # no shebang: runs, its first denyoom command is refused
        ("EVAL", "redis.call('set','x',1) return 1", "1", "x"),
        ("EVAL", "return redis.call('get','x')", "1", "x"),
        ("EVAL_RO", "return redis.call('get','x')", "1", "x"),
        ("EVAL", "redis.call('del','y') return redis.call('set','x',1)", "1", "x"),
        ("EVAL", "local t = redis.pcall('set','x','y') return t['err']", "1", "x"),
        ("EVAL", "return redis.pcall('set','x','y')", "1", "x"),
        # declared flags: refused before running unless allow-oom or no-writes
        ("EVAL", "#!lua flags=\nreturn 1", "0"),
        ("EVAL", "#!lua\nreturn 1", "0"),
        ("EVAL", "#!lua flags=allow-oom\nredis.call('set','x',1) return 1", "1", "x"),
        ("EVAL", "#!lua flags=no-writes\nreturn redis.call('get','x')", "1", "x"),
        ("EVAL_RO", "#!lua flags=no-writes\nreturn redis.call('get','x')", "1", "x"),
        ("SCRIPT", "LOAD", "#!lua\nreturn 2"),
        ("EVALSHA", hashlib.sha1(b"#!lua\nreturn 2").hexdigest(), "0"),
        ("CONFIG", "SET", "maxmemory", "0"),
        ("EVAL", "#!lua\nreturn 1", "0")])
    assert out[2].startswith(b"-OOM command not allowed when used memory > 'maxmemory'. script: ")
    assert out[6] == b"$55\r\nOOM command not allowed when used memory > 'maxmemory'.\r\n"
    assert out[7] == OOM
    assert out[8] == out[9] == OOM
    assert out[10] == b":1\r\n"
    assert out[-1] == b":1\r\n"


def test_eval_stats(nodes):
    run_both(nodes, [("CONFIG", "SET", "maxmemory", "1"),
                     ("EVAL", "return redis.call('set','x','y')", "1", "x"),
                     ("EVAL", "local t = redis.pcall('set','x','y') return 1", "1", "x")])
    stats = [stat_lines(p, "commandstats", "cmdstat_set", "cmdstat_eval") for p in nodes]
    for s in stats:
        assert (s["cmdstat_set"]["calls"], s["cmdstat_set"]["rejected_calls"]) == (0, 2)
        assert (s["cmdstat_eval"]["calls"], s["cmdstat_eval"]["failed_calls"]) == (2, 1)
    assert [stat_lines(p, "errorstats", "errorstat_OOM") for p in nodes] == \
        [{"errorstat_OOM": {"count": 2}}] * 2


LIB = ("#!lua name=lib\n"
       "redis.register_function('f', function(keys) return redis.call('set', keys[1], 1) end)\n"
       "redis.register_function{function_name='ro', callback=function(keys) "
       "return redis.call('get', keys[1]) end, flags={'no-writes'}}\n"
       "redis.register_function{function_name='w', callback=function(keys) "
       "return redis.call('set', keys[1], 2) end, flags={'allow-oom'}}")


def test_fcall(nodes):
    out = run_both(nodes, [
        ("FUNCTION", "LOAD", LIB), ("SET", "x", "0"), ("CONFIG", "SET", "maxmemory", "1"),
        ("FCALL", "f", "1", "x"), ("FCALL", "ro", "1", "x"), ("FCALL_RO", "ro", "1", "x"),
        ("FCALL", "w", "1", "x"), ("GET", "x"),
        ("FUNCTION", "LOAD", "REPLACE", LIB), ("FUNCTION", "RESTORE", "x"),
        ("FUNCTION", "DELETE", "nosuch"), ("FUNCTION", "FLUSH"),
        ("CONFIG", "SET", "maxmemory", "0"), ("FUNCTION", "LOAD", LIB), ("FCALL", "f", "1", "x")])
    assert out[3] == OOM
    assert out[8] == out[9] == OOM  # FUNCTION LOAD and RESTORE are denyoom, DELETE is not
    assert (out[10], out[-1]) == (b"-ERR Library not found\r\n", b"+OK\r\n")


def test_paused_clients_are_not_checked(nodes):
    """isSafeToPerformEvictions: memory is not checked while clients are paused (a read queued
    in MULTI is kept), and is again once they are not."""
    out = run_both(nodes, [("CONFIG", "SET", "maxmemory", "1"), ("CLIENT", "PAUSE", "100000", "WRITE"),
                           ("MULTI",), ("GET", "x"), ("EXEC",), ("CLIENT", "UNPAUSE"),
                           ("MULTI",), ("GET", "x"), ("EXEC",)])
    assert out[3:5] == [b"+QUEUED\r\n", b"*1\r\n$-1\r\n"]
    assert out[7] == OOM


def test_a_budget_below_the_floor_at_start(tmp_path):
    with start_xcache_server(tmp_path, "--set", "max_memory_bytes=1000") as proc, \
            redis.Redis(port=proc.port) as cl:
        mem = cl.info("memory")
        assert (mem["maxmemory"], mem["max_memory_bytes"]) == (1000, 32 * MiB)  # at the floor
        assert mem["rocksdb_block_cache_capacity"] + mem["meta_cache_capacity"] == 32 * MiB
        with pytest.raises(redis.exceptions.OutOfMemoryError):
            cl.set("x", "1")
        assert cl.get("x") is None
        assert cl.config_set("maxmemory", "64mb")  # a budget: sized to it, writes served
        assert cl.set("x", "1")
        assert cl.info("memory")["rocksdb_block_cache_capacity"] == 56 * MiB  # 8 MiB: meta cache
        log = (tmp_path / f"xcache-{proc.port}" / "server.log").read_text()
    assert "event=over_maxmemory maxmemory=1000 " in log


def test_the_master_link_is_never_refused(cluster):
    master = cluster.node()
    replica = cluster.replica_of(master)
    wait_synced(master, replica)
    rep = client(replica)
    rep.config_set("replica-ignore-maxmemory", "no")  # the replica is out of memory itself
    rep.config_set("maxmemory", "1")
    client(master).set("k", "v")
    client(master).sadd("s", "a")
    wait_synced(master, replica)
    assert (rep.get("k"), rep.smembers("s")) == (b"v", {b"a"})
    wait_until(lambda: rep.info("replication")["master_link_status"] == "up", what="link up")


def test_script_refusals_are_rejected_calls(nodes):
    """scriptCall: any command a script may not run (here a write from EVAL_RO, an unknown
    command) is a rejected call, its error counted once, caught by pcall or not."""
    run_both(nodes, [("EVAL_RO", "return redis.call('set','x','y')", "1", "x"),
                     ("EVAL_RO", "local t = redis.pcall('set','x','y') return t['err']", "1", "x"),
                     ("EVAL", "return redis.pcall('nosuch')", "0")])
    stats = [(stat_lines(p, "commandstats", "cmdstat_set", "cmdstat_eval_ro", "cmdstat_eval"),
              stat_lines(p, "errorstats", "errorstat_ERR")) for p in nodes]
    assert stats[0] == stats[1]
    (cmds, errors) = stats[0]
    assert (cmds["cmdstat_set"]["calls"], cmds["cmdstat_set"]["rejected_calls"]) == (0, 2)
    assert errors == {"errorstat_ERR": {"count": 3}}


def test_eviction_policies_evict_what_they_allow(nodes):
    # Over a limit it cannot reach, Redis evicts every key its policy allows, then refuses
    # denyoom commands: volatile-* takes the keys with a TTL, allkeys-* all of them.
    out = run_both(nodes, [
        ("SET", "a", "1"), ("SET", "b", "2", "EX", "100"),
        ("CONFIG", "SET", "maxmemory-policy", "volatile-lru"), ("CONFIG", "SET", "maxmemory", "1"),
        ("DBSIZE",), ("GET", "a"), ("EXISTS", "b"),
        ("CONFIG", "SET", "maxmemory-policy", "allkeys-random"), ("DBSIZE",), ("SET", "c", "1"),
        ("CONFIG", "SET", "maxmemory", "0"), ("CONFIG", "SET", "maxmemory-policy", "noeviction"),
        ("SET", "c", "1"), ("DBSIZE",)])
    assert out[4:7] == [b":1\r\n", b"$1\r\n1\r\n", b":0\r\n"]
    assert out[8:10] == [b":0\r\n", OOM]
    assert out[-2:] == [b"+OK\r\n", b":1\r\n"]
    assert [stat_lines(p, "stats", "evicted_keys") for p in nodes] == [{"evicted_keys": "2"}] * 2


def test_evicted_keys_are_announced(nodes):
    for port in nodes:
        with redis.Redis(port=port) as cl:
            cl.config_set("notify-keyspace-events", "Ee")
            cl.set("k", "v")
            events = cl.pubsub()
            events.psubscribe("__keyevent@*__:evicted")
            assert events.get_message(timeout=5)["type"] == "psubscribe"
            cl.config_set("maxmemory-policy", "allkeys-lru")
            cl.config_set("maxmemory", "1")  # evicts at once (the suite waits with no command)
            msg = events.get_message(timeout=5)
            assert (msg["channel"], msg["data"]) == (b"__keyevent@0__:evicted", b"k")
            events.close()
            cl.config_set("maxmemory", "0")
            cl.config_set("maxmemory-policy", "noeviction")
            cl.config_set("notify-keyspace-events", "")
