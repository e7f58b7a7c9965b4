"""A command that runs longer than backend_dead_after_ms on a node that still answers on its
other connections (a long script: Redis answers others -BUSY meanwhile) is waited for, as a
client of Redis would; a node silent everywhere (hung) still fails the request."""

from __future__ import annotations

import redis

from tests.procs import start_redis
from tests.proxy.conftest import direct

# busy for `ms` milliseconds by the server's own clock
SCRIPT = """local t = redis.call('TIME'); local start = t[1] * 1000 + t[2] / 1000
while true do
  t = redis.call('TIME')
  if t[1] * 1000 + t[2] / 1000 - start > tonumber(ARGV[1]) then return 'done' end
end"""
FAST = {"backend_dead_after_ms": 400, "backend_timeout_ms": 100, "backend_ping_interval_ms": 50}


def test_a_script_longer_than_dead_after_is_waited_for(tmp_path, start_proxy):
    node = start_redis(tmp_path, "--busy-reply-threshold", "50")
    try:
        proxy = start_proxy(f"1=127.0.0.1:{node.port}", **FAST)
        c = proxy.client()
        assert c.eval(SCRIPT, 0, 1500) == b"done"
        assert c.ping() is True
        assert proxy.stats()["groups"]["1"]["state"] == "up"
    finally:
        node.stop()


def test_a_node_silent_everywhere_still_fails_the_request(tmp_path, start_proxy):
    node = start_redis(tmp_path)
    try:
        proxy = start_proxy(f"1=127.0.0.1:{node.port}", **FAST)
        c = proxy.client()
        assert c.ping() is True
        direct(node).execute_command("CLIENT", "PAUSE", 3000, "ALL")  # hung: answers nobody
        try:
            c.get("k")
        except redis.exceptions.ResponseError as exc:
            assert "did not answer 'GET' within 400 ms; not retried" in str(exc)
        else:
            raise AssertionError("a hung node's request was answered")
    finally:
        node.stop()
