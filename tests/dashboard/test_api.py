"""Dashboard process + its HTTP API and admin CLI against real redis-server groups and a proxy."""

from __future__ import annotations

import httpx
import redis
from click.testing import CliRunner

from tests.dashboard.helpers import (
    PROXY_TOKEN,
    TOKEN,
    DashboardProc,
    ProxyProc,
    admin,
    build,
    role,
    wait_until,
)
from tests.procs import free_port, start_redis
from xcache.cli import main as xcache_main


def test_auth_health_metrics(env):
    dash = env["dash"]
    r = httpx.get(dash.url + "/api/overview")
    assert r.status_code == 401 and "token" in r.json()["error"]
    r = httpx.post(dash.url + "/api/groups", json={}, headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401
    assert httpx.get(dash.url + "/health").json()["status"] == "ok"
    metrics = httpx.get(dash.url + "/metrics").text
    assert "xcache_dashboard_topology_epoch" in metrics
    assert httpx.get(dash.url + "/ui/").status_code == 200
    assert "app.js" in httpx.get(dash.url + "/ui/").text


def test_build_serve_and_promote(env):
    dash, s, proxy = env["dash"], env["servers"], env["proxy"]
    build(env)
    wait_until(lambda: role(s[1])[:4] == ["slave", "127.0.0.1", int(s[0].split(":")[1]), "connected"],
               what="replica of group 1 follows its master")
    epoch = dash.overview()["epoch"]
    table = proxy.slots()
    assert table["epoch"] == epoch
    assert table["groups"]["1"]["master"] == s[0] and table["slots"] == {"0-511": 1, "512-1023": 2}
    with redis.Redis(port=proxy.port, protocol=2, decode_responses=True) as c:
        for i in range(50):
            c.set(f"k{i}", i)
        assert c.get("k7") == "7"
    wait_until(lambda: all(p["in_sync"] for p in dash.overview()["proxies"]), what="proxy in sync")
    out = admin(dash, "overview")
    assert "group 1" in out and "in sync" in out

    admin(dash, "group", "promote", "--group", "1", "--addr", s[1])
    assert role(s[1])[0] == "master"
    t = proxy.slots()
    assert t["groups"]["1"]["master"] == s[1] and t["epoch"] == dash.overview()["epoch"]
    wait_until(lambda: role(s[0])[0] == "slave" and role(s[0])[2] == int(s[1].split(":")[1]),
               what="old master follows the new one")
    with redis.Redis(port=proxy.port, protocol=2, decode_responses=True) as c:
        assert c.get("k7") == "7"
        c.set("after", "promote")
        assert c.get("after") == "promote"

    # rebalance onto a third group moves only its share
    admin(dash, "group", "add")
    extra = start_redis(env["tmp"])
    try:
        admin(dash, "group", "add-server", "--group", "3", "--addr", f"127.0.0.1:{extra.port}")
        admin(dash, "slots", "rebalance")
        counts = dash.overview()["groups"]
        assert sorted(g["slots"] for g in counts) == [341, 341, 342]
        assert proxy.slots()["epoch"] == dash.overview()["epoch"]
        with redis.Redis(port=proxy.port, protocol=2, decode_responses=True) as c:
            c.set("x", "y")
            assert c.get("x") == "y"
    finally:
        extra.stop()


def test_late_proxy_is_brought_up_to_date(env):
    dash = env["dash"]
    build(env)
    port, admin_port = free_port(), free_port()
    dash.call("POST", "/api/proxies", {"addr": f"127.0.0.1:{port}", "admin_addr": f"127.0.0.1:{admin_port}"})
    late = [p for p in dash.overview()["proxies"] if p["addr"] == f"127.0.0.1:{port}"][0]
    assert not late["in_sync"] and "unreachable" in late["error"]
    proxy2 = ProxyProc(env["tmp"], port=port, admin_port=admin_port)
    try:
        wait_until(lambda: proxy2.slots().get("epoch") == dash.overview()["epoch"], what="late proxy gets the table")
        with redis.Redis(port=port, protocol=2, decode_responses=True) as c:
            c.set("late", "1")
            assert c.get("late") == "1"
        # a restarted proxy (empty table) is brought up to date too
        proxy2.stop()
        proxy2 = ProxyProc(env["tmp"], port=port, admin_port=admin_port)
        wait_until(lambda: proxy2.slots().get("epoch") == dash.overview()["epoch"], what="restarted proxy")
    finally:
        proxy2.stop()
    dash.call("DELETE", f"/api/proxies/127.0.0.1:{port}")
    assert len(dash.overview()["proxies"]) == 1


def test_errors_are_clear(env):
    dash, s = env["dash"], env["servers"]
    build(env)
    assert "owns 512 slots" in dash.call("DELETE", "/api/groups/1", status=400)["error"]
    assert "not in group" in dash.call("POST", "/api/groups/1/promote", {"addr": s[2]}, status=400)["error"]
    assert "no group 9" in dash.call("POST", "/api/groups/9/servers", {"addr": "127.0.0.1:1"}, status=400)["error"]
    assert "missing field" in dash.call("POST", "/api/groups/1/servers", {}, status=400)["error"]
    assert "already in group" in dash.call("POST", "/api/groups/2/servers", {"addr": s[0]}, status=400)["error"]
    assert "bad slot range" in dash.call("POST", "/api/slots/assign", {"group": 1, "slots": "9-2"}, status=400)["error"]
    r = dash.http.post("/api/groups", content=b"{nope")
    assert r.status_code == 400
    # an unreachable server is refused before the topology changes
    epoch = dash.overview()["epoch"]
    dash.call("POST", "/api/groups/1/servers", {"addr": f"127.0.0.1:{free_port()}"}, status=502)
    assert dash.overview()["epoch"] == epoch
    res = CliRunner().invoke(xcache_main, ["admin", "--dashboard", dash.url, "--token", TOKEN,
                                           "group", "remove", "--group", "1"])
    assert res.exit_code == 1 and "owns 512 slots" in res.output


def test_second_dashboard_is_refused_and_topology_survives_restart(env):
    dash, tmp = env["dash"], env["tmp"]
    build(env)
    other = DashboardProc(tmp, f"file://{tmp / 'coord'}")
    try:
        assert other.popen.wait(20) == 2
        assert "owned by another dashboard" in other.log_path.read_text()
    finally:
        other.stop()
    epoch = dash.overview()["epoch"]
    dash.stop()
    again = DashboardProc(tmp, f"file://{tmp / 'coord'}").wait_healthy()
    try:
        o = again.overview()
        assert o["epoch"] == epoch and [g["master"] for g in o["groups"]] == [env["servers"][0], env["servers"][2]]
    finally:
        again.stop()


def test_proxy_ahead_of_us_is_overtaken(env):
    """Split brain: a proxy holds a table of a higher epoch than the dashboard's (another
    dashboard, an operator's PUT). The dashboard notices, jumps its epoch past it and pushes
    its own table; the proxy ends up routing by the dashboard's topology."""
    dash, s, proxy = env["dash"], env["servers"], env["proxy"]
    build(env)
    rogue = {"epoch": 1000, "groups": {"1": {"master": s[3]}}, "slots": {"0-1023": 1}}
    r = httpx.put(f"http://{proxy.admin_addr}/slots", json=rogue, headers={"Authorization": f"Bearer {PROXY_TOKEN}"})
    assert r.status_code == 200
    wait_until(lambda: proxy.slots()["epoch"] > 1000 and proxy.slots()["groups"]["1"]["master"] == s[0],
               what="dashboard overtakes the rogue table")
    assert dash.overview()["epoch"] == proxy.slots()["epoch"]


def test_registered_proxy_is_adopted(env):
    import asyncio

    from xcache.dashboard.coordinator import open_coordinator

    dash, proxy = env["dash"], env["proxy"]
    build(env)
    extra = ProxyProc(env["tmp"]).wait_admin()
    try:
        coord = open_coordinator(f"file://{env['tmp'] / 'coord'}")  # registering needs no ownership
        asyncio.run(coord.register_proxy(extra.addr, {"admin_addr": extra.admin_addr}, 60))
        wait_until(lambda: extra.slots().get("epoch") == dash.overview()["epoch"], what="adopted proxy gets the table")
        assert {p["addr"] for p in dash.overview()["proxies"]} == {proxy.addr, extra.addr}
    finally:
        extra.stop()


def test_promote_refuses_a_replica_out_of_sync(env):
    dash, s = env["dash"], env["servers"]
    build(env)
    host, port = s[1].split(":")
    with redis.Redis(host=host, port=int(port), protocol=2) as r:
        r.execute_command("REPLICAOF", "127.0.0.1", str(free_port()))  # link down
    err = dash.call("POST", "/api/groups/1/promote", {"addr": s[1]}, status=400)["error"]
    assert "not in sync" in err
    dash.call("POST", "/api/groups/1/promote", {"addr": s[1], "force": True})
    assert role(s[1])[0] == "master"


def test_dashboard_on_etcd(env, etcd):
    """The same dashboard on an etcd coordinator: builds, survives a restart, refuses a twin."""
    tmp = env["tmp"]
    env["dash"].stop()
    url = f"etcd://{etcd.endpoint}/xcache-test/{tmp.name}"
    dash = DashboardProc(tmp, url).wait_healthy()
    try:
        env["dash"] = dash
        build(env)
        assert env["proxy"].slots()["epoch"] == dash.overview()["epoch"]
        twin = DashboardProc(tmp, url)
        assert twin.popen.wait(20) == 2 and "owned by another dashboard" in twin.log_path.read_text()
        twin.stop()
        epoch = dash.overview()["epoch"]
    finally:
        dash.stop()
    again = DashboardProc(tmp, url).wait_healthy()  # close() revoked the lease: no wait
    try:
        assert again.overview()["epoch"] == epoch
        # its lease is revoked behind its back (as if it had been partitioned away): it exits
        import base64

        owner_key = base64.b64encode(f"xcache-test/{tmp.name}/owner".encode()).decode()
        kv = httpx.post(f"http://{etcd.endpoint}/v3/kv/range", json={"key": owner_key}).json()["kvs"][0]
        httpx.post(f"http://{etcd.endpoint}/v3/lease/revoke", json={"ID": kv["lease"]}).raise_for_status()
        assert again.popen.wait(20) == 3
        assert "ownership_lost" in again.log_path.read_text()
    finally:
        again.stop()


def test_sentinels_follow_manual_promote(env):
    """With sentinels: they are told to monitor the groups; a manual promote re-points them
    (no spurious failover); a sentinel that missed it is corrected."""
    import sys

    from tests.procs import Proc

    dash, s = env["dash"], env["servers"]
    sentinels = []
    try:
        for _ in range(3):
            port = free_port()
            sentinels.append(Proc([sys.executable, "-m", "xcache.cli", "sentinel", "--port", str(port),
                                   "--set", "down_after_ms=1500"], port,
                                  stderr_path=str(env["tmp"] / f"sentinel-{port}.log")).wait_ready())
        for p in sentinels:
            dash.call("POST", "/api/sentinels", {"addr": f"127.0.0.1:{p.port}"})
        build(env)

        def masters():
            out = []
            for p in sentinels:
                with redis.Redis(port=p.port, protocol=2, decode_responses=True) as r:
                    out.append(tuple(r.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "group-1") or ()))
            return out
        port0 = s[0].split(":")[1]
        wait_until(lambda: masters() == [("127.0.0.1", port0)] * 3, what="sentinels monitor group-1")
        wait_until(lambda: role(s[1])[3] == "connected", what="replica in sync")
        dash.call("POST", "/api/groups/1/promote", {"addr": s[1]})
        port1 = s[1].split(":")[1]
        assert masters() == [("127.0.0.1", port1)] * 3
        # one sentinel gets the old master back (as if it missed the promote): it is corrected
        with redis.Redis(port=sentinels[0].port, protocol=2) as r:
            r.execute_command("SENTINEL", "REMOVE", "group-1")
            r.execute_command("SENTINEL", "MONITOR", "group-1", "127.0.0.1", port0, 2)
        wait_until(lambda: masters()[0] == ("127.0.0.1", port1), what="stale sentinel corrected")
        o = dash.overview()
        assert o["groups"][0]["master"] == s[1] and o["counters"]["failovers_followed"] == 0
    finally:
        for p in sentinels:
            p.stop()
