"""`xcache dashboard`, `xcache admin` and `xcache up` (registered by xcache/cli.py)."""

from __future__ import annotations

import json
import os
import sys
import time

import click

from xcache.config import ConfigError, flag_overrides, load
from xcache.dashboard.config import DashboardConfig, UpConfig


def _fail(message: str, code: int = 2):
    click.echo(f"xcache: {message}", err=True)
    sys.exit(code)


# --- xcache dashboard ------------------------------------------------------------------------------
@click.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="TOML config file")
@click.option("--coordinator", default=None, help="file:///dir or etcd://host:port[/prefix]")
@click.option("--bind", default=None, help="address of the API and web UI")
@click.option("--port", type=int, default=None, help="HTTP port (default 18080)")
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE", help="any config key")
def dashboard(config_path, coordinator, bind, port, assignments) -> None:
    """Run the dashboard: controller, HTTP API and web UI (one per cluster)."""
    from xcache.dashboard.main import run

    try:
        flags = {"coordinator": coordinator, "bind": bind, "port": port}
        cfg = load(DashboardConfig, config_path, flag_overrides(assignments, flags))
    except ConfigError as exc:
        _fail(str(exc))
    sys.exit(run(cfg))


# --- xcache admin ----------------------------------------------------------------------------------
class Api:
    def __init__(self, url: str, token: str):
        self.url = url.rstrip("/")
        self.token = token

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        import httpx

        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            r = httpx.request(method, self.url + path, json=body, headers=headers, timeout=30)
        except httpx.HTTPError as exc:
            _fail(f"cannot reach the dashboard at {self.url}: {exc}", 1)
        try:
            data = r.json()
        except ValueError:
            data = {"error": r.text}
        if r.status_code >= 400:
            _fail(f"{method} {path}: {r.status_code} {data.get('error', data)}", 1)
        return data


def _out(data) -> None:
    click.echo(json.dumps(data, indent=2))


@click.group()
@click.option("--dashboard", "url", default=lambda: os.environ.get("XCACHE_DASHBOARD", "http://127.0.0.1:18080"),
              show_default="$XCACHE_DASHBOARD or http://127.0.0.1:18080", help="dashboard URL")
@click.option("--token", default=lambda: os.environ.get("XCACHE_TOKEN", ""),
              show_default="$XCACHE_TOKEN", help="the dashboard's admin_token")
@click.pass_context
def admin(ctx, url, token) -> None:
    """Drive a dashboard from the shell (like codis-admin)."""
    ctx.obj = Api(url, token)


@admin.command()
@click.option("--json", "as_json", is_flag=True, help="raw JSON")
@click.pass_obj
def overview(api: Api, as_json) -> None:
    """Groups, servers, slots, proxies, sentinels and alerts."""
    o = api.call("GET", "/api/overview")
    if as_json:
        return _out(o)
    click.echo(f"epoch {o['epoch']}  coordinator {o['coordinator']}")
    for g in o["groups"]:
        click.echo(f"group {g['id']} ({g['name']}): {g['slots']} slots, master {g['master'] or '-'}")
        for s in g["servers"]:
            lag = f" lag={s['lag_bytes']}B" if "lag_bytes" in s else ""
            fenced = " FENCED (refuses writes until its role is confirmed)" if s.get("fenced") else ""
            click.echo(f"  {s['addr']:<22} {s.get('expected_role', s['role']):<8} observed={s['role']}{lag}{fenced}")
    click.echo("slots: " + ", ".join(f"{r['first']}-{r['last']}={r['group'] or 'unassigned'}"
                                     for r in o["slot_ranges"]))
    for p in o["proxies"]:
        st = p.get("stats") or {}
        click.echo(f"proxy {p['addr']} admin {p['admin_addr']}: {'in sync' if p.get('in_sync') else 'NOT in sync'}"
                   f" epoch={p.get('epoch')} sessions={st.get('sessions', '-')} dropped={st.get('accept_dropped', '-')}"
                   + (f" error={p['error']}" if p.get("error") else ""))
    for s in o["sentinels"]:
        click.echo(f"sentinel {s['addr']}: {'up' if s.get('up') else 'down'}")
    for name, k in (o.get("supervised") or {}).items():
        click.echo(f"process {name}: {k['state']} restarts={k['restarts']}")
    for w in o.get("warnings") or []:
        click.echo(f"warning {w['kind']}: {w['text']}")
    for a in o.get("active_alerts") or []:
        click.echo(f"FIRING {a['name']} [{a['severity']}]: {a['annotations']['summary']}")
    for a in o["alerts"][-5:]:
        click.echo(f"alert {a.get('kind')}: " + " ".join(f"{k}={v}" for k, v in a.items()
                                                           if k not in ("kind", "time", "level")))


@admin.command()
@click.pass_obj
def topology(api: Api) -> None:
    """The stored topology document."""
    _out(api.call("GET", "/api/topology"))


@admin.group()
def group() -> None:
    """Groups and their servers."""


@group.command("add")
@click.option("--group", "gid", type=int, default=None, help="group id (default: next free)")
@click.pass_obj
def group_add(api: Api, gid) -> None:
    _out(api.call("POST", "/api/groups", {"id": gid} if gid else {}))


@group.command("remove")
@click.option("--group", "gid", type=int, required=True)
@click.pass_obj
def group_remove(api: Api, gid) -> None:
    _out(api.call("DELETE", f"/api/groups/{gid}"))


def _up_request(api: Api, body: dict, timeout_s: float = 3600) -> dict:
    """Ask `xcache up` (through the dashboard) and wait for its answer."""
    r = api.call("POST", "/api/supervisor/requests", body)
    deadline = time.monotonic() + timeout_s
    while r["status"] in ("queued", "running"):
        if time.monotonic() > deadline:
            _fail(f"request {r['id']} still {r['status']} after {timeout_s:g}s", 1)
        time.sleep(0.3)  # polling the dashboard: the CLI has no event to wait on
        r = api.call("GET", f"/api/supervisor/requests/{r['id']}")
    if r["status"] == "failed":
        _fail(f"{body['op']}: {r.get('result', {}).get('error')}", 1)
    return r["result"]


@group.command("add-supervised")
@click.option("--replicas", type=int, default=1, show_default=True, help="replicas besides the master")
@click.option("--wait/--no-wait", default=True, help="show the rebalance's progress until it ends (default)")
@click.pass_obj
def group_add_supervised(api: Api, replicas, wait) -> None:
    """Cluster started by `xcache up`: start a new group's nodes (supervised), add the group and
    rebalance, in one command."""
    res = _up_request(api, {"op": "add_group", "replicas": replicas})
    click.echo(f"group {res['group']} added: {', '.join(res['servers'])}; "
               f"{res['slots_to_migrate']} slots to migrate")
    _follow(api, wait)


@group.command("remove-supervised")
@click.option("--group", "gid", type=int, required=True)
@click.pass_obj
def group_remove_supervised(api: Api, gid) -> None:
    """Cluster started by `xcache up`: migrate the group's slots to the other groups, remove it
    from the topology and stop its nodes, in one command (waits until done)."""
    res = _up_request(api, {"op": "remove_group", "group": gid})
    click.echo(f"group {gid} removed: {res['slots_moved']} slots moved, stopped {', '.join(res['stopped'])}")


@admin.command("restart-child")
@click.argument("child")
@click.pass_obj
def restart_child(api: Api, child) -> None:
    """Cluster started by `xcache up`: start a child left down by a crash loop again (e.g.
    server-6380; names as in GET /api/supervisor)."""
    _up_request(api, {"op": "restart_child", "child": child}, timeout_s=60)
    click.echo(f"{child} restarting")


@group.command("add-server")
@click.option("--group", "gid", type=int, required=True)
@click.option("--addr", required=True, help="host:port of the storage node")
@click.pass_obj
def group_add_server(api: Api, gid, addr) -> None:
    """Add a server: the first one is the master, the others become its replicas."""
    _out(api.call("POST", f"/api/groups/{gid}/servers", {"addr": addr}))


@group.command("remove-server")
@click.option("--group", "gid", type=int, required=True)
@click.option("--addr", required=True)
@click.pass_obj
def group_remove_server(api: Api, gid, addr) -> None:
    _out(api.call("DELETE", f"/api/groups/{gid}/servers/{addr}"))


@group.command("promote")
@click.option("--group", "gid", type=int, required=True)
@click.option("--addr", required=True, help="the replica to make master")
@click.option("--force", is_flag=True, help="even if it is not in sync with a live master")
@click.pass_obj
def group_promote(api: Api, gid, addr, force) -> None:
    """Make a replica the master (the others and the proxies follow)."""
    _out(api.call("POST", f"/api/groups/{gid}/promote", {"addr": addr, "force": force}))


@admin.group()
def slots() -> None:
    """Slot assignment."""


@slots.command("assign")
@click.option("--group", "gid", type=int, required=True, help="owner (0 = unassign)")
@click.option("--slots", "spec", required=True, help="e.g. 0-511 or 0-99,200")
@click.pass_obj
def slots_assign(api: Api, gid, spec) -> None:
    _out(api.call("POST", "/api/slots/assign", {"group": gid, "slots": spec}))


def _follow(api: Api, wait: bool) -> None:
    """Show a progress bar of the migration until nothing is pending or moving."""
    m = api.call("GET", "/api/migration")
    total = m["slots_pending"] + m["slots_migrating"]
    if not wait or not total:
        return _out(m)
    done = 0
    with click.progressbar(length=total, label="migrating slots", show_pos=True,
                           item_show_func=lambda _: (f"{m['keys_moved']} keys {m['bytes_moved']} B"
                                                     f" {m['keys_per_second']:.0f} keys/s {m['state']}")) as bar:
        while m["slots_pending"] + m["slots_migrating"]:
            left = m["slots_pending"] + m["slots_migrating"]
            bar.update(max(0, total - left - done), m)
            done = max(done, total - left)
            if m["paused"]:
                click.echo("\npaused: resume with `xcache admin slots resume`", err=True)
                return
            time.sleep(0.5)  # polling the dashboard: the CLI has no event to wait on
            m = api.call("GET", "/api/migration")
        bar.update(total - done, m)
    _out(m)


@slots.command("migrate")
@click.option("--from", "source", type=int, required=True, help="group the slots leave")
@click.option("--to", "target", type=int, required=True, help="group the slots go to")
@click.option("--slots", "spec", required=True, help="e.g. 0-511 or 0-99,200")
@click.option("--wait/--no-wait", default=True, help="show progress until the migration ends (default)")
@click.pass_obj
def slots_migrate(api: Api, source, target, spec, wait) -> None:
    """Move slots between groups online: clients keep working, keys move in the background."""
    api.call("POST", "/api/slots/migrate", {"from": source, "to": target, "slots": spec})
    _follow(api, wait)


@slots.command("rebalance")
@click.option("--wait/--no-wait", default=True, help="show progress until the migration ends (default)")
@click.pass_obj
def slots_rebalance(api: Api, wait) -> None:
    """Spread the slots evenly over the groups (after adding one); owned slots move online."""
    r = api.call("POST", "/api/slots/rebalance")
    click.echo(f"{r['slots_to_migrate']} slots to migrate; slots per group after: "
               + ", ".join(f"group {g}={n}" for g, n in r["slot_counts"].items() if g != "0"))
    _follow(api, wait)


admin.add_command(slots_rebalance, "rebalance")


@slots.command("status")
@click.option("--wait", is_flag=True, help="follow with a progress bar until it ends")
@click.pass_obj
def slots_status(api: Api, wait) -> None:
    """Migration progress: slots pending/moving/done, keys and bytes moved, rates."""
    _follow(api, wait)


@slots.command("pause")
@click.pass_obj
def slots_pause(api: Api) -> None:
    """Stop moving keys after the current batch (moving slots stay served migrate-first)."""
    _out(api.call("POST", "/api/migration/pause"))


@slots.command("resume")
@click.option("--wait/--no-wait", default=False, help="show progress until the migration ends")
@click.pass_obj
def slots_resume(api: Api, wait) -> None:
    api.call("POST", "/api/migration/resume")
    _follow(api, wait)


@slots.command("throttle")
@click.option("--keys-per-second", "rate", type=click.IntRange(min=0), required=True, help="0 = unlimited")
@click.pass_obj
def slots_throttle(api: Api, rate) -> None:
    """Limit how fast keys move (live)."""
    _out(api.call("POST", "/api/migration/throttle", {"keys_per_second": rate}))


@slots.command("cancel")
@click.pass_obj
def slots_cancel(api: Api) -> None:
    """Drop the slots not started yet (the ones moving now finish)."""
    _out(api.call("POST", "/api/migration/cancel"))


@admin.group()
def proxy() -> None:
    """Proxies the dashboard pushes slot tables to."""


@proxy.command("add")
@click.option("--addr", required=True, help="host:port clients use")
@click.option("--admin-addr", required=True, help="host:port of its admin API")
@click.pass_obj
def proxy_add(api: Api, addr, admin_addr) -> None:
    _out(api.call("POST", "/api/proxies", {"addr": addr, "admin_addr": admin_addr}))


@proxy.command("remove")
@click.option("--addr", required=True)
@click.pass_obj
def proxy_remove(api: Api, addr) -> None:
    _out(api.call("DELETE", f"/api/proxies/{addr}"))


@admin.group()
def sentinel() -> None:
    """Sentinels the dashboard follows (and configures to monitor the groups)."""


@sentinel.command("add")
@click.option("--addr", required=True)
@click.pass_obj
def sentinel_add(api: Api, addr) -> None:
    _out(api.call("POST", "/api/sentinels", {"addr": addr}))


@sentinel.command("remove")
@click.option("--addr", required=True)
@click.pass_obj
def sentinel_remove(api: Api, addr) -> None:
    _out(api.call("DELETE", f"/api/sentinels/{addr}"))


# --- xcache up -------------------------------------------------------------------------------------
@click.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="TOML config file (UpConfig keys)")
@click.option("--dir", "data_dir", default=None, help="data directory (default ./xcache-data)")
@click.option("--groups", type=int, default=None, help="groups on the first run (default 2)")
@click.option("--replicas", type=int, default=None, help="replicas per group (default 1)")
@click.option("--proxies", type=int, default=None, help="proxies (default 1)")
@click.option("--sentinels", type=int, default=None, help="sentinels (default 3)")
@click.option("--base-port", type=int, default=None, help="pack every port from here (tests); default: standard ports")
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE", help="any config key")
def up(config_path, data_dir, groups, replicas, proxies, sentinels, base_port, assignments) -> None:
    """Start a complete local cluster (servers, sentinels, proxy, dashboard) in one command."""
    from xcache.dashboard.up import run

    try:
        flags = {"dir": data_dir, "groups": groups, "replicas": replicas, "proxies": proxies,
                 "sentinels": sentinels, "base_port": base_port}
        cfg = load(UpConfig, config_path, flag_overrides(assignments, flags))
    except ConfigError as exc:
        _fail(str(exc))
    sys.exit(run(cfg))
