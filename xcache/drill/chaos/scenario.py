"""One chaos scenario end to end: hosts up, cluster up, workload, fault, heal, converge, check.

Timeline (all bounded):
    warmup_s of normal traffic -> nemesis.start -> hold_s -> nemesis.heal ->
    until a write of each group succeeds through every proxy (recover_timeout_s) ->
    settle_s more traffic -> workload stops -> until every group has one master and caught-up
    replicas (converge_timeout_s) -> read every key back through a proxy -> checker.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import redis

from xcache.drill.chaos.checker import check
from xcache.drill.chaos.cluster import (
    ALL_HOSTS,
    CLIENT,
    GROUP_PORTS,
    STORAGE,
    Cluster,
    ClusterOptions,
)
from xcache.drill.chaos.hosts import HarnessError, Hosts, missing_requirements
from xcache.drill.chaos.nemesis import NEMESES
from xcache.drill.chaos.workload import Workload, WorkloadOptions, read_final


@dataclass
class ScenarioOptions:
    nemesis: str = "isolate-master"
    kind: str = "xcache"
    durable: str = "off"
    warmup_s: float = 3.0
    hold_s: float = 8.0
    settle_s: float = 3.0
    recover_timeout_s: float = 60.0
    converge_timeout_s: float = 60.0
    clients: int = 4
    rate: float = 40.0
    workdir: str = "/tmp/xcache-chaos"
    seed: int = 1


@dataclass
class Result:
    nemesis: str
    kind: str
    durable: str
    verdict: dict = field(default_factory=dict)
    timeline: dict = field(default_factory=dict)
    error: str = ""
    leftovers: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


def group_keys() -> dict[int, str]:
    """One key per slot-table group is not knowable here; keys with many tags cover both."""
    return {i: f"chaos:probe:{{{chr(97 + i)}}}" for i in range(8)}


def converged(cluster: Cluster) -> bool:
    """Every group: exactly one node answers ROLE master, the others replicate it, caught up."""
    for port in GROUP_PORTS.values():
        roles = {}
        for s in STORAGE:
            roles[s] = cluster.redis_call((cluster.ip(s), port), "ROLE")
        masters = [s for s, r in roles.items() if r[0] == "master"]
        if len(masters) != 1:
            return False
        m = masters[0]
        offset = int(roles[m][1])
        replicas = roles[m][2] or []
        if len(replicas) != len(STORAGE) - 1 or any(int(r[2]) < offset for r in replicas):
            return False
    return True


def replicas_differ(cluster: Cluster, ops: list) -> str:
    """Groups whose nodes, once converged, disagree: the number of keys, or a counter's value or a
    list's length (a write a replica skipped), e.g. `g1:s1,s2|s3`; empty when all agree."""
    shared = sorted({(op.kind, op.key) for op in ops if op.kind in ("incr", "rpush")})

    def state(addr: tuple[str, int]) -> tuple:
        r = redis.Redis(*addr, socket_timeout=5, decode_responses=True, protocol=2)
        try:
            pipe = r.pipeline(transaction=False)
            pipe.dbsize()
            for kind, key in shared:
                pipe.get(key) if kind == "incr" else pipe.llen(key)
            return tuple(pipe.execute())
        finally:
            r.close()

    out = []
    for gid, port in GROUP_PORTS.items():
        seen: dict[tuple, list[str]] = {}
        for s in STORAGE:
            seen.setdefault(cluster.h.call(CLIENT, state, (cluster.ip(s), port), timeout=30), []).append(s)
        if len(seen) > 1:
            out.append(f"g{gid}:" + "|".join(",".join(hs) for hs in seen.values()))
    return " ".join(out)


def run_scenario(o: ScenarioOptions, progress=print) -> Result:
    missing = missing_requirements(("ip", "firewall", "tc", "etcd") + (("redis-server",) if o.kind == "redis" else ()))
    if missing:
        raise HarnessError("missing: " + ", ".join(missing))
    res = Result(o.nemesis, o.kind, o.durable)
    nem = NEMESES[o.nemesis]()
    copts = ClusterOptions(kind=o.kind, durable=o.durable, ha=o.nemesis == "isolate-dashboard",
                           small_disk_bytes=64 << 20 if o.nemesis == "disk-full" else 0)
    workdir = Path(o.workdir) / f"{o.kind}-{o.durable}-{o.nemesis}"
    shutil.rmtree(workdir, ignore_errors=True)  # a fresh etcd and fresh data for every run
    hosts = Hosts(ALL_HOSTS, workdir)
    try:
        with hosts:
            cluster = Cluster(hosts, copts)
            t0 = time.monotonic()
            cluster.start()
            progress(f"  {o.kind}/{o.durable}/{o.nemesis}: cluster up in {time.monotonic() - t0:.1f}s "
                     f"(run {hosts.run_id})")
            wl = Workload(WorkloadOptions(proxies=cluster.proxy_addrs(), clients=o.clients, rate=o.rate,
                                          run_id=hosts.run_id, seed=o.seed))
            hosts.call(CLIENT, wl.start)
            time.sleep(o.warmup_s)
            t_fault = time.monotonic()
            try:
                nem.start(cluster)
                time.sleep(o.hold_s)
            finally:
                nem.heal(cluster)
            t_heal = time.monotonic()
            wait_writable(cluster, o.recover_timeout_s)
            t_writable = time.monotonic()
            time.sleep(o.settle_s)
            ops = hosts.call(CLIENT, wl.stop)
            t_end = time.monotonic()
            deadline = time.monotonic() + o.converge_timeout_s
            while not _safe(converged, cluster):
                if time.monotonic() > deadline:
                    raise HarnessError(f"groups did not converge (one master, caught-up replicas) in "
                                       f"{o.converge_timeout_s}s; logs in {workdir / 'logs'}")
                time.sleep(0.3)
            differ = replicas_differ(cluster, ops)
            final = hosts.call(CLIENT, read_final, ops, *cluster.proxy_addrs()[0], timeout=120)
            res.verdict = check(ops, final, t_fault, t_end).to_json()
            res.timeline = {"hold_s": round(t_heal - t_fault, 2), "writable_after_heal_s": round(t_writable - t_heal, 2),
                            "ops": len(ops), **nem.notes}
            if differ:  # caught-up replicas holding another number of keys than their master
                res.timeline["replicas_differ"] = differ
    except HarnessError as exc:
        res.error = str(exc)
    except (OSError, RuntimeError, ValueError, KeyError, TimeoutError, redis.RedisError) as exc:
        res.error = f"{type(exc).__name__}: {exc}"  # hosts are torn down all the same
    res.leftovers = hosts.leftovers()
    return res


def _safe(fn, *args) -> bool:
    try:
        return bool(fn(*args))
    except (redis.RedisError, OSError, HarnessError, IndexError, ValueError, TypeError):
        return False


def wait_writable(cluster: Cluster, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    pending = [(addr, key) for addr in cluster.proxy_addrs() for key in group_keys().values()]
    while pending:
        addr, key = pending[0]
        if _safe(cluster.redis_call, addr, "SET", key, "1"):
            pending.pop(0)
            continue
        if time.monotonic() > deadline:
            raise HarnessError(f"proxy {addr[0]} still refuses writes {timeout_s}s after the heal")
        time.sleep(0.2)
