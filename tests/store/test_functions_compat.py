"""FUNCTION / FCALL details from Redis 7.0's own suite (tests/unit/functions.tcl): function names
are case-insensitive, FCALL's numkeys error, FUNCTION RESTORE/FLUSH argument errors,
redis.register_function's argument errors, and FUNCTION LOAD's 500 ms limit (a library that
never returns must not hang the node). Raw replies equal redis-server's."""

from __future__ import annotations

import pytest

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

