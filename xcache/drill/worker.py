"""One drill worker process: N asyncio clients (uvloop) behaving like the incident's clients.

Each client connects, sends AUTH (when a password is given) and waits for it at most
auth_timeout_s, then runs a steady GET/SET loop (one request at a time, ops_per_sec per client).
On any error, error reply or timeout it closes the socket and reconnects at once (or, with
backoff, after a jittered exponential delay). Control comes on stdin, one word per line:
  kick      every client closes its connection and reconnects now (the reconnect storm)
  mark T    T (unix time) is the event start: recovery is measured from it
  stop      finish and print the result (one JSON document) on stdout
Time series are bucketed per wall-clock second so the runner can merge workers.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import resource
import sys
import time
from collections import defaultdict

PASSWORD_ERRORS = (b"-NOAUTH", b"-WRONGPASS", b"-ERR invalid password")


class ReplyError(Exception):
    pass


async def read_reply(reader: asyncio.StreamReader) -> bytes:
    """One RESP reply (simple/error/integer/bulk; arrays are skipped element by element)."""
    line = await reader.readline()
    if not line:
        raise ConnectionResetError("closed by peer")
    kind = line[:1]
    if kind == b"-":
        raise ReplyError(line.strip().decode(errors="replace"))
    if kind == b"$":
        n = int(line[1:])
        if n >= 0:
            await reader.readexactly(n + 2)
    elif kind == b"*":
        for _ in range(max(0, int(line[1:]))):
            await read_reply(reader)
    return line


def encode(*args: bytes) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Drill:
    def __init__(self, spec: dict):
        self.s = spec
        self.n = spec["clients"]
        self.gen = 0
        self.connected = 0
        self.stopping = False
        self.t0: float | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        # per second
        self.ok: dict[int, int] = defaultdict(int)
        self.failed: dict[int, int] = defaultdict(int)
        self.attempts: dict[int, int] = defaultdict(int)
        self.conn_samples: dict[int, int] = {}
        self.errors: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        # per client
        self.client_attempts = [0] * self.n
        self.client_attempts_after = [0] * self.n
        self.first_ok_after = [None] * self.n  # first success at/after t0
        self.last_err = [None] * self.n        # last failure at/after t0
        self.ok_after_err = [None] * self.n    # first success after that failure
        self.served = [False] * self.n         # had a success since the start

    def error(self, i: int, kind: str, request_failed: bool) -> None:
        now = time.time()
        self.errors[kind][int(now)] += 1
        if request_failed:
            self.failed[int(now)] += 1
        if self.t0 is not None and now >= self.t0:
            self.last_err[i] = now
            self.ok_after_err[i] = None

    def success(self, i: int) -> None:
        now = time.time()
        self.ok[int(now)] += 1
        self.served[i] = True
        if self.t0 is not None and now >= self.t0:
            if self.first_ok_after[i] is None:
                self.first_ok_after[i] = now
            if self.ok_after_err[i] is None:
                self.ok_after_err[i] = now

    async def client(self, i: int) -> None:
        s = self.s
        host, port = s["host"], s["port"]
        auth = encode(b"AUTH", s["password"].encode()) if s["password"] else b""
        interval = 1.0 / s["ops_per_sec"]
        failures = 0
        rnd = random.Random(s["seed"] * 100003 + i)
        await asyncio.sleep(rnd.random() * s["ramp_s"])
        while not self.stopping:
            now = time.time()
            self.attempts[int(now)] += 1
            self.client_attempts[i] += 1
            if self.t0 is not None and now >= self.t0:
                self.client_attempts_after[i] += 1
            gen = self.gen
            writer = None
            counted = False
            try:
                try:
                    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port),
                                                            s["connect_timeout_s"])
                except (TimeoutError, OSError) as exc:
                    self.error(i, "connect_timeout" if isinstance(exc, TimeoutError) else "connect_refused", False)
                    raise _Retry from None
                self.writers.add(writer)
                if auth:
                    writer.write(auth)
                    try:
                        await asyncio.wait_for(read_reply(reader), s["auth_timeout_s"])
                    except TimeoutError:
                        self.error(i, "auth_timeout", False)
                        raise _Retry from None
                    except ReplyError:
                        self.error(i, "auth_error", False)
                        raise _Retry from None
                if auth:  # connected = the proxy answered us (AUTH, or the first request without it)
                    self.connected += 1
                    counted = True
                failures = 0
                while not self.stopping and gen == self.gen:
                    key = b"drill:%d" % rnd.randrange(s["keys"])
                    cmd = encode(b"SET", key, b"v" * s["value_bytes"]) if rnd.random() < s["write_ratio"] \
                        else encode(b"GET", key)
                    writer.write(cmd)
                    try:
                        await asyncio.wait_for(read_reply(reader), s["op_timeout_s"])
                    except TimeoutError:
                        self.error(i, "op_timeout", True)
                        raise _Retry from None
                    except ReplyError as exc:
                        self.error(i, "error_reply", True)
                        if s["verbose"]:
                            print(f"client {i}: {exc}", file=sys.stderr)
                        raise _Retry from None
                    self.success(i)
                    if not counted:
                        self.connected += 1
                        counted = True
                    # sleep until the next request, but wake at once when kicked
                    await asyncio.wait([self.kicked], timeout=interval * (0.5 + rnd.random()))
            except _Retry:
                failures += 1
            except (ConnectionError, OSError, asyncio.IncompleteReadError, ValueError):
                if gen == self.gen and not self.stopping:
                    self.error(i, "connection_closed", True)
                    failures += 1
            finally:
                if counted:
                    self.connected -= 1
                if writer is not None:
                    self.writers.discard(writer)
                    writer.transport.abort()
            if self.stopping:
                return
            if gen != self.gen:
                continue  # kicked: reconnect at once, like everybody else
            if s["backoff"] and failures:
                cap = min(s["backoff_max_s"], s["backoff_base_s"] * 2 ** min(failures - 1, 16))
                await asyncio.sleep(rnd.random() * cap)

    def kick(self) -> None:
        self.gen += 1
        self.kicked.set_result(None)
        self.kicked = asyncio.get_running_loop().create_future()
        for w in list(self.writers):
            w.transport.abort()

    async def sampler(self) -> None:
        while not self.stopping:
            self.conn_samples[int(time.time())] = self.connected
            await asyncio.sleep(0.25)

    async def control(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while True:
            line = (await reader.readline()).decode().split()
            if not line or line[0] == "stop":
                return
            if line[0] == "kick":
                self.kick()
            elif line[0] == "mark":
                self.t0 = float(line[1])
                self.last_err = [None] * self.n
                self.ok_after_err = [None] * self.n
                self.first_ok_after = [None] * self.n
            elif line[0] == "status":
                rec = sum(1 for r in self.recovery() if r is not None)
                print(json.dumps({"connected": self.connected, "served": sum(self.served), "recovered": rec}),
                      flush=True)

    async def run(self) -> dict:
        self.kicked = asyncio.get_running_loop().create_future()
        tasks = [asyncio.create_task(self.client(i)) for i in range(self.n)]
        sampler = asyncio.create_task(self.sampler())
        await self.control()
        self.stopping = True
        for w in list(self.writers):
            w.transport.abort()
        for t in (*tasks, sampler):
            t.cancel()
        await asyncio.gather(*tasks, sampler, return_exceptions=True)
        return self.result()

    def recovery(self) -> list[float | None]:
        """Per client: seconds from t0 until it was served again for good (after its last failure)."""
        t0 = self.t0
        out: list[float | None] = []
        for i in range(self.n):
            if t0 is None:
                out.append(None)
            elif self.last_err[i] is not None:
                out.append(None if self.ok_after_err[i] is None else self.ok_after_err[i] - t0)
            else:
                out.append(None if self.first_ok_after[i] is None else self.first_ok_after[i] - t0)
        return out

    def result(self) -> dict:
        recovery = self.recovery()
        return {"ok": dict(self.ok), "failed": dict(self.failed), "attempts": dict(self.attempts),
                "connected": self.conn_samples, "errors": {k: dict(v) for k, v in self.errors.items()},
                "client_attempts": self.client_attempts, "client_attempts_after": self.client_attempts_after,
                "recovery": recovery}


class _Retry(Exception):
    pass


def main() -> None:
    spec = json.loads(os.environ["XCACHE_DRILL_SPEC"])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, spec["clients"] * 2 + 256)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    try:
        import uvloop
        run = uvloop.run
    except ImportError:  # pragma: no cover
        run = asyncio.run
    result = run(Drill(spec).run())
    sys.stdout.write(json.dumps({"result": result}) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
