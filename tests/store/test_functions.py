"""Redis 7 functions (FUNCTION ... / FCALL), checked against xcache and redis-server alike, plus
FUNCTION DUMP/RESTORE between them, persistence across a restart and replication."""

from __future__ import annotations

import pytest
import redis

from tests.procs import start_xcache_server
from tests.store.cluster import Cluster, client, wait_synced

LIB = "#!lua name=lib1\nredis.register_function('f1', function(keys, args) return keys[1] end)"
RO = ("#!lua name=lib5\nredis.register_function{function_name='f5', callback=function(keys, args) "
      "return redis.call('set', keys[1], args[1]) end, flags={'no-writes'}, description='desc'}")


@pytest.fixture
def f(r2):
    r = r2  # FUNCTION LIST's RESP3 map is not typed on the node yet
    r.function_flush()
    yield r
    r.function_flush()


def err(r, *args) -> str:
    with pytest.raises(redis.ResponseError) as exc:
        r.execute_command(*args)
    return str(exc.value)


def test_load_call_list_delete(f):
    assert f.function_load(LIB) == b"lib1"
    assert f.fcall("f1", 1, "k1") == b"k1"
    assert err(f, "FUNCTION", "LOAD", LIB) == "Library 'lib1' already exists"
    assert f.function_load(LIB.replace("keys[1]", "'new'"), replace=True) == b"lib1"
    assert f.fcall("f1", 1, "k1") == b"new"
    assert f.function_load(RO) == b"lib5"
    assert f.execute_command("FUNCTION", "LIST", "LIBRARYNAME", "lib5", "WITHCODE") == [[
        b"library_name", b"lib5", b"engine", b"LUA", b"functions",
        [[b"name", b"f5", b"description", b"desc", b"flags", [b"no-writes"]]],
        b"library_code", RO.encode()]]
    assert f.execute_command("FUNCTION", "STATS") == [
        b"running_script", None, b"engines",
        [b"LUA", [b"libraries_count", 2, b"functions_count", 2]]]
    assert f.function_delete("lib1") is True
    assert err(f, "FUNCTION", "DELETE", "lib1") == "Library not found"
    assert err(f, "FCALL", "f1", 0) == "Function not found"


@pytest.mark.parametrize("code,want", [
    ("return 1", "Missing library metadata"),
    ("#!js name=x\n", "Engine 'js' not found"),
    ("#!lua\n", "Library name was not given"),
    ("#!lua name=a-b\n", "Library names can only contain letters, numbers, or underscores(_) and "
                         "must be at least one character long"),
    ("#!lua name=x foo=bar\n", "Invalid metadata value given: foo=bar"),
    ("#!lua name=x\nlocal y = 1", "No functions registered"),
    ("#!lua name=x\nreturn 1 +", "Error compiling function: user_function:2: unexpected symbol "
                                 "near '<eof>'"),
    ("#!lua name=x\nredis.call('ping')", "Error registering functions: ERR user_function:2: Script "
                                         "attempted to access nonexistent global variable 'call'"),
    ("#!lua name=x\nredis.register_function('g', 5)",
     "Error registering functions: ERR second argument to redis.register_function must be a "
     "function"),
    ("#!lua name=x\nredis.register_function{function_name='g', callback=function() end, "
     "flags={'bogus'}}", "Error registering functions: ERR unknown flag given"),
])
def test_load_errors(f, code, want):
    assert err(f, "FUNCTION", "LOAD", code) == want


def test_fcall_errors_and_read_only(f):
    f.function_load(RO)
    f.function_load("#!lua name=e\nredis.register_function('boom', function() error('boom') end)")
    assert err(f, "FCALL", "boom", 0) == "user_function:2: boom script: boom, on @user_function:2."
    assert err(f, "FCALL", "f5", 1, "k", "v") == (
        "Write commands are not allowed from read-only scripts. script: f5, on @user_function:2.")
    f.function_load(LIB)
    assert err(f, "FCALL_RO", "f1", 1, "k") == (
        "Can not execute a script with write flag using *_ro command.")
    assert err(f, "FCALL", "f1", 5, "a") == "Number of keys can't be greater than number of args"
    assert err(f, "FUNCTION", "KILL") == "NOTBUSY No scripts in execution right now."


def test_dump_restore_between_redis_and_xcache(xcache_node, redis_node):
    x = redis.Redis(port=xcache_node.port, protocol=2)
    r = redis.Redis(port=redis_node.port, protocol=2)
    for c in (x, r):
        c.function_flush()
    r.function_load(LIB)
    r.function_load(RO)
    assert x.function_restore(r.function_dump()) is True
    assert x.fcall("f1", 1, "k") == b"k"
    assert err(x, "FUNCTION", "RESTORE", r.function_dump()) in (
        "Library lib1 already exists", "Library lib5 already exists")  # payload order
    assert err(x, "FUNCTION", "RESTORE", b"bad") == "DUMP payload version or checksum are wrong"
    r.function_flush()
    assert r.function_restore(x.function_dump(), "REPLACE") is True
    assert r.fcall("f1", 1, "k") == b"k"
    for c in (x, r):
        c.function_flush()


def test_libraries_survive_restart_and_replicate(tmp_path):
    cluster = Cluster(tmp_path)
    try:
        m = cluster.node()
        rep = cluster.replica_of(m)
        mc = client(m)
        mc.function_load(LIB)
        wait_synced(m, rep)
        assert client(rep).fcall("f1", 1, "k") == b"k"
        mc.function_delete("lib1")
        mc.function_load(RO)
        wait_synced(m, rep)
        with pytest.raises(redis.ResponseError, match="Function not found"):
            client(rep).fcall("f1", 1, "k")
        assert client(rep).execute_command("FUNCTION", "LIST")[0][1] == b"lib5"
    finally:
        cluster.stop()
    data = tmp_path / "restarted"
    node = start_xcache_server(tmp_path, data_dir=data)
    try:
        client(node).function_load(LIB)
    finally:
        node.stop()
    node = start_xcache_server(tmp_path, data_dir=data)
    try:
        assert client(node).fcall("f1", 1, "k") == b"k"
    finally:
        node.stop()


def test_busy_function_is_killed_by_function_kill(f):
    import threading

    from tests.procs import wait_until

    port = f.connection_pool.connection_kwargs["port"]
    f.function_load("#!lua name=spin\nredis.register_function('spin', function() while true do end end)")
    f.config_set("lua-time-limit", 100)
    try:
        result = []
        runner = redis.Redis(port=port, protocol=2, socket_timeout=30)

        def call():
            try:
                result.append(runner.execute_command("FCALL", "spin", 0))
            except redis.ResponseError as exc:
                result.append(str(exc))

        t = threading.Thread(target=call)
        t.start()
        other = redis.Redis(port=port, protocol=2, socket_timeout=30)
        busy = ("BUSY Redis is busy running a script. You can only call FUNCTION KILL or "
                "SHUTDOWN NOSAVE.")

        def ping():
            try:
                return other.ping() and None
            except redis.ResponseError as exc:
                return str(exc)

        assert wait_until(ping, what="BUSY for other clients") == busy
        assert err(other, "SCRIPT", "KILL") == busy
        stats = other.execute_command("FUNCTION", "STATS")
        assert stats[1][:3] == [b"name", b"spin", b"command"]
        assert [a.lower() for a in stats[1][3]] == [b"fcall", b"spin", b"0"]
        assert other.execute_command("FUNCTION", "KILL") == b"OK"
        t.join(10)
        assert result == ["Script killed by user with SCRIPT KILL... script: spin, on "
                          "@user_function:2."]
        runner.close()
        other.close()
    finally:
        try:
            f.execute_command("FUNCTION", "KILL")  # never leave the node busy for later tests
        except redis.ResponseError:
            pass
        f.config_set("lua-time-limit", 5000)
