"""One proxy worker process: listener, sessions, backend groups, and a control channel.

The supervisor (main.py) owns the listening sockets and the admin API; it starts N workers,
hands each its own SO_REUSEPORT listening socket and one end of a socketpair over which it
pushes slot tables / breaker / limits and collects stats (JSON lines).

Why one module (~620 lines): Worker is the state every session shares (sessions, groups, slot
table, limits, counters) and the handlers of the supervisor's messages that change it; the
session's own logic lives in session.py and its siblings, the gate in admission.py.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import json
import os
import signal
import socket
import ssl
import sys
import time
from bisect import bisect_left
from collections import defaultdict, deque
from dataclasses import asdict

from xcache import querybuf
from xcache.acl import apply_change
from xcache.authbrake import AuthBrake
from xcache.observability.metrics import LATENCY_BUCKETS
from xcache.proxy import commands as C
from xcache.proxy import ownconfig
from xcache.proxy.acl import after_change, build_acl
from xcache.proxy.admission import Listener
from xcache.proxy.backend import Barrier, Group
from xcache.proxy.config import ProxyConfig, split_list
from xcache.proxy.limits import CircuitBreaker, IpLimits, TokenBucket
from xcache.proxy.localstats import LocalStats
from xcache.proxy.logs import log
from xcache.proxy.migration import MigrateStep, MigratingSlot, request_keys
from xcache.proxy.pinned import keep_spares
from xcache.proxy.replies import error_line
from xcache.proxy.router import NSLOTS, SlotTable, slot_of
from xcache.proxy.session import Session
from xcache.proxy.setupwait import SetupWait
from xcache.proxy.tracking import Table as TrackingTable
from xcache.proxy.uplink import Uplink
from xcache.tlsconfig import client_context, server_context

TICK_S = 0.05
GC_THRESHOLD_GEN0 = 20_000


class Flusher:
    """Coalesces writes: whatever became ready during one loop iteration goes out in one write
    per socket (many clients' requests to a backend in one syscall, a pipeline's replies in one)."""

    def __init__(self, loop):
        self.loop = loop
        self.sessions: list = []
        self.backends: list = []
        self.scheduled = False

    def session(self, s) -> None:
        self.sessions.append(s)
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self.run)

    def backend(self, b) -> None:
        self.backends.append(b)
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self.run)

    def run(self) -> None:
        self.scheduled = False
        if self.backends:
            backends, self.backends = self.backends, []
            for b in backends:
                b.flush()
        if self.sessions:
            self.flush_sessions()

    def flush_sessions(self) -> None:
        """Write replies now (called at the end of a backend read: every reply of that read is
        in place, and an extra loop iteration before writing would only add latency)."""
        sessions, self.sessions = self.sessions, []
        for s in sessions:
            s.flush()


class _NoTable:
    """Slot owner until the first slot table arrives. A proxy (re)started under `xcache up` or
    a dashboard gets its table within a reconcile period: requests wait for it like a failover
    hold (at most hold_timeout_ms), then fail with a clear error."""

    id = 0

    def __init__(self, worker: Worker):
        self.worker = worker
        self.held: deque = deque()

    def send(self, req) -> None:
        w = self.worker
        if len(self.held) >= w.cfg.hold_queue_max:
            req.complete(NO_TABLE)
            return
        if req.deadline == 0.0:
            req.deadline = w.loop.time() + w.cfg.hold_timeout_ms / 1000
        self.held.append(req)

    def direct_conn(self, routed: list, resp3: bool = False) -> None:
        return None  # no backend to forward the client's bytes to: send() holds each request

    def expire(self, now: float) -> None:
        if self.held and self.held[0].deadline <= now:
            while self.held and self.held[0].deadline <= now:
                self.held.popleft().complete(NO_TABLE)

    def release(self) -> None:
        """The first table is in: route what waited for it."""
        held, self.held = self.held, deque()
        for req in held:
            self.worker.route(req)


NO_TABLE = error_line("ERR xcache: no slot table (configure groups or PUT /slots)")


class Worker:
    def __init__(self, cfg: ProxyConfig, index: int, table: SlotTable | None, breaker: dict | None):
        self.cfg = cfg
        self.index = index
        self.loop = asyncio.get_running_loop()
        self.flusher = Flusher(self.loop)
        self.started = time.time()
        self.stopping = False
        self.retiring = False  # the supervisor is shrinking: no more accepting, sessions finish
        self.sessions: set[Session] = set()
        self.session_count = 0
        self.sessions_total = 0
        self.sessions_unserved = 0
        # Session ids (CLIENT ID) unique across workers: worker i counts from i << 40, so an id
        # a session names (CLIENT TRACKING REDIRECT, CLIENT KILL ID) is never another worker's.
        self._next_id = index << 40
        self.dropped: defaultdict[str, int] = defaultdict(int)
        self.rejected: defaultdict[str, int] = defaultdict(int)
        self.ops: defaultdict = defaultdict(int)
        self.errors: defaultdict = defaultdict(int)
        self.lat_counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.lat_sum = 0.0
        self.lag_max = 0.0
        self.lag_last = 0.0
        self._group_stats: dict[int, defaultdict] = {}
        self.breaker = CircuitBreaker(split_list(cfg.blocked_commands), split_list(cfg.blocked_write_prefixes))
        self.ip_limits = IpLimits(cfg.max_clients_per_ip, cfg.conn_rate_per_ip)
        self.backend_tls_ctx = client_context(cfg.backend_tls_ca_cert_file, cfg.backend_tls_cert_file,
                                              cfg.backend_tls_key_file) if cfg.backend_tls else None
        self.tls_ctx = server_context(cfg.tls_cert_file, cfg.tls_key_file, cfg.tls_ca_cert_file,
                                      cfg.tls_auth_clients) if cfg.tls else None
        self.acl = build_acl(cfg.session_password, cfg.users)  # ACL users (proxy/acl.py)
        self.uplink: Uplink | None = None  # requests to the supervisor (uplink.py)
        self.auth_brake = AuthBrake(lambda f: log("auth_failed", "warning", **f), cfg.auth_fail_rate_per_sec,
                                    cfg.auth_fail_burst)
        self.bucket: TokenBucket | None = None
        self.set_limits({"qps_limit": cfg.qps_limit, "session_qps_limit": cfg.session_qps_limit})
        self.groups: dict[int, Group] = {}
        self.no_table = _NoTable(self)
        self.slots: list = [self.no_table] * NSLOTS
        self.epoch = -1
        self.migrating = 0  # slots migrating in the current table
        self.migrate_steps = self.migrate_moved = self.migrate_errors = self.migrate_retries = 0
        self.barriers: list[asyncio.Future] = []  # of the last table change, for the "slots" op
        self.pinned: set = set()  # sessions' own backend connections (pinned.py)
        self.spares: dict = {}  # (group id, resp3) -> spare Pinned for the next blocking commands
        self.blocked = 0  # sessions waiting on a blocking command
        self.local_stats = LocalStats()  # SLOWLOG/LATENCY of the commands it answers itself
        self.busy_groups: set = set()  # groups whose master runs a script past the threshold
        self.pause_until = 0.0  # loop time a CLIENT PAUSE sent through this worker lasts until
        self.subscribers = 0  # sessions subscribed to pub/sub channels
        self.tracking = TrackingTable(self)  # CLIENT TRACKING of its sessions (tracking.py)
        self._cron_batch: list = []  # sessions clients_cron has yet to visit this round
        if table is not None:
            self.apply_table(table)
        if breaker:
            self.breaker.set(breaker.get("commands", []), breaker.get("write_prefixes", []))
        self.listener: Listener | None = None
        self.now = self.loop.time()  # coarse clock, refreshed every tick, for the hot path
        # After the loop was frozen (SIGSTOP, a stalled host, a long GC) the input read next may
        # come from clients that gave up meanwhile: until then sessions check before serving.
        # A worker stopped inside epoll_wait reads first and runs its timers after: the coarse
        # clock falling behind by stall_s also means "just woke from a freeze".
        self.recheck_until = 0.0
        self.stale_after_ms = cfg.stale_after_ms()
        self.stall_s = self.stale_after_ms / 2000
        # sessions admitted and not yet answered: the gate's estimate of a new socket's wait
        self.setup = SetupWait(cfg.client_timeout_ms / 1000, TICK_S)
        self.last_tick = self.loop.time()

    # -- sessions -------------------------------------------------------------------------------
    def next_session_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def session_bucket(self) -> TokenBucket | None:
        rate = self.session_qps
        return TokenBucket(rate, rate, self.loop.time()) if rate else None

    def admit(self, conn: socket.socket, ip: str) -> None:
        """The gate said yes: only now do a session and its transport exist. (uvloop makes the
        socket non-blocking and sets TCP_NODELAY itself: two syscalls less per session here.)"""
        session = Session(self, ip)
        session.setup_bucket = self.setup.admitted()
        self.sessions.add(session)
        self.session_count += 1
        self.sessions_total += 1
        self.ip_limits.opened(ip)
        self.loop.create_task(self._attach(conn, session))

    async def _attach(self, conn: socket.socket, session: Session) -> None:
        try:
            if self.tls_ctx is None:
                await self.loop.connect_accepted_socket(lambda: session, conn)
            else:  # the handshake runs here, after the admission gate admitted the socket
                await self.loop.connect_accepted_socket(lambda: session, conn, ssl=self.tls_ctx,
                                                        ssl_handshake_timeout=self.cfg.client_timeout_ms / 1000)
        except (OSError, ssl.SSLError, TimeoutError):
            conn.close()
            if session in self.sessions:
                self.session_closed(session)

    def session_closed(self, session: Session) -> None:
        if session in self.sessions:
            self.sessions.discard(session)
            self.session_count -= 1
            if not session.served:
                self.setup.gone(session.setup_bucket)
            self.ip_limits.closed(session.ip)

    # -- routing ---------------------------------------------------------------------------------
    def route(self, req) -> None:
        """(Re-)route a request off the hot path: after a table change or a removed group."""
        if req.__class__ is MigrateStep:  # its slot's route changed: the request starts over
            req = req.req
        slots = self.slots
        if req.spec.kind == C.SPLIT:
            routes = {id(slots[slot_of(k)]) for k in request_keys(req)}
            if len(routes) > 1:  # its keys were together under the old table, not any more
                req.complete(error_line("ERR xcache: the slot table changed while this request waited; retry it"))
                return
        slots[req.slot].send(req)

    def still_routed(self, group: Group, req) -> bool:
        """Would the current table still send req to group (sent or held there earlier)?"""
        slots = self.slots
        if req.__class__ is MigrateStep:
            return slots[req.slot] is req.route
        keys = request_keys(req) if req.spec.kind == C.SPLIT else ()
        for s in {slot_of(k) for k in keys} if keys else (req.slot,):
            r = slots[s]
            if r is not group and getattr(r, "target", None) is not group:
                return False
        return True

    def apply_table(self, table: SlotTable) -> bool:
        """Install a slot table; False (and nothing changes) if its epoch is not newer.

        Where a slot's routing changed, held requests are re-routed and the groups that lost it
        get barrier probes (self.barriers): once those are answered, nothing routed by the old
        table is still pending there."""
        if table.epoch <= self.epoch:
            return False
        old = self.slots
        conns_before = {g: list(g.conns) for g in self.groups.values()}  # a switch retires them
        for gid, spec in table.groups.items():
            g = self.groups.get(gid)
            if g is None:
                self.groups[gid] = Group(self, gid, spec.master, spec.replicas)
            else:
                g.switch(spec.master, spec.replicas)
        slots = [self.groups[gid] for gid in table.slots]
        for s, src in table.migrating.items():
            o, source, target = old[s], self.groups[src], slots[s]
            if o.__class__ is MigratingSlot and o.source is source and o.target is target:
                slots[s] = o  # same migration: keep it, its steps in flight stay current
            else:
                slots[s] = MigratingSlot(self, source, target, s)
        self.slots = slots
        self.migrating = len(table.migrating)
        changed = [s for s in range(NSLOTS) if slots[s] is not old[s]]
        self.barriers = self._drain(old, changed, conns_before) if changed else []
        for gid in [g for g in self.groups if g not in table.groups]:
            self.groups.pop(gid).remove()
        self.epoch = table.epoch
        keep_spares(self)
        self.no_table.release()
        log("slots_applied", epoch=table.epoch, groups=len(table.groups), migrating=self.migrating,
            changed=len(changed), barriers=len(self.barriers))
        return True

    def _drain(self, old: list, changed: list[int], conns_before: dict) -> list[asyncio.Future]:
        lost: set[Group] = set()
        for s in changed:
            o = old[s]
            if o.__class__ is MigratingSlot:
                lost.update((o.source, o.target))
            elif o.__class__ is Group:
                lost.add(o)
        # Held requests must not be replayed by the old routing later: route them by the new one.
        for g in list(self.groups.values()):
            if g.held:
                keep: deque = deque()
                moved = []
                for r in g.held:
                    (keep if self.still_routed(g, r) else moved).append(r)
                if moved:
                    g.held = keep
                    for r in moved:
                        self.route(r)
        waits = []
        for g in lost:
            for c in {*conns_before.get(g, ()), *g.conns}:
                if c.queue and c.transport is not None:
                    done = self.loop.create_future()
                    c.send(Barrier(done))
                    waits.append(done)
        return waits

    async def drained(self, waits: list[asyncio.Future], reply: dict) -> dict:
        """reply, once every barrier completed (or its connection died), or after backend_timeout_ms."""
        _, pending = await asyncio.wait(waits, timeout=self.cfg.backend_timeout_ms / 1000)
        reply["drained"] = not pending
        return reply

    def group_stats(self, gid: int) -> defaultdict:
        st = self._group_stats.get(gid)
        if st is None:
            st = self._group_stats[gid] = defaultdict(int)
        return st

    def set_limits(self, limits: dict) -> None:
        qps = int(limits.get("qps_limit", 0) or 0)
        workers = max(1, int(limits.get("workers") or self.cfg.worker_count()))
        self.qps = qps
        self.bucket = TokenBucket(qps / workers, qps / workers, self.loop.time()) if qps else None
        self.session_qps = int(limits.get("session_qps_limit", 0) or 0)
        for s in self.sessions:
            s.bucket = self.session_bucket()

    # -- accounting (hot path) -------------------------------------------------------------------
    def count(self, spec, reply: bytes, t0: float, t1: float) -> None:
        self.ops[spec] += 1
        if reply[0] == 45:
            self.errors[spec] += 1
        dt = t1 - t0
        self.lat_counts[bisect_left(LATENCY_BUCKETS, dt)] += 1
        self.lat_sum += dt

    # -- periodic work ---------------------------------------------------------------------------
    def tick(self, expected: float) -> None:
        now = self.now = self.loop.time()
        lag = max(0.0, now - expected)
        self.lag_last = lag
        if lag > self.stall_s:
            self.recheck_until = now + max(1.0, lag)
            log("loop_stalled", seconds=round(lag, 3), recheck_s=round(max(1.0, lag), 3))
        if lag > self.lag_max:
            self.lag_max = lag
        # a late tick (frozen loop) measured nothing but the freeze
        self.setup.tick(now - self.last_tick if lag <= self.stall_s else 0.0)
        self.last_tick = now
        for g in list(self.groups.values()):
            g.tick(now)
        self.no_table.expire(now)
        if self.pinned:
            for p in list(self.pinned):
                p.check()
        self.clients_cron(now)
        if int(now) != int(now - TICK_S):  # about once a second
            self.sweep(now)
        self.loop.call_at(now + TICK_S, self.tick, now + TICK_S)

    def clients_cron(self, now: float) -> None:
        """Redis's clientsCron for the query buffers of CLIENT LIST (xcache/querybuf.py): each
        tick a twentieth of the sessions (at least 5), so each about once a second."""
        batch = self._cron_batch
        if not batch:
            if not self.sessions:
                return
            batch = list(self.sessions)
        n = max(5, self.session_count // 20)
        self._cron_batch = batch[n:]
        for s in batch[:n]:
            if not s.closed:
                querybuf.cron(s, s.parser.slow.buffered(), now - s.last_active)

    def sweep(self, now: float) -> None:
        self.ip_limits.sweep(now)
        if self.tracking.sessions:
            self.tracking.ensure_feeds()  # a group added to the table gets its feed
        else:
            self.tracking.close_idle_feeds()
        idle = self.cfg.idle_timeout_ms / 1000
        if idle:
            # Like Redis's timeout, not for subscribers (they only listen).
            for s in [s for s in self.sessions
                      if now - s.last_active > idle and not s.pending and s.subs is None]:
                self.rejected["idle_timeout"] += 1
                s.close()

    def close_listener(self) -> None:
        """Retiring: take what is still queued, then stop listening for good (sessions go on)."""
        self.retiring = True
        if self.listener is not None:
            self.listener.drain()
            log("listener_closed", sessions=self.session_count)

    # -- introspection ---------------------------------------------------------------------------
    def snapshot(self) -> dict:
        lag_max, self.lag_max = self.lag_max, self.lag_last
        return {
            "worker": self.index, "pid": os.getpid(), "epoch": self.epoch,
            "uptime_seconds": time.time() - self.started,
            "sessions": self.session_count, "sessions_total": self.sessions_total,
            "sessions_unserved": self.sessions_unserved,
            "held_no_table": len(self.no_table.held),
            "max_clients": self.cfg.max_clients,
            "retiring": self.retiring,
            "listener_paused": bool(self.listener and self.listener.paused),
            "listener_pauses_total": self.listener.pauses if self.listener else 0,
            "accept_dropped": dict(self.dropped), "rejected": dict(self.rejected),
            "ops": {_name(s): n for s, n in self.ops.items()},
            "errors": {_name(s): n for s, n in self.errors.items()},
            "latency": {"bounds": list(LATENCY_BUCKETS), "counts": list(self.lat_counts), "sum": self.lat_sum},
            "loop_lag_seconds": lag_max,
            "groups": {str(gid): {**g.snapshot(), **self.group_stats(gid)} for gid, g in self.groups.items()},
            "group_counters": {str(gid): dict(st) for gid, st in self._group_stats.items()},
            "breaker": self.breaker.to_json(),
            "migrating_slots": self.migrating,
            "migration": {"steps": self.migrate_steps, "moved": self.migrate_moved, "errors": self.migrate_errors,
                          "retries": self.migrate_retries},
            "limits": {"qps_limit": self.qps, "session_qps_limit": self.session_qps},
        }

    def info_text(self) -> str:
        ops = sum(self.ops.values())
        lines = [
            "# Server", "xcache_mode:proxy", f"process_id:{os.getpid()}", f"worker:{self.index}",
            f"tcp_port:{self.cfg.port}", f"uptime_in_seconds:{int(time.time() - self.started)}",
            "", "# Clients", f"connected_clients:{self.session_count}", f"maxclients:{self.cfg.max_clients}",
            f"blocked_clients:{sum(p.holds_blocked() for p in self.pinned)}", f"pinned_backend_connections:{len(self.pinned)}",
            f"total_connections_received:{self.sessions_total}",
            f"tracking_clients:{len(self.tracking.sessions)}",
            "", "# Stats", f"total_commands_processed:{ops}",
            f"tracking_total_keys:{len(self.tracking.keys)}",
            f"tracking_total_items:{self.tracking.total_items()}",
            f"tracking_total_prefixes:{self.tracking.total_prefixes()}",
            *[f"accept_dropped_{k}:{v}" for k, v in sorted(self.dropped.items())],
            *[f"rejected_{k}:{v}" for k, v in sorted(self.rejected.items())],
            "", "# Proxy", f"slots_epoch:{self.epoch}", f"migrating_slots:{self.migrating}",
            *[f"group{gid}:state={g.state},master={g.master},held={len(g.held)}"
              for gid, g in sorted(self.groups.items())],
        ]
        return "\r\n".join(lines) + "\r\n"

    def apply_acl(self, cmds: list) -> None:
        """ACL changes another worker took (or took before this one started)."""
        for cmd in cmds:
            error, deleted = apply_change(self.acl, cmd)
            if error is None:
                after_change(self, cmd, deleted)

    # -- control channel -------------------------------------------------------------------------
    def handle_control(self, msg: dict):
        """The reply to one control message: a dict, or an awaitable of one (table barrier)."""
        op = msg.get("op")
        if op == "ping":
            return {"ok": True}
        if op == "stats":
            return self.snapshot()
        if op == "slots":
            applied = self.apply_table(SlotTable.from_json(msg["table"]))
            waits, self.barriers = self.barriers, []
            reply = {"applied": applied, "epoch": self.epoch}
            if not waits:
                return {**reply, "drained": True}
            return self.drained(waits, reply)
        if op == "breaker":
            self.breaker.set(msg.get("commands", []), msg.get("write_prefixes", []))
            return {"breaker": self.breaker.to_json()}
        if op == "limits":
            self.set_limits(msg)
            return {"ok": True}
        if op == "close_listener":
            self.close_listener()
            return {"sessions": self.session_count}
        if op == "acl":
            self.apply_acl(msg["cmds"])
            return {"ok": True}
        if op == "config":
            ownconfig.apply(self.cfg, msg["own"])
            self.tracking.limit()
            return {"ok": True}
        return {"error": f"unknown op {op!r}"}


def _name(spec) -> str:
    return spec.name if spec is not None else "UNKNOWN"


class Control(asyncio.Protocol):
    """JSON lines from the supervisor; the channel closing means the supervisor is gone."""

    def __init__(self, worker: Worker, done: asyncio.Future):
        self.worker = worker
        self.done = done
        self.buf = b""
        self.tasks: set[asyncio.Task] = set()

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            msg: dict = {}
            try:
                msg = json.loads(line)
                reply = self.worker.handle_control(msg)
            except Exception as exc:  # a bad push must not kill the worker
                reply = {"error": f"{type(exc).__name__}: {exc}"}
            mid = msg.get("id") if isinstance(msg, dict) else None
            if inspect.isawaitable(reply):  # answered when it resolves; the id pairs it up
                task = self.worker.loop.create_task(self._later(reply, mid))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
            else:
                self.reply(reply, mid)

    async def _later(self, pending, mid) -> None:
        try:
            reply = await pending
        except Exception as exc:
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        self.reply(reply, mid)

    def reply(self, reply: dict, mid) -> None:
        reply["id"] = mid
        if not self.transport.is_closing():
            self.transport.write(json.dumps(reply).encode() + b"\n")

    def connection_lost(self, exc) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def serve(cfg: ProxyConfig, index: int, listen_fd: int, control_fd: int,
                table: SlotTable | None, breaker: dict | None, uplink_fd: int | None = None,
                acl_changes: list | None = None) -> None:
    worker = Worker(cfg, index, table, breaker)
    worker.apply_acl(acl_changes or [])  # what ACL SETUSER/DELUSER did before this worker started
    loop = worker.loop
    done = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: done.done() or done.set_result(None))
    ctl = socket.socket(fileno=control_fd)
    ctl.setblocking(False)
    await loop.connect_accepted_socket(lambda: Control(worker, done), ctl)
    if uplink_fd is not None:
        worker.uplink = Uplink()
        await worker.uplink.connect(socket.socket(fileno=uplink_fd))
    lsock = socket.socket(fileno=listen_fd)
    lsock.setblocking(False)
    worker.listener = Listener(worker, lsock)
    worker.listener.start()
    loop.call_at(loop.time() + TICK_S, worker.tick, loop.time() + TICK_S)
    # Sessions come and go in thousands during a storm: with Python's default thresholds the
    # cyclic GC ran every few hundred of them and took ~7% of the worker (py-spy, 16,000-session
    # drill). Start-up objects are frozen out of its scans and young collections run less often.
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD_GEN0, 20, 20)
    log("worker_started", pid=os.getpid(), port=cfg.port)
    await done
    worker.stopping = True
    worker.listener.pause("shutdown")
    for s in list(worker.sessions):
        s.close()
    log("worker_stopped", pid=os.getpid())


def main() -> None:
    spec = json.loads(os.environ["XCACHE_PROXY_WORKER"])
    cfg = ProxyConfig(**spec["config"])
    table = SlotTable.from_json(spec["table"]) if spec.get("table") else None
    run_loop(serve(cfg, spec["index"], spec["listen_fd"], spec["control_fd"], table, spec.get("breaker"),
                   spec.get("uplink_fd"), spec.get("acl")))


def run_loop(coro) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
    else:
        uvloop.run(coro)


def launch_spec(cfg: ProxyConfig, index: int, listen_fd: int, control_fd: int,
                table: SlotTable | None, breaker: dict | None, uplink_fd: int | None = None,
                acl: list | None = None) -> str:
    return json.dumps({"config": asdict(cfg), "index": index, "listen_fd": listen_fd,
                       "control_fd": control_fd, "table": table.to_json() if table else None,
                       "breaker": breaker, "uplink_fd": uplink_fd, "acl": acl or []})


if __name__ == "__main__":
    sys.exit(main())
