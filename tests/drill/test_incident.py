"""`xcache drill incident`, bounded for CI: 4,000 clients (the full-scale run is 16,000, see
docs/operations/incident-drill.md), a stalled proxy, 2 s client timeouts, immediate reconnects, in
a private network namespace with somaxconn 32768. It fails if the lockout comes back.

Also: the report counts every client (a worker's result over 64 KiB used to be cut and its
clients silently dropped), and bad set-ups end in one clear line with nothing left behind."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import struct
import subprocess
import sys
import termios
import time

import pytest

from tests.procs import wait_until
from xcache.drill.incident import preflight

CLIENTS = 4000

needs_root = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"),
                                reason="needs root and unshare (CI has both)")


def _drill(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "xcache.cli", "drill", "incident", *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


def _readable_bytes(pipe) -> int:
    return struct.unpack("i", fcntl.ioctl(pipe.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]


def _leftovers(marker: str) -> list[str]:
    out = subprocess.run(["pgrep", "-af", marker], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "pgrep" not in line]


@needs_root
def test_incident_storm_no_lockout(tmp_path):
    out = tmp_path / "incident"
    res = _drill("--clients", str(CLIENTS), "--runs", "1", "--only", "xcache", "--stall", "3", "--ramp", "2",
                 "--duration", "40", "--out", str(out))
    assert res.returncode == 0, res.stderr[-3000:]
    doc = json.loads((out / "incident.json").read_text())
    (row,) = doc["table"]
    (fig,) = doc["runs"]["xcache"]
    assert fig["clients"] == CLIENTS  # every client process's results arrived
    assert row["lockouts"] == 0, fig
    assert fig["served_again_pct"] == 100.0
    # The stall made every client time out and reconnect: the storm really happened ...
    assert fig["failed_requests"] >= CLIENTS * 0.9
    # ... and the gate kept the sockets of clients that had left from becoming sessions. Without
    # it nearly every queued socket becomes one; a client whose own timeout fires after its
    # admission still counts, and a CI machine running other tests beside this one starves the
    # proxy now and then: allow that, not a wave (0 at 16,000 clients on a quiet machine).
    assert fig["dead_sessions"] <= CLIENTS // 4
    assert "| xcache | 1 | 0 |" in res.stdout
    assert (out / "xcache-run1.png").stat().st_size > 0
    assert not _leftovers(str(out))


def test_worker_results_larger_than_a_pipe_are_not_lost():
    """A drill worker's result for thousands of clients is far over 64 KiB; read late, it used to
    arrive cut at 64 KiB and the runner dropped that worker's clients from the report."""
    spec = {"host": "127.0.0.1", "port": 9, "password": "", "auth_timeout_s": 2, "connect_timeout_s": 2,
            "op_timeout_s": 2, "ops_per_sec": 1, "write_ratio": 0.2, "keys": 10, "value_bytes": 8,
            "backoff": True, "backoff_base_s": 0.5, "backoff_max_s": 1, "ramp_s": 0.1, "verbose": False,
            "clients": 6000, "seed": 1}
    p = subprocess.Popen([sys.executable, "-m", "xcache.drill.worker"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True,
                         env={**os.environ, "XCACHE_DRILL_SPEC": json.dumps(spec)})
    try:
        p.stdin.write(f"mark {time.time()!r}\n")
        p.stdin.write("stop\n")
        p.stdin.flush()
        # Read only once the pipe is full: the worker then has to write the rest in later calls.
        wait_until(lambda: _readable_bytes(p.stdout) >= 65536, timeout=60, what="a full pipe")
        line = p.stdout.readline()
        assert p.wait(60) == 0
    finally:
        if p.poll() is None:
            p.kill()
        p.stdout.close()
        p.stdin.close()
    assert len(line) > 65536
    assert len(json.loads(line)["result"]["recovery"]) == 6000


def test_preflight_reasons():
    assert preflight(euid=1000, which=shutil.which) == (
        "needs root (it builds a private network namespace with somaxconn 32768): run it with sudo")
    assert preflight(euid=0, which=lambda tool: None if tool == "ip" else "/bin/" + tool) == (
        "needs `ip` on PATH (Debian package iproute2)")
    assert preflight(euid=0, which=lambda tool: "/bin/" + tool) is None


@needs_root
def test_missing_tools_say_so_in_one_line(tmp_path):
    res = _drill("--clients", "10", env={**os.environ, "PATH": str(tmp_path)}, timeout=60)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "xcache drill incident: needs `unshare` on PATH (Debian package util-linux)"]
    assert not _leftovers("xcache-incident-")


def test_bad_proxy_spec_is_refused():
    if os.geteuid() != 0:
        pytest.skip("the root check comes first")
    res = _drill("--proxy", "nonsense", timeout=60)
    assert res.returncode == 2
    assert "expected NAME=COMMAND with {port}" in res.stderr


@needs_root
def test_incident_chain_failover_no_lockout(tmp_path):
    """The incident's own chain, small: on an `xcache up` cluster the master hangs, is killed and
    failed over by the sentinels while 1,000 clients with 2 s timeouts reconnect."""
    out = tmp_path / "chain"
    res = _drill("--scenario", "failover", "--clients", "1000", "--runs", "1", "--only", "xcache",
                 "--stall", "3", "--ramp", "1", "--duration", "40", "--out", str(out))
    assert res.returncode == 0, res.stderr[-3000:]
    doc = json.loads((out / "incident.json").read_text())
    (fig,) = doc["runs"]["xcache"]
    assert fig["clients"] == 1000
    assert doc["table"][0]["lockouts"] == 0, fig
    assert fig["failed_requests"] > 0  # the hang really cost the clients their requests
    assert "master hung, killed, failed over" in res.stdout
    assert not _leftovers(str(out))


@needs_root
def test_sigterm_mid_run_leaves_nothing_behind(tmp_path):
    """Stopped in the middle of a run (Ctrl-C, a CI timeout), the drill takes down everything it
    started inside its namespace: backend, proxy, client processes."""
    out = tmp_path / "stopped"
    p = subprocess.Popen([sys.executable, "-m", "xcache.cli", "drill", "incident", "--clients", "500",
                          "--runs", "1", "--only", "xcache", "--stall", "30", "--duration", "60",
                          "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: _leftovers(str(out / "redis.conf")) and _leftovers(str(out / "xcache.toml")),
                   timeout=60, what="the backend and the proxy running")
        p.terminate()
        assert p.wait(60) != 0
    finally:
        if p.poll() is None:
            p.kill()
    wait_until(lambda: not _leftovers(str(out)), timeout=30, what="every process of the drill gone")


@needs_root
def test_direct_floor_is_stormed_like_a_proxy(tmp_path):
    """--direct adds a redis-server the clients reach without a proxy (the machine's floor): it is
    stalled and stormed like the proxies and gets its own row."""
    out = tmp_path / "direct"
    res = _drill("--direct", "--only", "redis-direct", "--clients", "200", "--runs", "1", "--stall", "4",
                 "--ramp", "0.5", "--duration", "30", "--out", str(out))
    assert res.returncode == 0, res.stderr[-3000:]
    doc = json.loads((out / "incident.json").read_text())
    (row,) = doc["table"]
    (fig,) = doc["runs"]["redis-direct"]
    assert row["proxy"] == "redis-direct" and row["lockouts"] == 0
    assert fig["clients"] == 200 and fig["failed_requests"] >= 180  # the stall outlasted every timeout
    assert fig["dead_sessions"] is None  # no xcache admin to ask
    assert not _leftovers(str(out))
