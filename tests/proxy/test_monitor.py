"""MONITOR through the proxy (xcache/proxy/monitor.py): every group's command stream relayed,
the commands scripts call included, the proxy's own PINGs left out; RESET ends it."""

from __future__ import annotations

import socket

import redis

from tests.procs import read_until
from tests.proxy.test_proxy import keys_in


def test_monitor_relays_every_groups_stream(proxy):
    c = redis.Redis(port=proxy.port, socket_timeout=10)
    k1, k2 = keys_in(1, 1, "mon")[0], keys_in(2, 1, "mon")[0]
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as m:
        m.sendall(b"MONITOR\r\n")
        assert read_until(m, b"\r\n") == b"+OK\r\n"  # every node streams once this arrived
        c.set(k1, "v1")
        c.get(k2)
        c.eval("return redis.call('incr', KEYS[1])", 1, k2)
        c.ping()  # answered by the proxy: no node sees it
        seen = read_until(m, b'"incr" "' + k2 + b'"\r\n')
    lines = seen.decode().splitlines()  # the nodes show the commands as the clients wrote them
    lower = [line.lower() for line in lines]
    assert all(line.startswith("+") for line in lines)
    assert any(line.endswith(f'"set" "{k1.decode()}" "v1"') for line in lower)
    assert any(line.endswith(f'"get" "{k2.decode()}"') for line in lower)
    assert any("[0 lua]" in line for line in lines)  # the script's own command, from its node
    assert not any(line.endswith('"ping"') for line in lower)


def test_reset_ends_monitor(proxy):
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as m:
        m.sendall(b"MONITOR\r\n")
        assert read_until(m, b"\r\n") == b"+OK\r\n"
        m.sendall(b"RESET\r\nPING\r\n")
        assert read_until(m, b"+PONG\r\n").endswith(b"+RESET\r\n+PONG\r\n")


def test_monitor_shows_transactions_as_the_client_wrote_them_aborted_ones_too(proxy):
    """Redis's introspection unit: MULTI/EXEC appear in the client's spelling, and a
    transaction aborted at EXEC (an error while queueing) still shows its MULTI and EXEC."""
    k = keys_in(1, 1, "montx")[0]
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as m, \
            socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as c:
        m.sendall(b"MONITOR\r\n")
        assert read_until(m, b"\r\n") == b"+OK\r\n"
        c.sendall(b"multi\r\nset " + k + b" bar\r\nexec\r\n")
        assert read_until(c, b"*1\r\n+OK\r\n").endswith(b"+OK\r\n+QUEUED\r\n*1\r\n+OK\r\n")
        seen = read_until(m, b'"exec"\r\n').decode().splitlines()
        assert [line.split("] ", 1)[1] for line in seen] == ['"multi"', f'"set" "{k.decode()}" "bar"', '"exec"']
        c.sendall(b"multi\r\nsyntax error\r\nexec\r\n")
        assert b"-EXECABORT" in read_until(c, b"previous errors.\r\n")
        seen = read_until(m, b'"exec"\r\n').decode().splitlines()
        assert [line.split("] ", 1)[1] for line in seen] == ['"multi"', '"exec"']
