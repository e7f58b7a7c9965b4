"""Data beyond RAM: a storage node with a memory budget, loaded with several times that much
data; its RSS sampled while loading, then GET latency (P=1) on hot and cold keys, and the same
against redis-server on a dataset redis-server can hold.

    python benchmarks/beyond_ram.py [--data-mb 2048] [--budget-mb 128] [--redis-data-mb 256]
        [--gets 20000] [--cgroup-mb 0]

Phase 1: one node (max_memory_bytes = --budget-mb) gets --data-mb of values of 100 B - 1 KiB
(random bytes, incompressible) in pipelined SETs; RSS is printed as the data grows, then GET
latency on a hot working set (1000 keys) and on keys drawn uniformly from the whole dataset.
--cgroup-mb N also puts the node (and each variant node) in a memory cgroup of N MB (root; cgroup v1 or v2), which bounds
the page cache too, so that cold reads go to the disk rather than to the OS's cache.
Phase 2: a second node with the same budget and redis-server each get --redis-data-mb of the
same kind of data; hot and cold GET latency measured in interleaved rounds; ratios printed
(redis / xcache latency, so 1.00x = as fast as redis-server, like the other benchmarks).
--variant NAME="key=value;key=value" (repeatable) adds a phase comparing nodes with other RocksDB
keys against the defaults on --variant-data-mb each (how the read-side defaults were chosen).
Data dirs live in a temporary directory, removed at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.procs import start_redis, start_xcache_server  # noqa: E402

MiB = 1024 * 1024
HOT_KEYS = 1000
BATCH = 500  # SETs per pipelined write while loading


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class Conn:
    """A bare RESP connection: the client adds as little as possible to the measured latency."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_simple(self, n: int) -> None:
        """Read n one-line replies (+OK); an error reply stops the benchmark."""
        while self.buf.count(b"\r\n") < n:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk
        lines = self.buf.split(b"\r\n", n)
        bad = [x for x in lines[:n] if not x.startswith(b"+")]
        if bad:
            raise RuntimeError(f"error reply while loading: {bad[0]!r}")
        self.buf = lines[n] if len(lines) > n else b""

    def get(self, key: bytes) -> bytes | None:
        self.sock.sendall(b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(key), key))
        while True:
            head, sep, rest = self.buf.partition(b"\r\n")
            if sep:
                if head == b"$-1":
                    self.buf = rest
                    return None
                size = int(head[1:])
                if len(rest) >= size + 2:
                    self.buf = rest[size + 2:]
                    return rest[:size]
            self.buf += self.sock.recv(1 << 20)

    def close(self) -> None:
        self.sock.close()


def key_of(i: int) -> bytes:
    return b"key:%010d" % i


def load(port: int, data_bytes: int, seed: int, on_progress=None) -> int:
    """SET keys 0.. with values of 100..1024 random bytes until data_bytes; -> number of keys."""
    rng = random.Random(seed)
    pool = os.urandom(4 * MiB)
    conn = Conn(port)
    n = total = 0
    while total < data_bytes:
        parts = []
        for _ in range(BATCH):
            size = rng.randint(100, 1024)
            off = rng.randrange(0, len(pool) - size)
            k, v = key_of(n), pool[off:off + size]
            parts.append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, size, v))
            n += 1
            total += size
        conn.send(b"".join(parts))
        conn.read_simple(BATCH)
        if on_progress:
            on_progress(n, total)
    conn.close()
    return n


def latencies(conn: Conn, keys: list[bytes]) -> list[float]:
    out = []
    for k in keys:
        t0 = time.perf_counter_ns()
        if conn.get(k) is None:
            raise RuntimeError(f"{k!r} missing")
        out.append((time.perf_counter_ns() - t0) / 1000)
    return out


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p / 100))]


def sample_keys(rng: random.Random, nkeys: int, gets: int) -> tuple[list[bytes], list[bytes]]:
    hot_ids = rng.sample(range(nkeys), min(HOT_KEYS, nkeys))
    hot = [key_of(rng.choice(hot_ids)) for _ in range(gets)]
    cold = [key_of(rng.randrange(nkeys)) for _ in range(gets)]
    return hot, cold


class Cgroup:
    """A memory cgroup of its own for the node (v2 if mounted, else v1); removed by close()."""

    def __init__(self, limit_bytes: int, suffix: str = ""):
        v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
        base = "/sys/fs/cgroup" if v2 else "/sys/fs/cgroup/memory"
        self.path = f"{base}/xcache-beyond-ram-{os.getpid()}{'-' + suffix if suffix else ''}"
        os.mkdir(self.path)
        limit_file = "memory.max" if v2 else "memory.limit_in_bytes"
        Path(self.path, limit_file).write_text(str(limit_bytes))

    def add(self, pid: int) -> None:
        Path(self.path, "cgroup.procs").write_text(str(pid))

    def close(self) -> None:
        for _ in range(50):  # the node's exit is seen by the cgroup a moment later
            try:
                os.rmdir(self.path)
                return
            except OSError:
                time.sleep(0.1)


def phase1(tmp: Path, args) -> None:
    budget = args.budget_mb * MiB
    node = start_xcache_server(tmp, "--set", f"max_memory_bytes={budget}",
                               *(a for kv in args.set for a in ("--set", kv)))
    cgroup = None
    try:
        if args.cgroup_mb:
            cgroup = Cgroup(args.cgroup_mb * MiB)
            cgroup.add(node.pid)
        idle = rss_bytes(node.pid)
        print(f"phase 1: node budget {args.budget_mb} MB"
              + (f", in a {args.cgroup_mb} MB cgroup" if cgroup else "")
              + f"; idle RSS {idle / MiB:.0f} MB; loading {args.data_mb} MB of 100 B-1 KiB values")
        print(f"{'data MB':>8} {'keys':>9} {'RSS MB':>7} {'max RSS MB':>10} {'elapsed s':>9}")
        samples: list[int] = []
        stop = threading.Event()

        def sampler():
            while not stop.is_set():
                samples.append(rss_bytes(node.pid))
                stop.wait(0.25)

        thread = threading.Thread(target=sampler, daemon=True)
        thread.start()
        step = max(1, args.data_mb // 10) * MiB
        marks = {"next": step}
        t0 = time.monotonic()

        def progress(n, total):
            if total >= marks["next"]:
                marks["next"] += step
                print(f"{total / MiB:>8.0f} {n:>9} {rss_bytes(node.pid) / MiB:>7.0f} "
                      f"{max(samples or [0]) / MiB:>10.0f} {time.monotonic() - t0:>9.1f}", flush=True)

        nkeys = load(node.port, args.data_mb * MiB, seed=1, on_progress=progress)
        elapsed = time.monotonic() - t0
        stop.set()
        thread.join()
        rng = random.Random(2)
        hot, cold = sample_keys(rng, nkeys, args.gets)
        conn = Conn(node.port)
        latencies(conn, hot[: args.gets // 10])  # warm the hot set
        lat_hot = latencies(conn, hot)
        lat_cold = latencies(conn, cold)
        info = info_memory(conn)
        conn.close()
        peak = max(samples)
        print(f"loaded {nkeys} keys in {elapsed:.0f} s ({nkeys / elapsed:.0f} SET/s); RSS samples "
              f"{len(samples)}: median {statistics.median(samples) / MiB:.0f} MB, "
              f"max {peak / MiB:.0f} MB = budget + {(peak - budget) / MiB:.0f} MB "
              f"(idle {idle / MiB:.0f} MB); after reads {rss_bytes(node.pid) / MiB:.0f} MB")
        print(f"sst {info.get('rocksdb_sst_bytes', 0) / MiB:.0f} MB, block cache "
              f"{info.get('rocksdb_block_cache_usage', 0) / MiB:.0f}/"
              f"{info.get('rocksdb_block_cache_capacity', 0) / MiB:.0f} MB"
              + (f", hit rate {info['rocksdb_block_cache_hit_rate']}"
                 if "rocksdb_block_cache_hit_rate" in info else ""))
        for name, lat in (("hot", lat_hot), ("cold", lat_cold)):
            print(f"GET P=1 {name:4} ({len(lat)}): p50 {pct(lat, 50):.0f} us  p99 {pct(lat, 99):.0f} us")
    finally:
        node.stop()
        if cgroup:
            cgroup.close()


def info_memory(conn: Conn) -> dict:
    conn.send(b"*2\r\n$4\r\nINFO\r\n$6\r\nmemory\r\n")
    while b"\r\n" not in conn.buf:
        conn.buf += conn.sock.recv(1 << 20)
    head, _, rest = conn.buf.partition(b"\r\n")
    size = int(head[1:])
    while len(rest) < size + 2:
        rest += conn.sock.recv(1 << 20)
    conn.buf = rest[size + 2:]
    out = {}
    for line in rest[:size].decode().splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out[k] = int(v) if v.isdigit() else v
    return out


def phase2(tmp: Path, args) -> None:
    budget = args.budget_mb * MiB
    redis_proc = start_redis(tmp)
    node = start_xcache_server(tmp, "--set", f"max_memory_bytes={budget}",
                               *(a for kv in args.set for a in ("--set", kv)))
    try:
        print(f"\nphase 2: {args.redis_data_mb} MB into redis-server and into a node with "
              f"budget {args.budget_mb} MB; GET P=1, {args.gets} per kind, interleaved rounds")
        nkeys = load(redis_proc.port, args.redis_data_mb * MiB, seed=3)
        load(node.port, args.redis_data_mb * MiB, seed=3)
        print(f"RSS after load: redis-server {rss_bytes(redis_proc.pid) / MiB:.0f} MB, "
              f"node {rss_bytes(node.pid) / MiB:.0f} MB")
        rng = random.Random(4)
        hot, cold = sample_keys(rng, nkeys, args.gets)
        lat: dict[tuple[str, str], list[float]] = {}
        conns = {"redis": Conn(redis_proc.port), "xcache": Conn(node.port)}
        for c in conns.values():
            latencies(c, hot[: args.gets // 10])
        rounds = 5
        for i in range(rounds):  # alternate servers so that machine noise hits both alike
            part = slice(i * args.gets // rounds, (i + 1) * args.gets // rounds)
            for kind, keys in (("hot", hot), ("cold", cold)):
                for name, c in conns.items():
                    lat.setdefault((name, kind), []).extend(latencies(c, keys[part]))
        for c in conns.values():
            c.close()
        print(f"{'keys':5} {'redis p50':>9} {'xcache p50':>10} {'ratio':>6} "
              f"{'redis p99':>9} {'xcache p99':>10} {'ratio':>6}   (us; ratio = redis/xcache)")
        for kind in ("hot", "cold"):
            r, x = lat[("redis", kind)], lat[("xcache", kind)]
            print(f"{kind:5} {pct(r, 50):>9.0f} {pct(x, 50):>10.0f} {pct(r, 50) / pct(x, 50):>5.2f}x "
                  f"{pct(r, 99):>9.0f} {pct(x, 99):>10.0f} {pct(r, 99) / pct(x, 99):>5.2f}x")
    finally:
        redis_proc.stop()
        node.stop()


def phase_variants(tmp: Path, args) -> None:
    """Nodes differing in RocksDB keys, same budget and data; interleaved GET rounds."""
    budget = args.budget_mb * MiB
    variants = {"default": ""}
    for v in args.variant:
        name, _, sets = v.partition("=")
        variants[name] = sets
    nodes = {}
    cgroups = []
    try:
        for name, sets in variants.items():
            extra = [a for kv in sets.split(";") if kv for a in ("--set", kv)]
            nodes[name] = start_xcache_server(tmp, "--set", f"max_memory_bytes={budget}", *extra)
            if args.cgroup_mb:  # one cgroup each: no node's page cache serves another's reads
                cgroups.append(Cgroup(args.cgroup_mb * MiB, suffix=name))
                cgroups[-1].add(nodes[name].pid)
        print(f"\nvariants: {args.variant_data_mb} MB into each node (budget {args.budget_mb} MB"
              + (f", each in a {args.cgroup_mb} MB cgroup" if cgroups else "") + "); "
              f"GET P=1, {args.gets} per kind, interleaved rounds")
        nkeys = 0
        for node in nodes.values():
            nkeys = load(node.port, args.variant_data_mb * MiB, seed=5)
        hot, cold = sample_keys(random.Random(6), nkeys, args.gets)
        conns = {name: Conn(node.port) for name, node in nodes.items()}
        for c in conns.values():
            latencies(c, hot[: args.gets // 10])
        lat: dict[tuple[str, str], list[float]] = {}
        rounds = 5
        order = list(conns.items())
        for i in range(rounds):
            part = slice(i * args.gets // rounds, (i + 1) * args.gets // rounds)
            for kind, keys in (("hot", hot), ("cold", cold)):
                for name, c in order[i % len(order):] + order[:i % len(order)]:
                    lat.setdefault((name, kind), []).extend(latencies(c, keys[part]))
        rss = {name: rss_bytes(node.pid) for name, node in nodes.items()}
        for c in conns.values():
            c.close()
        print(f"{'variant':16} {'kind':5} {'p50 us':>7} {'p99 us':>7} {'p50 vs default':>15} {'RSS MB':>7}")
        for kind in ("hot", "cold"):
            base = pct(lat[("default", kind)], 50)
            for name in variants:
                x = lat[(name, kind)]
                print(f"{name:16} {kind:5} {pct(x, 50):>7.0f} {pct(x, 99):>7.0f} "
                      f"{base / pct(x, 50):>14.2f}x {rss[name] / MiB:>7.0f}")
    finally:
        for node in nodes.values():
            node.stop()
        for cgroup in cgroups:
            cgroup.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-mb", type=int, default=2048, help="phase 1 dataset (values only)")
    ap.add_argument("--budget-mb", type=int, default=128, help="the node's max_memory_bytes")
    ap.add_argument("--redis-data-mb", type=int, default=256, help="phase 2 dataset; 0 = skip")
    ap.add_argument("--gets", type=int, default=20000, help="GETs per kind (hot, cold)")
    ap.add_argument("--cgroup-mb", type=int, default=0, help="phase 1 node in a memory cgroup")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="extra node config (repeatable), e.g. rocksdb_statistics=true")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=K=V;K=V",
                    help="also compare nodes with these keys against the defaults (repeatable)")
    ap.add_argument("--variant-data-mb", type=int, default=1024, help="data per variant node")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="xcache-beyond-ram-") as tmp:
        if args.data_mb:
            phase1(Path(tmp), args)
        if args.redis_data_mb:
            phase2(Path(tmp), args)
        if args.variant:
            phase_variants(Path(tmp), args)


if __name__ == "__main__":
    main()
