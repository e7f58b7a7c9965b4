"""The dashboard's HTTP API (Starlette, served by uvicorn in the dashboard process) and web UI.

All `/api/...` endpoints speak JSON and need `Authorization: Bearer <admin_token>` when the
dashboard has an admin_token. Errors are `{"error": "..."}` with 400 (bad request / not allowed
by the topology), 401 (token), 404, 409 (coordinator conflict), 502 (a server/sentinel refused),
503 (coordinator unavailable).

    GET    /health                               no auth; 200 {"status": "ok"} / 503
    GET    /metrics                              no auth; Prometheus text
    GET    /api/overview                         everything the UI shows (topology + live state)
    GET    /api/topology                         the stored topology document
    POST   /api/groups                 {"id"?}   create a group (next free id by default)
    DELETE /api/groups/{id}                      remove a group (must own no slots)
    POST   /api/groups/{id}/servers    {"addr"}  add a server (first = master, others REPLICAOF it)
    DELETE /api/groups/{id}/servers/{addr}       remove a server (not the master of a group with replicas)
    POST   /api/groups/{id}/promote    {"addr", "force"?}  make a replica the master (refused
                                                 while it is not in sync with a live master, unless force)
    POST   /api/slots/assign           {"group", "slots": "0-511,600"}   (group 0 = unassign)
    POST   /api/slots/rebalance                  spread the slots evenly over the groups (owned slots
                                                 that change group migrate online)
    POST   /api/slots/migrate          {"from", "to", "slots": "0-511"}   move slots online
    GET    /api/migration                        progress: slots pending/migrating/done, keys and
                                                 bytes moved, rates, state
    POST   /api/migration/pause | /resume        stop moving keys after the current batch / go on
    POST   /api/migration/throttle     {"keys_per_second"}   0 = unlimited
    POST   /api/migration/cancel                 drop the slots not started yet
    POST   /api/proxies                {"addr", "admin_addr"}
    DELETE /api/proxies/{addr}
    PUT    /api/proxies/register       {"addr", "admin_addr", "ttl_s"}   a proxy registers itself
                                                 (a lease it renews; it joins the topology)
    DELETE /api/proxies/register/{addr}          a stopping proxy leaves the topology
    POST   /api/sentinels              {"addr"}
    DELETE /api/sentinels/{addr}
    POST   /api/reconcile                        run the reconcile loop now; returns the overview
    GET    /api/history?since=<unix time>        the console's history: {"t": [...], "series":
                                                 {"proxy/<addr>/ops_per_s": [...], ...}} (history.py)
    PUT    /api/supervisor             {"children"}  `xcache up` reports its children's states
    GET    /api/supervisor                       what `xcache up` last reported
    POST   /api/supervisor/requests    {"op", ...}   ask `xcache up`: add_group {"replicas"},
                                                 remove_group {"group"}, restart_child {"child"}
    GET    /api/supervisor/requests/{id}         a request's status (queued, running, done, failed)
"""

from __future__ import annotations

import hmac
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from xcache.dashboard import topology as T
from xcache.dashboard.controller import Controller
from xcache.dashboard.coordinator import Conflict, CoordinatorError

WEB = Path(__file__).parent / "web"


class _Collector:
    def __init__(self, ctl: Controller):
        self.ctl = ctl

    def collect(self):
        ctl, t = self.ctl, self.ctl.topo
        g = GaugeMetricFamily("xcache_dashboard_topology_epoch", "Global epoch of the topology")
        g.add_metric([], t.epoch)
        yield g
        g = GaugeMetricFamily("xcache_dashboard_groups", "Groups in the topology")
        g.add_metric([], len(t.groups))
        yield g
        g = GaugeMetricFamily("xcache_dashboard_slots_unassigned", "Slots with no group")
        g.add_metric([], sum(1 for s in t.slots if s == 0))
        yield g
        g = GaugeMetricFamily("xcache_dashboard_proxy_in_sync", "1 when the proxy holds the current slot table",
                              labels=["proxy"])
        for p in t.proxies:
            g.add_metric([p], int(bool(ctl.proxy_state.get(p, {}).get("in_sync"))))
        yield g
        g = GaugeMetricFamily("xcache_dashboard_server_up", "1 when the storage node answers INFO",
                              labels=["group", "server", "role"])
        for grp in t.groups.values():
            for s in grp.servers:
                st = ctl.server_state.get(s, {})
                g.add_metric([str(grp.id), s, "master" if s == grp.master else "replica"], int(bool(st.get("up"))))
        yield g
        g = GaugeMetricFamily("xcache_dashboard_replica_lag_bytes", "Replication offset behind the master",
                              labels=["group", "server"])
        for grp in t.groups.values():
            for s in grp.replicas:
                if "lag_bytes" in ctl.server_state.get(s, {}):
                    g.add_metric([str(grp.id), s], ctl.server_state[s]["lag_bytes"])
        yield g
        c = CounterMetricFamily("xcache_dashboard_slot_pushes", "Slot table pushes to proxies, by result",
                                labels=["result"])
        c.add_metric(["ok"], ctl.counters["pushes_ok"])
        c.add_metric(["failed"], ctl.counters["pushes_failed"])
        yield c
        m = ctl.migrator.status()
        for family, name, doc, value in (
                (GaugeMetricFamily, "xcache_dashboard_migration_slots_pending",
                 "Slots queued for migration, not started", m["slots_pending"]),
                (GaugeMetricFamily, "xcache_dashboard_migration_slots_migrating",
                 "Slots moving now (served migrate-first by the proxies)", m["slots_migrating"]),
                (GaugeMetricFamily, "xcache_dashboard_migration_paused", "1 while the migration is paused",
                 int(m["paused"])),
                (CounterMetricFamily, "xcache_dashboard_migration_slots_done", "Slots whose migration finished",
                 m["slots_done"]),
                (CounterMetricFamily, "xcache_dashboard_migration_keys_moved",
                 "Keys the dashboard moved (MIGRATE batches that moved something)", m["keys_moved"]),
                (CounterMetricFamily, "xcache_dashboard_migration_bytes_moved",
                 "Bytes the sources sent to the targets for those keys", m["bytes_moved"]),
                (CounterMetricFamily, "xcache_dashboard_migration_errors",
                 "Migration steps that failed and were retried", m["errors"])):
            f = family(name, doc)
            f.add_metric([], value)
            yield f
        g = GaugeMetricFamily("xcache_dashboard_supervised_child_crash_loop",
                              "1 when a child of `xcache up` crash-looped and is left down", labels=["child"])
        for name, st in sorted((ctl.supervised.get("children") or {}).items()):
            g.add_metric([name], int(st.get("state") == "crash_loop"))
        yield g
        c = CounterMetricFamily("xcache_dashboard_failovers_followed", "Sentinel failovers confirmed and published")
        c.add_metric([], ctl.counters["failovers_followed"])
        yield c
        c = CounterMetricFamily("xcache_dashboard_switches_unconfirmed",
                                "+switch-master reports not (yet) confirmed by a sentinel majority and ROLE")
        c.add_metric([], ctl.counters["switches_unconfirmed"])
        yield c


def _err(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(ctl: Controller, admin_token: str = "") -> Starlette:
    registry = CollectorRegistry()
    registry.register(_Collector(ctl))

    async def body(request: Request) -> dict:
        raw = await request.body()
        if not raw:
            return {}
        try:
            data = await request.json()
        except ValueError:
            raise T.TopologyError("body is not JSON") from None
        if not isinstance(data, dict):
            raise T.TopologyError("body must be a JSON object")
        return data

    def need(data: dict, *names: str):
        missing = [n for n in names if data.get(n) in (None, "")]
        if missing:
            raise T.TopologyError(f"missing field(s): {', '.join(missing)}")
        return [data[n] for n in names]

    def gid_of(request: Request) -> int:
        try:
            return int(request.path_params["gid"])
        except ValueError:
            raise T.TopologyError("group id must be an integer") from None

    def action(fn):
        async def endpoint(request: Request) -> Response:
            if admin_token:
                auth = request.headers.get("authorization", "")
                given = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
                if not hmac.compare_digest(given.encode(), admin_token.encode()):
                    return _err(401, "missing or wrong token: send Authorization: Bearer <admin_token>")
            try:
                return JSONResponse(await fn(request))
            except T.TopologyError as exc:
                return _err(400, str(exc))
            except Conflict as exc:
                return _err(409, str(exc))
            except CoordinatorError as exc:
                return _err(503, str(exc))
            except Exception as exc:  # a node refused or is unreachable
                return _err(502, f"{type(exc).__name__}: {exc}")
        endpoint.__name__ = fn.__name__
        return endpoint

    async def overview(request):
        return ctl.overview()

    async def topology(request):
        return {"revision": ctl.revision, "topology": ctl.topo.to_json()}

    async def group_create(request):
        data = await body(request)
        return await ctl.create_group(int(data["id"]) if data.get("id") not in (None, "") else None)

    async def group_remove(request):
        return await ctl.remove_group(gid_of(request))

    async def server_add(request):
        (addr,) = need(await body(request), "addr")
        return await ctl.add_server(gid_of(request), str(addr))

    async def server_remove(request):
        return await ctl.remove_server(gid_of(request), request.path_params["addr"])

    async def promote(request):
        data = await body(request)
        (addr,) = need(data, "addr")
        return await ctl.promote(gid_of(request), str(addr), force=bool(data.get("force")))

    async def slots_assign(request):
        data = await body(request)
        group, slots = need(data, "group", "slots")
        try:
            group = int(group)
        except (TypeError, ValueError):
            raise T.TopologyError("group must be an integer") from None
        return await ctl.assign_slots(group, slots if isinstance(slots, list) else str(slots))

    async def slots_rebalance(request):
        return await ctl.rebalance()

    async def slots_migrate(request):
        data = await body(request)
        source, target, slots = need(data, "from", "to", "slots")
        try:
            source, target = int(source), int(target)
        except (TypeError, ValueError):
            raise T.TopologyError("from and to must be group ids (integers)") from None
        return await ctl.migrate_slots(source, target, slots if isinstance(slots, list) else str(slots))

    async def migration(request):
        return ctl.migrator.status()

    async def migration_pause(request):
        return await ctl.set_migration(paused=True)

    async def migration_resume(request):
        return await ctl.set_migration(paused=False)

    async def migration_throttle(request):
        (rate,) = need(await body(request), "keys_per_second")
        if not isinstance(rate, int) or isinstance(rate, bool):
            raise T.TopologyError("keys_per_second must be an integer (0 = unlimited)")
        return await ctl.set_migration(keys_per_second=rate)

    async def migration_cancel(request):
        return await ctl.cancel_migration()

    async def proxy_add(request):
        addr, admin_addr = need(await body(request), "addr", "admin_addr")
        return await ctl.add_proxy(str(addr), str(admin_addr))

    async def proxy_register(request):
        data = await body(request)
        addr, admin_addr = need(data, "addr", "admin_addr")
        try:
            ttl = int(data.get("ttl_s", 10))
        except (TypeError, ValueError):
            raise T.TopologyError("ttl_s must be an integer") from None
        if not 1 <= ttl <= 3600:
            raise T.TopologyError("ttl_s must be between 1 and 3600")
        return await ctl.proxies.register(str(addr), str(admin_addr), ttl)

    async def proxy_unregister(request):
        return await ctl.proxies.unregister(request.path_params["addr"])

    async def proxy_remove(request):
        return await ctl.remove_proxy(request.path_params["addr"])

    async def sentinel_add(request):
        (addr,) = need(await body(request), "addr")
        return await ctl.add_sentinel(str(addr))

    async def sentinel_remove(request):
        return await ctl.remove_sentinel(request.path_params["addr"])

    async def reconcile(request):
        await ctl.reconcile_once()
        return ctl.overview()

    async def supervisor_put(request):
        data = await body(request)
        if not isinstance(data.get("children"), dict):
            raise T.TopologyError("children must be an object")
        ctl.supervised = {"children": data["children"], "at": time.time()}
        ctl.up_requests.finish(data.get("results") or {})
        return {"ok": True, "requests": ctl.up_requests.take()}

    async def history(request):
        try:
            since = float(request.query_params.get("since", 0) or 0)
        except ValueError:
            raise T.TopologyError("since must be a number (unix time)") from None
        return ctl.history.view(since)

    async def supervisor_get(request):
        return ctl.supervised

    async def up_request_add(request):
        data = await body(request)
        (op,) = need(data, "op")
        try:
            return ctl.up_requests.add(str(op), {k: v for k, v in data.items() if k != "op"},
                                       ctl.supervised.get("at"))
        except ValueError as exc:
            raise T.TopologyError(str(exc)) from None

    async def up_request_get(request):
        r = ctl.up_requests.get(int(request.path_params["rid"]))
        if r is None:
            raise T.TopologyError("no such request")
        return r

    async def health(request):
        if ctl.fatal:
            return JSONResponse({"status": "error", "error": ctl.fatal}, status_code=503)
        return JSONResponse({"status": "ok", "epoch": ctl.topo.epoch, "coordinator": ctl.coord.url})

    async def metrics(request):
        return Response(generate_latest(registry), media_type="text/plain; version=0.0.4; charset=utf-8")

    async def index(request):
        return FileResponse(WEB / "index.html")

    async def root(request):
        return RedirectResponse("/ui/")

    routes = [
        Route("/health", health),
        Route("/metrics", metrics),
        Route("/api/overview", action(overview)),
        Route("/api/topology", action(topology)),
        Route("/api/groups", action(group_create), methods=["POST"]),
        Route("/api/groups/{gid}", action(group_remove), methods=["DELETE"]),
        Route("/api/groups/{gid}/servers", action(server_add), methods=["POST"]),
        Route("/api/groups/{gid}/servers/{addr}", action(server_remove), methods=["DELETE"]),
        Route("/api/groups/{gid}/promote", action(promote), methods=["POST"]),
        Route("/api/slots/assign", action(slots_assign), methods=["POST"]),
        Route("/api/slots/rebalance", action(slots_rebalance), methods=["POST"]),
        Route("/api/slots/migrate", action(slots_migrate), methods=["POST"]),
        Route("/api/migration", action(migration)),
        Route("/api/migration/pause", action(migration_pause), methods=["POST"]),
        Route("/api/migration/resume", action(migration_resume), methods=["POST"]),
        Route("/api/migration/throttle", action(migration_throttle), methods=["POST"]),
        Route("/api/migration/cancel", action(migration_cancel), methods=["POST"]),
        Route("/api/proxies", action(proxy_add), methods=["POST"]),
        Route("/api/proxies/register", action(proxy_register), methods=["PUT"]),
        Route("/api/proxies/register/{addr}", action(proxy_unregister), methods=["DELETE"]),
        Route("/api/proxies/{addr}", action(proxy_remove), methods=["DELETE"]),
        Route("/api/sentinels", action(sentinel_add), methods=["POST"]),
        Route("/api/sentinels/{addr}", action(sentinel_remove), methods=["DELETE"]),
        Route("/api/reconcile", action(reconcile), methods=["POST"]),
        Route("/api/history", action(history)),
        Route("/api/supervisor", action(supervisor_put), methods=["PUT"]),
        Route("/api/supervisor", action(supervisor_get), methods=["GET"]),
        Route("/api/supervisor/requests", action(up_request_add), methods=["POST"]),
        Route("/api/supervisor/requests/{rid:int}", action(up_request_get)),
        Route("/", root),
        Route("/ui/", index),
        Mount("/ui", StaticFiles(directory=str(WEB)), name="ui"),
    ]
    return Starlette(routes=routes)
