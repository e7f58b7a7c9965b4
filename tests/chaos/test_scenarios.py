"""The CI set of chaos scenarios on virtual hosts: kill -9 of a master, a master isolated
from the sentinels, the dashboard and its replicas (still reachable by the proxies and clients)
without and with acknowledged writes (write_ack_replicas=1), and a storage host's full disk."""

from __future__ import annotations

import pytest

from xcache.drill.chaos.scenario import ScenarioOptions, run_scenario

pytestmark = pytest.mark.needs_hosts


def run(tmp_path, nemesis: str, durable: str):
    r = run_scenario(ScenarioOptions(nemesis=nemesis, durable=durable, hold_s=6.0, workdir=str(tmp_path)),
                     progress=lambda m: None)
    assert r.error == ""
    assert r.leftovers == []
    assert "replicas_differ" not in r.timeline  # every replica applied every write of its master
    v = r.verdict
    assert v["valid"], v["problems"]
    assert v["acknowledged"] > 0
    return v


def test_kill_master_and_restart(tmp_path):
    run(tmp_path, "kill-master", "off")


def test_isolated_master_loses_acknowledged_writes_without_durable_mode(tmp_path):
    v = run(tmp_path, "isolate-master", "off")
    # the proxies keep writing to the cut-off master until the failover, at least down_after_ms
    assert v["lost"] > 0


def test_isolated_master_loses_nothing_acknowledged_with_write_ack_replicas(tmp_path):
    v = run(tmp_path, "isolate-master", "ack")
    assert v["lost"] == 0


def test_full_disk_refuses_writes_and_heals_without_losing_any(tmp_path):
    # group 1's master (and group 2's replica) on a 64 MB tmpfs filled up: writes to group 1 are
    # refused (-MISCONF, counted as failed), the replica's stream waits instead of skipping a write,
    # and both reopen RocksDB in place once the filler is removed
    v = run(tmp_path, "disk-full", "off")
    assert v["lost"] == 0 and v["failed"] > 0


def test_standby_dashboard_takes_over_and_the_isolated_one_is_fenced(tmp_path):
    r = run_scenario(ScenarioOptions(nemesis="isolate-dashboard", hold_s=2.0, workdir=str(tmp_path)),
                     progress=lambda m: None)
    assert r.error == "" and r.leftovers == []
    assert r.verdict["valid"], r.verdict["problems"]
    # d1 logged ownership_lost (it stops pushing), d2 became active and followed the failover
    # (the run only ends once a write of every group succeeds through both proxies)
    assert "old_leader_stopped_s" in r.timeline and "takeover_s" in r.timeline
