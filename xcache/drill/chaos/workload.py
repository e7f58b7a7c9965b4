"""The chaos workload: unique-value writes and reads through the proxies, every outcome recorded.

Each client thread owns one connection (redis-py's `Connection`: no retries, so a write is sent
exactly once) to one proxy, round-robin over the proxies. It loops at `rate` ops/s over:

    SET   ck:<run>:<client>:<n>  v<client>-<n>     a fresh key
    INCR  cc:<i>                                   one of `counters` shared counters
    RPUSH cl:<i>  e<client>-<n>                    a unique element on one of `lists` lists
    GET   a key this client SET before

Outcome: the reply -> ok; an error reply known to be refused before it ran (NOREPLICAS,
READONLY, OOM, MISCONF, a refused connection) -> fail; a timeout, a reset or any other error
-> info (in doubt). The threads must be started inside the client host's namespace (the
harness runs `run()` on a thread pool that entered it).
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass

import redis

from xcache.drill.chaos.checker import FAIL, INFO, OK, Final, Op

REFUSED = ("NOREPLICAS", "READONLY", "OOM", "MISCONF", "NOAUTH", "WRONGPASS")


@dataclass
class WorkloadOptions:
    proxies: list[tuple[str, int]]
    clients: int = 4
    rate: float = 50.0  # ops/s per client
    counters: int = 4
    lists: int = 4
    timeout_s: float = 2.0
    run_id: str = "r"
    seed: int = 1


def classify(exc: BaseException) -> str:
    if isinstance(exc, redis.ConnectionError) and "refused" in str(exc).lower():
        return FAIL
    if isinstance(exc, redis.ResponseError):
        return FAIL if str(exc).split(" ", 1)[0] in REFUSED else INFO
    return INFO


class Client(threading.Thread):
    def __init__(self, n: int, opts: WorkloadOptions, stop: threading.Event):
        super().__init__(name=f"chaos-client-{n}", daemon=True)
        self.n, self.opts, self.stop = n, opts, stop
        self.ops: list[Op] = []
        self.rng = random.Random(opts.seed * 1000 + n)
        self.conn: redis.Connection | None = None
        self.seq = 0
        self.my_keys: list[str] = []

    def _connect(self) -> redis.Connection:
        if self.conn is None:
            host, port = self.opts.proxies[self.n % len(self.opts.proxies)]
            self.conn = redis.Connection(host=host, port=port, socket_timeout=self.opts.timeout_s,
                                         socket_connect_timeout=self.opts.timeout_s, decode_responses=True,
                                         protocol=2)
        return self.conn

    def call(self, op: Op, *args: str) -> object:
        op.t0 = time.monotonic()
        try:
            conn = self._connect()
            conn.send_command(*args)
            reply = conn.read_response()
            op.outcome = OK
            return reply
        except (redis.RedisError, OSError) as exc:
            op.outcome, op.error = classify(exc), f"{type(exc).__name__}: {exc}"[:200]
            if not isinstance(exc, redis.ResponseError) and self.conn is not None:
                self.conn.disconnect()
                self.conn = None
            return None
        finally:
            op.t1 = time.monotonic()
            self.ops.append(op)

    def step(self) -> None:
        o, r = self.opts, self.rng
        self.seq += 1
        tag = f"{self.n}-{self.seq}"
        pick = r.random()
        if pick < 0.35:
            key = f"ck:{o.run_id}:{tag}"
            self.call(Op("set", key, f"v{tag}"), "SET", key, f"v{tag}")
            self.my_keys.append(key)
        elif pick < 0.6:
            key = f"cc:{o.run_id}:{r.randrange(o.counters)}"
            self.call(Op("incr", key), "INCR", key)
        elif pick < 0.85:
            key = f"cl:{o.run_id}:{r.randrange(o.lists)}"
            self.call(Op("rpush", key, f"e{tag}"), "RPUSH", key, f"e{tag}")
        elif self.my_keys:
            key = r.choice(self.my_keys)
            op = Op("get", key)
            op.value = self.call(op, "GET", key)

    def run(self) -> None:
        period = 1.0 / self.opts.rate
        nxt = time.monotonic()
        while not self.stop.is_set():
            self.step()
            nxt += period
            delay = nxt - time.monotonic()
            if delay > 0:
                self.stop.wait(delay)
            else:
                nxt = time.monotonic()
        if self.conn is not None:
            self.conn.disconnect()


class Workload:
    """start() then stop() -> the history; must be called on a thread inside the client host."""

    def __init__(self, opts: WorkloadOptions):
        self.opts = opts
        self._stop = threading.Event()
        self.clients = [Client(i, opts, self._stop) for i in range(opts.clients)]

    def start(self) -> None:
        for c in self.clients:
            c.start()

    def stop(self) -> list[Op]:
        self._stop.set()
        for c in self.clients:
            c.join(self.opts.timeout_s * 3)
        return sorted((op for c in self.clients for op in c.ops), key=lambda op: op.t0)


def read_final(ops: list[Op], host: str, port: int, timeout_s: float = 5.0) -> Final:
    """Read back every key the history touched, through one proxy (after the heal)."""
    r = redis.Redis(host=host, port=port, socket_timeout=timeout_s, decode_responses=True, protocol=2)
    try:
        final = Final()
        keys = {(op.kind, op.key) for op in ops if op.kind in ("set", "incr", "rpush")}
        for kind, key in sorted(keys):
            if kind == "set":
                final.strings[key] = r.get(key)
            elif kind == "incr":
                final.counters[key] = int(r.get(key) or 0)
            else:
                final.lists[key] = r.lrange(key, 0, -1)
        return final
    finally:
        r.close()
