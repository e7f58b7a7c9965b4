"""`xcache up` as a test runs it: a free port range, the running command, its layout and API,
and the pids of the processes it started."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.dashboard.helpers import wait_until

SPAN = 401  # xcache up --base-port B uses B .. B+400


def free_base() -> int:
    """A free --base-port. Its ports and the storage nodes' metrics ports (port + 10000) stay
    below the kernel's ephemeral range (32768+), where any client connection of a parallel test
    may hold one for a moment (the node would then fail to bind its metrics port and exit)."""
    for _ in range(50):
        base = random.randrange(10000, 32768 - 10000 - SPAN)
        ports = [base + o + i for o in (0, 100, 200, 300, 400) for i in range(4)]
        ports += [base + i + 10000 for i in range(20)]
        ok = True
        for p in ports:
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free port range")


class Up:
    def __init__(self, data: Path, base: int, *extra: str):
        self.data, self.base = data, base
        self.out = data.parent / f"up-{time.monotonic_ns()}.out"
        self.fh = open(self.out, "wb")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "xcache.cli", "up", "--dir", str(data), "--base-port", str(base),
             "--set", "down_after_ms=1500", *extra],
            stdout=self.fh, stderr=subprocess.STDOUT, start_new_session=True)

    def text(self) -> str:
        return self.out.read_text(errors="replace")

    def wait_up(self, timeout: float = 90) -> Up:
        def ready():
            if self.popen.poll() is not None:
                raise RuntimeError(f"xcache up exited {self.popen.returncode}:\n{self.text()}")
            return "xcache is up" in self.text()
        try:
            wait_until(ready, timeout=timeout, interval=0.2, what="xcache up")
        except AssertionError:
            logs = "\n".join(f"--- {p.name}\n{p.read_text()[-1500:]}" for p in sorted((self.data / "logs").glob("*.log")))
            raise AssertionError(f"not up:\n{self.text()}\n{logs}") from None
        return self

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(40)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)
        self.fh.close()
        return self.popen.returncode

    @property
    def layout(self) -> dict:
        return json.loads((self.data / "up.json").read_text())

    @property
    def password(self) -> str:
        """The proxies' client password `xcache up` generated."""
        return self.layout["passwords"]["proxy"]

    def api(self) -> httpx.Client:
        lay = self.layout
        return httpx.Client(base_url=f"http://{lay['dashboard']}", timeout=30,
                            headers={"Authorization": f"Bearer {lay['admin_token']}"})


def pids_on_ports(ports: set[int]) -> dict[int, int]:
    """port -> pid of the `python -m xcache.cli ... --port <port>` process."""
    out = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            argv = (d / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"xcache.cli" not in argv:
            continue
        for i, a in enumerate(argv[:-1]):
            if a == b"--port" and argv[i + 1].isdigit() and int(argv[i + 1]) in ports:
                out[int(argv[i + 1])] = int(d.name)
    return out


def redis_cli(port: int, *args: str, password: str = "") -> str:
    env = {**os.environ, "REDISCLI_AUTH": password} if password else None
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True,
                          timeout=20, env=env).stdout.strip()
