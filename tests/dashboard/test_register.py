"""Proxies register themselves with the dashboard (xcache/proxy/register.py): they join the
topology on start, leave it on a clean stop, and leave it when their lease ends after a kill -9.
Plain functions first, then real processes."""

from __future__ import annotations

import os

import pytest

from tests.dashboard.helpers import TOKEN, DashboardProc, ProxyProc, wait_until
from tests.procs import start_redis
from xcache.dashboard.proxies import lease_ended
from xcache.proxy.config import ProxyConfig
from xcache.proxy.register import announce


def test_announce():
    assert announce(ProxyConfig(bind="0.0.0.0", port=19000, admin_port=11080)) == ("127.0.0.1:19000", "127.0.0.1:11080")
    cfg = ProxyConfig(announce_addr="10.0.0.5:19000", announce_admin_addr="10.0.0.5:11080")
    assert announce(cfg) == ("10.0.0.5:19000", "10.0.0.5:11080")


def test_lease_ended():
    assert lease_ended({"a", "b", "c"}, {"a"}, {"a", "b", "x"}) == ["b"]  # c already removed, x added by hand


@pytest.fixture
def setup(tmp_path):
    procs = []
    token_file = tmp_path / "dashboard.token"
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, TOKEN.encode())
    os.close(fd)
    dash = DashboardProc(tmp_path, f"file://{tmp_path / 'coord'}").wait_healthy()
    procs.append(dash)
    server = start_redis(tmp_path)
    procs.append(server)
    dash.call("POST", "/api/groups", {"id": 1})
    dash.call("POST", "/api/groups/1/servers", {"addr": f"127.0.0.1:{server.port}"})
    dash.call("POST", "/api/slots/assign", {"group": 1, "slots": "0-1023"})

    def proxy():
        p = ProxyProc(tmp_path, dashboard=dash.url, dashboard_token_file=str(token_file),
                      register_ttl_ms=2000).wait_admin()
        procs.append(p)
        return p
    yield dash, proxy
    for p in reversed(procs):
        p.stop()


def proxies(dash) -> dict:
    return {p["addr"]: p for p in dash.overview()["proxies"]}


def test_proxy_joins_on_start_and_leaves_on_stop(setup):
    dash, start_proxy = setup
    p = start_proxy()
    wait_until(lambda: proxies(dash).get(p.addr, {}).get("in_sync"), what="registered and given the table")
    assert proxies(dash)[p.addr]["admin_addr"] == p.admin_addr
    assert p.slots()["groups"]["1"]["master"]
    p.stop()  # clean stop: unregisters at once
    assert p.addr not in proxies(dash)


def test_proxy_leaves_when_its_lease_ends(setup):
    dash, start_proxy = setup
    p = start_proxy()
    wait_until(lambda: p.addr in proxies(dash), what="registered")
    p.kill9()
    wait_until(lambda: p.addr not in proxies(dash), timeout=20, what="removed when the lease ended")
