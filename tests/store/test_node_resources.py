"""The node out of file descriptors, and with its metrics port taken (issue 12)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys

import pytest
import redis

from tests.procs import Proc, free_port, start_xcache_server, wait_until


def node_args(tmp_path, port: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "xcache.cli", "server", "--port", str(port), "--dir",
            str(tmp_path / "data"), *extra]


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="needs prlimit (util-linux)")
def test_out_of_fds_refuses_with_a_reply_logs_once_and_counts(tmp_path):
    port = free_port()
    log = tmp_path / "server.log"
    proc = Proc(["prlimit", "--nofile=100:100", *node_args(tmp_path, port, "--set", "metrics_port=0")],
                port, stderr_path=str(log)).wait_ready()
    socks = []
    try:
        for _ in range(150):
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        last = socks[-1]
        last.settimeout(20)  # a bound for a loaded machine, not a speed check
        try:
            reply = last.recv(100)
        except TimeoutError:
            pytest.fail("the last client got no reply; node log:\n" + log.read_text()[-4000:])
        assert reply == b"-ERR max number of clients reached\r\n"
        for s in socks:
            s.close()
        socks = []
        r = redis.Redis(port=port, protocol=2, socket_timeout=5)
        stats = wait_until(lambda: r.info("stats"), what="the node answers again")
        assert stats["rejected_connections_fd"] > 0

        def every_episode_ended():
            # an episode ends at the next accept that succeeds: connect anew each time (the
            # last queued socket may have started one after r's connection was accepted)
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                pass
            t = log.read_text()
            return t.count("event=fd_exhaustion_ended") >= t.count("event=fd_exhaustion ") >= 1 and t

        text = wait_until(every_episode_ended, what="the end of every episode logged")
        # once per episode, not once per client (a descriptor freed meanwhile, e.g. by RocksDB,
        # may end an episode early and a second one start: still far fewer lines than clients)
        assert text.count("event=fd_exhaustion ") < r.info("stats")["rejected_connections_fd"]
        assert "event=maxclients_lowered" in text
        r.close()
    finally:
        for s in socks:
            s.close()
        proc.stop()


def test_metrics_port_taken_fails_the_start_loudly(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        metrics_port = taken.getsockname()[1]
        (tmp_path / "data").mkdir()
        done = subprocess.run(node_args(tmp_path, free_port(), "--set", f"metrics_port={metrics_port}"),
                              capture_output=True, timeout=60)
        assert done.returncode == 2
        assert b"event=metrics_port_unavailable" in done.stderr
    finally:
        taken.close()


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="needs prlimit (util-linux)")
def test_out_of_memory_answers_an_error_and_the_client_stays(tmp_path):
    """issue 12: a MemoryError used to drop the connection without a reply."""
    proc = start_xcache_server(tmp_path, "--set", "metrics_port=0")
    try:
        with open(f"/proc/{proc.pid}/status") as f:
            vm_kb = next(int(line.split()[1]) for line in f if line.startswith("VmSize:"))
        # Address space for what the node has now plus 200 MB: a 512 MB value cannot fit.
        subprocess.run(["prlimit", "--pid", str(proc.pid), f"--as={vm_kb * 1024 + 200 * 2**20}"],
                       check=True)
        r = redis.Redis(port=proc.port, protocol=2, socket_timeout=30)
        with pytest.raises(redis.ResponseError, match="^out of memory$"):
            r.setrange("k", 536_000_000, "x")
        assert r.ping() and r.set("a", "b") and r.get("a") == b"b"  # same connection
        assert r.info("stats")["internal_errors"] == 1
        r.close()
    finally:
        proc.stop()
