"""The dashboard process: controller + uvicorn serving the API and web UI on one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import signal

from xcache.dashboard import leader
from xcache.dashboard.config import DashboardConfig
from xcache.dashboard.controller import Controller, log
from xcache.dashboard.coordinator import CoordinatorError, open_coordinator
from xcache.dashboard.topology import TopologyError


async def serve(cfg: DashboardConfig) -> int:
    import uvicorn

    from xcache.dashboard.api import create_app

    try:
        coord = open_coordinator(cfg.coordinator, cfg.product)
        ctl = Controller(cfg, coord)
        await leader.start_when_owner(ctl, f"{cfg.bind}:{cfg.port}", cfg.standby, log)
    except (CoordinatorError, TopologyError) as exc:
        log("start_failed", "error", error=str(exc))
        print(f"xcache dashboard: {exc}", flush=True)
        return 2
    if not cfg.admin_token:
        log("no_admin_token", "warning", note="the HTTP API accepts changes from anyone who can reach it")
    class Server(uvicorn.Server):
        # uvicorn re-raises SIGINT/SIGTERM after its shutdown, which would kill the process
        # before the controller gives up its coordinator ownership; we handle them ourselves.
        @contextlib.contextmanager
        def capture_signals(self):
            yield

        def install_signal_handlers(self) -> None:
            pass

    server = Server(uvicorn.Config(create_app(ctl, cfg.admin_token), host=cfg.bind, port=cfg.port,
                                           log_level="warning", access_log=False, lifespan="off"))

    async def watch_fatal():
        while not ctl.fatal:
            await asyncio.sleep(0.5)
        server.should_exit = True

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
    watcher = asyncio.create_task(watch_fatal())
    try:
        await server.serve()
    finally:
        watcher.cancel()
        await ctl.stop()
    return 3 if ctl.fatal else 0


def run(cfg: DashboardConfig) -> int:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    return asyncio.run(serve(cfg))
