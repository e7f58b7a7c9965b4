"""A real RocksDB write stall must not freeze the node (the incident's first failure).

Tiny memtables and a flush rate limiter make RocksDB stall writes for real. While it does,
PING, INFO and reads keep answering; writes wait asynchronously and, past the deadline,
get -BUSY; nothing acknowledged is lost and nothing refused is applied.
"""

import threading
import time

import pytest
import redis

from tests.procs import start_xcache_server, wait_until

STALL_FLAGS = ["--set", "rocksdb_write_buffer_bytes=65536", "--set", "rocksdb_max_write_buffer_number=2",
               "--set", "rocksdb_rate_limit_bytes_per_sec=4096", "--set", "write_stall_timeout_ms=500"]


@pytest.fixture
def stalling_node(tmp_path):
    proc = start_xcache_server(tmp_path, *STALL_FLAGS)
    yield proc
    proc.kill9()


class Writer(threading.Thread):
    """Pipelined SETs of unique keys until told to stop (bounded in count)."""

    def __init__(self, port: int, name: str = "k"):
        super().__init__(daemon=True)
        self.name = name
        self.client = redis.Redis(port=port, protocol=2, socket_timeout=30)
        self.acked: list[str] = []
        self.refused: list[str] = []
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        for batch in range(2000):
            if self.stop.is_set():
                return
            keys = [f"{self.name}{batch}:{i}" for i in range(20)]
            p = self.client.pipeline(transaction=False)
            for k in keys:
                p.set(k, k.encode() * 64)
            for k, res in zip(keys, p.execute(raise_on_error=False), strict=True):
                if res is True:
                    self.acked.append(k)
                elif "BUSY write stall" in str(res):
                    self.refused.append(k)
                else:
                    self.errors.append(str(res))


def test_stall_keeps_node_responsive(stalling_node):
    r = redis.Redis(port=stalling_node.port, protocol=2, socket_timeout=5)
    r.set("before", "still readable")
    # Two writers: their chunks often share a group (rounds.py), refused or written as one.
    writers = [Writer(stalling_node.port, name) for name in ("a", "b")]
    for w in writers:
        w.start()
    try:
        wait_until(lambda: r.info("storage")["write_stall_active"] == 1, 60, "a write stall")
        # The node is stalled: PING, reads and INFO must still answer at once.
        started = time.monotonic()
        assert r.ping() is True
        assert r.get("before") == b"still readable"
        storage = r.info("storage")
        elapsed = time.monotonic() - started
        assert storage["write_stall_active"] == 1
        assert elapsed < 0.5  # bounded well below write_stall_timeout_ms: nothing waited on the stall
        wait_until(lambda: any(w.refused for w in writers), 60, "a write refused with -BUSY")
        assert r.info("storage")["stall_rejected_writes_total"] >= 1
    finally:
        for w in writers:
            w.stop.set()
        for w in writers:
            w.join(60)
    for w in writers:
        assert not w.errors
        assert w.acked
        # Every acknowledged write is there; no refused write was applied.
        values = r.mget(w.acked)
        assert all(v == k.encode() * 64 for k, v in zip(w.acked, values, strict=True))
        assert not w.refused or r.mget(w.refused) == [None] * len(w.refused)
