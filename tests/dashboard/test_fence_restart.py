"""The fence end to end, outside `xcache up`: a master killed with -9 under load through the
proxy is failed over by real sentinels; restarted by hand with plain `xcache server` on its old
data, it answers no write to a client connected to it directly, and ends as a replica of the new
master (the dashboard or a sentinel repoints it); no acknowledged write is lost."""

from __future__ import annotations

import sys

import redis

from tests.dashboard.helpers import DashboardProc, ProxyProc, wait_until
from tests.dashboard.test_selfheal import FenceProbe, Writer
from tests.procs import Proc, free_port, start_xcache_server


def test_old_master_restarted_by_hand_stays_fenced_then_rejoins(tmp_path):
    procs: list[Proc] = []
    try:
        m = start_xcache_server(tmp_path)
        r = start_xcache_server(tmp_path)
        procs += [m, r]
        mdata = tmp_path / f"xcache-{m.port}"
        sentinels = []
        for i in range(3):
            port = free_port()
            sentinels.append(Proc([sys.executable, "-m", "xcache.cli", "sentinel", "--port", str(port),
                                   "--set", "down_after_ms=1000", "--set", "failover_timeout_ms=5000",
                                   "--set", "info_period_ms=1000", "--set", "hello_period_ms=500"],
                                  port, stderr_path=str(tmp_path / f"sentinel-{i}.log")).wait_ready())
        procs += sentinels
        proxy = ProxyProc(tmp_path, hold_timeout_ms=8000).wait_admin()
        procs.append(proxy)
        dash = DashboardProc(tmp_path, f"file://{tmp_path / 'coord'}").wait_healthy()
        procs.append(dash)
        for s in sentinels:
            dash.call("POST", "/api/sentinels", {"addr": f"127.0.0.1:{s.port}"})
        dash.call("POST", "/api/groups", {"id": 1})
        maddr, raddr = f"127.0.0.1:{m.port}", f"127.0.0.1:{r.port}"
        dash.call("POST", "/api/groups/1/servers", {"addr": maddr})
        dash.call("POST", "/api/groups/1/servers", {"addr": raddr})
        dash.call("POST", "/api/slots/assign", {"group": 1, "slots": "0-1023"})
        dash.call("POST", "/api/proxies", {"addr": proxy.addr, "admin_addr": proxy.admin_addr})
        wait_until(lambda: {s["addr"]: s for s in dash.overview()["groups"][0]["servers"]}[raddr].get("link") == "up",
                   what="replica in sync")


        def sentinels_ready():  # each knows the replica and the other sentinels: a failover can run
            for s in sentinels:
                with redis.Redis(port=s.port, protocol=2, decode_responses=True) as c:
                    d = c.sentinel_master("group-1")
                if d["num-slaves"] < 1 or d["num-other-sentinels"] < 2:
                    return False
            return True
        wait_until(sentinels_ready, what="sentinels discovered the replica and each other")
        writer = Writer(proxy.port)
        writer.start()
        wait_until(lambda: len(writer.acked) > 200, what="load running")
        m.kill9()
        probe = FenceProbe(m.port)  # from the kill on: any write the old master accepts is recorded
        probe.start()
        wait_until(lambda: dash.overview()["groups"][0]["master"] == raddr, timeout=30, what="failover followed")
        n = len(writer.acked)
        wait_until(lambda: len(writer.acked) > n + 100, what="writes go on on the new master")

        old = start_xcache_server(tmp_path, port=m.port, data_dir=mdata)  # by hand, plain
        procs.append(old)
        with redis.Redis(port=old.port, protocol=2, decode_responses=True) as c:
            wait_until(lambda: c.info("replication")["role"] == "slave"
                       and c.info("replication")["master_port"] == r.port
                       and c.info("replication")["master_link_status"] == "up",
                       timeout=30, what="the old master rejoined as a replica of the new one")
        probe.halt.set()
        probe.join(10)
        assert probe.accepted == [], probe.accepted
        assert probe.refused > 0  # it did reach the fenced node and got -READONLY
        writer.halt.set()
        writer.join(15)
        with redis.Redis(port=proxy.port, protocol=2) as c:
            got = []
            for i in range(0, len(writer.acked), 500):
                chunk = writer.acked[i:i + 500]
                got += c.mget([f"w:{k}" for k in chunk])
        lost = [k for k, v in zip(writer.acked, got, strict=True) if v != str(k).encode()]
        assert lost == [], f"{len(lost)} acknowledged writes lost: {lost[:10]}"
        events = [e["kind"] for e in dash.overview()["alerts"]]
        print("events", events[-10:])
    finally:
        for p in reversed(procs):
            p.stop()
