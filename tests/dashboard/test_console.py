"""The console: the dashboard's rolling history (history.py) and warnings as plain functions,
then the web UI in headless Chromium - charts drawn with the vendored uPlot showing non-zero
ops/s under load, the no-replica warning coming and going, no Promote on a down server, the
server_down alert among the active ones, and removing a server and a proxy from the page."""

from __future__ import annotations

import threading

import pytest
import redis

from tests.dashboard.helpers import DashboardProc, ProxyProc, admin, wait_until
from tests.procs import start_redis
from xcache.dashboard import overview as O
from xcache.dashboard.history import History, percentile


def test_percentile_of_a_histogram():
    bounds = [0.001, 0.002, 0.005]
    assert percentile(bounds, [0, 0, 0, 0], 0.5) is None
    assert percentile(bounds, [90, 9, 1, 0], 0.5) == 0.001
    assert percentile(bounds, [90, 9, 1, 0], 0.99) == 0.002
    assert percentile(bounds, [0, 0, 0, 5], 0.5) == 0.005  # overflow: the last bound


def test_history_rates_resolution_and_window():
    h = History(resolution_s=5, keep_s=15)  # 3 points
    lat = {"bounds": [0.001, 0.01], "counts": [0, 0, 0]}
    proxy = {"ops_total": 0, "sessions": 3, "listen_queue": 1, "listen_backlog": 128,
             "accept_dropped": 0, "latency": lat}
    node = {"up": True, "memory_bytes": 1000, "keys": 7, "commands_total": 100, "lag_bytes": 0,
            "write_stall_active": 0}
    h.record(100, {"p": proxy}, {"n": node})
    assert h.view()["series"]["proxy/p/ops_per_s"] == [None]  # a rate needs two samples
    assert not h.due(104) and h.due(105)
    h.record(105, {"p": {**proxy, "ops_total": 500, "accept_dropped": 10,
                         "latency": {**lat, "counts": [50, 50, 0]}}},
             {"n": {**node, "commands_total": 150, "keys": 9}})
    v = h.view()
    assert v["series"]["proxy/p/ops_per_s"] == [None, 100.0]
    assert v["series"]["proxy/p/drops_per_s"] == [None, 2.0]
    assert v["series"]["proxy/p/p50_ms"][1] == 1.0 and v["series"]["proxy/p/p99_ms"][1] == 10.0
    assert v["series"]["server/n/qps"] == [None, 10.0] and v["series"]["server/n/keys"] == [7, 9]
    h.record(110, {"p": None}, {"n": {"up": False}})  # proxy unreachable, node down: gaps
    h.record(115, {}, {"n": {**node, "commands_total": 0}})  # proxy gone; node restarted
    v = h.view()
    assert v["t"] == [105, 110, 115]  # 3 points kept
    assert v["series"]["server/n/qps"] == [10.0, None, None]  # a counter reset is no rate
    assert v["series"]["proxy/p/sessions"] == [3, None, None]
    assert h.view(since=110)["t"] == [115]
    h.record(120, {}, {"n": node})
    h.record(125, {}, {"n": node})
    assert not any(k.startswith("proxy/") for k in h.view()["series"])  # gone for the whole window


def test_warnings():
    groups = [{"id": 1, "master": "a", "servers": [{"addr": "a", "up": True, "write_stall_active": 1}]},
              {"id": 2, "master": "b", "servers": [{"addr": "b", "up": True},
                                                  {"addr": "c", "up": True, "link": "up", "lag_bytes": 5000},
                                                  {"addr": "d", "up": True, "link": "down"},
                                                  {"addr": "e", "up": False}]}]
    kinds = [(w["kind"], w.get("server")) for w in O.warnings(groups, 1000)]
    assert kinds == [("no_replica", None), ("node_stalled", "a"), ("replica_lagging", "c"),
                     ("replica_link_down", "d")]
    assert O.warnings(groups, 10000)[2]["kind"] == "replica_link_down"


@pytest.fixture
def console(tmp_path):
    procs = []
    try:
        servers = [start_redis(tmp_path) for _ in range(2)]
        procs += servers
        proxy = ProxyProc(tmp_path).wait_admin()
        procs.append(proxy)
        dash = DashboardProc(tmp_path, f"file://{tmp_path / 'coord'}", history_resolution_ms=500).wait_healthy()
        procs.append(dash)
        yield {"servers": [f"127.0.0.1:{s.port}" for s in servers], "procs": servers, "proxy": proxy, "dash": dash}
    finally:
        for p in reversed(procs):
            p.stop()


CANVAS_INK = """id => {
  const c = document.querySelector(`#chart-${id} canvas`);
  if (!c || !c.width) return 0;
  const px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let ink = 0;
  for (let i = 0; i < px.length; i += 4) if (px[i + 3] > 0 && (px[i] < 200 || px[i + 1] < 200 || px[i + 2] < 200)) ink++;
  return ink;
}"""


def test_console_charts_warnings_and_actions(console, tmp_path):
    from tests.dashboard.test_web import ui

    dash, proxy, s = console["dash"], console["proxy"], console["servers"]
    admin(dash, "group", "add")
    admin(dash, "group", "add-server", "--group", "1", "--addr", s[0])
    admin(dash, "slots", "assign", "--group", "1", "--slots", "0-1023")
    admin(dash, "proxy", "add", "--addr", proxy.addr, "--admin-addr", proxy.admin_addr)
    wait_until(lambda: dash.overview()["proxies"][0].get("in_sync"), what="proxy in sync")

    halt = threading.Event()

    def load():
        with redis.Redis(port=proxy.port, protocol=2, socket_timeout=5) as c:
            i = 0
            while not halt.is_set():
                try:
                    c.set(f"k{i % 500}", i)
                except redis.RedisError:
                    pass
                i += 1
    t = threading.Thread(target=load, daemon=True)
    t.start()
    try:
        with ui(dash) as (page, errors):
            page.wait_for_selector("[data-group='1']")
            page.wait_for_selector("#warnings [data-kind='no_replica']")
            # ops/s above zero in the chart's data while the load runs, and ink on its canvas
            page.wait_for_function("() => { const p = window.xcacheCharts.plots.ops;"
                                   " return p && p.plot.data.slice(1).some(s => s.some(v => v > 0)); }",
                                   timeout=30000)
            for chart in ("ops", "latency", "sessions", "queue", "qps", "memory", "keys"):
                page.wait_for_selector(f"#chart-{chart} canvas")
                assert page.evaluate(CANVAS_INK, chart) > 100, chart
            shot = tmp_path / "console.png"
            page.locator("#history").screenshot(path=str(shot))
            assert shot.stat().st_size > 10000  # a picture with the charts, not an empty panel

            # a replica added: the warning goes away
            admin(dash, "group", "add-server", "--group", "1", "--addr", s[1])
            page.wait_for_function("() => !document.querySelector(\"#warnings [data-kind='no_replica']\")")
            page.wait_for_selector(f"[data-testid='promote-{s[1]}']")

            # the replica dies: no Promote next to it, server_down among the active alerts
            console["procs"][1].kill9()
            page.wait_for_function("a => document.querySelector(`[data-server='${a}'] td.down`)", arg=s[1])
            assert page.locator(f"[data-testid='promote-{s[1]}']").count() == 0
            page.wait_for_function("() => document.querySelector('#active-alerts').textContent"
                                   ".includes('XcacheServerDown')", timeout=30000)

            # remove it, then the proxy, from the page
            page.click(f"[data-testid='remove-server-{s[1]}']")
            page.wait_for_function("a => !document.querySelector(`[data-server='${a}']`)", arg=s[1])
            page.wait_for_selector("#warnings [data-kind='no_replica']")
            page.click(f"[data-testid='remove-proxy-{proxy.addr}']")
            page.wait_for_function("a => !document.querySelector(`[data-proxy='${a}']`)", arg=proxy.addr)
            assert [g["servers"][0]["addr"] for g in dash.overview()["groups"]] == [s[0]]
            assert dash.overview()["proxies"] == []
            assert not errors, errors
    finally:
        halt.set()
        t.join(10)
