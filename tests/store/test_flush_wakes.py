"""FLUSHALL / FLUSHDB and blocked clients (Redis 7.0's signalFlushedDb), against xcache AND
redis-server: a XREADGROUP blocked on a stream that goes is answered at once; a BLPOP stays."""

from __future__ import annotations

import socket

import pytest
import redis

from tests.procs import read_reply, wait_until
from xcache.resp import encode_command


def _blocked(c: redis.Redis) -> int:
    return c.info("clients")["blocked_clients"]


@pytest.mark.parametrize("flush", ["FLUSHALL", "FLUSHDB"])
def test_flush_answers_a_blocked_xreadgroup(xcache_node, redis_node, flush):
    got = {}
    for node in (xcache_node, redis_node):
        c = redis.Redis(port=node.port, protocol=2, socket_timeout=10)
        c.delete("fs", "fl")
        c.xadd("fs", {"f": "v"}, id="666")
        c.xgroup_create("fs", "g", id="$")
        with socket.create_connection(("127.0.0.1", node.port), timeout=10) as s, \
                socket.create_connection(("127.0.0.1", node.port), timeout=10) as pop:
            s.sendall(encode_command(b"XREADGROUP", b"GROUP", b"g", b"a", b"BLOCK", b"0",
                                     b"STREAMS", b"fs", b">"))
            pop.sendall(encode_command(b"BLPOP", b"fl", b"0"))
            wait_until(lambda c=c: _blocked(c) == 2, what="2 blocked")
            c.execute_command(flush)
            got[node.port] = str(read_reply(s))
            wait_until(lambda c=c: _blocked(c) == 1, what="BLPOP still blocked")
            c.rpush("fl", "x")
            assert read_reply(pop) == [b"fl", b"x"]
        c.close()
    assert list(got.values()) == ["UNBLOCKED the stream key no longer exists"] * 2
