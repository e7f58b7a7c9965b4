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
import errno
import json
import os
import random
import resource
import socket
import struct
import sys
import time
from collections import defaultdict


def encode(*args: bytes) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def reply_end(buf: bytes | bytearray) -> int:
    """Length of the first complete reply in buf (simple, error, integer or bulk), 0 if incomplete.
    The drill only sends AUTH, GET and SET, so no aggregate reply can come back."""
    eol = buf.find(b"\r\n")
    if eol < 0:
        return 0
    if buf[:1] != b"$":
        return eol + 2
    n = int(buf[1:eol])
    end = eol + 2 + (n + 2 if n >= 0 else 0)
    return end if len(buf) >= end else 0


# Connection states of one client.
CONNECTING, AUTHENTICATING, IDLE, WAITING, CLOSED = range(5)
_LINGER_RST = struct.pack("ii", 1, 0)


class Client:
    """One simulated client: a non-blocking socket driven by loop readiness callbacks and timers.

    This is the drill's hot path: at 16,000 clients the generator must cost far less CPU than the
    proxy it measures. So no transports, streams, tasks or wait_for per request, and no resolver:
    asyncio's create_connection resolves even "127.0.0.1" on a small thread pool, and in a storm
    that queue alone made clients time out on connects the kernel had already completed."""

    __slots__ = ("d", "i", "rnd", "gen", "state", "sock", "fd", "buf", "timer", "counted", "failures")

    def __init__(self, drill: Drill, i: int):
        self.d = drill
        self.i = i
        self.rnd = random.Random(drill.s["seed"] * 100003 + i)
        self.gen = 0
        self.state = CLOSED
        self.sock: socket.socket | None = None
        self.fd = -1
        self.buf = b""
        self.timer = None
        self.counted = False
        self.failures = 0

    def start(self, delay: float) -> None:
        self.timer = self.d.loop.call_later(delay, self.connect)

    def connect(self) -> None:
        d = self.d
        if d.stopping:
            return
        now = time.time()
        d.attempts[int(now)] += 1
        d.client_attempts[self.i] += 1
        if d.t0 is not None and now >= d.t0:
            d.client_attempts_after[self.i] += 1
        self.gen = d.gen
        self.buf = b""
        try:
            sock = socket.socket(d.family, socket.SOCK_STREAM)
        except OSError:  # out of descriptors here: count it like a refused connect
            self.state = CLOSED
            self.fail("connect_refused", False)
            return
        sock.setblocking(False)
        self.sock, self.fd, self.state = sock, sock.fileno(), CONNECTING
        err = sock.connect_ex(d.addr)
        if err not in (0, errno.EINPROGRESS):
            self.fail("connect_refused", False)
            return
        d.loop.add_writer(self.fd, self.connected)
        self.timer = d.loop.call_later(d.s["connect_timeout_s"], self.fail, "connect_timeout", False)

    def connected(self) -> None:
        d = self.d
        d.loop.remove_writer(self.fd)
        self.timer.cancel()
        if self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
            self.fail("connect_refused", False)
            return
        if self.gen != d.gen:  # kicked while connecting
            self.fail(None, False)
            return
        d.loop.add_reader(self.fd, self.readable)
        if d.auth:
            self.state = AUTHENTICATING
            self.write(d.auth)
            self.timer = d.loop.call_later(d.s["auth_timeout_s"], self.fail, "auth_timeout", False)
        else:
            self.send_request()

    def write(self, data: bytes) -> None:
        try:
            self.sock.send(data)  # a few bytes into an empty send buffer: never partial
        except OSError:
            pass  # the read side sees the failure

    def send_request(self) -> None:
        d = self.d
        if self.gen != d.gen or d.stopping:
            self.fail(None, False)
            return
        rnd = self.rnd
        key = b"drill:%d" % rnd.randrange(d.s["keys"])
        self.write(encode(b"SET", key, d.value) if rnd.random() < d.s["write_ratio"] else encode(b"GET", key))
        self.state = WAITING
        self.timer = d.loop.call_later(d.s["op_timeout_s"], self.fail, "op_timeout", True)

    def readable(self) -> None:
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.fail("connection_closed" if self.gen == self.d.gen else None, self.state != AUTHENTICATING)
            return
        buf = self.buf + data if self.buf else data
        n = reply_end(buf)
        if not n:
            self.buf = buf
            return
        self.buf = b""
        self.timer.cancel()
        d = self.d
        if buf[:1] == b"-":
            if self.state == AUTHENTICATING:
                self.fail("auth_error", False)
            else:
                if d.s["verbose"]:
                    print(f"client {self.i}: {buf[:n].strip().decode(errors='replace')}", file=sys.stderr)
                self.fail("error_reply", True)
            return
        if not self.counted:  # connected = the proxy answered us (AUTH, or the first request)
            self.counted = True
            d.connected += 1
        self.failures = 0
        if self.state == AUTHENTICATING:
            self.send_request()
            return
        d.success(self.i)
        self.state = IDLE
        self.timer = d.loop.call_later(d.interval * (0.5 + self.rnd.random()), self.send_request)

    def close(self) -> None:
        """Reset the connection (RST, as a client library's abort does) and forget it."""
        sock, self.sock = self.sock, None
        if sock is None:
            return
        if self.state == CONNECTING:
            self.d.loop.remove_writer(self.fd)
        else:
            self.d.loop.remove_reader(self.fd)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
        except OSError:
            pass
        sock.close()

    def fail(self, kind: str | None, request_failed: bool) -> None:
        """Count the failure (kind None: kicked, not a failure), close, and reconnect."""
        d = self.d
        if self.timer is not None:
            self.timer.cancel()
        if kind is not None:
            d.error(self.i, kind, request_failed)
            self.failures += 1
        if self.counted:
            self.counted = False
            d.connected -= 1
        self.close()
        self.state = CLOSED
        if d.stopping:
            return
        delay = 0.0
        if d.s["backoff"] and self.failures and self.gen == d.gen:
            cap = min(d.s["backoff_max_s"], d.s["backoff_base_s"] * 2 ** min(self.failures - 1, 16))
            delay = self.rnd.random() * cap
        self.timer = d.loop.call_later(delay, self.connect)

    def kick(self) -> None:
        """The reconnect storm: drop the connection and reconnect now, like everybody else."""
        if self.state in (IDLE, WAITING, AUTHENTICATING):
            self.fail(None, False)

    def stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.close()
        self.state = CLOSED


class Drill:
    def __init__(self, spec: dict):
        self.s = spec
        self.n = spec["clients"]
        self.gen = 0
        self.connected = 0
        self.stopping = False
        self.t0: float | None = None
        self.auth = encode(b"AUTH", spec["password"].encode()) if spec["password"] else b""
        self.value = b"v" * spec["value_bytes"]
        self.interval = 1.0 / spec["ops_per_sec"]
        # Resolved once here, so no connect waits for a resolver.
        self.family, _, _, _, self.addr = socket.getaddrinfo(spec["host"], spec["port"],
                                                             type=socket.SOCK_STREAM)[0]
        # per second
        self.ok: dict[int, int] = defaultdict(int)
        self.failed: dict[int, int] = defaultdict(int)
        self.attempts: dict[int, int] = defaultdict(int)
        self.conn_samples: dict[int, int] = {}
        self.cpu_samples: dict[int, float] = {}
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

    def kick(self) -> None:
        self.gen += 1
        for c in self.clients:
            c.kick()

    async def sampler(self) -> None:
        """Connected clients and this process's CPU time, per second: the report shows whether
        the generator itself was short of CPU (then the figures measure the drill, not the proxy)."""
        while not self.stopping:
            now = int(time.time())
            self.conn_samples[now] = self.connected
            self.cpu_samples[now] = time.process_time()
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
        self.loop = asyncio.get_running_loop()
        self.clients = [Client(self, i) for i in range(self.n)]
        rnd = random.Random(self.s["seed"])
        for c in self.clients:
            c.start(rnd.random() * self.s["ramp_s"])
        self.started = time.time()
        sampler = asyncio.create_task(self.sampler())
        await self.control()
        self.stopping = True
        sampler.cancel()
        for c in self.clients:
            c.stop()
        await asyncio.gather(sampler, return_exceptions=True)
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
                "cpu": self.cpu_samples, "cpu_s": time.process_time(), "wall_s": time.time() - self.started,
                "client_attempts": self.client_attempts, "client_attempts_after": self.client_attempts_after,
                "recovery": recovery}


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
    # After uvloop has watched stdin, a write to stdout can come back short and sys.stdout drops
    # the rest: a result over the pipe's 64 KiB was cut and that worker's clients were lost from
    # the report. Write it with os.write until every byte is out.
    sys.stdout.flush()
    data = (json.dumps({"result": result}) + "\n").encode()
    while data:
        data = data[os.write(sys.stdout.fileno(), data):]


if __name__ == "__main__":
    main()
