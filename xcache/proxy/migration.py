"""Slots being migrated between groups (Codis semantics): move the request's keys, then serve it.

A migrating slot's route is a MigratingSlot instead of a Group. For each request it first sends
`MIGRATE <target master> "" 0 <migrate_timeout_ms> REPLACE [AUTH pw] KEYS k...` to the SOURCE
group's master (a MigrateStep, held and replayed like a read during the source's failover:
MIGRATE is idempotent, a rerun answers +NOKEY). +OK/+NOKEY: the request goes to the target group's master (even a read: its replicas may lag);
an error fails the request, which never reaches the target (a write must not land on the wrong
side). Steps of one slot share one source connection and their completions send to one target
connection, in order, so a client's pipelined requests on a key keep their order.
"""

from __future__ import annotations

from xcache.proxy import commands as C
from xcache.proxy.backend import MIGRATE
from xcache.proxy.replies import error_line, pack
from xcache.proxy.router import parse_addr


def request_keys(req) -> list[bytes]:
    """The keys a routed request touches (its argv is one slot's share for a split command)."""
    spec, argv = req.spec, req.argv
    if spec.kind == C.KEY:
        return [argv[1]]
    if spec.kind == C.SPLIT:
        return argv[1::2] if spec.name == "MSET" else argv[1:]
    if spec.keys is None:  # MEMORY USAGE key (FANOUT), SUBSCRIBE...: nothing to move first
        return []
    return C.same_slot_keys(spec, argv)


class MigrateStep:
    """The MIGRATE sent to the source master before a request goes to the target group."""

    __slots__ = ("route", "req", "raw", "reply", "slot", "deadline", "retry_until")
    spec = MIGRATE
    batch = False
    internal = False
    resp3 = False  # +OK/+NOKEY read the same in both protocols

    def __init__(self, route: MigratingSlot, req, raw: bytes, retry_until: float):
        self.route = route
        self.req = req
        self.raw = raw
        self.reply = None
        self.slot = route.slot
        self.deadline = 0.0
        self.retry_until = retry_until  # an unreachable target is retried until then

    def complete(self, reply: bytes) -> None:
        self.reply = reply
        self.route.moved(self, reply)


class MigratingSlot:
    """Route of one migrating slot; the same send()/direct_conn() interface as a Group."""

    __slots__ = ("ctx", "source", "target", "slot")

    def __init__(self, ctx, source, target, slot: int):
        self.ctx = ctx
        self.source = source
        self.target = target
        self.slot = slot

    @property
    def id(self) -> int:
        return self.target.id

    def direct_conn(self, routed: list, resp3: bool = False) -> None:
        return None  # never forward client bytes as is: each request needs its MIGRATE first

    def send(self, req, retry_until: float = 0.0) -> None:
        keys = list(dict.fromkeys(request_keys(req)))  # a key named twice is moved once
        if not keys:  # e.g. EVAL with no keys: nothing to move
            self.target.send(req)
            return
        ctx = self.ctx
        ctx.migrate_steps += 1
        until = retry_until or ctx.loop.time() + ctx.cfg.hold_timeout_ms / 1000
        self.source.send_master(MigrateStep(self, req, self.command(keys), until))

    def command(self, keys: list[bytes]) -> bytes:
        cfg = self.ctx.cfg
        host, port = parse_addr(self.target.master)
        argv = [b"MIGRATE", host.encode(), b"%d" % port, b"", b"0", b"%d" % cfg.migrate_timeout_ms, b"REPLACE"]
        if cfg.backend_password:
            argv += [b"AUTH", cfg.backend_password.encode()]
        argv.append(b"KEYS")
        argv.extend(keys)
        return pack(argv)

    def moved(self, step: MigrateStep, reply: bytes) -> None:
        ctx = self.ctx
        if reply.startswith(b"+OK"):
            ctx.migrate_moved += 1
        elif not reply.startswith(b"+NOKEY"):
            if reply.startswith(b"-IOERR") and ctx.loop.time() < step.retry_until:
                # The target is unreachable (failing over?): nothing moved; try again shortly,
                # to the target master the table names by then, as a held request would be.
                ctx.migrate_retries += 1
                ctx.loop.call_later(ctx.cfg.hold_retry_interval_ms / 1000, self.retry, step)
                return
            ctx.migrate_errors += 1
            why = reply[1:].rstrip(b"\r\n").decode(errors="replace")
            step.req.complete(error_line(f"ERR xcache: slot {self.slot} is migrating and key move failed: {why}"))
            return
        if ctx.slots[self.slot] is self:
            # the master: a replica may not have the keys that just moved yet
            self.target.send_master(step.req)
        else:  # a new table came meanwhile: route by it, never by the one that is gone
            ctx.route(step.req)

    def retry(self, step: MigrateStep) -> None:
        ctx = self.ctx
        if ctx.slots[self.slot] is self:
            self.send(step.req, step.retry_until)
        else:
            ctx.route(step.req)
