"""What issue 14's pipelined SET goal leaves for Python: RocksDB's own write cost next to Redis.

A node's SET ends in a RocksDB write of the key's meta entry. At pipeline depth 16 with 50
clients the node writes each event-loop round (up to 800 SETs) as one WriteBatch, so the least
a SET can cost the node is RocksDB's write of one entry in such a batch. This runs, in one go:

  - redis-benchmark SET -P 16 against redis-server and against a node (both on loopback);
  - RocksDB alone, through rocksdict with the node's own options (rocksopts.py): batches of
    clients x pipeline puts of the node's meta entries for the same random keys, timed around
    `write` only (the batches are built beforehand);

and prints per SET: redis-server's time, the time a node may take to reach the goal ratio, what
RocksDB's write alone takes of it, and what is left for everything else (parsing, dispatch,
replies, replication, in Python), next to the node's time now.

    python benchmarks/rocksdb_floor.py [--requests 400000] [--repeat 3] [--goal 0.4]
"""

from __future__ import annotations

import argparse
import random
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.store_vs_redis import bench  # noqa: E402
from tests.procs import start_redis, start_xcache_server  # noqa: E402
from xcache.config import ServerConfig  # noqa: E402
from xcache.store.engine import meta_key  # noqa: E402
from xcache.store.rocksopts import RocksResources  # noqa: E402

PIPELINE = 16
KEYSPACE = 100_000  # redis-benchmark -r 100000


def rocksdb_write_us(tmp: Path, requests: int, batch: int) -> float:
    """µs per entry of RocksDB's write of batches of `batch` SET meta entries (node's options)."""
    from rocksdict import Rdict, WriteBatch

    cfg = ServerConfig()
    cfg.dir = str(tmp / "rocks")
    opts = RocksResources(cfg).options
    db = Rdict(str(tmp / "rocks" / "db"), opts, column_families={"meta": opts})
    try:
        meta = db.get_column_family_handle("meta")
        value = b"\x00" + struct.pack(">Q", 0) + b"xxx"  # a string's meta: type, expiry, value (3 B)
        rnd = random.Random(1)
        batches = []
        for _ in range(requests // batch):
            wb = WriteBatch(raw_mode=True)
            for _ in range(batch):
                wb.put(meta_key(0, b"key:%012d" % rnd.randrange(KEYSPACE)), value, meta)
            batches.append(wb)
        start = time.perf_counter()
        for wb in batches:
            db.write(wb)
        return (time.perf_counter() - start) / (len(batches) * batch) * 1e6
    finally:
        db.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=400_000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--goal", type=float, default=0.4, help="issue 14's SET ratio at P=16")
    args = ap.parse_args()
    runs: dict[str, list[float]] = {"redis": [], "xcache": [], "rocksdb": []}
    with tempfile.TemporaryDirectory() as tmp:
        redis_proc = start_redis(Path(tmp))
        xcache_proc = start_xcache_server(Path(tmp))
        try:
            for i in range(args.repeat):  # interleaved, so machine noise hits all alike
                for kind, proc in (("redis", redis_proc), ("xcache", xcache_proc)):
                    runs[kind].append(1e6 / bench(proc, PIPELINE, args.requests, args.clients, "set")[1])
                d = Path(tmp) / f"run{i}"
                d.mkdir()
                runs["rocksdb"].append(rocksdb_write_us(d, args.requests, args.clients * PIPELINE))
        finally:
            xcache_proc.stop()
            redis_proc.stop()
    redis_us, node_us, rocks_us = (statistics.median(runs[k]) for k in ("redis", "xcache", "rocksdb"))
    allowed = redis_us / args.goal
    print(f"SET -P {PIPELINE} -c {args.clients} -r {KEYSPACE}, median of {args.repeat} (µs per SET, wall)")
    print(f"  redis-server                              {redis_us:6.2f}")
    print(f"  a node at {args.goal:.2f}x of it may take            {allowed:6.2f}")
    print(f"  RocksDB's batch write alone (node opts)   {rocks_us:6.2f}  ({rocks_us / allowed:.0%} of that)")
    print(f"  left for parsing, dispatch, replies        {allowed - rocks_us:6.2f}")
    print(f"  the node now                              {node_us:6.2f}  ({redis_us / node_us:.2f}x of redis-server)")


if __name__ == "__main__":
    main()
