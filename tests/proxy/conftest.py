"""Fixtures for proxy tests: real redis-server groups and an `xcache proxy` process in front."""

from __future__ import annotations

import json
import re
import socket
import sys
import time
import urllib.error
import urllib.request

import pytest
import redis

from tests.procs import Proc, free_port, start_redis
from xcache.resp import ReplyParser

TOKEN = "test-token"


class ProxyProc(Proc):
    """An `xcache proxy` process plus helpers for its admin API."""

    def __init__(self, tmp, groups: str, workers: int = 1, **settings):
        self.admin_port = free_port()
        port = free_port()
        args = [sys.executable, "-m", "xcache.cli", "proxy", "--port", str(port), "--admin-port",
                str(self.admin_port), "--workers", str(workers), "--set", f"groups={groups}",
                "--set", f"admin_token={TOKEN}"]
        for k, v in settings.items():
            args += ["--set", f"{k}={v}"]
        self.log_path = str(tmp / f"proxy-{port}.log")
        super().__init__(args, port, stderr_path=self.log_path)

    def wait_healthy(self, timeout: float = 20.0) -> ProxyProc:
        """Ready = the admin API says every worker answers and all groups are up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"proxy exited: {open(self.log_path).read()[-2000:]}")
            try:
                status, body = self.admin("GET", "/health")
                if status == 200 and all(g["state"] == "up" for g in self.stats()["groups"].values()):
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"proxy not healthy: {open(self.log_path).read()[-2000:]}")

    def admin(self, method: str, path: str, body=None, token: str | None = TOKEN) -> tuple[int, dict | str]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{self.admin_port}{path}", data=data, method=method)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                raw, status = resp.read(), resp.status
        except urllib.error.HTTPError as exc:
            raw, status = exc.read(), exc.code
        text = raw.decode()
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def stats(self) -> dict:
        return self.admin("GET", "/stats")[1]

    def metric(self, name: str, **labels) -> float:
        """Sum of the samples of one metric whose labels include the given ones."""
        text = self.admin("GET", "/metrics")[1]
        total = 0.0
        for line in text.splitlines():
            m = re.match(r"^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$", line)
            if not m or m.group(1) != name:
                continue
            got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
            if all(got.get(k) == str(v) for k, v in labels.items()):
                total += float(m.group(3))
        return total

    def client(self, **kw) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=10, protocol=2, **kw)

    def wait_until(self, predicate, timeout: float = 20.0, what: str = "condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.02)
        raise TimeoutError(f"timed out waiting for {what}")


@pytest.fixture
def backends(tmp_path):
    """Two real redis-server masters (groups 1 and 2)."""
    nodes = [start_redis(tmp_path), start_redis(tmp_path)]
    yield nodes
    for n in nodes:
        n.stop()


@pytest.fixture
def start_proxy(tmp_path):
    procs: list[ProxyProc] = []

    def start(groups: str, workers: int = 1, **settings) -> ProxyProc:
        p = ProxyProc(tmp_path, groups, workers, **settings)
        procs.append(p)
        return p.wait_healthy()

    yield start
    for p in procs:
        p.stop()


@pytest.fixture
def proxy(backends, start_proxy):
    a, b = backends
    return start_proxy(f"1=127.0.0.1:{a.port},2=127.0.0.1:{b.port}")


def direct(node) -> redis.Redis:
    return redis.Redis(port=node.port, socket_timeout=10, protocol=2)


def exchange(port: int, chunk: bytes, n: int, timeout: float = 30) -> list:
    """Send raw bytes in one write; read until n replies arrived (or the proxy closed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(chunk)
        parser, got = ReplyParser(), []
        while len(got) < n:
            data = s.recv(65536)
            if not data:
                break
            got += parser.feed(data)
    return got


@pytest.fixture(scope="module")
def targets(tmp_path_factory):
    """redis-server (the reference) and a proxy over one redis-server group, by name: the
    module's tests compare the two."""
    tmp = tmp_path_factory.mktemp("ref-and-proxy")
    ref, node = start_redis(tmp), start_redis(tmp)
    proxy = None
    try:
        proxy = ProxyProc(tmp, f"1=127.0.0.1:{node.port}").wait_healthy()
        yield {"redis": ref.port, "proxy": proxy.port}
    finally:
        for p in (proxy, node, ref):
            if p is not None:
                p.stop()
