"""Serve a small Starlette app (metrics, health, admin APIs) inside a component's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import uvicorn

log = logging.getLogger("xcache.http")


class EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handling: the component owns SIGTERM/SIGINT."""

    task: asyncio.Task | None = None

    def capture_signals(self):  # type: ignore[override]
        return contextlib.nullcontext()

    async def stop(self) -> None:
        self.should_exit = True
        if self.task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self.task, 5)


async def serve_http(app, host: str, port: int, name: str, required: bool = False,
                     retry_s: float = 0.0) -> EmbeddedServer:
    """Start serving app on host:port in the running loop and wait until it listens.

    A port that cannot be bound is tried again for retry_s seconds (a previous process may still
    be letting it go); then it raises OSError when required, else it is logged and the component
    goes on without this endpoint.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + retry_s
    while True:
        server = await _start(app, host, port)
        if server.started or loop.time() >= deadline:
            break
        log.warning("event=http_bind_retry name=%s addr=%s:%s", name, host, port)
        await asyncio.sleep(0.25)
    if not server.started:
        if required:
            raise OSError(f"{name}: cannot listen on {host}:{port}")
        log.warning("event=http_not_started name=%s addr=%s:%s", name, host, port)
    return server


async def _start(app, host: str, port: int) -> EmbeddedServer:
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                            lifespan="off", loop="none")
    server = EmbeddedServer(config)

    async def run() -> None:
        try:
            await server._serve()
        except SystemExit:  # uvicorn exits when it cannot bind
            pass

    server.task = asyncio.ensure_future(run())
    while not server.started and not server.task.done():
        await asyncio.sleep(0.01)  # uvicorn offers no startup event to await
    return server
