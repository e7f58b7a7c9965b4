"""Scripting details from Redis 7.0's own suite (tests/unit/scripting.tcl): how a returned table
is read, the stack limit, cjson's configuration functions, redis.acl_check_cmd, the readonly
globals' metatables, binary chunks, SCRIPT KILL through pcall, may-replicate commands in
read-only scripts. Raw replies are compared byte for byte with redis-server's."""

from __future__ import annotations

import socket

import pytest
import redis

from tests.help_lines import raw as raw_reply
from tests.store.test_scripting import busy_script, sha

SCRIPTS = [
    # tables are read raw: a metatable's __index never runs while the reply is built
    "local a = {}; setmetatable(a,{__index=function() foo() end}) return a",
    "local a = {}; setmetatable(a,{__index=function() redis.call('set', 'x', '1') end}) return a",
    "return _G",
    # cjson's configuration functions
    "return {cjson.encode_keep_buffer(), cjson.encode_keep_buffer(false), cjson.encode({1, 'a'}),"
    " cjson.encode_keep_buffer(true)}",
    "cjson.encode_max_depth(1) local ok, e = pcall(cjson.encode, {{1}}) "
    "cjson.encode_max_depth(1000) return {tostring(ok), e}",
    "cjson.decode_max_depth(2) local ok, e = pcall(cjson.decode, '[[[1]]]') "
    "cjson.decode_max_depth(1000) return {tostring(ok), e}",
    "return {cjson.encode_invalid_numbers('null'), cjson.encode({0/0}), "
    "cjson.encode_invalid_numbers(true), cjson.encode({1/0, -1/0, 0/0}), "
    "cjson.encode_invalid_numbers(false), tostring(pcall(cjson.encode, {0/0}))}",
    "cjson.encode_number_precision(3) local r = cjson.encode(3.14159) "
    "cjson.encode_number_precision(14) return r",
    "return cjson.encode(123456789012345)",
    "return cjson.encode_max_depth('x')",
    "return cjson.encode_max_depth(0)",
    "return cjson.encode_invalid_numbers('bad')",
    # redis.acl_check_cmd (the default user may run anything)
    "return {redis.acl_check_cmd('set', 'xx', 1), redis.acl_check_cmd('config', 'get', 'x')}",
    "return redis.acl_check_cmd('invalid-cmd', 'arg')",
    "return redis.acl_check_cmd()",
    # _G and the libraries are readonly tables, metatables included; no binary chunks
    "setmetatable(_G, {})",
    "setmetatable(string, {})",
    "local g = getmetatable(_G) g.__index = {}",
    "return {type(getmetatable(_G)), type(getmetatable(string)), type(getmetatable('x'))}",
    "return type(loadstring(string.dump(function() return 1 end)))",
    "local f, e = loadstring(string.dump(function() return 1 end), 'abc') return e",
    "local f, e = loadstring(string.dump(function() return 1 end), '=abc') return e",
    "return loadstring(string.dump(function() return 1 end))()",
    # noscript subcommand; may-replicate commands count as writes in read-only scripts
    "return redis.call('cluster', 'reset')",
    "#!lua flags=no-writes\nreturn redis.call('publish', 'ch', 'msg')",
    "#!lua flags=no-writes\nreturn redis.call('pfcount', 'hll')",
    "return redis.call('publish', 'ch', 'msg')",
    # pcall hands the script error messages (Redis 7's own pcall), xpcall's handler the raw error
    "return {pcall(cjson.decode, 'bad')}",
    "local ok, e = pcall(redis.call, 'nope') return e",
    "local ok, e = pcall(function() redis.call('nope') end) return type(e)",
    "return {xpcall(function() redis.call('nope') end, function(e) return type(e) end)}",
    "return {xpcall(function() cjson.decode('[') end, function(e) return type(e) end)}",
    "return {pcall(error, redis.error_reply('MY x'))}",
]


@pytest.mark.parametrize("script", SCRIPTS)
def test_scripts_answer_as_redis(xcache_node, redis_node, script):
    got, want = (raw_reply(node.port, "EVAL", script, "0") for node in (xcache_node, redis_node))
    assert got == want
    assert raw_reply(xcache_node.port, "GET", "x") == b"$-1\r\n"


def test_eval_ro_rejects_may_replicate_commands(xcache_node, redis_node):
    got, want = (raw_reply(node.port, "EVAL_RO", "return redis.call('publish','ch','msg')", "0")
                 for node in (xcache_node, redis_node))
    assert got == want
    assert got.startswith(b"-ERR Write commands are not allowed from read-only scripts. script:")


MASSIVE = "local a = {} for i=1,%d do a[i] = 1 end return redis.%s('lpush', KEYS[1], unpack(a))"
MASSIVE_LIBRARY = ("#!lua name=massive\nredis.register_function('push', function(keys, args) "
                   "local a = {} for i=1,7999 do a[i] = 1 end "
                   "return redis.call('lpush', keys[1], unpack(a)) end)")


def test_massive_unpack_reaches_the_command(xcache_node, redis_node):
    """Redis's 'Script check unpack with massive arguments': 8,001 arguments to redis.call (more
    than lupa's call into Python takes: the script runs again with call/pcall packing them into
    one table, lua_api.py)."""
    for node in (xcache_node, redis_node):
        assert raw_reply(node.port, "FUNCTION", "LOAD", MASSIVE_LIBRARY) == b"$7\r\nmassive\r\n"
    for args in ([MASSIVE % (7999, "call"), "1", "l"], [MASSIVE % (7999, "pcall"), "1", "l"],
                 [MASSIVE % (8000, "call"), "1", "l"], [MASSIVE % (100, "call"), "1", "l"],
                 # errors name the script's line, tail-called or not, massive or not
                 ["local x = unpack({1})\nredis.call('incr', KEYS[1])", "1", "l"],
                 ["return redis.call(unpack(ARGV))", "1", "l", "incr", "l"],
                 [MASSIVE.replace("lpush", "incr") % (7999, "call"), "1", "l"]):
        got, want = (raw_reply(node.port, "EVAL", *args) for node in (xcache_node, redis_node))
        assert got == want
    got, want = (raw_reply(node.port, "FCALL", "push", "1", "l2") for node in (xcache_node, redis_node))
    assert got == want == b":7999\r\n"
    # The massive call is run again with call/pcall packing (lua_api.py), which cannot be done
    # once other commands of the script ran: then a clear error, where Redis pushes the values.
    script = "redis.call('get', 'x') " + MASSIVE % (7999, "call")
    assert raw_reply(xcache_node.port, "EVAL", script, "1", "l3") == (
        b"-ERR a redis.call with more than 7990 arguments can only come before the script's "
        b"other commands here script: %s, on @user_script:1.\r\n" % sha(script).encode())


def test_recursive_table_stops_at_the_stack_limit(r):
    """A table that contains itself: nested one-element arrays, then Redis's error; the
    connection stays usable."""
    port = r.connection_pool.connection_kwargs["port"]
    script = b"local a = {}; local b = {a}; a[1] = b; return a"
    reply = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        # read by hand: hiredis refuses replies nested this deep
        s.sendall(b"*3\r\n$4\r\nEVAL\r\n$%d\r\n%s\r\n$1\r\n0\r\n" % (len(script), script))
        while not reply.endswith(b"stack limit\r\n"):
            chunk = s.recv(65536)
            assert chunk, reply[-100:]
            reply += chunk
    head, _, tail = reply.partition(b"-")
    assert tail == b"ERR reached lua stack limit\r\n"
    assert head and head == b"*1\r\n" * (len(head) // 4)
    assert r.ping() is True


def test_script_kill_is_not_caught_by_pcall(r):
    script = ("local f = function() while 1 do redis.call('ping') end end "
              "while 1 do pcall(f) end")
    with busy_script(r, script, limit_ms=10) as busy:
        assert busy.other.script_kill() is True
        assert str(busy.reply()) == ("Script killed by user with SCRIPT KILL... script: "
                                     f"{sha(script)}, on @user_script:1.")
        assert busy.other.ping() is True


def test_declared_writer_refused_without_good_replicas(xcache_node, redis_node):
    """scripting.tcl: with min-replicas-to-write unmet, a script declaring flags without
    no-writes (EVAL shebang, FCALL) is refused with NOREPLICAS before it runs; a no-writes or
    flagless script runs."""
    lib = "#!lua name=nrlib\nredis.register_function('nr_get', function() return 1 end)"
    for node in (xcache_node, redis_node):
        c = redis.Redis(port=node.port, protocol=2)
        c.set("x", "v")
        c.execute_command("FUNCTION", "LOAD", "REPLACE", lib)
        c.config_set("min-replicas-to-write", 1)
        try:
            for args in (["EVAL", "#!lua\nreturn redis.call('get','x')", 1, "x"],
                         ["FCALL", "nr_get", 0]):
                with pytest.raises(redis.ResponseError, match="Not enough good replicas to write"):
                    c.execute_command(*args)
            with pytest.raises(redis.ResponseError, match="Not enough good replicas to write"):
                c.execute_command("EVAL", "return redis.call('set','x', 1)", 1, "x")
            assert c.execute_command("EVAL", "return redis.call('get','x')", 1, "x") == b"v"
            assert c.execute_command("EVAL", "#!lua flags=no-writes\nreturn redis.call('get','x')",
                                     1, "x") == b"v"
        finally:
            c.config_set("min-replicas-to-write", 0)
            c.execute_command("FUNCTION", "DELETE", "nrlib")
            c.close()
