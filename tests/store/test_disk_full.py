"""A full disk on a real 20 MB tmpfs: writes are refused at once with -MISCONF, reads go on, INFO
/health/metrics say so, and writes resume by themselves once space is free (no restart), with
every acknowledged write kept across a later kill -9."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

import pytest
import redis

from tests.procs import Proc, free_port, wait_until

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")

VALUE = b"v" * 8192
MISCONF = "MISCONF Errors writing to disk (disk full): writes are refused until space is free"


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def start_node(tmp_path, data, port=None) -> Proc:
    port = port or free_port()
    args = [sys.executable, "-m", "xcache.cli", "server", "--port", str(port), "--dir", str(data),
            "--set", "metrics_port=0", "--set", "disk_resume_free_bytes=4194304",
            "--set", "disk_check_interval_ms=50", "--set", "wal_sync=no"]
    return Proc(args, port, stderr_path=str(tmp_path / f"node-{port}.log")).wait_ready()


def fill(r: redis.Redis) -> tuple[list[bytes], redis.ResponseError]:
    """SET until the disk refuses one; -> (acknowledged keys, the error)."""
    acked = []
    for i in range(100_000):
        key = b"k%d" % i
        try:
            assert r.set(key, VALUE)
        except redis.ResponseError as exc:
            return acked, exc
        acked.append(key)
    raise AssertionError("the disk never filled")


def test_disk_full_refuses_writes_keeps_reads_and_heals(tmp_path, small_disk):
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * (12 * 1024 * 1024))
    data = small_disk / "node"
    proc = start_node(tmp_path, data)
    try:
        r = redis.Redis(port=proc.port, protocol=2)
        acked, err = fill(r)
        assert len(acked) > 50
        assert str(err) == MISCONF
        # every later write is refused at once, with the same reply; the connection stays usable
        for cmd in (("SET", "x", "1"), ("HSET", "h", "f", "v"), ("DEL", "k0"), ("RPUSH", "l", "a")):
            with pytest.raises(redis.ResponseError, match="^MISCONF Errors writing to disk"):
                r.execute_command(*cmd)
        # transactions: a queued write is refused; EXEC then aborts
        p = r.pipeline(transaction=True)
        p.set("t", "1")
        with pytest.raises(redis.ResponseError):
            p.execute()
        # reads are served
        assert r.ping()
        assert r.get(acked[0]) == VALUE and r.get(acked[-1]) == VALUE
        assert r.exists(*acked) == len(acked)
        info = r.info("persistence")
        assert info["aof_last_write_status"] == "err" and info["rdb_last_bgsave_status"] == "err"
        assert info["disk_write_status"] == "err" and info["disk_error_reason"] == "disk full"
        assert "No space left on device" in info["disk_error"]
        assert info["disk_rejected_writes"] >= 5
        # space comes back: writes resume by themselves, no restart
        filler.unlink()
        wait_until(lambda: r.set("after", "1"), timeout=30, what="writes to resume")
        info = r.info("persistence")
        assert info["disk_write_status"] == "ok" and info["disk_recoveries"] == 1
        assert info["aof_last_write_status"] == "ok"
        assert r.get(acked[-1]) == VALUE
        r.rpush("list", "a", "b")
        acked_after = [b"after"]
        for i in range(100):
            r.set(b"n%d" % i, b"%d" % i)
            acked_after.append(b"n%d" % i)
    finally:
        proc.kill9()
    # kill -9, restart: nothing acknowledged is lost, before or after the episode
    proc = start_node(tmp_path, data)
    try:
        r = redis.Redis(port=proc.port, protocol=2)
        assert r.exists(*acked) == len(acked)
        assert r.get(acked[-1]) == VALUE
        assert r.exists(*acked_after) == len(acked_after)
        assert r.get("n99") == b"99"
        assert r.lrange("list", 0, -1) == [b"a", b"b"]
    finally:
        proc.stop()


def test_disk_full_in_health_and_metrics(tmp_path, small_disk):
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * (14 * 1024 * 1024))
    port, mport = free_port(), free_port()
    args = [sys.executable, "-m", "xcache.cli", "server", "--port", str(port),
            "--dir", str(small_disk / "node"), "--set", f"metrics_port={mport}",
            "--set", "disk_resume_free_bytes=4194304", "--set", "disk_check_interval_ms=50"]
    proc = Proc(args, port, stderr_path=str(tmp_path / "node.log")).wait_ready()
    try:
        def get(path):
            with urllib.request.urlopen(f"http://127.0.0.1:{mport}{path}", timeout=5) as resp:
                return resp.read().decode()

        wait_until(lambda: get("/health"), what="the metrics endpoint")
        assert json.loads(get("/health"))["status"] == "ok"
        assert "xcache_server_disk_full 0.0" in get("/metrics")
        r = redis.Redis(port=port, protocol=2)
        fill(r)
        health = json.loads(get("/health"))
        assert health["status"] == "degraded" and health["disk_full"] is True
        assert health["disk_error_reason"] == "disk full"
        metrics = get("/metrics")
        assert "xcache_server_disk_full 1.0" in metrics
        assert "xcache_server_disk_error_episodes_total 1.0" in metrics
        filler.unlink()
        wait_until(lambda: json.loads(get("/health"))["status"] == "ok", what="health to be ok")
        assert "xcache_server_disk_recoveries_total 1.0" in get("/metrics")
        log = (tmp_path / "node.log").read_text()
        assert "event=disk_write_failed" in log and "event=disk_write_recovered" in log
    finally:
        proc.stop()
