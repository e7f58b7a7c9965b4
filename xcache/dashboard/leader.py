"""Dashboard high availability: one active dashboard, standbys waiting on the coordinator.

The active dashboard owns the coordinator (etcd: the owner key on its lease, TTL 10 s). A
dashboard started with `standby = true` that finds the coordinator owned keeps retrying `open()`
every STANDBY_RETRY_S and becomes active as soon as the owner's lease has expired (the owner died,
or was partitioned away and stopped renewing), i.e. within the lease TTL.

Fencing, so that two dashboards never act at once:
- the active one acts (pushes tables) only while its ownership is *fresh*: its last successful
  keepalive was sent less than TTL - FENCE_MARGIN_S ago. The lease cannot have expired before
  that (etcd counts the TTL from when it received the keepalive, after we sent it), so a
  dashboard cut off from etcd stops pushing before a standby can own the coordinator, and then
  exits (fatal) without waiting for its keepalive calls to time out;
- every topology save is a transaction on the owner key's lease (coordinator/etcd.py), and every
  push carries the topology's epoch, which proxies only accept increasing: a stale leader can
  neither save nor overwrite a newer table.
"""

from __future__ import annotations

import asyncio
import time

from xcache.dashboard.coordinator import CoordinatorError

STANDBY_RETRY_S = 1.0
FENCE_MARGIN_S = 2.0


def lease_fresh(coord, now: float | None = None) -> bool:
    """True while the coordinator ownership certainly still holds (always for a file coordinator)."""
    ok_at = getattr(coord, "lease_ok_at", None)
    if ok_at is None:
        return True
    now = time.monotonic() if now is None else now
    return now - ok_at < coord.owner_ttl_s - FENCE_MARGIN_S


async def start_when_owner(ctl, api_addr: str, standby: bool, log) -> None:
    """ctl.start(); in standby, retry until the coordinator's current owner is gone."""
    waited = False
    while True:
        try:
            await ctl.start(api_addr=api_addr)
            if waited:
                log("took_over", "warning", coordinator=ctl.coord.url)
            return
        except CoordinatorError as exc:
            if not standby:
                raise
            if not waited:
                log("standby", coordinator=ctl.coord.url, reason=str(exc))
            waited = True
        await asyncio.sleep(STANDBY_RETRY_S)


async def renew(coord) -> None:
    """coord.keepalive(), given only the time our ownership is still certainly fresh: a
    dashboard cut off from etcd gives up before its lease can expire, not after a slow timeout."""
    ok_at = getattr(coord, "lease_ok_at", None)
    if ok_at is None:
        await coord.keepalive()
        return
    budget = coord.owner_ttl_s - FENCE_MARGIN_S - (time.monotonic() - ok_at)
    try:
        await asyncio.wait_for(coord.keepalive(), max(0.05, budget))
    except TimeoutError:
        raise CoordinatorError(f"coordinator {coord.url}: ownership lease lost (not renewed within "
                               f"{coord.owner_ttl_s - FENCE_MARGIN_S:.0f}s)") from None
