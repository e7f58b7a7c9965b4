"""Failover time: from `kill -9` of the master to a new master accepting writes.

xcache sentinel vs real Redis Sentinel (`redis-server --sentinel`), same settings, same kind of
nodes (a real redis-server master + 2 replicas), 3 sentinels each, quorum 2, on loopback.
Two times per run:
  promoted  - first moment a former replica accepts a SET (REPLICAOF NO ONE done)
  announced - first moment SENTINEL GET-MASTER-ADDR-BY-NAME on a sentinel names a new master
              and that master accepts a SET (what a Sentinel-aware client sees)
Runs alternate between the two implementations; medians and the ratio are printed.

    python benchmarks/failover_time.py --repeat 5 --down-after-ms 1000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.procs import Proc, free_port, start_redis  # noqa: E402

GROUP = "bench"


def wait_until(cond, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = cond()
            if value:
                return value
        except (redis.RedisError, OSError):
            pass
        time.sleep(0.01)
    raise TimeoutError(what)


def quick(port: int) -> redis.Redis:
    return redis.Redis(port=port, socket_timeout=0.3, socket_connect_timeout=0.3, protocol=2,
                       decode_responses=True)


def start_sentinels(kind: str, tmp: Path, master_port: int, down_after: int,
                    failover_timeout: int) -> list[Proc]:
    procs = []
    for i in range(3):
        port = free_port()
        log = str(tmp / f"{kind}-sentinel-{i}.log")
        if kind == "xcache":
            args = [sys.executable, "-m", "xcache.cli", "sentinel", "--port", str(port),
                    "--monitor", f"{GROUP} 127.0.0.1 {master_port} 2",
                    "--set", f"down_after_ms={down_after}",
                    "--set", f"failover_timeout_ms={failover_timeout}", "--set", "parallel_syncs=1"]
        else:
            conf = tmp / f"sentinel-{i}.conf"
            conf.write_text(f"port {port}\nbind 127.0.0.1\ndaemonize no\ndir {tmp}\n"
                            f"sentinel monitor {GROUP} 127.0.0.1 {master_port} 2\n"
                            f"sentinel down-after-milliseconds {GROUP} {down_after}\n"
                            f"sentinel failover-timeout {GROUP} {failover_timeout}\n"
                            f"sentinel parallel-syncs {GROUP} 1\n")
            args = ["redis-server", str(conf), "--sentinel"]
        procs.append(Proc(args, port, stderr_path=log).wait_ready())
    return procs


def one_run(kind: str, down_after: int, failover_timeout: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix=f"failover-{kind}-") as d:
        tmp = Path(d)
        master = start_redis(tmp)
        replicas = [start_redis(tmp, "--replicaof", "127.0.0.1", str(master.port)) for _ in range(2)]
        sentinels: list[Proc] = []
        try:
            wait_until(lambda: all(quick(r.port).execute_command("ROLE")[3] == "connected"
                                   for r in replicas), 20, "replicas in sync")
            sentinels = start_sentinels(kind, tmp, master.port, down_after, failover_timeout)

            def ready() -> bool:
                for s in sentinels:
                    m = quick(s.port).sentinel_master(GROUP)
                    if m["num-slaves"] < 2 or m["num-other-sentinels"] < 2:
                        return False
                return True

            wait_until(ready, 60, "sentinels ready")
            time.sleep(1.0)  # let every sentinel refresh INFO of the replicas once more
            with quick(master.port) as c:
                c.set("before", "1")
                c.execute_command("WAIT", 2, 2000)
            master.kill9()
            t0 = time.monotonic()
            promoted = announced = None
            deadline = t0 + 120
            while (promoted is None or announced is None) and time.monotonic() < deadline:
                now = time.monotonic() - t0
                if promoted is None:
                    for r in replicas:
                        try:
                            if quick(r.port).set("probe", "1"):
                                promoted = now
                        except redis.RedisError:
                            pass
                if announced is None:
                    try:
                        host, port = quick(sentinels[0].port).sentinel_get_master_addr_by_name(GROUP)
                        if int(port) != master.port and quick(int(port)).set("probe2", "1"):
                            announced = time.monotonic() - t0
                    except (redis.RedisError, TypeError):
                        pass
                time.sleep(0.01)
            if promoted is None or announced is None:
                raise TimeoutError(f"{kind}: no failover within 120 s")
            return promoted, announced
        finally:
            for p in sentinels + replicas + [master]:
                p.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--down-after-ms", type=int, default=1000)
    ap.add_argument("--failover-timeout-ms", type=int, default=10000)
    args = ap.parse_args()
    results: dict[str, list[tuple[float, float]]] = {"xcache": [], "redis": []}
    for i in range(args.repeat):
        for kind in ("xcache", "redis"):
            p, a = one_run(kind, args.down_after_ms, args.failover_timeout_ms)
            results[kind].append((p, a))
            print(f"run {i + 1}/{args.repeat} {kind:6s} promoted={p:.3f}s announced={a:.3f}s", flush=True)
    print(f"\nsettings: down-after-milliseconds={args.down_after_ms} "
          f"failover-timeout={args.failover_timeout_ms} parallel-syncs=1, 3 sentinels, quorum 2, "
          f"redis-server master + 2 replicas, repeat={args.repeat}")
    med = {k: (statistics.median(p for p, _ in v), statistics.median(a for _, a in v))
           for k, v in results.items()}
    print(f"{'':8s}{'promoted (median)':>20s}{'announced (median)':>22s}")
    for kind in ("xcache", "redis"):
        print(f"{kind:8s}{med[kind][0]:>19.3f}s{med[kind][1]:>21.3f}s")
    print(f"{'ratio':8s}{med['xcache'][0] / med['redis'][0]:>19.2f}x"
          f"{med['xcache'][1] / med['redis'][1]:>21.2f}x   (xcache / redis; < 1 = xcache faster)")


if __name__ == "__main__":
    main()
