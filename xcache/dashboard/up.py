"""`xcache up`: a whole local cluster in one command.

Layout of the data directory (default ./xcache-data):

    up.json            ports and tokens chosen on the first run (reused afterwards)
    up.lock            flock()ed while an `xcache up` runs on this directory
    run/<name>.pid     pid and start time of each child (the next run stops any left over)
    coordinator/       the dashboard's file coordinator (topology.json)
    servers/<port>/    storage node data
    logs/<name>.log    one log per process

First run: start the storage nodes, sentinels, proxies and the dashboard, then build the
topology through the dashboard's API (groups, servers, slots spread, proxies, sentinels).
Later runs: the same processes on the same ports; replicas are started pointing at the master the
stored topology names, and the dashboard pushes the stored topology to the fresh proxies and
sentinels. SIGINT/SIGTERM stop everything (dashboard first, storage nodes last).
Every child is supervised (supervisor.py): restarted with backoff, left down after a crash loop,
and killed by the kernel if `up` dies (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from xcache.dashboard import supervisor as S
from xcache.dashboard.config import UpConfig
from xcache.dashboard.upctl import Control
from xcache.secretfile import private_dir, write_private, write_secret_config

STD = {"server": 6380, "sentinel": 26379, "proxy": 19000, "proxy_admin": 11080, "dashboard": 18080}
PACKED = {"server": 0, "sentinel": 100, "proxy": 200, "proxy_admin": 300, "dashboard": 400}


def say(msg: str) -> None:
    print(msg, flush=True)


def make_layout(cfg: UpConfig) -> dict:
    def port(kind: str, i: int = 0) -> int:
        return (cfg.base_port + PACKED[kind] if cfg.base_port else STD[kind]) + i

    groups, n = [], 0
    for g in range(cfg.groups):
        members = []
        for _ in range(1 + cfg.replicas):
            members.append(f"127.0.0.1:{port('server', n)}")
            n += 1
        groups.append({"id": g + 1, "servers": members})
    return {
        "groups": groups,
        "sentinels": [f"127.0.0.1:{port('sentinel', i)}" for i in range(cfg.sentinels)],
        "proxies": [{"addr": f"127.0.0.1:{port('proxy', i)}", "admin_addr": f"127.0.0.1:{port('proxy_admin', i)}"}
                    for i in range(cfg.proxies)],
        "dashboard": f"127.0.0.1:{port('dashboard')}",
        "admin_token": secrets.token_hex(16),
        "proxy_admin_token": secrets.token_hex(16),
        "passwords": new_passwords() if cfg.passwords else {},
    }


def new_passwords() -> dict:
    """One password per kind of process: every storage node (a group's replicas AUTH to their
    master with it, and any of them may become master), every sentinel, the proxies' clients."""
    return {"server": secrets.token_hex(16), "sentinel": secrets.token_hex(16),
            "proxy": secrets.token_hex(16)}


def write_password_files(d: Path, passwords: dict) -> dict[str, Path]:
    """<dir>/secrets/<kind>.password (0600), what clients read the passwords from."""
    out = {}
    for kind, value in passwords.items():
        out[kind] = write_private(private_dir(d / "secrets") / f"{kind}.password", value + "\n")
    return out


def _port(addr: str) -> int:
    return int(addr.rpartition(":")[2])


def _busy(port: int) -> bool:
    """Something accepts on the port (a process we started is ready)."""
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _taken(port: int) -> bool:
    """The port cannot be bound (a listener, or an outgoing connection's local port)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


class Child:
    def __init__(self, name: str, args: list[str], port: int, log: Path):
        self.name, self.args, self.port, self.log = name, args, port, log
        self.popen: subprocess.Popen | None = None

    def start(self) -> None:
        fd = os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with open(fd, "ab") as fh:
            self.popen = subprocess.Popen([sys.executable, "-m", "xcache.cli", *self.args], stdout=fh, stderr=fh,
                                          stdin=subprocess.DEVNULL, start_new_session=True,
                                          preexec_fn=S.die_with_parent(os.getpid()))

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-1500:]
        except OSError:
            return ""


class Cluster:
    def __init__(self, cfg: UpConfig):
        self.cfg = cfg
        self.dir = Path(cfg.dir).resolve()
        self.children: list[Child] = []
        self.server_conf: list[str] = []  # `--config <0600 file>` with the nodes' passwords (plan())
        self.stopping = threading.Event()
        # a dead master with replicas waits for the sentinels' failover (then restarts as a
        # replica of the new master) at most this long: long enough for a second election
        # (a split vote retries after 2 x failover_timeout), or it would come back (fenced) just
        # before the retry and the group would switch masters twice
        hold_s = (3 * cfg.down_after_ms + 2 * cfg.failover_timeout_ms) / 1000 + 2
        policy = S.Policy(backoff_max_s=cfg.restart_backoff_max_ms / 1000,
                          fast_crash_s=cfg.fast_crash_ms / 1000, crash_loop_after=cfg.crash_loop_after)
        self.supervisor = S.Supervisor(self.children, self.dir / "run",
                                       self.dir / "coordinator" / "topology.json", say, policy,
                                       master_hold_s=hold_s)

    def _sets(self, text: str) -> list[str]:
        out = []
        for item in text.split():
            out += ["--set", item]
        return out

    def _conf(self, name: str, values: dict) -> list[str]:
        """`--config <0600 file>` holding a child's secrets (none: no file, no flag)."""
        values = {k: v for k, v in values.items() if v}
        if not values:
            return []
        return ["--config", str(write_secret_config(private_dir(self.dir / "conf") / f"{name}.toml", values))]

    def plan(self, layout: dict, topo: dict | None) -> None:
        d, cfg = self.dir, self.cfg
        pw = layout.get("passwords") or {}
        masters = {}
        if topo:
            masters = {s: g["master"] for g in topo.get("groups", {}).values() for s in g.get("servers", [])}
        # kept for the servers started later too (server_child: restarts, grown groups)
        self.server_conf = self._conf("server", {"requirepass": pw.get("server"), "masterauth": pw.get("server")})
        for g in layout["groups"]:
            for i, addr in enumerate(g["servers"]):
                master = masters.get(addr, g["servers"][0] if i else "")
                self.children.append(self.server_child(_port(addr), "" if master == addr else master))
        sentinel_conf = self._conf("sentinel", {"requirepass": pw.get("sentinel"), "auth_pass": pw.get("server")})
        for addr in layout["sentinels"]:
            port = _port(addr)
            self.children.append(Child(f"sentinel-{port}", [
                "sentinel", *sentinel_conf, "--port", str(port), "--set", f"down_after_ms={cfg.down_after_ms}",
                "--set", f"failover_timeout_ms={cfg.failover_timeout_ms}", *self._sets(cfg.sentinel_set)],
                port, d / "logs" / f"sentinel-{port}.log"))
        proxy_conf = self._conf("proxy", {"admin_token": layout["proxy_admin_token"],
                                          "session_password": pw.get("proxy"),
                                          "backend_password": pw.get("server")})
        for p in layout["proxies"]:
            port = _port(p["addr"])
            # readiness is probed on the admin port: a probe of the RESP port would count as a
            # dropped connection in the proxy's admission metrics
            self.children.append(Child(f"proxy-{port}", [
                "proxy", *proxy_conf, "--port", str(port), "--admin-port", str(_port(p["admin_addr"])),
                "--workers", str(cfg.proxy_workers),
                "--set", f"hold_timeout_ms={cfg.hold_timeout_ms}",
                # sentinels fail masters over here: hold while a master is down
                "--set", "hold_while_master_down=true", *self._sets(cfg.proxy_set)],
                _port(p["admin_addr"]), d / "logs" / f"proxy-{port}.log"))
        dport = _port(layout["dashboard"])
        dashboard_conf = self._conf("dashboard", {
            "admin_token": layout["admin_token"], "proxy_admin_token": layout["proxy_admin_token"],
            "server_password": pw.get("server"), "sentinel_password": pw.get("sentinel"),
            # proxies the dashboard scales out get the proxies' secrets (a private copy)
            "scale_proxy_config": str(d / "conf" / "proxy.toml")})
        self.children.append(Child("dashboard", [
            "dashboard", *dashboard_conf, "--coordinator", f"file://{d / 'coordinator'}", "--port", str(dport),
            *self._sets(cfg.dashboard_set)],
            dport, d / "logs" / "dashboard.log"))

    def server_child(self, port: int, master: str) -> Child:
        d = self.dir
        data = private_dir(d / "servers" / str(port))
        args = ["server", *self.server_conf, "--port", str(port), "--dir", str(data),
                *self._sets(self.cfg.server_set)]
        if master:
            args += ["--replicaof", master.replace(":", " ")]
        return Child(f"server-{port}", args, port, d / "logs" / f"server-{port}.log")

    def start_all(self) -> None:
        deadline = time.monotonic() + self.cfg.start_timeout_ms / 1000
        for kind in ("server", "sentinel", "proxy", "dashboard"):
            batch = [c for c in self.children if c.name.startswith(kind)]
            for c in batch:
                c.start()
                self.supervisor.started(c)
            for c in batch:
                while not self.stopping.is_set():
                    if not c.alive():
                        raise RuntimeError(f"{c.name} exited with {c.popen.returncode}; log {c.log}:\n{c.tail()}")
                    if _busy(c.port):
                        break
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{c.name} not listening on {c.port}; log {c.log}:\n{c.tail()}")
                    time.sleep(0.05)
                if self.stopping.is_set():
                    raise KeyboardInterrupt

    def stop_all(self) -> None:
        for c in reversed(self.children):
            if c.alive():
                c.popen.send_signal(signal.SIGCONT)
                c.popen.terminate()
        deadline = time.monotonic() + 10
        for c in reversed(self.children):
            if c.popen is None:
                continue
            try:
                c.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                c.popen.kill()
                c.popen.wait(5)
            self.supervisor.stopped(c)


def bootstrap(api: httpx.Client, layout: dict) -> None:
    """Build the first topology through the dashboard's API."""
    def call(method, path, body=None):
        r = api.request(method, path, json=body)
        if r.status_code >= 400:
            raise RuntimeError(f"dashboard {method} {path}: {r.status_code} {r.text.strip()}")
        return r.json()

    for s in layout["sentinels"]:
        call("POST", "/api/sentinels", {"addr": s})
    for g in layout["groups"]:
        call("POST", "/api/groups", {"id": g["id"]})
        for addr in g["servers"]:
            call("POST", f"/api/groups/{g['id']}/servers", {"addr": addr})
    call("POST", "/api/slots/rebalance")
    for p in layout["proxies"]:
        call("POST", "/api/proxies", p)


def run(cfg: UpConfig) -> int:
    d = Path(cfg.dir).resolve()
    private_dir(d)
    private_dir(d / "logs")
    lock_fd = os.open(d / "up.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        say(f"xcache up: another `xcache up` is running on {d} (pid {os.pread(lock_fd, 64, 0).decode().strip()})")
        return 2
    os.ftruncate(lock_fd, 0)
    os.pwrite(lock_fd, f"{os.getpid()}\n".encode(), 0)
    reaped = S.reap_previous(d / "run")
    if reaped:
        say("xcache up: stopped what a previous run left running: " + ", ".join(reaped))

    layout_path = d / "up.json"
    if layout_path.exists():
        layout = json.loads(layout_path.read_text())
        say(f"xcache up: reusing {d} (shape and ports of the first run; flags --groups/--replicas/--proxies/"
            "--base-port apply to a new directory only)")
        if cfg.passwords and not layout.get("passwords"):  # a directory made before passwords
            layout["passwords"] = new_passwords()
            write_private(layout_path, json.dumps(layout, indent=1))
    else:
        layout = make_layout(cfg)
        write_private(layout_path, json.dumps(layout, indent=1))
    password_files = write_password_files(d, layout.get("passwords") or {})
    topo_path = d / "coordinator" / "topology.json"
    topo = json.loads(topo_path.read_text())["topology"] if topo_path.exists() else None

    cluster = Cluster(cfg)
    cluster.plan(layout, topo)
    wanted = [a for g in layout["groups"] for a in g["servers"]] + layout["sentinels"] + [layout["dashboard"]]
    wanted += [a for p in layout["proxies"] for a in (p["addr"], p["admin_addr"])]
    busy = [a for a in wanted if _taken(_port(a))]
    if busy:
        say("xcache up: ports already in use: " + ", ".join(busy)
            + "; stop what uses them or pick --base-port")
        return 2

    def on_signal(signum, frame):
        cluster.stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    code = 0
    try:
        cluster.start_all()
        dash = f"http://{layout['dashboard']}"
        api = httpx.Client(base_url=dash, headers={"Authorization": f"Bearer {layout['admin_token']}"}, timeout=30)
        if not (topo and topo.get("groups")):
            bootstrap(api, layout)
        # ready = every proxy holds the slot table
        deadline = time.monotonic() + cfg.start_timeout_ms / 1000
        pending = list(layout["proxies"])
        while pending and not cluster.stopping.is_set():
            p = pending[0]
            try:
                if httpx.get(f"http://{p['admin_addr']}/health", timeout=2).status_code == 200:
                    pending.pop(0)
                    continue
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"proxy {p['addr']} did not get a slot table; see {d / 'logs'}")
            time.sleep(0.1)
        ports = ", ".join(str(_port(p["addr"])) for p in layout["proxies"])
        connect = f"redis-cli -p {_port(layout['proxies'][0]['addr'])}"
        if "proxy" in password_files:
            connect = f"REDISCLI_AUTH=$(cat {password_files['proxy']}) {connect}"
        say(f"""
xcache is up ({len(layout['groups'])} groups, {len(layout['sentinels'])} sentinels, {len(layout['proxies'])} proxies; data in {d})
  connect:    {connect}        (proxy ports: {ports})
  passwords:  {', '.join(f'{k}: {v}' for k, v in password_files.items()) or 'none (passwords = false)'}
  web UI:     {dash}/ui/#token={layout['admin_token']}
  admin CLI:  XCACHE_DASHBOARD={dash} XCACHE_TOKEN={layout['admin_token']} xcache admin overview
  logs:       {d / 'logs'}
Ctrl-C stops everything; run `xcache up --dir {cfg.dir}` again to restart with the same data.""")
        first = cfg.base_port + PACKED["server"] if cfg.base_port else STD["server"]
        control = Control(cluster, layout, layout_path, lambda: httpx.Client(
            base_url=dash, headers=api.headers, timeout=30), (first, first + 99), _taken, say)
        reported = 0.0
        while not cluster.stopping.wait(0.1):
            cluster.supervisor.tick()
            control.tick()
            if time.monotonic() - reported >= 1:  # the report carries the dashboard's requests
                reported = time.monotonic()
                control.report(api)
    except KeyboardInterrupt:
        pass
    except (RuntimeError, httpx.HTTPError) as exc:
        say(f"xcache up: {exc}")
        code = 1
    finally:
        say("xcache up: stopping")
        cluster.stop_all()
        say("xcache up: stopped")
        os.close(lock_fd)
    return code
