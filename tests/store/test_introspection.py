"""Introspection as Redis 7 answers it: HELLO, INFO, CONFIG, COMMAND, SLOWLOG, LATENCY, MEMORY,
OBJECT ENCODING, CLIENT subcommands, FUNCTION/SCRIPT FLUSH, CLIENT TRACKING; against xcache and
redis-server alike (fixture `r`, RESP2 and RESP3) unless a test says otherwise."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading

import pytest
import redis

from tests.conftest import NOT_APPLICABLE
from tests.procs import read_reply, read_until
from tests.store.resp3 import raw


def proto(r) -> int:
    return int(r.connection_pool.connection_kwargs["protocol"])


def test_hello_replies_like_redis(r):
    for version in (3, 2):
        reply = raw(r, "HELLO", version) if version == 2 else None
        conn = r.connection_pool.get_connection()
        try:
            conn.send_command("HELLO", version)
            reply = conn.read_response()
            conn.send_command("HELLO", proto(r))  # back to the pool's protocol
            conn.read_response()
        finally:
            r.connection_pool.release(conn)
        if isinstance(reply, list):
            reply = dict(zip(reply[0::2], reply[1::2], strict=True))
        assert list(reply) == [b"server", b"version", b"proto", b"id", b"mode", b"role",
                               b"modules"]
        assert reply[b"proto"] == version and reply[b"server"] == b"redis"
        assert reply[b"version"].startswith(b"7.") and reply[b"modules"] == []
    with pytest.raises(redis.ResponseError, match="NOPROTO"):
        r.execute_command("HELLO", 4)


def test_info_sections_and_fields(r):
    r.set("k", "v")
    r.expire("k", 100)
    info = r.info()
    for field in ("redis_version", "redis_mode", "arch_bits", "run_id", "tcp_port", "process_id",
                  "uptime_in_seconds", "connected_clients", "used_memory", "used_memory_human",
                  "maxmemory", "maxmemory_policy", "loading", "rdb_changes_since_last_save",
                  "total_commands_processed", "keyspace_hits", "role", "used_cpu_sys",
                  "cluster_enabled", "total_error_replies", "instantaneous_ops_per_sec"):
        assert field in info, field
    assert info["redis_mode"] == "standalone" and info["cluster_enabled"] == 0
    assert info["arch_bits"] == 64
    with pytest.raises(redis.ResponseError):
        r.execute_command("NOSUCHCOMMAND")
    everything = r.info("everything")
    assert any(k.startswith("cmdstat_") for k in everything)
    assert any(k.startswith("latency_percentiles_usec_") for k in everything)
    assert everything["errorstat_ERR"]["count"] >= 1
    several = r.info("server", "cpu")
    assert "redis_version" in several and "used_cpu_user" in several and "role" not in several
    text = r.execute_command("INFO", "cpu", "server")
    text = text.decode() if isinstance(text, bytes) else text
    if isinstance(text, str):
        headers = [line for line in text.splitlines() if line.startswith("#")]
        assert headers == ["# Server", "# CPU"]  # Redis's order, not the asked one


def test_info_has_every_field_redis_has_in_its_order(xcache_node, redis_node):
    """Monitoring tools (redis_exporter...) read INFO's fields by name: every field of
    redis-server's INFO everything is there, in its section and order (xcache adds its own)."""
    per_node = []
    for node in (xcache_node, redis_node):
        with redis.Redis(port=node.port, protocol=2) as cl:
            text = raw(cl, "INFO", "everything").decode()
        sections, current = {}, None
        for line in text.splitlines():
            if line.startswith("# "):
                current = sections.setdefault(line[2:], [])
            elif ":" in line and not line.startswith(("cmdstat_", "errorstat_", "latency_percentiles", "db")):
                current.append(line.split(":", 1)[0])
        per_node.append(sections)
    ours, redis_sections = per_node
    for name, fields in redis_sections.items():
        assert name in ours, name
        assert [f for f in ours[name] if f in fields] == fields, name


def test_info_keyspace(r, xcache_node):
    r.set("a", 1)
    r.set("b", 2, ex=100)
    port = r.connection_pool.connection_kwargs["port"]
    if port == xcache_node.port:
        pytest.skip(NOT_APPLICABLE + "xcache's keyspace counts are refreshed by its collector (eventually)")
    assert r.info("keyspace")["db0"]["keys"] == 2
    assert r.info("keyspace")["db0"]["expires"] == 1


def test_config_get_several_patterns_and_redis_parameters(r):
    got = r.config_get("maxmemory*", "save")
    assert got["maxmemory"] == "0" and got["maxmemory-policy"] == "noeviction"
    assert "maxmemory-samples" in got and got["save"] in ("",) or "save" in got
    got = r.config_get("slowlog-log-slower-than", "hash-max-ziplist-entries", "appendonly",
                       "notify-keyspace-events", "databases")
    assert got["slowlog-log-slower-than"] == "10000" and got["appendonly"] == "no"
    assert got["hash-max-ziplist-entries"] == "512" and got["databases"] == "16"
    assert got["notify-keyspace-events"] == ""
    assert r.config_get("nosuchparameter") == {}


def test_config_set_thresholds_and_immutable(r):
    try:
        assert r.config_set("hash-max-listpack-entries", 2) is True
        assert r.config_get("hash-max-ziplist-entries") == {"hash-max-ziplist-entries": "2"}
        r.hset("h", mapping={"a": 1, "b": 2})
        assert r.object("encoding", "h") == b"listpack"
        r.hset("h", "c", 3)
        assert r.object("encoding", "h") == b"hashtable"
    finally:
        r.config_set("hash-max-listpack-entries", 512)
    with pytest.raises(redis.ResponseError, match="can't set immutable config"):
        r.config_set("daemonize", "yes")
    with pytest.raises(redis.ResponseError, match="Unknown option or number of arguments for CONFIG SET - 'nosuch'"):
        r.config_set("nosuch", "1")
    with pytest.raises(redis.ResponseError, match="argument couldn't be parsed into an integer"):
        r.config_set("set-max-intset-entries", "x")
    assert r.config_resetstat() is True


@pytest.mark.parametrize("setup,key,encoding", [
    (("set", "s", "123"), "s", b"int"),
    (("set", "s", "-9223372036854775808"), "s", b"int"),
    (("set", "s", "9223372036854775808"), "s", b"embstr"),
    (("set", "s", "012"), "s", b"embstr"),
    (("set", "s", "x" * 44), "s", b"embstr"),
    (("set", "s", "x" * 45), "s", b"raw"),
    (("rpush", "l", "a", "b"), "l", b"quicklist"),
    (("sadd", "t", "1", "2", "-3"), "t", b"intset"),
    (("sadd", "t", "1", "a"), "t", b"hashtable"),
    (("hset", "h", "f", "v"), "h", b"listpack"),
    (("hset", "h", "f", "v" * 65), "h", b"hashtable"),
    (("zadd", "z", "1", "m"), "z", b"listpack"),
    (("zadd", "z", "1", "m" * 65), "z", b"skiplist"),
])
def test_object_encoding(r, setup, key, encoding):
    r.execute_command(*setup)
    assert r.object("encoding", key) == encoding


def test_object_encoding_by_size(r):
    r.sadd("t", *range(513))
    assert r.object("encoding", "t") == b"hashtable"
    r.zadd("z", {f"m{i}": i for i in range(129)})
    assert r.object("encoding", "z") == b"skiplist"
    r.hset("h", mapping={f"f{i}": i for i in range(513)})
    assert r.object("encoding", "h") == b"hashtable"
    r.set("n", 5)
    assert r.object("refcount", "n") == 2147483647 and r.object("refcount", "h") == 1
    assert r.object("idletime", "h") >= 0
    with pytest.raises(redis.ResponseError, match="An LFU maxmemory policy is not selected"):
        r.object("freq", "h")


def test_command_count_info_docs_getkeys(r):
    assert r.command_count() > 100
    def getkeys(*args):  # redis-py decodes the keys in RESP2 only
        return [k.encode() if isinstance(k, str) else k for k in r.command_getkeys(*args)]

    assert getkeys("ZUNIONSTORE", "d", 2, "a", "b", "WEIGHTS", 1, 2) == [b"d", b"a", b"b"]
    assert getkeys("MSET", "a", 1, "b", 2) == [b"a", b"b"]
    assert getkeys("SINTERCARD", 2, "x", "y", "LIMIT", 1) == [b"x", b"y"]
    assert getkeys("SET", "k", "v", "EX", 10) == [b"k"]
    with pytest.raises(redis.ResponseError, match="The command has no key arguments"):
        getkeys("PING", "x")
    with pytest.raises(redis.ResponseError, match="Invalid command specified"):
        getkeys("NOSUCHCOMMAND", "x")
    with pytest.raises(redis.ResponseError, match="Invalid number of arguments"):
        getkeys("GET", "a", "b")
    with pytest.raises(redis.ResponseError, match="wrong number of arguments for 'command|getkeys'"):
        getkeys("GET")
    flags = raw(r, "COMMAND", "GETKEYSANDFLAGS", "LMOVE", "a", "b", "LEFT", "RIGHT")
    assert [k for k, _ in flags] == [b"a", b"b"]
    assert set(flags[0][1]) == {b"RW", b"access", b"delete"}
    assert set(flags[1][1]) == {b"RW", b"insert"}
    assert b"get" in raw(r, "COMMAND", "LIST")
    assert b"zrangebyscore" in raw(r, "COMMAND", "LIST", "FILTERBY", "PATTERN", "zrange*")
    assert b"hget" in raw(r, "COMMAND", "LIST", "FILTERBY", "ACLCAT", "hash")
    docs = raw(r, "COMMAND", "DOCS", "get")
    if isinstance(docs, list):
        docs = dict(zip(docs[0::2], docs[1::2], strict=True))
    get_docs = docs[b"get"]
    if isinstance(get_docs, list):
        get_docs = dict(zip(get_docs[0::2], get_docs[1::2], strict=True))
    assert get_docs[b"summary"] == b"Get the value of a key"


def test_command_info_equals_redis_for_served_commands(xcache_node, redis_node):
    """Every command the node serves that Redis 7 has is described exactly as Redis does."""
    x = redis.Redis(port=xcache_node.port, protocol=3)
    rd = redis.Redis(port=redis_node.port, protocol=3)
    served = raw(x, "COMMAND", "LIST")
    known = set(raw(rd, "COMMAND", "LIST"))
    names = [n for n in served if n in known]
    assert len(names) > 150
    # Redis's COMMAND LIST names the containers' subcommands too: so does the node's, for the
    # containers it serves, and COMMAND INFO / DOCS take those full names
    assert {n for n in known if b"|" in n and n.split(b"|")[0] in served} <= set(served)
    assert sorted(raw(x, "COMMAND", "LIST", "FILTERBY", "PATTERN", "acl|*")) == sorted(
        raw(rd, "COMMAND", "LIST", "FILTERBY", "PATTERN", "acl|*"))
    assert raw(x, "COMMAND", "DOCS", "acl|cat") == raw(rd, "COMMAND", "DOCS", "acl|cat")
    for name in names:
        mine = raw(x, "COMMAND", "INFO", name)[0]
        theirs = raw(rd, "COMMAND", "INFO", name)[0]
        # subcommands come out of a Redis dict: their order differs between two redis-servers
        mine[9], theirs[9] = sorted(mine[9]), sorted(theirs[9])
        assert mine == theirs, name
    x.close()
    rd.close()


def test_slowlog(r):
    r.config_set("slowlog-log-slower-than", 0)
    try:
        r.slowlog_reset()
        r.set("slow", "v")
        entries = r.slowlog_get()
        assert any(e["command"] == b"SET slow v" for e in entries)
        assert r.slowlog_len() >= 1
        r.config_set("slowlog-max-len", 1)
        r.get("slow")
        assert r.slowlog_len() == 1
    finally:
        r.config_set("slowlog-log-slower-than", 10000)
        r.config_set("slowlog-max-len", 128)
    r.slowlog_reset()
    assert r.slowlog_len() == 0


def test_latency_and_memory(r):
    assert r.execute_command("LATENCY", "LATEST") == []
    assert r.execute_command("LATENCY", "RESET") == 0
    assert r.execute_command("LATENCY", "HISTORY", "command") == []
    assert isinstance(r.execute_command("LATENCY", "DOCTOR"), (bytes, str))
    r.set("k", "v" * 100)
    assert r.memory_usage("k") > 100
    assert r.memory_usage("nokey") is None
    stats = r.memory_stats()
    assert "peak.allocated" in stats and "keys.count" in stats
    assert r.execute_command("MEMORY", "PURGE") in (b"OK", True, "OK")


def test_function_and_script_flush(r):
    assert r.function_flush() in (True, b"OK")
    assert r.function_list() == []
    assert r.script_flush() is True
    assert r.script_exists("a" * 40) == [False]


def test_client_setinfo(x):
    """CLIENT SETINFO is Redis 7.2's (redis-py sends it at connect); errors as 7.2."""
    assert x.client_setinfo("lib-name", "mylib") is True
    assert x.client_info()["lib-name"] == "mylib"
    assert x.client_no_touch("on") in (True, b"OK")  # 7.2 too
    with pytest.raises(redis.ResponseError, match="Unrecognized option 'nosuch'"):
        x.client_setinfo("nosuch", "x")
    with pytest.raises(redis.ResponseError, match="cannot contain spaces"):
        x.client_setinfo("lib-ver", "a b")


def test_client_subcommands(r):
    assert r.client_no_evict("on") in (True, b"OK")
    assert r.client_info()["resp"] == str(proto(r))
    assert r.client_getredir() == -1
    # CLIENT REPLY OFF: no replies until ON
    port = r.connection_pool.connection_kwargs["port"]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"CLIENT REPLY OFF\r\nSET a 1\r\nCLIENT REPLY SKIP\r\nSET b 2\r\n"
                  b"CLIENT REPLY ON\r\nGET a\r\n")
        data = b""
        while not data.endswith(b"$1\r\n1\r\n"):
            data += s.recv(1024)
        assert data == b"+OK\r\n$1\r\n1\r\n"


def test_client_unblock(r):
    port = r.connection_pool.connection_kwargs["port"]
    blocked = redis.Redis(port=port, protocol=proto(r))
    cid = blocked.client_id()
    got = {}
    t = threading.Thread(target=lambda: got.setdefault("r", blocked.blpop(["nolist"], 0)))
    t.start()
    from tests.procs import wait_until

    wait_until(lambda: r.client_unblock(cid), what="BLPOP blocked")
    t.join(10)
    assert got["r"] is None
    assert r.client_unblock(cid) == 0
    errors = {}

    def blpop_error():
        try:
            blocked.blpop(["nolist"], 0)
        except redis.ResponseError as exc:
            errors["e"] = str(exc)

    t = threading.Thread(target=blpop_error)
    t.start()
    wait_until(lambda: r.client_unblock(cid, error=True), what="BLPOP blocked")
    t.join(10)
    assert errors["e"].startswith("UNBLOCKED client unblocked via CLIENT UNBLOCK")
    blocked.close()


def test_tracking_invalidation_push(r):
    if proto(r) != 3:
        pytest.skip(NOT_APPLICABLE + "RESP3 push invalidation")
    port = r.connection_pool.connection_kwargs["port"]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"HELLO 3\r\n")
        read_until(s, b"$7\r\nmodules\r\n*0\r\n")
        s.sendall(b"CLIENT TRACKING ON\r\nGET tk\r\n")
        assert read_until(s, b"_\r\n") == b"+OK\r\n_\r\n"
        r.set("tk", "v")
        assert read_until(s, b"tk\r\n") == b">2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\ntk\r\n"
        s.sendall(b"CLIENT TRACKINGINFO\r\n")
        info = read_until(s, b"*0\r\n")
        assert info.startswith(b"%3\r\n$5\r\nflags\r\n~1\r\n+on\r\n") or b"on" in info
        r.set("tk", "w")  # not read again since the invalidation: no second push
        s.sendall(b"PING\r\n")
        assert read_until(s, b"+PONG\r\n") == b"+PONG\r\n"
    with pytest.raises(redis.ResponseError, match="PREFIX option requires BCAST"):
        r.execute_command("CLIENT", "TRACKING", "ON", "PREFIX", "a")
    with pytest.raises(redis.ResponseError, match="both OPTIN mode and OPTOUT mode"):
        r.execute_command("CLIENT", "TRACKING", "ON", "OPTIN", "OPTOUT")


def test_monitor_shows_commands_as_redis(r):
    port = r.connection_pool.connection_kwargs["port"]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"MONITOR\r\n")
        assert read_until(s, b"+OK\r\n") == b"+OK\r\n"
        r.set("mk", 'a "b"\n')
        line = read_until(s, b"\r\n")
        assert line.startswith(b"+") and line.endswith(b'"SET" "mk" "a \\"b\\"\\n"\r\n'), line
        assert b" [0 127.0.0.1:" in line


def test_monitor_shows_scripts_before_and_exec_after_their_commands(r):
    """Redis shows EVAL/FCALL before the commands their script calls (those as `[0 lua]`), and
    EXEC after the queued commands it ran."""
    port = r.connection_pool.connection_kwargs["port"]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"MONITOR\r\n")
        assert read_until(s, b"+OK\r\n") == b"+OK\r\n"
        r.eval('return redis.call("GET", "mk")', 0)
        pipe = r.pipeline(transaction=True)
        pipe.get("a")
        pipe.set("b", 1)
        pipe.execute()
        r.ping()  # the last line: everything before it arrived
        lines = read_until(s, b'"PING"\r\n').split(b"\r\n")[:-1]
    shown = [line.split(b"] ", 1)[1] for line in lines]
    where = [line.split(b" [", 1)[1].split(b"]")[0] for line in lines]
    assert shown == [b'"EVAL" "return redis.call(\\"GET\\", \\"mk\\")" "0"', b'"GET" "mk"', b'"MULTI"',
                     b'"GET" "a"', b'"SET" "b" "1"', b'"EXEC"', b'"PING"'], lines
    assert where[1] == b"0 lua" and where[0].startswith(b"0 127.0.0.1:")


def test_monitor_redacts_secrets_as_redis(r):
    """introspection.tcl "MONITOR supports redacting command arguments"."""
    from xcache.resp import encode_command

    port = r.connection_pool.connection_kwargs["port"]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s, \
            socket.create_connection(("127.0.0.1", port), timeout=5) as other:
        s.sendall(b"MONITOR\r\n")
        assert read_until(s, b"+OK\r\n") == b"+OK\r\n"
        p = str(port).encode()
        for argv in ((b"MIGRATE", b"127.0.0.1", p, b"key", b"9", b"5000", b"AUTH", b"user"),
                     (b"MIGRATE", b"127.0.0.1", p, b"key", b"9", b"5000", b"AUTH2", b"u", b"pw"),
                     (b"AUTH", b"not-real"), (b"AUTH", b"not-real", b"not-a-password"),
                     (b"HELLO", b"2", b"AUTH", b"not-real", b"not-a-password"), (b"PING",)):
            other.sendall(encode_command(*argv))
            read_reply(other)
        lines = read_until(s, b'"PING"\r\n').split(b"\r\n")[:-1]
    shown = [line.split(b"] ", 1)[1] for line in lines]
    assert shown == [
        b'"MIGRATE" "127.0.0.1" "%b" "key" "9" "5000" "AUTH" "(redacted)"' % p,
        b'"MIGRATE" "127.0.0.1" "%b" "key" "9" "5000" "AUTH2" "(redacted)" "(redacted)"' % p,
        b'"AUTH" "(redacted)"', b'"AUTH" "(redacted)" "(redacted)"',
        b'"HELLO" "2" "AUTH" "(redacted)" "(redacted)"', b'"PING"'], lines


def test_shard_channels(r):
    port = r.connection_pool.connection_kwargs["port"]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"SSUBSCRIBE sc\r\n")
        assert read_until(s, b":1\r\n") == b"*3\r\n$10\r\nssubscribe\r\n$2\r\nsc\r\n:1\r\n"
        assert r.execute_command("SPUBLISH", "sc", "hi") == 1
        assert read_until(s, b"hi\r\n") == b"*3\r\n$8\r\nsmessage\r\n$2\r\nsc\r\n$2\r\nhi\r\n"
        assert raw(r, "PUBSUB", "SHARDCHANNELS") == [b"sc"]
        assert raw(r, "PUBSUB", "SHARDNUMSUB", "sc") == [b"sc", 1]
        assert r.publish("sc", "x") == 0  # another namespace


def test_lolwut_and_debug(x):
    assert b"Redis ver. 7." in x.execute_command("LOLWUT")
    x.set("k", "v")
    assert b"encoding:embstr" in raw(x, "DEBUG", "OBJECT", "k")
    assert x.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "0") is not None
    x.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "1")  # the node is shared: expiry back on
    with pytest.raises(redis.ResponseError, match="no such key"):
        x.execute_command("DEBUG", "OBJECT", "nokey")
    # DEBUG has no subcommand table in Redis: its handler's own fallback text
    with pytest.raises(redis.ResponseError, match=r"^unknown subcommand or wrong number of "
                       r"arguments for 'NOPE'\. Try DEBUG HELP\.$"):
        x.execute_command("DEBUG", "NOPE")


@pytest.mark.skipif(shutil.which("redis-benchmark") is None, reason="redis-benchmark not installed")
def test_redis_benchmark_shows_no_warning(xcache_node):
    """redis-benchmark reads CONFIG GET save/appendonly first; it warns when that fails."""
    out = subprocess.run(["redis-benchmark", "-p", str(xcache_node.port), "-n", "200", "-c", "2",
                          "-t", "set,get", "-q"], capture_output=True, timeout=60)
    text = (out.stdout + out.stderr).decode(errors="replace")
    assert out.returncode == 0, text
    assert "WARNING" not in text and "Could not fetch" not in text, text
    assert "SET:" in text and "GET:" in text
