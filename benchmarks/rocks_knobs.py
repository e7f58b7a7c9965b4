"""RocksDB knobs of the storage node, A/B: one xcache server per variant, redis-server as the
yardstick, redis-benchmark SET/GET at P=1 and P=16 interleaved across all of them, repeated;
prints the median requests/s of each variant as a ratio to redis-server and to the baseline, and
the node's CPU time per request (user + system), which a busy
neighbour on a shared machine disturbs much less than requests/s.

    python benchmarks/rocks_knobs.py [--requests 50000] [--repeat 3] \
        [--variant "name=key=value;key=value" ...]

Without --variant, the knobs of docs/operations/memory.md are measured one at a time against the
defaults. Used to pick the defaults of the rocksdb_* keys (a default changes only on a measured
gain).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.procs import start_redis, start_xcache_server  # noqa: E402

VARIANTS = {
    "baseline": "",
    "pipelined": "rocksdb_enable_pipelined_write=true",
    "bg2": "rocksdb_max_background_jobs=2",
    "idx_in_cache": "rocksdb_cache_index_and_filter_blocks=true",
    "memtable_bloom": "rocksdb_memtable_bloom_ratio=0.1",
    "bytes_per_sync": "rocksdb_bytes_per_sync=1048576",
    "lz4_levels": "rocksdb_compression_per_level=none,none,lz4,lz4,lz4,zstd,zstd",
    "budget256": "max_memory_bytes=268435456",
}


def bench(proc, pipeline: int, requests: int, clients: int) -> dict[str, float]:
    """-> {"SET": rps, "GET": rps, "SET cpu": node CPU us per request, "GET cpu": ...}."""
    out = {}
    for test in ("set", "get"):
        cpu0 = cpu_seconds(proc.pid)
        text = subprocess.run(
            ["redis-benchmark", "-h", "127.0.0.1", "-p", str(proc.port), "-c", str(clients),
             "-n", str(requests), "-P", str(pipeline), "-t", test, "-r", "100000", "--csv"],
            capture_output=True, text=True, check=True, timeout=600).stdout
        cpu = cpu_seconds(proc.pid) - cpu0
        rows = list(csv.reader(io.StringIO(text)))
        out[test.upper()] = float(rows[1][rows[0].index("rps")])
        out[f"{test.upper()} cpu"] = cpu * 1e6 / requests
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU the process used so far: less disturbed by other load than requests/s
    (a busy neighbour delays the node, it does not make its work bigger)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=50_000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=K=V;K=V",
                    help="a variant to measure (repeatable); the baseline is always included")
    args = ap.parse_args()
    variants = {"baseline": ""}
    for v in args.variant:
        name, _, sets = v.partition("=")
        variants[name] = sets
    if not args.variant:
        variants = dict(VARIANTS)
    with tempfile.TemporaryDirectory() as tmp:
        procs = {"redis": start_redis(Path(tmp))}
        try:
            for name, sets in variants.items():
                extra = [a for kv in sets.split(";") if kv for a in ("--set", kv)]
                procs[name] = start_xcache_server(Path(tmp), *extra)
            print(f"redis-benchmark -c {args.clients} -n {args.requests} -r 100000 -t set,get, "
                  f"median of {args.repeat}, interleaved")
            for pipeline in (1, 16):
                runs: dict[str, list] = {name: [] for name in procs}
                order = list(procs.items())
                for i in range(args.repeat):  # rotated: no variant always runs first or last
                    for name, proc in order[i % len(order):] + order[:i % len(order)]:
                        runs[name].append(bench(proc, pipeline, args.requests, args.clients))
                for test in ("SET", "GET"):
                    med = {n: statistics.median(r[test] for r in rs) for n, rs in runs.items()}
                    cpu = {n: statistics.median(r[f"{test} cpu"] for r in rs) for n, rs in runs.items()}
                    for name in variants:
                        print(f"{test:4} P={pipeline:<2} {name:15} {med[name]:>9.0f} rps "
                              f"{med[name] / med['redis']:5.2f}x redis "
                              f"{med[name] / med['baseline']:5.2f}x baseline | CPU "
                              f"{cpu[name]:5.1f} us/req {cpu[name] / cpu['baseline']:5.2f}x baseline",
                              flush=True)
        finally:
            for proc in procs.values():
                proc.stop()


if __name__ == "__main__":
    main()
