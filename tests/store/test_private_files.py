"""A storage node keeps its data private: data dir 0700, RocksDB files (WAL with cached values,
SST, LOG) 0600; the password can come from the environment instead of the command line."""

from __future__ import annotations

import os
import stat
import sys

import redis

from tests.procs import Proc, free_port


def test_node_files_are_private_and_password_comes_from_env(tmp_path):
    data = tmp_path / "node"  # created by the node
    port = free_port()
    args = [sys.executable, "-m", "xcache.cli", "server", "--port", str(port), "--dir", str(data),
            "--set", "metrics_port=0"]
    proc = Proc(args, port, env={"XCACHE_REQUIREPASS": "from-env"},
                stderr_path=str(tmp_path / "node.log")).wait_ready()
    try:
        assert b"from-env" not in open(f"/proc/{proc.pid}/cmdline", "rb").read()
        r = redis.Redis(port=port, password="from-env", protocol=2)
        for i in range(100):
            r.set(f"k{i}", "v" * 100)
        r.close()
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        names = []
        for root, dirs, files in os.walk(data):
            for d in dirs:
                assert stat.S_IMODE(os.stat(os.path.join(root, d)).st_mode) == 0o700, d
            for f in files:
                assert stat.S_IMODE(os.stat(os.path.join(root, f)).st_mode) & 0o077 == 0, f
                names.append(f)
        assert "CURRENT" in names and any(n.endswith(".log") for n in names) and "LOG" in names
    finally:
        proc.stop()
