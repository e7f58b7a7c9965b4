"""The `xcache` command: one subcommand per component."""

from __future__ import annotations

import sys

import click

from xcache.config import ConfigError, ServerConfig, flag_overrides, load


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """xcache: a Redis-compatible cache cluster (storage nodes, proxy, sentinel, dashboard)."""
    from xcache.secretfile import private_umask

    private_umask()  # data, WAL, logs, topology and state files: owner-only (0600 / 0700)


def fail(message: str) -> None:
    click.echo(f"xcache: {message}", err=True)
    sys.exit(2)


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="TOML config file")
@click.option("--bind", default=None, help="address to listen on")
@click.option("--port", type=int, default=None, help="RESP port (default 6380)")
@click.option("--dir", "data_dir", default=None, help="data directory")
@click.option("--requirepass", default=None, envvar="XCACHE_REQUIREPASS", show_envvar=True,
              help="password clients must AUTH with (better: the XCACHE_REQUIREPASS environment "
                   "variable or a 0600 --config file: a command line is visible to `ps`)")
@click.option("--replicaof", default=None, help="'host port' of the master to replicate from")
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE", help="any config key")
def server(config_path, bind, port, data_dir, requirepass, replicaof, assignments) -> None:
    """Run a storage node (RocksDB-backed, Redis protocol)."""
    from xcache.store.rocksopts import check as check_rocks
    from xcache.store.server import run

    try:
        flags = {"bind": bind, "port": port, "dir": data_dir, "requirepass": requirepass,
                 "replicaof": replicaof}
        cfg = load(ServerConfig, config_path, flag_overrides(assignments, flags))
        check_rocks(cfg)  # keys that depend on each other (memory budget, compression)
    except ConfigError as exc:
        fail(str(exc))
    run(cfg, config_path)


def _register_optional() -> None:
    """Subcommands of the other components, each living in its own package."""
    import importlib

    for module, name in (("xcache.proxy.cli", "proxy"), ("xcache.sentinel.cli", "sentinel"),
                         ("xcache.dashboard.cli", "dashboard"), ("xcache.dashboard.cli", "admin"),
                         ("xcache.dashboard.cli", "up"), ("xcache.drill.cli", "drill")):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        cmd = getattr(mod, name, None)
        if cmd is not None:
            main.add_command(cmd, name)


_register_optional()

if __name__ == "__main__":
    main()
