"""Dashboard HA fencing (xcache/dashboard/leader.py), pure parts."""

import asyncio

import pytest

from xcache.dashboard import leader
from xcache.dashboard.coordinator import CoordinatorError


class FakeLease:
    """Only the attributes leader.py reads: owner_ttl_s, lease_ok_at, url, keepalive()."""

    url = "etcd://test"
    owner_ttl_s = 10

    def __init__(self, ok_at, hang=False):
        self.lease_ok_at = ok_at
        self.hang = hang

    async def keepalive(self):
        if self.hang:
            await asyncio.sleep(60)


def test_ownership_is_fresh_only_well_inside_the_lease():
    c = FakeLease(ok_at=100.0)
    assert leader.lease_fresh(c, now=100.0)
    assert leader.lease_fresh(c, now=100.0 + 10 - leader.FENCE_MARGIN_S - 0.01)
    assert not leader.lease_fresh(c, now=100.0 + 10 - leader.FENCE_MARGIN_S)


def test_a_file_coordinator_is_always_fresh():
    class File:
        pass

    assert leader.lease_fresh(File())


async def test_renew_gives_up_before_the_lease_can_expire(monkeypatch):
    monkeypatch.setattr(leader, "FENCE_MARGIN_S", 9.8)  # 0.2 s of budget left
    import time

    c = FakeLease(ok_at=time.monotonic(), hang=True)
    with pytest.raises(CoordinatorError, match="ownership lease lost"):
        await leader.renew(c)


async def test_standby_retries_until_the_owner_is_gone():
    attempts = []

    class Ctl:
        class coord:
            url = "etcd://test"

        async def start(self, api_addr):
            attempts.append(api_addr)
            if len(attempts) < 3:
                raise CoordinatorError("owned by another dashboard")

    events = []
    leader.STANDBY_RETRY_S, old = 0.01, leader.STANDBY_RETRY_S
    try:
        await leader.start_when_owner(Ctl(), "a:1", True, lambda e, *a, **k: events.append(e))
    finally:
        leader.STANDBY_RETRY_S = old
    assert len(attempts) == 3 and events == ["standby", "took_over"]
    with pytest.raises(CoordinatorError):
        attempts.clear()
        await leader.start_when_owner(Ctl(), "a:1", False, lambda *a, **k: None)
