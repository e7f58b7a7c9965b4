"""Replication lag of a replica under the pipelined SET benchmark (xcache, and redis-server alike).

Starts a master and one replica (REPLICAOF), runs `redis-benchmark -t set -P 16` against the
master and samples both nodes' INFO replication every few ms: the lag in bytes is the master's
master_repl_offset minus the replica's; the lag in seconds is how long ago the master was at the
replica's current offset. Prints max / median / p99 of both, and the catch-up time after the
benchmark ended.

    python benchmarks/replica_lag.py [--requests 200000] [--pipeline 16] [--no-redis]
"""

from __future__ import annotations

import argparse
import bisect
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis  # noqa: E402

from tests.procs import start_redis, start_xcache_server, wait_until  # noqa: E402


def offset(r: redis.Redis, field: str) -> int:
    return int(r.info("replication")[field])


def measure(master_port: int, replica_port: int, requests: int, pipeline: int, clients: int) -> dict:
    m = redis.Redis(port=master_port, protocol=2)
    rep = redis.Redis(port=replica_port, protocol=2)
    rep.replicaof("127.0.0.1", master_port)
    wait_until(lambda: rep.info("replication").get("master_link_status") == "up", 60, "link up")
    bench = subprocess.Popen(
        ["redis-benchmark", "-h", "127.0.0.1", "-p", str(master_port), "-c", str(clients),
         "-n", str(requests), "-P", str(pipeline), "-t", "set", "-r", "100000", "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    master_samples: list[tuple[float, int]] = []  # (time, master offset), in order
    lags: list[tuple[int, float]] = []
    done = threading.Event()

    def wait_bench():
        bench.wait()
        done.set()

    threading.Thread(target=wait_bench, daemon=True).start()
    while not done.is_set():
        t = time.monotonic()
        mo = offset(m, "master_repl_offset")
        master_samples.append((t, mo))
        ro = offset(rep, "master_repl_offset")
        now = time.monotonic()
        # When did the master first reach the replica's offset?
        i = bisect.bisect_left([o for _, o in master_samples], ro)
        lag_s = now - master_samples[i][0] if i < len(master_samples) else 0.0
        lags.append((max(mo - ro, 0), max(lag_s, 0.0)))
        time.sleep(0.02)
    end = time.monotonic()
    final = offset(m, "master_repl_offset")
    wait_until(lambda: offset(rep, "master_repl_offset") >= final, 120, "replica catch-up",
               interval=0.01)
    catch_up = time.monotonic() - end
    rps = bench.stdout.read().strip().splitlines()[-1] if bench.stdout else ""
    m.close()
    rep.close()
    by = sorted(b for b, _ in lags)
    secs = sorted(s for _, s in lags)
    return {"samples": len(lags), "max_bytes": by[-1], "median_bytes": statistics.median(by),
            "p99_bytes": by[int(len(by) * 0.99)], "max_s": secs[-1], "median_s": statistics.median(secs),
            "p99_s": secs[int(len(secs) * 0.99)], "catch_up_s": catch_up, "benchmark": rps}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=200_000)
    ap.add_argument("--pipeline", type=int, default=16)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--no-redis", action="store_true", help="skip the redis-server reference pair")
    args = ap.parse_args()
    kinds = [("xcache", start_xcache_server)] + ([] if args.no_redis else [("redis", start_redis)])
    print(f"redis-benchmark -t set -P {args.pipeline} -c {args.clients} -n {args.requests} "
          "against the master; lag sampled every ~20 ms")
    for name, start in kinds:
        with tempfile.TemporaryDirectory() as tmp:
            master, replica = start(Path(tmp)), start(Path(tmp))
            try:
                res = measure(master.port, replica.port, args.requests, args.pipeline, args.clients)
            finally:
                replica.stop()
                master.stop()
        print(f"{name:7} lag bytes max {res['max_bytes']:>10} p99 {res['p99_bytes']:>10} "
              f"median {res['median_bytes']:>10.0f} | seconds max {res['max_s']:.3f} "
              f"p99 {res['p99_s']:.3f} median {res['median_s']:.3f} | catch-up after the "
              f"benchmark {res['catch_up_s']:.3f} s | {res['benchmark']}", flush=True)


if __name__ == "__main__":
    main()
