"""Online slot migration end to end: xcache server groups, a proxy, the dashboard, a live client."""

from __future__ import annotations

import random
import threading

import httpx
import pytest
import redis

from tests.dashboard.helpers import DashboardProc, ProxyProc, admin
from tests.procs import start_xcache_server, wait_until
from xcache.keyslot import slot_of


def _client(port: int) -> redis.Redis:
    return redis.Redis(port=port, protocol=2, decode_responses=True, socket_timeout=15)


def role(port: int) -> list:
    with _client(port) as c:
        return c.execute_command("ROLE")


@pytest.fixture
def cluster(tmp_path):
    """Groups 1 and 2 (xcache servers) own slots 0-511 / 512-1023 behind one proxy; a third
    server is started for group 3, which has no slot yet."""
    procs, env = [], {}
    try:
        servers = [start_xcache_server(tmp_path / f"s{i}") for i in range(3)]
        procs += servers
        proxy = ProxyProc(tmp_path).wait_admin()
        procs.append(proxy)
        dash = DashboardProc(tmp_path, f"file://{tmp_path / 'coord'}", migration_wave_slots=64).wait_healthy()
        procs.append(dash)
        addrs = [f"127.0.0.1:{s.port}" for s in servers]
        for gid in (1, 2, 3):
            dash.call("POST", "/api/groups", {"id": gid})
            dash.call("POST", f"/api/groups/{gid}/servers", {"addr": addrs[gid - 1]})
        dash.call("POST", "/api/slots/assign", {"group": 1, "slots": "0-511"})
        dash.call("POST", "/api/slots/assign", {"group": 2, "slots": "512-1023"})
        dash.call("POST", "/api/proxies", {"addr": proxy.addr, "admin_addr": proxy.admin_addr})
        wait_until(lambda: dash.overview()["proxies"][0].get("in_sync"), what="proxy in sync")
        env.update(dash=dash, proxy=proxy, servers=servers, addrs=addrs, tmp=tmp_path)
        yield env
    finally:
        if env.get("dash") is not None and env["dash"] not in procs:  # a test restarted it
            env["dash"].stop()
        for p in reversed(procs):
            p.stop()


def load(port: int, n: int = 2000) -> dict:
    """Keys of every type through the proxy; returns the model of what was written."""
    model = {"str": {}, "hash": {}, "list": {}, "set": {}, "zset": {}}
    with _client(port) as c:
        pipe = c.pipeline(transaction=False)
        for i in range(n):
            ttl = 3600 + i if i % 3 == 0 else None
            model["str"][f"s:{i}"] = (f"v{i}", ttl)
            pipe.set(f"s:{i}", f"v{i}", ex=ttl)
        for i in range(n // 10):
            model["hash"][f"h:{i}"] = {f"f{j}": f"{i}.{j}" for j in range(5)}
            pipe.hset(f"h:{i}", mapping=model["hash"][f"h:{i}"])
            model["list"][f"l:{i}"] = [f"e{j}" for j in range(6)]
            pipe.rpush(f"l:{i}", *model["list"][f"l:{i}"])
            model["set"][f"t:{i}"] = {f"m{j}" for j in range(4)}
            pipe.sadd(f"t:{i}", *model["set"][f"t:{i}"])
            model["zset"][f"z:{i}"] = {f"m{j}": j * 1.5 - 2 for j in range(4)}
            pipe.zadd(f"z:{i}", model["zset"][f"z:{i}"])
            pipe.expire(f"z:{i}", 7200)
        pipe.execute()
        big = {f"f{j}": f"x{j}" for j in range(20000)}  # a big key: moved in chunks
        for j in range(0, len(big), 5000):
            c.hset("big:hash", mapping=dict(list(big.items())[j:j + 5000]))
        model["hash"]["big:hash"] = big
    return model


class Workload(threading.Thread):
    """One client doing a mixed read/write workload through the proxy, checking every read
    against the last value it wrote."""

    def __init__(self, port: int, model: dict):
        super().__init__(daemon=True)
        self.port, self.model = port, model
        self.stop = threading.Event()
        self.errors: list[str] = []
        self.ops = 0

    def run(self) -> None:
        rnd = random.Random(7)
        strings, hashes = self.model["str"], self.model["hash"]
        keys = sorted(strings)
        hkeys = sorted(k for k in hashes if k != "big:hash")
        with _client(self.port) as c:
            while not self.stop.is_set() and len(self.errors) < 20:
                try:
                    self.one(c, rnd, strings, hashes, keys, hkeys)
                    self.ops += 1
                except Exception as exc:  # the point of the test: there must be none
                    self.errors.append(f"{type(exc).__name__}: {exc}")

    def one(self, c, rnd, strings, hashes, keys, hkeys) -> None:
        op = rnd.random()
        k = rnd.choice(keys)
        if op < 0.35:
            v, ttl = f"w{self.ops}", rnd.choice([None, 5000])
            c.set(k, v, ex=ttl)
            strings[k] = (v, ttl)
        elif op < 0.75:
            got = c.get(k)
            if got != strings[k][0]:
                self.errors.append(f"GET {k}: {got!r}, last written {strings[k][0]!r}")
        elif op < 0.85:
            got = c.mget(k, keys[0])
            if got != [strings[k][0], strings[keys[0]][0]]:
                self.errors.append(f"MGET {k}: {got!r}")
        else:
            h = rnd.choice(hkeys)
            f, v = f"f{rnd.randrange(8)}", f"{self.ops}"
            c.hset(h, f, v)
            hashes[h][f] = v
            if c.hget(h, f) != v:
                self.errors.append(f"HGET {h} {f} after HSET")


def verify(port: int, model: dict) -> None:
    with _client(port) as c:
        pipe = c.pipeline(transaction=False)
        for k in model["str"]:
            pipe.get(k)
            pipe.pttl(k)
        replies = iter(pipe.execute())
        for k, (v, ttl) in model["str"].items():
            got, pttl = next(replies), next(replies)
            assert got == v, k
            assert (0 < pttl <= ttl * 1000) if ttl else pttl == -1, (k, ttl, pttl)
        for k, v in model["hash"].items():
            assert c.hgetall(k) == v, k
        for k, v in model["list"].items():
            assert c.lrange(k, 0, -1) == v, k
        for k, v in model["set"].items():
            assert c.smembers(k) == v, k
        for k, v in model["zset"].items():
            assert dict(c.zrange(k, 0, -1, withscores=True)) == v, k
            assert 0 < c.ttl(k) <= 7200, k


def idle(dash: DashboardProc) -> bool:
    m = dash.call("GET", "/api/migration")
    assert m["state"] != "error", m
    return m["slots_pending"] + m["slots_migrating"] == 0


def test_half_the_slots_move_to_a_new_group_under_load(cluster):
    dash, proxy, addrs = cluster["dash"], cluster["proxy"], cluster["addrs"]
    model = load(proxy.port)
    work = Workload(proxy.port, model)
    work.start()
    try:
        wait_until(lambda: work.ops > 200, what="workload running")
        admin(dash, "slots", "throttle", "--keys-per-second", "500")  # a few seconds of overlap with the client
        out = admin(dash, "slots", "migrate", "--from", "1", "--to", "3", "--slots", "0-255", "--no-wait")
        assert '"slots_pending"' in out
        admin(dash, "slots", "migrate", "--from", "2", "--to", "3", "--slots", "512-767")  # follows to the end
        wait_until(lambda: idle(dash), timeout=120, what="migration finished")
        ops_at_end = work.ops
        wait_until(lambda: work.ops > ops_at_end + 100, what="workload still running after the migration")
    finally:
        work.stop.set()
        work.join(30)
    assert work.errors == []
    # the client did hit keys of moving slots: the proxy moved those itself, migrate-first
    assert httpx.get(f"http://{proxy.admin_addr}/stats").json()["migration"]["steps"] > 0
    o = dash.overview()
    assert sorted((g["id"], g["slots"]) for g in o["groups"]) == [(1, 256), (2, 256), (3, 512)]
    assert o["migration"]["slots_done"] == 512 and o["migration"]["keys_moved"] > 0
    assert o["migration"]["bytes_moved"] > 0
    assert proxy.slots().get("migrating") in (None, {})
    verify(proxy.port, model)

    # every key lives where the table says, and only there
    nodes = {gid: _client(int(addrs[gid - 1].split(":")[1])) for gid in (1, 2, 3)}
    try:
        keys = [k for m in model.values() for k in m]
        for k in keys:
            s = slot_of(k.encode())
            owner = 3 if s < 256 or 512 <= s < 768 else 1 if s < 512 else 2
            assert [gid for gid, n in nodes.items() if n.exists(k)] == [owner], k
    finally:
        for n in nodes.values():
            n.close()
    metrics = httpx.get(f"{dash.url}/metrics").text
    assert "xcache_dashboard_migration_slots_done_total 512.0" in metrics


def test_pause_survives_a_dashboard_restart_and_resume_finishes(cluster):
    proxy, tmp = cluster["proxy"], cluster["tmp"]
    cluster["dash"].stop()  # this test wants small batches (20 keys) to be slow at 40 keys/s
    dash = cluster["dash"] = DashboardProc(tmp, f"file://{tmp / 'coord'}", migration_wave_slots=64,
                                           migration_batch_keys=20).wait_healthy()
    model = load(proxy.port, n=1000)
    dash.call("POST", "/api/migration/throttle", {"keys_per_second": 40})
    dash.call("POST", "/api/slots/migrate", {"from": 1, "to": 3, "slots": "0-511"})
    wait_until(lambda: dash.call("GET", "/api/migration")["keys_moved"] > 0, what="keys moving")
    paused = dash.call("POST", "/api/migration/pause")
    assert paused["paused"] is True
    wait_until(lambda: dash.call("GET", "/api/migration")["state"] == "paused", what="paused")
    before = dash.call("GET", "/api/migration")
    assert before["slots_migrating"] + before["slots_pending"] + before["slots_done"] == 512
    assert before["slots_migrating"] + before["slots_pending"] > 0

    # a new dashboard process finds the migration where the old one left it
    dash.stop()
    dash = cluster["dash"] = DashboardProc(tmp, f"file://{tmp / 'coord'}", migration_wave_slots=64,
                                           migration_batch_keys=20).wait_healthy()
    m = dash.call("GET", "/api/migration")
    assert m["paused"] is True and m["state"] == "paused" and m["slots_migrating"] == before["slots_migrating"]
    verify(proxy.port, model)  # clients are served meanwhile: migrating slots are served migrate-first

    admin(dash, "slots", "throttle", "--keys-per-second", "0")
    out = admin(dash, "slots", "resume", "--wait")
    assert '"slots_pending": 0' in out
    wait_until(lambda: idle(dash), timeout=120, what="migration finished")
    assert {g["id"]: g["slots"] for g in dash.overview()["groups"]} == {1: 0, 2: 512, 3: 512}
    verify(proxy.port, model)


def test_source_master_switch_mid_migration_loses_nothing(cluster):
    """Group 1's replica is promoted while its slots are half moved: the proxies and the sweep
    follow the new master, which got the DELs of the keys already moved, so nothing comes back."""
    dash, proxy, addrs, tmp = cluster["dash"], cluster["proxy"], cluster["addrs"], cluster["tmp"]
    replica = start_xcache_server(tmp / "replica")
    try:
        raddr = f"127.0.0.1:{replica.port}"
        dash.call("POST", "/api/groups/1/servers", {"addr": raddr})
        model = load(proxy.port, n=1000)
        wait_until(lambda: role(replica.port)[3] == "connected", what="replica linked")
        dash.call("POST", "/api/migration/throttle", {"keys_per_second": 40})
        dash.call("POST", "/api/slots/migrate", {"from": 1, "to": 3, "slots": "0-511"})
        wait_until(lambda: dash.call("GET", "/api/migration")["keys_moved"] > 0, what="keys moving")
        dash.call("POST", "/api/migration/pause")
        wait_until(lambda: dash.call("GET", "/api/migration")["state"] == "paused", what="paused")
        with _client(proxy.port) as c:  # writes to moved and unmoved keys alike
            for k in [k for k in model["str"] if slot_of(k.encode()) < 512][:100]:
                c.set(k, "after", ex=None)
                model["str"][k] = ("after", None)
        dash.call("POST", "/api/groups/1/promote", {"addr": raddr})
        dash.call("POST", "/api/migration/throttle", {"keys_per_second": 0})
        dash.call("POST", "/api/migration/resume")
        wait_until(lambda: idle(dash), timeout=120, what="migration finished")
        verify(proxy.port, model)

        def leftovers(port: int) -> list[str]:
            with _client(port) as n:
                return [k for k in n.scan_iter(count=1000) if slot_of(k.encode()) < 512]
        assert leftovers(replica.port) == []
        old = int(addrs[0].split(":")[1])  # the old master follows the new one by now
        wait_until(lambda: role(old)[0] == "slave" and not leftovers(old),
                   what="old master emptied of the moved slots")
    finally:
        replica.stop()


def test_unreachable_target_is_retried_until_it_is_back(cluster):
    """The target node is down: the migration reports the error and retries (nothing is lost on
    the source); once the node is back it finishes by itself."""
    dash, proxy, servers, tmp = cluster["dash"], cluster["proxy"], cluster["servers"], cluster["tmp"]
    model = load(proxy.port, n=300)
    target = servers[2]
    target.stop()
    dash.call("POST", "/api/slots/migrate", {"from": 1, "to": 3, "slots": "0-63"})
    m = wait_until(lambda: (m := dash.call("GET", "/api/migration"))["errors"] >= 2 and m, what="failed attempts")
    assert "IOERR" in m["last_error"] and m["slots_migrating"] == 64 and m["keys_moved"] == 0
    back = start_xcache_server(tmp / "s2", port=target.port)  # same port and data directory
    try:
        wait_until(lambda: idle(dash), timeout=60, what="migration finished")
        assert dash.call("GET", "/api/migration")["state"] == "idle"
        verify(proxy.port, model)
    finally:
        back.stop()


def test_bad_migration_requests_are_refused(cluster):
    dash = cluster["dash"]
    for body, msg in (({"from": 1, "to": 3, "slots": "600"}, "owned by group 2"),
                      ({"from": 1, "to": 1, "slots": "0"}, "same group"),
                      ({"from": 1, "to": 3, "slots": "0-2000"}, "bad slot range"),
                      ({"from": "x", "to": 3, "slots": "0"}, "integers"),
                      ({"to": 3, "slots": "0"}, "missing field")):
        assert msg in dash.call("POST", "/api/slots/migrate", body, status=400)["error"]
    assert "integer" in dash.call("POST", "/api/migration/throttle", {"keys_per_second": "fast"}, status=400)["error"]
