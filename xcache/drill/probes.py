"""What the drill observes besides its own clients: the target's accept queue (ss), the host's
TcpExt ListenOverflows (/proc/net/netstat), an xcache proxy's admission counters (/stats), and
which processes listen on a port (to SIGSTOP a proxy or kill a master, whatever program it is)."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request

from xcache.observability import tcpinfo


def listen_queue(port: int) -> tuple[int, int] | None:
    """(queued, backlog) summed over every socket listening on the port (SO_REUSEPORT: several)."""
    try:
        out = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True,
                             timeout=2).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    queued = backlog = 0
    seen = False
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[0] == "LISTEN":
            queued += int(parts[1])
            backlog += int(parts[2])
            seen = True
    return (queued, backlog) if seen else None


def listen_overflows() -> int:
    return tcpinfo.netstat().get("TcpExt.ListenOverflows", 0)


def proxy_stats(admin_addr: str, timeout: float = 1.0) -> dict | None:
    """An xcache proxy's admin /stats, reduced to what the report plots; None if unreachable."""
    try:
        with urllib.request.urlopen(f"http://{admin_addr}/stats", timeout=timeout) as r:
            st = json.loads(r.read())
    except (OSError, ValueError):
        return None
    return {"dropped": sum((st.get("accept_dropped") or {}).values()),
            "dropped_by_reason": st.get("accept_dropped") or {},
            "sessions": st.get("sessions", 0),
            "dead_sessions": st.get("sessions_unserved"),
            "rejected": sum((st.get("rejected") or {}).values()),
            "loop_lag_s": max([w.get("loop_lag_seconds", 0.0) for w in st.get("workers") or []] or [0.0])}


def _listen_inodes(port: int) -> set[str]:
    inodes = set()
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as fh:
                next(fh)
                for line in fh:
                    f = line.split()
                    if f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add(f[9])
        except (OSError, StopIteration):
            pass
    return inodes


def pids_listening(port: int) -> list[int]:
    """Every process holding a listening socket on the port (a proxy's supervisor and workers)."""
    inodes = {f"socket:[{i}]" for i in _listen_inodes(port)}
    pids = []
    if not inodes:
        return pids
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                    pids.append(int(pid))
                    break
            except OSError:
                continue
    return sorted(pids)
