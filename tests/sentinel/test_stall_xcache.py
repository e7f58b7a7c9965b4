"""A real RocksDB write stall on an `xcache server` master (tiny memtables + a flush rate limit, as
in tests/store/test_stall.py): the master keeps answering PING and reports the stall in INFO, so
the sentinels mark it `stalled` and do not fail it over."""

from __future__ import annotations

import threading
import time

import redis

from tests.procs import start_xcache_server
from tests.sentinel.conftest import GROUP, Sentinels, client, wait_until

STALL_FLAGS = ["--set", "rocksdb_write_buffer_bytes=65536", "--set", "rocksdb_max_write_buffer_number=2",
               "--set", "rocksdb_rate_limit_bytes_per_sec=4096", "--set", "write_stall_timeout_ms=500"]


class Writer(threading.Thread):
    """Pipelined SETs until told to stop; -BUSY refusals are expected while stalled."""

    def __init__(self, port: int):
        super().__init__(daemon=True)
        self.client = redis.Redis(port=port, protocol=2, socket_timeout=30)
        self.stop = threading.Event()

    def run(self) -> None:
        for batch in range(5000):
            if self.stop.is_set():
                return
            p = self.client.pipeline(transaction=False)
            for i in range(20):
                p.set(f"k{batch}:{i}", b"x" * 256)
            p.execute(raise_on_error=False)


def test_stalled_xcache_master_is_not_failed_over(tmp_path):
    master = start_xcache_server(tmp_path, *STALL_FLAGS)
    replica = start_xcache_server(tmp_path, "--replicaof", f"127.0.0.1 {master.port}")
    sentinels = None
    writer = Writer(master.port)
    try:
        sentinels = Sentinels(tmp_path, master.port, down_after_ms=1000, stalled_down_after_ms=60000)
        sentinels.wait_connected(replicas=1)
        writer.start()

        def all_see_stall() -> bool:
            for port in sentinels.ports:
                with client(port) as c:
                    if "stalled" not in c.sentinel_master(GROUP)["flags"]:
                        return False
            return True

        wait_until(all_see_stall, timeout=60, what="sentinels marking the master stalled")
        # Hold the stall for several down-after periods: the master must stay the master.
        held_since, stalled_polls = time.monotonic(), 0
        while time.monotonic() - held_since < 3.0:
            with client(master.port) as c:
                stalled_polls += c.info("storage")["write_stall_active"]
            for port in sentinels.ports:
                with client(port) as c:
                    m = c.sentinel_master(GROUP)
                assert m["port"] == master.port and not m["is_sdown"] and not m["is_odown"]
            time.sleep(0.2)
        assert stalled_polls > 0
        with client(master.port) as c:
            assert c.execute_command("ROLE")[0] == "master"
    finally:
        writer.stop.set()
        writer.join(60)
        if sentinels is not None:
            sentinels.stop()
        replica.stop()
        master.stop()
