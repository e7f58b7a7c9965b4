"""Durability and background collection on a real xcache server."""

import time

import redis

from tests.procs import start_xcache_server
from tests.store.cluster import client


def test_acknowledged_writes_survive_kill_9(tmp_path):
    data = tmp_path / "node"
    proc = start_xcache_server(tmp_path, "--set", "wal_sync=no", data_dir=data)
    try:
        r = client(proc)
        p = r.pipeline(transaction=False)
        for i in range(2000):
            p.set(f"s{i}", i)
        p.execute()
        r.hset("h", mapping={"a": "1", "b": "2"})
        r.rpush("l", "x", "y")
        r.sadd("s", "m")
        r.zadd("z", {"m": 2.5})
        r.set("ttl", "v", ex=1000)
        r.execute_command("select", 3)
        r.set("db3", "yes")
    finally:
        proc.kill9()

    with start_xcache_server(tmp_path, data_dir=data) as proc:
        r = client(proc)
        assert r.mget([f"s{i}" for i in range(2000)]) == [str(i).encode() for i in range(2000)]
        assert r.hgetall("h") == {b"a": b"1", b"b": b"2"}
        assert r.lrange("l", 0, -1) == [b"x", b"y"]
        assert r.smembers("s") == {b"m"}
        assert r.zscore("z", "m") == 2.5
        assert 990 < r.ttl("ttl") <= 1000
        r.execute_command("select", 3)
        assert r.get("db3") == b"yes"


def test_collector_removes_expired_keys_and_stale_data(tmp_path):
    with start_xcache_server(tmp_path, "--set", "expire_collector_interval_ms=10") as proc:
        r = client(proc)
        r.hset("big", mapping={f"f{i}": i for i in range(300)})
        r.delete("big")  # O(1): only the metadata goes now, the collector removes the fields
        for i in range(50):
            r.set(f"e{i}", "v", px=1)
        r.set("keep", "v")
        deadline = time.monotonic() + 30
        stats = r.info("stats")
        while time.monotonic() < deadline:
            stats = r.info("stats")
            if stats["expired_keys"] >= 50 and stats["collector_removed_entries"] >= 350:
                break
        assert stats["expired_keys"] >= 50
        assert stats["collector_removed_entries"] >= 350
        assert r.keys("*") == [b"keep"]
        assert r.info("keyspace")["db0"]["keys"] == 1


def test_config_rewrite(tmp_path):
    conf = tmp_path / "node.toml"
    conf.write_text("maxclients = 100\n")
    with start_xcache_server(tmp_path, "--config", str(conf)) as proc:
        r = client(proc)
        r.config_set("maxclients", 222)
        assert r.config_rewrite() in (True, b"OK")
        assert "maxclients = 222" in conf.read_text()


def test_config_rewrite_without_file(x):
    import pytest

    with pytest.raises(redis.ResponseError, match="running without a config file"):
        x.config_rewrite()


def test_bad_config_file_is_a_clear_error(tmp_path):
    import subprocess
    import sys

    conf = tmp_path / "bad.toml"
    conf.write_text("maxclient = 5\n")
    out = subprocess.run([sys.executable, "-m", "xcache.cli", "server", "--config", str(conf)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "unknown key 'maxclient' (did you mean 'maxclients'?)" in out.stderr


def test_compact_collects_in_the_background(tmp_path):
    """COMPACT answers at once; the stale data of a deleted hash is then collected."""
    with start_xcache_server(tmp_path, "--set", "expire_collector_interval_ms=600000") as proc:
        r = client(proc)
        r.hset("big", mapping={f"f{i}": i for i in range(300)})
        r.delete("big")
        assert r.execute_command("compact") == b"OK"
        deadline = time.monotonic() + 30
        while r.info("stats")["collector_removed_entries"] < 300:
            assert time.monotonic() < deadline, "COMPACT never collected the deleted hash"
        assert r.ping() is True
