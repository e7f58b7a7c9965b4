"""Proxies: what slot table each one needs, pushing it, reading their stats.

Pure: summary() (the fields of a proxy's /stats the UI, the alerts and the scaler use),
needs_table() (a proxy needs the table again when it reports another epoch or missed a push),
after_conflict() / after_push() (the outcome of a PUT /slots from the proxy's answers), and
epoch_to_pass() (a proxy holding a newer epoch than ours with another content - a reset
coordinator, a second dashboard, a hand-made PUT - makes us jump past its epoch and push to all
again), lease_ended() (a proxy that registered itself leaves when its lease ends). Shell: the
Proxies class does the HTTP calls, keeps ctl.proxy_state and the registrations.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import httpx

from xcache.dashboard import leader
from xcache.dashboard import topology as T
from xcache.dashboard.coordinator import CoordinatorError

if TYPE_CHECKING:
    from xcache.dashboard.controller import Controller


def summary(stats: dict, now: float) -> dict:
    """The fields of a proxy's /stats the UI shows (admission metrics included)."""
    queues = stats.get("listen_queues") or []
    workers = stats.get("workers") or []
    groups = stats.get("groups") or {}
    return {
        "epoch": stats.get("epoch"),
        "sessions": stats.get("sessions", 0),
        "ops_total": sum((stats.get("ops") or {}).values()),
        "errors_total": sum((stats.get("errors") or {}).values()),
        "accept_dropped": sum((stats.get("accept_dropped") or {}).values()),
        "accept_dropped_by_reason": stats.get("accept_dropped") or {},
        "rejected": sum((stats.get("rejected") or {}).values()),
        "listener_pauses": stats.get("listener_pauses_total", 0),
        "listen_queue": sum(q.get("queued", 0) for q in queues),
        "listen_backlog": sum(q.get("backlog", 0) for q in queues),
        "listen_queue_fill": max([q.get("queued", 0) / q["backlog"] for q in queues
                                  if q.get("backlog")] or [0.0]),
        "loop_lag_s": max([w.get("loop_lag_seconds", 0.0) or 0.0 for w in workers] or [0.0]),
        "sessions_max": stats.get("max_clients", 0),
        "rejected_by_reason": stats.get("rejected") or {},
        "hold_timeouts": {g: v.get("hold_timeouts", 0) for g, v in groups.items()},
        "listen_overflows": (stats.get("netstat") or {}).get("ListenOverflows", 0),
        "listener_paused": any(w.get("listener_paused") for w in workers),
        "workers": len(workers),
        "groups": {g: v.get("state") for g, v in groups.items()},
        "latency": stats.get("latency"),  # histogram: bounds (s), counts per bucket (+ overflow)
        "time": now,
    }


def lease_ended(registered: set[str], leased: set[str], in_topology: set[str]) -> list[str]:
    """Proxies that joined by registering and are still in the topology with no lease left."""
    return sorted((registered - leased) & in_topology)


def needs_table(proxy_epoch, table: dict | None, in_sync: bool) -> bool:
    """Whether a reachable proxy reporting proxy_epoch needs the table again."""
    if table is None:
        return False
    return proxy_epoch != table["epoch"] or not in_sync


def after_conflict(current: dict, table: dict) -> dict:
    """PUT /slots answered 409 (the proxy holds a newer epoch); current is its GET /slots."""
    if T.same_table(current, table):
        return {"ok": True, "proxy_epoch": current["epoch"]}
    return {"ok": False, "ahead": True, "proxy_epoch": int(current["epoch"])}


def after_push(put_reply: dict, got: dict, table: dict) -> dict:
    """PUT /slots answered 200 with put_reply; got is the proxy's GET /slots after it."""
    ok = got.get("epoch") == table["epoch"] and T.same_table(got, table)
    res = {"ok": ok, "proxy_epoch": got.get("epoch"),
           "workers_applied": put_reply.get("workers_applied"),
           # nothing routed by its previous table is still in flight (migration waits for it)
           "drained": put_reply.get("drained", False)}
    if not ok:
        res["error"] = f"proxy reports epoch {got.get('epoch')} after the push"
    return res


def epoch_to_pass(results: list[dict]) -> int | None:
    """The highest epoch a proxy holds ahead of ours with another table, if any."""
    ahead = [r["proxy_epoch"] for r in results if r.get("ahead")]
    return max(ahead) if ahead else None


# --- shell -------------------------------------------------------------------------------------
class Proxies:
    def __init__(self, ctl: Controller):
        self.ctl = ctl
        self.registered: set[str] = set()  # proxies that joined by registering (leases)

    def headers(self) -> dict:
        tok = self.ctl.cfg.proxy_admin_token
        return {"Authorization": f"Bearer {tok}"} if tok else {}

    async def get(self, p: T.Proxy, path: str) -> httpx.Response:
        assert self.ctl._http is not None
        return await self.ctl._http.get(f"http://{p.admin_addr}{path}")

    async def push_all(self, only: list[str] | None = None) -> dict[str, dict]:
        """Push the slot table to every proxy (or only some); verify each took it; pass a proxy
        that is ahead (see epoch_to_pass). Caller holds ctl.lock (the jump changes the topology).
        Fenced: nothing is pushed unless our coordinator ownership is fresh (leader.py)."""
        ctl = self.ctl
        if not leader.lease_fresh(ctl.coord):
            ctl.event("push_fenced", "warning", note="coordinator ownership not confirmed recently")
            return {}
        try:
            table = T.slot_table(ctl.topo)
        except T.TopologyError as exc:
            for p in ctl.topo.proxies:
                ctl.proxy_state.setdefault(p, {}).update(in_sync=False, error=f"not pushed: {exc}")
            return {}
        targets = [p for a, p in ctl.topo.proxies.items() if only is None or a in only]
        results = await asyncio.gather(*(self.push_one(p, table) for p in targets))
        ahead = epoch_to_pass(results)
        if ahead is not None:
            bumped = T.bump(ctl.topo, ahead)
            ctl.revision = await ctl.coord.save(bumped.to_json(), ctl.revision)
            ctl.topo = bumped
            ctl.event("epoch_bumped", "warning", epoch=bumped.epoch, proxy_epoch=ahead)
            table = T.slot_table(ctl.topo)
            targets = list(ctl.topo.proxies.values())
            results = await asyncio.gather(*(self.push_one(p, table) for p in targets))
        return {p.addr: r for p, r in zip(targets, results, strict=True)}

    async def push_one(self, p: T.Proxy, table: dict) -> dict:
        ctl = self.ctl
        st = ctl.proxy_state.setdefault(p.addr, {})
        assert ctl._http is not None
        try:
            r = await ctl._http.put(f"http://{p.admin_addr}/slots", json=table, headers=self.headers())
            if r.status_code == 409:
                res = after_conflict((await self.get(p, "/slots")).json(), table)
            elif r.status_code != 200:
                res = {"ok": False, "error": f"HTTP {r.status_code}: {r.text.strip()[:200]}"}
            else:
                res = after_push(r.json(), (await self.get(p, "/slots")).json(), table)
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            res = {"ok": False, "error": f"unreachable: {exc!r}"}
        ctl.counters["pushes_ok" if res["ok"] else "pushes_failed"] += 1
        if res["ok"]:
            st.pop("stale_logged", None)
        st.update(in_sync=res["ok"], epoch=res.get("proxy_epoch"), error=res.get("error", ""),
                  last_push=time.time(), drained=res.get("drained", res["ok"]))
        if not res["ok"] and not res.get("ahead"):
            ctl.event("push_failed", "warning", proxy=p.addr, error=res.get("error", ""))
        return res

    async def check(self, p: T.Proxy, table: dict | None) -> bool:
        """Stats of one proxy for the UI; True when it needs the table again."""
        ctl = self.ctl
        st = ctl.proxy_state.setdefault(p.addr, {})
        try:
            stats = (await self.get(p, "/stats")).json()
            if not st.get("up", False):
                ctl.event("proxy_up", proxy=p.addr, proxy_epoch=stats.get("epoch"))
            now = summary(stats, time.time())
            prev = st.get("stats") or {}
            if now["accept_dropped"] != prev.get("accept_dropped"):
                st["dropped_changed_at"] = time.time()
            if prev and now["listen_overflows"] > prev.get("listen_overflows", 0):
                ctl.event("listen_overflow", "warning", proxy=p.addr,
                          new=now["listen_overflows"] - prev.get("listen_overflows", 0),
                          note="the kernel dropped connections: accept queue full (host-wide counter)")
            st.update(up=True, seen=time.time(), stats=now)
        except (httpx.HTTPError, ValueError) as exc:
            if st.get("up", True):
                ctl.event("proxy_down", "warning", proxy=p.addr, error=repr(exc))
            st.update(up=False, in_sync=False, error=f"unreachable: {exc!r}")
            return False
        if table is not None and stats.get("epoch") != table["epoch"] \
                and st.get("stale_logged") != stats.get("epoch"):
            st["stale_logged"] = stats.get("epoch")
            ctl.event("proxy_stale", "warning", proxy=p.addr, proxy_epoch=stats.get("epoch"),
                      epoch=table["epoch"])
        return needs_table(stats.get("epoch"), table, bool(st.get("in_sync")))

    async def adopt_registered(self) -> None:
        """Proxies that registered themselves in the coordinator join the topology; a registered
        proxy whose lease ended (it stopped, or stopped renewing) leaves it."""
        ctl = self.ctl
        try:
            regs = await ctl.coord.registered_proxies()
        except CoordinatorError:
            return
        for addr, info in regs.items():
            self.registered.add(addr)
            if addr not in ctl.topo.proxies and info.get("admin_addr"):
                try:
                    await ctl.add_proxy(addr, info["admin_addr"])
                    ctl.event("proxy_adopted", proxy=addr)
                except T.TopologyError:
                    pass
        for addr in lease_ended(self.registered, set(regs), set(ctl.topo.proxies)):
            self.registered.discard(addr)
            try:
                await ctl.remove_proxy(addr)
                ctl.event("proxy_lease_ended", "warning", proxy=addr)
            except T.TopologyError:
                pass

    async def register(self, addr: str, admin_addr: str, ttl_s: int) -> dict:
        """A proxy registers itself (PUT /api/proxies/register): a lease of ttl_s it renews."""
        addr, admin_addr = T.check_addr(addr), T.check_addr(admin_addr)
        known = self.ctl.topo.proxies.get(addr)
        if known is not None and known.admin_addr != admin_addr:
            raise T.TopologyError(f"proxy {addr} is in the topology with admin address {known.admin_addr}")
        await self.ctl.coord.register_proxy(addr, {"admin_addr": admin_addr}, ttl_s)
        self.registered.add(addr)
        if known is None:
            await self.ctl.add_proxy(addr, admin_addr)
            self.ctl.event("proxy_registered", proxy=addr, ttl_s=ttl_s)
        return {"epoch": self.ctl.topo.epoch, "ttl_s": ttl_s}

    async def unregister(self, addr: str) -> dict:
        """A proxy stopping: it leaves the topology now (not when its lease ends)."""
        addr = T.check_addr(addr)
        self.registered.discard(addr)
        if addr in self.ctl.topo.proxies:
            await self.ctl.remove_proxy(addr)  # also drops the registration
            self.ctl.event("proxy_unregistered", proxy=addr)
        else:
            await self.ctl.coord.unregister_proxy(addr)
        return {"epoch": self.ctl.topo.epoch}
