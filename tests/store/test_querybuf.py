"""CLIENT LIST's query buffer figures (qbuf + qbuf-free) follow Redis's: a fresh client holds a
16-32 KiB buffer, an idle one none, a big request grows it and later small ones let it shrink
(xcache/store/querybuf.py); the same checks run against redis-server."""

from __future__ import annotations

import pytest
import redis

from tests.procs import wait_until


@pytest.fixture(params=["xcache", "redis"])
def port(request):
    node = request.getfixturevalue("xcache_node" if request.param == "xcache" else "redis_node")
    return node.port


def buffer_of(admin: redis.Redis, name: str) -> tuple[int, int]:
    """(qbuf + qbuf-free, idle) of the client called name."""
    line = next(c for c in admin.client_list() if c["name"] == name)
    return int(line["qbuf"]) + int(line["qbuf-free"]), int(line["idle"])


def test_an_idle_clients_buffer_is_freed(port):
    check_idle_buffer_freed(port)


def test_a_big_request_grows_the_buffer_and_small_ones_shrink_it(port):
    check_big_request_then_shrinks(port)


def check_idle_buffer_freed(port: int) -> None:
    admin = redis.Redis(port=port)
    c = redis.Redis(port=port, single_connection_client=True)
    try:
        c.client_setname("qb_idle")
        size, _ = buffer_of(admin, "qb_idle")
        assert 16384 <= size < 32768

        def freed():
            size, idle = buffer_of(admin, "qb_idle")
            return size == 0 and idle >= 3
        wait_until(freed, what="the idle client's buffer freed")
    finally:
        c.close()
        admin.close()


def check_big_request_then_shrinks(port: int) -> None:
    admin = redis.Redis(port=port)
    c = redis.Redis(port=port, single_connection_client=True)
    try:
        c.client_setname("qb_big")
        c.set("qb", "A" * 400000)
        big, _ = buffer_of(admin, "qb_big")
        assert big > 32768

        def shrunk():
            c.set("qb", "A" * 100)
            size, _ = buffer_of(admin, "qb_big")
            return 0 < size < big
        wait_until(shrunk, what="the buffer trimmed to its latest peak")
    finally:
        c.delete("qb")
        c.close()
        admin.close()
