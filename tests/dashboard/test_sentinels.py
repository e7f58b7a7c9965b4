"""Sans-IO: configuring the sentinels (dashboard/sentinels.py). Each monitors exactly our groups;
a stale sentinel is corrected, never during a failover."""

from __future__ import annotations

from xcache.dashboard import sentinels as S

M, R = "127.0.0.1:7001", "127.0.0.1:7002"
A, B, C = "127.0.0.1:26001", "127.0.0.1:26002", "127.0.0.1:26003"


def plan(wanted, views, roles=None):
    n = len(views)
    suspects = S.stale_suspects(wanted, views, n)
    roles = roles or {}
    assert set(roles) <= suspects | set(roles)
    return {s: [(a.kind, a.group, a.master, a.had) for a in acts]
            for s, acts in S.plan_sync(wanted, views, n, {a: roles.get(a, False) for a in suspects}).items()}


def test_stale_sentinel_left_alone_during_a_failover():
    # one sentinel already switched to R; our master M is dead, the others still say M
    views = {A: {"group-1": R}, B: {"group-1": M}, C: {"group-1": M}}
    assert S.stale_suspects({"group-1": M}, views, 3) == {M, R}
    assert plan({"group-1": M}, views, {M: False, R: True}) == {A: [], B: [], C: []}


def test_stale_sentinel_corrected_after_a_manual_promote():
    # A missed a manual promote: M is now a replica, the topology and the others say R
    views = {A: {"group-1": M}, B: {"group-1": R}, C: {"group-1": R}}
    assert plan({"group-1": R}, views, {M: False, R: True}) == {
        A: [("correct", "group-1", R, M)], B: [], C: []}
    # not when the sentinel's master still says ROLE master (which one is right is unclear)
    assert plan({"group-1": R}, views, {M: True, R: True}) == {A: [], B: [], C: []}


def test_no_correction_without_a_majority_for_the_topology():
    views = {A: {"group-1": M}, B: {"group-1": M}, C: {"group-1": R}}
    assert S.stale_suspects({"group-1": R}, views, 3) == set()
    assert plan({"group-1": R}, views) == {A: [], B: [], C: []}


def test_sentinels_monitor_new_groups_and_drop_removed():
    views = {A: {"group-1": M}, B: {"mymaster": "127.0.0.1:1"}, C: {"group-1": M, "group-9": "127.0.0.1:9"}}
    assert plan({"group-1": M}, views) == {
        A: [], B: [("monitor", "group-1", M, "")],  # mymaster is not ours: untouched
        C: [("remove", "group-9", "", "")]}


def test_quorum_is_a_majority():
    assert [S.majority(n) for n in (1, 2, 3, 4, 5)] == [1, 2, 2, 3, 3]


def test_parse_sentinel_replies():
    reply = [["name", "group-1", "ip", "127.0.0.1", "port", "7001", "flags", "master,o_down"],
             ["name", "mymaster", "ip", "10.0.0.1", "port", "6379", "flags", "master"]]
    known, flags = S.parse_masters(reply)
    assert known == {"group-1": M, "mymaster": "10.0.0.1:6379"}
    assert flags == {"group-1": "master,o_down", "mymaster": "master"}
    assert S.parse_masters(None) == ({}, {})
    assert S.master_addr(["127.0.0.1", "7002"]) == R
    assert S.master_addr(None) is None and S.master_addr(ConnectionError("x")) is None


def test_parse_events():
    assert S.parse_event("+switch-master", "group-1 127.0.0.1 7001 127.0.0.1 7002") == ("switch", "group-1", R)
    assert S.parse_event("+switch-master", "garbage") is None
    assert S.parse_event("+odown", "master group-1 127.0.0.1 7001 #quorum 2/2") == ("odown", "group-1", "")
    assert S.parse_event("+odown", "slave 127.0.0.1:7002 127.0.0.1 7002 @ group-1 127.0.0.1 7001") is None
