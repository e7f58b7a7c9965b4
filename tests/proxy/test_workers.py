"""Runtime worker resizing (PUT /workers) under client load, with real redis-server backends."""

from __future__ import annotations

import threading

import redis

from tests.proxy.conftest import TOKEN


class Load:
    """Client threads that each open a fresh connection per operation (so new sockets keep
    arriving at the listeners) and record every error."""

    def __init__(self, proxy, threads: int = 2):
        self.proxy = proxy
        self.stop = threading.Event()
        self.errors: list[str] = []
        self.ops = 0
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True) for i in range(threads)]

    def run(self, i: int) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            try:
                with self.proxy.client() as r:
                    r.set(f"load:{i}:{n % 50}", n)
                    assert int(r.get(f"load:{i}:{n % 50}")) == n
                self.ops += 1
            except Exception as exc:  # any client-visible failure is a test failure
                self.errors.append(repr(exc))

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)


def groups(backends) -> str:
    a, b = backends
    return f"1=127.0.0.1:{a.port},2=127.0.0.1:{b.port}"


def test_grow_under_load(backends, start_proxy):
    proxy = start_proxy(groups(backends), workers=1, max_workers=4)
    with Load(proxy) as load:
        proxy.wait_until(lambda: load.ops > 20, what="load running")
        status, body = proxy.admin("PUT", "/workers", {"count": 2})
        assert status == 200, body
        assert body["count"] == 2 and [w["state"] for w in body["workers"]] == ["running", "running"]
        before = proxy.metric("xcache_proxy_worker_sessions_admitted_total", worker=0)
        proxy.wait_until(lambda: proxy.metric("xcache_proxy_worker_sessions_admitted_total", worker=1) > 20,
                         what="the new worker accepting")
        proxy.wait_until(lambda: proxy.metric("xcache_proxy_worker_sessions_admitted_total", worker=0) > before + 20,
                         what="the old worker still accepting")
    assert load.errors == []
    snaps = {w["worker"]: w for w in proxy.stats()["workers"]}
    assert snaps[1]["epoch"] == snaps[0]["epoch"] == proxy.admin("GET", "/slots")[1]["epoch"]
    assert proxy.metric("xcache_proxy_workers") == 2
    assert proxy.admin("GET", "/workers")[1]["count"] == 2


def test_shrink_drains_the_last_worker(backends, start_proxy):
    proxy = start_proxy(groups(backends), workers=2, max_workers=4, worker_drain_timeout_ms=20000)
    # Established sessions, some of them on worker 1 (the one that will retire).
    sessions: list[redis.Redis] = []
    while sum(1 for s in sessions if s.info("server")["worker"] == 1) < 3:
        r = proxy.client(single_connection_client=True)
        r.ping()
        sessions.append(r)
        assert len(sessions) < 200
    with Load(proxy) as load:
        proxy.wait_until(lambda: load.ops > 20, what="load running")
        status, body = proxy.admin("PUT", "/workers", {"count": 1})
        assert status == 202, body
        assert [w["state"] for w in body["workers"]] == ["running", "retiring"]
        assert proxy.admin("PUT", "/workers", {"count": 2})[0] == 409  # one resize at a time
        # The retiring worker's sessions go on working, then finish normally.
        for i, r in enumerate(sessions):
            for n in range(5):
                r.set(f"session:{i}", n)
                assert int(r.get(f"session:{i}")) == n
            r.close()
        proxy.wait_until(lambda: not proxy.admin("GET", "/workers")[1]["resizing"], what="the drain")
        ops = load.ops
        proxy.wait_until(lambda: load.ops > ops + 20, what="load after the shrink")
    assert load.errors == []
    info = proxy.admin("GET", "/workers")[1]
    assert info["count"] == 1 and [w["index"] for w in info["workers"]] == [0]
    assert [w["worker"] for w in proxy.stats()["workers"]] == [0]
    with proxy.client() as r:
        assert r.info("server")["worker"] == 0
    assert "worker_retired" in open(proxy.log_path).read()


def test_bad_resize_requests(proxy):
    top = proxy.admin("GET", "/workers")[1]["max_workers"]
    for body in ({"count": 0}, {"count": top + 1}, {"count": "two"}, {"count": True}, {"workers": 2}, [2]):
        status, reply = proxy.admin("PUT", "/workers", body)
        assert status == 400 and "count" in reply["error"], (body, status, reply)
    status, reply = proxy.admin("PUT", "/workers", {"count": 2}, token=None)
    assert status == 401 and "token" in reply["error"]
    status, reply = proxy.admin("PUT", "/workers", {"count": 2}, token=TOKEN + "x")
    assert status == 401
    assert proxy.admin("GET", "/workers")[1]["count"] == 1


def test_client_ids_are_unique_across_workers(backends, start_proxy):
    """CLIENT ID names one session of the whole proxy, so CLIENT TRACKING REDIRECT or CLIENT
    KILL ID never reach another worker's session by accident."""
    proxy = start_proxy(groups(backends), workers=2)
    conns = [redis.Redis(port=proxy.port, single_connection_client=True) for _ in range(40)]
    try:
        workers = {c.info("server")["worker"]: c.client_id() for c in conns}
        ids = [c.client_id() for c in conns]
        assert len(set(ids)) == len(ids)
        assert len(workers) == 2  # both workers took connections (SO_REUSEPORT spreads them)
    finally:
        for c in conns:
            c.close()
