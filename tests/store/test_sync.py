"""SYNC, the replication protocol before PSYNC: an RDB of the node's data that redis-server loads
as the same dataset, then the stream of writes (as `redis-cli --rdb` and Redis's own test suite's
attach_to_replication_stream use it)."""

import shutil
import socket
import subprocess

import pytest
import redis

from tests.procs import start_redis, start_xcache_server


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
    """One RESP command from a replication stream (a file-like socket reader)."""
    n = int(f.readline()[1:])
    argv = []
    for _ in range(n):
        size = int(f.readline()[1:])
        argv.append(f.read(size + 2)[:-2])
    return argv


def test_sync_streams_the_writes_after_its_rdb(xcache_node):
    r = redis.Redis(port=xcache_node.port)
    r.set("before", "1")
    with socket.create_connection(("127.0.0.1", xcache_node.port), timeout=10) as s:
        s.sendall(b"SYNC\r\n")
        f = s.makefile("rb")
        header = f.readline()
        while header == b"\n":  # newlines keep a waiting replica's read timeout fed
            header = f.readline()
        assert header.startswith(b"$")
        rdb = f.read(int(header[1:]))
        assert rdb.startswith(b"REDIS0010") and b"before" in rdb
        assert any(c["flags"] == "S" for c in r.client_list())  # listed as a replica
        r.set("after", "2")
        r.execute_command("INCR", "counter")
        assert read_command(f)[0] == b"SELECT"
        assert read_command(f) == [b"SET", b"after", b"2"]
        assert read_command(f) == [b"INCR", b"counter"]
