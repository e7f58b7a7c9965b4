"""What a transaction is refused for, and the words, through the proxy as on redis-server: a
no-multi command, a denyoom command queued over maxmemory, an EXEC over maxmemory or while a
script runs (Redis's multi unit)."""

from __future__ import annotations

import socket

import pytest
import redis

from tests.procs import wait_until
from tests.proxy.conftest import exchange
from tests.proxy.test_long_command import LOOP, _error
from xcache.resp import ReplyParser, encode_command

OOM = "OOM command not allowed when used memory > 'maxmemory'."
ABORTED = "EXECABORT Transaction discarded because of previous errors."


def _run(port: int, *commands) -> list[str]:
    got = exchange(port, b"".join(encode_command(*c) for c in commands), len(commands))
    return [g.decode() if isinstance(g, bytes) else str(g) for g in got]


@pytest.fixture
def client(targets, request):
    c = redis.Redis(port=targets[request.param], socket_timeout=10)
    c.delete("tx:k")
    yield c
    c.config_set("maxmemory", 0)
    c.config_set("busy-reply-threshold", 5000)


@pytest.mark.parametrize("client", ["redis", "proxy"], indirect=True)
def test_no_multi_commands_are_refused_in_the_transaction(client):
    port = client.connection_pool.connection_kwargs["port"]
    got = _run(port, [b"MULTI"], [b"SAVE"], [b"SHUTDOWN"], [b"SET", b"tx:k", b"1"], [b"EXEC"],
               [b"GET", b"tx:k"])
    assert got == ["OK", "ERR Command not allowed inside a transaction",
                   "ERR Command not allowed inside a transaction", "QUEUED", ABORTED, "None"]


@pytest.mark.parametrize("client", ["redis", "proxy"], indirect=True)
def test_a_denyoom_command_queued_over_maxmemory_gets_oom(client):
    port = client.connection_pool.connection_kwargs["port"]
    client.config_set("maxmemory", 1)
    assert _run(port, [b"MULTI"], [b"SET", b"tx:k", b"1"], [b"DISCARD"],
                [b"PING"]) == ["OK", OOM, "OK", "PONG"]
    assert _run(port, [b"MULTI"], [b"LPUSH", b"tx:k", b"v"], [b"EXEC"]) == ["OK", OOM, ABORTED]
    client.config_set("maxmemory", 0)
    assert _run(port, [b"MULTI"], [b"SET", b"tx:k", b"1"], [b"EXEC"]) == ["OK", "QUEUED", "[b'OK']"]


@pytest.mark.parametrize("client", ["redis", "proxy"], indirect=True)
def test_exec_after_memory_ran_out_names_the_reason(client, targets):
    port = client.connection_pool.connection_kwargs["port"]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        parser = ReplyParser()

        def call(*args):
            s.sendall(encode_command(*args))
            got = []
            while not got:
                got = parser.feed(s.recv(65536))
            return str(got[0]) if not isinstance(got[0], bytes) else got[0].decode()

        assert call(b"MULTI") == "OK"
        assert call(b"SET", b"tx:k", b"1") == "QUEUED"
        client.config_set("maxmemory", 1)
        assert call(b"EXEC") == "EXECABORT Transaction discarded because of: " + OOM
    client.config_set("maxmemory", 0)
    assert client.get("tx:k") is None


@pytest.mark.parametrize("client", ["redis", "proxy"], indirect=True)
def test_exec_while_a_script_runs_names_busy(client):
    port = client.connection_pool.connection_kwargs["port"]
    client.config_set("busy-reply-threshold", 10)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as tx, \
            socket.create_connection(("127.0.0.1", port), timeout=10) as spin:
        parser = ReplyParser()
        tx.sendall(encode_command(b"MULTI") + encode_command(b"INCR", b"tx:k"))
        got: list = []
        while len(got) < 2:
            got += parser.feed(tx.recv(65536))
        assert got == [b"OK", b"QUEUED"]
        spin.sendall(encode_command(b"EVAL", LOOP.encode(), b"0"))
        wait_until(lambda: _error(client.ping).startswith("BUSY"), what="BUSY")
        tx.sendall(encode_command(b"EXEC"))
        got = []
        while not got:
            got = parser.feed(tx.recv(65536))
        assert str(got[0]) == ("EXECABORT Transaction discarded because of: BUSY Redis is busy "
                               "running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.")
        assert client.script_kill() is True
        assert "killed by user" in str(ReplyParser().feed(spin.recv(1000))[0])
    assert client.get("tx:k") is None


@pytest.mark.parametrize("client", ["redis", "proxy"], indirect=True)
def test_a_watched_transaction_gets_oom_while_queueing_too(client):
    """With WATCH the transaction has a connection of its own (pinned.py): the node's verdict
    comes back on it."""
    port = client.connection_pool.connection_kwargs["port"]
    client.config_set("maxmemory", 1)
    assert _run(port, [b"WATCH", b"tx:k"], [b"MULTI"], [b"SET", b"tx:k", b"1"], [b"EXEC"],
                [b"GET", b"tx:k"]) == ["OK", "OK", OOM, ABORTED, "None"]
