"""SYNC, the replication protocol before PSYNC: an RDB of the node's data that redis-server loads
as the same dataset, then the stream of writes (as `redis-cli --rdb` and Redis's own test suite's
attach_to_replication_stream use it)."""

import os
import shutil
import socket
import subprocess

import pytest
import redis

from tests.procs import start_redis, start_xcache_server, wait_until


def test_redis_cli_rdb_backup_loads_into_redis_server(tmp_path):
    if shutil.which("redis-cli") is None:
        pytest.skip("needs redis-cli")
    with start_xcache_server(tmp_path / "node") as node:
        r = redis.Redis(port=node.port)
        r.set("s", "hello")
        r.set("n", 42)
        r.rpush("l", "a", "b")
        r.sadd("set", "x", 1)
        r.zadd("z", {"m": 1.5})
        r.hset("h", "f", "v")
        r.xadd("st", {"f": "v"}, id="1-1")
        r.set("e", "v", ex=1000)
        redis.Redis(port=node.port, db=3).set("other", "db3")
        rdb = tmp_path / "backup.rdb"
        subprocess.run(["redis-cli", "-p", str(node.port), "--rdb", str(rdb)], check=True,
                       capture_output=True, timeout=30)
        digest = r.execute_command("DEBUG", "DIGEST")
    with start_redis(tmp_path / "redis", "--dbfilename", rdb.name, "--dir", str(tmp_path),
                     "--enable-debug-command", "yes") as loaded:
        assert redis.Redis(port=loaded.port).execute_command("DEBUG", "DIGEST") == digest


def read_command(f) -> list[bytes]:
    """The next RESP command of a replication stream (a file-like socket reader), PINGs skipped:
    the master's cron sends one every repl-ping-replica-period, whenever its turn comes."""
    argv = _read_one(f)
    while argv == [b"PING"]:
        argv = _read_one(f)
    return argv


def _read_one(f) -> list[bytes]:
    n = int(f.readline()[1:])
    argv = []
    for _ in range(n):
        size = int(f.readline()[1:])
        argv.append(f.read(size + 2)[:-2])
    return argv


def read_rdb(f) -> bytes:
    """The RDB payload of a SYNC reply: $<len>, after the newlines that keep a waiting replica's
    read timeout fed."""
    header = f.readline()
    while header == b"\n":
        header = f.readline()
    assert header.startswith(b"$"), header
    return f.read(int(header[1:]))


def test_sync_streams_the_writes_after_its_rdb(xcache_node):
    r = redis.Redis(port=xcache_node.port)
    r.set("before", "1")
    with socket.create_connection(("127.0.0.1", xcache_node.port), timeout=10) as s:
        s.sendall(b"SYNC\r\n")
        f = s.makefile("rb")
        rdb = read_rdb(f)
        assert rdb.startswith(b"REDIS0010") and b"before" in rdb
        assert any(c["flags"] == "S" for c in r.client_list())  # listed as a replica
        r.set("after", "2")
        r.execute_command("INCR", "counter")
        assert read_command(f)[0] == b"SELECT"
        assert read_command(f) == [b"SET", b"after", b"2"]
        assert read_command(f) == [b"INCR", b"counter"]


LIBRARY = "#!lua name=lib1\nredis.register_function('func1', function() return 123 end)"


def _snapshot_files(node_dir) -> list:
    """The RDB files a SYNC is writing in the node's data dir (repl-snapshot-*.rdb)."""
    return list(node_dir.glob("repl-snapshot-*.rdb"))


def test_redis_cli_rdb_of_a_large_dataset_without_blocking_the_node(tmp_path):
    """A dataset past the old 16 MiB limit: the RDB is written in a thread while the node keeps
    answering, and redis-cli gets it whole (redis-check-rdb and redis-server accept it)."""
    if shutil.which("redis-cli") is None or shutil.which("redis-check-rdb") is None:
        pytest.skip("needs redis-cli and redis-check-rdb")
    node_dir = tmp_path / "node"
    with start_xcache_server(tmp_path, data_dir=node_dir) as node:
        r = redis.Redis(port=node.port, socket_timeout=60)
        assert r.execute_command("DEBUG", "POPULATE", 30000, "key", 1000) == b"OK"
        r.function_load(LIBRARY)
        rdb = tmp_path / "big.rdb"
        cli = subprocess.Popen(["redis-cli", "-p", str(node.port), "--rdb", str(rdb)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            answered_during_build = 0
            other = redis.Redis(port=node.port, socket_timeout=60)
            while cli.poll() is None:
                # a PING sent and answered while the RDB file was being written: the loop is free
                if _snapshot_files(node_dir) and other.ping() and _snapshot_files(node_dir):
                    answered_during_build += 1
            output = cli.communicate(timeout=60)[0].decode()
        finally:
            if cli.poll() is None:
                cli.kill()
                cli.wait()
        assert "Transfer finished with success" in output, output
        assert answered_during_build > 0
        assert rdb.stat().st_size > 30_000_000
        assert wait_until(lambda: not list(node_dir.glob("repl-snapshot-*")), 10,
                          "the checkpoint and the RDB file removed")
        assert r.ping()
    check = subprocess.run(["redis-check-rdb", str(rdb)], capture_output=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    with start_redis(tmp_path / "redis", "--dbfilename", rdb.name, "--dir", str(tmp_path)) as loaded:
        lr = redis.Redis(port=loaded.port, socket_timeout=60)
        assert lr.dbsize() == 30000
        assert lr.get("key:29999") == b"value:29999".ljust(1000, b"\x00")
        assert lr.fcall("func1", 0) == 123


def test_redis_cli_functions_rdb_holds_the_libraries_and_no_key(tmp_path):
    if shutil.which("redis-cli") is None or shutil.which("redis-check-rdb") is None:
        pytest.skip("needs redis-cli and redis-check-rdb")
    with start_xcache_server(tmp_path / "node") as node:
        r = redis.Redis(port=node.port, socket_timeout=60)
        r.execute_command("DEBUG", "POPULATE", 1000, "key", 100)
        r.function_load(LIBRARY)
        rdb = tmp_path / "functions.rdb"
        out = subprocess.run(["redis-cli", "-p", str(node.port), "--functions-rdb", str(rdb)],
                             capture_output=True, timeout=60)
        assert b"Transfer finished with success" in out.stdout + out.stderr, out
        assert r.dbsize() == 1000  # the node keeps its data
    assert b"key:" not in rdb.read_bytes()
    check = subprocess.run(["redis-check-rdb", str(rdb)], capture_output=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    with start_redis(tmp_path / "redis", "--dbfilename", rdb.name, "--dir", str(tmp_path)) as loaded:
        lr = redis.Redis(port=loaded.port)
        assert lr.dbsize() == 0
        assert lr.fcall("func1", 0) == 123


def test_rdb_only_sync_closes_after_the_rdb(xcache_node):
    r = redis.Redis(port=xcache_node.port)
    r.set("k", "v")
    with socket.create_connection(("127.0.0.1", xcache_node.port), timeout=10) as s:
        s.sendall(b"REPLCONF rdb-only 1\r\nSYNC\r\n")
        f = s.makefile("rb")
        assert f.readline() == b"+OK\r\n"
        rdb = read_rdb(f)
        assert rdb.startswith(b"REDIS0010") and rdb.endswith(bytes((0xFF,)) + bytes(8))
        r.set("after", "1")
        assert f.read() == b""  # no stream: the node closed the connection


def test_replconf_rdb_options_are_checked_as_redis_does(r):
    with pytest.raises(redis.ResponseError, match="out of range"):
        r.execute_command("REPLCONF", "rdb-only", "2")
    with pytest.raises(redis.ResponseError, match="Unsupported rdb-filter-only option: keys"):
        r.execute_command("REPLCONF", "rdb-filter-only", "keys")
    assert r.execute_command("REPLCONF", "rdb-filter-only", "functions") in (b"OK", "OK")
    assert r.execute_command("REPLCONF", "rdb-only", "0") in (b"OK", "OK")


@pytest.mark.parametrize("functions_only", [False, True])
def test_debug_reload_nosave_loads_a_redis_cli_rdb(tmp_path, functions_only):
    """Redis's integration/redis-cli.tcl "Dumping an RDB - functions only: no/yes": the RDB
    redis-cli takes, renamed to dir/dbfilename, comes back with DEBUG RELOAD NOSAVE."""
    if shutil.which("redis-cli") is None:
        pytest.skip("needs redis-cli")
    with start_xcache_server(tmp_path / "node") as node:
        r = redis.Redis(port=node.port, socket_timeout=120)
        r.flushdb()
        r.function_flush()
        data_dir = r.config_get("dir")["dir"]
        dbfilename = r.config_get("dbfilename")["dbfilename"]
        assert dbfilename == "dump.rdb"
        assert r.execute_command("DEBUG", "POPULATE", 20000, "key", 1000) == b"OK"
        r.rpush("list", "a", "b")
        r.zadd("z", {"m": 2.5})
        r.set("ttl", "v", ex=1000)
        assert r.function_load(LIBRARY) == b"lib1"
        digest = r.execute_command("DEBUG", "DIGEST")
        cli_rdb = f"{data_dir}/cli.rdb"
        option = "--functions-rdb" if functions_only else "--rdb"
        out = subprocess.run(["redis-cli", "-p", str(node.port), option, cli_rdb],
                             capture_output=True, timeout=120)
        assert b"Transfer finished with success" in out.stdout + out.stderr, out
        os.replace(cli_rdb, f"{data_dir}/{dbfilename}")
        assert r.set("should-not-exist", 1)
        assert r.execute_command("DEBUG", "RELOAD", "NOSAVE") == b"OK"
        assert r.get("should-not-exist") is None
        assert r.function_list() == [[b"library_name", b"lib1", b"engine", b"LUA", b"functions",
                                      [[b"name", b"func1", b"description", None,
                                        b"flags", []]]]]
        assert r.fcall("func1", 0) == 123
        if functions_only:
            assert r.dbsize() == 0
        else:
            assert r.dbsize() == 20003
            assert r.execute_command("DEBUG", "DIGEST") == digest
            assert r.lrange("list", 0, -1) == [b"a", b"b"]
            assert 0 < r.ttl("ttl") <= 1000


def test_debug_reload_saves_and_merges(tmp_path):
    with start_xcache_server(tmp_path / "node") as node:
        r = redis.Redis(port=node.port)
        data_dir = r.config_get("dir")["dir"]
        r.set("a", "1")
        r.hset("h", mapping={"f": "v"})
        assert r.execute_command("DEBUG", "RELOAD") == b"OK"  # saves dir/dbfilename
        assert os.path.getsize(f"{data_dir}/dump.rdb") > 0
        assert r.get("a") == b"1"
        r.set("a", "2")
        r.set("b", "new")
        with pytest.raises(redis.ResponseError, match="duplicated key 'a' in DB 0"):
            r.execute_command("DEBUG", "RELOAD", "NOSAVE", "NOFLUSH")
        assert r.get("a") == b"2"  # nothing loaded
        assert r.execute_command("DEBUG", "RELOAD", "NOSAVE", "NOFLUSH", "MERGE") == b"OK"
        assert (r.get("a"), r.get("b"), r.hgetall("h")) == (b"1", b"new", {b"f": b"v"})
        with pytest.raises(redis.ResponseError, match="only supports the MERGE, NOFLUSH"):
            r.execute_command("DEBUG", "RELOAD", "NOW")
        # saved, then loaded over the data (functions.tcl): every key meets itself
        with pytest.raises(redis.ResponseError, match="^Error trying to load the RDB dump"):
            r.execute_command("DEBUG", "RELOAD", "NOFLUSH")
        assert r.execute_command("DEBUG", "RELOAD", "NOFLUSH", "MERGE") == b"OK"
        assert (r.get("a"), r.get("b")) == (b"1", b"new")
    check = subprocess.run(["redis-check-rdb", f"{data_dir}/dump.rdb"], capture_output=True)
    assert check.returncode == 0, check.stdout
