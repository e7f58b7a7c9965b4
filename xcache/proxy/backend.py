"""Backends: pipelined connections per node, and a group's failover hold.

A Group owns the connections to its master (and replicas). Its state is
  up         requests go straight to a master connection;
  suspect    the master failed (connection lost, hung, or answered -LOADING/-READONLY/-MASTERDOWN):
             requests are held while the proxy reconnects and retries;
  switching  a new master was pushed: requests are held until connections to it are ready.
  down       the master is unreachable and no failover is expected (hold_while_master_down off,
             the default): requests fail at once with the reason, while the proxy reconnects.
  auth_failed  the master refused the proxy's handshake (a password it lacks or a wrong one):
             requests fail at once with the node's answer, and the operator is told in the log.
A connection is ready only once the node answered its handshake (AUTH with backend_password,
else PING). A request slower than backend_timeout_ms is only slow: it is logged and counted,
never re-sent; a connection silent for backend_dead_after_ms, while its node answers on none of
its other connections (hung, not busy with a long script), is closed and what was in flight on
it fails with an error (it may have executed), never re-sent.
Held requests wait in a bounded queue with a deadline and are replayed in order. A request that
was sent to a master that then failed is replayed only if it is read-only (it may have executed);
a request the master refused with one of those errors did not execute and is always replayed.
Backend failover errors never reach clients, and clients are never closed because of a backend.
With backend_wait_replicas, a write to a master is followed by WAIT on its connection and
answered only after it (ackwait.py).

Why one module (~660 lines): BackendConn and Group are one state machine seen from two sides -
every connection event (ready, lost, refused, slow, dead) changes its group's state and decides
the fate of the requests held or in flight on it. Split, each half would reach into the other's
queues on the hot path.
"""

from __future__ import annotations

import asyncio
from collections import deque

from xcache.proxy import clientpause, scriptkill
from xcache.proxy.ackwait import AckedWrite
from xcache.proxy.commands import KEY, Spec
from xcache.proxy.logs import log
from xcache.proxy.pinned import open_connection
from xcache.proxy.replies import error_line, pack, reply_end

UP, SUSPECT, SWITCHING, DOWN, AUTH_FAILED = "up", "suspect", "switching", "down", "auth_failed"
STATES = (UP, SUSPECT, SWITCHING, DOWN, AUTH_FAILED)  # the last ones are the worst
_AUTH_RETRY_S = 1.0  # reconnect period of a group whose master refused the proxy's password
_FAILOVER_ERRORS = (b"-LOADING", b"-READONLY", b"-MASTERDOWN")
_PING = b"*1\r\n$4\r\nPING\r\n"
_HELLO3 = b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n"
# Spec of the internal MIGRATE steps of migrating slots (migration.py): not read-only, so they
# always go to the master, yet replayed after a lost connection (a rerun answers +NOKEY).
MIGRATE = Spec("MIGRATE", KEY, False)


class Probe:
    """An internal request (PING, AUTH) that no client waits for."""

    __slots__ = ("raw", "reply", "slot", "deadline", "internal")
    spec = None
    batch = False
    resp3 = False

    def __init__(self, raw: bytes):
        self.raw = raw
        self.reply = None
        self.slot = 0
        self.deadline = 0.0
        self.internal = True

    def complete(self, reply: bytes) -> None:
        self.reply = reply
        if reply.startswith(b"-") and not reply.startswith(_FAILOVER_ERRORS):
            log("backend_probe_error", level="warning", reply=reply[:200].decode(errors="replace").strip())

    def lost(self) -> None:
        """The connection closed before the reply came."""


class Handshake(Probe):
    """The first request on a new connection (AUTH, or PING without a password): the connection
    is ready once it is answered; a refusal (NOAUTH, WRONGPASS) marks the group auth_failed."""

    __slots__ = ("conn",)

    def __init__(self, conn: BackendConn, raw: bytes):
        super().__init__(raw)
        self.conn = conn

    def complete(self, reply: bytes) -> None:
        self.reply = reply
        conn = self.conn
        if reply.startswith(b"-"):
            answer = reply[1:].strip().decode(errors="replace")[:200]
            if "AUTH" in answer or "WRONGPASS" in answer:
                conn.group.auth_failed(conn, answer)
            else:  # e.g. max clients reached: try again with a new connection
                log("backend_handshake_error", level="warning", group=conn.group.id,
                    addr=conn.addr, answer=answer)
            conn.close()
            return
        conn.ready = True
        if conn.retired:
            conn.close()
            return
        conn.group.conn_ready(conn)

    def lost(self) -> None:
        """Lost, or refused with -LOADING and the like: start over on a new connection."""
        self.conn.close()


class Barrier(Probe):
    """A PING behind everything already sent on a connection: its reply (or the connection's end)
    means every earlier request there was answered. Resolves done with True, or False if lost."""

    __slots__ = ("done",)

    def __init__(self, done):
        super().__init__(_PING)
        self.done = done

    def complete(self, reply: bytes) -> None:
        if not self.done.done():
            self.done.set_result(True)

    def lost(self) -> None:
        if not self.done.done():
            self.done.set_result(False)


class BackendConn(asyncio.Protocol):
    """One pipelined connection: requests are written in order and answered in order."""

    def __init__(self, group: Group, addr: str, replica: bool = False, resp3: bool = False):
        self.group = group
        self.resp3 = resp3  # opened with HELLO 3: serves the requests of RESP3 sessions
        self.ctx = group.ctx
        self.addr = addr
        self.replica = replica
        self.transport: asyncio.Transport | None = None
        self.ready = False
        self.connecting = False
        self.retired = False
        self.queue: deque = deque()
        self.wbuf: list[bytes] = []
        self.dirty = False
        self.buf = b""
        self.need = 0
        self.busy_since = 0.0
        self.last_ping = 0.0
        self.slow = False  # the request at the head is older than backend_timeout_ms
        self.dead = False  # closed by us after backend_dead_after_ms of silence
        self.heard = 0.0  # when the node last answered here (coarse clock)
        self.stuck = False  # a script past busy-reply-threshold holds it (scriptkill.py)

    # -- connecting -------------------------------------------------------------------------
    def connect(self) -> None:
        if self.connecting or self.ready or self.retired:
            return
        self.connecting = True
        self.ctx.loop.create_task(self._connect())

    async def _connect(self) -> None:
        try:
            await open_connection(self.ctx, self, self.addr)
        except (TimeoutError, OSError) as exc:
            self.connecting = False
            self.group.conn_failed(self, exc)
            return
        self.connecting = False

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.buf, self.need = b"", 0
        self.slow = self.dead = False
        self.last_ping = self.ctx.loop.time()
        password = self.ctx.cfg.backend_password.encode()
        raw = b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%b\r\n" % (len(password), password) if password else _PING
        self.send(Handshake(self, raw))  # ready once answered (Handshake.complete)
        if self.resp3:  # right behind the handshake: every later request gets RESP3 replies
            self.send(Probe(_HELLO3))

    # -- sending ----------------------------------------------------------------------------
    def send(self, req) -> None:
        if not self.queue:
            self.busy_since = self.ctx.now
        self.queue.append(req)
        raw = req.raw
        if raw is None:  # it was forwarded inside a client chunk once; now it travels alone
            raw = req.raw = pack(req.argv)
        self.wbuf.append(raw)
        if not self.dirty:
            self.dirty = True
            self.ctx.flusher.backend(self)

    def send_chunk(self, req, chunk: bytes) -> None:
        """req (a Request or Batch) is exactly the commands in chunk: the client's bytes, as is."""
        if not self.queue:
            self.busy_since = self.ctx.now
        self.queue.append(req)
        self.wbuf.append(chunk)
        if not self.dirty:
            self.dirty = True
            self.ctx.flusher.backend(self)

    def flush(self) -> None:
        self.dirty = False
        if self.wbuf and self.transport is not None:
            data = self.wbuf[0] if len(self.wbuf) == 1 else b"".join(self.wbuf)
            self.wbuf = []
            self.transport.write(data)

    # -- receiving --------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self.buf:
            buf = self.buf + data
            if len(buf) < self.need:  # a big bulk still arriving: do not rescan yet
                self.buf = buf
                return
        else:
            buf = data
        queue = self.queue
        n = len(buf)
        pos = 0
        refused = None
        bstart = -1  # where the replies of the batch at the head of the queue start in buf
        need = 0  # bytes the partial reply at pos needs, when known (a big bulk string)
        while pos < n:
            t = buf[pos]
            if t == 36:  # '$' inline fast path for bulk replies (GET)
                nl = buf.find(b"\r\n", pos)
                if nl < 0:
                    break
                size = int(buf[pos + 1 : nl])
                end = nl + size + 4 if size >= 0 else nl + 2
                if end > n:
                    need = end - pos
                    break
            elif t == 43 or t == 58:  # '+' ':'
                end = buf.find(b"\r\n", pos) + 2
                if end < 2:
                    break
            else:
                end = reply_end(buf, pos)
                if end < 0:
                    break
            start = pos
            pos = end
            if not queue:  # an unsolicited reply: nothing waits for it
                continue
            req = queue[0]
            if t == 45:
                if buf.startswith(_FAILOVER_ERRORS, start) and not self.group.demoted:
                    # Refused, so not executed: hold and retry it (never shown to the client).
                    queue.popleft()
                    if req.batch:
                        if bstart >= 0:
                            req.parts.append(buf[bstart:start])
                            bstart = -1
                        rest = req.explode()
                        req = rest[0]
                        queue.extendleft(reversed(rest[1:]))
                    if refused is None:
                        refused = []
                    refused.append(req)
                    continue
                if req.batch:
                    req.errs.append(req.got)
            if req.batch:
                if bstart < 0:
                    bstart = start
                req.got += 1
                if req.got == req.n:
                    queue.popleft()
                    req.parts.append(buf[bstart:pos])
                    bstart = -1
                    req.finish()
                continue
            queue.popleft()
            req.complete(buf if (start == 0 and pos == n) else buf[start:pos])
        if bstart >= 0:  # a batch part-way answered: keep what arrived
            queue[0].parts.append(buf[bstart:pos])
        self.buf = buf[pos:] if pos < n else b""
        self.need = need
        now = self.ctx.now  # coarse clock (tick): hang and ping checks need no finer
        self.busy_since = self.heard = now
        self.last_ping = now
        self.slow = self.stuck = False
        if refused:
            self.group.refused(self, refused, reply_of_first=refused[0])
        if self.ctx.flusher.sessions:
            self.ctx.flusher.flush_sessions()
        if self.retired and not queue:
            self.close()

    def connection_lost(self, exc) -> None:
        self.ready = False
        self.transport = None
        self.dirty = False
        self.wbuf = []
        inflight = []
        for req in self.queue:
            inflight.extend(req.explode() if req.batch else (req,))
        self.queue.clear()
        self.group.conn_lost(self, inflight, exc)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class Group:
    """One backend group: a master, optional replicas, and the hold queue used during failover."""

    def __init__(self, ctx, gid: int, master: str, replicas: list[str]):
        self.ctx = ctx
        self.cfg = ctx.cfg
        self.id = gid
        self.master = master
        self.replica_addrs = list(replicas)
        self.state = SWITCHING  # until the first connection is ready
        self.held: deque = deque()
        # Per node: n RESP2 connections, then n RESP3 ones (opened with HELLO 3) for the requests
        # of RESP3 sessions, so every reply passes through as the node typed it.
        self.n = self.cfg.backend_connections
        self.conns = self._pool(master)
        self.replicas = [self._pool(r, replica=True) for r in replicas]
        self.rr = 0
        self.stats = ctx.group_stats(gid)
        self.removed = False
        self.last_retry = 0.0
        self.pushed = False  # a master was pushed (a failover is under way): hold, do not fail
        self.down_error = b""  # the reply while down / auth_failed
        self.auth_failed_at = 0.0
        self.oom_watch = False  # the node may be over maxmemory: queued denyoom commands are checked (txn.py)
        self.demoted = False  # a client made the node a replica (allow_replicaof, synctunnel.py)
        self.connect_all()

    def _pool(self, addr: str, replica: bool = False) -> list[BackendConn]:
        n = self.n
        return [BackendConn(self, addr, replica, resp3=i >= n) for i in range(2 * n)]

    def connect_all(self) -> None:
        for c in self.conns:
            c.connect()
        for conns in self.replicas:
            for c in conns:
                c.connect()

    # -- routing ----------------------------------------------------------------------------
    def send(self, req, to_replica: bool = True) -> None:
        """Route req: a read to a replica (read_from_replicas, unless to_replica is False), else
        the master; held while the master cannot take it."""
        if self.down_error:  # down or auth_failed: say why at once rather than hold
            req.complete(self.down_error)
            return
        if self.replicas and self.cfg.read_from_replicas and to_replica and req.spec is not None \
                and req.spec.readonly and getattr(req.session, "tracking", None) is None:
            conns = self.replicas[self.rr % len(self.replicas)]
            self.rr += 1
            conn = conns[req.slot % self.n + (self.n if req.resp3 else 0)]
            if conn.ready:
                conn.send(req)
                return
        if self.state is UP:
            ctx = self.ctx
            if ctx.now < ctx.pause_until and clientpause.redirect(self, req):
                return  # a node pauses per connection: not on a shared one (clientpause.py)
            conn = self.conns[req.slot % self.n + (self.n if req.resp3 else 0)]
            if conn.ready:
                if conn.stuck and _alone(req) and clientpause.redirect(self, req):
                    return  # not behind a running script (scriptkill.py)
                self._to_master(conn, req)
                return
            self.set_state(SUSPECT, "connection_down")
        self.hold(req)

    def _to_master(self, conn: BackendConn, req) -> None:
        """Send req on a master connection; a write followed by WAIT when backend_wait_replicas."""
        wanted = self.cfg.backend_wait_replicas
        spec = req.spec
        if wanted and spec is not None and not spec.readonly and spec is not MIGRATE \
                and not getattr(req, "internal", False):
            raw = req.raw if req.raw is not None else pack(req.argv)
            conn.send(AckedWrite(req, raw, wanted, self.cfg.backend_wait_timeout_ms, self.stats))
            return
        conn.send(req)

    def direct_conn(self, routed: list, resp3: bool = False) -> BackendConn | None:
        """The one ready master connection all of routed ((spec, argv, slot) tuples) would go to."""
        if self.state is not UP or (self.replicas and self.cfg.read_from_replicas):
            return None
        if self.ctx.now < self.ctx.pause_until:  # each session on its own connection (send)
            return None
        if self.cfg.backend_wait_replicas and not all(r[0].readonly for r in routed):
            return None  # a write travels alone, with its WAIT (_to_master)
        slots = self.ctx.slots
        conns = self.conns
        n = self.n
        idx = routed[0][2] % n
        off = n if resp3 else 0
        if n == 1 and len(self.ctx.groups) == 1:  # every slot is ours and there is one connection
            conn = conns[off]
            return conn if conn.ready and not conn.stuck else None
        for r in routed:
            slot = r[2]
            if slots[slot] is not self or (n > 1 and slot % n != idx):
                return None
        conn = conns[idx + off]
        return conn if conn.ready and not conn.stuck else None

    def send_master(self, req) -> None:
        """Route req to the master even when it reads (a replica refused it; a migration step)."""
        self.send(req, to_replica=False)

    def hold(self, req, front: bool = False) -> None:
        if req.deadline == 0.0:
            req.deadline = self.ctx.loop.time() + self.cfg.hold_timeout_ms / 1000
        if len(self.held) >= self.cfg.hold_queue_max:
            self.stats["hold_rejected"] += 1
            req.complete(error_line(f"ERR xcache: group {self.id} is failing over and its hold queue is full"))
            return
        if front:
            self.held.appendleft(req)
        else:
            self.held.append(req)
        self.stats["held_total"] += 1

    def set_state(self, state: str, why: str) -> None:
        if state is not self.state:
            level = "warning" if state in (DOWN, AUTH_FAILED) else "info"
            log("group_state", level=level, group=self.id, state=state, was=self.state, reason=why,
                master=self.master)
            self.state = state
            self.stats["state_changes"] += 1
            if state is UP or state is SWITCHING:
                self.down_error = b""

    def fail_fast(self, state: str, why: str, message: str) -> None:
        """down / auth_failed: answer what is held, and what comes, with message at once."""
        self.down_error = error_line(message)
        self.set_state(state, why)
        held, self.held = self.held, deque()
        for r in held:
            r.complete(self.down_error)

    def auth_failed(self, conn: BackendConn, answer: str) -> None:
        self.stats["auth_failures"] += 1
        if conn.replica:
            log("backend_auth_failed", level="warning", group=self.id, addr=conn.addr, replica=1,
                answer=answer)
            return
        self.auth_failed_at = self.ctx.loop.time()
        hint = "set backend_password" if not self.cfg.backend_password else "check backend_password"
        if self.state is not AUTH_FAILED:
            log("backend_auth_failed", level="warning", group=self.id, addr=conn.addr, answer=answer,
                hint=hint)
        self.fail_fast(AUTH_FAILED, "auth_failed",
                       f"ERR xcache: group {self.id} master {self.master} refused the proxy's "
                       f"credentials ({answer}); {hint}")

    # -- events from connections -------------------------------------------------------------
    def conn_ready(self, conn: BackendConn) -> None:
        if not conn.replica and self.state is not UP and all(c.ready for c in self.conns):
            self.set_state(UP, "connected")
            self.replay()

    def conn_failed(self, conn: BackendConn, exc) -> None:
        if not conn.replica:
            self.stats["connect_errors"] += 1
            if self.state is AUTH_FAILED:
                return
            if not self.cfg.hold_while_master_down and not (self.state is SWITCHING and self.pushed):
                # Nothing will push a new master: holding would only make clients wait for the error.
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else \
                    "connect timeout" if isinstance(exc, TimeoutError) else str(exc)
                self.fail_fast(DOWN, "connect_failed",
                               f"ERR xcache: group {self.id} master {self.master} is down ({reason})")
            elif self.state is UP:
                self.set_state(SUSPECT, "connect_failed")

    def conn_lost(self, conn: BackendConn, inflight: list, exc) -> None:
        if not conn.retired and not conn.replica and not self.removed \
                and self.state is not DOWN and self.state is not AUTH_FAILED:
            self.set_state(SUSPECT, "connection_lost")
            if not self.cfg.hold_while_master_down:
                conn.connect()  # at once: a refusal turns the group down without a hold
        replay = []
        for req in inflight:
            if getattr(req, "internal", False):
                req.lost()
                continue
            if conn.dead:
                # Silent for backend_dead_after_ms: it may still execute there; never re-send.
                self.stats["failed_inflight_writes" if not req.spec.readonly else "failed_inflight_reads"] += 1
                req.complete(error_line(
                    f"ERR xcache: group {self.id} master {conn.addr} did not answer "
                    f"'{req.spec.name}' within {self.cfg.backend_dead_after_ms} ms; not retried"))
                continue
            if req.spec.readonly or req.spec is MIGRATE:
                replay.append(req)
            else:
                # It reached the old master and may have executed: replaying could apply it twice.
                self.stats["failed_inflight_writes"] += 1
                req.complete(error_line(
                    f"ERR xcache: connection to group {self.id} master lost while '{req.spec.name}' "
                    "was in flight; it may have executed and was not retried"))
        self._requeue(replay)

    def refused(self, conn: BackendConn, reqs: list, reply_of_first=None) -> None:
        """The node answered -LOADING/-READONLY/-MASTERDOWN: nothing executed, hold and retry."""
        for r in reqs:
            if getattr(r, "internal", False):
                r.lost()
        reqs = [r for r in reqs if not getattr(r, "internal", False)]
        if conn.replica:
            for r in reqs:
                self.send_master(r)
            return
        if not conn.retired:
            self.set_state(SUSPECT, "master_refused")
        self._requeue(reqs)

    def _requeue(self, reqs: list) -> None:
        if not reqs:
            return
        if self.removed:
            for r in reqs:
                self.ctx.route(r)
            return
        # The table may have changed since these were sent: what is no longer ours goes by the new one.
        ours = []
        for r in reqs:
            if self.ctx.still_routed(self, r):
                ours.append(r)
            else:
                self.ctx.route(r)
        reqs = ours
        if self.state is UP:
            for r in reqs:
                self.send(r)
            return
        for r in reversed(reqs):
            self.hold(r, front=True)

    # -- topology changes ---------------------------------------------------------------------
    def switch(self, master: str, replicas: list[str]) -> None:
        """A new master (and/or replicas) was pushed: drain the old connections, hold until ready."""
        self.pushed = True
        if replicas != self.replica_addrs:
            for conns in self.replicas:
                for c in conns:
                    self._retire(c)
            self.replica_addrs = list(replicas)
            self.replicas = [self._pool(r, replica=True) for r in replicas]
        if master != self.master:
            log("group_switch", group=self.id, old=self.master, new=master)
            for c in self.conns:
                self._retire(c)
            self.master = master
            self.conns = self._pool(master)
            self.set_state(SWITCHING, "master_pushed")
            self.stats["switches"] += 1
        self.connect_all()

    def remove(self) -> None:
        """The group left the table: drain connections, re-route whatever is held."""
        self.removed = True
        for c in self.conns + [c for conns in self.replicas for c in conns]:
            self._retire(c)
        held, self.held = list(self.held), deque()
        for r in held:
            self.ctx.route(r)

    @staticmethod
    def _retire(conn: BackendConn) -> None:
        conn.retired = True
        if not conn.queue:
            conn.close()

    # -- periodic work -------------------------------------------------------------------------
    def replay(self) -> None:
        held, self.held = self.held, deque()
        self.stats["replayed"] += len(held)
        for r in held:
            self.send(r)

    def _answering(self, conn: BackendConn, since: float) -> bool:
        """Does conn's node answer on another connection (idle ones are pinged)? Then conn is
        not hung but busy with a long command (a script Redis would run to its end too)."""
        conns = self.conns if not conn.replica else next(
            (cs for cs in self.replicas if conn in cs), ())
        return any(o is not conn and o.ready and o.heard >= since for o in conns)

    def tick(self, now: float) -> None:
        cfg = self.cfg
        timeout = cfg.backend_timeout_ms / 1000
        dead_after = max(cfg.backend_dead_after_ms, cfg.backend_timeout_ms) / 1000
        busy_ms = self.ctx.local_stats.busy_ms
        stuck = False
        for c in self.conns + [c for conns in self.replicas for c in conns]:
            if c.ready:
                waited = now - c.busy_since if c.queue else 0.0
                c.stuck = waited > 0.0 and scriptkill.holds(c.queue[0], waited, busy_ms)
                if c.stuck and not c.replica:
                    stuck = True
                if waited > dead_after and (c.queue[0].spec is not MIGRATE
                                            or waited > cfg.migrate_timeout_ms / 1000) \
                        and not self._answering(c, now - dead_after):
                    # Silent that long: give up on the connection (what was in flight fails).
                    log("backend_dead", level="warning", group=self.id, addr=c.addr,
                        waiting=len(c.queue), waited_ms=int(waited * 1000))
                    c.dead = True
                    c.abort()
                elif waited > timeout and not c.slow:
                    # Slow is only slow (a big EXISTS, a stall): logged and counted, not re-sent.
                    c.slow = True
                    log("backend_slow", level="warning", group=self.id, addr=c.addr,
                        waiting=len(c.queue), waited_ms=int(waited * 1000))
                    self.stats["backend_timeouts"] += 1
                elif not c.queue and now - c.last_ping >= cfg.backend_ping_interval_ms / 1000:
                    c.last_ping = now
                    c.send(Probe(_PING))
        if stuck:  # a script runs past busy-reply-threshold: PING gets the node's -BUSY
            self.ctx.busy_groups.add(self)
        else:
            self.ctx.busy_groups.discard(self)
        if now - self.last_retry < cfg.hold_retry_interval_ms / 1000:
            return
        self.last_retry = now
        if self.state is AUTH_FAILED and now - self.auth_failed_at < _AUTH_RETRY_S:
            return  # do not knock 10 times a second with credentials the node refuses
        for conns in self.replicas:
            for c in conns:
                c.connect()
        if self.state is UP:
            return
        if self.held:
            expired = [r for r in self.held if r.deadline <= now]
            if expired:
                self.held = deque(r for r in self.held if r.deadline > now)
                self.stats["hold_timeouts"] += len(expired)
                msg = error_line(f"ERR xcache: group {self.id} master unavailable (failover in progress); "
                                 f"request held {cfg.hold_timeout_ms} ms and dropped")
                for r in expired:
                    r.complete(msg)
        if all(c.ready for c in self.conns):
            self.set_state(UP, "retry")
            self.replay()
        else:
            for c in self.conns:
                c.connect()

    def snapshot(self) -> dict:
        return {"state": self.state, "master": self.master, "replicas": self.replica_addrs,
                "held": len(self.held), "inflight": sum(len(c.queue) for c in self.conns),
                "connections_ready": sum(c.ready for c in self.conns)}


def _alone(req) -> bool:
    """Nothing else of req's session is in flight: it may take another connection in order."""
    session = getattr(req, "session", None)
    return session is not None and len(session.pending) <= 1
