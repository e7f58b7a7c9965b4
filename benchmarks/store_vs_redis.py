"""xcache server vs redis-server, side by side, with redis-benchmark (Debian's redis-tools).

Runs both servers on loopback, then redis-benchmark against each for SET/GET/LPUSH/HSET/ZADD/SADD at
pipeline depth 1 and 16, 50 clients, repeated; prints the median requests/s and the ratio.
Then one row per data-type family (XADD capped with MAXLEN ~, XRANGE of 10 entries, EVALSHA of a
one-SET script, PFADD, GEOADD, BITFIELD, ZUNIONSTORE, SORT): redis-benchmark's custom-command mode
against keys seeded alike on both servers.

    python benchmarks/store_vs_redis.py [--requests 100000] [--repeat 3] [--tests lpush,hset]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.procs import start_redis, start_xcache_server  # noqa: E402

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


def bench(port: int, pipeline: int, requests: int, clients: int, tests: str = TESTS) -> dict[str, float]:
    out = subprocess.run(
        ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", str(clients), "-n", str(requests),
         "-P", str(pipeline), "-t", tests, "-r", "100000", "--csv"],
        capture_output=True, text=True, check=True, timeout=600).stdout
    rows = csv.reader(io.StringIO(out))
    header = next(rows)
    rps_col = header.index("rps")
    return {row[0].split()[0]: float(row[rps_col]) for row in rows if row}


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
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        redis_proc = start_redis(Path(tmp))
        xcache_proc = start_xcache_server(Path(tmp))
        try:
            print(f"redis-benchmark -c {args.clients} -n {args.requests} -r 100000, median of {args.repeat} runs")
            print(f"{'test':8} {'P':>3} {'redis rps':>12} {'xcache rps':>12} {'ratio':>7}")
            for pipeline in () if args.families_only else (1, 16):
                runs = {"redis": [], "xcache": []}
                for _ in range(args.repeat):  # interleaved, so machine noise hits both alike
                    for kind, proc in (("redis", redis_proc), ("xcache", xcache_proc)):
                        runs[kind].append(bench(proc.port, pipeline, args.requests, args.clients, args.tests))
                for test in runs["redis"][0]:
                    r = statistics.median(run[test] for run in runs["redis"])
                    x = statistics.median(run[test] for run in runs["xcache"])
                    print(f"{test:8} {pipeline:>3} {r:>12.0f} {x:>12.0f} {x / r:>6.2f}x", flush=True)
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
            redis_proc.stop()
            xcache_proc.stop()


if __name__ == "__main__":
    main()
