"""CLIENT PAUSE through the proxy behaves as on redis-server: a paused write holds only its own
client (INFO, reads and CLIENT UNPAUSE from others are answered), INFO counts it as blocked, and
CLIENT PAUSE queued in a transaction pauses at its end (one group)."""

from __future__ import annotations

import socket

import pytest
import redis

from tests.procs import read_reply, start_redis, wait_until
from xcache.resp import encode_command


@pytest.fixture(scope="module")
def targets(tmp_path_factory):
    """redis-server (the reference), the proxy over two redis-server groups, and over one."""
    from tests.proxy.conftest import ProxyProc

    tmp = tmp_path_factory.mktemp("pause")
    nodes = [start_redis(tmp) for _ in range(4)]
    proxies = []
    try:
        proxies.append(ProxyProc(tmp, f"1=127.0.0.1:{nodes[1].port},2=127.0.0.1:{nodes[2].port}")
                       .wait_healthy())
        proxies.append(ProxyProc(tmp, f"1=127.0.0.1:{nodes[3].port}").wait_healthy())
        yield {"redis": nodes[0].port, "proxy2": proxies[0].port, "proxy1": proxies[1].port}
    finally:
        for p in (*proxies, *nodes):
            p.stop()




def _blocked(port: int) -> int:
    return redis.Redis(port=port, socket_timeout=10).info("clients")["blocked_clients"]


@pytest.mark.parametrize("target", ["redis", "proxy2", "proxy1"])
def test_paused_writes_hold_only_their_clients(targets, target):
    port = targets[target]
    c = redis.Redis(port=port, socket_timeout=10)
    c.set("{p}a", "old")
    assert c.client_pause(60000, all=False) is True
    writers = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(3)]
    try:
        for i, s in enumerate(writers):
            s.sendall(encode_command(b"SET", b"{p}a", b"new%d" % i))
            wait_until(lambda n=i + 1: _blocked(port) == n, what=f"{i + 1} paused")
        assert c.get("{p}a") == b"old"  # reads are served meanwhile
        assert c.info("clients")["blocked_clients"] == 3
        assert c.client_unpause() == b"OK"
        assert [read_reply(s) for s in writers] == [b"OK"] * 3
        assert c.get("{p}a") == b"new2"
        wait_until(lambda: _blocked(port) == 0, what="none blocked")
    finally:
        c.client_unpause()
        for s in writers:
            s.close()


@pytest.mark.parametrize("target", ["redis", "proxy1"])
def test_client_pause_in_a_transaction_starts_at_its_end(targets, target):
    port = targets[target]
    c = redis.Redis(port=port, socket_timeout=10)
    try:
        with c.pipeline(transaction=True) as t:
            t.set("{p}1", "x").client_pause(60000, all=False).set("{p}2", "y")
            assert t.execute() == [True, True, True]
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(encode_command(b"SET", b"{p}3", b"z"))
            wait_until(lambda: _blocked(port) == 1, what="paused")
            assert c.mget("{p}1", "{p}2", "{p}3") == [b"x", b"y", None]
            assert c.client_unpause() == b"OK"
            assert read_reply(s) == b"OK"
    finally:
        c.client_unpause()


def test_client_pause_in_a_transaction_over_two_groups_is_refused(targets):
    c = redis.Redis(port=targets["proxy2"], socket_timeout=10)
    with c.pipeline(transaction=True) as t:
        t.set("{p}1", "x").client_pause(60000, all=False)
        with pytest.raises(redis.exceptions.ResponseError,
                           match="'CLIENT' cannot be queued in a transaction"):
            t.execute()
    assert c.get("{p}1") is None or c.get("{p}1") == b"x"
