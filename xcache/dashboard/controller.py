"""The controller (Codis's topom): owns the topology and wires the concerns together.

- Every change goes through `_change(fn, ...)`: a pure function of xcache.dashboard.topology
  gives the new topology, it is saved in the coordinator (compare-and-swap on the revision),
  then pushed to every proxy (PUT /slots, epoch-versioned) and verified (GET /slots).
- A reconcile loop (every reconcile_interval_ms) keeps the world in line with the topology:
  proxies that missed a push or restarted get the table again, sentinels monitor exactly the
  groups (`group-N`), registered proxies are adopted, and stats are collected for the API/UI.
- Failover with no human in the loop: a watcher per sentinel subscribes to `+switch-master`;
  the reported new master is accepted only when a majority of the sentinels answer it to
  SENTINEL GET-MASTER-ADDR-BY-NAME and the node itself answers ROLE = master. The reconcile loop
  asks the same questions, so a missed message is caught up within a period.

The decisions live in one module per concern, as pure functions with a thin async shell each:
failover.py (manual promote, following switches), proxies.py (tables, pushes, stats),
sentinels.py (configuring and watching sentinels), nodes.py (polling storage nodes), alerts.py
(which alerts fire, the webhook), scale.py (whether and how to scale), migration.py (moving
slots), overview.py (what the API and the UI show). This module holds the state they share
and the API's verbs.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections import deque
from collections.abc import Callable, Coroutine

import httpx

from xcache.dashboard import leader, nodes
from xcache.dashboard import overview as O
from xcache.dashboard import topology as T
from xcache.dashboard.alerts import Alerting
from xcache.dashboard.config import DashboardConfig
from xcache.dashboard.coordinator import Conflict, Coordinator, CoordinatorError
from xcache.dashboard.failover import Failover
from xcache.dashboard.history import History
from xcache.dashboard.migration import Migrator
from xcache.dashboard.nodes import parse_info, split_addr
from xcache.dashboard.proxies import Proxies
from xcache.dashboard.scale import Scaler
from xcache.dashboard.sentinels import Sentinels
from xcache.dashboard.uprequests import UpRequests
from xcache.observability.logs import log_event

__all__ = ["Controller", "parse_info", "split_addr"]


def log(event: str, level: str = "info", **fields) -> None:
    log_event("dashboard", event, level, **fields)


class Controller:
    def __init__(self, cfg: DashboardConfig, coord: Coordinator):
        self.cfg = cfg
        self.coord = coord
        self.topo = T.Topology()
        self.revision = 0
        self.lock = asyncio.Lock()
        self.timeout = cfg.request_timeout_ms / 1000
        self.proxy_state: dict[str, dict] = {}
        self.server_state: dict[str, dict] = {}
        self.sentinel_state: dict[str, dict] = {}
        self.events: deque[dict] = deque(maxlen=200)
        self.counters = {"pushes_ok": 0, "pushes_failed": 0, "failovers_followed": 0,
                         "switches_unconfirmed": 0, "reconciles": 0}
        self._tasks: list[asyncio.Task] = []
        self._followers: set[asyncio.Task] = set()
        self._http: httpx.AsyncClient | None = None
        self._wake = asyncio.Event()
        self.started = time.time()
        self.fatal: str | None = None
        self.odown_seen: dict[str, float] = {}  # group name -> when a sentinel published +odown
        self.supervised: dict = {}  # what `xcache up` last reported (PUT /api/supervisor)
        self.up_requests = UpRequests()  # grow/shrink requests relayed to `xcache up`
        self.history = History(cfg.history_resolution_ms / 1000, cfg.history_keep_ms / 1000)
        self.api_addr = ""
        self.log = log
        self.failover = Failover(self)
        self.proxies = Proxies(self)
        self.sentinels = Sentinels(self)
        self.alerting = Alerting(self)
        self.scaler = Scaler(self)
        self.migrator = Migrator(self)

    # --- lifecycle ----------------------------------------------------------------------------
    async def start(self, api_addr: str = "") -> None:
        owner = {"pid": os.getpid(), "host": socket.gethostname(), "api": api_addr,
                 "since": int(time.time())}
        self.api_addr = api_addr
        await self.coord.open(owner)
        doc, self.revision = await self.coord.load()
        if doc is not None:
            self.topo = T.Topology.from_json(doc)
        self._http = httpx.AsyncClient(timeout=self.timeout)
        log("started", coordinator=self.coord.url, epoch=self.topo.epoch, revision=self.revision)
        self._tasks.append(asyncio.create_task(self._reconcile_loop()))
        self._tasks.append(asyncio.create_task(self._keepalive_loop()))
        self.migrator.start()  # resumes a migration a previous dashboard left unfinished

    async def stop(self) -> None:
        await self.migrator.stop()
        tasks = [*self._tasks, *self.sentinels.watchers.values(), *self._followers]
        for t in tasks:
            t.cancel()
        for t in tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks.clear()
        self.sentinels.watchers.clear()
        self.scaler.stop()
        if self._http is not None:
            await self._http.aclose()
        await self.coord.close()
        log("stopped")

    def event(self, kind: str, level: str = "info", **fields) -> None:
        self.events.append({"time": time.time(), "kind": kind, "level": level, **fields})
        log(kind, level, **fields)

    def spawn(self, coro: Coroutine) -> None:
        """Run coro in the background (cancelled by stop())."""
        task = asyncio.create_task(coro)
        self._followers.add(task)
        task.add_done_callback(self._followers.discard)

    async def _redis(self, addr: str, *args, password: str | None = None):
        """One command to a storage node (the server password) or a sentinel (password="")."""
        pw = self.cfg.server_password if password is None else password
        return await nodes.call(addr, *args, password=pw, timeout=self.timeout)

    # --- topology changes ---------------------------------------------------------------------
    async def _change(self, fn: Callable, *args) -> T.Topology:
        """Apply fn(topology, *args) -> topology, persist, push. Caller holds self.lock."""
        new = fn(self.topo, *args)
        if isinstance(new, tuple):
            new = new[0]
        if new is self.topo:
            return new
        try:
            self.revision = await self.coord.save(new.to_json(), self.revision)
        except Conflict:
            doc, self.revision = await self.coord.load()  # someone edited it: take theirs
            if doc is not None:
                self.topo = T.Topology.from_json(doc)
            raise
        self.topo = new
        self.event("topology", change=fn.__name__, epoch=new.epoch, args=",".join(map(str, args)))
        await self.push_all()
        return new

    async def create_group(self, gid: int | None = None) -> dict:
        async with self.lock:
            _, gid = T.add_group(self.topo, gid)  # validates, picks the next id
            await self._change(T.add_group, gid)
            return {"group": gid, "epoch": self.topo.epoch}

    async def remove_group(self, gid: int) -> dict:
        async with self.lock:
            await self._change(T.remove_group, gid)
            await self.sentinels.unwatch_group(gid)
            return {"epoch": self.topo.epoch}

    async def add_server(self, gid: int, addr: str) -> dict:
        addr = T.check_addr(addr)
        async with self.lock:
            before = self.topo.groups.get(int(gid))
            master = before.master if before else ""
            if before is not None and self.topo.group_of_server(addr) is None:
                await self._redis(addr, "PING")  # refuse servers that do not answer
            await self._change(T.add_server, gid, addr)
            if master:
                await self._redis(addr, "REPLICAOF", *split_addr(master))
                self.event("replicaof", server=addr, master=master)
            else:
                await self._redis(addr, "REPLICAOF", "NO", "ONE")
                await self.sentinels.monitor_group(self.topo.groups[int(gid)])
            return {"epoch": self.topo.epoch}

    async def remove_server(self, gid: int, addr: str) -> dict:
        async with self.lock:
            await self._change(T.remove_server, gid, addr)
            if not self.topo.groups[int(gid)].master:
                await self.sentinels.unwatch_group(gid)
            return {"epoch": self.topo.epoch}

    async def promote(self, gid: int, addr: str, force: bool = False) -> dict:
        """Manual switch with the old master's writes paused (failover.promote_plan)."""
        addr = T.check_addr(addr)
        async with self.lock:
            await self.failover.promote(gid, addr, force)
            return {"epoch": self.topo.epoch, "master": addr}

    async def assign_slots(self, gid: int, slots: str | list[int]) -> dict:
        slot_list = T.parse_slots(slots) if isinstance(slots, str) else [int(s) for s in slots]
        async with self.lock:
            await self._change(T.assign_slots, slot_list, gid)
            return {"epoch": self.topo.epoch, "slots": len(slot_list)}

    async def rebalance(self) -> dict:
        """Even out the slots: unassigned ones are given at once, owned ones migrate online."""
        async with self.lock:
            await self._change(T.rebalance)
        self.migrator.wake()
        t = self.topo
        planned = [t.pending.get(s, gid) for s, gid in enumerate(t.slots)]  # once the moves are done
        counts = {str(g): planned.count(g) for g in sorted(set(planned) | set(t.groups))}
        return {"epoch": t.epoch, "slot_counts": counts, "slots_to_migrate": len(t.pending),
                "migration": self.migrator.status()}

    # --- online migration (the work itself is done by self.migrator) ---------------------------
    async def migrate_slots(self, source: int, target: int, slots: str | list[int]) -> dict:
        slot_list = T.parse_slots(slots) if isinstance(slots, str) else [int(s) for s in slots]
        async with self.lock:
            await self._change(T.plan_migration, slot_list, source, target)
        self.event("migration_planned", source=source, target=target, slots=len(slot_list))
        self.migrator.wake()
        return {"epoch": self.topo.epoch, "slots": len(slot_list), "migration": self.migrator.status()}

    async def set_migration(self, paused: bool | None = None, keys_per_second: int | None = None) -> dict:
        async with self.lock:
            await self._change(T.set_migration, paused, keys_per_second)
        self.event("migration_settings", paused=self.topo.migration_paused,
                   keys_per_second=self.topo.migration_keys_per_second)
        self.migrator.wake()
        return {"epoch": self.topo.epoch, **self.migrator.status()}

    async def cancel_migration(self) -> dict:
        async with self.lock:
            await self._change(T.cancel_pending)
        self.event("migration_cancelled", migrating=len(self.topo.migrating))
        return {"epoch": self.topo.epoch, **self.migrator.status()}

    async def add_proxy(self, addr: str, admin_addr: str) -> dict:
        async with self.lock:
            await self._change(T.add_proxy, addr, admin_addr)
            return {"epoch": self.topo.epoch, "proxy": self.proxy_state.get(T.check_addr(addr), {})}

    async def remove_proxy(self, addr: str) -> dict:
        async with self.lock:
            await self._change(T.remove_proxy, addr)
            self.proxy_state.pop(T.check_addr(addr), None)
            try:
                await self.coord.unregister_proxy(T.check_addr(addr))
            except CoordinatorError:
                pass
            return {"epoch": self.topo.epoch}

    async def add_sentinel(self, addr: str) -> dict:
        async with self.lock:
            await self._change(T.add_sentinel, addr)
            await self.sentinels.sync()
            return {"epoch": self.topo.epoch}

    async def remove_sentinel(self, addr: str) -> dict:
        async with self.lock:
            await self._change(T.remove_sentinel, addr)
            self.sentinels.forget(T.check_addr(addr))
            return {"epoch": self.topo.epoch}

    async def push_all(self, only: list[str] | None = None) -> dict[str, dict]:
        """Push the slot table to the proxies (proxies.Proxies.push_all). Caller holds self.lock."""
        return await self.proxies.push_all(only)

    async def follow_switch(self, gid: int, addr: str, attempts: int = 10) -> bool:
        return await self.failover.follow_switch(gid, addr, attempts)

    def quorum(self) -> int:
        return self.sentinels.quorum()

    # --- reconcile ----------------------------------------------------------------------------
    def wake(self) -> None:
        self._wake.set()

    async def _reconcile_loop(self) -> None:
        period = self.cfg.reconcile_interval_ms / 1000
        while True:
            if self.fatal:
                return
            try:
                await self.reconcile_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log("reconcile_error", "warning", error=repr(exc))
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), period)
            except TimeoutError:
                pass

    async def _keepalive_loop(self) -> None:
        """Keep the coordinator ownership (etcd lease) alive, independently of slow reconciles.
        Losing it is fatal: the process exits rather than act on a topology it no longer owns."""
        failures = 0
        while True:
            await asyncio.sleep(1.0)
            try:
                await leader.renew(self.coord)
                failures = 0
            except CoordinatorError as exc:
                failures += 1
                lost = "lost" in str(exc) or "not owned" in str(exc) or not leader.lease_fresh(self.coord)
                if lost or failures >= 5:
                    self.fatal = str(exc)
                    self.event("ownership_lost", "error", error=str(exc))
                    return
                log("keepalive_failed", "warning", error=str(exc))

    async def reconcile_once(self) -> None:
        async with self.lock:
            await self.sentinels.sync()
        await self.failover.poll()
        try:
            table = T.slot_table(self.topo)
        except T.TopologyError:
            table = None
        proxies = list(self.topo.proxies.values())
        stale = await asyncio.gather(*(self.proxies.check(p, table) for p in proxies))
        if any(stale):
            async with self.lock:
                await self.push_all(only=[p.addr for p, st in zip(proxies, stale, strict=True) if st])
        await nodes.poll(self)
        await self.failover.lift_fences()
        self.record_history()
        await self.proxies.adopt_registered()
        self.counters["reconciles"] += 1
        await self.evaluate_alerts()
        if self.cfg.scale_mode != "off":
            await self.scaler.autoscale()

    def record_history(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        if self.history.due(now):
            t = self.topo
            self.history.record(
                now, {a: (st.get("stats") if st.get("up") else None)
                      for a, st in self.proxy_state.items() if a in t.proxies},
                {s: self.server_state.get(s, {}) for g in t.groups.values() for s in g.servers})

    # --- alerts and scale-out (alerts.Alerting, scale.Scaler) ---------------------------------
    @property
    def active_alerts(self) -> list[dict]:
        return self.alerting.active

    def alert_snapshot(self) -> dict:
        return self.alerting.snapshot()

    async def evaluate_alerts(self, now: float | None = None) -> None:
        await self.alerting.evaluate(now)

    async def autoscale(self, now: float | None = None) -> str | None:
        return await self.scaler.autoscale(now)

    # --- views for the API --------------------------------------------------------------------
    def overview(self) -> dict:
        t, now = self.topo, time.time()
        groups = O.groups_view(t, self.server_state)
        proxies = O.proxies_view(t, self.proxy_state)
        events = [e for e in self.events if e["level"] in ("warning", "error")][-20:]
        alerts = events + O.conditions(proxies, groups, now) + O.alert_lines(self.active_alerts)
        return {"active_alerts": O.active_alerts_view(self.active_alerts),
                "alerts_fired": {k: v for k, v in self.alerting.evaluator.fired_total.items() if v},
                "scale": {"mode": self.cfg.scale_mode, "extra": self.scaler.state.extra,
                          "added": [a for a, _ in self.scaler.scaled],
                          "added_workers": {a: n for a, n in self.scaler.added_workers.items() if n}},
                "epoch": t.epoch, "revision": self.revision, "coordinator": self.coord.url,
                "migration": self.migrator.status(), "groups": groups, "proxies": proxies,
                "sentinels": [{"addr": s, **self.sentinel_state.get(s, {})} for s in t.sentinels],
                "slot_ranges": t.summary()["slot_ranges"], "totals": O.totals(proxies),
                "alerts": alerts, "counters": dict(self.counters),
                "warnings": O.warnings(groups, self.cfg.replica_lag_warn_bytes),
                "supervised": self.supervised.get("children") or {},
                "uptime_s": int(time.time() - self.started)}
