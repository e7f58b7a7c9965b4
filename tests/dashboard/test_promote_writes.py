"""A manual promote under write load loses no acknowledged write: the dashboard pauses the old
master's writes (CLIENT PAUSE WRITE) until the replica has caught up, and the proxy replays the
writes the old master then refuses on the new one."""

from __future__ import annotations

import threading

import pytest
import redis

from tests.dashboard.helpers import DashboardProc, ProxyProc, admin, role, wait_until
from tests.procs import start_redis, start_xcache_server


@pytest.fixture(params=["xcache", "redis"])
def group(request, tmp_path):
    """One group (master + replica) of the given node kind behind a proxy, run by a dashboard."""
    start = start_xcache_server if request.param == "xcache" else start_redis
    procs = []
    try:
        procs += [start(tmp_path), start(tmp_path)]
        servers = [f"127.0.0.1:{p.port}" for p in procs]
        proxy = ProxyProc(tmp_path).wait_admin()
        procs.append(proxy)
        dash = DashboardProc(tmp_path, f"file://{tmp_path / 'coord'}").wait_healthy()
        procs.append(dash)
        admin(dash, "group", "add")
        for s in servers:
            admin(dash, "group", "add-server", "--group", "1", "--addr", s)
        admin(dash, "slots", "assign", "--group", "1", "--slots", "0-1023")
        admin(dash, "proxy", "add", "--addr", proxy.addr, "--admin-addr", proxy.admin_addr)
        wait_until(lambda: role(servers[1])[3] == "connected", what="replica linked")
        yield dash, proxy, servers
    finally:
        for p in reversed(procs):
            p.stop()


class Writer(threading.Thread):
    """INCR one counter through the proxy in a loop, counting the acknowledged increments."""

    def __init__(self, port: int):
        super().__init__(daemon=True)
        self.client = redis.Redis(port=port, protocol=2, socket_timeout=10)
        self.acked = 0
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.client.incr("counter")
            except redis.RedisError as exc:  # not acknowledged: may or may not have happened
                self.errors.append(repr(exc))
            else:
                self.acked += 1


def test_promote_under_writes_keeps_every_acknowledged_incr(group):
    dash, proxy, servers = group
    writer = Writer(proxy.port)
    writer.start()
    try:
        for new_master in (servers[1], servers[0]):  # there and back: each node is old master once
            before = writer.acked
            wait_until(lambda b=before: writer.acked >= b + 200, what="writes flowing")
            dash.call("POST", "/api/groups/1/promote", {"addr": new_master})
            assert role(new_master)[0] == "master"
            before = writer.acked
            wait_until(lambda b=before: writer.acked >= b + 200, what="writes flowing on the new master")
            wait_until(lambda m=new_master: role(next(s for s in servers if s != m))[3] == "connected",
                       what="old master follows the new one")
    finally:
        writer.stop.set()
        writer.join(15)
    assert writer.errors == []  # the proxy hid both switches
    with redis.Redis(port=proxy.port, protocol=2) as c:
        assert int(c.get("counter")) == writer.acked
