"""Fixtures for sentinel tests: groups of real redis-server nodes (master + 2 replicas) and
`xcache sentinel` processes watching them. Every process is stopped when the test ends."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import redis

from tests.procs import (
    Proc,
    Stops,
    free_port,
    start_redis,
    start_xcache_server,
    wait_until,
)

GROUP = "grp"
# Small timeouts keep the multi-process tests short.
FAST = {"down_after_ms": 1000, "failover_timeout_ms": 5000, "hello_period_ms": 500,
        "info_period_ms": 1000}


def client(port: int) -> redis.Redis:
    return redis.Redis(port=port, socket_timeout=5, socket_connect_timeout=2, decode_responses=True,
                       protocol=2)


def role_of(port: int) -> list:
    with client(port) as c:
        return c.execute_command("ROLE")


class Group(Stops):
    """A master and its replicas: real redis-server processes, or `xcache server` nodes."""

    def __init__(self, tmp: Path, replicas: int = 2, kind: str = "redis"):
        self.tmp = tmp
        self.kind = kind
        self.master = self._start()
        self.replicas = [self._start("127.0.0.1", str(self.master.port)) for _ in range(replicas)]
        self.procs: list[Proc] = [self.master, *self.replicas]
        wait_until(lambda: all(role_of(r.port)[3] == "connected" for r in self.replicas),
                   what="replicas in sync")

    def by_port(self, port: int) -> Proc:
        return next(p for p in self.procs if p.port == port and p.popen.poll() is None)

    def _start(self, *replicaof: str, port: int | None = None) -> Proc:
        if self.kind == "xcache":
            extra = ("--replicaof", " ".join(replicaof)) if replicaof else ()
            return start_xcache_server(self.tmp, *extra, port=port)
        extra = ("--replicaof", *replicaof) if replicaof else ()
        return start_redis(self.tmp, *extra, port=port)

    def restart(self, port: int) -> Proc:
        """Start the node that listened on port again (redis: empty; xcache: same data dir)."""
        proc = self._start(port=port)
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for p in self.procs:
            p.stop()


class Sentinels(Stops):
    """N `xcache sentinel` processes monitoring one group."""

    def __init__(self, tmp: Path, master_port: int, n: int = 3, quorum: int = 2, **settings):
        self.procs: list[Proc] = []
        conf = {**FAST, **settings}
        for i in range(n):
            port = free_port()
            args = [sys.executable, "-m", "xcache.cli", "sentinel", "--port", str(port),
                    "--monitor", f"{GROUP} 127.0.0.1 {master_port} {quorum}"]
            for k, v in conf.items():
                args += ["--set", f"{k}={v}"]
            self.procs.append(Proc(args, port, stderr_path=str(tmp / f"sentinel-{i}.log")).wait_ready())
        self.ports = [p.port for p in self.procs]

    def master_addr(self, port: int) -> tuple[str, int] | None:
        with client(port) as c:
            addr = c.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", GROUP)
        return (addr[0], int(addr[1])) if addr else None

    def wait_connected(self, replicas: int = 2) -> None:
        """Each sentinel knows the replicas and the other sentinels."""
        def ready() -> bool:
            for port in self.ports:
                with client(port) as c:
                    d = c.sentinel_master(GROUP)
                if d["num-slaves"] < replicas or d["num-other-sentinels"] < len(self.ports) - 1:
                    return False
            return True
        wait_until(ready, what="sentinels discovering replicas and each other")

    def agreed_master(self, not_port: int | None = None) -> tuple[str, int] | None:
        """The master address if all sentinels report the same one (and it is not not_port)."""
        addrs = {self.master_addr(p) for p in self.ports}
        if len(addrs) != 1:
            return None
        addr = addrs.pop()
        return addr if addr and addr[1] != not_port else None

    def stop(self) -> None:
        for p in self.procs:
            p.stop()


@pytest.fixture
def group(tmp_path):
    with Group(tmp_path) as g:
        yield g


@pytest.fixture
def sentinels(tmp_path, group):
    with Sentinels(tmp_path, group.master.port) as s:
        yield s


@pytest.fixture
def xgroup(tmp_path):
    """A group of `xcache server` nodes (replication in the storage node)."""
    with Group(tmp_path, kind="xcache") as g:
        yield g
