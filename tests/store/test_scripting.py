"""Lua scripting (EVAL/EVALSHA/SCRIPT), checked against xcache and redis-server alike (fixture
`r`), plus effects replication between xcache nodes."""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass

import pytest
import redis

from tests.help_lines import raw as raw_reply
from tests.procs import wait_until
from tests.store.cluster import client, wait_synced


def ev(r, script: str, *keys_and_args, numkeys: int = 0):
    return r.execute_command("EVAL", script, numkeys, *keys_and_args)


def ev_err(r, script: str, *args, numkeys: int = 0) -> str:
    with pytest.raises(redis.ResponseError) as exc:
        ev(r, script, *args, numkeys=numkeys)
    return str(exc.value)


def sha(script: str) -> str:
    import hashlib

    return hashlib.sha1(script.encode()).hexdigest()


@pytest.mark.parametrize("script,want", [
    ("return {1,2,3.9,'x',false,nil,4}", [1, 2, 3, b"x", None]),
    ("return {ok='fine'}", b"fine"),
    ("return redis.status_reply('X')", b"X"),
    ("return 3.99", 3),
    ("return true", 1),
    ("return false", None),
    ("return redis.sha1hex('')", b"da39a3ee5e6b4b0d3255bfef95601890afd80709"),
    ("return type(redis.call('get','nokey'))", b"boolean"),
    ("return redis.call('ping')", b"PONG"),
    ("return redis.call('ping')['ok']", b"PONG"),
    ("redis.call('set', 'k', 1e20) return redis.call('get', 'k')", b"1e+20"),
    ("redis.call('set', 'k', 3.5) return redis.call('get', 'k')", b"3.5"),
    ("redis.call('set', 'k', 12345678901234567) return redis.call('get', 'k')",
     b"12345678901234568"),
    ("return _VERSION", b"Lua 5.1"),
    ("local function foo() return 7 end return foo()", 7),
    ("return {KEYS[1], ARGV[1], #KEYS, #ARGV}", [b"key1", b"arg1", 1, 2]),
    ("redis.call('lpush', 'l', 1, 2) return redis.call('lrange', 'l', 0, -1)", [b"2", b"1"]),
    ("redis.call('zadd', 'z', 1.5, 'm') return redis.call('zrange', 'z', 0, -1, 'withscores')",
     [b"m", b"1.5"]),
    ("redis.call('xadd', 's', '1-1', 'a', 'b') return redis.call('xrange', 's', '-', '+')",
     [[b"1-1", [b"a", b"b"]]]),
    ("return redis.pcall('incr', 'nokey')", 1),
    ("return redis.log(redis.LOG_WARNING, 'hi')", None),
    ("return bit.band(5, 3)", 1),
    ("return bit.tohex(255, -4)", b"00FF"),
    ("return bit.arshift(-16, 2)", -4),
    ("return bit.tobit(2^32 + 5)", 5),
    ("return cjson.encode({1, 2, {a='x/y'}})", b'[1,2,{"a":"x\\/y"}]'),
    ("return cjson.encode({[1]=1,[3]=3})", b"[1,null,3]"),
    ("return cjson.encode({})", b"{}"),
    ("return cjson.decode('[1,2,{\"a\":null}]')[3].a == cjson.null", 1),
    ("return cjson.encode(cjson.decode('{\"a\":[1,{\"b\":false}]}'))", b'{"a":[1,{"b":false}]}'),
])
def test_replies_convert_as_in_redis(r, script, want):
    assert ev(r, script, "key1", "arg1", "arg2", numkeys=1) == want


@pytest.mark.parametrize("script,want", [
    ("return x", "user_script:1: Script attempted to access nonexistent global variable 'x'"),
    ("x = 5", "user_script:1: Attempt to modify a readonly table"),
    ("error('boom')", "user_script:1: boom"),
    ("return redis.call('nosuch')", "Unknown Redis command called from script"),
    ("return redis.call('get')", "Wrong number of args calling Redis command from script"),
    ("return redis.call()", "Please specify at least one argument for this redis lib call"),
    ("return redis.call('incr', {})", "Lua redis lib command arguments must be strings or integers"),
    ("return redis.call('multi')", "This Redis command is not allowed from script"),
    ("return redis.setresp(4)", "RESP version must be 2 or 3."),
    ("return cjson.decode('bad')",
     "user_script:1: Expected value but found invalid token at character 1"),
    ("redis.call('set', 'h', 'v') return redis.call('hget', 'h', 'f')",
     "WRONGTYPE Operation against a key holding the wrong kind of value"),
])
def test_raised_errors_name_the_script_and_line(r, script, want):
    assert ev_err(r, script) == f"{want} script: {sha(script)}, on @user_script:1."


def test_returned_errors_and_compile_errors(r):
    assert ev_err(r, "return redis.pcall('nosuch')") == "Unknown Redis command called from script"
    assert ev_err(r, "return redis.error_reply('My Error')") == "My Error"
    assert ev_err(r, "return redis.error_reply('Oops')") == "Oops"
    assert ev_err(r, "return {err='bad thing'}") == "bad thing"
    r.set("s", "v")
    assert ev_err(r, "return redis.pcall('incr', 's')") == "value is not an integer or out of range"
    assert ev_err(r, "return 1 +") == (
        "Error compiling script (new function): user_script:1: unexpected symbol near '<eof>'")
    assert ev_err(r, "return 1", "a", numkeys=2) == (
        "Number of keys can't be greater than number of args")
    assert ev_err(r, "return 1", numkeys=-1) == "Number of keys can't be negative"


def test_shebang_flags(r):
    body = "#!lua flags=no-writes\nreturn redis.call('set', 'a', 1)"
    assert ev_err(r, body) == (f"Write commands are not allowed from read-only scripts. script: "
                               f"{sha(body)}, on @user_script:2.")
    assert ev_err(r, "#!lua flags=bogus\nreturn 1") == "Unexpected flag in script shebang: bogus"
    assert ev_err(r, "#!js\nreturn 1") == "Unexpected engine in script shebang: #!js"
    assert ev_err(r, "#!lua name=x\nreturn 1") == "Unknown lua shebang option: name=x"
    assert ev(r, "#!lua\nreturn 1") == 1
    with pytest.raises(redis.ResponseError, match="Can not execute a script with write flag"):
        r.execute_command("EVAL_RO", "#!lua\nreturn redis.call('get', 'a')", 0)
    assert r.execute_command("EVAL_RO", "#!lua flags=no-writes,allow-stale\nreturn 2", 0) == 2


def test_script_cache_and_evalsha(r):
    body = "return ARGV[1] .. KEYS[1]"
    digest = r.script_load(body)
    assert digest == sha(body)
    assert r.execute_command("EVALSHA", digest, 1, "k", "v") == b"vk"
    assert r.execute_command("EVALSHA", digest.upper(), 1, "k", "v") == b"vk"
    assert r.script_exists(digest, "0" * 40) == [True, False]
    assert r.script_flush() is True
    with pytest.raises(redis.exceptions.NoScriptError, match="No matching script. Please use EVAL."):
        r.execute_command("EVALSHA", digest, 0)
    with pytest.raises(redis.ResponseError, match="Write commands are not allowed from read-only"):
        r.execute_command("EVAL_RO", "return redis.call('set', 'a', 1)", 0)
    assert r.execute_command("EVAL_RO", "return redis.call('get', 'nope')", 0) is None
    # The node is shared by the worker's tests: wait until no script of theirs still runs
    # (FUNCTION STATS' running_script), then nothing is left for SCRIPT KILL.
    wait_until(lambda: _stats(r)[b"running_script"] is None, what="no script running")
    with pytest.raises(redis.ResponseError, match="NOTBUSY No scripts in execution right now."):
        r.script_kill()


def _stats(r) -> dict:
    reply = r.execute_command("FUNCTION", "STATS")
    return reply if isinstance(reply, dict) else dict(zip(reply[0::2], reply[1::2], strict=True))


@dataclass
class Busy:
    """A script keeping the node busy (busy_script)."""

    runner: redis.Redis  # the client running it
    other: redis.Redis  # another client, which saw BUSY
    thread: threading.Thread
    result: list  # the script's reply or error, once it ended

    def reply(self):
        self.thread.join(10)
        return self.result[0]


@contextlib.contextmanager
def busy_script(r, script: str, limit_ms: int = 100):
    """EVAL script (which must outlast limit_ms) from a client of its own in a thread, with
    lua-time-limit at limit_ms, until another client gets BUSY; afterwards the script is killed
    if it still runs (never leave the node busy for later tests) and the limit restored."""
    port = r.connection_pool.connection_kwargs["port"]
    r.config_set("lua-time-limit", limit_ms)
    # no retry: redis-py 8 would send the EVAL again (10 times) after its connection is gone,
    # starting endless scripts that later tests would find running
    runner = redis.Redis(port=port, protocol=2, socket_timeout=30,
                         retry=redis.retry.Retry(redis.backoff.NoBackoff(), 0))
    other = redis.Redis(port=port, protocol=2, socket_timeout=30)
    result: list = []
    t = threading.Thread(target=lambda: result.append(
        _catch(runner.execute_command, "EVAL", script, 0)))
    try:
        t.start()
        wait_until(lambda: "BUSY" in str(_catch(other.ping)), what="BUSY for other clients")
        yield Busy(runner, other, t, result)
    finally:
        _catch(r.script_kill)
        t.join(10)
        r.config_set("lua-time-limit", 5000)
        runner.close()
        other.close()


def test_busy_script_is_killed(r):
    with busy_script(r, "while true do end") as busy:
        assert str(_catch(busy.other.get, "x")) == (
            "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.")
        assert busy.other.script_kill() is True
        assert str(busy.reply()) == ("Script killed by user with SCRIPT KILL... script: "
                                     f"{sha('while true do end')}, on @user_script:1.")
        assert busy.other.ping() is True


def test_script_runs_atomically_and_a_writer_is_unkillable(r):
    port = r.connection_pool.connection_kwargs["port"]
    r.config_set("lua-time-limit", 100)
    script = ("redis.call('set', 'a', '1') local i = 0 while i < 100000000 do i = i + 1 end "
              "redis.call('set', 'a', '2') return i")
    try:
        result = []
        runner = redis.Redis(port=port, protocol=2, socket_timeout=60)
        t = threading.Thread(target=lambda: result.append(runner.execute_command("EVAL", script, 0)))
        t.start()
        other = redis.Redis(port=port, protocol=2, socket_timeout=60)
        seen = []

        def busy():
            reply = _catch(other.get, "a")
            seen.append(reply)
            return "BUSY" in str(reply)

        wait_until(busy, what="BUSY for other clients")
        assert b"1" not in seen  # never the script's intermediate state
        with pytest.raises(redis.ResponseError, match="UNKILLABLE"):
            other.script_kill()
        t.join(60)
        assert result == [100000000]
        assert other.get("a") == b"2"
        runner.close()
        other.close()
    finally:
        _catch(r.script_kill)  # never leave the node busy for later tests
        r.config_set("lua-time-limit", 5000)


def _catch(fn, *args):
    try:
        return fn(*args)
    except redis.RedisError as exc:
        return exc


def test_script_effects_replicate(cluster):
    m = cluster.node()
    rep = cluster.replica_of(m)
    mc = client(m)
    script = ("redis.call('set', KEYS[1], ARGV[1]) redis.call('incr', 'n') "
              "redis.call('rpush', 'l', redis.call('time')[1]) "
              "redis.call('select', 1) redis.call('set', 'db1', 'x') return 1")
    assert mc.execute_command("EVAL", script, 1, "k", "v") == 1
    assert mc.execute_command("EVAL", script, 1, "k", "w") == 1
    wait_synced(m, rep)
    rc = client(rep)
    assert rc.get("k") == b"w" and rc.get("n") == b"2"
    assert rc.lrange("l", 0, -1) == mc.lrange("l", 0, -1)
    assert client(rep, 1).get("db1") == b"x"
    assert mc.execute_command("SCRIPT", "EXISTS", sha(script)) == [1]
    with pytest.raises(redis.exceptions.ReadOnlyError, match="read only replica. script: "):
        rc.execute_command("EVAL", "return redis.call('set', 'z', 1)", 0)


def test_script_outlives_its_disconnected_caller(r):
    with busy_script(r, "while true do end") as busy:
        busy.runner.connection_pool.disconnect()  # the caller goes away: the script keeps running
        busy.thread.join(10)
        assert not busy.thread.is_alive()
        assert "BUSY" in str(_catch(busy.other.get, "x"))
        assert busy.other.script_kill() is True
        wait_until(lambda: busy.other.ping() is True, what="the node serving again")


SETRESP_SCRIPTS = [
    "redis.setresp(3); return redis.call('HGETALL','h')",
    "redis.setresp(3); local t = redis.call('HGETALL','h'); return {type(t.map), t.map.a}",
    "redis.setresp(3); return redis.call('SMEMBERS','s')",
    "redis.setresp(3); local t = redis.call('SMEMBERS','s'); return tostring(t.set.x)",
    "redis.setresp(3); return redis.call('ZSCORE','z','m')",
    "redis.setresp(3); return tostring(redis.call('ZSCORE','z','m').double)",
    "redis.setresp(3); return type(redis.call('GET','nosuch'))",
    "redis.setresp(3); return redis.call('ZRANGE','z',0,-1,'WITHSCORES')",
    "redis.setresp(3); return {true, false}",
    "redis.setresp(3); return false",
    "redis.setresp(3); return {map={a=1}}",
    "redis.setresp(2); return redis.call('HGETALL','h')",
    "return {true, false}",
    "return false",
    "return {double=3.5}",
    "return {map={a=1}}",
    "return {set={a=true}}",
    "return {ok='a\\r\\nb'}",
]


@pytest.mark.parametrize("proto", [2, 3])
@pytest.mark.parametrize("script", SETRESP_SCRIPTS)
def test_setresp_and_typed_returns_as_redis(xcache_node, redis_node, script, proto):
    """redis.setresp(3): commands answer the script in RESP3 (nil, {map=}, {set=}, {double=},
    booleans); typed tables a script returns ({double=}, {map=}, {set=}) are typed replies; its
    booleans are RESP3 booleans after setresp(3). Byte for byte redis-server's reply."""
    replies = []
    for node in (xcache_node, redis_node):
        for cmd in (["DEL", "h", "s", "z"], ["HSET", "h", "a", "1"], ["SADD", "s", "x"],
                    ["ZADD", "z", "1.5", "m"]):
            raw_reply(node.port, *cmd)
        replies.append(raw_reply(node.port, "EVAL", script, "0", proto=proto))
    assert replies[0] == replies[1]


SANDBOX_SCRIPTS = [
    # the host is out of reach: lupa's runtime has these, Redis's scripts do not
    "return type(python)", "return type(io)", "return type(os)", "return type(require)",
    "return type(package)", "return type(debug)", "return type(getfenv)", "return type(setfenv)",
    "return type(module)", "return type(newproxy)", "return type(print)", "return type(dofile)",
    "local ok = pcall(loadstring('return type(io)')) return tostring(ok)",
    "local f = load(function() return nil end) return type(f)",
    "return loadstring('return 1 + 1')()",
    # exactly Redis 7.0's globals, and pairs/next/rawget see through the read-only views
    "local t = {} for k, v in pairs(_G) do t[#t + 1] = tostring(k) .. ':' .. type(v) end "
    "table.sort(t) return t",
    "local n = 0 for k in pairs(string) do n = n + 1 end return n",
    "return next(math) ~= nil", "return rawget(string, 'len') ~= nil",
    # the libraries are read-only, so no script changes what the next one sees
    "string.x = 1 return 1", "cmsgpack.x = 1 return 1", "redis.x = 1 return 1",
    "table.insert = nil return 1", "rawset(string, 'y', 1) return 1", "return string.x",
    "for k, v in pairs(nil) do end return 1", "local x = next(5) return 1",
]


@pytest.mark.parametrize("script", SANDBOX_SCRIPTS)
def test_script_globals_are_redis_sandbox(xcache_node, redis_node, script):
    """A script sees Redis 7.0's globals and nothing of the process it runs in (lupa's `python`,
    io, os, require... would hand it the node); the libraries are read-only. Raw replies equal."""
    got, want = (raw_reply(node.port, "EVAL", script, "0") for node in (xcache_node, redis_node))
    assert got == want
