"""Processes and polling helpers for dashboard tests."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import redis
from click.testing import CliRunner

from tests.procs import Proc, free_port, wait_until

TOKEN = "dash-token"
PROXY_TOKEN = "proxy-token"


class ProxyProc(Proc):
    def __init__(self, tmp: Path, port: int | None = None, admin_port: int | None = None, **settings):
        self.admin_port = admin_port or free_port()
        port = port or free_port()
        args = [sys.executable, "-m", "xcache.cli", "proxy", "--port", str(port), "--admin-port",
                str(self.admin_port), "--workers", "1", "--set", f"admin_token={PROXY_TOKEN}"]
        for k, v in settings.items():
            args += ["--set", f"{k}={v}"]
        super().__init__(args, port, stderr_path=str(tmp / f"proxy-{port}.log"))
        self.addr = f"127.0.0.1:{port}"
        self.admin_addr = f"127.0.0.1:{self.admin_port}"

    def wait_admin(self) -> ProxyProc:
        wait_until(lambda: httpx.get(f"http://{self.admin_addr}/stats", timeout=2).status_code == 200,
                   what=f"proxy admin {self.admin_addr}")
        return self

    def slots(self) -> dict:
        r = httpx.get(f"http://{self.admin_addr}/slots", timeout=5)
        return r.json() if r.status_code == 200 else {}


class DashboardProc(Proc):
    def __init__(self, tmp: Path, coordinator: str, port: int | None = None, token: str = TOKEN, **settings):
        port = port or free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = tmp / f"dashboard-{port}.log"
        args = [sys.executable, "-m", "xcache.cli", "dashboard", "--coordinator", coordinator, "--port", str(port),
                "--set", f"admin_token={token}", "--set", f"proxy_admin_token={PROXY_TOKEN}",
                "--set", "reconcile_interval_ms=200"]
        for k, v in settings.items():
            args += ["--set", f"{k}={v}"]
        super().__init__(args, port, stderr_path=str(self.log_path))
        self.http = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def wait_healthy(self) -> DashboardProc:
        def ok():
            if self.popen.poll() is not None:
                raise RuntimeError(f"dashboard exited: {self.log_path.read_text()[-2000:]}")
            return self.http.get("/health").status_code == 200
        wait_until(ok, what="dashboard health")
        return self

    def call(self, method: str, path: str, body=None, status: int = 200):
        r = self.http.request(method, path, json=body)
        assert r.status_code == status, f"{method} {path}: {r.status_code} {r.text}"
        return r.json()

    def overview(self) -> dict:
        return self.call("GET", "/api/overview")

    def stop(self) -> None:
        self.http.close()
        super().stop()


def serve_one_group(dash: DashboardProc, node: Proc, proxy: ProxyProc) -> None:
    """Group 1 = node with every slot, served by proxy; returns once the proxy has the table."""
    dash.call("POST", "/api/groups", {"id": 1})
    dash.call("POST", "/api/groups/1/servers", {"addr": f"127.0.0.1:{node.port}"})
    dash.call("POST", "/api/slots/rebalance")
    dash.call("POST", "/api/proxies", {"addr": proxy.addr, "admin_addr": proxy.admin_addr})
    wait_until(lambda: dash.overview()["proxies"][0].get("in_sync"), what="proxy in sync")


def admin(dash: DashboardProc, *args: str) -> str:
    from xcache.cli import main as xcache_main

    res = CliRunner().invoke(xcache_main, ["admin", "--dashboard", dash.url, "--token", TOKEN, *args])
    assert res.exit_code == 0, res.output
    return res.output


def build(env) -> None:
    """The codis-admin way: groups, servers, slots, proxy."""
    dash, s = env["dash"], env["servers"]
    admin(dash, "group", "add")
    admin(dash, "group", "add", "--group", "2")
    admin(dash, "group", "add-server", "--group", "1", "--addr", s[0])
    admin(dash, "group", "add-server", "--group", "1", "--addr", s[1])
    admin(dash, "group", "add-server", "--group", "2", "--addr", s[2])
    admin(dash, "group", "add-server", "--group", "2", "--addr", s[3])
    admin(dash, "slots", "assign", "--group", "1", "--slots", "0-511")
    admin(dash, "slots", "assign", "--group", "2", "--slots", "512-1023")
    admin(dash, "proxy", "add", "--addr", env["proxy"].addr, "--admin-addr", env["proxy"].admin_addr)


def role(addr: str) -> list:
    host, port = addr.split(":")
    with redis.Redis(host=host, port=int(port), protocol=2, decode_responses=True) as r:
        return r.execute_command("ROLE")
