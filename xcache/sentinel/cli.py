"""`xcache sentinel`: run a sentinel (registered by xcache/cli.py)."""

from __future__ import annotations

import asyncio
import signal
import sys

import click

from xcache.config import ConfigError, flag_overrides, load
from xcache.sentinel.config import SentinelConfig, parse_monitors


@click.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="TOML config file")
@click.option("--bind", default=None, help="address to listen on")
@click.option("--port", type=int, default=None, help="RESP port (default 26379)")
@click.option("--monitor", "monitors", multiple=True, metavar="'NAME HOST PORT QUORUM'",
              help="a master to monitor (repeatable; adds to the config's `monitor`)")
@click.option("--metrics-port", type=int, default=None, help="HTTP port for /metrics and /health")
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE", help="any config key")
def sentinel(config_path, bind, port, monitors, metrics_port, assignments) -> None:
    """Run a sentinel: monitor masters, agree on failures, fail over (Redis Sentinel protocol)."""
    try:
        flags = {"bind": bind, "port": port, "metrics_port": metrics_port}
        cfg = load(SentinelConfig, config_path, flag_overrides(assignments, flags))
        if monitors:
            cfg.monitor = ",".join([cfg.monitor, *monitors]) if cfg.monitor else ",".join(monitors)
        parse_monitors(cfg.monitor)
    except ConfigError as exc:
        click.echo(f"xcache: {exc}", err=True)
        sys.exit(2)
    run(cfg)


def run(cfg: SentinelConfig) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(cfg))


async def serve(cfg: SentinelConfig) -> None:
    from xcache.sentinel import state
    from xcache.sentinel.metrics import Metrics
    from xcache.sentinel.node import SentinelNode, log
    from xcache.sentinel.server import SentinelServer

    saved = state.load(cfg.state_file) if cfg.state_file else None
    node = SentinelNode(cfg, run_id=saved["run_id"] if saved else None)
    if saved:
        node.restore(saved)  # the saved address of a group wins over `monitor` (it may have moved)
    server = SentinelServer(node)
    metrics = Metrics(node)
    for name, host, mport, quorum in parse_monitors(cfg.monitor):
        if name not in node.masters:
            node.monitor(name, host, mport, quorum)
    node.save_state()
    # HTTP first: once the RESP port accepts, /metrics and /health answer too.
    http = await metrics.serve(cfg.metrics_bind, cfg.metrics_port) if cfg.metrics_port else None
    port = await server.start(cfg.bind, cfg.port)
    if cfg.port == 0:
        cfg.port = port
    log("listening", port=port, run_id=node.run_id, metrics_port=cfg.metrics_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    timer = asyncio.create_task(node.run())
    await stop.wait()
    timer.cancel()
    server.close()
    if http is not None:
        http.close()
    for m in list(node.masters.values()):
        for inst in (m, *m.replicas.values(), *m.sentinels.values()):
            inst.close()
    log("stopped", port=port)
