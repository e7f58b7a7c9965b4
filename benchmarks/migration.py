"""Online slot migration: how fast keys move, and what clients feel meanwhile.

A 2-group cluster (proxy + dashboard) is loaded with --keys string keys of --value-bytes, then
half the slots (0-255 of group 1, 512-767 of group 2) move to a new third group while one
client runs GET/SET (1:1) through the proxy. Printed per run: keys/s and bytes/s moved (the
dashboard's counters over the migration's wall time; keys a client touched first are moved by
the proxy and count in the wall time, not in keys_moved) and the client's p50/p99 latency before
and during the migration.

Then, per kind, one big key: MIGRATE of a hash of --big-members fields between two nodes, timed,
while a second client PINGs the source in a loop: the worst PING is how long the source stopped
serving others (redis-server serializes the key in one go; xcache sends it in chunks).

The peer: the same cluster and the same dashboard/proxy with real redis-server nodes in the
groups (redis-server's own MIGRATE); xcache nodes run xcache's MIGRATE. Medians of --repeat
runs and the xcache/redis ratios are printed.

    python benchmarks/migration.py --keys 50000 --repeat 3
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.dashboard.helpers import DashboardProc, ProxyProc  # noqa: E402
from tests.procs import start_redis, start_xcache_server, wait_until  # noqa: E402


class Client(threading.Thread):
    """GET/SET through the proxy; latencies tagged with the phase they fell in."""

    def __init__(self, port: int, nkeys: int, value: bytes):
        super().__init__(daemon=True)
        self.port, self.nkeys, self.value = port, nkeys, value
        self.phase = "before"
        self.lat: dict[str, list[float]] = {"before": [], "during": []}
        self.errors = 0
        self.done = threading.Event()

    def run(self) -> None:
        rnd = random.Random(1)
        with redis.Redis(port=self.port, protocol=2, socket_timeout=30) as c:
            while not self.done.is_set():
                k = f"key:{rnd.randrange(self.nkeys)}"
                t0 = time.perf_counter()
                try:
                    c.get(k) if rnd.random() < 0.5 else c.set(k, self.value)
                except redis.RedisError:
                    self.errors += 1
                    continue
                dt = time.perf_counter() - t0
                if self.phase in self.lat:
                    self.lat[self.phase].append(dt)


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] * 1000 if values else float("nan")


def one_run(kind: str, nkeys: int, value_bytes: int, before_s: float) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"migration-{kind}-") as d:
        tmp = Path(d)
        procs = []
        try:
            start = start_xcache_server if kind == "xcache" else start_redis
            nodes = [start(tmp / f"n{i}") for i in range(3)]
            procs += nodes
            proxy = ProxyProc(tmp).wait_admin()
            procs.append(proxy)
            dash = DashboardProc(tmp, f"file://{tmp / 'coord'}").wait_healthy()
            procs.append(dash)
            for gid, node in zip((1, 2, 3), nodes, strict=True):
                dash.call("POST", "/api/groups", {"id": gid})
                dash.call("POST", f"/api/groups/{gid}/servers", {"addr": f"127.0.0.1:{node.port}"})
            dash.call("POST", "/api/slots/assign", {"group": 1, "slots": "0-511"})
            dash.call("POST", "/api/slots/assign", {"group": 2, "slots": "512-1023"})
            dash.call("POST", "/api/proxies", {"addr": proxy.addr, "admin_addr": proxy.admin_addr})
            wait_until(lambda: dash.overview()["proxies"][0].get("in_sync"), what="proxy in sync")
            value = b"v" * value_bytes
            with redis.Redis(port=proxy.port, protocol=2, socket_timeout=60) as c:
                for i in range(0, nkeys, 1000):
                    c.mset({f"key:{j}": value for j in range(i, min(nkeys, i + 1000))})
            client = Client(proxy.port, nkeys, value)
            client.start()
            time.sleep(before_s)  # the "before" sample is a fixed window of normal traffic
            client.phase = "during"
            t0 = time.monotonic()
            dash.call("POST", "/api/slots/migrate", {"from": 1, "to": 3, "slots": "0-255"})
            dash.call("POST", "/api/slots/migrate", {"from": 2, "to": 3, "slots": "512-767"})

            def finished():
                m = dash.call("GET", "/api/migration")
                return m if m["slots_pending"] + m["slots_migrating"] == 0 else None
            m = wait_until(finished, timeout=600, what="migration finished", interval=0.1)
            wall = time.monotonic() - t0
            client.phase = "after"
            client.done.set()
            client.join(30)
            return {"keys_s": m["keys_moved"] / wall, "bytes_s": m["bytes_moved"] / wall, "wall_s": wall,
                    "p50_before": pct(client.lat["before"], 0.5), "p99_before": pct(client.lat["before"], 0.99),
                    "p50_during": pct(client.lat["during"], 0.5), "p99_during": pct(client.lat["during"], 0.99),
                    "errors": client.errors}
        finally:
            for p in reversed(procs):
                p.stop()


def big_key_run(kind: str, members: int) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"migration-big-{kind}-") as d:
        tmp = Path(d)
        start = start_xcache_server if kind == "xcache" else start_redis
        src, dst = start(tmp / "src"), start(tmp / "dst")
        try:
            with redis.Redis(port=src.port, protocol=2, socket_timeout=60) as c:
                for i in range(0, members, 10000):
                    c.hset("big", mapping={f"f{j}": f"v{j}" for j in range(i, min(members, i + 10000))})
                worst, pings, done = [0.0], [0], threading.Event()

                def pinger():
                    with redis.Redis(port=src.port, protocol=2, socket_timeout=60) as p:
                        while not done.is_set():
                            t0 = time.perf_counter()
                            p.ping()
                            worst[0] = max(worst[0], time.perf_counter() - t0)
                            pings[0] += 1
                th = threading.Thread(target=pinger)
                th.start()
                wait_until(lambda: pings[0] > 100, what="pinger running")
                t0 = time.perf_counter()
                c.execute_command("MIGRATE", "127.0.0.1", dst.port, "big", 0, 10000, "REPLACE")
                took = time.perf_counter() - t0
                done.set()
                th.join(30)
            with redis.Redis(port=dst.port, protocol=2) as t:
                assert t.hlen("big") == members
            return {"migrate_ms": took * 1000, "worst_ping_ms": worst[0] * 1000}
        finally:
            src.stop()
            dst.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keys", type=int, default=50000)
    ap.add_argument("--value-bytes", type=int, default=100)
    ap.add_argument("--before-s", type=float, default=3.0, help="latency sample before the migration")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--big-members", type=int, default=100000, help="fields of the big hash (0 = skip)")
    args = ap.parse_args()
    runs: dict[str, list[dict]] = {"xcache": [], "redis": []}
    for i in range(args.repeat):
        for kind in ("xcache", "redis"):  # alternate, so machine noise hits both alike
            r = one_run(kind, args.keys, args.value_bytes, args.before_s)
            runs[kind].append(r)
            print(f"run {i + 1} {kind:6}: {r['keys_s']:9.0f} keys/s {r['bytes_s'] / 1e6:7.2f} MB/s "
                  f"wall {r['wall_s']:5.1f}s  p99 before {r['p99_before']:6.2f} ms during {r['p99_during']:6.2f} ms "
                  f"errors {r['errors']}", flush=True)
    med = {k: {f: statistics.median(r[f] for r in v) for f in v[0]} for k, v in runs.items()}
    print(f"\nmedians of {args.repeat} runs, {args.keys} keys of {args.value_bytes} B, half the slots moved")
    print(f"{'':8}{'keys/s':>10}{'MB/s':>8}{'p50 before':>12}{'p50 during':>12}{'p99 before':>12}{'p99 during':>12}")
    for kind, m in med.items():
        print(f"{kind:8}{m['keys_s']:10.0f}{m['bytes_s'] / 1e6:8.2f}{m['p50_before']:12.2f}{m['p50_during']:12.2f}"
              f"{m['p99_before']:12.2f}{m['p99_during']:12.2f}")
    x, r = med["xcache"], med["redis"]
    print(f"\nratio xcache/redis: keys/s {x['keys_s'] / r['keys_s']:.2f}x, "
          f"p99 during {x['p99_during'] / r['p99_during']:.2f}x; "
          f"p99 during/before: xcache {x['p99_during'] / x['p99_before']:.2f}x, redis {r['p99_during'] / r['p99_before']:.2f}x")

    if not args.big_members:
        return
    big = {k: [big_key_run(k, args.big_members) for _ in range(args.repeat)] for k in ("xcache", "redis")}
    print(f"\nbig key: a hash of {args.big_members} fields, medians of {args.repeat}")
    for kind, rs in big.items():
        print(f"{kind:8} MIGRATE {statistics.median(r['migrate_ms'] for r in rs):7.0f} ms   worst PING on the source "
              f"meanwhile {statistics.median(r['worst_ping_ms'] for r in rs):6.1f} ms")


if __name__ == "__main__":
    main()
