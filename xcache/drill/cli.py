"""`xcache drill`: incident reproduction against any RESP endpoint (xcache proxy, twemproxy, redis)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from xcache.drill import report as R
from xcache.drill.runner import SCENARIOS, DrillOptions, run


@click.group()
def drill() -> None:
    """Incident drills and load generators (bounded; loopback by default)."""


@drill.command()
@click.option("--target", default="127.0.0.1:19000", show_default=True, help="RESP address (proxy) to storm")
@click.option("--scenario", type=click.Choice(SCENARIOS), default="reconnect-storm", show_default=True)
@click.option("--clients", type=click.IntRange(1, 50000), default=5000, show_default=True)
@click.option("--workers", type=click.IntRange(0, 64), default=0, help="client processes; 0 = one per core")
@click.option("--password", default="", envvar="XCACHE_DRILL_PASSWORD", show_envvar=True,
              help="AUTH password (empty: no AUTH); prefer the environment variable to the flag")
@click.option("--auth-timeout", type=float, default=2.0, show_default=True, help="seconds a client waits for AUTH")
@click.option("--op-timeout", type=float, default=2.0, show_default=True, help="seconds a client waits for a reply")
@click.option("--rate", type=float, default=1.0, show_default=True, help="requests/s per client")
@click.option("--write-ratio", type=float, default=0.2, show_default=True)
@click.option("--backoff/--no-backoff", default=False, help="jittered exponential backoff instead of reconnecting at once")
@click.option("--stall", "stall_s", type=float, default=4.0, show_default=True,
              help="proxy-stall: SIGSTOP length; failover: how long the master hangs before it is killed")
@click.option("--master", default="", help="failover: host:port of the master to hang and kill")
@click.option("--stall-mode", type=click.Choice(["sleep", "writes"]), default="sleep", show_default=True,
              help="failover: hang the master with DEBUG SLEEP, or flood it with 4 KiB SETs (a real RocksDB "
                   "write stall on a node with small memtables and a flush rate limit)")
@click.option("--master-password", default="", envvar="XCACHE_DRILL_MASTER_PASSWORD", show_envvar=True)
@click.option("--proxy-admin", default="", help="xcache proxy admin host:port: plot its dead-socket drops")
@click.option("--proxy-pid", "proxy_pids", type=int, multiple=True, help="proxy-stall: pids to stop (default: all listening on the target port)")
@click.option("--duration", type=float, default=30.0, show_default=True, help="max seconds observed after the event")
@click.option("--steady", type=float, default=3.0, show_default=True, help="seconds of normal traffic before the event")
@click.option("--ramp", type=float, default=2.0, show_default=True, help="clients' first connects are spread over this")
@click.option("--warmup-timeout", type=float, default=60.0, show_default=True)
@click.option("--json", "json_path", default="", help="write the full report (series included) here")
@click.option("--png", "png_path", default="", help="write the chart here (needs matplotlib)")
@click.option("--title", default="", help="chart title")
@click.option("--seed", type=int, default=1)
def storm(target, scenario, clients, workers, password, auth_timeout, op_timeout, rate, write_ratio, backoff,
          stall_s, master, stall_mode, master_password, proxy_admin, proxy_pids, duration, steady, ramp, warmup_timeout,
          json_path, png_path, title, seed) -> None:
    """Storm a RESP proxy with N clients that behave like the incident's and report the recovery."""
    host, _, port = target.rpartition(":")
    opts = DrillOptions(host=host or "127.0.0.1", port=int(port), password=password, clients=clients,
                        workers=workers, scenario=scenario, auth_timeout_s=auth_timeout,
                        connect_timeout_s=auth_timeout, op_timeout_s=op_timeout, ops_per_sec=rate,
                        write_ratio=write_ratio, backoff=backoff, stall_s=stall_s, master=master,
                        stall_mode=stall_mode,
                        master_password=master_password, proxy_admin=proxy_admin, proxy_pids=list(proxy_pids),
                        duration_s=duration, steady_s=steady, ramp_s=ramp, warmup_timeout_s=warmup_timeout,
                        seed=seed)
    try:
        rep = run(opts)
    except (RuntimeError, ValueError) as exc:
        click.echo(f"xcache drill: {exc}", err=True)
        sys.exit(1)
    click.echo(R.summary(rep))
    if json_path:
        R.write_json(rep, json_path)
        click.echo(f"  report: {json_path}")
    if png_path:
        if R.chart(rep, png_path, title):
            click.echo(f"  chart:  {png_path}")
        else:
            click.echo("  chart:  skipped (pip install matplotlib)", err=True)


@drill.command()
@click.option("--scenario", type=click.Choice(["proxy-stall", "failover"]), default="proxy-stall", show_default=True,
              help="proxy-stall: every proxy is SIGSTOPped; failover: the incident's chain on an `xcache up` "
                   "cluster per xcache proxy (master hangs, is killed, fails over, clients reconnect)")
@click.option("--clients", type=click.IntRange(1, 50000), default=16000, show_default=True)
@click.option("--runs", type=click.IntRange(1, 50), default=5, show_default=True, help="runs per proxy, interleaved")
@click.option("--stall", "stall_s", type=float, default=6.0, show_default=True, help="seconds each proxy is SIGSTOPped")
@click.option("--ramp", "ramp_s", type=float, default=4.0, show_default=True, help="clients' first connects spread over this")
@click.option("--duration", "duration_s", type=float, default=60.0, show_default=True,
              help="max seconds observed after the stall starts")
@click.option("--timeout", "timeout_s", type=float, default=2.0, show_default=True,
              help="clients' connect/AUTH/request timeout (the incident's: 2 s)")
@click.option("--client-procs", type=click.IntRange(0, 64), default=0, help="client processes; 0 = one per core")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True, help="xcache proxy workers")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help="extra config for the xcache proxies")
@click.option("--only", multiple=True, help="run only these proxies (by name)")
@click.option("--proxy", "extra", multiple=True, metavar="NAME=COMMAND",
              help="another proxy to compare: a shell command with {port} and {backend}")
@click.option("--no-twemproxy", is_flag=True, help="leave twemproxy out even when nutcracker is installed")
@click.option("--direct", is_flag=True,
              help="also storm a redis-server the clients reach directly (no proxy): this machine's floor")
@click.option("--out", "out_dir", default="", help="directory for per-run JSON, charts and logs (default: a temp dir)")
@click.option("-v", "--verbose", is_flag=True)
def incident(scenario, clients, runs, stall_s, ramp_s, duration_s, timeout_s, client_procs, workers, settings, only, extra,
             no_twemproxy, direct, out_dir, verbose) -> None:
    """The incident at full scale: a stalled proxy and a reconnect storm of N clients, in a private
    network namespace with somaxconn 32768, against xcache (gate on and off), twemproxy and any
    proxy given by --proxy, side by side. Needs root."""
    from xcache.drill import incident as I

    problem = I.preflight()
    if problem:
        click.echo(f"xcache drill incident: {problem}", err=True)
        sys.exit(2)
    try:
        targets = I.with_settings(I.default_targets(workers, not no_twemproxy, direct),
                                  dict(kv.split("=", 1) for kv in settings))
        targets += [I.parse_target(spec) for spec in extra]
    except ValueError as exc:
        click.echo(f"xcache drill incident: {exc}", err=True)
        sys.exit(2)
    if scenario == "failover":  # needs a sentinel-driven cluster: xcache's own (twemproxy cannot follow one)
        targets = [t for t in targets if t.kind == "xcache"]
    if only:
        targets = [t for t in targets if t.name in only]
        if not targets:
            click.echo(f"xcache drill incident: no proxy named {', '.join(only)}", err=True)
            sys.exit(2)
    if os.environ.get(I.INSIDE_ENV) != "1":
        sys.exit(I.reexec_in_netns(sys.argv[1:]))
    opts = I.IncidentOptions(scenario=scenario, clients=clients, runs=runs, stall_s=stall_s, ramp_s=ramp_s, duration_s=duration_s,
                             timeout_s=timeout_s, client_procs=client_procs, out_dir=out_dir, verbose=verbose)
    doc = I.run_inside(opts, targets, log=lambda m: click.echo(m, err=True))
    table = I.format_table(doc["table"], clients, scenario)
    (Path(doc["out_dir"]) / "table.md").write_text(table + "\n")
    click.echo(table)
    click.echo(f"  runs, charts and logs: {doc['out_dir']}")


def _add_chaos() -> None:
    from xcache.drill.chaos.cli import chaos

    drill.add_command(chaos, "chaos")


_add_chaos()
