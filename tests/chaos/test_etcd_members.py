"""The etcd coordinator with several members: an unreachable member is skipped."""

from __future__ import annotations

import shutil
import uuid

import pytest

from tests.dashboard.conftest import EtcdProc
from tests.procs import free_port
from xcache.dashboard.coordinator import CoordinatorError, open_coordinator


@pytest.fixture
def etcd(tmp_path):
    if shutil.which("etcd") is None:
        pytest.skip("etcd not installed (Debian package etcd-server)")
    proc = EtcdProc(tmp_path).wait_healthy()
    yield proc
    proc.stop()


async def test_a_dead_member_is_skipped(etcd):
    dead = f"127.0.0.1:{free_port()}"
    url = f"etcd://{dead},{etcd.endpoint}/xcache-test/{uuid.uuid4().hex[:8]}"
    c = open_coordinator(url)
    assert c.url == url
    try:
        await c.open({"pid": 1})
        rev = await c.save({"epoch": 1}, 0)
        assert await c.load() == ({"epoch": 1}, rev)
        await c.keepalive()
    finally:
        await c.close()


def test_bad_member_lists_are_refused():
    for url in ("etcd://a:1,b/p", "etcd://a/p", "etcd://a:x/p"):
        with pytest.raises(CoordinatorError, match="expected etcd://host:port"):
            open_coordinator(url)
