"""CLIENT PAUSE WRITE and what may replicate (Redis 7.0's getCommandFlags): PFCOUNT, EVAL/FCALL
of a script not declared no-writes, and EXEC of a transaction holding one wait; no-writes
scripts and functions run. No key expires during a pause. Against xcache AND redis-server."""

from __future__ import annotations

import time

import pytest
import redis

from tests.procs import wait_until
from tests.store.test_lists import other_client, wait_blocked
from tests.store.test_pause import in_thread, port_of


@pytest.fixture
def paused(r):
    """r, with CLIENT UNPAUSE guaranteed at the end (the server is shared by the next tests)."""
    yield r
    r.execute_command("CLIENT", "UNPAUSE")

RO_LIB = """#!lua name=pauselib
redis.register_function{function_name='ro_f', callback=function() return 'hello' end,
                        flags={'no-writes'}}
redis.register_function('rw_f', function() return 'rw' end)
"""


def test_may_replicate_commands_and_write_scripts_wait(paused):
    r = paused
    r.pfadd("hll", "a")
    r.execute_command("FUNCTION", "LOAD", "REPLACE", RO_LIB)
    r.execute_command("CLIENT", "PAUSE", 60000, "WRITE")
    clients = [other_client(r) for _ in range(4)]
    waiting = [
        in_thread(clients[0].pfcount, "hll"),
        in_thread(clients[1].execute_command, "EVAL", "return 1", 0),
        in_thread(clients[2].execute_command, "EVAL", "#!lua\nreturn 2", 0),
        in_thread(clients[3].execute_command, "FCALL", "rw_f", 0),
    ]
    wait_blocked(port_of(r), 4)
    reader = other_client(r)
    # declared no-writes: served during the pause
    assert reader.execute_command("EVAL", "#!lua flags=no-writes\nreturn 'ro'", 0) == b"ro"
    assert reader.execute_command("EVAL_RO", "return 'ro2'", 0) == b"ro2"
    assert reader.execute_command("FCALL", "ro_f", 0) == b"hello"
    assert not any(f.done() for f in waiting)
    r.execute_command("CLIENT", "UNPAUSE")
    assert [f.result(timeout=5) for f in waiting] == [1, 1, 2, b"rw"]
    r.execute_command("FUNCTION", "DELETE", "pauselib")
    for c in (*clients, reader):
        c.close()


def test_exec_of_write_scripts_waits_read_only_scripts_do_not(paused):
    r = paused
    writer, reader = other_client(r), other_client(r)
    wtx = writer.pipeline(transaction=True)
    wtx.execute_command("EVAL", "#!lua\nreturn 12", 0)
    r.execute_command("CLIENT", "PAUSE", 60000, "WRITE")
    fut = in_thread(wtx.execute)
    wait_blocked(port_of(r), 1)
    rtx = reader.pipeline(transaction=True)
    rtx.execute_command("EVAL", "#!lua flags=no-writes\nreturn 13", 0)
    assert rtx.execute() == [13]
    assert not fut.done()
    r.execute_command("CLIENT", "UNPAUSE")
    assert fut.result(timeout=5) == [12]
    writer.close()
    reader.close()


def test_no_key_expires_during_a_pause(paused):
    r = paused
    before = r.info("stats")["expired_keys"]
    tx = r.pipeline(transaction=True)
    tx.set("foo{t}", "bar", px=10)
    tx.set("bar{t}", "foo", px=10)
    tx.execute_command("CLIENT", "PAUSE", 50000, "WRITE")
    tx.execute()
    wait_until(lambda: r.get("foo{t}") is None and r.get("bar{t}") is None,
               what="keys logically expired")
    time.sleep(0.3)  # nothing to await: let several expire cycles / collector steps pass
    assert r.info("stats")["expired_keys"] == before
    r.execute_command("CLIENT", "UNPAUSE")


def test_read_only_script_refuses_may_replicate(r):
    for script in ("return redis.call('publish', 'ch', 'msg')",
                   "return redis.call('pfcount', 'hll')"):
        try:
            r.execute_command("EVAL_RO", script, 0)
        except redis.ResponseError as exc:
            assert str(exc).startswith("Write commands are not allowed from read-only scripts.")
        else:
            raise AssertionError("EVAL_RO ran a may-replicate command")
    assert r.execute_command("EVAL", "return redis.call('publish', 'ch', 'msg')", 0) == 0
