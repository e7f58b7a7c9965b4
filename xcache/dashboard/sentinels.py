"""Configuring and following the sentinels: each monitors exactly the topology's groups
(`group-N`), and a watcher per sentinel hears +switch-master / +odown.

Pure: majority(), parse_masters() (SENTINEL MASTERS), master_addr() (GET-MASTER-ADDR-BY-NAME),
parse_event() (a pub/sub message), and plan_sync(): what to tell each sentinel, given what each
one monitors. A sentinel that knows another master for a group than the topology is left alone
(it may know a newer master than we do: the failover logic decides), unless the majority of the
sentinels agree with the topology, our master answers ROLE master and the sentinel's does not:
then it is stale (it was down during a manual promote, say) and is told the current master
(REMOVE + MONITOR). During a failover our master is dead, so a sentinel that switched first is
never "corrected" back. Shell: the Sentinels class sends the commands and runs the watchers.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis.asyncio as aredis

from xcache.dashboard import topology as T
from xcache.dashboard.nodes import split_addr

if TYPE_CHECKING:
    from xcache.dashboard.controller import Controller


def majority(sentinels: int) -> int:
    return sentinels // 2 + 1


def parse_masters(reply) -> tuple[dict[str, str], dict[str, str]]:
    """SENTINEL MASTERS -> ({name: "ip:port"}, {name: flags})."""
    known, flags = {}, {}
    for m in reply or []:
        d = dict(zip(m[::2], m[1::2], strict=False)) if isinstance(m, list) else {}
        known[d.get("name", "")] = f"{d.get('ip')}:{d.get('port')}"
        flags[d.get("name", "")] = str(d.get("flags", ""))
    return known, flags


def master_addr(reply) -> str | None:
    """SENTINEL GET-MASTER-ADDR-BY-NAME -> "ip:port" (None: unknown or an error)."""
    return f"{reply[0]}:{reply[1]}" if isinstance(reply, list) and len(reply) == 2 else None


def parse_event(channel: str, data: str) -> tuple[str, str, str] | None:
    """("odown", group name, "") for +odown of a master; ("switch", group name, "ip:port") for
    +switch-master; None for anything else."""
    parts = str(data).split()
    if channel == "+odown":  # "master <name> <ip> <port> #quorum a/b"
        if len(parts) >= 2 and parts[0] == "master":
            return "odown", parts[1], ""
        return None
    if channel == "+switch-master" and len(parts) == 5:  # "<name> <old ip> <old port> <ip> <port>"
        return "switch", parts[0], f"{parts[3]}:{parts[4]}"
    return None


@dataclass(frozen=True)
class Action:
    """One thing to tell one sentinel: monitor (a group it lacks), correct (REMOVE + MONITOR a
    group it has a stale master for) or remove (a group-N we do not have)."""

    kind: str
    sentinel: str
    group: str
    master: str = ""  # what we want it to monitor
    had: str = ""  # what it monitored (correct)


def stale_suspects(wanted: dict[str, str], views: dict[str, dict[str, str]], n: int) -> set[str]:
    """Masters whose ROLE plan_sync() needs: ours and the sentinel's, wherever a sentinel
    disagrees with a topology a majority of the sentinels agrees with."""
    out = set()
    for known in views.values():
        for name, master in wanted.items():
            if name in known and known[name] != master and \
                    sum(1 for v in views.values() if v.get(name) == master) >= majority(n):
                out |= {master, known[name]}
    return out


def plan_sync(wanted: dict[str, str], views: dict[str, dict[str, str]], n: int,
              is_master: dict[str, bool]) -> dict[str, list[Action]]:
    """wanted: {group name: master} of the topology's groups with a master; views: {sentinel:
    {name: master}} of the sentinels that answered; n: sentinels in the topology; is_master: the
    ROLE of (at least) stale_suspects(). Returns the actions per sentinel, in order."""
    plans: dict[str, list[Action]] = {}
    for s, known in views.items():
        acts = plans.setdefault(s, [])
        for name, master in wanted.items():
            if name not in known:
                acts.append(Action("monitor", s, name, master))
            elif known[name] != master:
                agree = sum(1 for v in views.values() if v.get(name) == master)
                if agree >= majority(n) and is_master.get(master) and not is_master.get(known[name]):
                    acts.append(Action("correct", s, name, master, known[name]))
        for name in known:
            if T.group_id_of_name(name) is not None and name not in wanted:
                acts.append(Action("remove", s, name))
    return plans


# --- shell -------------------------------------------------------------------------------------
class Sentinels:
    def __init__(self, ctl: Controller):
        self.ctl = ctl
        self.watchers: dict[str, asyncio.Task] = {}

    def quorum(self) -> int:
        return self.ctl.cfg.sentinel_quorum or majority(len(self.ctl.topo.sentinels))

    async def call(self, addr: str, *args):
        return await self.ctl._redis(addr, *args, password=self.ctl.cfg.sentinel_password)

    async def each(self, *args, ignore_errors: bool = False) -> dict[str, object]:
        async def one(s):
            try:
                return await self.call(s, *args)
            except Exception as exc:
                if not ignore_errors:
                    self.ctl.event("sentinel_error", "warning", sentinel=s, error=repr(exc))
                return exc
        sentinels = list(self.ctl.topo.sentinels)
        return dict(zip(sentinels, await asyncio.gather(*(one(s) for s in sentinels)), strict=False))

    async def views(self, name: str) -> dict[str, str | None]:
        """What each sentinel answers to GET-MASTER-ADDR-BY-NAME name."""
        replies = await self.each("SENTINEL", "GET-MASTER-ADDR-BY-NAME", name, ignore_errors=True)
        return {s: master_addr(r) for s, r in replies.items()}

    async def unwatch_group(self, gid: int) -> None:
        await self.each("SENTINEL", "REMOVE", T.group_name(gid), ignore_errors=True)

    async def monitor_group(self, g: T.Group) -> None:
        if not g.master:
            return
        host, port = split_addr(g.master)
        await self.each("SENTINEL", "MONITOR", g.name, host, port, self.quorum())

    async def is_master(self, addr: str) -> bool:
        try:
            role = await self.ctl._redis(addr, "ROLE")
            return bool(role) and str(role[0]) == "master"
        except Exception:
            return False

    async def sync(self) -> None:
        """Each sentinel monitors exactly our groups (see plan_sync); a watcher per sentinel."""
        ctl = self.ctl
        wanted = {g.name: g.master for g in ctl.topo.groups.values() if g.master}
        views: dict[str, dict[str, str]] = {}
        for s in list(ctl.topo.sentinels):
            try:
                views[s], flags = parse_masters(await self.call(s, "SENTINEL", "MASTERS"))
                ctl.sentinel_state.setdefault(s, {})["flags"] = flags
            except Exception as exc:
                ctl.sentinel_state.setdefault(s, {}).update(up=False, error=repr(exc))
        n = len(ctl.topo.sentinels)
        suspects = sorted(stale_suspects(wanted, views, n))
        roles = dict(zip(suspects, await asyncio.gather(*(self.is_master(a) for a in suspects)),
                         strict=True))
        for s, actions in plan_sync(wanted, views, n, roles).items():
            st = ctl.sentinel_state.setdefault(s, {})
            try:
                for a in actions:
                    await self._apply(a)
                st.update(up=True, masters=views[s], error="")
            except Exception as exc:
                st.update(up=False, error=repr(exc))
        for s in ctl.topo.sentinels:
            task = self.watchers.get(s)
            if task is None or task.done():
                self.watchers[s] = asyncio.create_task(self.watch(s))
        for s in list(self.watchers):
            if s not in ctl.topo.sentinels:
                self.watchers.pop(s).cancel()

    async def _apply(self, a: Action) -> None:
        ev = self.ctl.event
        if a.kind == "remove":
            await self.call(a.sentinel, "SENTINEL", "REMOVE", a.group)
            ev("sentinel_remove", sentinel=a.sentinel, group=a.group)
            return
        host, port = split_addr(a.master)
        if a.kind == "correct":
            await self.call(a.sentinel, "SENTINEL", "REMOVE", a.group)
        await self.call(a.sentinel, "SENTINEL", "MONITOR", a.group, host, port, self.quorum())
        if a.kind == "correct":
            ev("sentinel_corrected", "warning", sentinel=a.sentinel, group=a.group, had=a.had,
               master=a.master)
        else:
            ev("sentinel_monitor", sentinel=a.sentinel, group=a.group, master=a.master)

    def forget(self, addr: str) -> None:
        task = self.watchers.pop(addr, None)
        if task:
            task.cancel()

    async def watch(self, addr: str) -> None:
        """Subscribe to +switch-master and +odown on one sentinel; reconnect forever."""
        ctl = self.ctl
        host, port = split_addr(addr)
        while True:
            r = aredis.Redis(host=host, port=port, protocol=2, decode_responses=True,
                             socket_connect_timeout=ctl.timeout,
                             password=ctl.cfg.sentinel_password or None)
            try:
                ps = r.pubsub()
                await ps.subscribe("+switch-master", "+odown")
                while True:
                    msg = await ps.get_message(ignore_subscribe_messages=True, timeout=5.0)
                    if not msg or msg.get("type") != "message":
                        continue
                    ev = parse_event(msg.get("channel"), msg["data"])
                    if ev is None:
                        continue
                    kind, name, master = ev
                    if kind == "odown":
                        ctl.odown_seen.setdefault(name, time.time())  # for XcacheFailoverStarted
                        continue
                    gid = T.group_id_of_name(name)
                    if gid is not None:
                        ctl.event("switch_master_seen", sentinel=addr, group=gid, master=master)
                        ctl.spawn(ctl.failover.follow_switch(gid, master))
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
