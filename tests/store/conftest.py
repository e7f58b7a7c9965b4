"""Fixtures for storage-node tests.

`r` is parametrized: every test using it runs against a real `xcache server` AND a real
`redis-server`, each in RESP2 and in RESP3 (redis-py `protocol=3`, which sends HELLO 3), which
proves the tests encode Redis's semantics, not ours. Both servers are started once per test
worker and flushed before each test.
"""

from __future__ import annotations

import pytest
import redis

from tests.procs import start_redis, start_xcache_server
from tests.store.cluster import Cluster


@pytest.fixture(scope="session")
def xcache_node(tmp_path_factory):
    proc = start_xcache_server(tmp_path_factory.mktemp("xcache"))
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def redis_node(tmp_path_factory):
    proc = start_redis(tmp_path_factory.mktemp("redis"))
    yield proc
    proc.stop()


@pytest.fixture(params=["xcache-resp2", "redis-resp2", "xcache-resp3", "redis-resp3"])
def r(request):
    """A redis-py client (bytes replies) to a flushed server; runs once per server kind and
    protocol."""
    kind, proto = request.param.split("-resp")
    node = request.getfixturevalue("xcache_node" if kind == "xcache" else "redis_node")
    client = redis.Redis(port=node.port, socket_timeout=10, protocol=int(proto))
    client.flushall()
    yield client
    client.close()


@pytest.fixture(params=["xcache", "redis"])
def r2(request):
    """Like `r`, RESP2 only: for tests whose expected replies are RESP2 shapes (the node does not
    type every reply of these families for RESP3 yet; see docs/compatibility.md)."""
    node = request.getfixturevalue("xcache_node" if request.param == "xcache" else "redis_node")
    client = redis.Redis(port=node.port, socket_timeout=10, protocol=2)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def x(xcache_node):
    """A client of the xcache server only (for xcache-specific behaviour)."""
    client = redis.Redis(port=xcache_node.port, socket_timeout=10, protocol=2)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def cluster(tmp_path):
    """xcache nodes started by the test (cluster.node(), cluster.replica_of(m)), all stopped at its end."""
    c = Cluster(tmp_path)
    yield c
    c.stop()
