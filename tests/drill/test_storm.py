"""A small bounded drill (1,000 clients, 2 processes) against a real xcache proxy + redis-server,
watched by a dashboard that posts its alerts to a webhook: every client must be served again and
the storm's alert must fire (in the dashboard and at the webhook)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.dashboard.helpers import DashboardProc, ProxyProc, serve_one_group, wait_until
from tests.procs import start_redis
from xcache.drill import report as R
from xcache.drill.runner import DrillOptions, run


class Webhook:
    """An Alertmanager webhook receiver on an ephemeral port, recording the bodies."""

    def __init__(self):
        self.bodies: list = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("content-length", 0))
                outer.bodies.append(json.loads(self.rfile.read(n)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def fired(self) -> set[str]:
        return {a["labels"]["alertname"] for b in self.bodies for a in b["alerts"] if a["status"] == "firing"}

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def cluster(tmp_path):
    procs = []
    hook = Webhook()
    try:
        redis_node = start_redis(tmp_path)
        procs.append(redis_node)
        proxy = ProxyProc(tmp_path).wait_admin()
        procs.append(proxy)
        dash = DashboardProc(tmp_path, f"file://{tmp_path / 'coord'}", alert_webhook_url=hook.url).wait_healthy()
        procs.append(dash)
        serve_one_group(dash, redis_node, proxy)
        yield {"proxy": proxy, "dash": dash, "hook": hook, "tmp": tmp_path}
    finally:
        for p in reversed(procs):
            p.stop()
        hook.close()


def test_proxy_stall_storm_recovers_and_alerts(cluster, tmp_path):
    proxy, dash, hook = cluster["proxy"], cluster["dash"], cluster["hook"]
    opts = DrillOptions(port=proxy.port, clients=1000, workers=2, scenario="proxy-stall", stall_s=5.0,
                        proxy_admin=proxy.admin_addr, steady_s=1.5, duration_s=40, ramp_s=1.0,
                        warmup_timeout_s=30)  # stops every process on the port: supervisor + worker
    rep = run(opts, log=lambda m: None)
    f = rep["figures"]
    print(R.summary(rep))
    assert f["clients"] == 1000
    assert f["served_again_pct"] == 100.0, f
    assert f["time_to_99_served_s"] is not None and f["time_to_99_served_s"] < 20, f
    assert f["failed_requests"] > 0  # the stall was felt: requests timed out
    assert f["dead_sockets_dropped"] > 0, f  # clients gave up in the accept queue; the gate dropped them
    assert max(q for q in rep["probes"]["listen_queue"] if q is not None) > 0
    # the storm's alert fired in the dashboard and at the webhook
    wait_until(lambda: "XcacheDeadSocketDrops" in dash.overview()["alerts_fired"], timeout=15,
               what="dashboard alert XcacheDeadSocketDrops")
    wait_until(lambda: "XcacheDeadSocketDrops" in hook.fired(), timeout=15, what="webhook alert")
    ov = dash.overview()
    assert any(a["kind"] == "XcacheDeadSocketDrops" for a in ov["alerts"])
    body = next(b for b in hook.bodies if any(a["labels"]["alertname"] == "XcacheDeadSocketDrops"
                                              for a in b["alerts"]))
    assert body["version"] == "4" and body["receiver"] == "xcache-dashboard"
    # the report renders
    R.write_json(rep, str(tmp_path / "r.json"))
    if R.chart(rep, str(tmp_path / "r.png")):
        assert (tmp_path / "r.png").stat().st_size > 10000


def test_reconnect_storm_cli_against_redis(tmp_path):
    """The CLI end to end (JSON + summary) against a plain redis-server: any RESP address works."""
    from click.testing import CliRunner

    from xcache.cli import main

    node = start_redis(tmp_path)
    try:
        out = tmp_path / "r.json"
        res = CliRunner().invoke(main, ["drill", "storm", "--target", f"127.0.0.1:{node.port}", "--clients", "200",
                                        "--workers", "1", "--steady", "0.5", "--duration", "15",
                                        "--json", str(out)])
        assert res.exit_code == 0, res.output
        assert "time to 99% served again" in res.output
        rep = json.loads(out.read_text())
        assert rep["figures"]["served_again_pct"] == 100.0
        assert rep["figures"]["failed_requests"] == 0
        assert rep["figures"]["attempts_per_client"]["max"] == 1
    finally:
        node.stop()


def test_same_drill_against_twemproxy(tmp_path):
    """The drill is proxy-agnostic: a reconnect storm through Debian's nutcracker (twemproxy)."""
    import shutil

    from tests.procs import Proc, free_port

    if shutil.which("nutcracker") is None:
        pytest.skip("nutcracker not installed")
    node = start_redis(tmp_path)
    port = free_port()
    conf = tmp_path / "nut.yml"
    conf.write_text(f"drill:\n  listen: 127.0.0.1:{port}\n  redis: true\n  timeout: 2000\n"
                    f"  servers:\n   - 127.0.0.1:{node.port}:1\n")
    nut = Proc(["nutcracker", "-c", str(conf), "-s", str(free_port())], port,
               stderr_path=str(tmp_path / "nut.log")).wait_ready()
    try:
        rep = run(DrillOptions(port=port, clients=300, workers=1, scenario="reconnect-storm", steady_s=0.5,
                               duration_s=15, ramp_s=0.5), log=lambda m: None)
        f = rep["figures"]
        assert f["served_again_pct"] == 100.0 and f["time_to_99_served_s"] < 10
        assert f["dead_sockets_dropped"] is None  # not an xcache proxy: no gate counters
    finally:
        nut.stop()
        node.stop()
