"""SET against GET through a proxy with a replica attached: `xcache up` and its peer side by side.

Issue 14 asks that a pipelined SET through the proxy of `xcache up` (a master and a replica per
group) reach at least half of GET's rate: a write costs the master and its replica, a read the
master only. The peer is the same shape in Redis's world: twemproxy (Debian's nutcracker) in
front of a redis-server master with a redis-server replica. Each repeat runs redis-benchmark
(`-c 50 -P 16 -r 100000 -t set,get`) against each cluster in turn; prints the median requests/s
and the SET/GET ratio of each (and of a --baseline checkout's `xcache up`).

    python benchmarks/cluster_set_vs_get.py [--requests 100000] [--repeat 3] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.proxy_vs_twemproxy import bench, free_port, wait_port  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


class Cluster:
    """Processes started in their own sessions, stopped together."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.procs: list[subprocess.Popen] = []

    def start(self, cmd: list[str], log: str, cwd: Path | None = None) -> subprocess.Popen:
        p = subprocess.Popen(cmd, cwd=cwd, stdout=open(self.tmp / log, "wb"), stderr=subprocess.STDOUT,
                             start_new_session=True)
        self.procs.append(p)
        return p

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGINT)  # `xcache up` stops its children on SIGINT
        for p in self.procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


def start_xcache_up(cluster: Cluster, checkout: Path, name: str, base_port: int) -> tuple[int, str]:
    """`xcache up` of checkout (1 group, 1 replica, 1 sentinel) -> (proxy port, its password).
    Its ports are packed from base_port, its nodes' metrics ports 10000 above: both below the
    ephemeral range (32768), where a client socket could hold one."""
    data = cluster.tmp / name
    log = f"{name}.log"
    cluster.start([sys.executable, "-m", "xcache.cli", "up", "--dir", str(data), "--groups", "1",
                   "--replicas", "1", "--sentinels", "1", "--base-port", str(base_port)],
                  log, cwd=checkout)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = re.search(r"proxy ports: (\d+)", (cluster.tmp / log).read_text(errors="replace"))
        if found:
            port = int(found.group(1))
            password = (data / "secrets" / "proxy.password").read_text().strip()
            wait_port(port, password=password)
            return port, password
        time.sleep(0.2)
    raise SystemExit(f"{name}: xcache up did not report its proxy (see {cluster.tmp / log})")


def start_twemproxy_cluster(cluster: Cluster) -> int:
    """redis-server master + replica, twemproxy in front of the master -> twemproxy's port."""
    master, replica, twem = free_port(), free_port(), free_port()
    for port, extra in ((master, []), (replica, ["--replicaof", "127.0.0.1", str(master)])):
        cluster.start(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                       "--appendonly", "no", "--dir", str(cluster.tmp), *extra], f"redis-{port}.log")
        wait_port(port)
    conf = cluster.tmp / "nutcracker.yml"
    conf.write_text(f"alpha:\n  listen: 127.0.0.1:{twem}\n  hash: fnv1a_64\n  distribution: ketama\n"
                    f"  redis: true\n  auto_eject_hosts: false\n  servers:\n   - 127.0.0.1:{master}:1\n")
    cluster.start(["nutcracker", "-c", str(conf), "-s", str(free_port()), "-o", str(cluster.tmp / "nutcracker.log")],
                  "nutcracker.err")
    wait_port(twem)
    return twem


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=100000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--baseline", type=Path, help="also run `xcache up` from this checkout")
    ap.add_argument("--base-port", type=int, default=21000, help="xcache up's ports (the baseline's: +1000)")
    args = ap.parse_args()
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="xcache-setget-")))
    try:
        targets = {"xcache up": start_xcache_up(cluster, ROOT, "xcache", args.base_port)}
        if args.baseline:
            targets["baseline"] = start_xcache_up(cluster, args.baseline.resolve(), "baseline",
                                                  args.base_port + 1000)
        targets["twemproxy"] = (start_twemproxy_cluster(cluster), "")
        results: dict = {}
        for rep in range(args.repeat):
            for name, (port, password) in targets.items():
                got = bench(port, 16, args.requests, 50, True, password=password, data_size=3)
                for test, rps in got.items():
                    results.setdefault((name, test), []).append(rps)
            print(f"repeat {rep + 1}/{args.repeat} done", file=sys.stderr)
        print(f"redis-benchmark -c 50 -P 16 -n {args.requests} -r 100000 -t set,get, a replica attached, "
              f"median of {args.repeat} ({os.cpu_count()} cores)")
        print(f"{'cluster':<10} {'SET rps':>10} {'GET rps':>10} {'SET/GET':>8} {'run-ratio':>9}")
        for name in targets:
            sets, gets = results[(name, "SET")], results[(name, "GET")]
            run_ratio = statistics.median(s / g for s, g in zip(sets, gets, strict=True))
            s, g = statistics.median(sets), statistics.median(gets)
            print(f"{name:<10} {s:>10.0f} {g:>10.0f} {s / g:>7.2f}x {run_ratio:>8.2f}x")
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
