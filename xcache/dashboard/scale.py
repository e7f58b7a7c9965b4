"""Automatic proxy scale-out: the decision (sans-IO) and the two ways to act on it.

decide() looks at the proxies' admission metrics each reconcile period: the worst listen-queue
fill (queued / backlog over all proxies and workers) and the worst event-loop lag. When either
stays above its threshold for up_after_s, it answers "up"; when both stay below their calm levels
for down_after_s, it answers "down" (only proxies the scaler added are removed). A proxy that does
not answer /stats gives no data: it neither counts as hot nor as calm (a stalled proxy's own
stats are not trusted; the calm timer restarts). cooldown_s separates two actions.

Acting (the Scaler class at the end, the thin shell): scale_mode = "local" adds one worker process to every proxy per step
through its admin API (PUT /workers; the new worker shares the proxy's port, so every client
benefits) and removes them again (the proxy drains the retiring worker gracefully);
"local-proxy" starts `xcache proxy` processes on the next free ports on this machine and adds
them to the topology (only clients that discover proxies through the dashboard/coordinator, or a
load balancer fed from it, use them); "hook" runs scale_hook_command and/or POSTs to scale_hook_url (multi-machine: the
hook starts a proxy elsewhere and registers it with the dashboard API).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from xcache.dashboard.nodes import split_addr
from xcache.secretfile import write_secret_config

if TYPE_CHECKING:
    from xcache.dashboard.controller import Controller


@dataclass
class ScalePolicy:
    queue_fill_high: float = 0.5
    loop_lag_high_s: float = 0.1
    up_after_s: float = 5.0
    queue_fill_calm: float = 0.05
    loop_lag_calm_s: float = 0.02
    down_after_s: float = 60.0
    cooldown_s: float = 15.0
    max_extra: int = 2


@dataclass
class ScaleState:
    hot_since: float | None = None
    calm_since: float | None = None
    last_action: float | None = None
    extra: int = 0  # scale-ups (workers per proxy, proxies, hook calls) not yet undone


def measure(summaries: list[dict | None]) -> tuple[float | None, float | None]:
    """(worst listen-queue fill, worst loop lag) of the reachable proxies; (None, None) if none."""
    live = [s for s in summaries if s]
    if not live:
        return None, None
    return (max(s.get("listen_queue_fill", 0.0) for s in live), max(s.get("loop_lag_s", 0.0) for s in live))


def decide(p: ScalePolicy, st: ScaleState, now: float, fill: float | None, lag: float | None) -> str | None:
    """Update st with one observation; return "up", "down" or None."""
    if fill is None or lag is None:
        st.hot_since = None
        st.calm_since = None
        return None
    hot = fill >= p.queue_fill_high or lag >= p.loop_lag_high_s
    calm = fill <= p.queue_fill_calm and lag <= p.loop_lag_calm_s
    st.hot_since = (st.hot_since if st.hot_since is not None else now) if hot else None
    st.calm_since = (st.calm_since if st.calm_since is not None else now) if calm else None
    cooling = st.last_action is not None and now - st.last_action < p.cooldown_s
    if cooling:
        return None
    if hot and now - st.hot_since >= p.up_after_s and st.extra < p.max_extra:
        st.extra += 1
        st.last_action = now
        st.hot_since = None
        return "up"
    if calm and st.extra > 0 and now - st.calm_since >= p.down_after_s:
        st.extra -= 1
        st.last_action = now
        st.calm_since = None
        return "down"
    return None


def worker_step(added: int, step: int, max_extra: int) -> bool:
    """local mode: may a proxy with `added` scaler-added workers take this step (+1 or -1)?
    Never beyond max_extra added workers, never below the proxy's own count."""
    return 0 <= added + step <= max_extra


def policy_of(cfg) -> ScalePolicy:
    """The policy a DashboardConfig sets (percentages and milliseconds in the config)."""
    return ScalePolicy(queue_fill_high=cfg.scale_queue_fill_pct / 100,
                       loop_lag_high_s=cfg.scale_loop_lag_ms / 1000,
                       up_after_s=cfg.scale_up_after_ms / 1000, down_after_s=cfg.scale_down_after_ms / 1000,
                       cooldown_s=cfg.scale_cooldown_ms / 1000, max_extra=cfg.scale_max_extra)


def proxy_argv(bind: str, port: int, admin: int, config_path: str, extra_set: str) -> list[str]:
    """local-proxy mode: the command that starts one more proxy. Secrets (admin_token, the
    passwords of scale_proxy_config) are in the 0600 config file, never on the command line."""
    args = [sys.executable, "-m", "xcache.cli", "proxy", "--config", config_path, "--bind", bind,
            "--port", str(port), "--admin-port", str(admin), "--set", f"admin_bind={bind}"]
    for item in shlex.split(extra_set):
        args += ["--set", item]
    return args


def scaled_proxy_config(base_path: str, admin_token: str) -> str:
    """A private (0600) copy of base_path plus admin_token, for one scaled-out proxy."""
    values: dict = {}
    if base_path:
        with open(base_path, "rb") as fh:
            values = tomllib.load(fh)
    if admin_token:
        values["admin_token"] = admin_token
    fd, path = tempfile.mkstemp(prefix="xcache-scaled-proxy-", suffix=".toml")
    os.close(fd)
    write_secret_config(path, values)
    return path


def hook_env(action: str, fill: float, lag: float, api_addr: str) -> dict[str, str]:
    """hook mode: what scale_hook_command finds in its environment (besides the dashboard's)."""
    return {"XCACHE_SCALE": action, "XCACHE_SCALE_FILL": f"{fill:.3f}",
            "XCACHE_SCALE_LAG_S": f"{lag:.3f}", "XCACHE_DASHBOARD": f"http://{api_addr}"}


# --- shell -------------------------------------------------------------------------------------
def port_taken(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


class Scaler:
    def __init__(self, ctl: Controller):
        self.ctl = ctl
        self.policy = policy_of(ctl.cfg)
        self.state = ScaleState()
        self.scaled: list[tuple[str, subprocess.Popen | None]] = []  # proxies added by the scaler
        self.added_workers: dict[str, int] = {}  # local mode: workers the scaler added, per proxy

    def stop(self) -> None:
        for _, popen in self.scaled:
            if popen is not None and popen.poll() is None:
                popen.terminate()
        for _, popen in self.scaled:
            if popen is not None:
                try:
                    popen.wait(5)
                except subprocess.TimeoutExpired:
                    popen.kill()

    async def autoscale(self, now: float | None = None) -> str | None:
        ctl, cfg = self.ctl, self.ctl.cfg
        now = time.time() if now is None else now
        summaries = [(st.get("stats") if st.get("up") else None) for a, st in ctl.proxy_state.items()
                     if a in ctl.topo.proxies]
        fill, lag = measure(summaries)
        action = decide(self.policy, self.state, now, fill, lag)
        if action is None:
            return None
        ctl.event("scale_" + action, "warning", mode=cfg.scale_mode, queue_fill=round(fill, 3),
                  loop_lag_s=round(lag, 3), extra=self.state.extra)
        try:
            if cfg.scale_mode == "local":
                await self.scale_workers(+1 if action == "up" else -1)
            elif cfg.scale_mode == "local-proxy":
                await (self.local_up() if action == "up" else self.local_down())
            else:
                await self.hook(action, fill, lag)
        except Exception as exc:
            ctl.event("scale_failed", "error", action=action, error=repr(exc))
            if action == "up":
                self.state.extra -= 1
            else:
                self.state.extra += 1
        return action

    async def scale_workers(self, step: int) -> None:
        """Resize every reachable proxy's workers by step (PUT /workers), within 0..scale_max_extra
        added workers per proxy and the proxy's own max_workers. Raises if no proxy could."""
        ctl = self.ctl
        assert ctl._http is not None
        done, errors = 0, []
        for addr, p in sorted(ctl.topo.proxies.items()):
            added = self.added_workers.get(addr, 0)
            if not worker_step(added, step, ctl.cfg.scale_max_extra):
                continue
            try:
                r = await ctl._http.get(f"http://{p.admin_addr}/workers")
                r.raise_for_status()
                count = r.json()["count"] + step
                r = await ctl._http.put(f"http://{p.admin_addr}/workers", json={"count": count},
                                        headers=ctl.proxies.headers())
                if r.status_code >= 300:
                    raise RuntimeError(f"PUT /workers answered {r.status_code}: {r.text.strip()}")
            except (httpx.HTTPError, RuntimeError, ValueError, KeyError) as exc:
                errors.append(f"{addr}: {exc}")
                continue
            self.added_workers[addr] = added + step
            done += 1
            ctl.event("proxy_workers_scaled", "warning" if step > 0 else "info", proxy=addr,
                      workers=count)
        if errors and not done:
            raise RuntimeError("; ".join(errors))

    def _next_free(self, start: int, avoid: set[int]) -> int:
        port = start
        while port in avoid or port_taken(self.ctl.cfg.scale_proxy_bind, port):
            port += 1
        return port

    async def local_up(self) -> None:
        ctl, cfg = self.ctl, self.ctl.cfg
        proxies = ctl.topo.proxies.values()
        used = {int(split_addr(a)[1]) for p in proxies for a in (p.addr, p.admin_addr)}
        top = max(used, default=19000)
        port = self._next_free(max(int(split_addr(p.addr)[1]) for p in proxies) + 1
                               if proxies else 19000, used)
        admin = self._next_free(max(top, port) + 1, used | {port})
        bind = cfg.scale_proxy_bind
        conf = scaled_proxy_config(cfg.scale_proxy_config, cfg.proxy_admin_token)
        popen = subprocess.Popen(proxy_argv(bind, port, admin, conf, cfg.scale_proxy_set),
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, start_new_session=True)
        addr, admin_addr = f"{bind}:{port}", f"{bind}:{admin}"
        self.scaled.append((addr, popen))
        deadline = time.monotonic() + 20
        try:  # the private config is removed once the proxy has read it
            while not port_taken(bind, admin):
                if popen.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"scaled proxy {addr} did not start (rc {popen.poll()})")
                await asyncio.sleep(0.1)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(conf)
        await ctl.add_proxy(addr, admin_addr)
        ctl.event("proxy_scaled_out", "warning", proxy=addr, admin=admin_addr, pid=popen.pid)

    async def local_down(self) -> None:
        if not self.scaled:
            return
        addr, popen = self.scaled.pop()
        try:
            await self.ctl.remove_proxy(addr)
        finally:
            if popen is not None and popen.poll() is None:
                popen.terminate()
                await asyncio.get_running_loop().run_in_executor(None, popen.wait, 10)
        self.ctl.event("proxy_scaled_in", proxy=addr)

    async def hook(self, action: str, fill: float, lag: float) -> None:
        ctl, cfg = self.ctl, self.ctl.cfg
        if cfg.scale_hook_command:
            env = {**os.environ, **hook_env(action, fill, lag, ctl.api_addr)}
            proc = await asyncio.create_subprocess_shell(cfg.scale_hook_command, env=env,
                                                         stdin=subprocess.DEVNULL,
                                                         stdout=subprocess.DEVNULL,
                                                         stderr=subprocess.PIPE)
            _, err = await asyncio.wait_for(proc.communicate(), 60)
            if proc.returncode:
                raise RuntimeError(f"scale_hook_command exited {proc.returncode}: {err.decode()[-300:]}")
        if cfg.scale_hook_url:
            assert ctl._http is not None
            r = await ctl._http.post(cfg.scale_hook_url, json={
                "action": action, "fill": fill, "lag_s": lag, "proxies": sorted(ctl.topo.proxies)})
            if r.status_code >= 300:
                raise RuntimeError(f"scale_hook_url answered {r.status_code}")
