"""SYNC/PSYNC through a proxy with one group: the session becomes a byte tunnel to its node
(and, behind allow_replicaof, REPLICAOF reaches that node).

Replicas, `redis-cli --rdb` and Redis's own test suite (as Redis's external CI runs it: its
tests read the replication stream to see what a command propagates) attach to a server with
SYNC or PSYNC. With one group its master's stream is the whole server's, so the proxy hands the
session over: it opens a connection of its own to the master (the backends' password and TLS),
sends the REPLCONF lines the client sent before (the proxy answered them +OK, as a master does)
and the SYNC/PSYNC, and from then on copies bytes both ways unchanged: the RDB payload, the
command stream, the replica's REPLCONF ACKs. Either side closing closes the other. With several
groups there is no one stream, and these commands keep their error.
"""

from __future__ import annotations

import asyncio

from xcache.proxy.logs import log
from xcache.proxy.pinned import open_connection
from xcache.proxy.replies import error_line, pack

OK = b"+OK\r\n"


def one_group(ctx):
    from xcache.proxy.keyspace import groups

    gs = groups(ctx)
    return gs[0][0] if len(gs) == 1 else None


def replicaof(session, spec, argv: list[bytes], t0: float) -> bool:
    """REPLICAOF/SLAVEOF: served by the one group's master when allow_replicaof is on."""
    group = one_group(session.ctx) if session.ctx.cfg.allow_replicaof else None
    if group is None:
        return False
    from xcache.proxy.keyspace import gather

    def applied(replies):
        if replies[0].startswith(b"+"):
            changed_role(group, [argv])
        return replies[0]
    gather(session, spec, argv, t0, applied, only_first=True)
    return True


def changed_role(group, commands: list) -> None:
    """REPLICAOF commands a client ran through the proxy (alone, or in a transaction) succeeded:
    while the node is a replica that way, its -READONLY replies are the clients' to see, not the
    sign of a failover to hold requests for (backend.py). Set when the reply arrives, so the
    replies after it on that connection are judged by it."""
    for argv in commands:
        if argv[0].upper() in (b"REPLICAOF", b"SLAVEOF"):
            group.demoted = not (len(argv) == 3 and argv[1].upper() == b"NO"
                                 and argv[2].upper() == b"ONE")


def handle(session, spec, argv: list[bytes], t0: float, rest: list) -> bool:
    """REPLCONF, SYNC or PSYNC: True when served here (a tunnel now carries the session, and
    `rest`, the commands pipelined after it); False: the proxy's refusal stands."""
    group = one_group(session.ctx)
    if group is None:
        return False
    if spec.name == "REPLCONF":
        if session.replconf is None:
            session.replconf = []
        session.replconf.append(argv)
        session.answer(spec, OK, t0)
        return True
    Tunnel(session, group, spec, t0, [*(session.replconf or ()), argv, *rest])
    return True


class _Start:
    """The tunnel's place among the session's replies: node bytes flow once it is released."""

    __slots__ = ("spec", "reply", "t0")
    batch = False

    def __init__(self, spec, t0: float):
        self.spec = spec
        self.reply = None
        self.t0 = t0


class Tunnel(asyncio.Protocol):
    def __init__(self, session, group, spec, t0: float, commands: list):
        self.session = session
        self.ctx = session.ctx
        self.addr = group.master
        self.group_id = group.id
        self.transport = None
        self.closed = False
        # replies of our own AUTH and of the REPLCONFs already answered: not the client's
        self.skip = len(session.replconf or ())
        password = self.ctx.cfg.backend_password
        self.out = [pack([b"AUTH", password.encode()])] if password else []
        self.skip += len(self.out)
        self.out += [pack(a) for a in commands]
        self.line = b""  # a skipped reply line split across reads
        self.held: list[bytes] = []  # node bytes that wait for the session's earlier replies
        self.start = _Start(spec, t0)
        session.drain_routed()
        session.pending.append(self.start)
        session.tunnel = self
        self.ctx.loop.create_task(self._connect())

    async def _connect(self) -> None:
        try:
            await open_connection(self.ctx, self, self.addr)
        except (TimeoutError, OSError) as exc:
            self._refuse(f"ERR xcache: cannot connect to group {self.group_id} master {self.addr}: {exc}")

    def _refuse(self, text: str) -> None:
        """No stream: the client gets why, then its connection closes (as a replica's would)."""
        self.closed = True
        session = self.session
        self.start.reply = error_line(text)
        session.request_done(self.start)
        session.close()

    def connection_made(self, transport) -> None:
        if self.closed or self.session.closed:
            transport.close()
            return
        self.transport = transport
        transport.write(b"".join(self.out))
        self.out = []
        log("sync_tunnel", group=self.group_id, node=self.addr, client=self.session.ip)

    def data_received(self, data: bytes) -> None:
        while self.skip and data:
            nl = data.find(b"\n")
            if nl < 0:
                self.line += data
                return
            line, data = self.line + data[:nl + 1], data[nl + 1:]
            self.line = b""
            self.skip -= 1
            if line.startswith(b"-"):  # our AUTH (or a REPLCONF) refused: say so and stop
                self._refuse(line[1:].strip().decode(errors="replace"))
                self.transport.close()
                return
        if not data:
            return
        session = self.session
        session.last_active = self.ctx.now
        start = self.start
        if start.reply is None:
            start.reply = b""
            session.request_done(start)  # releases the replies before it, then this one
        if session.pending:  # earlier replies are still out: they go first
            self.held.append(data)
            if len(self.held) == 1:
                self.ctx.loop.call_later(0.005, self._release)
            return
        self._write(data)

    def _release(self) -> None:
        if self.held and not self.session.pending:
            self._write(b"")
        elif self.held and not self.closed:
            self.ctx.loop.call_later(0.005, self._release)

    def _write(self, data: bytes) -> None:
        session = self.session
        if session.closed:
            return
        session.flush()
        if self.held:
            data, self.held = b"".join(self.held) + data, []
        if data:
            session.transport.write(data)

    def to_node(self, data: bytes) -> None:
        """What the client sends (a replica's REPLCONF ACK...), unchanged."""
        if self.transport is not None:
            self.transport.write(data)
        elif not self.closed:
            self.out.append(data)

    def pause(self, paused: bool) -> None:
        """The client reads slowly (the RDB is big): stop reading the node until it catches up."""
        if self.transport is not None and not self.closed:
            (self.transport.pause_reading if paused else self.transport.resume_reading)()

    def connection_lost(self, exc) -> None:
        self.transport = None
        if not self.closed:
            self.closed = True
            if self.held:
                self._write(b"")
            self.session.close()

    def close(self) -> None:
        """The client left."""
        self.closed = True
        if self.transport is not None:
            self.transport.close()
