"""MULTI/EXEC/DISCARD/WATCH/UNWATCH through the proxy, when every key is on one group.

Between MULTI and EXEC the proxy queues the commands itself and answers +QUEUED like Redis; each
queued command's keys must be on the group of the first keyed one (or of the WATCH), otherwise
it gets -CROSSSLOT and EXEC answers -EXECABORT: nothing ran. At EXEC the whole block
`MULTI cmd... EXEC` is written contiguously to one backend connection, where the node runs it
atomically; only EXEC's reply goes back to the client. Without WATCH that connection is the
group's pooled one (a Txn travels like a Batch: one queue entry, n replies); with WATCH it is the
session's pinned connection that holds the watch (pinned.py).

Redis refuses a denyoom command with -OOM when it is queued while the node is over maxmemory.
The proxy cannot see that, so while a group may be over it (a CONFIG SET maxmemory to a non-zero
value went through the proxy, or the group refused a block with -OOM) such a command is queued
on the node too: `MULTI cmd DISCARD` as one block, and the client gets the node's verdict
(+QUEUED or the error) instead of the proxy's. A +QUEUED ends that watch.
"""

from __future__ import annotations

from xcache.commandarity import DENYOOM, NO_MULTI
from xcache.proxy import clientpause
from xcache.proxy import commands as C
from xcache.proxy.backend import Group
from xcache.proxy.pinned import Pinned
from xcache.proxy.replies import error_line, pack, reply_end
from xcache.proxy.router import slot_of

OK = b"+OK\r\n"
QUEUED = b"+QUEUED\r\n"
EXECABORT = b"-EXECABORT Transaction discarded because of previous errors.\r\n"
ABORT_BECAUSE = b"-EXECABORT Transaction discarded because of: "  # + the error, as Redis's
BUSY = b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n"
MULTI = C.lookup(b"MULTI")
EXEC = C.lookup(b"EXEC")
# Commands the proxy answers itself that a node also serves, so they may be queued.
_QUEUEABLE_LOCAL = {"PING", "ECHO", "TIME"}
# Whole-keyspace commands whose one node's reply is the whole answer when there is one group.
_QUEUEABLE_ONE_GROUP = {"FLUSHDB", "FLUSHALL", "DBSIZE", "RANDOMKEY", "KEYS", "SCRIPT",
                        "FUNCTION", "LASTSAVE", "LATENCY", "MEMORY", "LOLWUT"}


class State:
    """The session's open MULTI."""

    __slots__ = ("cmds", "error", "multi", "role_change")

    def __init__(self, multi: bytes = b"MULTI"):
        self.multi = multi  # MULTI as the client spelled it (MONITOR shows it so)
        self.cmds: list = []  # (spec, argv)
        self.error = False
        self.role_change = False  # a REPLICAOF is queued (allow_replicaof)


class Txn:
    """A MULTI ... EXEC block sent as one unit; looks like a Batch to a BackendConn."""

    __slots__ = ("session", "items", "n", "got", "parts", "errs", "reply", "t0", "raw", "slot",
                 "deadline", "resp3", "first_error", "state")
    batch = True
    spec = EXEC
    internal = False
    argv = None

    def __init__(self, session, cmds: list, slot: int, t0: float, multi: bytes = b"MULTI",
                 exec_: bytes = b"EXEC"):
        self.session = session
        self.items = [(MULTI, None, slot), *((s, a, slot) for s, a in cmds), (EXEC, None, slot)]
        self.n = len(self.items)
        # MULTI and EXEC as the client spelled them: MONITOR shows the node's argv
        self.raw = pack([multi]) + b"".join(pack(a) for _, a in cmds) + pack([exec_])
        self.slot = slot
        self.t0 = t0
        self.deadline = 0.0
        self.resp3 = session.resp3
        self.state = None  # the State it came from, when queue checks may still be answering
        self.reset()

    def reset(self) -> None:
        self.got = 0
        self.parts: list[bytes] = []
        self.errs: list[int] = []
        self.reply = None
        self.first_error = None  # the node's first error reply inside the block (pinned.py sets it too)

    def finish(self) -> None:
        """All n replies arrived (pooled connection): the client gets EXEC's, the last."""
        buf = b"".join(self.parts)
        pos = 0
        for _ in range(self.n - 1):
            end = reply_end(buf, pos)
            if self.first_error is None and buf[pos:pos + 1] == b"-":
                self.first_error = buf[pos + 1:end]
            pos = end
        self.complete(buf[pos:])

    def complete(self, reply: bytes) -> None:
        if self.state is not None and self.state.role_change and reply[:1] == b"*":
            from xcache.proxy.synctunnel import changed_role  # REPLICAOF ran in the block

            changed_role(self.group(), [a for _, a in self.state.cmds])
        if self.first_error is not None and reply.startswith(b"-EXECABORT") and not (
                self.state is not None and self.state.error):
            # The proxy answered QUEUED; the node refused the command when the block reached it
            # (OOM, BUSY...): for the client that is EXEC time, where Redis names the reason.
            # (A queue check that refused a command answered before: "previous errors" stands.)
            reply = ABORT_BECAUSE + self.first_error
            if self.first_error.startswith(b"OOM") and self.group().__class__ is Group:
                self.group().oom_watch = True
        self.reply = reply
        self.session.request_done(self)

    def group(self):
        return self.session.ctx.slots[self.slot]

    def explode(self) -> list:
        """The connection failed or refused part of the block: the block is one unit, so it is
        replayed or failed whole; placeholders absorb the rest of its replies."""
        from xcache.proxy.backend import Probe

        left = self.n - self.got - 1
        self.reset()
        return [self, *(Probe(b"") for _ in range(max(left, 0)))]


class QueueCheck(Txn):
    """`MULTI cmd DISCARD` on the node: its verdict on queueing cmd (see the module's top). It
    travels on the connection the transaction's EXEC will take, so the node sees them in order."""

    __slots__ = ("state",)

    def __init__(self, session, state: State, spec, argv: list[bytes], slot: int, t0: float):
        super().__init__(session, [(spec, argv)], slot, t0, b"MULTI", b"DISCARD")
        self.state = state

    def finish(self) -> None:
        """Pooled connection: the three replies; the middle one is the verdict."""
        buf = b"".join(self.parts)
        start = reply_end(buf, 0)
        end = reply_end(buf, start)
        if buf[start:start + 1] == b"-":
            self.first_error = buf[start + 1:end]
        self.complete(buf[end:])

    def complete(self, reply: bytes) -> None:
        """reply: DISCARD's (first_error holds a refusal), or why the block failed."""
        if self.first_error is not None:
            reply = b"-" + self.first_error
        elif reply[:1] != b"-":
            reply = QUEUED
        refused = reply[:1] == b"-"
        if refused:
            self.state.error = True
        group = self.group()
        if group.__class__ is Group:  # a +QUEUED ends the watch; an -OOM keeps it
            group.oom_watch = reply.startswith(b"-OOM") or (refused and group.oom_watch)
        self.items = self.items[1:2]  # counted as the one command the client sent
        self.n = 1
        self.errs = [0] if refused else []
        self.reply = reply
        self.session.request_done(self)


def _denyoom(spec, argv: list[bytes]) -> bool:
    if spec.container and len(argv) > 1:
        return f"{spec.lname}|{argv[1].lower().decode(errors='replace')}" in DENYOOM
    return spec.lname in DENYOOM


def _route(session, keys: list[bytes], base=None):
    """(route, slot) shared by all keys (and base, a (route, slot) chosen before), or an error."""
    slots = session.ctx.slots
    route, slot = base if base is not None else (None, None)
    for k in keys:
        s = slot_of(k)
        r = slots[s]
        if route is None:
            route, slot = r, s
        elif r is not route:
            return None, _crossslot(route, r)
    if route is not None and route.__class__ is not Group:
        return None, error_line(f"TRYAGAIN xcache: slot {slot} is migrating; retry the transaction "
                                "once the migration of this slot is done")
    return (route, slot), None


def _crossslot(a, b) -> bytes:
    if a.__class__ is Group and b.__class__ is Group and a is not b:
        why = f"groups {a.id} and {b.id}"
    else:
        why = "a slot being migrated and other slots"
    return error_line(f"CROSSSLOT xcache: keys of one transaction must all be on one group (here: "
                      f"{why}); put them under one {{hashtag}}")


def handle(session, spec, argv: list[bytes], t0: float) -> None:
    name = spec.name
    st = session.multi
    if name == "MULTI":
        if st is not None:
            session.answer(spec, error_line("ERR MULTI calls can not be nested"), t0)
            return
        session.multi = State(argv[0])
        session.special = True
        session.answer(spec, OK, t0)
    elif name == "EXEC":
        if st is None:
            session.answer(spec, error_line("ERR EXEC without MULTI"), t0)
            return
        _exec(session, st, t0, argv[0])
    elif name == "DISCARD":
        if st is None:
            session.answer(spec, error_line("ERR DISCARD without MULTI"), t0)
            return
        _end(session)
        _unwatch(session)
        session.answer(spec, OK, t0)
    elif name == "WATCH":
        if st is not None:
            session.answer(spec, error_line("ERR WATCH inside MULTI is not allowed"), t0)
            return
        _watch(session, spec, argv, t0)
    else:  # UNWATCH
        if st is not None:  # queued like any command; it runs in the block
            queue(session, spec, argv, t0)
            return
        conn = session.watch_conn
        if conn is None or session.watch_route is None:
            session.answer(spec, OK, t0)
            return
        session.watch_route = None
        session.forward_pinned(conn, spec, argv, t0)


def queue(session, spec, argv: list[bytes], t0: float) -> None:
    """A command between MULTI and EXEC."""
    st = session.multi
    kind = spec.kind
    if spec.lname in NO_MULTI:  # SAVE, SHUTDOWN, SYNC, PSYNC: Redis's words
        st.error = True
        session.answer(spec, error_line("ERR Command not allowed inside a transaction"), t0)
        return
    if kind in (C.LOCAL, C.FANOUT, C.PUBSUB, C.DENY) and not (
            kind == C.LOCAL and spec.name in _QUEUEABLE_LOCAL) and spec.name != "UNWATCH" and not (
            spec.name == "CLIENT" and clientpause.queue(session, argv)) and not (
            spec.name == "SLOWLOG" and _slowlog_queued(session, argv)) and not (
            spec.name == "CONFIG" and _config_queued(session, argv)) and not (
            spec.name in _QUEUEABLE_ONE_GROUP and _one_group_queued(session, spec)) and not (
            spec.name in ("REPLICAOF", "SLAVEOF") and session.ctx.cfg.allow_replicaof
            and _one_group_queued(session, spec)):
        st.error = True
        session.answer(spec, error_line(
            f"ERR xcache: '{spec.name}' cannot be queued in a transaction through the proxy"), t0)
        return
    try:
        keys = C.command_keys(spec, argv)
    except ValueError as exc:
        st.error = True
        session.answer(spec, error_line(f"ERR {exc}"), t0)
        return
    if session.ctx.breaker.active and session.blocked(spec, keys, t0):
        st.error = True
        return
    base = session.txn_route or session.watch_route
    got = base
    if keys:
        got, err = _route(session, keys, base)
        if err is not None:
            st.error = True
            session.answer(spec, err, t0)
            return
    if session.ctx.busy_groups and _busy(session.ctx, got[0] if got is not None else None):
        # Its node runs a long script: Redis refuses the command now and the EXEC that follows.
        st.error = True
        session.answer(spec, BUSY, t0)
        return
    if keys and base is None:
        session.txn_route = got
    if spec.name in ("REPLICAOF", "SLAVEOF"):
        st.role_change = True
    st.cmds.append((spec, argv))
    if got is not None and got[0].oom_watch and _denyoom(spec, argv):
        session.drain_routed()
        check = QueueCheck(session, st, spec, argv, got[1], t0)
        session.pending.append(check)
        conn = session.watch_conn if session.watch_route is not None else None
        if conn is not None and not conn.closed:
            conn.send(check, check.raw, check.n)
        else:
            got[0].send(check)
        return
    session.answer(spec, QUEUED, t0)


def _busy(ctx, group) -> bool:
    """Does group's node (any busy one for a command without keys) run a script past
    busy-reply-threshold right now (its connection is still held: scriptkill.py)?"""
    groups = [group] if group is not None else list(ctx.busy_groups)
    return any(g in ctx.busy_groups and any(c.stuck for c in g.conns) for g in groups)


def _one_group_queued(session, spec) -> bool:
    """A whole-keyspace command in a transaction: with one group, its node runs it in the
    block; FLUSH* and KEYS only where the proxy allows them at all (allow_flush, allow_keys)."""
    from xcache.proxy.keyspace import groups

    cfg = session.ctx.cfg
    if spec.name in ("FLUSHDB", "FLUSHALL") and not cfg.allow_flush:
        return False
    if spec.name == "KEYS" and not cfg.allow_keys:
        return False
    return len(groups(session.ctx)) == 1


def _slowlog_queued(session, argv: list[bytes]) -> bool:
    """SLOWLOG in a transaction: with one group, its node's slow log is the whole one (but for
    the proxy's own entries, which a queued RESET clears too)."""
    from xcache.proxy.keyspace import groups

    if len(groups(session.ctx)) != 1:
        return False
    if argv[1].upper() == b"RESET":
        session.ctx.local_stats.slowlog.clear()
    return True


def _config_queued(session, argv: list[bytes]) -> bool:
    """CONFIG in a transaction: with one group, its node's configuration is the whole one; a
    parameter the proxy refuses to set (how it reaches the nodes) stays refused. The proxy's own
    slow-log thresholds follow a queued SET, and a queued RESETSTAT clears its histograms, as
    SLOWLOG RESET does (at once)."""
    from xcache.proxy.keyspace import CONFIG_LINKS, groups

    if len(groups(session.ctx)) != 1 or len(argv) < 2:
        return False
    sub = argv[1].upper()
    if sub == b"SET":
        if any(p.lower().decode(errors="replace") in CONFIG_LINKS for p in argv[2::2]):
            return False
        session.ctx.local_stats.configured(argv)
    elif sub == b"RESETSTAT":
        session.ctx.local_stats.reset_histograms()
    return True


def _exec(session, st: State, t0: float, word: bytes = b"EXEC") -> None:
    route = session.txn_route or session.watch_route
    _end(session)
    conn = session.watch_conn if session.watch_route is not None else None
    session.watch_route = None
    if session.ctx.busy_groups and _busy(session.ctx, route[0] if route is not None else None):
        # Redis refuses EXEC itself while its node runs a long script, before it looks at the
        # queued commands, and names the reason.
        if conn is not None:
            conn.command_silent([b"UNWATCH"])
        session.answer(EXEC, ABORT_BECAUSE + BUSY[1:], t0)
        return
    if st.error:
        if conn is not None:
            conn.command_silent([b"UNWATCH"])
        session.answer(EXEC, EXECABORT, t0)
        route = route or _any_group(session)
        if route is not None:
            # What MONITOR shows of a transaction Redis aborts at EXEC is its MULTI and EXEC: an
            # empty block on its node shows them (its reply is nobody's: it is not pending).
            route[0].send(Txn(session, [], route[1], t0, st.multi, word))
        return
    session.drain_routed()
    route = route or _any_group(session)  # no key at all: any group runs it
    if route is None:
        session.answer(EXEC, error_line("ERR xcache: no slot table"), t0)
        return
    group, slot = route
    txn = Txn(session, st.cmds, slot, t0, st.multi, word)
    txn.state = st
    session.pending.append(txn)
    if conn is not None and not conn.closed:
        conn.send(txn, txn.raw, txn.n)
    else:
        group.send(txn)


def _any_group(session):
    from xcache.proxy.keyspace import groups

    gs = groups(session.ctx)
    return gs[0] if gs else None


def _end(session) -> None:
    session.multi = None
    session.txn_route = None
    session.special = session.subscribed_resp2()


def _unwatch(session) -> None:
    conn = session.watch_conn
    if conn is not None and session.watch_route is not None:
        conn.command_silent([b"UNWATCH"])
    session.watch_route = None


def _watch(session, spec, argv: list[bytes], t0: float) -> None:
    keys = argv[1:]
    base = session.watch_route
    got, err = _route(session, keys, base)
    if err is not None:
        session.answer(spec, err, t0)
        return
    group = got[0]
    conn = session.watch_conn
    if conn is None or conn.closed or conn.group is not group or conn.addr != group.master:
        if conn is not None:
            conn.close()
        conn = session.watch_conn = Pinned(session, group)
    if base is None:
        session.watch_route = got
    session.forward_pinned(conn, spec, argv, t0)
