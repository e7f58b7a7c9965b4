"""Automatic scale-out end to end: a proxy whose worker is frozen fills its (tiny) accept queue.
local mode: the dashboard adds a worker to that proxy (PUT /workers; same port, it serves) and
retires it again once everything is calm. local-proxy mode: the dashboard starts a second
`xcache proxy`, adds it to the topology (it gets the slot table and serves), and removes it again."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import httpx
import redis

from tests.dashboard.helpers import (
    PROXY_TOKEN,
    DashboardProc,
    ProxyProc,
    serve_one_group,
    wait_until,
)
from tests.procs import start_redis


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def start(tmp_path, procs: list, mode: str):
    node = start_redis(tmp_path)
    procs.append(node)
    proxy = ProxyProc(tmp_path, listen_backlog=16, defer_accept_ms=0).wait_admin()
    procs.append(proxy)
    dash = DashboardProc(tmp_path, f"file://{tmp_path / 'coord'}", scale_mode=mode,
                         scale_up_after_ms=500, scale_down_after_ms=1500, scale_cooldown_ms=0,
                         scale_max_extra=1, scale_proxy_set="workers=1").wait_healthy()
    procs.append(dash)
    serve_one_group(dash, node, proxy)
    return proxy, dash


def fill_queue(proxy, conns: list) -> int:
    """Freeze the proxy's only worker and queue connections on it; returns the worker's pid."""
    worker = wait_until(lambda: children(proxy.pid), what="proxy worker")[0]
    os.kill(worker, signal.SIGSTOP)  # the worker stops accepting; the supervisor still reports
    for _ in range(20):
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", proxy.port))
        conns.append(c)
    return worker


def served_by(proxy, index: int) -> bool:
    """Some connection to the proxy's port is answered by worker `index` (others may hit the frozen one)."""
    for _ in range(20):
        try:
            with redis.Redis(port=proxy.port, protocol=2, socket_timeout=0.5) as r:
                if r.info("server")["worker"] == index:
                    r.set("scaled", "yes")
                    return r.get("scaled") == b"yes"
        except redis.RedisError:
            pass
    return False


def _release(conns: list, worker: int | None, procs: list) -> None:
    """Close the filling connections, resume the stopped worker, stop the processes."""
    for c in conns:
        c.close()
    if worker is not None:
        os.kill(worker, signal.SIGCONT)
    for p in reversed(procs):
        p.stop()


def test_local_mode_adds_workers_and_retires_them(tmp_path):
    procs, conns = [], []
    worker = None
    try:
        proxy, dash = start(tmp_path, procs, "local")
        admin = httpx.Client(base_url=f"http://{proxy.admin_addr}", timeout=10)
        worker = fill_queue(proxy, conns)
        ov = wait_until(lambda: (o := dash.overview()) and o["scale"]["added_workers"] and o, timeout=30,
                        what="a worker added by the scaler")
        assert ov["scale"]["added_workers"] == {proxy.addr: 1} and ov["scale"]["extra"] == 1
        assert len(ov["proxies"]) == 1
        assert any(e["kind"] == "scale_up" for e in ov["alerts"])
        assert admin.get("/workers").json()["count"] == 2
        assert served_by(proxy, 1)

        for c in conns:
            c.close()
        conns.clear()
        os.kill(worker, signal.SIGCONT)
        worker = None
        wait_until(lambda: not dash.overview()["scale"]["added_workers"], timeout=30, what="scaled back in when calm")
        info = wait_until(lambda: (w := admin.get("/workers").json()) and not w["resizing"] and w,
                          what="the added worker retired")
        assert info["count"] == 1 and [w["index"] for w in info["workers"]] == [0]
    finally:
        _release(conns, worker, procs)


def test_local_proxy_mode_starts_a_proxy_and_stops_it(tmp_path):
    procs, conns = [], []
    worker = None
    try:
        proxy, dash = start(tmp_path, procs, "local-proxy")
        worker = fill_queue(proxy, conns)
        ov = wait_until(lambda: (o := dash.overview()) and len(o["proxies"]) == 2 and o, timeout=30,
                        what="a second proxy added by the scaler")
        assert ov["scale"]["extra"] == 1
        added = ov["scale"]["added"][0]
        assert any(e["kind"] == "scale_up" for e in ov["alerts"])
        wait_until(lambda: next(p for p in dash.overview()["proxies"] if p["addr"] == added).get("in_sync"),
                   what="the added proxy has the slot table")
        host, port = added.rsplit(":", 1)
        with redis.Redis(host=host, port=int(port), protocol=2, socket_timeout=5) as r:
            r.set("scaled", "yes")
            assert r.get("scaled") == b"yes"
        # the admin token reached the added proxy through a 0600 file, not its command line
        added_pids = [pid for pid in children(dash.pid) if b"proxy" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        assert added_pids and all(PROXY_TOKEN.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
                                  for pid in added_pids)

        for c in conns:
            c.close()
        conns.clear()
        os.kill(worker, signal.SIGCONT)
        worker = None
        ov = wait_until(lambda: (o := dash.overview()) and len(o["proxies"]) == 1 and o, timeout=30,
                        what="the added proxy removed when calm")
        assert ov["scale"]["extra"] == 0 and ov["proxies"][0]["addr"] == proxy.addr
        wait_until(lambda: socket.socket().connect_ex((host, int(port))) != 0, what="the added proxy stopped")
    finally:
        _release(conns, worker, procs)
