"""A backend connection owned by one session (WATCH, blocking commands, pub/sub).

Pooled connections are shared by every session, so no session may leave state on them (a
WATCH, a blocked BLPOP, a subscription). Those get a connection of their own to the group's
master, opened in the session's protocol (HELLO 3 for a RESP3 session). It is closed when the
session ends (Redis then drops the blocked client / its subscriptions), and failed when the group
moves to another master or leaves the table (Worker.tick calls check()).

Requests are answered in order; `sink`, when set, receives every reply instead (pub/sub).
"""

from __future__ import annotations

import asyncio
from collections import deque

from xcache.proxy.logs import log
from xcache.proxy.replies import error_line, pack, reply_end
from xcache.proxy.router import parse_addr

SPARES = 2  # per group and protocol: blocking commands in quick succession each find one ready


async def open_connection(ctx, protocol, addr: str) -> None:
    """Connect protocol to a backend node (backend TLS, connect timeout); raises TimeoutError
    or OSError."""
    host, port = parse_addr(addr)
    await asyncio.wait_for(
        ctx.loop.create_connection(lambda: protocol, host, port, ssl=ctx.backend_tls_ctx),
        ctx.cfg.backend_connect_timeout_ms / 1000)


class _Unowned:
    """The owner of a spare connection until a session takes it (take_spare)."""

    def __init__(self, ctx, resp3: bool):
        self.ctx = ctx
        self.resp3 = resp3

    def pinned_lost(self, conn) -> None:
        for spares in self.ctx.spares.values():
            if conn in spares:
                spares.remove(conn)


def _usable(conn, group) -> bool:
    return not conn.closed and conn.addr == group.master


def take_spare(session, group) -> Pinned:
    """A connection for a session's blocking command: one of the group's spares (a connected one
    first), else a new one; the spares are topped up for the next. A blocking command then
    reaches its node as fast as a pooled request does: a client that blocks, then has another
    connection push (Redis's own suite does), finds the command already there."""
    ctx = session.ctx
    spares = ctx.spares.setdefault((group.id, session.resp3), [])
    for c in [c for c in spares if not _usable(c, group)]:
        spares.remove(c)
        c.close()
    ready = [c for c in spares if c.transport is not None and not c.skip]
    conn = ready[0] if ready else spares[0] if spares else None  # connecting: sooner than new
    if conn is None:
        conn = Pinned(session, group)
    else:
        spares.remove(conn)
        conn.session = session
    _top_up(ctx, group, session.resp3)
    return conn


def _top_up(ctx, group, resp3: bool) -> None:
    spares = ctx.spares.setdefault((group.id, resp3), [])
    while len(spares) < SPARES:
        conn = Pinned(_Unowned(ctx, resp3), group)
        conn._setup([b"PING"])  # answered: the node has accepted it, and reads it in turn
        spares.append(conn)


def recycle(conn) -> bool:
    """A leaving session's connection for blocking commands, idle and connected (its command
    was answered): a spare again when the group has fewer than SPARES connected (True), so the
    next session that blocks finds one at once (Redis's suite: test after test)."""
    ctx = conn.ctx
    if conn.closed or conn.queue or conn.transport is None or conn.skip or conn.sink is not None \
            or conn.group.removed or conn.addr != conn.group.master:
        return False
    spares = ctx.spares.setdefault((conn.group.id, conn.resp3), [])
    connected = [c for c in spares if c.transport is not None and not c.closed]
    if len(connected) >= SPARES:
        return False
    if len(spares) >= SPARES:  # replaces one still connecting
        old = next(c for c in spares if c not in connected)
        spares.remove(old)
        old.close()
    conn.session = _Unowned(ctx, conn.resp3)
    spares.append(conn)
    return True


def keep_spares(ctx) -> None:
    """RESP2 spares per group, opened when the table arrives, so that a session's very first
    blocking command also reaches its node as fast as a pooled request (RESP3 spares are opened
    by take_spare, from the first RESP3 blocking command on)."""
    for group in ctx.groups.values():
        spares = ctx.spares.setdefault((group.id, False), [])
        for c in [c for c in spares if not _usable(c, group)]:
            spares.remove(c)
            c.close()
        _top_up(ctx, group, False)


class _Drop:
    def complete(self, reply: bytes) -> None:
        pass


class Pinned(asyncio.Protocol):
    def __init__(self, session, group, sink=None):
        self.session = session
        self.ctx = session.ctx
        self.group = group
        self.addr = group.master
        self.sink = sink
        self.on_push = None  # RESP3 push frames go here when set (tracking.py's script connections)
        self.resp3 = session.resp3  # opened with HELLO 3 (a spare's key)
        self.queue: deque = deque()  # (request, replies expected, replies so far)
        self.transport = None
        self.wbuf: list[bytes] = []
        self.buf = b""
        self.skip = 0  # replies of our own setup commands (AUTH, HELLO) still to come
        self.closed = False
        self.ctx.pinned.add(self)
        cfg = self.ctx.cfg
        if cfg.backend_password:
            self._setup([b"AUTH", cfg.backend_password.encode()])
        if session.resp3:
            self._setup([b"HELLO", b"3"])
        self.ctx.loop.create_task(self._connect())

    def _setup(self, argv: list[bytes]) -> None:
        self.skip += 1
        self.wbuf.append(pack(argv))

    async def _connect(self) -> None:
        try:
            await open_connection(self.ctx, self, self.addr)
        except (TimeoutError, OSError) as exc:
            self.fail(f"cannot connect to group {self.group.id} master {self.addr}: {exc}")

    def connection_made(self, transport) -> None:
        if self.closed:
            transport.close()
            return
        self.transport = transport
        self._flush()

    def send(self, req, raw: bytes | None = None, n: int = 1) -> None:
        """Send raw (default: req's command); req.complete() gets the last of its n replies."""
        if self.closed:
            req.complete(error_line(f"ERR xcache: connection to group {self.group.id} is closed"))
            return
        if req is not None:
            self.queue.append([req, n])
        self.wbuf.append(raw if raw is not None else req.raw or pack(req.argv))
        if self.transport is not None:
            self._flush()

    def command(self, argv: list[bytes]) -> None:
        """A command whose reply nobody waits for (pub/sub sink connections only)."""
        self.send(None, pack(argv))

    def command_silent(self, argv: list[bytes]) -> None:
        """A command whose reply is dropped (UNWATCH after an aborted EXEC)."""
        self.send(_Drop(), pack(argv))

    def _flush(self) -> None:
        if self.wbuf and self.transport is not None:
            self.transport.write(b"".join(self.wbuf))
            self.wbuf = []

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        pos, n = 0, len(buf)
        while pos < n:
            end = reply_end(buf, pos)
            if end < 0:
                break
            reply = buf[pos:end]
            pos = end
            if self.on_push is not None and reply[:1] == b">":
                self.on_push(self, reply)
                continue
            if self.skip:
                self.skip -= 1
                if reply.startswith(b"-"):
                    log("pinned_setup_error", level="warning", group=self.group.id,
                        reply=reply[:200].decode(errors="replace").strip())
                continue
            if self.sink is not None:
                self.sink(self, reply)
                continue
            if not self.queue:
                continue
            head = self.queue[0]
            head[1] -= 1
            if head[1] == 0:
                self.queue.popleft()
                head[0].complete(reply)
            elif reply[:1] == b"-" and getattr(head[0], "first_error", 0) is None:
                head[0].first_error = reply[1:]  # a Txn's queued command refused (txn.py)
        self.buf = buf[pos:]
        flusher = self.ctx.flusher
        if flusher.sessions:
            flusher.flush_sessions()

    def connection_lost(self, exc) -> None:
        self.transport = None
        self.fail(f"connection to group {self.group.id} master {self.addr} lost")

    def holds_blocked(self) -> bool:
        """A blocking command waits here and the node has it: INFO's blocked_clients counts only
        these, as Redis counts clients it has blocked (a test or tool that waits for a client to be
        blocked, then pushes, must not push before the node has the command)."""
        return (self.transport is not None and not self.skip and bool(self.queue)
                and getattr(self.queue[0][0], "blocking", False))

    @property
    def idle(self) -> bool:
        return not self.queue

    def check(self) -> None:
        """The group failed over or left the table: whatever waits here would wait forever."""
        g = self.group
        if g.removed or g.master != self.addr:
            self.fail(f"group {g.id} moved to a new master; retry", code="UNBLOCKED")

    def fail(self, why: str, code: str = "ERR") -> None:
        self.fail_with(error_line(f"{code} xcache: {why}"))

    def fail_with(self, reply: bytes) -> None:
        """Close; whatever waits here is answered reply."""
        if self.closed:
            return
        self.close()
        queue, self.queue = self.queue, deque()
        for req, _ in queue:
            req.complete(reply)
        self.session.pinned_lost(self)

    def close(self) -> None:
        self.closed = True
        self.ctx.pinned.discard(self)
        if self.transport is not None:
            self.transport.close()
