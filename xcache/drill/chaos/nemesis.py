"""Nemeses: faults injected into the virtual hosts, each started, held for a bounded time, healed.

A nemesis has `start(cluster)` and `heal(cluster)`; the runner calls heal in a `finally`, so a
fault never outlives its scenario. Partitions are iptables DROP rules inside the namespace of the
isolated host (INPUT from and OUTPUT to the peers it is cut from; `iptables -F` heals), so the
machine's own firewall is never touched. Where iptables is missing, nft is used the same way.

Delay, loss and reordering would be `tc qdisc add dev <veth> root netem delay 200ms loss 5%`
here, but this kernel is built without sch_netem (CONFIG_NET_SCH_NETEM is not set): the only link
fault available is a bandwidth cap (tbf), used by `bandwidth-full-sync`.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time

from xcache.drill.chaos.cluster import (
    CLIENT,
    DASHBOARDS,
    GROUP_PORTS,
    SENTINELS,
    STORAGE,
    Cluster,
)
from xcache.drill.chaos.hosts import HarnessError


def _firewall(cluster: Cluster, host: str, peers: list[str]) -> None:
    ips = [cluster.ip(p) for p in peers if p != host]
    if shutil.which("iptables"):
        for ip in ips:
            cluster.h.sh(host, "iptables", "-A", "INPUT", "-s", ip, "-j", "DROP")
            cluster.h.sh(host, "iptables", "-A", "OUTPUT", "-d", ip, "-j", "DROP")
        return
    cluster.h.sh(host, "nft", "add", "table", "inet", "chaos")
    for chain, hook, field in (("in", "input", "saddr"), ("out", "output", "daddr")):
        cluster.h.sh(host, "nft", "add", "chain", "inet", "chaos", chain,
                     f"{{ type filter hook {hook} priority 0 ; }}")
        for ip in ips:
            cluster.h.sh(host, "nft", "add", "rule", "inet", "chaos", chain, "ip", field, ip, "drop")


def _unfirewall(cluster: Cluster, host: str) -> None:
    if shutil.which("iptables"):
        cluster.h.sh(host, "iptables", "-F", check=False)
    else:
        cluster.h.sh(host, "nft", "delete", "table", "inet", "chaos", check=False)


class Nemesis:
    name = "none"
    describe = "no fault (baseline)"

    def __init__(self) -> None:
        self.notes: dict = {}  # measurements the nemesis makes (takeover time, sync time...)

    def start(self, cluster: Cluster) -> None:
        pass

    def heal(self, cluster: Cluster) -> None:
        pass


class KillMaster(Nemesis):
    """kill -9 group 1's master; restarted as it was at heal (the sentinels demote it)."""

    name, describe = "kill-master", "kill -9 of group 1's master, restarted after the hold"

    def start(self, cluster: Cluster) -> None:
        self.role = cluster.role_of_addr(cluster.masters()[1])
        cluster.procs[self.role].kill()
        cluster.procs[self.role].wait(10)

    def heal(self, cluster: Cluster) -> None:
        role = getattr(self, "role", None)
        if role and cluster.procs[role].poll() is not None:
            cluster.start_role(role)


class PauseMaster(Nemesis):
    """SIGSTOP of group 1's master, SIGCONT at heal (a hung process, not a dead one)."""

    name, describe = "pause-master", "SIGSTOP of group 1's master, SIGCONT after the hold"

    def start(self, cluster: Cluster) -> None:
        self.role = cluster.role_of_addr(cluster.masters()[1])
        os.kill(cluster.procs[self.role].pid, signal.SIGSTOP)

    def heal(self, cluster: Cluster) -> None:
        if getattr(self, "role", None):
            os.kill(cluster.procs[self.role].pid, signal.SIGCONT)


class IsolateMaster(Nemesis):
    """Group 1's master host cut from the sentinels, the dashboards and the other storage hosts
    (its replicas), still reachable by the proxies and the client: it keeps taking writes while
    the other side elects a new master; at heal it is made a replica and drops them."""

    name = "isolate-master"
    describe = "group 1's master cut from sentinels, dashboards and its replicas; proxies still reach it"

    def start(self, cluster: Cluster) -> None:
        self.host = cluster.role_of_addr(cluster.masters()[1]).split("-")[0]
        _firewall(cluster, self.host, [*SENTINELS, *DASHBOARDS, *STORAGE])

    def heal(self, cluster: Cluster) -> None:
        if getattr(self, "host", None):
            _unfirewall(cluster, self.host)


class FlappingPartition(Nemesis):
    """The isolate-master partition re-formed again and again: 3 s cut, 2 s healed, each time
    around whichever node is group 1's master then (it moves with the failovers)."""

    name = "flapping-partition"
    describe = "group 1's current master isolated 3 s, healed 2 s, repeated for the hold"
    on_s, off_s = 3.0, 2.0

    def start(self, cluster: Cluster) -> None:
        self.stop = threading.Event()
        self.notes["partitions"] = 0
        self.thread = threading.Thread(target=self._flap, args=(cluster,), daemon=True)
        self.thread.start()

    def _flap(self, cluster: Cluster) -> None:
        while not self.stop.is_set():
            master = cluster.masters().get(1)
            if master:
                host = cluster.role_of_addr(master).split("-")[0]
                _firewall(cluster, host, [*SENTINELS, *DASHBOARDS, *STORAGE])
                self.notes["partitions"] += 1
                self.stop.wait(self.on_s)
                _unfirewall(cluster, host)
            self.stop.wait(self.off_s)

    def heal(self, cluster: Cluster) -> None:
        if getattr(self, "thread", None):
            self.stop.set()
            self.thread.join(30)
        for host in STORAGE:
            _unfirewall(cluster, host)


class IsolateProxy(Nemesis):
    """p1 cut from the dashboards while group 1's master is killed: p1 keeps its old table."""

    name = "isolate-proxy"
    describe = "proxy p1 cut from the dashboards while group 1's master is killed and restarted"

    def start(self, cluster: Cluster) -> None:
        _firewall(cluster, "p1", list(DASHBOARDS))
        self.kill = KillMaster()
        self.kill.start(cluster)

    def heal(self, cluster: Cluster) -> None:
        if hasattr(self, "kill"):
            self.kill.heal(cluster)
        _unfirewall(cluster, "p1")


class SentinelMinority(Nemesis):
    name, describe = "sentinel-minority", "sentinel host n1 cut from every other host"

    def start(self, cluster: Cluster) -> None:
        _firewall(cluster, "n1", list(cluster.h.hosts))

    def heal(self, cluster: Cluster) -> None:
        _unfirewall(cluster, "n1")


class IsolateEtcdLeader(Nemesis):
    """The etcd leader's host cut from every other host (a new leader is elected among the rest)."""

    name, describe = "isolate-etcd-leader", "the etcd leader's host cut from every other host"

    def start(self, cluster: Cluster) -> None:
        self.host = etcd_leader(cluster)
        _firewall(cluster, self.host, list(cluster.h.hosts))

    def heal(self, cluster: Cluster) -> None:
        if getattr(self, "host", None):
            _unfirewall(cluster, self.host)


def etcd_leader(cluster: Cluster) -> str:
    import httpx

    def status(n: str) -> dict:
        return httpx.post(f"http://{cluster.ip(n)}:2379/v3/maintenance/status", json={}, timeout=2).json()

    for n in SENTINELS:
        st = cluster.h.call(CLIENT, status, n)
        if st.get("leader") and st.get("leader") == (st.get("header") or {}).get("member_id"):
            return n
    raise HarnessError("no etcd leader found")


class IsolateDashboard(Nemesis):
    """The active dashboard cut from everything, then group 1's master killed: the standby
    dashboard (d2) must take over through etcd and follow the failover; d1 must stop acting
    (fenced, then exits). Held until d2 is active and d1 has exited (bounded)."""

    name = "isolate-dashboard"
    describe = "active dashboard d1 cut from every host, kill -9 of group 1's master; standby d2 takes over"
    timeout_s = 40.0

    def start(self, cluster: Cluster) -> None:
        import httpx

        t0 = time.monotonic()
        _firewall(cluster, "d1", list(cluster.h.hosts))
        self.kill = KillMaster()
        self.kill.start(cluster)

        def active() -> bool:
            try:
                return httpx.get(f"{cluster.dashboard_url('d2')}/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        log = cluster.specs["dashboard-d1"][2]
        while True:
            now = round(time.monotonic() - t0, 2)
            if "old_leader_stopped_s" not in self.notes and "event=ownership_lost" in log.read_text(errors="replace"):
                self.notes["old_leader_stopped_s"] = now
            if "takeover_s" not in self.notes and cluster.h.call(CLIENT, active):
                self.notes["takeover_s"] = now
            if len(self.notes) == 2:
                return
            if time.monotonic() - t0 > self.timeout_s:
                raise HarnessError(f"isolate-dashboard: after {self.timeout_s}s {self.notes} "
                                   f"(d1 fenced and d2 active expected)")
            time.sleep(0.1)

    def heal(self, cluster: Cluster) -> None:
        if hasattr(self, "kill"):
            self.kill.heal(cluster)
        _unfirewall(cluster, "d1")


class DiskFull(Nemesis):
    """Group 1's master's data dir (a small tmpfs) filled to the last byte; freed at heal."""

    name, describe = "disk-full", "group 1's master's data dir (tmpfs) filled up"

    def start(self, cluster: Cluster) -> None:
        host = cluster.role_of_addr(cluster.masters()[1]).split("-")[0]
        if not os.path.ismount(cluster.wd / host):  # never fill the machine's own disk
            raise HarnessError(f"disk-full: group 1's master is on {host}, whose data dir is not a tmpfs")
        self.filler = cluster.wd / host / "filler"
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        chunk = b"\0" * (1 << 16)
        try:
            while os.write(fd, chunk) > 0:
                pass
        except OSError:  # ENOSPC: full
            pass
        finally:
            os.close(fd)

    def heal(self, cluster: Cluster) -> None:
        if getattr(self, "filler", None):
            self.filler.unlink(missing_ok=True)


class BandwidthFullSync(Nemesis):
    """s3's link capped (tbf) while its group 1 replica does a full sync from scratch of
    `preload_bytes` written beforehand; notes the sync time (the cap is lifted at heal, so a
    sync longer than the hold ends uncapped)."""

    name = "bandwidth-full-sync"
    describe = "s3's link capped at 8 Mbit/s (tc tbf) during a full sync of its group 1 replica"
    rate = "8mbit"
    preload_bytes = 4 << 20

    def start(self, cluster: Cluster) -> None:
        from xcache.keyslot import slot_of

        size = 2048  # random bytes: RocksDB's compression must not shrink the snapshot
        keys = [k for k in (f"chaos:bulk:{i}" for i in range(4 * self.preload_bytes // size))
                if slot_of(k.encode()) < 512][: self.preload_bytes // size]  # group 1's slots

        def preload() -> None:
            import redis

            r = redis.Redis(*cluster.proxy_addrs()[0], socket_timeout=10, protocol=2)
            try:
                for i in range(0, len(keys), 200):
                    pipe = r.pipeline(transaction=False)
                    for k in keys[i:i + 200]:
                        pipe.set(k, os.urandom(size))
                    pipe.execute()
            finally:
                r.close()

        cluster.h.call(CLIENT, preload, timeout=120)
        h = cluster.h["s3"]
        cluster.h.run_in_switch("tc", "qdisc", "add", "dev", h.veth, "root", "tbf", "rate", self.rate,
                                "burst", "32kbit", "latency", "400ms")
        self.role = f"s3-{GROUP_PORTS[1]}"
        p = cluster.procs[self.role]
        p.kill()
        p.wait(10)
        data = cluster.wd / "s3" / str(GROUP_PORTS[1])
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir()
        cluster.start_role(self.role)
        self.t0 = time.monotonic()
        self.notes["preload_mb"] = round(len(keys) * size / 1e6, 1)
        self.done = threading.Event()
        threading.Thread(target=self._watch, args=(cluster,), daemon=True).start()

    def _watch(self, cluster: Cluster) -> None:
        """Notes when the replica's link is up again (the full sync is over)."""
        addr = (cluster.ip("s3"), GROUP_PORTS[1])
        while not self.done.is_set() and time.monotonic() - self.t0 < 120:
            try:
                info = cluster.redis_call(addr, "INFO", "replication")
                if isinstance(info, dict) and info.get("master_link_status") == "up":
                    self.notes["full_sync_s"] = round(time.monotonic() - self.t0, 2)
                    return
            except Exception:  # noqa: BLE001 - still starting or loading
                pass
            time.sleep(0.2)

    def heal(self, cluster: Cluster) -> None:
        if getattr(self, "done", None):
            self.notes.setdefault("capped_s", round(time.monotonic() - self.t0, 2))
        cluster.h.run_in_switch("tc", "qdisc", "del", "dev", cluster.h["s3"].veth, "root", check=False)


NEMESES = {n.name: n for n in (Nemesis, KillMaster, PauseMaster, IsolateMaster, FlappingPartition, IsolateProxy, SentinelMinority,
                               IsolateEtcdLeader, IsolateDashboard, DiskFull, BandwidthFullSync)}
