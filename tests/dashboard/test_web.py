"""The web UI in headless Chromium (Debian's /usr/bin/chromium driven by Playwright): it shows
both groups, promotes a replica from the page, and the change reaches the proxy."""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager

import pytest
import redis

from tests.dashboard.helpers import TOKEN, build, role, wait_until
from xcache.keyslot import slot_of

CHROMIUM = os.environ.get("XCACHE_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason=f"{CHROMIUM} not installed")


@contextmanager
def ui(dash):
    """The dashboard's page in headless Chromium (dialogs accepted); yields (page, page errors)."""
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("dialog", lambda d: d.accept())
            page.goto(f"{dash.url}/ui/#token={TOKEN}")
            yield page, errors
        finally:
            browser.close()


def test_ui_shows_groups_and_promotes(env):
    dash, s, proxy = env["dash"], env["servers"], env["proxy"]
    build(env)
    wait_until(lambda: role(s[1])[:4] == ["slave", "127.0.0.1", int(s[0].split(":")[1]), "connected"],
               what="replica in sync")
    with ui(dash) as (page, errors):
        page.wait_for_selector("[data-group='2']")
        assert page.locator("[data-group]").count() == 2
        assert page.locator("[data-group='1'] .group-master").inner_text() == s[0]
        assert page.locator("#slotmap > div").count() == 1024
        page.wait_for_selector(f"[data-proxy='{proxy.addr}'] .ok")  # in sync
        assert "token" not in page.url  # taken out of the address bar, kept in localStorage

        page.click(f"[data-testid='promote-{s[1]}']")
        page.wait_for_function(
            "m => document.querySelector(\"[data-group='1'] .group-master\").textContent === m", arg=s[1])
        assert "promoted" in page.locator("#message").inner_text()
        wait_until(lambda: proxy.slots()["groups"]["1"]["master"] == s[1], what="proxy has the new master")
        assert role(s[1])[0] == "master"
        # actions: add a group from the form; a refused action shows the API's error
        page.click("#f-group button")
        page.wait_for_selector("[data-group='3']")
        page.fill("#f-slots input[name=group]", "3")
        page.fill("#f-slots input[name=slots]", "0-9")
        page.click("#f-slots button")
        page.wait_for_selector("#message.error")
        assert "no server yet" in page.locator("#message").inner_text()
        assert not errors, errors


def test_ui_lists_active_alerts(env):
    """A few clients give up while the proxy is frozen: the gate drops their sockets, the dashboard's
    XcacheDeadSocketDrops alert fires and the page lists it under active alerts."""
    import signal
    import socket

    dash, proxy = env["dash"], env["proxy"]
    build(env)
    wait_until(lambda: dash.overview()["proxies"][0].get("stats"), what="proxy stats")
    pgid = os.getpgid(proxy.pid)
    os.killpg(pgid, signal.SIGSTOP)
    try:
        for _ in range(5):  # connect, speak, give up: a dead socket in the accept queue
            with socket.create_connection(("127.0.0.1", proxy.port), timeout=2) as c:
                c.sendall(b"*1\r\n$4\r\nPING\r\n")
    finally:
        os.killpg(pgid, signal.SIGCONT)
    wait_until(lambda: any(a["name"] == "XcacheDeadSocketDrops" for a in dash.overview()["active_alerts"]),
               what="XcacheDeadSocketDrops active")
    with ui(dash) as (page, errors):
        page.wait_for_function("() => document.querySelector('#active-alerts').textContent"
                               ".includes('XcacheDeadSocketDrops')")
        assert "drops dead sockets" in page.locator("#active-alerts").inner_text()


def test_ui_migrates_pauses_and_resumes(env):
    """Pause, then queue slots from the migration form: the panel shows them pending and paused;
    Resume moves them (keys included) and the panel goes back to idle."""
    dash, proxy, s = env["dash"], env["proxy"], env["servers"]
    build(env)
    with redis.Redis(port=proxy.port, protocol=2, decode_responses=True) as c:
        c.mset({f"k{i}": str(i) for i in range(200)})
    with ui(dash) as (page, errors):
        page.wait_for_selector("[data-group='2']")
        assert page.locator("[data-testid='mig-state']").inner_text() == "idle"
        page.click("[data-testid='mig-pause']")
        page.wait_for_function("() => document.querySelector('#message').textContent === 'migration paused'")
        page.fill("#f-migrate input[name=from]", "1")
        page.fill("#f-migrate input[name=to]", "2")
        page.fill("#f-migrate input[name=slots]", "0-99")
        page.click("#f-migrate button")
        page.wait_for_function("() => document.querySelector('#mig-text').textContent.startsWith('100 pending')")
        assert page.locator("[data-testid='mig-state']").inner_text() == "paused"
        page.click("[data-testid='mig-resume']")
        page.wait_for_function("() => document.querySelector(\"[data-group='2']\").textContent.includes('612 slots')"
                               " && document.querySelector('#mig-state').textContent === 'idle'")
        assert "100 done" in page.locator("#mig-text").inner_text()
        assert not errors, errors
    moved = [f"k{i}" for i in range(200) if slot_of(f"k{i}".encode()) < 100]
    assert moved
    port = s[2].split(":")[1]  # group 2's master
    with redis.Redis(port=int(port), protocol=2, decode_responses=True) as g2, \
            redis.Redis(port=proxy.port, protocol=2, decode_responses=True) as c:
        assert all(g2.exists(k) for k in moved)
        assert c.mget([f"k{i}" for i in range(200)]) == [str(i) for i in range(200)]
