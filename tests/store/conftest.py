"""Fixtures for storage-node tests.

`r` is parametrized: every test using it runs against a real `xcache server` AND a real
`redis-server`, each in RESP2 and in RESP3 (redis-py `protocol=3`, which sends HELLO 3), which
proves the tests encode Redis's semantics, not ours. Both servers are started once per test
worker and flushed before each test.
"""

from __future__ import annotations

import pytest
import redis

from tests.procs import proc_fixture, start_redis, start_xcache_server
from tests.store.cluster import Cluster

xcache_node = proc_fixture(start_xcache_server, "xcache", scope="session")
redis_node = proc_fixture(start_redis, "redis", scope="session")


def flushed(node, protocol: int = 2) -> redis.Redis:
    """A redis-py client (bytes replies) of node, after FLUSHALL; `with` closes it."""
    client = redis.Redis(port=node.port, socket_timeout=10, protocol=protocol)
    client.flushall()
    return client


@pytest.fixture(params=["xcache-resp2", "redis-resp2", "xcache-resp3", "redis-resp3"])
def r(request):
    """A client of a flushed server; runs once per server kind and protocol."""
    kind, proto = request.param.split("-resp")
    with flushed(request.getfixturevalue(f"{kind}_node"), int(proto)) as client:
        yield client


@pytest.fixture(params=["xcache", "redis"])
def r2(request):
    """Like `r`, RESP2 only: for tests whose expected replies are RESP2 shapes (the node does not
    type every reply of these families for RESP3 yet; see docs/compatibility.md)."""
    with flushed(request.getfixturevalue(f"{request.param}_node")) as client:
        yield client


@pytest.fixture
def x(xcache_node):
    """A client of the xcache server only (for xcache-specific behaviour)."""
    with flushed(xcache_node) as client:
        yield client


@pytest.fixture
def cluster(tmp_path):
    """xcache nodes started by the test (cluster.node(), cluster.replica_of(m)), all stopped at its end."""
    with Cluster(tmp_path) as c:
        yield c
