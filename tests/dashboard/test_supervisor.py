"""Supervision of `xcache up`'s children (dashboard/supervisor.py): the restart decisions as
plain functions; the death signal and pid files with real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from tests.procs import wait_until
from xcache.dashboard import supervisor as S

P = S.Policy(backoff_initial_s=0.5, backoff_max_s=4, fast_crash_s=10, crash_loop_after=3)


def test_restart_with_backoff_then_crash_loop():
    st = S.on_start(S.ChildState(), 100.0)
    st = S.on_exit(st, -9, 101.0, P)  # fast crash 1
    assert st.state == "backoff" and st.next_start == 101.5 and st.last_exit == -9
    assert not S.due(st, 101.4) and S.due(st, 101.5)
    st = S.on_start(st, 101.5)
    assert st.state == "running" and st.restarts == 1
    st = S.on_exit(st, 1, 102.0, P)  # fast crash 2: doubled delay
    assert st.next_start == 103.0
    st = S.on_exit(S.on_start(st, 103.0), 1, 104.0, P)  # fast crash 3
    assert st.state == "crash_loop" and not S.due(st, 1e9)


def test_a_long_run_resets_the_count_and_backoff_is_capped():
    st = S.ChildState(state="running", started_at=0.0, fast_crashes=2)
    st = S.on_exit(st, -9, 500.0, P)  # ran 500 s: not a fast crash
    assert st.state == "backoff" and st.fast_crashes == 0 and st.next_start == 500.5
    st = S.ChildState(state="running", started_at=0.0, fast_crashes=1)
    big = S.Policy(backoff_initial_s=1, backoff_max_s=3, crash_loop_after=100)
    for _ in range(6):
        st = S.on_start(S.on_exit(st, 1, st.started_at + 1, big), st.started_at + 5)
    assert S.on_exit(st, 1, st.started_at + 1, big).next_start - (st.started_at + 1) == 3


def test_server_args_follow_the_current_topology():
    args = ["server", "--port", "7002", "--replicaof", "127.0.0.1 7001", "--dir", "d"]
    topo = {"groups": {"1": {"master": "127.0.0.1:7002", "servers": ["127.0.0.1:7001", "127.0.0.1:7002"]}}}
    assert S.server_args(args, "127.0.0.1:7002", topo) == ["server", "--port", "7002", "--dir", "d"]
    assert S.server_args(["server", "--port", "7001"], "127.0.0.1:7001", topo) == [
        "server", "--port", "7001", "--replicaof", "127.0.0.1 7002"]
    assert S.server_args(args, "127.0.0.1:7002", None) == ["server", "--port", "7002", "--dir", "d"]


def test_a_dead_master_with_replicas_waits_for_the_failover():
    topo = {"groups": {"1": {"master": "h:1", "servers": ["h:1", "h:2"]},
                       "2": {"master": "h:3", "servers": ["h:3"]}}}
    assert S.master_held("h:1", topo, died_at=10.0, now=12.0, hold_s=5)
    assert not S.master_held("h:1", topo, died_at=10.0, now=15.0, hold_s=5)  # no failover came
    assert not S.master_held("h:2", topo, 10.0, 12.0, 5)  # a replica: at once
    assert not S.master_held("h:3", topo, 10.0, 12.0, 5)  # no replica to fail over to
    switched = {"groups": {"1": {"master": "h:2", "servers": ["h:1", "h:2"]}}}
    assert not S.master_held("h:1", switched, 10.0, 12.0, 5)


def test_report():
    states = {"proxy-1": S.on_start(S.ChildState(), 0.0), "server-2": S.ChildState(state="crash_loop", fast_crashes=5)}
    rep = S.report(states, 3.0)["children"]
    assert rep["proxy-1"]["state"] == "running" and rep["proxy-1"]["uptime_s"] == 3.0
    assert rep["server-2"] == {"state": "crash_loop", "restarts": 0, "fast_crashes": 5, "last_exit": None,
                               "uptime_s": 0}


def test_children_die_with_their_parent_even_on_kill9(tmp_path):
    """A parent spawns a child with die_with_parent(); kill -9 of the parent: the child gets
    SIGTERM from the kernel."""
    pidfile = tmp_path / "child.pid"
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import os, subprocess, sys, time
        from xcache.dashboard.supervisor import die_with_parent
        c = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                             preexec_fn=die_with_parent(os.getpid()), start_new_session=True)
        open({str(pidfile)!r}, "w").write(str(c.pid))
        time.sleep(600)
    """)], env={**os.environ})
    try:
        child = int(wait_until(lambda: pidfile.exists() and pidfile.read_text(), what="child started"))
        assert S.start_time(child)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        wait_until(lambda: S.start_time(child) is None, timeout=10, what="child gone")
    finally:
        if parent.poll() is None:
            parent.kill()


def test_pid_files_let_the_next_run_stop_leftovers(tmp_path):
    run = tmp_path / "run"
    # a leftover that ignores SIGTERM: stopped with SIGKILL after the timeout
    stubborn = subprocess.Popen([sys.executable, "-c",
                                 "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                                 "print('ready', flush=True); time.sleep(600)"], stdout=subprocess.PIPE)
    polite = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        assert stubborn.stdout.readline().strip() == b"ready"
        S.write_pid(run, "server-1", stubborn.pid)
        S.write_pid(run, "proxy-1", polite.pid)
        (run / "gone.pid").write_text("999999999 123\n")  # a pid that is not running
        (run / "reused.pid").write_text(f"{os.getpid()} 1\n")  # pid reused by another process
        assert (run / "proxy-1.pid").stat().st_mode & 0o777 == 0o600
        assert S.leftovers(run) == {"proxy-1": polite.pid, "server-1": stubborn.pid}
        assert S.reap_previous(run, timeout_s=1) == ["proxy-1", "server-1"]
        assert polite.wait(5) == -signal.SIGTERM and stubborn.wait(5) == -signal.SIGKILL
        assert list(run.glob("*.pid")) == []
    finally:
        for p in (stubborn, polite):
            if p.poll() is None:
                p.kill()


class Crasher:
    """A real child that exits at once (a node that cannot start)."""

    def __init__(self, tmp):
        self.name, self.port, self.log, self.args, self.popen = "server-1", 1, tmp / "c.log", [], None

    def start(self):
        self.popen = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])

    def alive(self):
        return self.popen.poll() is None


def test_supervisor_restarts_then_leaves_a_crash_loop_down(tmp_path):
    said = []
    c = Crasher(tmp_path)
    sup = S.Supervisor([c], tmp_path / "run", tmp_path / "topology.json", said.append,
                       S.Policy(backoff_initial_s=0.01, backoff_max_s=0.02, crash_loop_after=3))
    c.start()
    sup.started(c)
    assert (tmp_path / "run" / "server-1.pid").exists()

    def looped():
        sup.tick()
        return sup.states["server-1"].state == "crash_loop"
    wait_until(looped, what="crash loop")
    st = sup.states["server-1"]
    assert st.restarts == 2 and st.last_exit == 3 and not (tmp_path / "run" / "server-1.pid").exists()
    assert "crash loop" in said[-1] and sum("restarting" in s for s in said) == 2
    assert sup.report()["children"]["server-1"]["state"] == "crash_loop"
    assert sup.restart("server-1") and not sup.restart("nope")
    sup.tick()
    assert sup.states["server-1"].state == "running" and sup.states["server-1"].restarts == 3


def test_crash_loop_and_server_down_alerts():
    from xcache.dashboard.alerts import AlertEvaluator

    ev = AlertEvaluator()
    snap = {"servers": {"h:1": {"group": 1, "up": False, "expected_role": "master"}},
            "supervised": {"server-1": {"state": "crash_loop", "fast_crashes": 5},
                           "proxy-2": {"state": "running"}}}
    active, _ = ev.evaluate(snap, now=100)
    assert [a["labels"]["alertname"] for a in active] == ["XcacheChildCrashLoop"]  # down: pending 5 s
    assert active[0]["labels"]["child"] == "server-1"
    active, _ = ev.evaluate(snap, now=105)
    assert {a["labels"]["alertname"] for a in active} == {"XcacheChildCrashLoop", "XcacheServerDown"}
    down = next(a for a in active if a["labels"]["alertname"] == "XcacheServerDown")
    assert down["labels"] == {"alertname": "XcacheServerDown", "severity": "critical", "server": "h:1", "group": "1"}
    active, changes = ev.evaluate({"servers": {"h:1": {"group": 1, "up": True}}}, now=110)
    assert active == [] and {c["status"] for c in changes} == {"resolved"}
