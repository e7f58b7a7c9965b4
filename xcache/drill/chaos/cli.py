"""`xcache drill chaos`: scenarios on virtual hosts, a results table per nemesis.

Default (CI) set: kill -9 of a master, the isolated-master partition without and with the
acknowledged-write mode, and a full disk. `--full` runs every nemesis, each with durability off
and on, for xcache and for redis-server + redis-sentinel behind the same proxies.
"""

from __future__ import annotations

import json
import sys
import time

import click

from xcache.drill.chaos.hosts import HarnessError, missing_requirements
from xcache.drill.chaos.nemesis import NEMESES
from xcache.drill.chaos.scenario import ScenarioOptions, run_scenario

CI_SET = [("xcache", "off", "kill-master"), ("xcache", "off", "isolate-master"),
          ("xcache", "ack", "isolate-master"), ("xcache", "off", "disk-full")]
FULL_NEMESES = ["kill-master", "pause-master", "isolate-master", "flapping-partition", "isolate-proxy", "sentinel-minority",
                "isolate-etcd-leader", "isolate-dashboard", "disk-full", "bandwidth-full-sync"]
COLUMNS = ("acknowledged", "lost", "in_doubt", "failed", "unavailable_s", "recover_s", "write_p50_ms",
           "write_p99_ms")
HEADERS = ("acknowledged", "lost", "in doubt", "failed", "unavailable s", "recover s", "write p50 ms",
           "write p99 ms")
PLAIN_TIMELINE = {"hold_s", "writable_after_heal_s", "ops"}


def table(results: list[dict]) -> str:
    """Markdown: one row per scenario; nemesis measurements (takeover, sync time) under notes."""
    head = ["nemesis", "nodes", "durable", *HEADERS, "checker", "notes"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        v = r.get("verdict") or {}
        notes = ", ".join(f"{k}={val}" for k, val in (r.get("timeline") or {}).items() if k not in PLAIN_TIMELINE)
        if r.get("error"):
            cells = ["-"] * len(COLUMNS) + ["error", r["error"][:100].replace("|", "/")]
        else:
            cells = [str(v.get(c, "")) for c in COLUMNS] + ["ok" if v.get("valid") else "INVALID", notes]
        lines.append("| " + " | ".join([r["nemesis"], r["kind"], r["durable"], *cells]) + " |")
    return "\n".join(lines)


def plan(full: bool, nemeses: tuple[str, ...], kinds: str, durable: str) -> list[tuple[str, str, str]]:
    if not full and not nemeses and kinds == "xcache" and durable == "default":
        return list(CI_SET)
    names = list(nemeses) or FULL_NEMESES
    ks = ["xcache", "redis"] if kinds == "both" else [kinds]
    ds = ["off", "ack"] if durable in ("default", "both") else [durable]
    return [(k, d, n) for n in names for d in ds for k in ks]


@click.command()
@click.option("--full", is_flag=True, help="every nemesis x durable off/ack x xcache/redis (long)")
@click.option("--nemesis", "nemeses", multiple=True, type=click.Choice(sorted(NEMESES)), help="run these (repeatable)")
@click.option("--nodes", "kinds", type=click.Choice(["xcache", "redis", "both"]), default="xcache", show_default=True,
              help="data nodes and sentinels: xcache, redis-server + redis-sentinel, or both side by side")
@click.option("--durable", type=click.Choice(["default", "off", "min-replicas", "ack", "both"]), default="default",
              help="off; min-replicas (min-replicas-to-write 1); ack (write_ack_replicas 1; redis: the "
                   "proxies' backend_wait_replicas 1); both = off and ack")
@click.option("--hold", "hold_s", type=float, default=8.0, show_default=True, help="seconds each fault lasts")
@click.option("--clients", type=int, default=4, show_default=True)
@click.option("--rate", type=float, default=40.0, show_default=True, help="ops/s per client")
@click.option("--workdir", default="/tmp/xcache-chaos", show_default=True, help="logs and data of the hosts")
@click.option("--json", "json_path", default="", help="write every result here")
def chaos(full, nemeses, kinds, durable, hold_s, clients, rate, workdir, json_path) -> None:
    """Fault injection on virtual hosts (network namespaces, as root) with a checker."""
    missing = missing_requirements(("ip", "firewall", "tc", "etcd")
                                   + (("redis-server",) if kinds != "xcache" or full else ()))
    if missing:
        click.echo("xcache drill chaos: missing: " + ", ".join(missing), err=True)
        sys.exit(2)
    runs = plan(full, nemeses, "both" if full else kinds, "both" if full and durable == "default" else durable)
    results, t0 = [], time.monotonic()
    for kind, dur, name in runs:
        try:
            r = run_scenario(ScenarioOptions(nemesis=name, kind=kind, durable=dur, hold_s=hold_s,
                                             clients=clients, rate=rate, workdir=workdir),
                             progress=lambda m: click.echo(m, err=True))
        except HarnessError as exc:
            click.echo(f"xcache drill chaos: {exc}", err=True)
            sys.exit(2)
        results.append(r.to_json())
        v = r.verdict
        click.echo(f"  {kind}/{dur}/{name}: " + (f"error: {r.error}" if r.error else
                   ", ".join(f"{c}={v.get(c)}" for c in COLUMNS) + f", valid={v.get('valid')}, "
                   f"timeline={r.timeline}"), err=True)
        if json_path:  # after every scenario: a long run that is interrupted keeps what it measured
            with open(json_path, "w") as fh:
                json.dump(results, fh, indent=1)
        if r.leftovers:
            click.echo(f"xcache drill chaos: left behind: {r.leftovers}", err=True)
    click.echo(table(results))
    click.echo(f"\n{len(results)} scenarios in {time.monotonic() - t0:.0f}s")
    bad = [r for r in results if r["error"] or r["leftovers"] or not r["verdict"].get("valid")
           or (r["kind"] == "xcache" and r["timeline"].get("replicas_differ"))
           or (r["durable"] == "ack" and r["verdict"].get("lost"))]
    sys.exit(1 if bad else 0)
