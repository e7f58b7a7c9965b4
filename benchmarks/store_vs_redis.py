"""xcache server vs redis-server, side by side, with redis-benchmark (Debian's redis-tools).

Runs both servers on loopback, then redis-benchmark against each for SET/GET/LPUSH/HSET/ZADD at
pipeline depth 1 and 16, 50 clients, repeated; prints the median requests/s and the ratio. Then
the same for commands given explicitly (CUSTOM: streams and scripting): XADD (capped with
MAXLEN ~), XRANGE of 10 entries, and EVALSHA of a one-SET script.

    python benchmarks/store_vs_redis.py [--requests 100000] [--repeat 3]
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

TESTS = "set,get,lpush,hset,zadd"
BENCH_SCRIPT = "return redis.call('set', KEYS[1], ARGV[1])"
CUSTOM = {
    "xadd": ["XADD", "bench:s", "MAXLEN", "~", "10000", "*", "f", "v"],
    "xrange": ["XRANGE", "bench:s", "-", "+", "COUNT", "10"],
    "evalsha": ["EVALSHA", hashlib.sha1(BENCH_SCRIPT.encode()).hexdigest(), "1", "bench:k", "v"],
}


def bench(port: int, pipeline: int, requests: int, clients: int) -> dict[str, float]:
    out = subprocess.run(
        ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", str(clients), "-n", str(requests),
         "-P", str(pipeline), "-t", TESTS, "-r", "100000", "--csv"],
        capture_output=True, text=True, check=True, timeout=600).stdout
    rows = csv.reader(io.StringIO(out))
    header = next(rows)
    rps_col = header.index("rps")
    return {row[0].split()[0]: float(row[rps_col]) for row in rows if row}


def bench_command(port: int, pipeline: int, requests: int, clients: int, argv: list[str]) -> float:
    out = subprocess.run(
        ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", str(clients), "-n", str(requests),
         "-P", str(pipeline), "--csv", *argv],
        capture_output=True, text=True, check=True, timeout=600).stdout
    rows = [row for row in csv.reader(io.StringIO(out)) if row]
    return float(rows[1][rows[0].index("rps")])


def prepare(port: int) -> None:
    """What the CUSTOM commands need: the script loaded, the stream not empty."""
    subprocess.run(["redis-cli", "-p", str(port), "SCRIPT", "LOAD", BENCH_SCRIPT], check=True,
                   capture_output=True, timeout=60)
    subprocess.run(["redis-cli", "-p", str(port), "XADD", "bench:s", "*", "f", "v"], check=True,
                   capture_output=True, timeout=60)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        redis_proc = start_redis(Path(tmp))
        xcache_proc = start_xcache_server(Path(tmp))
        try:
            print(f"redis-benchmark -c {args.clients} -n {args.requests} -r 100000, median of {args.repeat} runs")
            print(f"{'test':8} {'P':>3} {'redis rps':>12} {'xcache rps':>12} {'ratio':>7}")
            for pipeline in (1, 16):
                runs = {"redis": [], "xcache": []}
                for _ in range(args.repeat):  # interleaved, so machine noise hits both alike
                    runs["redis"].append(bench(redis_proc.port, pipeline, args.requests, args.clients))
                    runs["xcache"].append(bench(xcache_proc.port, pipeline, args.requests, args.clients))
                for test in runs["redis"][0]:
                    r = statistics.median(run[test] for run in runs["redis"])
                    x = statistics.median(run[test] for run in runs["xcache"])
                    print(f"{test:8} {pipeline:>3} {r:>12.0f} {x:>12.0f} {x / r:>6.2f}x", flush=True)
            for proc in (redis_proc, xcache_proc):
                prepare(proc.port)
            for pipeline in (1, 16):
                for test, argv in CUSTOM.items():
                    runs = {"redis": [], "xcache": []}
                    for _ in range(args.repeat):
                        runs["redis"].append(bench_command(redis_proc.port, pipeline, args.requests, args.clients, argv))
                        runs["xcache"].append(bench_command(xcache_proc.port, pipeline, args.requests, args.clients, argv))
                    r = statistics.median(runs["redis"])
                    x = statistics.median(runs["xcache"])
                    print(f"{test:8} {pipeline:>3} {r:>12.0f} {x:>12.0f} {x / r:>6.2f}x", flush=True)
        finally:
            redis_proc.stop()
            xcache_proc.stop()


if __name__ == "__main__":
    main()
