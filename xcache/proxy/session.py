"""A client session: parse requests, answer local commands, route the rest, reply in order.

Each request gets an entry in the session's `pending` deque (pending.py: a Request, a Split of
Parts for multi-key commands, a Done for replies known at once, or a Batch for a pipelined chunk
forwarded as is); replies are written in that order whatever order the backends answer in.
Chunks are parsed by chunks.py. Requests pick a backend connection by slot (slot % connections)
and multi-key commands are split the same way, so per-key order between pipelined commands is
kept.

A session speaks RESP2 or RESP3 (HELLO, identity.py); its requests then use the RESP2 or RESP3
pooled connections. Stateful commands live in their own modules: txn.py (MULTI/EXEC/WATCH),
blocking.py (BLPOP...), pubsub.py, keyspace.py (SCAN, INFO... across groups); WATCH, blocking
commands and subscriptions hold backend connections of the session's own (pinned.py).

Why one module (~600 lines): Session is the proxy's per-request hot path; parsing a chunk,
answering locally, routing (same-slot or split) and writing replies in order all work on the
session's `pending` deque and counters without a call per layer.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from collections import deque
from time import perf_counter

from xcache import querybuf
from xcache.authbrake import BRAKE_ERROR
from xcache.observability.metrics import LATENCY_BUCKETS
from xcache.observability.tcpinfo import tcp_info
from xcache.proxy import commands as C
from xcache.proxy.acl import acl_command
from xcache.proxy.acl import change as acl_change
from xcache.proxy.acl import denied as acl_denied
from xcache.proxy.acl import is_change as acl_change_requested
from xcache.proxy.admission import gate_verdict
from xcache.proxy.chunks import ChunkParser
from xcache.proxy.logs import log
from xcache.proxy.migration import MigratingSlot
from xcache.proxy.pending import Batch, Done, Part, Pushed, Request, Split
from xcache.proxy.pinned import recycle
from xcache.proxy.replies import bulk, error_line, pack
from xcache.proxy.router import slot_of
from xcache.resp.errors import unknown_command

OK = b"+OK\r\n"
NOAUTH = b"-NOAUTH Authentication required.\r\n"
QPS_GLOBAL = error_line("ERR xcache: proxy QPS limit exceeded, retry later")
QPS_SESSION = error_line("ERR xcache: session QPS limit exceeded, retry later")


class Session(asyncio.Protocol):
    def __init__(self, ctx, ip: str):
        self.ctx = ctx
        self.ip = ip
        self.id = ctx.next_session_id()
        self.parser = ChunkParser(ctx.cfg.proto_max_bulk_len_bytes, ctx.cfg.proto_max_multibulk_len)
        self.transport = None
        self.pending: deque = deque()
        self.out: list[bytes] = []
        self.dirty = False
        self.closed = False
        self.closing = False
        self.paused = False  # reading paused: too many pending requests
        self.write_paused = False  # reading paused: the client does not read its replies
        self.user = ctx.acl.default_user()
        self.authed = self.user.enabled and self.user.nopass
        self.parser.slow.authenticated = self.authed  # Redis's limits on unauthenticated requests
        self.name = b""
        self.last_argv = None
        self.last_active = ctx.loop.time()
        self.bucket = ctx.session_bucket()
        self.auth_timer = None
        self.routed: list = []
        self.t0 = 0.0
        self.served = False  # wrote at least one reply; a session that ends without is counted
        self.setup_bucket = 0  # SetupWait's bucket of its admission (set by Worker.admit)
        # Compatibility state (protocol.py, txn.py, blocking.py, pubsub.py).
        self.resp3 = False
        self.special = False  # in MULTI, or subscribed in RESP2: every command is checked
        self.multi = None  # txn.State between MULTI and EXEC
        self.txn_route = None  # (group, slot) of the open MULTI's keys
        self.watch_route = None  # (group, slot) of the WATCHed keys
        self.watch_conn = None  # Pinned holding the WATCH
        self.block_conns: dict = {}  # group id -> Pinned for blocking commands
        self.blocking = 0  # blocking commands in flight
        self.subs = None  # pubsub.Subs once subscribed
        self.tracking = None  # tracking.SessionTracking: CLIENT TRACKING on
        self.qbuf_alloc = self.qbuf_peak = 0  # Redis's query buffer size and peak (querybuf.py)
        self.monitors = None  # MONITOR: Pinned -> the node confirmed (monitor.py)
        self.monitor_start = None
        self.lib_name = b""
        self.lib_ver = b""
        self.created = ctx.loop.time()
        # CLIENT REPLY OFF|SKIP: replies are filtered on release from the first such command on.
        self.filtering = False
        self.silence = b""  # the mode in force where replies are being released: b"", OFF, SKIP
        self.replconf = None  # REPLCONF lines before a SYNC/PSYNC (synctunnel.py)
        self.tunnel = None  # synctunnel.Tunnel: the session is a byte tunnel to its node

    # -- transport events ---------------------------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport
        if not self.authed:
            self.auth_timer = self.ctx.loop.call_later(self.ctx.cfg.auth_timeout_ms / 1000, self._auth_expired)

    def connection_lost(self, exc) -> None:
        if not self.served:  # its client left before the first reply: a dead socket got a session
            self.ctx.sessions_unserved += 1
        self.closed = True
        self.pending.clear()
        if self.tunnel is not None:
            self.tunnel.close()
        self.release()
        if self.tracking is not None:
            self.ctx.tracking.off(self)
        if self.auth_timer is not None:
            self.auth_timer.cancel()
        self.ctx.session_closed(self)

    def _client_left(self) -> bool:
        """Right after the worker was frozen: is this input from a client that already left (the
        socket is closed) or gave up (the data waited longer than the gate admits)? Then reset
        the connection instead of sending its requests to a backend and replies to nobody."""
        reason = gate_verdict(tcp_info(self.transport.get_extra_info("socket")), self.ctx.stale_after_ms)
        if reason is None:
            return False
        self.ctx.rejected["after_stall_" + reason] += 1
        self.closing = True
        self.transport.abort()
        return True

    def _auth_expired(self) -> None:
        if not self.authed and not self.closed:
            self.ctx.rejected["auth_timeout"] += 1
            self.reply_now(error_line("ERR xcache: authentication deadline exceeded, closing"))
            self.close()

    def close(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.flush()
            self.transport.close()

    def pause_writing(self) -> None:  # the client reads slowly: stop reading its requests too
        self.write_paused = True
        if self.tunnel is not None:
            self.tunnel.pause(True)
        if self.transport is not None and not self.paused:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.tunnel is not None:
            self.tunnel.pause(False)
        if self.transport is not None and not self.paused:
            self.transport.resume_reading()

    # -- requests -------------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self.tunnel is not None:
            self.tunnel.to_node(data)
            return
        if self.closing:
            return
        try:
            self.handle(data)
            slow = self.parser.slow
            while slow.has_more() and not self.closing:
                # Unauthenticated, the parser returns one command at a time: the AUTH among them
                # lifts the limits for the rest of the pipeline (as in Redis).
                slow.authenticated = self.authed
                self.handle(b"")
            slow.authenticated = self.authed
        except Exception as exc:  # a bug or MemoryError: answer it and close, never a silent drop
            log("session_error", "error", error=type(exc).__name__, detail=str(exc)[:200])
            self.routed = []
            try:
                self.answer(None, error_line(f"ERR internal error: {type(exc).__name__}"), self.t0)
                self.closing = True
                self.mark()
            except Exception:  # noqa: BLE001 - the session is broken: drop it, logged above
                self.transport.abort()

    def handle(self, data: bytes) -> None:
        ctx = self.ctx
        if (ctx.now < ctx.recheck_until or ctx.loop.time() - ctx.now > ctx.stall_s) and self._client_left():
            return
        self.last_active = ctx.now
        before = self.parser.slow.buffered()
        after = before + len(data)
        if after > self.qbuf_alloc or self.qbuf_alloc - before < querybuf.IOBUF:
            querybuf.grow(self, before, after)  # CLIENT LIST's qbuf-free, as Redis's
        if after > self.qbuf_peak:
            self.qbuf_peak = after
        cmds, clean = self.parser.feed(data)
        t0 = perf_counter()
        self.t0 = t0
        # KEY requests of this chunk as (spec, argv, slot), sent together at the end; any other
        # reply or send first drains them (see answer(), split(), same_slot()), so order holds.
        routed = self.routed = []
        append = routed.append
        commands = C.COMMANDS
        KEY = C.KEY
        # Nothing to check per command beyond its kind: authenticated, no limits, no breaker.
        plain = (self.authed and self.user.unrestricted and ctx.bucket is None and self.bucket is None
                 and not ctx.breaker.active and not self.special and self.tracking is None)
        for argv in cmds:
            spec = commands.get(argv[0]) if type(argv) is list else None
            if plain and spec is not None and spec.kind == KEY and len(argv) > 1:
                append((spec, argv, slot_of(argv[1])))
                continue
            if type(argv) is not list:
                # Commands before the error were handled; answer it after them, then close.
                self.answer(None, error_line(f"ERR Protocol error: {argv}"), t0)
                self.closing = True
                self.mark()
                return
            if spec is None:
                spec = C.lookup(argv[0])
                if spec is None:
                    if self.multi is not None:
                        self.multi.error = True
                    self.answer(None, error_line("ERR " + unknown_command(argv)), t0)
                    continue
            if (refused := C.lookup_error(spec, argv)) is not None:
                if self.multi is not None:
                    self.multi.error = True
                self.answer(spec, error_line(refused), t0)
                continue
            if not self.authed and spec.name not in ("AUTH", "QUIT", "HELLO"):
                self.answer(spec, NOAUTH, t0)
                continue
            if not self.user.unrestricted and (refused := acl_denied(ctx.acl, self.user, spec, argv,
                                                                     self.client_info())):
                self.answer(spec, refused, t0)
                continue
            if len(argv) < spec.min_args:
                if self.multi is not None:
                    self.multi.error = True
                self.answer(spec, error_line(f"ERR wrong number of arguments for '{spec.lname}' command"), t0)
                continue
            kind = spec.kind
            if self.tracking is not None:
                ctx.tracking.seen(self, spec, argv)
            if self.special and self.checked(spec, argv, t0):
                if self.closing:
                    break
                continue
            if kind == C.LOCAL:
                localstats.served(self, spec, argv, t0)
                if self.closing:
                    break
                plain = plain and self.tracking is None  # CLIENT TRACKING ON: the rest is seen
                continue
            if kind == C.DENY:
                if spec.name in _TUNNELED and synctunnel.handle(
                        self, spec, argv, t0, cmds[next(i for i, a in enumerate(cmds) if a is argv) + 1:]):
                    if self.tunnel is not None:
                        break
                    continue
                if spec.name in _ROLE and synctunnel.replicaof(self, spec, argv, t0):
                    continue
                self.answer(spec, error_line(
                    f"ERR xcache: '{spec.name}' is not supported through the proxy ({spec.reason})"), t0)
                continue
            # Limits: global then per-session token buckets; refusals are clear and cheap.
            now = ctx.loop.time()
            if ctx.bucket is not None and not ctx.bucket.take(now):
                ctx.rejected["qps_global"] += 1
                self.answer(spec, QPS_GLOBAL, t0)
                continue
            if self.bucket is not None and not self.bucket.take(now):
                ctx.rejected["qps_session"] += 1
                self.answer(spec, QPS_SESSION, t0)
                continue
            if kind == C.KEY:
                if ctx.breaker.active and self.blocked(spec, argv[1:2], t0):
                    continue
                routed.append((spec, argv, slot_of(argv[1])))
                continue
            if kind == C.SPLIT:
                self.split(spec, argv, t0)
            elif kind == C.SAME_SLOT:
                self.same_slot(spec, argv, t0)
            elif kind == C.FANOUT:
                keyspace.handle(self, spec, argv, t0)
            elif kind == C.BLOCK:
                blocking.handle(self, spec, argv, t0)
            else:
                (txn if kind == C.TXN else pubsub).handle(self, spec, argv, t0)
                plain = plain and not self.special  # MULTI, SUBSCRIBE: the rest is checked
        self.last_argv = argv if cmds else self.last_argv  # CLIENT LIST's cmd= (identity.py)
        if routed:
            # The chunk is exactly these requests if every command in it was routed unchanged.
            self.send_routed(routed, data if clean and len(routed) == len(cmds) else None)
            self.routed = []
        if len(self.pending) >= ctx.cfg.max_pending_per_session and not self.paused:
            self.paused = True
            if not self.write_paused:
                self.transport.pause_reading()
        if self.out and not self.dirty:
            self.dirty = True
            ctx.flusher.session(self)

    def drain_routed(self) -> None:
        routed = self.routed
        if routed:
            self.send_routed(routed, None)
            routed.clear()  # in place: data_received keeps appending to this same list

    def send_routed(self, routed: list, chunk: bytes | None) -> None:
        """Send KEY requests. When the client's chunk holds exactly these requests and they all go
        to one ready connection, forward the client's bytes as they are (no re-encoding); several
        such requests travel as one Batch and their replies come back as one slice."""
        slots = self.ctx.slots
        t0 = self.t0
        pending = self.pending
        if chunk is not None:
            conn = slots[routed[0][2]].direct_conn(routed, self.resp3)
            if conn is not None:
                if len(routed) == 1:
                    spec, argv, slot = routed[0]
                    req = Request(self, spec, None, slot, t0, argv)
                else:
                    req = Batch(self, routed, t0)
                pending.append(req)
                conn.send_chunk(req, chunk)
                return
        for spec, argv, slot in routed:
            req = Request(self, spec, pack(argv), slot, t0, argv)
            pending.append(req)
            slots[slot].send(req)

    def blocked(self, spec, keys: list[bytes], t0: float) -> bool:
        msg = self.ctx.breaker.check(spec.name, spec.readonly, keys)
        if msg is None:
            return False
        self.ctx.rejected["breaker"] += 1
        self.answer(spec, error_line(msg), t0)
        return True

    def same_slot(self, spec, argv: list[bytes], t0: float, keys=None) -> None:
        """Several keys on one group (any of its slots): one command there, forwarded as is."""
        self.drain_routed()
        if keys is None:
            try:
                keys = C.same_slot_keys(spec, argv)
            except ValueError:  # malformed: slot 0's node answers Redis's own error
                keys = []
        if self.ctx.breaker.active and self.blocked(spec, keys, t0):
            return
        slots = self.ctx.slots
        slot = slot_of(keys[0]) if keys else 0
        route = slots[slot]
        for k in keys:
            r = slots[slot_of(k)]
            if r is not route:
                # A migrating slot is a route of its own: its keys move (MIGRATE) before the command.
                why = (f"groups {route.id} and {r.id}" if route.__class__ is r.__class__ is not MigratingSlot
                       else "a slot being migrated and other slots")
                self.answer(spec, error_line(
                    f"CROSSSLOT xcache: '{spec.name}' keys must all be on one group through the proxy "
                    f"(here: {why}); put them under one {{hashtag}}"), t0)
                return
        if self.tracking is not None and tracking.run_script(self, spec, argv, t0, route):
            return
        req = Request(self, spec, pack(argv), slot, t0, argv)
        self.pending.append(req)
        route.send(req)

    def split(self, spec, argv: list[bytes], t0: float) -> None:
        self.drain_routed()
        ctx = self.ctx
        pairs = spec.name == "MSET"
        if pairs and len(argv) % 2 == 0:
            self.answer(spec, error_line(f"ERR wrong number of arguments for '{spec.lname}' command"), t0)
            return
        keys = argv[1::2] if pairs else argv[1:]
        if ctx.breaker.active and self.blocked(spec, keys, t0):
            return
        nconn = ctx.cfg.backend_connections
        buckets: dict = {}
        # A migrating slot's route is its own object (MigratingSlot), so its keys get a Part of
        # their own: one MIGRATE moves exactly them.
        for i, k in enumerate(keys):
            slot = slot_of(k)
            group = ctx.slots[slot]
            b = buckets.get((group, slot % nconn))
            if b is None:
                b = buckets[(group, slot % nconn)] = (slot, [], [])
            b[1].append(i)
            b[2].append(k)
        if len(buckets) == 1:  # one backend connection: forward unchanged
            (group, _), (slot, _, _) = next(iter(buckets.items()))
            req = Request(self, spec, pack(argv), slot, t0, argv)
            self.pending.append(req)
            group.send(req)
            return
        parent = Split(self, spec, b"", 0, t0)
        parent.nkeys = len(keys)
        parent.parts = []
        parent.left = len(buckets)
        self.pending.append(parent)
        name = argv[0]
        for (_group, _), (slot, positions, ks) in buckets.items():
            if pairs:
                sub = [name]
                for i in positions:
                    sub.append(argv[1 + 2 * i])
                    sub.append(argv[2 + 2 * i])
            else:
                sub = [name, *ks]
            part = Part(self, spec, pack(sub), slot, t0, sub)
            part.parent = parent
            part.positions = positions
            parent.parts.append(part)
        for (group, _), part in zip(buckets, parent.parts, strict=True):
            group.send(part)

    # -- local commands -------------------------------------------------------------------------
    def local(self, spec, argv: list[bytes], t0: float) -> None:
        name = spec.name
        n = len(argv)
        if name == "PING":
            reply = b"+PONG\r\n" if n == 1 else bulk(argv[1]) if n == 2 else _arity(spec)
        elif name == "AUTH":
            reply = self.auth(argv)
        elif name == "ACL":
            if acl_change_requested(argv):
                acl_change(self, spec, argv, t0)
                return
            reply = acl_command(self.ctx.acl, self.user, argv, 3 if self.resp3 else 2)
        elif name == "ECHO":
            reply = bulk(argv[1]) if n == 2 else _arity(spec)
        elif name == "SELECT":
            if n != 2:
                reply = _arity(spec)
            elif argv[1] == b"0":
                reply = OK
            else:
                keyspace.select(self, spec, argv, t0)
                return
        elif name == "QUIT":
            self.answer(spec, OK, t0)
            self.closing = True
            self.mark()
            return
        else:  # HELLO, CLIENT, RESET, ROLE, TIME
            reply = identity.handle(self, spec, argv, t0)
            if reply is None:
                return
        self.answer(spec, reply, t0)

    def auth(self, argv: list[bytes]) -> bytes:
        acl = self.ctx.acl
        if len(argv) not in (2, 3):
            return error_line("ERR wrong number of arguments for 'auth' command")
        if len(argv) == 2 and acl.default_user().nopass:
            return error_line("ERR AUTH <password> called without any password configured for the "
                              "default user. Are you sure your configuration is correct?")
        brake = self.ctx.auth_brake
        if not brake.allowed(self.ip):
            self.ctx.rejected["auth_brake"] += 1
            return error_line(BRAKE_ERROR)
        name = argv[1].decode(errors="replace") if len(argv) == 3 else "default"
        user = acl.authenticate(name, argv[-1])  # SHA-256, constant-time compare (xcache/acl.py)
        if user is not None:
            self.user, self.authed = user, True
            if self.auth_timer is not None:
                self.auth_timer.cancel()
                self.auth_timer = None
            return OK
        self.ctx.rejected["auth_failed"] += 1
        brake.failed(self.ip, name)
        acl.log_denied("auth", "toplevel", "AUTH", name, self.client_info())
        return b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"

    def client_info(self) -> str:
        return f"id={self.id} addr={self.ip} name={self.name.decode(errors='replace')} user={self.user.name}"

    def check_password(self, user: bytes, password: bytes) -> bool:
        """HELLO ... AUTH: the same check as AUTH (ACL users, the failed-auth brake, ACL LOG)."""
        return self.auth([b"AUTH", user, password]) == OK

    # -- stateful commands (txn.py, blocking.py, pubsub.py) ---------------------------------------
    def subscribed_resp2(self) -> bool:
        return self.subs is not None and not self.resp3 and self.subs.total() > 0

    def checked(self, spec, argv: list[bytes], t0: float) -> bool:
        """In MULTI or subscribed in RESP2: True if the command was handled here."""
        name = spec.name
        if self.multi is not None:
            if name in ("EXEC", "DISCARD", "MULTI", "WATCH", "QUIT", "RESET"):
                return False
            txn.queue(self, spec, argv, t0)
            return True
        if self.subscribed_resp2() and name not in pubsub.RESP2_ALLOWED:
            self.answer(spec, error_line(
                f"ERR Can't execute '{spec.lname}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / "
                "QUIT / RESET are allowed in this context"), t0)
            return True
        if name == "PING" and self.subscribed_resp2():
            arg = argv[1] if len(argv) > 1 else b""
            self.answer(spec, b"*2\r\n$4\r\npong\r\n" + bulk(arg), t0)
            return True
        return False

    def forward_pinned(self, conn, spec, argv: list[bytes], t0: float) -> None:
        self.drain_routed()
        req = Request(self, spec, pack(argv), 0, t0, argv)
        self.pending.append(req)
        conn.send(req)

    def push(self, reply: bytes) -> None:
        """Out-of-band data (a pub/sub message): after every reply already due."""
        if self.closed:
            return
        if self.pending:
            self.pending.append(Pushed(None, reply, self.t0))
        else:
            self.out.append(reply)
            self.mark()

    def pinned_lost(self, conn) -> None:
        if conn is self.watch_conn:
            self.watch_conn = None
            self.watch_route = None
        for gid, c in list(self.block_conns.items()):
            if c is conn:
                del self.block_conns[gid]
        if self.monitors is not None and conn in self.monitors:
            monitor.lost(self, conn)
        elif self.tracking is not None and tracking.script_conn_lost(self, conn):
            pass  # a script connection: the session was told "everything" changed
        elif self.subs is not None and conn.sink is not None:
            pubsub.lost(self, conn)

    def release(self) -> None:
        """Drop every backend connection of this session's own (it closed, or RESET)."""
        pubsub.release(self)
        monitor.release(self)
        conns = [self.watch_conn, *(c for c in self.block_conns.values() if not recycle(c))]
        self.watch_conn = self.watch_route = None
        self.block_conns = {}
        for c in conns:
            if c is not None:
                c.fail("client left")
        self.multi = self.txn_route = None
        self.special = False

    # -- replies --------------------------------------------------------------------------------
    def answer(self, spec, reply: bytes, t0: float) -> None:
        """A reply known now: written at once unless earlier requests are still pending."""
        if self.routed:
            self.drain_routed()
        if self.pending or self.filtering:
            self.pending.append(Done(spec, reply, t0))
            if self.filtering:
                self.request_done(self.pending[0])
        else:
            self.out.append(reply)
            self.ctx.count(spec, reply, t0, t0)

    def refused_over(self, spec, t0: float, held: int, setting: str, reason: str, clients: str,
                     tail: str = "") -> bool:
        """A per-worker place (blocked, subscribed) the request needs: if all `setting` of them
        are held, count the refusal as `reason`, answer the error and return True."""
        limit = getattr(self.ctx.cfg, setting)
        if held < limit:
            return False
        self.ctx.rejected[reason] += 1
        self.answer(spec, error_line(f"ERR xcache: too many {clients} clients on this proxy worker "
                                     f"({setting}={limit}){tail}"), t0)
        return True

    def reply_now(self, reply: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.out.append(reply)
            self.flush()

    def request_done(self, req) -> None:
        if self.closed:
            return
        pending = self.pending
        if not pending or pending[0] is not req:
            return
        if self.filtering:
            replymode.release(self)
            return
        ctx = self.ctx
        ops, errors, lat = ctx.ops, ctx.errors, ctx.lat_counts
        out = self.out
        t1 = perf_counter()
        while pending:
            r = pending[0]
            reply = r.reply
            if reply is None:
                break
            pending.popleft()
            out.append(reply)
            # Accounting inlined (hot path): ops, errors, latency histogram.
            dt = t1 - r.t0
            if r.batch:
                for item in r.items:
                    ops[item[0]] += 1
                for i in r.errs:
                    errors[r.items[i][0]] += 1
                lat[bisect_left(LATENCY_BUCKETS, dt)] += r.n
                ctx.lat_sum += dt * r.n
                continue
            ops[r.spec] += 1
            if reply and reply[0] == 45:
                errors[r.spec] += 1
            lat[bisect_left(LATENCY_BUCKETS, dt)] += 1
            ctx.lat_sum += dt
        if not self.dirty:
            self.dirty = True
            self.ctx.flusher.session(self)
        if self.paused and len(pending) < self.ctx.cfg.max_pending_per_session // 2:
            self.paused = False
            if not self.write_paused:
                self.transport.resume_reading()

    def mark(self) -> None:
        """Have flush() run at the end of this loop iteration."""
        if not self.dirty:
            self.dirty = True
            self.ctx.flusher.session(self)

    def flush(self) -> None:
        self.dirty = False
        if self.closed or self.transport is None:
            self.out = []
            return
        out = self.out
        if out:
            self.out = []
            if not self.served:
                self.served = True
                self.ctx.setup.answered(self.setup_bucket)
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))
        if self.closing and not self.pending:
            self.transport.close()


_TUNNELED = frozenset({"SYNC", "PSYNC", "REPLCONF"})  # through a one-group proxy (synctunnel.py)
_ROLE = frozenset({"REPLICAOF", "SLAVEOF"})  # the same, behind allow_replicaof


def _arity(spec) -> bytes:
    return error_line(f"ERR wrong number of arguments for '{spec.lname}' command")


# The stateful commands' modules use the classes above.
from xcache.proxy import (  # noqa: E402
    blocking,
    identity,
    keyspace,
    localstats,
    monitor,
    pubsub,
    replymode,
    synctunnel,
    tracking,
    txn,
)
