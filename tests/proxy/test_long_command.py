"""Long scripts through the proxy. A command that runs longer than backend_dead_after_ms on a
node that still answers on its other connections (a long script: Redis answers others -BUSY
meanwhile) is waited for, as a client of Redis would; a node silent everywhere (hung) still
fails the request. A runaway script: PING and others get the node's -BUSY, SCRIPT KILL and
FUNCTION KILL end it (compared with redis-server)."""

from __future__ import annotations

import socket

import pytest
import redis

from tests.procs import start_redis, wait_until
from tests.proxy.conftest import direct
from xcache.resp import ReplyParser, encode_command

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


LOOP = "local a = 1 while true do a = a + 1 end"
LIB = "#!lua name=spin\nredis.register_function('spin', function() " + LOOP + " end)"



def _error(fn) -> str:
    try:
        fn()
    except redis.exceptions.ResponseError as exc:
        return str(exc)
    return "no error"


@pytest.mark.parametrize("kill", ["SCRIPT", "FUNCTION"])
@pytest.mark.parametrize("target", ["redis", "proxy"])
def test_a_runaway_script_answers_busy_and_is_killed(targets, target, kill):
    """Redis's functions unit: while a script spins, PING and other commands get -BUSY at once,
    FUNCTION STATS shows it, and SCRIPT KILL / FUNCTION KILL end it."""
    port = targets[target]
    c = redis.Redis(port=port, socket_timeout=10)
    c.config_set("busy-reply-threshold", 10)
    if kill == "FUNCTION":
        c.function_load(LIB, replace=True)
    assert _error(lambda: c.execute_command(f"{kill} KILL")).startswith("NOTBUSY")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(encode_command(b"FCALL", b"spin", b"0") if kill == "FUNCTION"
                  else encode_command(b"EVAL", LOOP.encode(), b"0"))
        wait_until(lambda: _error(c.ping).startswith("BUSY"), what="BUSY")
        other = "SCRIPT" if kill == "FUNCTION" else "FUNCTION"
        busy = _error(lambda: c.get("k"))
        assert busy == f"BUSY Redis is busy running a script. You can only call {kill} KILL or " \
                       "SHUTDOWN NOSAVE."
        assert _error(lambda: c.execute_command(f"{other} KILL")).startswith("BUSY")
        if kill == "FUNCTION":
            assert c.function_stats()[b"running_script"][b"name"] == b"spin"
        assert c.execute_command(f"{kill} KILL") in (True, b"OK")
        got = ReplyParser().feed(s.recv(1000))[0]
        assert "killed by user" in str(got)
    assert c.ping() is True
    c.config_set("busy-reply-threshold", 5000)
