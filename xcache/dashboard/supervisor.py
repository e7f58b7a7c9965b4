"""Supervision of `xcache up`'s children: restarts with backoff, crash loops, no orphans.

Pure decisions (plain unit tests):
- on_exit(): what a child's exit leads to - a restart after a backoff delay, or, after
  `crash_loop_after` fast crashes in a row (each run shorter than `fast_crash_s`), staying down
  (state "crash_loop": the dashboard raises XcacheChildCrashLoop). A run that lasted longer
  resets the count, so a node that crashes once a day is always restarted at once.
- server_args(): a storage node restarts following the master the topology names now (never
  the one it had when `up` started): a replaced master comes back as a replica of the new one,
  and a master that is still the master comes back fenced (xcache/store/fence.py) until the
  dashboard confirms it.
- master_held(): a dead master that has replicas is left to the sentinels first: it is restarted
  once the topology names another master (it then comes back as that one's replica), or after
  `hold_s` if no failover came (it comes back fenced and the dashboard confirms it).
- report(): the children's states as `up` reports them to the dashboard (PUT /api/supervisor).

No orphans (shell):
- every child gets PR_SET_PDEATHSIG (SIGTERM) in a preexec_fn: when `up` dies, even by
  kill -9, the kernel signals its children (they stop cleanly; their own children - proxy
  workers - follow through their control channel). The children are spawned by `up`'s main
  thread only (the death signal follows the thread that forked).
- a pid file per child in <dir>/run/ (pid and the kernel's start time, so a reused pid is never
  mistaken for ours): the next `up` stops whatever a previous run left (reap_previous()), in case
  a child outlived its parent anyway (SIGTERM ignored, or started in the instant `up` died).
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from xcache.children import die_with_parent  # noqa: F401 (up.py uses S.die_with_parent)


@dataclass(frozen=True)
class Policy:
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 5.0
    fast_crash_s: float = 10.0
    crash_loop_after: int = 5


@dataclass
class ChildState:
    state: str = "starting"  # starting | running | backoff | crash_loop | stopped
    started_at: float = 0.0
    restarts: int = 0
    fast_crashes: int = 0
    next_start: float = 0.0
    last_exit: int | None = None
    history: list[float] = field(default_factory=list)  # times of the last exits


def on_exit(st: ChildState, code: int | None, now: float, policy: Policy) -> ChildState:
    """The state after the child exited with `code` at `now`."""
    fast = now - st.started_at < policy.fast_crash_s
    fast_crashes = st.fast_crashes + 1 if fast else 0
    history = (st.history + [now])[-10:]
    if fast_crashes >= policy.crash_loop_after:
        return ChildState("crash_loop", st.started_at, st.restarts, fast_crashes, 0.0, code, history)
    delay = min(policy.backoff_max_s, policy.backoff_initial_s * 2 ** max(0, fast_crashes - 1))
    return ChildState("backoff", st.started_at, st.restarts, fast_crashes, now + delay, code, history)


def on_start(st: ChildState, now: float) -> ChildState:
    restarts = st.restarts + (1 if st.state in ("backoff", "crash_loop") else 0)
    return ChildState("running", now, restarts, st.fast_crashes, 0.0, st.last_exit, st.history)


def due(st: ChildState, now: float) -> bool:
    return st.state == "backoff" and now >= st.next_start


def server_args(args: list[str], addr: str, topo: dict | None) -> list[str]:
    """A storage node's arguments for a restart: --replicaof whatever the topology names now as
    its group's master (none if it is the master or not in the topology any more)."""
    out, i = [], 0
    while i < len(args):
        if args[i] == "--replicaof":
            i += 2
            continue
        out.append(args[i])
        i += 1
    for g in (topo or {}).get("groups", {}).values():
        if addr in g.get("servers", []) and g.get("master") and g["master"] != addr:
            out += ["--replicaof", g["master"].replace(":", " ")]
    return out


def master_held(addr: str, topo: dict | None, died_at: float, now: float, hold_s: float) -> bool:
    """Whether the restart of the storage node addr waits for a failover of its group."""
    for g in (topo or {}).get("groups", {}).values():
        if g.get("master") == addr and len(g.get("servers", [])) > 1:
            return now - died_at < hold_s
    return False


def report(states: dict[str, ChildState], now: float) -> dict:
    return {"children": {name: {"state": st.state, "restarts": st.restarts,
                                "fast_crashes": st.fast_crashes, "last_exit": st.last_exit,
                                "uptime_s": round(now - st.started_at, 1) if st.state == "running" else 0}
                         for name, st in sorted(states.items())}}


# --- shell: no orphans -------------------------------------------------------------------------
def start_time(pid: int) -> str | None:
    """The kernel's start time of pid (field 22 of /proc/<pid>/stat), None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return None if fields[0] == "Z" else fields[19]  # a zombie is gone, only not reaped yet


def write_pid(run_dir: Path, name: str, pid: int) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / f"{name}.pid"
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, f"{pid} {start_time(pid) or ''}\n".encode())
    os.close(fd)
    os.replace(tmp, path)


def remove_pid(run_dir: Path, name: str) -> None:
    (run_dir / f"{name}.pid").unlink(missing_ok=True)


def leftovers(run_dir: Path) -> dict[str, int]:
    """name -> pid of the children a previous run left alive (pid and start time match)."""
    out = {}
    for path in sorted(run_dir.glob("*.pid")) if run_dir.is_dir() else []:
        try:
            pid_s, _, started = path.read_text().strip().partition(" ")
            pid = int(pid_s)
        except (OSError, ValueError):
            continue
        if started and start_time(pid) == started:
            out[path.stem] = pid
        else:
            path.unlink(missing_ok=True)
    return out


def reap_previous(run_dir: Path, timeout_s: float = 10.0) -> list[str]:
    """Stop what a previous `up` left running (SIGTERM, then SIGKILL); returns their names."""
    left = leftovers(run_dir)
    for pid in left.values():
        _signal(pid, signal.SIGCONT)
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(start_time(p) for p in left.values()):
        time.sleep(0.05)
    for pid in left.values():
        if start_time(pid):
            _signal(pid, signal.SIGKILL)
    for name in left:
        remove_pid(run_dir, name)
    return sorted(left)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


class Supervisor:
    """Watches `up`'s children (objects with name, args, port, start(), alive(), popen) from
    `up`'s main thread: tick() restarts the dead ones when their backoff is over."""

    def __init__(self, children: list, run_dir: Path, topo_path: Path, say,
                 policy: Policy | None = None, master_hold_s: float = 0.0):
        self.children, self.run_dir, self.topo_path, self.say = children, run_dir, topo_path, say
        self.policy = policy or Policy()
        self.master_hold_s = master_hold_s
        self.states: dict[str, ChildState] = {c.name: ChildState() for c in children}

    def add(self, child) -> None:
        self.children.append(child)
        self.states[child.name] = ChildState()

    def remove(self, child) -> None:
        self.children.remove(child)
        self.states.pop(child.name, None)
        remove_pid(self.run_dir, child.name)

    def started(self, child, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self.states[child.name] = on_start(self.states.get(child.name, ChildState()), now)
        write_pid(self.run_dir, child.name, child.popen.pid)

    def stopped(self, child) -> None:
        if child.name in self.states:
            self.states[child.name].state = "stopped"
        remove_pid(self.run_dir, child.name)

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        for c in list(self.children):
            st = self.states.get(c.name)
            if st is None:  # planned, not started yet
                continue
            if st.state == "running" and not c.alive():
                st = self.states[c.name] = on_exit(st, c.popen.returncode, now, self.policy)
                remove_pid(self.run_dir, c.name)
                if st.state == "crash_loop":
                    self.say(f"xcache up: {c.name} exited with {st.last_exit} {st.fast_crashes} times in a "
                             f"row within {self.policy.fast_crash_s:g}s: crash loop, left down (log {c.log})")
                else:
                    self.say(f"xcache up: {c.name} exited with {st.last_exit}; restarting in "
                             f"{st.next_start - now:.1f}s (log {c.log})")
            if due(st, now):
                if c.name.startswith("server-"):
                    addr, topo = f"127.0.0.1:{c.port}", self._topology()
                    if master_held(addr, topo, st.history[-1] if st.history else now, now,
                                   self.master_hold_s):
                        continue
                    c.args = server_args(c.args, addr, topo)
                c.start()
                self.started(c, now)

    def restart(self, name: str) -> bool:
        """Start a child left down by a crash loop again (an operator fixed the cause)."""
        st = self.states.get(name)
        if st is None or st.state != "crash_loop":
            return False
        st.state, st.fast_crashes, st.next_start = "backoff", 0, 0.0
        return True

    def _topology(self) -> dict | None:
        try:
            return json.loads(self.topo_path.read_text())["topology"]
        except (OSError, ValueError, KeyError):
            return None

    def report(self) -> dict:
        return report(self.states, time.monotonic())

