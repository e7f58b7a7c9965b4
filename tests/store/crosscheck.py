"""Run the same commands on xcache and redis-server and compare the raw replies exactly.

Import the `both` fixture into a test module (`from tests.store.crosscheck import both_fixture`);
`same(both, *args)` sends args to each server and asserts equal replies (errors included).
"""

from __future__ import annotations

import pytest
import redis


def raw(client: redis.Redis, *args):
    """Send a command and return the raw reply (no redis-py response callbacks)."""
    conn = client.connection_pool.get_connection()
    try:
        conn.send_command(*args)
        return conn.read_response()
    finally:
        client.connection_pool.release(conn)


@pytest.fixture(name="both")
def both_fixture(xcache_node, redis_node):
    """(xcache client, redis client), both flushed."""
    clients = [redis.Redis(port=n.port, socket_timeout=10, protocol=2) for n in (xcache_node, redis_node)]
    for cl in clients:
        cl.flushall()
    yield clients
    for cl in clients:
        cl.close()


def same(both, *args):
    """The reply of args on both servers, asserted equal (an error reply as ("error", text))."""
    replies = []
    for cl in both:
        try:
            replies.append(raw(cl, *args))
        except redis.ResponseError as exc:
            replies.append(("error", str(exc)))
    assert replies[0] == replies[1], (args, replies)
    return replies[0]
