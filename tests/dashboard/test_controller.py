"""Controller decisions with fake nodes and sentinels (no sockets): following +switch-master
needs a sentinel majority and ROLE master; stale sentinels are corrected, never during a failover."""

from __future__ import annotations

import asyncio

import pytest

from xcache.dashboard import topology as T
from xcache.dashboard.config import DashboardConfig
from xcache.dashboard.controller import Controller
from xcache.dashboard.coordinator.file import FileCoordinator

M, R = "127.0.0.1:7001", "127.0.0.1:7002"
S = ["127.0.0.1:26001", "127.0.0.1:26002", "127.0.0.1:26003"]


class FakeController(Controller):
    """Nodes answer from dicts: roles[addr] = 'master' | 'slave' | None (down);
    views[sentinel] = {group name: 'host:port'} (what GET-MASTER-ADDR-BY-NAME answers)."""

    def __init__(self, coord):
        super().__init__(DashboardConfig(), coord)
        self.roles = {M: "master", R: "slave"}
        self.views = {s: {"group-1": M} for s in S}
        self.calls: list[tuple] = []

    async def _redis(self, addr, *args, password=None):
        self.calls.append((addr, *args))
        role = self.roles.get(addr)
        if role is None:
            raise ConnectionError(f"{addr} down")
        if args[0] == "ROLE":
            return [role]
        if args[0] == "INFO":
            return {"role": role, "master_link_status": "up", "master_host": "127.0.0.1", "master_port": 7001}
        return "OK"

    async def _sentinel(self, addr, *args):
        self.calls.append((addr, *args))
        view = self.views[addr]
        sub = args[1].upper()
        if sub == "GET-MASTER-ADDR-BY-NAME":
            a = view.get(args[2])
            return a.split(":") if a else None
        if sub == "MASTERS":
            out = []
            for name, a in view.items():
                h, p = a.split(":")
                out.append(["name", name, "ip", h, "port", p])
            return out
        if sub == "REMOVE":
            view.pop(args[2], None)
        if sub == "MONITOR":
            view[args[2]] = f"{args[3]}:{args[4]}"
        return "OK"

    async def push_all(self, only=None):
        return {}


@pytest.fixture
def ctl(tmp_path):
    async def make():
        c = FakeController(FileCoordinator(str(tmp_path / "coord")))
        await c.coord.open({"test": 1})
        t = T.Topology()
        t, _ = T.add_group(t, 1)
        t = T.add_server(t, 1, M)
        t = T.add_server(t, 1, R)
        for s in S:
            t = T.add_sentinel(t, s)
        c.topo = T.assign_slots(t, list(range(1024)), 1)
        c.revision = await c.coord.save(c.topo.to_json(), 0)
        return c
    return make


def run(coro):
    return asyncio.run(coro)


def test_switch_confirmed_by_majority_and_role(ctl):
    async def go():
        c = await ctl()
        c.roles = {M: None, R: "master"}
        c.views[S[0]]["group-1"] = R
        c.views[S[1]]["group-1"] = R
        epoch, gepoch = c.topo.epoch, c.topo.groups[1].epoch
        assert await c.follow_switch(1, R, attempts=1)
        g = c.topo.groups[1]
        assert g.master == R and g.epoch == gepoch + 1 and c.topo.epoch == epoch + 1
        assert c.counters["failovers_followed"] == 1
        doc, _ = await c.coord.load()  # persisted
        assert doc["groups"]["1"]["master"] == R
        assert not await c.follow_switch(1, R, attempts=1)  # already done
    run(go())


def test_switch_needs_a_majority(ctl):
    async def go():
        c = await ctl()
        c.roles = {M: None, R: "master"}
        c.views[S[0]]["group-1"] = R  # only one sentinel says so
        assert not await c.follow_switch(1, R, attempts=2)
        assert c.topo.groups[1].master == M and c.counters["switches_unconfirmed"] == 1
    run(go())


def test_switch_needs_role_master(ctl):
    async def go():
        c = await ctl()
        for s in S:
            c.views[s]["group-1"] = R
        assert not await c.follow_switch(1, R, attempts=1)  # R still says ROLE slave
        assert c.topo.groups[1].master == M
        assert any(e["kind"] == "switch_unconfirmed" and "ROLE" in e["reason"] for e in c.events)
    run(go())


def test_poll_catches_a_missed_switch(ctl):
    async def go():
        c = await ctl()
        c.roles = {M: None, R: "master"}
        for s in S:
            c.views[s]["group-1"] = R
        await c._poll_sentinels()
        assert c.topo.groups[1].master == R
    run(go())


def test_stale_sentinel_corrected_but_not_during_failover(ctl):
    async def go():
        c = await ctl()
        # failover in progress: one sentinel already switched to R, our master M is dead
        c.roles = {M: None, R: "master"}
        c.views[S[0]]["group-1"] = R
        await c._sync_sentinels()
        assert c.views[S[0]]["group-1"] == R  # left alone
        # after a manual promote that S[0] missed: M is now a replica, topology says R
        c.roles = {M: "slave", R: "master"}
        c.topo = T.promote(c.topo, 1, R)
        for s in S[1:]:
            c.views[s]["group-1"] = R
        c.views[S[0]]["group-1"] = M
        await c._sync_sentinels()
        assert c.views[S[0]]["group-1"] == R
        assert any(e["kind"] == "sentinel_corrected" for e in c.events)
    run(go())


def test_sentinels_monitor_new_groups_and_drop_removed(ctl):
    async def go():
        c = await ctl()
        c.views[S[2]]["group-9"] = "127.0.0.1:9"  # a group we do not have
        del c.views[S[1]]["group-1"]
        c.views[S[1]]["mymaster"] = "127.0.0.1:1"  # not ours: untouched
        await c._sync_sentinels()
        assert c.views[S[1]] == {"group-1": M, "mymaster": "127.0.0.1:1"}
        assert "group-9" not in c.views[S[2]]
        monitor = [x for x in c.calls if x[0] == S[1] and x[2] == "MONITOR"]
        assert monitor == [(S[1], "SENTINEL", "MONITOR", "group-1", "127.0.0.1", 7001, 2)]
        for t in c._watchers.values():
            t.cancel()
    run(go())


def test_manual_promote_sequence(ctl):
    async def go():
        c = await ctl()
        await c.promote(1, R)
        order = [(a, *x) for a, *x in c.calls if x[0] in ("REPLICAOF", "SENTINEL") and x[-1] != "MASTERS"]
        removes = [i for i, x in enumerate(order) if x[1:3] == ("SENTINEL", "REMOVE")]
        no_one = order.index((R, "REPLICAOF", "NO", "ONE"))
        monitors = [i for i, x in enumerate(order) if x[1:3] == ("SENTINEL", "MONITOR")]
        assert max(removes) < no_one < min(monitors)  # sentinels off while roles change
        assert (M, "REPLICAOF", "127.0.0.1", 7002) in order
        assert c.topo.groups[1].master == R and all(v["group-1"] == R for v in c.views.values())
    run(go())


def test_manual_promote_pauses_the_old_master(ctl):
    """CLIENT PAUSE WRITE on the old master before REPLICAOF NO ONE; it is repointed while still
    paused, and unpaused last (after the table is published)."""
    async def go():
        c = await ctl()
        await c.promote(1, R)
        calls = [x for x in c.calls if x[1] in ("CLIENT", "REPLICAOF")]
        assert calls == [(M, "CLIENT", "PAUSE", 4 * c.cfg.request_timeout_ms, "WRITE"),
                         (R, "REPLICAOF", "NO", "ONE"), (M, "REPLICAOF", "127.0.0.1", 7002),
                         (M, "CLIENT", "UNPAUSE")]
    run(go())


def test_manual_promote_refused_when_the_replica_does_not_catch_up(ctl):
    async def go():
        c = await ctl()
        c.timeout = 0.05
        fake_redis = c._redis

        async def lagging(addr, *args, password=None):
            if args[0] == "INFO":
                return {**await fake_redis(addr, *args), "master_repl_offset": 100, "slave_repl_offset": 40}
            return await fake_redis(addr, *args)
        c._redis = lagging
        with pytest.raises(T.TopologyError, match="did not catch up"):
            await c.promote(1, R)
        assert (M, "CLIENT", "UNPAUSE") in c.calls and (R, "REPLICAOF", "NO", "ONE") not in c.calls
        assert c.topo.groups[1].master == M and all(v["group-1"] == M for v in c.views.values())
        await c.promote(1, R, force=True)  # forced: goes on despite the lag
        assert c.topo.groups[1].master == R
    run(go())
