"""Unit tests of the sans-IO failover state machine."""

from __future__ import annotations

from xcache.sentinel.failover import (
    Abort,
    Event,
    Failover,
    Promote,
    Reconfigure,
    ReplicaStatus,
    State,
    SwitchMaster,
    View,
)

TIMEOUT = 10000


def names(actions):
    return [a.name for a in actions if isinstance(a, Event)]


def test_full_failover_happy_path():
    f = Failover(epoch=3, now=0, timeout_ms=TIMEOUT, parallel_syncs=1)
    view = View(my_id="me", leader=None, candidate="r1:1", promoted_connected=True)
    assert f.step(10, view) == []  # not elected yet
    view.leader = "me"
    acts = f.step(20, view)
    assert names(acts)[:3] == ["+elected-leader", "+failover-state-select-slave", "+selected-slave"]
    assert Promote("r1:1") in acts and f.state is State.WAIT_PROMOTION
    assert f.step(30, view) == []  # promotion not reported yet
    view.promoted_role = "master"
    view.replicas = {"r2:1": ReplicaStatus(master_addr="old:1", link_up=True, info_time=25),
                     "r3:1": ReplicaStatus(master_addr="old:1", link_up=True, info_time=25)}
    acts = f.step(40, view)
    assert "+promoted-slave" in names(acts)
    assert [a for a in acts if isinstance(a, Reconfigure)] == [Reconfigure("r2:1", "r1:1")]  # parallel_syncs=1
    # r2 reports the new master, then a link up
    view.replicas["r2:1"] = ReplicaStatus(master_addr="r1:1", link_up=False, info_time=50)
    assert names(f.step(50, view)) == ["+slave-reconf-inprog"]
    view.replicas["r2:1"] = ReplicaStatus(master_addr="r1:1", link_up=True, info_time=60)
    acts = f.step(60, view)
    assert names(acts) == ["+slave-reconf-done", "+slave-reconf-sent"]
    assert Reconfigure("r3:1", "r1:1") in acts
    view.replicas["r3:1"] = ReplicaStatus(master_addr="r1:1", link_up=True, info_time=70)
    acts = f.step(70, view)
    assert names(acts) == ["+slave-reconf-inprog", "+slave-reconf-done", "+failover-end"]
    assert acts[-1] == SwitchMaster("r1:1")
    assert f.state is State.DONE and not f.active


def test_stale_info_does_not_count_as_reconfigured():
    f = Failover(epoch=1, now=0, timeout_ms=TIMEOUT, parallel_syncs=5, forced=True)
    view = View(my_id="me", candidate="r1:1", promoted_connected=True)
    f.step(1, view)
    view.promoted_role = "master"
    view.replicas = {"r2:1": ReplicaStatus(master_addr="r1:1", link_up=True, info_time=1)}
    f.step(5, view)  # sends REPLICAOF at t=5
    assert f.reconf["r2:1"][0] == "sent"
    f.step(6, view)  # INFO from t=1 predates the command
    assert f.reconf["r2:1"][0] == "sent"


def test_not_elected_aborts_after_election_timeout():
    f = Failover(epoch=1, now=0, timeout_ms=3000, parallel_syncs=1)
    view = View(my_id="me", leader="other", candidate="r1:1")
    assert f.step(3000, view) == []
    assert f.step(3001, view) == [Abort("-failover-abort-not-elected")]
    assert f.state is State.ABORTED


def test_forced_failover_skips_election():
    f = Failover(epoch=1, now=0, timeout_ms=TIMEOUT, parallel_syncs=1, forced=True)
    acts = f.step(1, View(my_id="me", leader=None, candidate="r1:1", promoted_connected=True))
    assert Promote("r1:1") in acts


def test_no_good_replica_aborts():
    f = Failover(epoch=1, now=0, timeout_ms=TIMEOUT, parallel_syncs=1)
    acts = f.step(1, View(my_id="me", leader="me", candidate=None))
    assert acts[-1] == Abort("-failover-abort-no-good-slave")


def test_promotion_timeout_aborts():
    f = Failover(epoch=1, now=0, timeout_ms=1000, parallel_syncs=1, forced=True)
    view = View(my_id="me", candidate="r1:1", promoted_connected=False)
    assert not any(isinstance(a, Promote) for a in f.step(1, view))
    assert f.step(1002, view)[-1] == Abort("-failover-abort-slave-timeout")


def test_wait_promotion_timeout_aborts():
    f = Failover(epoch=1, now=0, timeout_ms=1000, parallel_syncs=1, forced=True)
    view = View(my_id="me", candidate="r1:1", promoted_connected=True, promoted_role="slave")
    f.step(1, view)
    assert f.step(1002, view) == [Abort("-failover-abort-slave-timeout")]


def test_sdown_replicas_are_skipped_and_timeout_ends_failover():
    f = Failover(epoch=1, now=0, timeout_ms=1000, parallel_syncs=1, forced=True)
    view = View(my_id="me", candidate="r1:1", promoted_connected=True, promoted_role="master",
                replicas={"dead:1": ReplicaStatus(sdown=True),
                          "slow:1": ReplicaStatus(master_addr="old:1")})
    f.step(1, view)  # promote
    acts = f.step(2, view)
    assert Reconfigure("slow:1", "r1:1") in acts and Reconfigure("dead:1", "r1:1") not in acts
    acts = f.step(2000, view)  # slow never confirms: the step times out, failover ends anyway
    assert "+failover-end" in names(acts) and acts[-1] == SwitchMaster("r1:1")
