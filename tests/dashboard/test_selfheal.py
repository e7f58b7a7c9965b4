"""Acceptance of self-healing against real processes (`xcache up`): kill -9 of every kind of
child, one at a time, under client load through the proxy - each is back within 10 s, the
cluster ends healthy, no acknowledged write is lost, and the killed master never answers a
write as master after its restart; kill -9 of `xcache up` itself leaves no child behind."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from pathlib import Path

import httpx
import redis

from tests.dashboard.helpers import wait_until
from tests.dashboard.uprun import pids_on_ports

BACK_S = 10


class Writer(threading.Thread):
    """SETs w:<i> = i through the proxy; remembers what was acknowledged."""

    def __init__(self, port: int):
        super().__init__(daemon=True)
        self.port, self.acked, self.errors = port, [], []
        self.halt = threading.Event()

    def run(self):
        c = redis.Redis(port=self.port, protocol=2, socket_timeout=10, socket_connect_timeout=2)
        i = 0
        while not self.halt.is_set():
            try:
                if c.set(f"w:{i}", i):
                    self.acked.append(i)
            except redis.RedisError as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")
                time.sleep(0.05)
            i += 1
            time.sleep(0.002)


class FenceProbe(threading.Thread):
    """Connects straight to a storage node again and again and tries a write: records every
    write it accepted while it said ROLE master."""

    def __init__(self, port: int):
        super().__init__(daemon=True)
        self.port, self.accepted, self.refused = port, [], 0
        self.halt = threading.Event()

    def run(self):
        n = 0
        while not self.halt.is_set():
            c = redis.Redis(port=self.port, protocol=2, socket_timeout=2, socket_connect_timeout=0.5)
            try:
                n += 1
                if c.set(f"fence:probe:{n}", n):
                    self.accepted.append((n, c.execute_command("ROLE")[0]))
            except redis.ReadOnlyError:
                self.refused += 1
            except redis.RedisError:
                pass
            finally:
                c.close()
            time.sleep(0.01)


def healthy(api: httpx.Client) -> dict | bool:
    ov = api.get("/api/overview").json()
    for g in ov["groups"]:
        for s in g["servers"]:
            if not s.get("up") or s["addr"] != g["master"] and s.get("link") != "up":
                return False
            if s["addr"] == g["master"] and s.get("role") != "master":
                return False
    if not all(p.get("up") and p.get("in_sync") for p in ov["proxies"]):
        return False
    names = {g["name"] for g in ov["groups"]}
    if not all(s.get("up") and set(s.get("flags") or {}) >= names for s in ov["sentinels"]):
        return False
    return ov


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_kill9_every_kind_of_child_under_load(start_up):
    # a short failover_timeout: a sentinel election lost to a split vote (likelier on a loaded
    # machine) is retried after 2 x 2 s, well within the master's hold
    up = start_up("--set", "passwords=false", "--set", "failover_timeout_ms=2000")
    base = up.base
    api = up.api()
    wait_until(lambda: healthy(api), timeout=60, what="healthy cluster")
    proxy_port = base + 200
    writer = Writer(proxy_port)
    writer.start()
    wait_until(lambda: len(writer.acked) > 200, what="load running")

    ov = healthy(api)

    def sentinels_ready():  # each knows every replica and the other sentinels: failovers can run
        for s in ov["sentinels"]:
            with redis.Redis(port=int(s["addr"].rsplit(":", 1)[1]), protocol=2, decode_responses=True) as c:
                for g in ov["groups"]:
                    d = c.sentinel_master(g["name"])
                    if d["num-slaves"] < 1 or d["num-other-sentinels"] < len(ov["sentinels"]) - 1:
                        return False
        return True
    wait_until(sentinels_ready, what="sentinels discovered the replicas and each other")
    g1, g2 = ov["groups"][0], ov["groups"][1]
    old_master = g1["master"]
    replica2 = next(s["addr"] for s in g2["servers"] if s["addr"] != g2["master"])
    port_of = lambda a: int(a.rsplit(":", 1)[1])  # noqa: E731
    victims = [("master", port_of(old_master)), ("replica", port_of(replica2)),
               ("sentinel", base + 100), ("proxy worker", base + 200), ("proxy", base + 200),
               ("dashboard", base + 400)]
    probe = None
    took = {}
    for kind, port in victims:
        pid = pids_on_ports({port})[port]
        acked_before = len(writer.acked)
        t0 = time.monotonic()
        if kind == "proxy worker":  # a child of the proxy: the proxy itself starts a new one
            (worker,) = _children(pid)
            os.kill(worker, signal.SIGKILL)
            wait_until(lambda main=pid, w=worker: _children(main) not in ([], [w]), timeout=BACK_S,
                       interval=0.1, what="a new proxy worker")
        else:
            os.kill(pid, signal.SIGKILL)
        if kind == "master":
            probe = FenceProbe(port)
            probe.start()
        wait_until(lambda p=port, old=pid, k=kind: pids_on_ports({p}).get(p) not in (None, old if k != "proxy worker" else None)
                   and listening(p), interval=0.1, what=f"{kind} on {port} back",
                       # a master is held until the failover (a lost election adds 4 s here)
                       timeout=BACK_S + (5 if kind == "master" else 0))
        took[kind] = round(time.monotonic() - t0, 1)
        if kind == "dashboard":
            api.close()
            api = up.api()
        wait_until(lambda a=api: healthy(a), timeout=60, interval=0.2, what=f"healthy after the {kind}")
        wait_until(lambda n=acked_before: len(writer.acked) > n + 100, what=f"writes go on after the {kind}")
    print("back after", took, "acked", len(writer.acked), "errors", len(writer.errors), writer.errors[:3])

    ov = healthy(api)
    g1 = ov["groups"][0]
    assert g1["master"] != old_master  # the sentinels failed the master over
    srv = {s["addr"]: s for s in g1["servers"]}
    assert srv[old_master]["role"] == "replica" and srv[old_master]["master"] == g1["master"]
    probe.halt.set()
    probe.join(10)
    assert probe.accepted == [], probe.accepted  # never a write as master after the restart
    writer.halt.set()
    writer.join(15)

    c = redis.Redis(port=proxy_port, protocol=2, socket_timeout=10)
    acked = writer.acked
    got = []
    for i in range(0, len(acked), 500):
        chunk = acked[i:i + 500]
        got += c.mget([f"w:{k}" for k in chunk])
    lost = [k for k, v in zip(acked, got, strict=True) if v != str(k).encode()]
    assert lost == [], f"{len(lost)} acknowledged writes lost: {lost[:10]}"
    kids = wait_until(lambda: api.get("/api/supervisor").json().get("children"), what="up reports")
    assert all(k["state"] == "running" for k in kids.values()), kids
    assert sum(k["restarts"] for k in kids.values()) == 5, kids  # the worker is the proxy's
    api.close()


def test_kill9_of_up_leaves_no_child(start_up):
    up = start_up("--set", "passwords=false", "--groups", "1", "--sentinels", "1")
    base = up.base
    ports = {base + o + i for o in (0, 100, 200, 300, 400) for i in range(4)}
    children = set(pids_on_ports(ports).values())
    workers = {int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()
               and _is_worker_of(int(p.name), children)}
    assert len(children) >= 5 and workers
    os.kill(up.popen.pid, signal.SIGKILL)
    up.popen.wait(10)
    alive = lambda: {p for p in children | workers if _alive(p)}  # noqa: E731
    wait_until(lambda: not alive(), timeout=BACK_S, what=f"children gone (left: {alive()})")

    # the next `up` starts on the same ports and data
    start_up("--set", "passwords=false", "--set", "passwords=false", base=base)
    assert redis.Redis(port=base + 200, protocol=2).ping()


def _children(pid: int) -> list[int]:
    return sorted(int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()
                  and _is_worker_of(int(p.name), {pid}) and _alive(int(p.name)))


def _alive(pid: int) -> bool:
    try:
        state = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def _is_worker_of(pid: int, parents: set[int]) -> bool:
    try:
        ppid = int(open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()[1])
    except (OSError, ValueError):
        return False
    return ppid in parents


def test_crash_loop_is_left_down_alerted_and_restarted_on_request(start_up):
    """A sentinel that cannot start (its port taken) crash-loops: `up` leaves it down, the
    dashboard fires XcacheChildCrashLoop (and exports it to Prometheus); once the port is free,
    `xcache admin restart-child` starts it again."""
    import subprocess
    import sys

    up = start_up("--set", "passwords=false", "--groups", "1", "--replicas", "0", "--sentinels", "1",
                  "--set", "crash_loop_after=3")
    base = up.base
    api = up.api()
    port = base + 100
    name = f"sentinel-{port}"
    os.kill(pids_on_ports({port})[port], signal.SIGKILL)
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)

    def grab():
        squatter.bind(("127.0.0.1", port))
        return True
    wait_until(grab, timeout=5, interval=0.01, what="the sentinel's port")
    squatter.listen()

    def refuse():  # accept and close at once: the dashboard's calls fail fast, never hang
        while True:
            try:
                conn, _ = squatter.accept()
            except OSError:
                return
            conn.close()
    threading.Thread(target=refuse, daemon=True).start()
    try:
        wait_until(lambda: any(a["name"] == "XcacheChildCrashLoop" and a["labels"]["child"] == name
                               for a in api.get("/api/overview").json()["active_alerts"]),
                   timeout=60, what="XcacheChildCrashLoop")
        assert "crash loop" in up.text()
        metrics = httpx.get(f"http://127.0.0.1:{base + 400}/metrics").text
        assert f'xcache_dashboard_supervised_child_crash_loop{{child="{name}"}} 1.0' in metrics
    finally:
        squatter.shutdown(socket.SHUT_RDWR)
        squatter.close()
    lay = up.layout
    env = {**os.environ, "XCACHE_DASHBOARD": f"http://{lay['dashboard']}", "XCACHE_TOKEN": lay["admin_token"]}
    r = subprocess.run([sys.executable, "-m", "xcache.cli", "admin", "restart-child", name],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    wait_until(lambda: listening(port), timeout=BACK_S, what="sentinel back")
    wait_until(lambda: not any(a["name"] == "XcacheChildCrashLoop"
                               for a in api.get("/api/overview").json()["active_alerts"]),
               timeout=30, what="alert resolved")
    api.close()
