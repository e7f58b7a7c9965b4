"""The most a Python server on the node's own stack can reach against redis-server.

Issue 14 asks a node for ratios to redis-server (P=1 SET/GET >= 0.9x, P=16 >= 0.4x, collections
>= 0.7x / 0.25x). This benchmark asks what any server written in Python on the same stack reaches:
a RESP server of about forty lines (`serve` below) on uvloop with hiredis's parser, keeping its
data in Python dicts, with no persistence, no replication, no accounting, no gates and one reply
write per read event. Whatever a node does beyond that costs CPU, so this server's CPU per
request is a floor for any node in Python on this stack: where it fills a goal's budget, no such
node meets the goal.

It runs, interleaved in one run with 50 clients and redis-benchmark's random keys:
redis-server, that server, and (unless --no-node) an xcache node; and prints, medians of --repeat,
each one's ratio to redis-server's requests/s and its CPU time per request, next to the budget a
goal sets: the CPU a one-thread server may spend per request to serve goal x redis-server's
requests/s. At P=1 the ratios say little (redis-benchmark's own core is the limit, for
redis-server too); the CPU times say how far each server is from its limit.

    python benchmarks/python_floor.py [--requests 200000] [--repeat 3] [--tests set,get,lpush,hset,zadd]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.store_vs_redis import bench  # noqa: E402
from tests.procs import Proc, free_port, start_redis, start_xcache_server  # noqa: E402

GOALS = {("set", 1): 0.9, ("get", 1): 0.9, ("set", 16): 0.4, ("get", 16): 0.4}
COLLECTION_GOALS = {1: 0.7, 16: 0.25}


def serve(port: int) -> None:
    """The least server: parse with hiredis, a dict lookup per command, one write per read event."""
    import asyncio

    import hiredis
    import uvloop

    strings: dict[bytes, bytes] = {}
    lists: dict[bytes, list] = {}
    hashes: dict[bytes, dict] = {}
    zsets: dict[bytes, dict] = {}

    def run(cmd: list) -> bytes:
        name = cmd[0].upper()
        if name == b"SET":
            strings[cmd[1]] = cmd[2]
            return b"+OK\r\n"
        if name == b"GET":
            v = strings.get(cmd[1])
            return b"$-1\r\n" if v is None else b"$%d\r\n%b\r\n" % (len(v), v)
        if name == b"LPUSH":
            lst = lists.setdefault(cmd[1], [])
            lst.extend(cmd[2:])  # appended: the floor needs the cost of a push, not its order
            return b":%d\r\n" % len(lst)
        if name == b"HSET":
            h = hashes.setdefault(cmd[1], {})
            before = len(h)
            h.update(zip(cmd[2::2], cmd[3::2], strict=False))
            return b":%d\r\n" % (len(h) - before)
        if name == b"ZADD":
            z = zsets.setdefault(cmd[1], {})
            before = len(z)
            z.update(zip(cmd[3::2], map(float, cmd[2::2]), strict=False))
            return b":%d\r\n" % (len(z) - before)
        if name == b"PING":
            return b"+PONG\r\n"
        return b"-ERR unknown command\r\n"

    class Conn(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport
            self.reader = hiredis.Reader()

        def data_received(self, data):
            self.reader.feed(data)
            out = []
            while (cmd := self.reader.gets()) is not False:
                out.append(run(cmd))
            self.transport.write(b"".join(out))

    async def main():
        server = await asyncio.get_running_loop().create_server(Conn, "127.0.0.1", port, backlog=1024)
        await server.serve_forever()

    uvloop.run(main())


def start_floor(port: int | None = None) -> Proc:
    port = port or free_port()
    return Proc([sys.executable, __file__, "--serve", str(port)], port).wait_ready()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--requests", type=int, default=200_000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tests", default="set,get,lpush,hset,zadd")
    ap.add_argument("--no-node", action="store_true", help="leave the xcache node out")
    args = ap.parse_args()
    if args.serve:
        serve(args.serve)
        return
    kinds = ["redis", "python"] + ([] if args.no_node else ["node"])
    runs: dict[tuple[str, str, int], list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        procs = {"redis": start_redis(Path(tmp)), "python": start_floor()}
        if not args.no_node:
            procs["node"] = start_xcache_server(Path(tmp))
        try:
            for _ in range(args.repeat):  # interleaved, so machine noise hits all alike
                for test in args.tests.split(","):
                    for pipeline in (1, 16):
                        for kind in kinds:
                            _, rate, cpu_us = bench(procs[kind], pipeline, args.requests, args.clients, test)
                            runs.setdefault((kind, test, pipeline), []).append((rate, cpu_us))
        finally:
            for proc in procs.values():
                proc.stop()
    print(f"{args.clients} clients, -r 100000, medians of {args.repeat}. rps: requests/s, ratio: to"
          " redis-server; cpu: the server's CPU µs per request (user + system); budget: the most CPU"
          " per request a one-thread server may spend to serve goal x redis-server's rps")
    head = f"{'test':6} {'P':>2} {'redis rps':>10} {'goal':>5} {'budget':>7} | {'python':>6} {'cpu':>6}"
    print(head + ("" if args.no_node else f" | {'node':>6} {'cpu':>6}"))
    for test in args.tests.split(","):
        for pipeline in (1, 16):
            rate = {k: statistics.median(r for r, _ in runs[(k, test, pipeline)]) for k in kinds}
            cpu = {k: statistics.median(c for _, c in runs[(k, test, pipeline)]) for k in kinds}
            goal = GOALS.get((test, pipeline), COLLECTION_GOALS[pipeline])
            budget = 1e6 / (goal * rate["redis"])
            line = (f"{test:6} {pipeline:>2} {rate['redis']:>10,.0f} {goal:>4.2f}x {budget:>7.2f} |"
                    f" {rate['python'] / rate['redis']:>5.2f}x {cpu['python']:>6.2f}")
            if not args.no_node:
                line += f" | {rate['node'] / rate['redis']:>5.2f}x {cpu['node']:>6.2f}"
            print(line)


if __name__ == "__main__":
    main()
