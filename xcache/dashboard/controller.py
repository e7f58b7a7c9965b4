"""The controller (Codis's topom): owns the topology, acts on servers, sentinels and proxies.

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
"""

from __future__ import annotations

import asyncio
import os
import shlex
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable

import httpx
import redis.asyncio as aredis

from xcache.dashboard import alerts as A
from xcache.dashboard import leader
from xcache.dashboard import scale as S
from xcache.dashboard import topology as T
from xcache.dashboard.config import DashboardConfig
from xcache.dashboard.coordinator import Conflict, Coordinator, CoordinatorError
from xcache.dashboard.migration import Migrator
from xcache.observability.logs import log_event


def log(event: str, level: str = "info", **fields) -> None:
    log_event("dashboard", event, level, **fields)


def split_addr(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    return host, int(port)


def parse_info(text) -> dict[str, str]:
    if isinstance(text, dict):  # redis-py already parsed it
        return {k: str(v) for k, v in text.items()}
    out = {}
    for line in str(text).splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


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
        self._watchers: dict[str, asyncio.Task] = {}
        self._tasks: list[asyncio.Task] = []
        self._followers: set[asyncio.Task] = set()
        self._http: httpx.AsyncClient | None = None
        self._wake = asyncio.Event()
        self.started = time.time()
        self.fatal: str | None = None
        self.switch_counts: dict[str, int] = {}
        self.odown_seen: dict[str, float] = {}  # group name -> when a sentinel published +odown
        self.switched_at: dict[str, float] = {}
        self.alerts = A.AlertEvaluator()
        self.active_alerts: list[dict] = []
        self._alerts_posted_at = 0.0
        self.api_addr = ""
        c = cfg
        self.scale_policy = S.ScalePolicy(
            queue_fill_high=c.scale_queue_fill_pct / 100, loop_lag_high_s=c.scale_loop_lag_ms / 1000,
            up_after_s=c.scale_up_after_ms / 1000, down_after_s=c.scale_down_after_ms / 1000,
            cooldown_s=c.scale_cooldown_ms / 1000, max_extra=c.scale_max_extra)
        self.scale_state = S.ScaleState()
        self.scaled: list[tuple[str, subprocess.Popen | None]] = []  # proxies added by the scaler
        self.added_workers: dict[str, int] = {}  # local mode: workers the scaler added, per proxy
        self.migrator = Migrator(self)

    # --- lifecycle ----------------------------------------------------------------------------
    async def start(self, api_addr: str = "") -> None:
        owner = {"pid": os.getpid(), "host": socket.gethostname(), "api": api_addr, "since": int(time.time())}
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
        tasks = [*self._tasks, *self._watchers.values(), *self._followers]
        for t in tasks:
            t.cancel()
        for t in tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks.clear()
        self._watchers.clear()
        for _, popen in self.scaled:
            if popen is not None and popen.poll() is None:
                popen.terminate()
        for _, popen in self.scaled:
            if popen is not None:
                try:
                    popen.wait(5)
                except subprocess.TimeoutExpired:
                    popen.kill()
        if self._http is not None:
            await self._http.aclose()
        await self.coord.close()
        log("stopped")

    def event(self, kind: str, level: str = "info", **fields) -> None:
        self.events.append({"time": time.time(), "kind": kind, "level": level, **fields})
        log(kind, level, **fields)

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
            await self._sentinels_each("SENTINEL", "REMOVE", T.group_name(gid), ignore_errors=True)
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
                await self._monitor_group(self.topo.groups[int(gid)])
            return {"epoch": self.topo.epoch}

    async def remove_server(self, gid: int, addr: str) -> dict:
        async with self.lock:
            await self._change(T.remove_server, gid, addr)
            if not self.topo.groups[int(gid)].master:
                await self._sentinels_each("SENTINEL", "REMOVE", T.group_name(gid), ignore_errors=True)
            return {"epoch": self.topo.epoch}

    async def promote(self, gid: int, addr: str, force: bool = False) -> dict:
        """Manual switch: stop the sentinels watching the group, pause the old master's writes
        (CLIENT PAUSE WRITE) until addr has all it wrote, make addr master, repoint the old
        master (still paused) and the other replicas, publish the new table, unpause the old
        master, let the sentinels watch the new master.

        Writes reaching the old master meanwhile wait on its pause, then are refused with
        -READONLY (it is a replica by then), which the proxies replay on the new master: no
        acknowledged write is lost. Unless forced, a replica whose link to a live master is
        down (still syncing, or broken), or that does not catch up, is refused."""
        addr = T.check_addr(addr)
        async with self.lock:
            T.promote(self.topo, gid, addr)  # validate before touching anything
            g = self.topo.groups[int(gid)]
            old = g.master
            if not force:
                await self._check_promotable(g, addr)
            name = T.group_name(gid)
            await self._sentinels_each("SENTINEL", "REMOVE", name, ignore_errors=True)
            paused = await self._pause_writes(old)
            try:
                try:
                    if paused:
                        await self._wait_caught_up(old, addr, force)
                    await self._redis(addr, "REPLICAOF", "NO", "ONE")
                except Exception:
                    await self._monitor_group(g)
                    raise
                if paused:
                    # Repoint it before anything slower: from now on, however its pause ends,
                    # the writes it holds are refused instead of applied where nobody reads.
                    await self._repoint(old, addr)
                await self._change(T.promote, gid, addr)
                g = self.topo.groups[int(gid)]
                for other in g.replicas:
                    if not (paused and other == old):
                        await self._repoint(other, addr)
            finally:
                if paused:
                    await self._unpause(old)
            await self._monitor_group(g)
            self.event("promoted", group=gid, master=addr)
            return {"epoch": self.topo.epoch, "master": addr}

    def _promote_pause_ms(self) -> int:
        # Bounds the catch-up wait (one request timeout) and the REPLICAOF calls after it; a
        # switch normally holds writes for milliseconds.
        return 4 * self.cfg.request_timeout_ms

    async def _pause_writes(self, master: str) -> bool:
        """CLIENT PAUSE WRITE the old master; False if it is down or cannot pause (old servers):
        the switch then goes on unprotected, as a failover of a dead master does."""
        if not master:
            return False
        try:
            await self._redis(master, "CLIENT", "PAUSE", self._promote_pause_ms(), "WRITE")
        except Exception as exc:
            self.event("promote_pause_failed", "warning", server=master, error=repr(exc))
            return False
        return True

    async def _unpause(self, master: str) -> None:
        try:
            await self._redis(master, "CLIENT", "UNPAUSE")
        except Exception as exc:  # the pause ends by its own timeout
            self.event("promote_unpause_failed", "warning", server=master, error=repr(exc))

    async def _repoint(self, server: str, master: str) -> None:
        try:
            await self._redis(server, "REPLICAOF", *split_addr(master))
        except Exception as exc:  # e.g. the server is dead; sentinels fix it later
            self.event("replicaof_failed", "warning", server=server, error=repr(exc))

    async def _wait_caught_up(self, master: str, replica: str, force: bool) -> None:
        """Wait (one request timeout at most) until the replica has applied the paused master's
        whole stream; refuse the switch if it does not, unless forced."""
        info = parse_info(await self._redis(master, "INFO", "replication"))
        target = int(info.get("master_repl_offset", 0) or 0)
        deadline = time.monotonic() + self.timeout
        while True:
            info = parse_info(await self._redis(replica, "INFO", "replication"))
            behind = target - int(info.get("slave_repl_offset", 0) or 0)
            if behind <= 0:
                return
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.01)  # offsets change with no event to await: poll
        if not force:
            raise T.TopologyError(f"{replica} did not catch up with {master} ({behind} bytes behind after "
                                  f"{self.timeout:g}s); try again or force")
        self.event("promote_lagging", "warning", server=replica, behind=behind)

    async def _check_promotable(self, g: T.Group, addr: str) -> None:
        try:
            await self._redis(g.master, "PING")
        except Exception:
            return  # the master is gone: any replica is better than none
        info = parse_info(await self._redis(addr, "INFO", "replication"))
        if info.get("role") == "slave" and (info.get("master_link_status") != "up"
                                           or f"{info.get('master_host')}:{info.get('master_port')}" != g.master):
            raise T.TopologyError(
                f"{addr} is not in sync with the master {g.master} (link {info.get('master_link_status')}, "
                f"following {info.get('master_host')}:{info.get('master_port')}); wait for it or force")
        # let the replica catch up with what the master had when we looked (bounded wait)
        try:
            target = int(parse_info(await self._redis(g.master, "INFO", "replication")).get("master_repl_offset", 0))
        except (ValueError, TypeError):
            return
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if int(info.get("slave_repl_offset", 0) or 0) >= target:
                return
            await asyncio.sleep(0.05)
            info = parse_info(await self._redis(addr, "INFO", "replication"))
        self.event("promote_lagging", "warning", server=addr, behind=target - int(info.get("slave_repl_offset", 0) or 0))

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
            await self._sync_sentinels()
            return {"epoch": self.topo.epoch}

    async def remove_sentinel(self, addr: str) -> dict:
        async with self.lock:
            await self._change(T.remove_sentinel, addr)
            task = self._watchers.pop(T.check_addr(addr), None)
            if task:
                task.cancel()
            return {"epoch": self.topo.epoch}

    # --- proxies ------------------------------------------------------------------------------
    def _proxy_headers(self) -> dict:
        tok = self.cfg.proxy_admin_token
        return {"Authorization": f"Bearer {tok}"} if tok else {}

    async def push_all(self, only: list[str] | None = None) -> dict[str, dict]:
        """Push the slot table to every proxy (or only some); verify each took it. A proxy that
        holds a newer epoch than ours with another content (a reset coordinator, a second
        dashboard, a hand-made PUT) makes us jump past its epoch and push to all again.
        Caller holds self.lock (the epoch jump is a topology change).
        Fenced: nothing is pushed unless our coordinator ownership is fresh (leader.py)."""
        if not leader.lease_fresh(self.coord):
            self.event("push_fenced", "warning", note="coordinator ownership not confirmed recently")
            return {}
        try:
            table = T.slot_table(self.topo)
        except T.TopologyError as exc:
            for p in self.topo.proxies:
                self.proxy_state.setdefault(p, {}).update(in_sync=False, error=f"not pushed: {exc}")
            return {}
        targets = [p for a, p in self.topo.proxies.items() if only is None or a in only]
        results = await asyncio.gather(*(self._push_one(p, table) for p in targets))
        ahead = [r["proxy_epoch"] for r in results if r.get("ahead")]
        if ahead:
            bumped = T.bump(self.topo, max(ahead))
            self.revision = await self.coord.save(bumped.to_json(), self.revision)
            self.topo = bumped
            self.event("epoch_bumped", "warning", epoch=bumped.epoch, proxy_epoch=max(ahead))
            table = T.slot_table(self.topo)
            targets = list(self.topo.proxies.values())
            results = await asyncio.gather(*(self._push_one(p, table) for p in targets))
        return {p.addr: r for p, r in zip(targets, results, strict=True)}

    async def _proxy_get(self, p: T.Proxy, path: str) -> httpx.Response:
        assert self._http is not None
        return await self._http.get(f"http://{p.admin_addr}{path}")

    async def _push_one(self, p: T.Proxy, table: dict) -> dict:
        st = self.proxy_state.setdefault(p.addr, {})
        assert self._http is not None
        try:
            r = await self._http.put(f"http://{p.admin_addr}/slots", json=table, headers=self._proxy_headers())
            if r.status_code == 409:
                cur = (await self._proxy_get(p, "/slots")).json()
                if T.same_table(cur, table):
                    res = {"ok": True, "proxy_epoch": cur["epoch"]}
                else:
                    res = {"ok": False, "ahead": True, "proxy_epoch": int(cur["epoch"])}
            elif r.status_code != 200:
                res = {"ok": False, "error": f"HTTP {r.status_code}: {r.text.strip()[:200]}"}
            else:
                got = (await self._proxy_get(p, "/slots")).json()  # verify it took it
                ok = got.get("epoch") == table["epoch"] and T.same_table(got, table)
                res = {"ok": ok, "proxy_epoch": got.get("epoch"),
                       "workers_applied": r.json().get("workers_applied"),
                       # nothing routed by its previous table is still in flight (migration waits for it)
                       "drained": r.json().get("drained", False)}
                if not ok:
                    res["error"] = f"proxy reports epoch {got.get('epoch')} after the push"
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            res = {"ok": False, "error": f"unreachable: {exc!r}"}
        self.counters["pushes_ok" if res["ok"] else "pushes_failed"] += 1
        if res["ok"]:
            st.pop("stale_logged", None)
        st.update(in_sync=res["ok"], epoch=res.get("proxy_epoch"), error=res.get("error", ""),
                  last_push=time.time(), drained=res.get("drained", res["ok"]))
        if not res["ok"] and not res.get("ahead"):
            self.event("push_failed", "warning", proxy=p.addr, error=res.get("error", ""))
        return res

    async def _check_proxy(self, p: T.Proxy, table: dict | None) -> bool:
        """Stats of one proxy for the UI; True when it needs the table again."""
        st = self.proxy_state.setdefault(p.addr, {})
        try:
            r = await self._proxy_get(p, "/stats")
            stats = r.json()
            if not st.get("up", False):
                self.event("proxy_up", proxy=p.addr, proxy_epoch=stats.get("epoch"))
            summary = _proxy_summary(stats)
            prev = st.get("stats") or {}
            if summary["accept_dropped"] != prev.get("accept_dropped"):
                st["dropped_changed_at"] = time.time()
            if prev and summary["listen_overflows"] > prev.get("listen_overflows", 0):
                self.event("listen_overflow", "warning", proxy=p.addr,
                           new=summary["listen_overflows"] - prev.get("listen_overflows", 0),
                           note="the kernel dropped connections: accept queue full (host-wide counter)")
            st.update(up=True, seen=time.time(), stats=summary)
        except (httpx.HTTPError, ValueError) as exc:
            if st.get("up", True):
                self.event("proxy_down", "warning", proxy=p.addr, error=repr(exc))
            st.update(up=False, in_sync=False, error=f"unreachable: {exc!r}")
            return False
        if table is None:
            return False
        if stats.get("epoch") != table["epoch"]:
            if st.get("stale_logged") != stats.get("epoch"):
                st["stale_logged"] = stats.get("epoch")
                self.event("proxy_stale", "warning", proxy=p.addr, proxy_epoch=stats.get("epoch"),
                           epoch=table["epoch"])
            return True
        return not st.get("in_sync")

    # --- redis / sentinel calls ---------------------------------------------------------------
    async def _redis(self, addr: str, *args, password: str | None = None):
        host, port = split_addr(addr)
        pw = self.cfg.server_password if password is None else password
        r = aredis.Redis(host=host, port=port, protocol=2, password=pw or None,
                         socket_timeout=self.timeout, socket_connect_timeout=self.timeout,
                         decode_responses=True)
        try:
            return await r.execute_command(*args)
        finally:
            await r.aclose()

    async def _sentinel(self, addr: str, *args):
        return await self._redis(addr, *args, password="")

    async def _sentinels_each(self, *args, ignore_errors: bool = False) -> dict[str, object]:
        async def one(s):
            try:
                return await self._sentinel(s, *args)
            except Exception as exc:
                if not ignore_errors:
                    self.event("sentinel_error", "warning", sentinel=s, error=repr(exc))
                return exc
        sentinels = list(self.topo.sentinels)
        return dict(zip(sentinels, await asyncio.gather(*(one(s) for s in sentinels)), strict=False))

    def quorum(self) -> int:
        return self.cfg.sentinel_quorum or len(self.topo.sentinels) // 2 + 1

    async def _monitor_group(self, g: T.Group) -> None:
        if not g.master:
            return
        host, port = split_addr(g.master)
        await self._sentinels_each("SENTINEL", "MONITOR", g.name, host, port, self.quorum())

    async def _sync_sentinels(self) -> None:
        """Each sentinel monitors exactly our groups (new ones added, removed ones dropped).

        A sentinel that knows another master for a group than the topology is left alone (it
        may know a newer master than we do: the follow logic decides), unless the majority of
        the sentinels agree with the topology, our master answers ROLE master and the sentinel's
        does not: then it is stale (it was down during a manual promote, say) and is told the
        current master (REMOVE + MONITOR). During a failover our master is dead, so a sentinel
        that switched first is never "corrected" back."""
        wanted = {g.name: g for g in self.topo.groups.values() if g.master}
        views: dict[str, dict[str, str]] = {}
        for s in list(self.topo.sentinels):
            try:
                masters = await self._sentinel(s, "SENTINEL", "MASTERS")
                known, flags = {}, {}
                for m in masters or []:
                    d = dict(zip(m[::2], m[1::2], strict=False)) if isinstance(m, list) else {}
                    known[d.get("name", "")] = f"{d.get('ip')}:{d.get('port')}"
                    flags[d.get("name", "")] = str(d.get("flags", ""))
                views[s] = known
                self.sentinel_state.setdefault(s, {})["flags"] = flags
            except Exception as exc:
                self.sentinel_state.setdefault(s, {}).update(up=False, error=repr(exc))
        majority = len(self.topo.sentinels) // 2 + 1
        for s, known in views.items():
            st = self.sentinel_state.setdefault(s, {})
            try:
                for name, g in wanted.items():
                    host, port = split_addr(g.master)
                    if name not in known:
                        await self._sentinel(s, "SENTINEL", "MONITOR", name, host, port, self.quorum())
                        self.event("sentinel_monitor", sentinel=s, group=name, master=g.master)
                    elif known[name] != g.master:
                        agree = sum(1 for v in views.values() if v.get(name) == g.master)
                        if agree >= majority and await self._is_master(g.master) \
                                and not await self._is_master(known[name]):
                            await self._sentinel(s, "SENTINEL", "REMOVE", name)
                            await self._sentinel(s, "SENTINEL", "MONITOR", name, host, port, self.quorum())
                            self.event("sentinel_corrected", "warning", sentinel=s, group=name,
                                       had=known[name], master=g.master)
                for name in known:
                    if T.group_id_of_name(name) is not None and name not in wanted:
                        await self._sentinel(s, "SENTINEL", "REMOVE", name)
                        self.event("sentinel_remove", sentinel=s, group=name)
                st.update(up=True, masters=known, error="")
            except Exception as exc:
                st.update(up=False, error=repr(exc))
        for s in self.topo.sentinels:
            task = self._watchers.get(s)
            if task is None or task.done():
                self._watchers[s] = asyncio.create_task(self._watch_sentinel(s))
        for s in list(self._watchers):
            if s not in self.topo.sentinels:
                self._watchers.pop(s).cancel()

    async def _is_master(self, addr: str) -> bool:
        try:
            role = await self._redis(addr, "ROLE")
            return bool(role) and str(role[0]) == "master"
        except Exception:
            return False

    async def _watch_sentinel(self, addr: str) -> None:
        """Subscribe to +switch-master on one sentinel; reconnect forever."""
        host, port = split_addr(addr)
        while True:
            r = aredis.Redis(host=host, port=port, protocol=2, decode_responses=True,
                             socket_connect_timeout=self.timeout)
            try:
                ps = r.pubsub()
                await ps.subscribe("+switch-master", "+odown")
                while True:
                    msg = await ps.get_message(ignore_subscribe_messages=True, timeout=5.0)
                    if msg and msg.get("type") == "message" and msg.get("channel") == "+odown":
                        parts = str(msg["data"]).split()  # "master <name> <ip> <port> #quorum a/b"
                        if len(parts) >= 2 and parts[0] == "master":
                            self.odown_seen.setdefault(parts[1], time.time())  # for XcacheFailoverStarted
                        continue
                    if msg and msg.get("type") == "message":
                        parts = str(msg["data"]).split()
                        if len(parts) == 5:
                            name, _, _, nhost, nport = parts
                            gid = T.group_id_of_name(name)
                            if gid is not None:
                                self.event("switch_master_seen", sentinel=addr, group=gid,
                                           master=f"{nhost}:{nport}")
                                task = asyncio.create_task(self.follow_switch(gid, f"{nhost}:{nport}"))
                                self._followers.add(task)
                                task.add_done_callback(self._followers.discard)
            except asyncio.CancelledError:
                await r.aclose()
                raise
            except Exception:
                pass
            try:
                await r.aclose()
            except Exception:
                pass
            await asyncio.sleep(1.0)

    async def _sentinel_views(self, name: str) -> dict[str, str | None]:
        replies = await self._sentinels_each("SENTINEL", "GET-MASTER-ADDR-BY-NAME", name, ignore_errors=True)
        return {s: (f"{r[0]}:{r[1]}" if isinstance(r, list) and len(r) == 2 else None)
                for s, r in replies.items()}

    async def follow_switch(self, gid: int, addr: str, attempts: int = 10) -> bool:
        """A sentinel says group gid's master is now addr: confirm and publish it. The other
        sentinels learn the switch a moment later (hello messages), so ask a few times; the
        reconcile loop keeps asking after that."""
        for attempt in range(attempts):
            async with self.lock:
                g = self.topo.groups.get(gid)
                if g is None or g.master == addr:
                    return False
                last = attempt == attempts - 1
                if await self._confirm_and_switch(g, addr, await self._sentinel_views(g.name), report=last):
                    return True
            await asyncio.sleep(0.3)
        return False

    async def _confirm_and_switch(self, g: T.Group, addr: str, views: dict, report: bool = True) -> bool:
        agree = sum(1 for v in views.values() if v == addr)
        majority = len(self.topo.sentinels) // 2 + 1
        if agree < majority:
            if report:
                self.counters["switches_unconfirmed"] += 1
                self.event("switch_unconfirmed", "warning", group=g.id, master=addr,
                           reason=f"{agree}/{len(views)} sentinels agree, need {majority}")
            return False
        try:
            role = await self._redis(addr, "ROLE")
        except Exception as exc:
            role = [f"error {exc!r}"]
        if not role or str(role[0]) != "master":
            if not report:
                return False
            self.counters["switches_unconfirmed"] += 1
            self.event("switch_unconfirmed", "warning", group=g.id, master=addr,
                       reason=f"ROLE says {role[0] if role else None}")
            return False
        old = g.master
        await self._change(T.switch_master, g.id, addr)
        self.counters["failovers_followed"] += 1
        self.switch_counts[g.name] = self.switch_counts.get(g.name, 0) + 1
        self.switched_at[g.name] = time.time()
        self.event("failover_followed", "warning", group=g.id, old=old, master=addr, epoch=self.topo.epoch)
        return True

    async def _poll_sentinels(self) -> None:
        """Catch up on any +switch-master we missed: ask the sentinels directly."""
        if not self.topo.sentinels:
            return
        for g in list(self.topo.groups.values()):
            if not g.master:
                continue
            views = await self._sentinel_views(g.name)
            counts: dict[str, int] = {}
            for v in views.values():
                if v:
                    counts[v] = counts.get(v, 0) + 1
            best = max(counts, key=lambda a: counts[a], default=None)
            if best and best != g.master and counts[best] >= len(self.topo.sentinels) // 2 + 1:
                async with self.lock:  # ask again under the lock (a promote may have run meanwhile)
                    g2 = self.topo.groups.get(g.id)
                    if g2 is not None and g2.master != best:
                        await self._confirm_and_switch(g2, best, await self._sentinel_views(g2.name))

    async def _poll_servers(self) -> None:
        async def one(g: T.Group, addr: str):
            st: dict = {"group": g.id, "expected_role": "master" if addr == g.master else "replica"}
            try:
                info = parse_info(await self._redis(addr, "INFO"))  # replication, + storage on xcache nodes
                st.update(up=True, role="master" if info.get("role") == "master" else "replica",
                          offset=int(info.get("master_repl_offset", 0) or 0),
                          write_stall_active=int(info.get("write_stall_active", 0) or 0),
                          write_stall_seconds=float(info.get("write_stall_seconds", 0) or 0))
                if info.get("role") == "slave":
                    st.update(master=f"{info.get('master_host')}:{info.get('master_port')}",
                              link=info.get("master_link_status"),
                              offset=int(info.get("slave_repl_offset", 0) or 0))
            except Exception as exc:
                st.update(up=False, role="down", error=repr(exc))
            self.server_state[addr] = st
        await asyncio.gather(*(one(g, s) for g in list(self.topo.groups.values()) for s in g.servers))
        for g in self.topo.groups.values():  # lag in bytes = master offset - replica offset
            m = self.server_state.get(g.master, {})
            for s in g.replicas:
                st = self.server_state.get(s, {})
                if m.get("up") and st.get("up") and st.get("role") == "replica":
                    st["lag_bytes"] = max(0, m.get("offset", 0) - st.get("offset", 0))
        known = {s for g in self.topo.groups.values() for s in g.servers}
        for s in list(self.server_state):
            if s not in known:
                del self.server_state[s]

    async def _adopt_registered(self) -> None:
        try:
            regs = await self.coord.registered_proxies()
        except CoordinatorError:
            return
        for addr, info in regs.items():
            if addr not in self.topo.proxies and info.get("admin_addr"):
                try:
                    await self.add_proxy(addr, info["admin_addr"])
                    self.event("proxy_adopted", proxy=addr)
                except T.TopologyError:
                    pass

    # --- reconcile ----------------------------------------------------------------------------
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
            await self._sync_sentinels()
        await self._poll_sentinels()
        try:
            table = T.slot_table(self.topo)
        except T.TopologyError:
            table = None
        proxies = list(self.topo.proxies.values())
        stale = await asyncio.gather(*(self._check_proxy(p, table) for p in proxies))
        if any(stale):
            async with self.lock:
                await self.push_all(only=[p.addr for p, st in zip(proxies, stale, strict=True) if st])
        await self._poll_servers()
        await self._adopt_registered()
        self.counters["reconciles"] += 1
        await self.evaluate_alerts()
        if self.cfg.scale_mode != "off":
            await self.autoscale()

    # --- alerts -------------------------------------------------------------------------------
    def alert_snapshot(self) -> dict:
        proxies = {a: (st.get("stats") if st.get("up") else None) for a, st in self.proxy_state.items()
                   if a in self.topo.proxies}
        servers = {a: st for a, st in self.server_state.items()}
        masters: dict[str, str] = {}
        up = 0
        for s in self.topo.sentinels:
            st = self.sentinel_state.get(s, {})
            if st.get("up"):
                up += 1
                for name, flags in (st.get("flags") or {}).items():
                    if T.group_id_of_name(name) is not None and ("o_down" in flags or "failover" in flags):
                        masters[name] = flags
        # a failover is often over within one reconcile period: a +odown seen since the last
        # evaluation counts once even if the sentinels' flags are already clear
        now = time.time()
        for name, since in list(self.odown_seen.items()):
            masters.setdefault(name, "o_down (event)")
            if self.switched_at.get(name, 0) >= since or now - since > 60:
                del self.odown_seen[name]
        switches = {g.name: self.switch_counts.get(g.name, 0) for g in self.topo.groups.values()}
        m = self.migrator.status()
        migration = {"waiting": m["slots_pending"] + m["slots_migrating"], "paused": m["paused"],
                     "moved": m["keys_moved"] + m["slots_done"]}
        return {"proxies": proxies, "servers": servers, "switches": switches, "migration": migration,
                "instance": self.api_addr or "dashboard",
                "sentinels": {"total": len(self.topo.sentinels), "up": up, "masters": masters}}

    async def evaluate_alerts(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self.active_alerts, changes = self.alerts.evaluate(self.alert_snapshot(), now)
        for a in changes:
            lab = {k: v for k, v in a["labels"].items() if k not in ("alertname", "severity")}
            self.event("alert_" + a["status"], "error" if a["labels"]["severity"] == "critical" and
                       a["status"] == "firing" else "warning" if a["status"] == "firing" else "info",
                       alert=a["labels"]["alertname"], **lab)
        url = self.cfg.alert_webhook_url
        if not url:
            return
        resend = now - self._alerts_posted_at >= self.cfg.alert_resend_interval_ms / 1000
        if changes or (resend and self.active_alerts):
            # active alerts plus the ones that resolved now; posted off the reconcile path
            body = A.payload(self.active_alerts + [c for c in changes if c["status"] == "resolved"],
                             self.cfg.alert_webhook_format, f"http://{self.api_addr}" if self.api_addr else "")
            self._alerts_posted_at = now
            task = asyncio.create_task(self._post_alerts(url, body))
            self._followers.add(task)
            task.add_done_callback(self._followers.discard)

    async def _post_alerts(self, url: str, body) -> None:
        assert self._http is not None
        try:
            r = await self._http.post(url, json=body)
            self.counters["alert_posts_ok" if r.status_code < 300 else "alert_posts_failed"] = \
                self.counters.get("alert_posts_ok" if r.status_code < 300 else "alert_posts_failed", 0) + 1
            if r.status_code >= 300:
                log("alert_post_failed", "warning", url=url, status=r.status_code)
        except httpx.HTTPError as exc:
            self.counters["alert_posts_failed"] = self.counters.get("alert_posts_failed", 0) + 1
            log("alert_post_failed", "warning", url=url, error=repr(exc))

    # --- scale-out ----------------------------------------------------------------------------
    async def autoscale(self, now: float | None = None) -> str | None:
        now = time.time() if now is None else now
        summaries = [(st.get("stats") if st.get("up") else None) for a, st in self.proxy_state.items()
                     if a in self.topo.proxies]
        fill, lag = S.measure(summaries)
        action = S.decide(self.scale_policy, self.scale_state, now, fill, lag)
        if action is None:
            return None
        self.event("scale_" + action, "warning", mode=self.cfg.scale_mode, queue_fill=round(fill, 3),
                   loop_lag_s=round(lag, 3), extra=self.scale_state.extra)
        try:
            if self.cfg.scale_mode == "local":
                await self._scale_workers(+1 if action == "up" else -1)
            elif self.cfg.scale_mode == "local-proxy":
                await (self._scale_local_up() if action == "up" else self._scale_local_down())
            else:
                await self._scale_hook(action, fill, lag)
        except Exception as exc:
            self.event("scale_failed", "error", action=action, error=repr(exc))
            if action == "up":
                self.scale_state.extra -= 1
            else:
                self.scale_state.extra += 1
        return action

    async def _scale_workers(self, step: int) -> None:
        """Resize every reachable proxy's workers by step (PUT /workers), within 0..scale_max_extra
        added workers per proxy and the proxy's own max_workers. Raises if no proxy could."""
        done, errors = 0, []
        for addr, p in sorted(self.topo.proxies.items()):
            added = self.added_workers.get(addr, 0)
            if not S.worker_step(added, step, self.cfg.scale_max_extra):
                continue
            try:
                r = await self._http.get(f"http://{p.admin_addr}/workers")
                r.raise_for_status()
                count = r.json()["count"] + step
                r = await self._http.put(f"http://{p.admin_addr}/workers", json={"count": count},
                                         headers=self._proxy_headers())
                if r.status_code >= 300:
                    raise RuntimeError(f"PUT /workers answered {r.status_code}: {r.text.strip()}")
            except (httpx.HTTPError, RuntimeError, ValueError, KeyError) as exc:
                errors.append(f"{addr}: {exc}")
                continue
            self.added_workers[addr] = added + step
            done += 1
            self.event("proxy_workers_scaled", "warning" if step > 0 else "info", proxy=addr, workers=count)
        if errors and not done:
            raise RuntimeError("; ".join(errors))

    def _next_free(self, start: int, avoid: set[int]) -> int:
        port = start
        while port in avoid or _port_taken(self.cfg.scale_proxy_bind, port):
            port += 1
        return port

    async def _scale_local_up(self) -> None:
        used = {int(split_addr(a)[1]) for p in self.topo.proxies.values() for a in (p.addr, p.admin_addr)}
        top = max(used, default=19000)
        port = self._next_free(max(int(split_addr(p.addr)[1]) for p in self.topo.proxies.values()) + 1
                               if self.topo.proxies else 19000, used)
        admin = self._next_free(max(top, port) + 1, used | {port})
        bind = self.cfg.scale_proxy_bind
        args = [sys.executable, "-m", "xcache.cli", "proxy", "--bind", bind, "--port", str(port),
                "--admin-port", str(admin), "--set", f"admin_bind={bind}"]
        if self.cfg.proxy_admin_token:
            args += ["--set", f"admin_token={self.cfg.proxy_admin_token}"]
        for item in shlex.split(self.cfg.scale_proxy_set):
            args += ["--set", item]
        popen = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, start_new_session=True)
        addr, admin_addr = f"{bind}:{port}", f"{bind}:{admin}"
        self.scaled.append((addr, popen))
        deadline = time.monotonic() + 20
        while not _port_taken(bind, admin):
            if popen.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"scaled proxy {addr} did not start (rc {popen.poll()})")
            await asyncio.sleep(0.1)
        await self.add_proxy(addr, admin_addr)
        self.event("proxy_scaled_out", "warning", proxy=addr, admin=admin_addr, pid=popen.pid)

    async def _scale_local_down(self) -> None:
        if not self.scaled:
            return
        addr, popen = self.scaled.pop()
        try:
            await self.remove_proxy(addr)
        finally:
            if popen is not None and popen.poll() is None:
                popen.terminate()
                await asyncio.get_running_loop().run_in_executor(None, popen.wait, 10)
        self.event("proxy_scaled_in", proxy=addr)

    async def _scale_hook(self, action: str, fill: float, lag: float) -> None:
        if self.cfg.scale_hook_command:
            env = {**os.environ, "XCACHE_SCALE": action, "XCACHE_SCALE_FILL": f"{fill:.3f}",
                   "XCACHE_SCALE_LAG_S": f"{lag:.3f}", "XCACHE_DASHBOARD": f"http://{self.api_addr}"}
            proc = await asyncio.create_subprocess_shell(self.cfg.scale_hook_command, env=env,
                                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                                         stderr=subprocess.PIPE)
            _, err = await asyncio.wait_for(proc.communicate(), 60)
            if proc.returncode:
                raise RuntimeError(f"scale_hook_command exited {proc.returncode}: {err.decode()[-300:]}")
        if self.cfg.scale_hook_url:
            assert self._http is not None
            r = await self._http.post(self.cfg.scale_hook_url, json={
                "action": action, "fill": fill, "lag_s": lag, "proxies": sorted(self.topo.proxies)})
            if r.status_code >= 300:
                raise RuntimeError(f"scale_hook_url answered {r.status_code}")

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

    # --- views for the API --------------------------------------------------------------------
    def overview(self) -> dict:
        t = self.topo
        groups = []
        for g in sorted(t.groups.values(), key=lambda g: g.id):
            groups.append({"id": g.id, "name": g.name, "master": g.master, "epoch": g.epoch,
                           "slots": sum(1 for s in t.slots if s == g.id),
                           "servers": [{"addr": s, "role": "master" if s == g.master else "replica",
                                        **self.server_state.get(s, {})} for s in g.servers]})
        proxies = [{"addr": p.addr, "admin_addr": p.admin_addr, **self.proxy_state.get(p.addr, {})}
                   for p in t.proxies.values()]
        totals = {"sessions": 0, "ops_total": 0, "accept_dropped": 0, "rejected": 0}
        for p in proxies:
            s = p.get("stats") or {}
            for k in totals:
                totals[k] += s.get(k, 0)
        alerts = [e for e in self.events if e["level"] in ("warning", "error")][-20:]
        now = time.time()
        for p in proxies:  # current conditions, not events
            s = p.get("stats") or {}
            if p.get("up") is False:
                alerts.append({"kind": "proxy_down", "level": "error", "proxy": p["addr"], "time": now})
            if s.get("accept_dropped"):
                alerts.append({"kind": "accept_dropped", "level": "warning", "proxy": p["addr"],
                               "count": s["accept_dropped"], "time": p.get("dropped_changed_at")})
            if s.get("listener_paused"):
                alerts.append({"kind": "listener_paused", "level": "warning", "proxy": p["addr"], "time": now})
            for gid, state in (s.get("groups") or {}).items():
                if state != "up":
                    alerts.append({"kind": f"backend_{state}", "level": "warning", "proxy": p["addr"],
                                   "group": gid, "time": now})
        for g in groups:
            for srv in g["servers"]:
                if srv.get("up") is False:
                    alerts.append({"kind": "server_down", "level": "error", "group": g["id"],
                                   "server": srv["addr"], "time": now})
                elif srv.get("link") == "down":
                    alerts.append({"kind": "replication_link_down", "level": "warning", "group": g["id"],
                                   "server": srv["addr"], "time": now})
        for a in self.active_alerts:  # the evaluated rules (same names as deploy/prometheus/alerts.yml)
            lab = {k: v for k, v in a["labels"].items() if k not in ("alertname", "severity")}
            alerts.append({"kind": a["labels"]["alertname"], "level": "error" if a["labels"]["severity"] == "critical"
                           else "warning", "time": a["startsAt"], **lab, "summary": a["annotations"]["summary"]})
        return {"active_alerts": [{"name": a["labels"]["alertname"], "severity": a["labels"]["severity"],
                                   "labels": a["labels"], "annotations": a["annotations"], "since": a["startsAt"]}
                                  for a in self.active_alerts],
                "alerts_fired": {k: v for k, v in self.alerts.fired_total.items() if v},
                "scale": {"mode": self.cfg.scale_mode, "extra": self.scale_state.extra,
                          "added": [a for a, _ in self.scaled],
                          "added_workers": {a: n for a, n in self.added_workers.items() if n}},
                "epoch": t.epoch, "revision": self.revision, "coordinator": self.coord.url,
                "migration": self.migrator.status(), "groups": groups, "proxies": proxies, "sentinels": [
                    {"addr": s, **self.sentinel_state.get(s, {})} for s in t.sentinels],
                "slot_ranges": t.summary()["slot_ranges"], "totals": totals, "alerts": alerts,
                "counters": dict(self.counters), "uptime_s": int(time.time() - self.started)}


def _proxy_summary(stats: dict) -> dict:
    """The fields of a proxy's /stats the UI shows (admission metrics included)."""
    return {
        "epoch": stats.get("epoch"),
        "sessions": stats.get("sessions", 0),
        "ops_total": sum((stats.get("ops") or {}).values()),
        "errors_total": sum((stats.get("errors") or {}).values()),
        "accept_dropped": sum((stats.get("accept_dropped") or {}).values()),
        "accept_dropped_by_reason": stats.get("accept_dropped") or {},
        "rejected": sum((stats.get("rejected") or {}).values()),
        "listener_pauses": stats.get("listener_pauses_total", 0),
        "listen_queue": sum(q.get("queued", 0) for q in stats.get("listen_queues") or []),
        "listen_backlog": sum(q.get("backlog", 0) for q in stats.get("listen_queues") or []),
        "listen_queue_fill": max([q.get("queued", 0) / q["backlog"] for q in stats.get("listen_queues") or []
                                  if q.get("backlog")] or [0.0]),
        "loop_lag_s": max([w.get("loop_lag_seconds", 0.0) or 0.0 for w in stats.get("workers") or []] or [0.0]),
        "sessions_max": stats.get("max_clients", 0),
        "rejected_by_reason": stats.get("rejected") or {},
        "hold_timeouts": {g: v.get("hold_timeouts", 0) for g, v in (stats.get("groups") or {}).items()},
        "listen_overflows": (stats.get("netstat") or {}).get("ListenOverflows", 0),
        "listener_paused": any(w.get("listener_paused") for w in stats.get("workers") or []),
        "workers": len(stats.get("workers") or []),
        "groups": {g: v.get("state") for g, v in (stats.get("groups") or {}).items()},
        "time": time.time(),
    }


def _port_taken(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False
