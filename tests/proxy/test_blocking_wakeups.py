"""What ends a blocked command, through the proxy over an xcache node, compared with
redis-server: a flush, a delete or overwrite of the key, CLIENT UNBLOCK and CLIENT KILL answer a
blocked XREADGROUP (or close its connection) as Redis does; a flush leaves a BLPOP blocked."""

from __future__ import annotations

import socket

import pytest
import redis

from tests.procs import read_reply, start_redis, start_xcache_server, wait_until
from xcache.resp import encode_command

XREADGROUP = [b"XREADGROUP", b"GROUP", b"g", b"alice", b"BLOCK", b"0", b"STREAMS", b"{w}s", b">"]


@pytest.fixture(scope="module")
def targets(tmp_path_factory, request):
    """redis-server (the reference) and the proxy in front of one xcache node."""
    from tests.proxy.conftest import ProxyProc

    tmp = tmp_path_factory.mktemp("wakeups")
    ref, node = start_redis(tmp), start_xcache_server(tmp)
    proxy = None
    try:
        proxy = ProxyProc(tmp, f"1=127.0.0.1:{node.port}", allow_flush="true").wait_healthy()
        yield {"redis": ref.port, "proxy": proxy.port}
    finally:
        for p in (proxy, node, ref):
            if p is not None:
                p.stop()


def _blocked(port: int, c: redis.Redis, argv: list[bytes]) -> tuple[socket.socket, int]:
    """A connection blocked on argv, once the server counts it as blocked; and its client id."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(encode_command(b"CLIENT", b"ID"))
    cid = read_reply(s, closed_ok=True)
    before = c.info("clients")["blocked_clients"]
    s.sendall(encode_command(*argv))
    wait_until(lambda: c.info("clients")["blocked_clients"] == before + 1, what="blocked")
    return s, cid




def _stream_then(port: int, action) -> object:
    """XREADGROUP blocked on a stream with a group; action(client, blocked id); its reply."""
    c = redis.Redis(port=port, socket_timeout=10, protocol=2)
    c.delete("{w}s")
    c.xadd("{w}s", {"f": "v"}, id="666")
    c.xgroup_create("{w}s", "g", id="$")
    s, cid = _blocked(port, c, XREADGROUP)
    with s:
        action(c, cid)
        got = read_reply(s, closed_ok=True)
    wait_until(lambda: c.info("clients")["blocked_clients"] == 0, what="unblocked")
    return str(got) if isinstance(got, Exception) else got


def _multi_del_sadd(c, _cid):
    with c.pipeline(transaction=True) as t:
        t.delete("{w}s").sadd("{w}s", "e1").execute()


ACTIONS = {
    "flushall": lambda c, _: c.flushall(),
    "flushall_async": lambda c, _: c.flushall(asynchronous=True),
    "flushdb": lambda c, _: c.flushdb(),
    "del": lambda c, _: c.delete("{w}s"),
    "set": lambda c, _: c.set("{w}s", "val1"),
    "multi_del_sadd": _multi_del_sadd,
    "xgroup_destroy": lambda c, _: c.xgroup_destroy("{w}s", "g"),
    "client_unblock_error": lambda c, cid: c.client_unblock(cid, error=True),
    "client_unblock_timeout": lambda c, cid: c.client_unblock(cid),
    "client_kill": lambda c, cid: c.client_kill_filter(_id=cid),
}


@pytest.mark.parametrize("action", ACTIONS)
def test_blocked_xreadgroup_ends_as_in_redis(targets, action):
    got = {name: _stream_then(port, ACTIONS[action]) for name, port in targets.items()}
    assert got["proxy"] == got["redis"], got
    assert got["redis"] != "closed" or action == "client_kill"


def test_flush_leaves_a_blpop_blocked(targets):
    """Redis wakes only the XREADGROUP clients of a flushed stream: a BLPOP waits on, and the
    next push serves it."""
    for port in targets.values():
        c = redis.Redis(port=port, socket_timeout=10, protocol=2)
        c.delete("{w}l")
        s, _ = _blocked(port, c, [b"BLPOP", b"{w}l", b"0"])
        with s:
            c.flushall()
            c.flushdb()
            assert c.info("clients")["blocked_clients"] == 1
            c.rpush("{w}l", "x")
            assert read_reply(s, closed_ok=True) == [b"{w}l", b"x"]
