"""Sans-IO: the failover decisions (dashboard/failover.py). Following +switch-master needs a
sentinel majority and ROLE master; a manual promote pauses the old master's writes and keeps the
sentinels off while roles change; a replica out of sync or lagging is refused unless forced."""

from __future__ import annotations

from xcache.dashboard import failover as F
from xcache.dashboard import topology as T

M, R, R2 = "127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"
S = ["127.0.0.1:26001", "127.0.0.1:26002", "127.0.0.1:26003"]


def kinds(steps):
    return [(s.kind, s.server) for s in steps]


def test_switch_confirmed_by_majority_and_role():
    views = {S[0]: R, S[1]: R, S[2]: M}
    assert F.agreement_problem(R, views, 3) is None
    assert F.role_problem(["master", 0, []]) is None


def test_switch_needs_a_majority():
    views = {S[0]: R, S[1]: M, S[2]: None}  # only one sentinel says so, one does not answer
    assert F.agreement_problem(R, views, 3) == "1/3 sentinels agree, need 2"
    # a majority of all the sentinels in the topology, not of those that answered
    assert F.agreement_problem(R, {S[0]: R}, 3) == "1/1 sentinels agree, need 2"


def test_switch_needs_role_master():
    assert F.role_problem(["slave", "127.0.0.1", 7001, "connected", 10]) == "ROLE says slave"
    assert F.role_problem(["error ConnectionError()"]) == "ROLE says error ConnectionError()"
    assert F.role_problem([]) == "ROLE says None"


def test_poll_catches_a_missed_switch():
    assert F.majority_master({S[0]: R, S[1]: R, S[2]: R}, 3) == R
    assert F.majority_master({S[0]: R, S[1]: R, S[2]: None}, 3) == R
    assert F.majority_master({S[0]: R, S[1]: M, S[2]: None}, 3) is None
    assert F.majority_master({S[0]: None, S[1]: None, S[2]: None}, 3) is None


def group():
    t, _ = T.add_group(T.Topology(), 1)
    for s in (M, R, R2):
        t = T.add_server(t, 1, s)
    return t


def test_manual_promote_sequence():
    t = group()
    plan = F.promote_plan(M, T.promote(t, 1, R).groups[1].replicas, R)
    for paused in (True, False):
        steps = kinds(F.steps_for(plan, paused))
        order = [k for k, _ in steps]
        # sentinels off while roles change, on again at the end
        assert order.index("unwatch") < order.index("make_master") < order.index("watch")
        assert order[-1] == "watch" and ("repoint", M) in steps and ("repoint", R2) in steps
        assert order.index("make_master") < order.index("publish")


def test_manual_promote_pauses_the_old_master():
    """CLIENT PAUSE WRITE on the old master before REPLICAOF NO ONE; it is repointed while still
    paused, and unpaused last (after the table is published)."""
    t = group()
    plan = F.promote_plan(M, T.promote(t, 1, R).groups[1].replicas, R)
    assert kinds(F.steps_for(plan, paused=True)) == [
        ("unwatch", ""), ("pause", M), ("wait_caught_up", R), ("make_master", R), ("repoint", M),
        ("publish", R), ("repoint", R2), ("unpause", M), ("watch", R)]
    # the pause failed (a dead or old master): no wait, no unpause, the old master repointed last
    assert kinds(F.steps_for(plan, paused=False)) == [
        ("unwatch", ""), ("pause", M), ("make_master", R), ("publish", R), ("repoint", M),
        ("repoint", R2), ("watch", R)]
    assert F.promote_pause_ms(1000) == 4000


def test_promote_of_a_group_without_master():
    t, _ = T.add_group(T.Topology(), 1)
    t = T.add_server(t, 1, R)
    plan = F.promote_plan("", [], R)
    assert kinds(F.steps_for(plan, paused=False)) == [
        ("unwatch", ""), ("make_master", R), ("publish", R), ("watch", R)]


def test_manual_promote_refused_when_the_replica_does_not_catch_up():
    info = {"role": "slave", "master_host": "127.0.0.1", "master_port": "7001",
            "master_link_status": "up", "slave_repl_offset": "40"}
    assert F.sync_problem(M, info) is None
    assert F.bytes_behind(100, info) == 60 and F.bytes_behind(40, info) == 0
    assert "link down" in F.sync_problem(M, {**info, "master_link_status": "down"})
    assert "following 127.0.0.1:7009" in F.sync_problem(M, {**info, "master_port": "7009"})
    assert F.sync_problem(M, {"role": "master"}) is None  # a master already: nothing to sync


def test_a_failed_promote_restores_the_watch_and_unpauses():
    """The replica did not catch up (or REPLICAOF NO ONE failed): the old master is unpaused and
    the sentinels watch it again; no REPLICAOF NO ONE was sent (it comes after the wait)."""
    t = group()
    steps = F.steps_for(F.promote_plan(M, T.promote(t, 1, R).groups[1].replicas, R), paused=True)
    wait = [s.kind for s in steps].index("wait_caught_up")
    assert "make_master" not in [s.kind for s in steps[:wait + 1]]
    assert kinds(F.undo_steps(steps[:wait], paused=True)) == [("watch", M), ("unpause", M)]
    # past REPLICAOF NO ONE (e.g. publishing failed): no way back, but the pause still ends
    publish = [s.kind for s in steps].index("publish")
    assert kinds(F.undo_steps(steps[:publish], paused=True)) == [("unpause", M)]
    # the pause did not work: nothing to unpause
    assert kinds(F.undo_steps(steps[:2], paused=False)) == [("watch", M)]
    # everything ran: nothing to undo
    assert F.undo_steps(steps, paused=True) == []
