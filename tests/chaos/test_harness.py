"""The virtual-hosts harness: teardown leaves nothing behind, bad input ends in one clear line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from tests.procs import wait_until
from xcache.drill.chaos.cluster import ALL_HOSTS, Cluster, ClusterOptions
from xcache.drill.chaos.hosts import HarnessError, Hosts, netns_list

pytestmark = pytest.mark.needs_hosts


def connects(ip: str, port: int) -> bool:
    with socket.create_connection((ip, port), timeout=2):
        return True


def test_hosts_reach_each_other_and_teardown_leaves_nothing_even_on_error(tmp_path):
    hosts = Hosts(["a", "b"], tmp_path)
    started = []
    with pytest.raises(RuntimeError, match="boom"):
        with hosts:
            listen = "import socket,time; s=socket.socket(); s.bind(('0.0.0.0', 7000)); s.listen(); time.sleep(600)"
            started.append(hosts.spawn("b", [sys.executable, "-c", listen], tmp_path / "b.log"))
            started.append(hosts.spawn("a", ["sleep", "600"], tmp_path / "a.log"))
            # a grandchild the harness never saw is killed too (ip netns pids)
            hosts.spawn("a", ["sh", "-c", "sleep 600 & wait"], tmp_path / "sh.log")
            wait_until(lambda: hosts.call("a", connects, hosts["b"].ip, 7000), what="a reaches b")
            # no way out of the namespaces: no default route
            assert hosts.sh("a", "ip", "route", "get", "8.8.8.8", check=False).returncode != 0
            raise RuntimeError("boom")
    assert hosts.leftovers() == []
    assert not [ns for ns in netns_list() if ns.startswith(hosts.prefix)]
    assert all(p.poll() is not None for p in started)


def test_a_host_that_fails_to_start_ends_the_run_with_one_line_and_nothing_left(tmp_path):
    class Broken(Cluster):
        def plan(self) -> None:
            super().plan()
            host, args, log = self.specs["s2-6381"]
            self.specs["s2-6381"] = (host, [*args, "--set", "no_such_key=1"], log)

    hosts = Hosts(ALL_HOSTS, tmp_path)
    with pytest.raises(HarnessError) as err:
        with hosts:
            Broken(hosts, ClusterOptions(start_timeout_s=30)).start()
    msg = str(err.value)
    assert msg.startswith("s2-6381 on s2 exited with 2 before listening") and "\n" not in msg
    assert hosts.leftovers() == []


def test_a_missing_tool_is_named_in_one_line(no_etcd_path, tmp_path):
    env = {**os.environ, "PATH": no_etcd_path, "PYTHONPATH": os.getcwd()}
    p = subprocess.run([sys.executable, "-m", "xcache.cli", "drill", "chaos", "--workdir", str(tmp_path)],
                       capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 2
    assert p.stderr.strip() == "xcache drill chaos: missing: etcd (apt-get install etcd-server)"
