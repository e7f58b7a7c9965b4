"""SYNC/PSYNC through a proxy with one group: the session becomes a tunnel to the group's master
(synctunnel.py); with several groups the commands stay refused."""

from __future__ import annotations

import socket

import pytest
import redis

from tests.procs import start_redis, start_xcache_server, wait_until
from tests.proxy.conftest import ProxyProc, exchange
from xcache.resp import encode_command


@pytest.fixture(params=["xcache", "redis"])
def one_group(request, tmp_path):
    """(node, proxy over it alone)"""
    node = start_xcache_server(tmp_path) if request.param == "xcache" else start_redis(tmp_path)
    proxy = None
    try:
        proxy = ProxyProc(tmp_path, f"1=127.0.0.1:{node.port}", 1,
                          users="alice on >pw ~* +@read").wait_healthy()
        yield node, proxy
    finally:
        for p in (proxy, node):
            if p is not None:
                p.stop()


def _read_rdb(s: socket.socket, buf: bytes = b"") -> tuple[bytes, bytes]:
    """The bulk RDB of a SYNC (after Redis's keep-alive newlines) and what followed it."""
    while b"\r\n" not in buf.lstrip(b"\n"):
        buf += s.recv(65536)
    head, rest = buf.lstrip(b"\n").split(b"\r\n", 1)
    assert head.startswith(b"$"), head
    size = int(head[1:])
    while len(rest) < size:
        rest += s.recv(65536)
    return rest[:size], rest[size:]


def _slaves(node) -> int:
    return redis.Redis(port=node.port).info("replication")["connected_slaves"]


def test_sync_reads_the_nodes_rdb_and_stream(one_group):
    node, proxy = one_group
    c = redis.Redis(port=proxy.port, protocol=2, socket_timeout=10)
    c.set("before", "1")
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
        # a reply due before the SYNC comes first
        s.sendall(encode_command(b"SET", b"first", b"x") + encode_command(b"SYNC"))
        buf = b""
        while b"+OK\r\n" not in buf:
            buf += s.recv(65536)
        assert buf.startswith(b"+OK\r\n")
        rdb, rest = _read_rdb(s, buf[5:])
        assert rdb.startswith(b"REDIS") and b"before" in rdb and b"first" in rdb
        c.set("after", "2")
        while b"after" not in rest:
            rest += s.recv(65536)
        assert b"*3\r\n$3\r\nSET\r\n$5\r\nafter\r\n$1\r\n2\r\n" in rest
        assert _slaves(node) == 1
    wait_until(lambda: _slaves(node) == 0, what="the node's side closed with the client's")


def test_a_redis_server_replicates_through_the_proxy(one_group, tmp_path):
    node, proxy = one_group
    c = redis.Redis(port=proxy.port, protocol=2, socket_timeout=10)
    c.set("k1", "v1")
    replica = start_redis(tmp_path, "--replicaof", "127.0.0.1", str(proxy.port))
    try:
        r = redis.Redis(port=replica.port, socket_timeout=10)
        wait_until(lambda: r.info("replication")["master_link_status"] == "up", what="link up")
        c.set("k2", "v2")
        c.rpush("l", "a", "b")
        wait_until(lambda: r.lrange("l", 0, -1) == [b"a", b"b"], what="the stream")
        assert (r.get("k1"), r.get("k2")) == (b"v1", b"v2")
        # its REPLCONF listening-port reached the node with its PSYNC
        assert redis.Redis(port=node.port).info("replication")["slave0"]["port"] == replica.port
    finally:
        replica.stop()


def test_sync_needs_the_permission(one_group):
    _, proxy = one_group
    got = exchange(proxy.port, encode_command(b"AUTH", b"alice", b"pw") + encode_command(b"SYNC"), 2)
    assert got[0] == b"OK"
    assert str(got[1]).startswith("NOPERM") and "'sync'" in str(got[1])


def test_sync_is_refused_with_two_groups(proxy):
    got = exchange(proxy.port, encode_command(b"SYNC") + encode_command(b"REPLCONF", b"capa", b"eof")
                   + encode_command(b"PING"), 3)
    assert str(got[0]).startswith("ERR xcache: 'SYNC' is not supported through the proxy")
    assert str(got[1]).startswith("ERR xcache: 'REPLCONF' is not supported through the proxy")
    assert got[2] == b"PONG"


def test_replicaof_behind_allow_replicaof(tmp_path, one_group):
    node, refusing = one_group
    assert str(exchange(refusing.port, encode_command(b"REPLICAOF", b"NO", b"ONE"), 1)[0]).startswith(
        "ERR xcache: 'REPLICAOF' is not supported through the proxy")
    proxy = ProxyProc(tmp_path, f"1=127.0.0.1:{node.port}", 1, allow_replicaof="true").wait_healthy()
    try:
        got = exchange(proxy.port, b"".join(encode_command(*a) for a in (
            [b"SET", b"k", b"1"], [b"REPLICAOF", b"127.0.0.1", b"1"], [b"SET", b"k", b"2"],
            [b"REPLICAOF", b"NO", b"ONE"], [b"MULTI"], [b"SET", b"k", b"3"],
            [b"REPLICAOF", b"127.0.0.1", b"1"], [b"EXEC"], [b"SET", b"k", b"4"],
            [b"REPLICAOF", b"NO", b"ONE"], [b"GET", b"k"])), 11)
        assert got[:2] == [b"OK", b"OK"]
        assert str(got[2]).startswith("READONLY")
        assert got[3:7] == [b"OK", b"OK", b"QUEUED", b"QUEUED"]
        assert got[7] == [b"OK", b"OK"]
        assert str(got[8]).startswith("READONLY")
        assert got[9:] == [b"OK", b"3"]
    finally:
        proxy.stop()
