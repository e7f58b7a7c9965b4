"""A proxy registers itself with the dashboard, as Codis proxies come online through theirs.

With `dashboard` set (its URL), the proxy PUTs {addr, admin_addr, ttl_s} to
/api/proxies/register on start and again every third of the lease (register_ttl_ms): the
dashboard records the lease in the coordinator and adds the proxy to the topology (then pushes
it the slot table). On a clean stop the proxy DELETEs its registration and leaves the topology
at once; if it dies, the lease ends after register_ttl_ms and the dashboard removes it.

The dashboard's admin token comes from the environment (XCACHE_DASHBOARD_TOKEN) or from the
file dashboard_token_file names (never from the command line). A dashboard that is down is
retried at the next renewal; registration never holds up serving clients.

Pure: announce() (the addresses the proxy registers under). Shell: Registration.
"""

from __future__ import annotations

import asyncio
import os
from urllib.parse import quote

import httpx

from xcache.proxy.config import ProxyConfig
from xcache.proxy.logs import log


def announce(cfg: ProxyConfig) -> tuple[str, str]:
    """(addr, admin_addr) to register: announce_* when set, else the bound addresses (a
    wildcard bind is announced as 127.0.0.1)."""
    def local(bind: str) -> str:
        return "127.0.0.1" if bind in ("", "0.0.0.0", "::") else bind
    addr = cfg.announce_addr or f"{local(cfg.bind)}:{cfg.port}"
    admin = cfg.announce_admin_addr or f"{local(cfg.admin_bind)}:{cfg.admin_port}"
    return addr, admin


def token(cfg: ProxyConfig) -> str:
    if cfg.dashboard_token_file:
        with open(cfg.dashboard_token_file) as fh:
            return fh.read().strip()
    return os.environ.get("XCACHE_DASHBOARD_TOKEN", "")


class Registration:
    def __init__(self, cfg: ProxyConfig):
        self.cfg = cfg
        self.addr, self.admin_addr = announce(cfg)
        tok = token(cfg)
        self.client = httpx.AsyncClient(base_url=cfg.dashboard.rstrip("/"), timeout=5,
                                        headers={"Authorization": f"Bearer {tok}"} if tok else {})
        self.task: asyncio.Task | None = None
        self.registered = False

    def start(self) -> None:
        self.task = asyncio.ensure_future(self._loop())

    async def once(self) -> bool:
        ttl_s = max(1, self.cfg.register_ttl_ms // 1000)
        try:
            r = await self.client.put("/api/proxies/register", json={
                "addr": self.addr, "admin_addr": self.admin_addr, "ttl_s": ttl_s})
        except httpx.HTTPError as exc:
            log("register_failed", level="warning", dashboard=self.cfg.dashboard, error=repr(exc))
            return False
        if r.status_code != 200:
            log("register_refused", level="warning", dashboard=self.cfg.dashboard,
                status=r.status_code, error=r.text.strip()[:200])
            return False
        if not self.registered:
            log("registered", dashboard=self.cfg.dashboard, addr=self.addr, ttl_s=ttl_s)
        self.registered = True
        return True

    async def _loop(self) -> None:
        while True:
            ok = await self.once()
            # renew at a third of the lease; retry a refused or failed one sooner
            await asyncio.sleep(self.cfg.register_ttl_ms / 1000 / (3 if ok else 6))

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except (asyncio.CancelledError, Exception):
                pass
        if self.registered:
            try:
                await self.client.delete(f"/api/proxies/register/{quote(self.addr, safe='')}")
                log("unregistered", dashboard=self.cfg.dashboard, addr=self.addr)
            except httpx.HTTPError as exc:
                log("unregister_failed", level="warning", error=repr(exc))
        await self.client.aclose()


def start(cfg: ProxyConfig) -> Registration | None:
    if not cfg.dashboard:
        return None
    reg = Registration(cfg)
    reg.start()
    return reg
