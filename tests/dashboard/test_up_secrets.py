"""`xcache up` keeps its secrets: a generated password on every storage node, sentinel and proxy,
wired together (backend_password, masterauth, sentinel auth_pass and requirepass, the
dashboard's clients); no password or token on any process's command line; data dir 0700 and
every file in it 0600 (RocksDB files and WAL, logs, topology.json, up.json, configs)."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import redis

from tests.dashboard.helpers import wait_until
from tests.dashboard.uprun import Up, free_base, redis_cli


def all_cmdlines() -> list[bytes]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                out.append((d / "cmdline").read_bytes())
            except OSError:
                pass
    return out


def test_up_generates_wires_and_hides_passwords(tmp_path):
    data = tmp_path / "xcache-data"
    base = free_base()
    up = Up(data, base, "--groups", "1", "--replicas", "1", "--sentinels", "3")
    try:
        up.wait_up()
        lay = up.layout
        pw = lay["passwords"]
        secrets = {pw["server"], pw["sentinel"], pw["proxy"], lay["admin_token"], lay["proxy_admin_token"]}
        assert len(secrets) == 5 and all(len(s) >= 32 for s in secrets)

        # no secret on any command line (ps, /proc/<pid>/cmdline), proxy workers included
        for cmdline in all_cmdlines():
            for secret in secrets:
                assert secret.encode() not in cmdline, cmdline

        # every process refuses clients without the password
        node, sentinel, proxy = base, base + 100, base + 200
        for port in (node, sentinel, proxy):
            assert redis_cli(port, "ping") == "NOAUTH Authentication required."
        assert redis_cli(node, "ping", password=pw["server"]) == "PONG"
        # the proxy AUTHs to the nodes (backend_password), the replica to its master (masterauth)
        assert redis_cli(proxy, "set", "k", "v", password=pw["proxy"]) == "OK"
        replica = redis.Redis(port=node + 1, password=pw["server"], protocol=2, decode_responses=True)
        wait_until(lambda: replica.get("k") == "v", what="the replica to replicate with masterauth")
        replica.close()
        # the sentinels AUTH to the nodes (auth_pass) and to each other (requirepass)
        s = redis.Redis(port=sentinel, password=pw["sentinel"], protocol=2, decode_responses=True)
        wait_until(lambda: s.sentinel_masters() and all(
            m["num-slaves"] == 1 and m["num-other-sentinels"] == 2 for m in s.sentinel_masters().values()),
            what="sentinels connected to the nodes and to each other")
        s.close()
        # the printed connect line works as printed
        line = next(x for x in up.text().splitlines() if "connect:" in x)
        cmd = line.split("connect:", 1)[1].split("(proxy ports")[0].strip()
        assert subprocess.run(["bash", "-c", cmd + " get k"], capture_output=True, text=True,
                              timeout=20).stdout.strip() == "v"

        # owner-only: directories 0700, files 0600
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        seen = set()
        for root, dirs, files in os.walk(data):
            for name in dirs:
                mode = stat.S_IMODE(os.stat(os.path.join(root, name)).st_mode)
                assert mode & 0o077 == 0, (root, name, oct(mode))
            for name in files:
                path = os.path.join(root, name)
                mode = stat.S_IMODE(os.stat(path).st_mode)
                assert mode & 0o077 == 0, (path, oct(mode))
                seen.add(name)
        assert {"up.json", "topology.json", "dashboard.log", "proxy.toml", "proxy.password"} <= seen
        assert any(n.endswith(".log") and n[:-4].isdigit() for n in seen)  # a RocksDB WAL
        assert any(n.startswith("MANIFEST-") for n in seen)
    finally:
        up.stop()
