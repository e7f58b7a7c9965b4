"""The storage node's Prometheus metrics and health endpoint."""

import time

import httpx
import redis

from tests.procs import free_port, start_xcache_server


def test_metrics_and_health(tmp_path):
    metrics_port = free_port()
    proc = start_xcache_server(tmp_path, "--set", f"metrics_port={metrics_port}")
    try:
        deadline = time.monotonic() + 20
        while True:  # the HTTP listener starts next to the RESP one; wait for it
            try:
                httpx.get(f"http://127.0.0.1:{metrics_port}/health", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "metrics endpoint never came up"
        r = redis.Redis(port=proc.port, protocol=2)
        r.set("k", "v")
        r.get("k")
        r.get("missing")
        body = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
        assert "xcache_server_keyspace_hits_total 1.0" in body
        assert "xcache_server_keyspace_misses_total 1.0" in body
        assert "xcache_server_write_stall_active 0.0" in body
        health = httpx.get(f"http://127.0.0.1:{metrics_port}/health", timeout=10).json()
        assert health == {"status": "ok", "role": "master", "write_stall_seconds": 0.0,
                          "disk_full": False, "disk_error_reason": None, "disk_error": None}
    finally:
        proc.stop()
