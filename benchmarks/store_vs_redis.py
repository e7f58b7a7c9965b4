"""xcache server vs redis-server, side by side, with redis-benchmark (Debian's redis-tools).

Runs both servers on loopback, then redis-benchmark against each for SET/GET/LPUSH/HSET/ZADD/SADD at
pipeline depth 1 and 16, 50 clients, repeated; prints the median requests/s and the ratio.
Then one row per data-type family (XADD capped with MAXLEN ~, XRANGE of 10 entries, EVALSHA of a
one-SET script, PFADD, GEOADD, BITFIELD, ZUNIONSTORE, SORT): redis-benchmark's custom-command mode
against keys seeded alike on both servers.

    python benchmarks/store_vs_redis.py [--requests 100000] [--repeat 3] [--tests lpush,hset]
        [--baseline DIR]

The first rows also show each server's CPU time per request (user + system, all threads), which
a busy machine disturbs far less than requests/s. --baseline runs a third server from another
checkout (e.g. `git worktree add /tmp/base main`), interleaved, for before/after ratios.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.procs import Proc, free_port, start_redis, start_xcache_server  # noqa: E402

TESTS = "set,get,lpush,hset,zadd,sadd"
BENCH_SCRIPT = "return redis.call('set', KEYS[1], ARGV[1])"
# name -> the command redis-benchmark repeats (__rand_int__ is replaced by a random number)
FAMILIES = {
    "xadd": ["XADD", "bench:s", "MAXLEN", "~", "10000", "*", "f", "v"],
    "xrange": ["XRANGE", "bench:s", "-", "+", "COUNT", "10"],
    "evalsha": ["EVALSHA", hashlib.sha1(BENCH_SCRIPT.encode()).hexdigest(), "1", "bench:k", "v"],
    "pfadd": ["PFADD", "bench:hll", "__rand_int__"],
    "geoadd": ["GEOADD", "bench:geo", "13.361389", "38.115556", "m:__rand_int__"],
    "bitfield": ["BITFIELD", "bench:bits", "INCRBY", "u32", "#100", "1", "GET", "i8", "#7"],
    "zunionstore": ["ZUNIONSTORE", "bench:zu", "2", "bench:z1", "bench:z2"],
    "sort": ["SORT", "bench:list", "LIMIT", "0", "10"],
}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench(proc: Proc, pipeline: int, requests: int, clients: int, test: str) -> tuple[str, float, float]:
    """One redis-benchmark test -> (its name, requests/s, server CPU µs per request)."""
    cpu0 = cpu_seconds(proc.pid)
    out = subprocess.run(
        ["redis-benchmark", "-h", "127.0.0.1", "-p", str(proc.port), "-c", str(clients), "-n", str(requests),
         "-P", str(pipeline), "-t", test, "-r", "100000", "--csv"],
        capture_output=True, text=True, check=True, timeout=600).stdout
    cpu_us = (cpu_seconds(proc.pid) - cpu0) / requests * 1e6
    rows = list(csv.reader(io.StringIO(out)))
    return rows[1][0].split()[0], float(rows[1][rows[0].index("rps")]), cpu_us


def start_baseline(tmp: Path, checkout: str) -> Proc:
    """An `xcache server` running another checkout's code (--baseline)."""
    port = free_port()
    d = tmp / f"baseline-{port}"
    d.mkdir()
    args = [sys.executable, "-m", "xcache.cli", "server", "--port", str(port), "--dir", str(d),
            "--set", "metrics_port=0"]
    return Proc(args, port, cwd=checkout, env={"PYTHONPATH": checkout},
                stderr_path=str(d / "server.log")).wait_ready()


def seed(port: int) -> None:
    """The inputs the family rows read: two 50-member zsets and a 100-element list."""
    import redis

    r = redis.Redis(port=port, protocol=2)
    r.delete("bench:z1", "bench:z2", "bench:list")
    r.zadd("bench:z1", {f"m{i}": i for i in range(50)})
    r.zadd("bench:z2", {f"m{i}": i * 2 for i in range(25, 75)})
    r.rpush("bench:list", *[(i * 7919) % 1000 for i in range(100)])
    r.script_load(BENCH_SCRIPT)
    r.xadd("bench:s", {"f": "v"})
    r.close()


def bench_family(port: int, pipeline: int, requests: int, clients: int, cmd: list[str]) -> float:
    out = subprocess.run(
        ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", str(clients), "-n", str(requests),
         "-P", str(pipeline), "-r", "100000", "--csv", *cmd],
        capture_output=True, text=True, check=True, timeout=600).stdout
    rows = list(csv.reader(io.StringIO(out)))
    return float(rows[1][rows[0].index("rps")])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--families-only", action="store_true", help="only the data-type family rows")
    ap.add_argument("--tests", default=TESTS, help="redis-benchmark -t list for the first rows")
    ap.add_argument("--no-families", action="store_true", help="skip the data-type family rows")
    ap.add_argument("--baseline", metavar="DIR", help="also run a node from this checkout")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        redis_proc = start_redis(Path(tmp))
        xcache_proc = start_xcache_server(Path(tmp))
        nodes = [("redis", redis_proc), ("xcache", xcache_proc)]
        try:
            if args.baseline:
                nodes.append(("base", start_baseline(Path(tmp), os.path.abspath(args.baseline))))
            print(f"redis-benchmark -c {args.clients} -n {args.requests} -r 100000, median of {args.repeat} runs")
            base_head = f" {'base rps':>10} {'base':>6} {'x/base':>6} {'base µs':>7}" if args.baseline else ""
            print(f"{'test':8} {'P':>3} {'redis rps':>12} {'xcache rps':>12} {'ratio':>7} "
                  f"{'redis µs':>8} {'xcache µs':>9}{base_head}")
            for pipeline in () if args.families_only else (1, 16):
                for test in args.tests.split(","):
                    runs: dict[str, list] = {kind: [] for kind, _ in nodes}
                    for _ in range(args.repeat):  # interleaved, so machine noise hits all alike
                        for kind, proc in nodes:
                            runs[kind].append(bench(proc, pipeline, args.requests, args.clients, test))
                    name = runs["redis"][0][0]
                    rps = {k: statistics.median(run[1] for run in v) for k, v in runs.items()}
                    cpu = {k: statistics.median(run[2] for run in v) for k, v in runs.items()}
                    r, x = rps["redis"], rps["xcache"]
                    line = (f"{name:8} {pipeline:>3} {r:>12.0f} {x:>12.0f} {x / r:>6.2f}x "
                            f"{cpu['redis']:>8.2f} {cpu['xcache']:>9.2f}")
                    if args.baseline:
                        b = rps["base"]
                        line += f" {b:>10.0f} {b / r:>5.2f}x {x / b:>5.2f}x {cpu['base']:>7.2f}"
                    print(line, flush=True)
            if args.no_families:
                return
            seed(redis_proc.port)
            seed(xcache_proc.port)
            for name, cmd in FAMILIES.items():
                for pipeline in (1, 16):
                    runs = {"redis": [], "xcache": []}
                    for _ in range(args.repeat):
                        for kind, proc in (("redis", redis_proc), ("xcache", xcache_proc)):
                            runs[kind].append(bench_family(proc.port, pipeline, args.requests,
                                                           args.clients, cmd))
                    r, x = statistics.median(runs["redis"]), statistics.median(runs["xcache"])
                    print(f"{name:11} {pipeline:>3} {r:>12.0f} {x:>12.0f} {x / r:>6.2f}x", flush=True)
        finally:
            for _, proc in nodes:
                proc.stop()


if __name__ == "__main__":
    main()
