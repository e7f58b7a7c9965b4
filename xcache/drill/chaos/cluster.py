"""A whole cluster on virtual hosts: storage, sentinels, etcd, proxies, dashboards, a client.

    s1 s2 s3   storage hosts: group 1 on port 6381 (master s1), group 2 on 6382 (master s2);
               every storage host holds one node of each group
    n1 n2 n3   sentinel hosts (26379), each also one member of the 3-node etcd cluster (2379/2380)
    p1 p2      proxy hosts (19000, admin 11080), one worker each
    d1 d2      dashboard hosts (18080), coordinator etcd; d2 is the standby when ha=True
    c1         the client host: the workload and the harness's own control calls run there

`kind` picks the data nodes and sentinels: "xcache" (xcache server + xcache sentinel) or "redis"
(Debian's redis-server + redis-server --sentinel), behind the same xcache proxies and dashboard.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis

from xcache.drill.chaos.hosts import HarnessError, Hosts

STORAGE = ("s1", "s2", "s3")
SENTINELS = ("n1", "n2", "n3")
PROXIES = ("p1", "p2")
DASHBOARDS = ("d1", "d2")
CLIENT = "c1"
ALL_HOSTS = [*STORAGE, *SENTINELS, *PROXIES, *DASHBOARDS, CLIENT]
GROUP_PORTS = {1: 6381, 2: 6382}
GROUP_MASTER = {1: "s1", 2: "s2"}
SENTINEL_PORT, PROXY_PORT, PROXY_ADMIN, DASH_PORT = 26379, 19000, 11080, 18080
TOKEN = "chaos-admin"
PROXY_TOKEN = "chaos-proxy"


@dataclass
class ClusterOptions:
    kind: str = "xcache"  # xcache | redis
    durable: str = "off"  # off | min-replicas | ack
    down_after_ms: int = 2000
    failover_timeout_ms: int = 6000
    min_replicas_max_lag: int = 10
    write_ack_timeout_ms: int = 1000
    ha: bool = False  # a standby dashboard on d2
    small_disk_bytes: int = 0  # >0: s1's data dir is a tmpfs of this size (disk-full nemesis)
    start_timeout_s: float = 60.0


class Cluster:
    def __init__(self, hosts: Hosts, opts: ClusterOptions):
        self.h, self.o = hosts, opts
        self.wd = hosts.workdir
        self.procs: dict[str, object] = {}  # role name -> Popen
        self.specs: dict[str, tuple[str, list[str], Path]] = {}  # role -> (host, args, log)

    # --- addresses ----------------------------------------------------------------------------
    def ip(self, host: str) -> str:
        return self.h[host].ip

    def node_addr(self, host: str, gid: int) -> str:
        return f"{self.ip(host)}:{GROUP_PORTS[gid]}"

    def proxy_addrs(self) -> list[tuple[str, int]]:
        return [(self.ip(p), PROXY_PORT) for p in PROXIES]

    def dashboard_url(self, host: str = "d1") -> str:
        return f"http://{self.ip(host)}:{DASH_PORT}"

    def etcd_endpoints(self) -> list[str]:
        return [f"http://{self.ip(n)}:2379" for n in SENTINELS]

    # --- processes ----------------------------------------------------------------------------
    def start_role(self, role: str) -> None:
        host, args, log = self.specs[role]
        self.procs[role] = self.h.spawn(host, args, log)

    def define(self, role: str, host: str, args: list[str]) -> None:
        self.specs[role] = (host, args, self.wd / "logs" / f"{role}.log")

    def plan(self) -> None:
        o, py = self.o, [sys.executable, "-m", "xcache.cli"]
        cluster = ",".join(f"e{n}=http://{self.ip(n)}:2380" for n in SENTINELS)
        for n in SENTINELS:
            ip = self.ip(n)
            self.define(f"etcd-{n}", n, [
                "etcd", "--name", f"e{n}", "--data-dir", str(self.wd / n / "etcd"),
                "--listen-client-urls", f"http://{ip}:2379", "--advertise-client-urls", f"http://{ip}:2379",
                "--listen-peer-urls", f"http://{ip}:2380", "--initial-advertise-peer-urls", f"http://{ip}:2380",
                "--initial-cluster", cluster, "--initial-cluster-state", "new",
                "--initial-cluster-token", f"xc-{self.h.run_id}", "--log-level", "warn"])
        for s in STORAGE:
            for gid, port in GROUP_PORTS.items():
                data = self.wd / s / str(port)
                data.mkdir(parents=True, exist_ok=True)
                master = GROUP_MASTER[gid]
                replicaof = "" if s == master else f"{self.ip(master)} {port}"
                if o.kind == "xcache":
                    args = [*py, "server", "--bind", "0.0.0.0", "--port", str(port), "--dir", str(data),
                            "--set", "metrics_port=0", "--set", "rocksdb_write_buffer_bytes=4194304",
                            "--set", "rocksdb_block_cache_bytes=8388608"]
                    if replicaof:
                        args += ["--replicaof", replicaof]
                    if o.small_disk_bytes and s == "s1":
                        # the default threshold (64 MB) cannot be met on a volume this small: resume
                        # once a quarter of it is free again, as an operator would set it
                        args += ["--set", f"disk_resume_free_bytes={o.small_disk_bytes // 4}",
                                 "--set", "disk_check_interval_ms=250"]
                    if o.durable == "min-replicas":
                        args += ["--set", "min_replicas_to_write=1",
                                 "--set", f"min_replicas_max_lag={o.min_replicas_max_lag}"]
                    elif o.durable == "ack":
                        args += ["--set", "write_ack_replicas=1",
                                 "--set", f"write_ack_timeout_ms={o.write_ack_timeout_ms}"]
                else:
                    args = ["redis-server", "--bind", "0.0.0.0", "--port", str(port), "--dir", str(data),
                            "--save", "", "--appendonly", "no", "--protected-mode", "no"]
                    if replicaof:
                        args += ["--replicaof", *replicaof.split()]
                    if o.durable == "min-replicas":  # ack: the proxies hold writes (WAIT), below
                        args += ["--min-replicas-to-write", "1",
                                 "--min-replicas-max-lag", str(o.min_replicas_max_lag)]
                self.define(f"{s}-{port}", s, args)
        for n in SENTINELS:
            if o.kind == "xcache":
                args = [*py, "sentinel", "--bind", "0.0.0.0", "--port", str(SENTINEL_PORT),
                        "--set", f"announce_ip={self.ip(n)}", "--set", f"down_after_ms={o.down_after_ms}",
                        "--set", f"failover_timeout_ms={o.failover_timeout_ms}",
                        "--set", "info_period_ms=1000", "--set", "hello_period_ms=1000"]
            else:
                conf = self.wd / n / "sentinel.conf"
                conf.parent.mkdir(parents=True, exist_ok=True)
                conf.write_text(f"port {SENTINEL_PORT}\nbind 0.0.0.0\nprotected-mode no\n"
                                f"sentinel announce-ip {self.ip(n)}\ndir {conf.parent}\n")
                args = ["redis-server", str(conf), "--sentinel"]
            self.define(f"sentinel-{n}", n, args)
        wait = []
        if o.kind == "redis" and o.durable == "ack":  # redis-server cannot hold a reply: the proxy sends WAIT
            wait = ["--set", "backend_wait_replicas=1", "--set", f"backend_wait_timeout_ms={o.write_ack_timeout_ms}"]
        for p in PROXIES:
            self.define(f"proxy-{p}", p, [
                *py, "proxy", "--bind", "0.0.0.0", "--port", str(PROXY_PORT), "--admin-port", str(PROXY_ADMIN),
                "--workers", "1", "--set", "admin_bind=0.0.0.0", "--set", f"admin_token={PROXY_TOKEN}",
                "--set", "hold_while_master_down=true", *wait])  # as `xcache up` runs them: sentinels fail over
        coord = "etcd://" + ",".join(f"{self.ip(n)}:2379" for n in SENTINELS) + "/xcache/chaos"
        for d in DASHBOARDS[: 2 if o.ha else 1]:
            self.define(f"dashboard-{d}", d, [
                *py, "dashboard", "--coordinator", coord, "--bind", "0.0.0.0", "--port", str(DASH_PORT),
                "--set", f"admin_token={TOKEN}", "--set", f"proxy_admin_token={PROXY_TOKEN}",
                "--set", "reconcile_interval_ms=500", "--set", "request_timeout_ms=1000",
                "--set", f"standby={'true' if o.ha else 'false'}"])

    def start(self) -> None:
        if self.o.small_disk_bytes:
            self.h.mount_tmpfs("s1", self.wd / "s1", self.o.small_disk_bytes)
        self.plan()
        deadline = time.monotonic() + self.o.start_timeout_s
        order = [("etcd-", None), ("s", None), ("sentinel-", None), ("proxy-", None), ("dashboard-d1", None)]
        for prefix, _ in order:
            batch = [r for r in self.specs if r.startswith(prefix) and (prefix != "s" or r[1:2].isdigit())]
            for r in batch:
                self.start_role(r)
            for r in batch:
                self.wait_listening(r, deadline)
        if self.o.kind == "redis":
            pass  # sentinel timings are set per master once the dashboard registered the groups
        self.bootstrap()
        if self.o.ha:
            self.start_role("dashboard-d2")
        self.wait_ready(deadline)

    def _port_of(self, role: str) -> tuple[str, int]:
        host, args, _ = self.specs[role]
        if role.startswith("etcd-"):
            return self.ip(host), 2379
        if role.startswith("proxy-"):
            return self.ip(host), PROXY_ADMIN
        if role.startswith("dashboard-"):
            return self.ip(host), DASH_PORT
        if role.startswith("sentinel-"):
            return self.ip(host), SENTINEL_PORT
        return self.ip(host), int(role.rsplit("-", 1)[1])

    def wait_listening(self, role: str, deadline: float) -> None:
        import socket

        ip, port = self._port_of(role)

        def probe() -> bool:
            try:
                with socket.create_connection((ip, port), timeout=0.5):
                    return True
            except OSError:
                return False

        while True:
            p = self.procs[role]
            if p.poll() is not None:
                raise HarnessError(f"{role} on {self.specs[role][0]} exited with {p.returncode} "
                                   f"before listening: {self.tail(role)}")
            if self.h.call(CLIENT, probe):
                return
            if time.monotonic() > deadline:
                raise HarnessError(f"{role} not listening on {ip}:{port}: {self.tail(role)}")
            time.sleep(0.1)

    def tail(self, role: str, n: int = 300) -> str:
        try:
            return self.specs[role][2].read_text(errors="replace")[-n:].replace("\n", " | ")
        except OSError:
            return ""

    # --- control (runs on the client host) -----------------------------------------------------
    def api(self, method: str, path: str, body: dict | None = None, host: str = "d1", timeout: float = 10.0):
        def go():
            r = httpx.request(method, f"{self.dashboard_url(host)}{path}", json=body, timeout=timeout,
                              headers={"Authorization": f"Bearer {TOKEN}"})
            if r.status_code >= 400:
                raise HarnessError(f"dashboard {method} {path}: {r.status_code} {r.text.strip()[:200]}")
            return r.json()
        return self.h.call(CLIENT, go, timeout=timeout + 5)

    def redis_call(self, addr: tuple[str, int], *args, timeout: float = 2.0):
        def go():
            r = redis.Redis(host=addr[0], port=addr[1], socket_timeout=timeout, socket_connect_timeout=timeout,
                            decode_responses=True, protocol=2)
            try:
                return r.execute_command(*args)
            finally:
                r.close()
        return self.h.call(CLIENT, go, timeout=timeout * 3 + 5)

    def bootstrap(self) -> None:
        for n in SENTINELS:
            self.api("POST", "/api/sentinels", {"addr": f"{self.ip(n)}:{SENTINEL_PORT}"})
        for gid in GROUP_PORTS:
            self.api("POST", "/api/groups", {"id": gid})
            order = [GROUP_MASTER[gid], *(s for s in STORAGE if s != GROUP_MASTER[gid])]
            for s in order:
                self.api("POST", f"/api/groups/{gid}/servers", {"addr": self.node_addr(s, gid)})
        self.api("POST", "/api/slots/rebalance")
        for p in PROXIES:
            self.api("POST", "/api/proxies", {"addr": f"{self.ip(p)}:{PROXY_PORT}",
                                               "admin_addr": f"{self.ip(p)}:{PROXY_ADMIN}"})

    def tune_redis_sentinels(self) -> bool:
        """redis-sentinel: the timings are per master (SENTINEL SET), once it monitors them."""
        done = True
        for n in SENTINELS:
            addr = (self.ip(n), SENTINEL_PORT)
            masters = self.redis_call(addr, "SENTINEL", "MASTERS") or []
            if len(masters) < len(GROUP_PORTS):
                done = False
            for m in masters:
                d = dict(zip(m[::2], m[1::2], strict=False))
                if d.get("down-after-milliseconds") != str(self.o.down_after_ms):
                    self.redis_call(addr, "SENTINEL", "SET", d["name"], "down-after-milliseconds",
                                    str(self.o.down_after_ms), "failover-timeout", str(self.o.failover_timeout_ms))
        return done

    def wait_ready(self, deadline: float) -> None:
        """Every proxy serves writes of both groups; sentinels know every replica."""
        keys = ["{a}", "{b}", "{c}", "{d}", "{e}", "{f}"]
        while True:
            try:
                ok = True
                if self.o.kind == "redis":
                    ok = self.tune_redis_sentinels()
                for addr in self.proxy_addrs():
                    for k in keys:
                        self.redis_call(addr, "SET", f"chaos:ready:{k}", "1")
                for n in SENTINELS:
                    for m in self.redis_call((self.ip(n), SENTINEL_PORT), "SENTINEL", "MASTERS") or []:
                        d = dict(zip(m[::2], m[1::2], strict=False))
                        if int(d.get("num-slaves", 0)) < 2 or int(d.get("num-other-sentinels", 0)) < 2:
                            ok = False
                if ok:
                    return
            except (redis.RedisError, OSError, HarnessError):
                pass
            if time.monotonic() > deadline:
                raise HarnessError("cluster not ready in time (proxies serving, sentinels knowing every "
                                   f"replica and sentinel); logs in {self.wd / 'logs'}")
            time.sleep(0.3)

    def masters(self) -> dict[int, str]:
        """group -> master address: the node answering ROLE master (the first if several)."""
        out = {}
        for gid, port in GROUP_PORTS.items():
            for s in STORAGE:
                try:
                    role = self.redis_call((self.ip(s), port), "ROLE")
                except (redis.RedisError, OSError):
                    continue
                if role and role[0] == "master":
                    out[gid] = self.node_addr(s, gid)
                    break
        return out

    def role_of_addr(self, addr: str) -> str:
        ip, port = addr.rsplit(":", 1)
        host = next(h for h in STORAGE if self.ip(h) == ip)
        return f"{host}-{port}"

    def snapshot(self) -> dict:
        return {"hosts": {n: h.ip for n, h in self.h.hosts.items()}, "roles": sorted(self.specs)}

    def describe(self) -> str:
        return json.dumps(self.snapshot())
