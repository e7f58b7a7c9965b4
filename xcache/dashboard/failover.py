"""Master switches: the manual promote and following the sentinels' failovers.

Pure decisions:
- promote_plan(): the steps of a manual switch, in order. Stop the sentinels watching the
  group, pause the old master's writes (CLIENT PAUSE WRITE) until the new master has all it
  wrote, make addr master, repoint the old master (still paused) and the other replicas,
  publish the new table, unpause the old master, let the sentinels watch the new master.
  Writes reaching the old master meanwhile wait on its pause, then are refused with -READONLY
  (it is a replica by then), which the proxies replay on the new master: no acknowledged write
  is lost. Steps marked `when="paused"` only run if the pause worked (a dead or old master
  cannot pause: the switch then goes on unprotected, as a failover of a dead master does).
- undo_steps(): what a failed switch undoes (the sentinels' watch, the pause).
- sync_problem() / bytes_behind(): whether a replica may be promoted (unless forced): its link
  to a live master must be up, and it must catch up.
- agreement_problem() / role_problem(): a new master a sentinel reports is accepted only when a
  majority of the sentinels answer it to GET-MASTER-ADDR-BY-NAME and it answers ROLE master.
- majority_master(): the master a majority of the sentinels name (the reconcile loop's catch-up
  for a missed +switch-master).

Shell: the Failover class asks the nodes and sentinels, and carries the decisions out.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from xcache.dashboard import topology as T
from xcache.dashboard.nodes import fence_actions, following, parse_info, split_addr
from xcache.dashboard.sentinels import majority

if TYPE_CHECKING:
    from xcache.dashboard.controller import Controller


@dataclass(frozen=True)
class Step:
    """unwatch | pause | wait_caught_up | make_master | repoint | publish | unpause | watch."""

    kind: str
    server: str = ""
    when: str = "always"  # always | paused | unpaused (whether the old master's pause worked)


def promote_plan(old: str, replicas_after: list[str], addr: str) -> list[Step]:
    """old: the current master ("" if none); replicas_after: the group's replicas once addr is
    master (T.promote's answer: the old master among them)."""
    steps = [Step("unwatch")]
    if old:
        steps += [Step("pause", old), Step("wait_caught_up", addr, "paused")]
    steps.append(Step("make_master", addr))
    if old:
        # Repoint it before anything slower: from now on, however its pause ends, the writes
        # it holds are refused instead of applied where nobody reads.
        steps.append(Step("repoint", old, "paused"))
    steps.append(Step("publish", addr))
    for r in replicas_after:
        steps.append(Step("repoint", r, "unpaused" if r == old else "always"))
    if old:
        steps.append(Step("unpause", old, "paused"))
    steps.append(Step("watch", addr))
    return steps


def steps_for(plan: list[Step], paused: bool) -> list[Step]:
    """The steps that run once it is known whether the pause worked."""
    return [s for s in plan if s.when == "always" or (s.when == "paused") == paused]


def undo_steps(executed: list[Step], paused: bool) -> list[Step]:
    """What to do when a step fails after `executed`: until the new master took REPLICAOF NO
    ONE the sentinels watch the old master again; a paused old master is always unpaused."""
    old = next((s.server for s in executed if s.kind == "pause"), "")
    kinds = {s.kind for s in executed}
    out = []
    if "make_master" not in kinds:
        out.append(Step("watch", old))
    if paused and "unpause" not in kinds:
        out.append(Step("unpause", old))
    return out


def promote_pause_ms(request_timeout_ms: int) -> int:
    # Bounds the catch-up wait (one request timeout) and the REPLICAOF calls after it; a switch
    # normally holds writes for milliseconds.
    return 4 * request_timeout_ms


def sync_problem(master: str, info: dict[str, str]) -> str | None:
    """Why a replica (its INFO replication) is not in sync with the live master, or None."""
    if info.get("role") == "slave" and (info.get("master_link_status") != "up"
                                        or following(info) != master):
        return (f"is not in sync with the master {master} (link {info.get('master_link_status')}, "
                f"following {following(info)})")
    return None


def bytes_behind(master_offset: int, info: dict[str, str]) -> int:
    """How far a replica (its INFO replication) is behind a master offset."""
    return master_offset - int(info.get("slave_repl_offset", 0) or 0)


def agreement_problem(addr: str, views: dict[str, str | None], sentinels: int) -> str | None:
    """views: what each sentinel answers to GET-MASTER-ADDR-BY-NAME (None: no answer)."""
    agree = sum(1 for v in views.values() if v == addr)
    need = majority(sentinels)
    if agree < need:
        return f"{agree}/{len(views)} sentinels agree, need {need}"
    return None


def role_problem(role) -> str | None:
    """A ROLE reply (or [error text]): None if it says master."""
    if not role or str(role[0]) != "master":
        return f"ROLE says {role[0] if role else None}"
    return None


def majority_master(views: dict[str, str | None], sentinels: int) -> str | None:
    """The master most sentinels name, if a majority of all the sentinels name it."""
    counts: dict[str, int] = {}
    for v in views.values():
        if v:
            counts[v] = counts.get(v, 0) + 1
    best = max(counts, key=lambda a: counts[a], default=None)
    if best and counts[best] >= majority(sentinels):
        return best
    return None


# --- shell -------------------------------------------------------------------------------------
class Failover:
    def __init__(self, ctl: Controller):
        self.ctl = ctl
        self.switch_counts: dict[str, int] = {}  # group name -> failovers followed
        self.switched_at: dict[str, float] = {}

    async def promote(self, gid: int, addr: str, force: bool = False) -> None:
        """Manual switch (see promote_plan). Unless forced, a replica whose link to a live
        master is down (still syncing, or broken), or that does not catch up, is refused.
        Caller holds ctl.lock."""
        ctl = self.ctl
        T.promote(ctl.topo, gid, addr)  # validate before touching anything
        g = ctl.topo.groups[int(gid)]
        old = g.master
        if not force:
            await self._check_promotable(g, addr)
        plan = promote_plan(old, T.promote(ctl.topo, gid, addr).groups[int(gid)].replicas, addr)
        paused = False
        executed: list[Step] = []
        try:
            for step in plan:
                if step.when != "always" and (step.when == "paused") != paused:
                    continue
                if step.kind == "unwatch":
                    await ctl.sentinels.unwatch_group(gid)
                elif step.kind == "pause":
                    paused = await self._pause_writes(old)
                elif step.kind == "wait_caught_up":
                    await self._wait_caught_up(old, addr, force)
                elif step.kind == "make_master":
                    await ctl._redis(addr, "REPLICAOF", "NO", "ONE")
                elif step.kind == "repoint":
                    await self._repoint(step.server, addr)
                elif step.kind == "publish":
                    await ctl._change(T.promote, gid, addr)
                elif step.kind == "unpause":
                    await self._unpause(old)
                elif step.kind == "watch":
                    await ctl.sentinels.monitor_group(ctl.topo.groups[int(gid)])
                executed.append(step)
        except BaseException:
            for step in undo_steps(executed, paused):
                if step.kind == "watch":
                    await ctl.sentinels.monitor_group(g)
                else:
                    await self._unpause(old)
            raise
        ctl.event("promoted", group=gid, master=addr)

    async def _pause_writes(self, master: str) -> bool:
        """CLIENT PAUSE WRITE the old master; False if it is down or cannot pause."""
        ctl = self.ctl
        try:
            await ctl._redis(master, "CLIENT", "PAUSE", promote_pause_ms(ctl.cfg.request_timeout_ms),
                             "WRITE")
        except Exception as exc:
            ctl.event("promote_pause_failed", "warning", server=master, error=repr(exc))
            return False
        return True

    async def _unpause(self, master: str) -> None:
        try:
            await self.ctl._redis(master, "CLIENT", "UNPAUSE")
        except Exception as exc:  # the pause ends by its own timeout
            self.ctl.event("promote_unpause_failed", "warning", server=master, error=repr(exc))

    async def _repoint(self, server: str, master: str) -> None:
        try:
            await self.ctl._redis(server, "REPLICAOF", *split_addr(master))
        except Exception as exc:  # e.g. the server is dead; sentinels fix it later
            self.ctl.event("replicaof_failed", "warning", server=server, error=repr(exc))

    async def _offset(self, master: str) -> int:
        info = parse_info(await self.ctl._redis(master, "INFO", "replication"))
        return int(info.get("master_repl_offset", 0) or 0)

    async def _replica_info(self, replica: str) -> dict[str, str]:
        return parse_info(await self.ctl._redis(replica, "INFO", "replication"))

    async def _wait_caught_up(self, master: str, replica: str, force: bool) -> None:
        """Wait (one request timeout at most) until the replica has applied the paused master's
        whole stream; refuse the switch if it does not, unless forced."""
        ctl = self.ctl
        target = await self._offset(master)
        deadline = time.monotonic() + ctl.timeout
        while True:
            behind = bytes_behind(target, await self._replica_info(replica))
            if behind <= 0:
                return
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.01)  # offsets change with no event to await: poll
        if not force:
            raise T.TopologyError(f"{replica} did not catch up with {master} ({behind} bytes behind "
                                  f"after {ctl.timeout:g}s); try again or force")
        ctl.event("promote_lagging", "warning", server=replica, behind=behind)

    async def _check_promotable(self, g: T.Group, addr: str) -> None:
        ctl = self.ctl
        try:
            await ctl._redis(g.master, "PING")
        except Exception:
            return  # the master is gone: any replica is better than none
        info = await self._replica_info(addr)
        problem = sync_problem(g.master, info)
        if problem:
            raise T.TopologyError(f"{addr} {problem}; wait for it or force")
        # let the replica catch up with what the master had when we looked (bounded wait)
        try:
            target = int(parse_info(await ctl._redis(g.master, "INFO", "replication"))
                         .get("master_repl_offset", 0))
        except (ValueError, TypeError):
            return
        deadline = time.monotonic() + ctl.timeout
        while time.monotonic() < deadline:
            if bytes_behind(target, info) <= 0:
                return
            await asyncio.sleep(0.05)
            info = await self._replica_info(addr)
        ctl.event("promote_lagging", "warning", server=addr, behind=bytes_behind(target, info))

    async def follow_switch(self, gid: int, addr: str, attempts: int = 10) -> bool:
        """A sentinel says group gid's master is now addr: confirm and publish it. The other
        sentinels learn the switch a moment later (hello messages), so ask a few times; the
        reconcile loop keeps asking after that."""
        ctl = self.ctl
        for attempt in range(attempts):
            async with ctl.lock:
                g = ctl.topo.groups.get(gid)
                if g is None or g.master == addr:
                    return False
                last = attempt == attempts - 1
                if await self.confirm_and_switch(g, addr, await ctl.sentinels.views(g.name),
                                                 report=last):
                    return True
            await asyncio.sleep(0.3)
        return False

    async def confirm_and_switch(self, g: T.Group, addr: str, views: dict,
                                 report: bool = True) -> bool:
        """Publish addr as g's master if the sentinels' views and its ROLE confirm it. Caller
        holds ctl.lock."""
        ctl = self.ctl
        problem = agreement_problem(addr, views, len(ctl.topo.sentinels))
        if problem is None:
            try:
                role = await ctl._redis(addr, "ROLE")
            except Exception as exc:
                role = [f"error {exc!r}"]
            problem = role_problem(role)
        if problem is not None:
            if report:
                ctl.counters["switches_unconfirmed"] += 1
                ctl.event("switch_unconfirmed", "warning", group=g.id, master=addr, reason=problem)
            return False
        old = g.master
        await ctl._change(T.switch_master, g.id, addr)
        # the overview shows the switch at once, not after the next poll of the nodes: addr just
        # answered ROLE master; the old master is not trusted as master any more
        ctl.server_state.setdefault(addr, {}).update(role="master", expected_role="master")
        if old and ctl.server_state.get(old, {}).get("role") == "master":
            ctl.server_state[old].update(expected_role="replica", role="unknown")
        ctl.counters["failovers_followed"] += 1
        self.switch_counts[g.name] = self.switch_counts.get(g.name, 0) + 1
        self.switched_at[g.name] = time.time()
        ctl.event("failover_followed", "warning", group=g.id, old=old, master=addr,
                  epoch=ctl.topo.epoch)
        return True

    async def poll(self) -> None:
        """Catch up on any +switch-master we missed: ask the sentinels directly."""
        ctl = self.ctl
        if not ctl.topo.sentinels:
            return
        for g in list(ctl.topo.groups.values()):
            if not g.master:
                continue
            best = majority_master(await ctl.sentinels.views(g.name), len(ctl.topo.sentinels))
            if best and best != g.master:
                async with ctl.lock:  # ask again under the lock (a promote may have run meanwhile)
                    g2 = ctl.topo.groups.get(g.id)
                    if g2 is not None and g2.master != best:
                        await self.confirm_and_switch(g2, best, await ctl.sentinels.views(g2.name))

    async def lift_fences(self) -> None:
        """Restarted old masters wait fenced (read-only) for their role: repoint them at their
        group's master, or confirm the one the topology and the sentinels name as master."""
        ctl = self.ctl
        fenced = {s for s, st in ctl.server_state.items() if st.get("fenced")}
        if not fenced:
            return
        confirmed: dict[int, str | None] = {}
        for g in ctl.topo.groups.values():
            if g.master in fenced and ctl.topo.sentinels:
                flags = [(ctl.sentinel_state.get(s, {}).get("flags") or {}).get(g.name, "")
                         for s in ctl.topo.sentinels]
                busy = any(f in fl for fl in flags for f in ("s_down", "o_down", "failover"))
                confirmed[g.id] = None if busy else majority_master(
                    await ctl.sentinels.views(g.name), len(ctl.topo.sentinels))
        for addr, cmd in fence_actions(ctl.topo, ctl.server_state, confirmed):
            try:
                await ctl._redis(addr, *cmd)
                ctl.event("fence_lifted", "info", server=addr, command=" ".join(cmd))
            except Exception as exc:
                ctl.event("fence_lift_failed", "warning", server=addr, error=repr(exc))
