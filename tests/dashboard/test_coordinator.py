"""The same suite against the file coordinator and a real etcd."""

from __future__ import annotations

import asyncio
import time

import pytest

from xcache.dashboard.coordinator import Conflict, CoordinatorError, open_coordinator


def run(coro):
    return asyncio.run(coro)


def test_load_empty_then_save_and_cas(coordinator_url):
    async def go():
        c = open_coordinator(coordinator_url)
        await c.open({"pid": 1})
        try:
            doc, rev = await c.load()
            assert doc is None and rev == 0
            rev1 = await c.save({"epoch": 1}, rev)
            assert rev1 > rev
            doc, rev = await c.load()
            assert doc == {"epoch": 1} and rev == rev1
            rev2 = await c.save({"epoch": 2}, rev1)
            assert rev2 > rev1
            with pytest.raises(Conflict):
                await c.save({"epoch": 3}, rev1)  # stale revision
            assert (await c.load())[0] == {"epoch": 2}
        finally:
            await c.close()
    run(go())


def test_second_owner_refused_until_first_closes(coordinator_url):
    async def go():
        a = open_coordinator(coordinator_url)
        b = open_coordinator(coordinator_url)
        await a.open({"pid": 111, "api": "127.0.0.1:1"})
        try:
            with pytest.raises(CoordinatorError, match="owned by another dashboard.*111"):
                await b.open({"pid": 222})
            await a.keepalive()
            await a.save({"x": 1}, 0)
        finally:
            await a.close()
        await b.open({"pid": 222})  # free again
        try:
            doc, rev = await b.load()
            assert doc == {"x": 1}
            await b.save({"x": 2}, rev)
        finally:
            await b.close()
    run(go())


def test_save_needs_ownership(coordinator_url):
    async def go():
        c = open_coordinator(coordinator_url)
        with pytest.raises(CoordinatorError, match="not owned"):
            await c.save({}, 0)
        await c.close()
    run(go())


def test_proxy_registrations_expire(coordinator_url):
    async def go():
        c = open_coordinator(coordinator_url)
        await c.open({"pid": 1})
        try:
            await c.register_proxy("127.0.0.1:19000", {"admin_addr": "127.0.0.1:11080"}, ttl_s=60)
            await c.register_proxy("127.0.0.1:19001", {"admin_addr": "127.0.0.1:11081"}, ttl_s=1)
            got = await c.registered_proxies()
            assert got["127.0.0.1:19000"] == {"admin_addr": "127.0.0.1:11080"}
            assert "127.0.0.1:19001" in got
            await c.register_proxy("127.0.0.1:19000", {"admin_addr": "127.0.0.1:11090"}, ttl_s=60)  # refresh
            deadline = time.monotonic() + 15
            while "127.0.0.1:19001" in await c.registered_proxies():
                assert time.monotonic() < deadline, "registration did not expire"
                await asyncio.sleep(0.2)
            got = await c.registered_proxies()
            assert got == {"127.0.0.1:19000": {"admin_addr": "127.0.0.1:11090"}}
            await c.unregister_proxy("127.0.0.1:19000")
            assert await c.registered_proxies() == {}
        finally:
            await c.close()
    run(go())


def test_bad_urls():
    for url in ("nope://x", "etcd://", "file://"):
        with pytest.raises(CoordinatorError):
            open_coordinator(url)


def test_etcd_lost_lease_cannot_write(etcd):
    """A dashboard whose ownership lease expired (paused, partitioned) cannot overwrite the
    topology of its successor: save() compares the owner key's lease in the same transaction."""
    import uuid

    from xcache.dashboard.coordinator.etcd import EtcdCoordinator

    async def go():
        prefix = f"xcache-test/{uuid.uuid4().hex[:8]}"
        a = EtcdCoordinator(f"http://{etcd.endpoint}", prefix, owner_ttl_s=1)
        b = EtcdCoordinator(f"http://{etcd.endpoint}", prefix)
        await a.open({"name": "a"})
        rev = await a.save({"by": "a"}, 0)
        deadline = time.monotonic() + 15
        while True:  # a stops keeping its lease alive; b takes over once it expires
            try:
                await b.open({"name": "b"})
                break
            except CoordinatorError:
                assert time.monotonic() < deadline, "lease did not expire"
                await asyncio.sleep(0.2)
        try:
            with pytest.raises(CoordinatorError, match="ownership"):
                await a.save({"by": "a again"}, rev)
            with pytest.raises(CoordinatorError, match="lease lost"):
                await a.keepalive()
            doc, rev_b = await b.load()
            assert doc == {"by": "a"}
            await b.save({"by": "b"}, rev_b)
        finally:
            await a.close()
            await b.close()
    run(go())
