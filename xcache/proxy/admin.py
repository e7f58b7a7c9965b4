"""Admin HTTP API (port 11080): slots, stats, metrics, health, circuit breaker, limits.

Served by Starlette/uvicorn in the supervisor's event loop; one catch-all route hands requests to
handle(), which holds the routing. State-changing endpoints (PUT) need `Authorization: Bearer <admin_token>` (or the
`X-Admin-Token` header); with no admin_token configured they are refused.
"""

from __future__ import annotations

import hmac
import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from xcache.observability import metrics as M
from xcache.observability.http import EmbeddedServer, serve_http
from xcache.proxy.admission import DROP_REASONS
from xcache.proxy.backend import STATES
from xcache.proxy.logs import log
from xcache.proxy.router import SlotTable, TableError

_METHODS = ["GET", "PUT", "POST", "DELETE", "PATCH", "HEAD"]
MAX_BODY = 4 * 1024 * 1024


class ResizeError(Exception):
    """A refused PUT /workers, with the HTTP status to answer."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class AdminServer:
    def __init__(self, sup):
        self.sup = sup
        self.cfg = sup.cfg
        self.server: EmbeddedServer | None = None

    async def start(self) -> None:
        app = Starlette(routes=[Route("/{path:path}", self._endpoint, methods=_METHODS)])
        self.server = await serve_http(app, self.cfg.admin_bind, self.cfg.admin_port, "proxy admin",
                                       required=True)

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()

    async def _endpoint(self, request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY:
            status, ctype, data = _json(413, {"error": "body too large"})
        else:
            headers = {k.lower(): v for k, v in request.headers.items()}
            status, ctype, data = await self.handle(request.method, request.url.path, headers, body)
        return Response(data, status_code=status, media_type=ctype)

    def authorized(self, headers: dict) -> tuple[int, str] | None:
        token = self.cfg.admin_token
        if not token:
            return 403, "state-changing endpoints are disabled: set admin_token in the proxy config"
        given = headers.get("x-admin-token") or ""
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            return 401, "missing or wrong admin token"
        return None

    async def handle(self, method: str, path: str, headers: dict, body: bytes) -> tuple[int, str, bytes]:
        sup = self.sup
        routes = {"/health", "/slots", "/stats", "/metrics", "/breaker", "/limits", "/workers"}
        if path not in routes:
            return _json(404, {"error": f"no such endpoint {path}"})
        if method == "PUT":
            denied = self.authorized(headers)
            if denied:
                return _json(denied[0], {"error": denied[1]})
            try:
                data = json.loads(body or b"null")
            except ValueError:
                return _json(400, {"error": "body is not JSON"})
            if path == "/slots":
                return await self.put_slots(data)
            if path == "/workers":
                return await self.put_workers(data)
            if path == "/breaker":
                if not isinstance(data, dict):
                    return _json(400, {"error": "expected {commands: [...], write_prefixes: [...]}"})
                commands = [str(c) for c in data.get("commands", [])]
                prefixes = [str(p) for p in data.get("write_prefixes", [])]
                await sup.set_breaker(commands, prefixes)
                log("breaker_set", commands=",".join(commands), write_prefixes=",".join(prefixes))
                return _json(200, sup.breaker)
            if path == "/limits":
                if not isinstance(data, dict):
                    return _json(400, {"error": "expected {qps_limit: N, session_qps_limit: N}"})
                try:
                    limits = {k: int(data.get(k, sup.limits[k])) for k in sup.limits}
                except (TypeError, ValueError):
                    return _json(400, {"error": "limits must be integers"})
                if any(v < 0 for v in limits.values()):
                    return _json(400, {"error": "limits must be >= 0"})
                await sup.set_limits(limits)
                log("limits_set", **limits)
                return _json(200, sup.limits)
            return _json(405, {"error": f"PUT not allowed on {path}"})
        if method != "GET":
            return _json(405, {"error": f"{method} not allowed"})
        if path == "/health":
            alive = await sup.ping_workers()
            ok = alive == len(sup.workers) and sup.table is not None
            return _json(200 if ok else 503, {
                "status": "ok" if ok else "degraded", "workers": len(sup.workers),
                "workers_responsive": alive, "epoch": sup.table.epoch if sup.table else None})
        if path == "/slots":
            if sup.table is None:
                return _json(404, {"error": "no slot table yet"})
            return _json(200, sup.table.to_json())
        if path == "/breaker":
            return _json(200, sup.breaker)
        if path == "/limits":
            return _json(200, sup.limits)
        if path == "/workers":
            return _json(200, sup.workers_info())
        if path == "/stats":
            return _json(200, await sup.stats())
        stats = await sup.stats()
        return 200, M.CONTENT_TYPE, M.render(families(stats))

    async def put_workers(self, data) -> tuple[int, str, bytes]:
        count = data.get("count") if isinstance(data, dict) else None
        if not isinstance(count, int) or isinstance(count, bool):
            return _json(400, {"error": 'expected {"count": N} with N an integer'})
        try:
            info = await self.sup.resize(count)
        except ResizeError as exc:
            return _json(exc.status, {"error": str(exc)})
        return _json(202 if info["resizing"] else 200, info)

    async def put_slots(self, data) -> tuple[int, str, bytes]:
        try:
            table = SlotTable.from_json(data)
        except TableError as exc:
            return _json(400, {"error": str(exc)})
        current = self.sup.table.epoch if self.sup.table else -1
        if table.epoch <= current:
            return _json(409, {"error": f"stale epoch {table.epoch}: current epoch is {current}"})
        applied, drained = await self.sup.push_table(table)
        log("slots_pushed", epoch=table.epoch, workers_applied=applied, drained=drained,
            migrating=len(table.migrating))
        # drained: no request routed by the previous table is still pending on a group that lost it
        return _json(200, {"epoch": table.epoch, "workers_applied": applied, "drained": drained})


def _json(status: int, obj) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps(obj, indent=1).encode() + b"\n"


def families(stats: dict) -> list:
    """Prometheus metric families from the aggregated stats of all workers."""
    workers = stats["workers"]
    fams = [
        M.counter("xcache_proxy_ops_total", "Requests answered, by command", ["cmd"], stats["ops"]),
        M.counter("xcache_proxy_errors_total", "Error replies, by command", ["cmd"], stats["errors"]),
        _histogram(stats["latency"]),
        M.gauge("xcache_proxy_sessions", "Client sessions open now", [], stats["sessions"]),
        M.gauge("xcache_proxy_sessions_max", "max_clients summed over workers", [], stats["max_clients"]),
        M.counter("xcache_proxy_sessions_admitted", "Sockets admitted by the gate (sessions created)", [],
                  stats["sessions_total"]),
        M.counter("xcache_proxy_sessions_unserved", "Sessions that ended before the proxy wrote them a "
                  "reply: their clients had left (a dead socket given a session) or left while waiting", [],
                  stats["sessions_unserved"]),
        M.counter("xcache_proxy_accept_dropped", "Accepted sockets dropped by the admission gate before any "
                  "session existed, by reason", ["reason"],
                  {r: stats["accept_dropped"].get(r, 0) for r in sorted({*DROP_REASONS, *stats["accept_dropped"]})}),
        M.counter("xcache_proxy_rejected", "Requests or connections refused, by reason: limits, max_clients, and sessions reset after a frozen loop because their client had left (after_stall_*)", ["reason"],
                  stats["rejected"]),
        M.counter("xcache_proxy_auth_failures", "Failed AUTHs (wrong password)", [],
                  stats["rejected"].get("auth_failed", 0)),
        M.counter("xcache_proxy_auth_brake_refused", "AUTHs refused unchecked by the failed-AUTH brake", [],
                  stats["rejected"].get("auth_brake", 0)),
        M.counter("xcache_proxy_listener_pauses", "Times a worker stopped accepting at max_clients", [],
                  stats["listener_pauses_total"]),
        M.gauge("xcache_proxy_listener_paused", "1 while the worker's listener is paused", ["worker"],
                {str(w["worker"]): int(w.get("listener_paused", False)) for w in workers}),
        M.gauge("xcache_proxy_listen_queue_length", "Connections waiting in the worker's accept queue", ["worker"],
                {str(q["worker"]): q["queued"] for q in stats["listen_queues"]}),
        M.gauge("xcache_proxy_listen_backlog", "Listen backlog of the worker's socket", ["worker"],
                {str(q["worker"]): q["backlog"] for q in stats["listen_queues"]}),
        M.counter("xcache_proxy_tcp_listen_overflows", "TcpExt ListenOverflows (host-wide, /proc/net/netstat)", [],
                  stats["netstat"].get("ListenOverflows", 0)),
        M.counter("xcache_proxy_tcp_listen_drops", "TcpExt ListenDrops (host-wide, /proc/net/netstat)", [],
                  stats["netstat"].get("ListenDrops", 0)),
        M.gauge("xcache_proxy_event_loop_lag_seconds", "Worst event-loop lag since the last scrape", ["worker"],
                {str(w["worker"]): w["loop_lag_seconds"] for w in workers}),
        M.gauge("xcache_proxy_workers_responsive", "Workers that answered the stats request", [],
                len(workers)),
        M.gauge("xcache_proxy_workers", "Worker processes accepting connections (PUT /workers resizes)", [],
                stats["workers_configured"]),
        M.gauge("xcache_proxy_workers_retiring", "Workers draining before they stop (shrinking)", [],
                stats["workers_retiring"]),
        M.counter("xcache_proxy_worker_sessions_admitted", "Sockets admitted by the gate, per worker", ["worker"],
                  {str(w["worker"]): w["sessions_total"] for w in workers}),
        M.gauge("xcache_proxy_slots_epoch", "Epoch of the slot table", [], stats["epoch"]),
        M.gauge("xcache_proxy_migrating_slots", "Slots being migrated between groups", [],
                stats["migrating_slots"]),
        M.counter("xcache_proxy_migrate_steps", "MIGRATEs sent to a source group before serving a key "
                  "of a migrating slot", [], stats["migration"]["steps"]),
        M.counter("xcache_proxy_migrate_moved", "MIGRATEs that moved keys (+OK)", [],
                  stats["migration"]["moved"]),
        M.counter("xcache_proxy_migrate_errors", "MIGRATEs that failed (the client got an error)", [],
                  stats["migration"]["errors"]),
        M.counter("xcache_proxy_migrate_retries", "MIGRATEs retried because the target was unreachable "
                  "(within hold_timeout_ms)", [], stats["migration"]["retries"]),
    ]
    groups = stats["groups"]
    fams += [
        M.gauge("xcache_proxy_held_requests", "Requests held while a group fails over", ["group"],
                {g: v["held"] for g, v in groups.items()}),
        M.counter("xcache_proxy_hold_timeouts", "Held requests failed at the hold deadline", ["group"],
                  {g: v.get("hold_timeouts", 0) for g, v in groups.items()}),
        M.counter("xcache_proxy_hold_rejected", "Requests failed at once because the hold queue was full",
                  ["group"], {g: v.get("hold_rejected", 0) for g, v in groups.items()}),
        M.counter("xcache_proxy_replayed", "Held requests replayed on a (new) master", ["group"],
                  {g: v.get("replayed", 0) for g, v in groups.items()}),
        M.counter("xcache_proxy_failed_inflight_writes", "Writes failed (not replayed) because their master "
                  "connection broke while they were in flight", ["group"],
                  {g: v.get("failed_inflight_writes", 0) for g, v in groups.items()}),
        M.counter("xcache_proxy_write_ack_timeouts", "Writes answered -NOACK: WAIT (backend_wait_replicas) "
                  "counted too few replicas in time; applied on the master, in doubt", ["group"],
                  {g: v.get("write_ack_timeouts", 0) for g, v in groups.items()}),
        M.counter("xcache_proxy_backend_timeouts", "Backend connections closed as hung", ["group"],
                  {g: v.get("backend_timeouts", 0) for g, v in groups.items()}),
        M.gauge("xcache_proxy_backend_state", "1 for the group's current state (worst over workers)",
                ["group", "state"], {(g, s): int(v["state"] == s) for g, v in groups.items() for s in STATES}),
    ]
    return fams


def _histogram(lat: dict):
    h = M.Histogram(tuple(lat["bounds"]))
    h.merge(lat)
    return h.family("xcache_proxy_request_duration_seconds", "Time from request parsed to reply ready")
