"""Serve a small Starlette app (metrics, health, admin APIs) inside a component's event loop."""

from __future__ import annotations

import asyncio
import logging

import uvicorn

log = logging.getLogger("xcache.http")


class EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handling: the component owns SIGTERM/SIGINT."""

    def capture_signals(self):  # type: ignore[override]
        import contextlib

        return contextlib.nullcontext()


def start_http(app, host: str, port: int, name: str) -> asyncio.Task | None:
    """Serve app on host:port in the running loop; a busy port is logged, not fatal."""
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                            lifespan="off", loop="none")
    server = EmbeddedServer(config)

    async def run() -> None:
        try:
            await server._serve()
        except (OSError, SystemExit) as exc:
            log.warning("event=http_not_started name=%s port=%s error=%s", name, port, exc)

    return asyncio.ensure_future(run())
