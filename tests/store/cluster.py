"""Real `xcache server` nodes for one test (masters, replicas in sync) and a client of each."""

from __future__ import annotations

from pathlib import Path

import redis

from tests.procs import Proc, Stops, start_xcache_server, wait_until


def client(node: Proc, db: int = 0) -> redis.Redis:
    return redis.Redis(port=node.port, db=db, protocol=2, socket_timeout=10)


class Cluster(Stops):
    """Starts xcache nodes for one test and stops them all at the end."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.procs: list[Proc] = []

    def node(self, *extra: str, port: int | None = None, data_dir: Path | None = None) -> Proc:
        proc = start_xcache_server(
            self.tmp, "--set", "repl_timeout_ms=3000", *extra, port=port, data_dir=data_dir
        )
        self.procs.append(proc)
        return proc

    def replica_of(self, master: Proc, *extra: str) -> Proc:
        node = self.node("--replicaof", f"127.0.0.1 {master.port}", *extra)
        wait_synced(master, node)
        return node

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop()


def wait_synced(master: Proc, replica: Proc, timeout: float = 60.0) -> None:
    """The replica's link is up and it has applied everything the master has produced."""

    def caught_up():
        info = client(replica).info("replication")
        if info.get("master_link_status") != "up":
            return False
        return info["slave_repl_offset"] >= client(master).info("replication")["master_repl_offset"]

    wait_until(caught_up, timeout, f"replica {replica.port} in sync with {master.port}")


def assert_replicated(master: Proc, replica: Proc, key: str, value: str) -> None:
    """A SET on master is applied by replica."""
    client(master).set(key, value)
    wait_synced(master, replica)
    assert client(replica).get(key) == value.encode()
