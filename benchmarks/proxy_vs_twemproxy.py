"""redis-benchmark GET/SET: direct redis-server vs twemproxy (nutcracker) vs xcache proxy.

One run starts one redis-server, one nutcracker and one `xcache proxy` in front of it, then runs
redis-benchmark (50 clients, P=1 and P=16) against each, repeated (default 3x); prints the median
requests/s, the ratio xcache/twemproxy, and each proxy's CPU time per request (from
/proc/<pid>/stat, all processes of the proxy).

With --reconnect every request opens a new connection (`redis-benchmark -k 0`): connect, one
GET or SET, close - the per-session cost a reconnect storm multiplies (the incident's), where the
CPU per request is the CPU per session.

    python benchmarks/proxy_vs_twemproxy.py [--requests 200000] [--repeats 3] [--workers 1] [--reconnect]
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 20, password: str = "") -> None:
    deadline = time.monotonic() + timeout
    auth = b"AUTH %s\r\n" % password.encode() if password else b""
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.5) as s:
                s.sendall(auth + b"*1\r\n$4\r\nPING\r\n")
                if s.recv(100).endswith(b"+PONG\r\n"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"nothing answers PING on port {port}")


def cpu_seconds(pids: list[int], field: int | None = None) -> float:
    """utime + stime of pids (field 0: utime only, 1: stime only)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        times = (int(fields[11]), int(fields[12]))  # utime, stime
        total += sum(times) if field is None else times[field]
    return total / TICK


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def bench(port: int, pipeline: int, requests: int, clients: int, keepalive: bool,
          password: str = "", data_size: int = 32) -> dict[str, float]:
    auth = ["-a", password] if password else []
    out = subprocess.run(["redis-benchmark", "-p", str(port), *auth, "-c", str(clients), "-n", str(requests),
                          "-P", str(pipeline), "-t", "get,set", "-r", "100000", "-d", str(data_size), "--csv",
                          "-q", "-k", "1" if keepalive else "0"],
                         capture_output=True, text=True, check=True).stdout
    rows = {}
    for row in csv.reader(io.StringIO(out)):
        if len(row) >= 2 and row[0] in ("GET", "SET"):
            rows[row[0]] = float(row[1])
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=200000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--clients", type=int, default=50)
    # twemproxy is one process; on a 2-core box the benchmark client and redis-server need the
    # other core, so the like-for-like default is one xcache worker. Try --workers 2 too.
    ap.add_argument("--workers", type=int, default=1, help="xcache proxy workers (0 = the proxy's default)")
    ap.add_argument("--reconnect", action="store_true",
                    help="a new connection per request (redis-benchmark -k 0), P=1 only: the cost of a session")
    args = ap.parse_args()
    pipelines = (1,) if args.reconnect else (1, 16)

    tmp = Path(tempfile.mkdtemp(prefix="xcache-bench-"))
    procs: list[subprocess.Popen] = []

    def start(cmd: list[str], log: str) -> subprocess.Popen:
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(tmp / log, "wb"), start_new_session=True)
        procs.append(p)
        return p

    try:
        rport, tport, xport = free_port(), free_port(), free_port()
        start(["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
              "redis.log")
        wait_port(rport)
        conf = tmp / "nutcracker.yml"
        conf.write_text(f"alpha:\n  listen: 127.0.0.1:{tport}\n  hash: fnv1a_64\n  distribution: ketama\n"
                        f"  redis: true\n  auto_eject_hosts: false\n  servers:\n   - 127.0.0.1:{rport}:1\n")
        twem = start(["nutcracker", "-c", str(conf), "-s", str(free_port()), "-o", str(tmp / "nutcracker.log")],
                     "nutcracker.err")
        wait_port(tport)
        xargs = [sys.executable, "-m", "xcache.cli", "proxy", "--port", str(xport), "--admin-port",
                 str(free_port()), "--backend", f"127.0.0.1:{rport}"]
        if args.workers:
            xargs += ["--workers", str(args.workers)]
        xc = start(xargs, "xcache.log")
        wait_port(xport)
        time.sleep(0.5)
        targets = {"direct": (rport, []), "twemproxy": (tport, [twem.pid]),
                   "xcache": (xport, [xc.pid, *children(xc.pid)])}
        results: dict = {}
        cpu: dict = {}
        for rep in range(args.repeats):
            for p in pipelines:
                for name, (port, pids) in targets.items():
                    c0, s0 = cpu_seconds(pids), cpu_seconds(pids, 1)
                    r = bench(port, p, args.requests, args.clients, not args.reconnect)
                    c1, s1 = cpu_seconds(pids), cpu_seconds(pids, 1)
                    for test, rps in r.items():
                        results.setdefault((name, p, test), []).append(rps)
                    if pids:
                        cpu.setdefault((name, p), []).append((c1 - c0) * 1e6 / (args.requests * len(r)))
                        cpu.setdefault((name, p, "sys"), []).append((s1 - s0) * 1e6 / (args.requests * len(r)))
            print(f"repeat {rep + 1}/{args.repeats} done", file=sys.stderr)
        print(f"redis-benchmark -c {args.clients} -n {args.requests} -d 32"
              f"{' -k 0 (a new connection per request)' if args.reconnect else ''}, median of {args.repeats} runs "
              f"({os.cpu_count()} cores, xcache workers={args.workers or 'default'})")
        # x/twem: ratio of the medians; run-ratio: median of the per-run ratios (both measured
        # back to back, so less sensitive to load drifting between runs on a shared machine).
        print(f"{'P':>3} {'test':<4} {'direct':>10} {'twemproxy':>10} {'xcache':>10} {'x/twem':>7} "
              f"{'run-ratio':>9} {'twem us/req':>12} {'xcache us/req':>14}")
        for p in pipelines:
            for test in ("GET", "SET"):
                d, t, x = (statistics.median(results[(n, p, test)]) for n in ("direct", "twemproxy", "xcache"))
                rr = statistics.median(a / b for a, b in zip(results[("xcache", p, test)],
                                                             results[("twemproxy", p, test)], strict=True))
                tc = statistics.median(cpu[("twemproxy", p)])
                xcpu = statistics.median(cpu[("xcache", p)])
                print(f"{p:>3} {test:<4} {d:>10.0f} {t:>10.0f} {x:>10.0f} {x / t:>7.2f} {rr:>9.2f} "
                      f"{tc:>12.2f} {xcpu:>14.2f}")
        # The kernel's share (sockets, TCP) is the same work for any proxy; the rest is the proxy's own.
        ts, xs = (statistics.median(cpu[(n, pipelines[0], "sys")]) for n in ("twemproxy", "xcache"))
        print(f"    of which in the kernel (stime, P={pipelines[0]}): twemproxy {ts:.2f} us/req, xcache {xs:.2f} us/req")
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


if __name__ == "__main__":
    main()
