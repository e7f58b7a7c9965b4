"""Growing and shrinking an `xcache up` cluster with supervised nodes: the request queue
(uprequests.py) and up's plans (upctl.py) as plain functions, then one command each against a
real cluster under reads."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import redis

from tests.dashboard.helpers import wait_until
from tests.dashboard.uprun import Up, pids_on_ports
from xcache.dashboard.upctl import drain_plan, drained, new_server_ports, slot_spec
from xcache.dashboard.uprequests import UpRequests


def test_requests_need_a_reporting_up():
    q = UpRequests()
    with pytest.raises(ValueError, match="no `xcache up`"):
        q.add("add_group", {}, reported_at=None, now=100)
    with pytest.raises(ValueError, match="no `xcache up`"):
        q.add("add_group", {}, reported_at=50, now=100)
    with pytest.raises(ValueError, match="unknown op"):
        q.add("format_disk", {}, reported_at=99, now=100)
    r = q.add("add_group", {"replicas": 1}, reported_at=99, now=100)
    assert r["status"] == "queued"
    assert q.take() == [{"id": r["id"], "op": "add_group", "params": {"replicas": 1}}]
    assert q.take() == []  # handed out once
    q.finish({str(r["id"]): {"ok": True, "group": 3}})
    assert q.get(r["id"])["status"] == "done" and q.get(r["id"])["result"]["group"] == 3
    r2 = q.add("remove_group", {"group": 3}, reported_at=99, now=100)
    q.take()
    q.finish({str(r2["id"]): {"ok": False, "error": "x"}})
    assert q.get(r2["id"])["status"] == "failed"


def test_new_server_ports_skip_used_and_taken():
    assert new_server_ports({10, 11}, 2, 10, 20, lambda p: p == 12) == [13, 14]
    with pytest.raises(RuntimeError):
        new_server_ports({10, 11}, 2, 10, 12, lambda p: False)


def test_drain_plan_evens_out_the_rest():
    slots = [1] * 4 + [2] * 2 + [3] * 6
    plan = drain_plan(slots, 3, [1, 2, 3])
    assert sorted(s for v in plan.values() for s in v) == list(range(6, 12))
    after = list(slots)
    for g, ss in plan.items():
        for s in ss:
            after[s] = g
    assert after.count(1) == after.count(2) == 6
    with pytest.raises(ValueError):
        drain_plan([1] * 4, 1, [1])
    assert slot_spec([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"


def test_drained_waits_for_moving_slots():
    topo = {"slots": [1, 1, 2, 2], "migration": {"pending": {}, "migrating": {}}}
    assert drained(topo, 3) and not drained(topo, 1)
    moving = {"slots": [2, 2, 2, 2], "migration": {"pending": {}, "migrating": {"1": 1}}}
    assert not drained(moving, 1)  # slot 1 already owned by group 2, still moving from 1
    queued = {"slots": [2, 2, 2, 2], "migration": {"pending": {"0": 1}, "migrating": {}}}
    assert not drained(queued, 1)


def admin(up: Up, *args: str) -> subprocess.CompletedProcess:
    lay = up.layout
    env = {**os.environ, "XCACHE_DASHBOARD": f"http://{lay['dashboard']}", "XCACHE_TOKEN": lay["admin_token"]}
    return subprocess.run([sys.executable, "-m", "xcache.cli", "admin", *args], capture_output=True,
                          text=True, timeout=300, env=env)


def test_grow_and_shrink_with_one_command_each(start_up):
    up = start_up("--set", "passwords=false", "--groups", "1", "--sentinels", "1")
    base = up.base
    api = up.api()
    c = redis.Redis(port=base + 200, protocol=2, decode_responses=True, socket_timeout=10)
    for i in range(300):
        c.set(f"k:{i}", i)
    wait_until(lambda: api.get("/api/supervisor").json().get("children"), what="up reports")

    r = admin(up, "group", "add-supervised", "--replicas", "1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "group 2 added" in r.stdout
    ov = api.get("/api/overview").json()
    assert [g["slots"] for g in ov["groups"]] == [512, 512]
    g2 = ov["groups"][1]
    assert len(g2["servers"]) == 2
    new_ports = {int(s["addr"].rsplit(":", 1)[1]) for s in g2["servers"]}
    assert new_ports <= set(range(base, base + 100))
    kids = api.get("/api/supervisor").json()["children"]
    assert {f"server-{p}" for p in new_ports} <= set(kids)  # supervised like the others
    wait_until(lambda: all(s.get("up") and (s["addr"] == g2["master"] or s.get("link") == "up")
                           for s in api.get("/api/overview").json()["groups"][1]["servers"]),
               what="the new group's replica in sync")
    assert [c.get(f"k:{i}") for i in range(300)] == [str(i) for i in range(300)]
    assert g2["servers"][0]["addr"] in up.layout["groups"][1]["servers"]  # up.json knows them

    r = admin(up, "group", "remove-supervised", "--group", "1")
    assert r.returncode == 0, r.stdout + r.stderr
    ov = api.get("/api/overview").json()
    assert [(g["id"], g["slots"]) for g in ov["groups"]] == [(2, 1024)]
    old_ports = {base, base + 1}
    wait_until(lambda: not pids_on_ports(old_ports), what="the removed group's nodes stopped")
    assert [c.get(f"k:{i}") for i in range(300)] == [str(i) for i in range(300)]
    assert all(not any(a.endswith(f":{p}") for g in up.layout["groups"] for a in g["servers"])
               for p in old_ports)
    kids = api.get("/api/supervisor").json()["children"]
    assert not {f"server-{p}" for p in old_ports} & set(kids)
    api.close()
    c.close()
