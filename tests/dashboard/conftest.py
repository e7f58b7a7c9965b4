"""Fixtures for dashboard tests: a real etcd, coordinators of both kinds."""

from __future__ import annotations

import shutil
import time
import uuid

import httpx
import pytest

from tests.dashboard.helpers import DashboardProc, ProxyProc
from tests.dashboard.uprun import Up, free_base
from tests.procs import Proc, free_port, start_redis


class EtcdProc(Proc):
    def __init__(self, tmp):
        port, peer = free_port(), free_port()
        self.endpoint = f"127.0.0.1:{port}"
        log = tmp / "etcd.log"
        super().__init__(["etcd", "--name", "test", "--data-dir", str(tmp / "etcd-data"),
                          "--listen-client-urls", f"http://127.0.0.1:{port}",
                          "--advertise-client-urls", f"http://127.0.0.1:{port}",
                          "--listen-peer-urls", f"http://127.0.0.1:{peer}",
                          "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
                          "--initial-cluster", f"test=http://127.0.0.1:{peer}"],
                         port, stderr_path=str(log))
        self.log = log

    def wait_healthy(self, timeout: float = 30.0) -> EtcdProc:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"etcd exited: {self.log.read_text()[-2000:]}")
            try:
                r = httpx.post(f"http://{self.endpoint}/v3/kv/range", json={"key": "eA=="}, timeout=1)
                if r.status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"etcd not ready: {self.log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def etcd(tmp_path_factory):
    if shutil.which("etcd") is None:
        pytest.skip("etcd not installed (Debian package etcd-server)")
    proc = EtcdProc(tmp_path_factory.mktemp("etcd")).wait_healthy()
    yield proc
    proc.stop()


@pytest.fixture(params=["file", "etcd"])
def coordinator_url(request, tmp_path):
    """A fresh coordinator URL of each kind (a new directory / a new etcd prefix)."""
    if request.param == "file":
        return f"file://{tmp_path / 'coord'}"
    etcd = request.getfixturevalue("etcd")
    return f"etcd://{etcd.endpoint}/xcache-test/{uuid.uuid4().hex[:8]}"


@pytest.fixture
def env(tmp_path):
    """4 redis-servers (2 groups x 2), a proxy with no table yet, a dashboard on a file coordinator."""
    procs = []
    try:
        servers = [start_redis(tmp_path) for _ in range(4)]
        procs += servers
        proxy = ProxyProc(tmp_path).wait_admin()
        procs.append(proxy)
        dash = DashboardProc(tmp_path, f"file://{tmp_path / 'coord'}").wait_healthy()
        procs.append(dash)
        yield {"servers": [f"127.0.0.1:{s.port}" for s in servers], "proxy": proxy, "dash": dash, "tmp": tmp_path}
    finally:
        for p in reversed(procs):
            p.stop()


@pytest.fixture
def start_up(tmp_path):
    """start_up(*flags, base=None): `xcache up` over one data folder (a fresh port range unless
    base is given, e.g. to restart on the same ports), waited until it is up. Every run started
    is stopped when the test ends."""
    ups: list[Up] = []

    def start(*extra: str, base: int | None = None) -> Up:
        up = Up(tmp_path / "xcache-data", free_base() if base is None else base, *extra)
        ups.append(up)
        return up.wait_up()

    yield start
    for u in ups:
        u.stop()
