"""`xcache proxy`: the command line of the proxy."""

from __future__ import annotations

import sys

import click

from xcache.config import ConfigError, flag_overrides, load
from xcache.proxy.config import ProxyConfig
from xcache.proxy.router import SlotTable, TableError


@click.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="TOML config file")
@click.option("--bind", default=None, help="address of the RESP port")
@click.option("--port", type=int, default=None, help="RESP port (default 19000)")
@click.option("--admin-port", type=int, default=None, help="admin HTTP port (default 11080)")
@click.option("--backend", "backends", multiple=True, metavar="HOST:PORT",
              help="a group master; repeat for more groups (slots spread evenly). Overrides 'groups'.")
@click.option("--workers", type=int, default=None, help="worker processes (default: number of cores)")
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE", help="any config key")
def proxy(config_path, bind, port, admin_port, backends, workers, assignments) -> None:
    """Run the slot-routing proxy (admission gate, failover hiding, admin API)."""
    from xcache.proxy.main import run

    try:
        groups = ",".join(f"{i}={b}" for i, b in enumerate(backends, 1)) if backends else None
        flags = {"bind": bind, "port": port, "admin_port": admin_port, "workers": workers, "groups": groups}
        cfg = load(ProxyConfig, config_path, flag_overrides(assignments, flags))
        table = SlotTable.from_config(cfg.groups, cfg.slots, cfg.slots_epoch)
        from xcache.proxy.acl import build_acl

        build_acl(cfg.session_password, cfg.users)  # a wrong ACL rule is a config error
    except (ConfigError, TableError) as exc:
        click.echo(f"xcache: {exc}", err=True)
        sys.exit(2)
    run(cfg, table)
