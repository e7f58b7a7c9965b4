"""Dashboard process + its HTTP API and admin CLI against real redis-server groups and a proxy."""

from __future__ import annotations

import httpx
import redis
from click.testing import CliRunner

from tests.dashboard.helpers import TOKEN, DashboardProc, ProxyProc, admin, build, role, wait_until
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
