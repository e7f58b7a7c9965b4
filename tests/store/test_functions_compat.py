"""FUNCTION / FCALL details from Redis 7.0's own suite (tests/unit/functions.tcl): function names
are case-insensitive, FCALL's numkeys error, FUNCTION RESTORE/FLUSH argument errors,
redis.register_function's argument errors, and FUNCTION LOAD's 500 ms limit (a library that
never returns must not hang the node). Raw replies equal redis-server's."""

from __future__ import annotations

import pytest
import redis

from tests.help_lines import raw as raw_reply

LIB = "#!lua name=caselib\nredis.register_function('test', function() return 'hi' end)"

CASES = [
    [["FUNCTION", "LOAD", "REPLACE", LIB], ["FCALL", "TEST", "0"]],
    [["FUNCTION", "LOAD", "REPLACE", LIB], ["FCALL", "test", "bad_arg"]],
    [["FUNCTION", "RESTORE", "arg1", "arg2", "arg3"]],
    [["FUNCTION", "FLUSH", "sync", "extra_arg"]],
    [["FUNCTION", "FLUSH", "bad_arg"]],
    [["FUNCTION", "LOAD", "REPLACE", "#!lua name=lib2\nredis.register_function('f1')"]],
    [["FUNCTION", "LOAD", "REPLACE",
      "#!lua name=lib2\nredis.register_function(nil, function() return 1 end)"]],
    [["FUNCTION", "LOAD", "REPLACE",
      "#!lua name=lib2\nredis.register_function('f1', function() end, {}, 'd', 'x')"]],
    [["FUNCTION", "LOAD", "#!lua name=lib\nlocal a = 1\nwhile 1 do a = a + 1 end"],
     ["PING"]],
    # the load-time API is readonly and dead once the load is over
    [["FUNCTION", "LOAD", "REPLACE", "#!lua name=lib1\nlocal lib = redis\n"
      "lib.register_function('f1', function () lib.redis = redis return {ok='OK'} end)\n"
      "lib.register_function('f2', function () "
      "lib.register_function('f1', function () return 1 end) end)"],
     ["FCALL", "f1", "0"], ["FCALL", "f2", "0"]],
    [["FUNCTION", "LOAD", "REPLACE", "#!lua name=lib\nredis.register_function{"
      "function_name=function() return 1 end, callback=function() return 'hello' end}"]],
    [["FUNCTION", "LOAD", "#!lua name=lib2\nredis.math.random()"]],
    [["FUNCTION", "LIST", "LIBRARYNAME"]],
    # library metadata (functionExtractLibMetaData)
    [["FUNCTION", "LOAD", "REPLACE", "#! name=test\nredis.register_function('foo', "
      "function() return 1 end)"]],
    [["FUNCTION", "LOAD", "REPLACE", "#!lua name=\"foo\"\nredis.register_function('foo', "
      "function() return 1 end)"], ["FCALL", "foo", "0"]],
    [["FUNCTION", "LOAD", "REPLACE", "#!LUA NAME=up\nredis.register_function('foo', "
      "function() return 1 end)"]],
    [["FUNCTION", "LOAD", "REPLACE", "#!lua name=nonewline"]],
    [["FUNCTION", "LOAD", "REPLACE", "#!py name=x\nreturn 1"]],
    [["FUNCTION", "LOAD", "REPLACE", "#!py name=x-y\nreturn 1"]],
]


@pytest.mark.parametrize("commands", CASES)
def test_functions_answer_as_redis(xcache_node, redis_node, commands):
    replies = []
    for node in (xcache_node, redis_node):
        raw_reply(node.port, "FUNCTION", "FLUSH")
        replies.append([raw_reply(node.port, *cmd) for cmd in commands])
        raw_reply(node.port, "FUNCTION", "FLUSH")
    assert replies[0] == replies[1]



LIB_F1_F3 = ("#!lua name=lib1\nredis.register_function('f1', function() return 1 end)\n"
             "redis.register_function('f3', function() return 3 end)")


def test_restore_checks_libraries_before_functions(xcache_node, redis_node):
    """libraryJoin: FUNCTION RESTORE (APPEND) refuses an existing library before it looks at
    function names; REPLACE refuses a function another (kept) library has."""
    replies = []
    for node in (xcache_node, redis_node):
        r = redis.Redis(port=node.port)
        try:
            r.function_flush()
            r.function_load(LIB_F1_F3)
            payload = r.function_dump()
            r.function_flush()
            r.function_load("#!lua name=lib1\nredis.register_function('f6', function() return 6 end)")
            r.function_load("#!lua name=lib2\nredis.register_function('f3', function() return 33 end)")
            out = []
            for policy in ("APPEND", "REPLACE"):
                try:
                    out.append(r.execute_command("FUNCTION", "RESTORE", payload, policy))
                except redis.ResponseError as exc:
                    out.append(str(exc))
            out.append(r.fcall("f6", 0))
            out.append(r.fcall("f3", 0))
            replies.append(out)
        finally:
            r.function_flush()
            r.close()
    assert replies[0] == replies[1] == ["Library lib1 already exists", "Function f3 already exists",
                                        6, 33]


def test_info_memory_counts_scripts_and_functions(xcache_node, redis_node):
    """INFO memory's number_of_cached_scripts / _functions / _libraries follow SCRIPT LOAD,
    FUNCTION LOAD and the flushes."""
    counts = []
    for node in (xcache_node, redis_node):
        r = redis.Redis(port=node.port)
        names = ("number_of_cached_scripts", "number_of_functions", "number_of_libraries")
        try:
            r.script_flush()
            r.function_flush()
            seen = []
            for j in range(3):
                r.script_load(f"return {j}")
            r.function_load(LIB_F1_F3)
            seen.append([r.info("memory")[n] for n in names])
            r.script_flush("ASYNC")
            r.function_flush()
            seen.append([r.info("memory")[n] for n in names])
            counts.append(seen)
        finally:
            r.close()
    assert counts[0] == counts[1] == [[3, 2, 1], [0, 0, 0]]


@pytest.mark.parametrize("proto", [2, 3])
def test_function_stats_reply_types_as_redis(xcache_node, redis_node, proto):
    # maps in RESP3 (found by scripts/command_sweep.py --resp3), flat arrays in RESP2
    for port in (xcache_node.port, redis_node.port):
        raw_reply(port, "FUNCTION", "FLUSH")
        raw_reply(port, "FUNCTION", "LOAD", LIB)
    assert raw_reply(xcache_node.port, "FUNCTION", "STATS", proto=proto) == \
        raw_reply(redis_node.port, "FUNCTION", "STATS", proto=proto)
    for port in (xcache_node.port, redis_node.port):
        raw_reply(port, "FUNCTION", "FLUSH")
