"""Blocking commands (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BZPOPMIN/MAX, BLMPOP, BZMPOP,
XREAD/XREADGROUP BLOCK) on a backend connection of the session's own.

A blocked command on a pooled connection would stall every other session behind it, so each
blocked session waits on a Pinned connection to the group's master (kept for its next blocking
command). At most max_blocked_sessions per worker wait at once; past it the command fails at
once. The wait ends with the node's reply (data or timeout), with the client leaving (the session
closes its connection: the node forgets the blocked client, nothing is popped), or with the
group's failover (Pinned.check: -UNBLOCKED, the client retries).
"""

from __future__ import annotations

from xcache.proxy import commands as C
from xcache.proxy.backend import Group
from xcache.proxy.pending import Request
from xcache.proxy.pinned import take_spare
from xcache.proxy.replies import error_line, pack
from xcache.proxy.txn import _route


class Blocked(Request):
    """A blocking request: frees its place under max_blocked_sessions when answered."""

    __slots__ = ()
    blocking = True  # Pinned.holds_blocked

    def complete(self, reply: bytes) -> None:
        self.session.ctx.blocked -= 1
        self.session.blocking -= 1
        Request.complete(self, reply)


def blocks(spec, argv: list[bytes]) -> bool:
    if spec.keys[0] != "streams":
        return True
    for a in argv[1:]:
        u = a.upper()
        if u == b"STREAMS":
            return False
        if u == b"BLOCK":
            return True
    return False


def handle(session, spec, argv: list[bytes], t0: float) -> None:
    ctx = session.ctx
    try:
        keys = C.same_slot_keys(spec, argv)
    except ValueError:
        keys = []
    if not keys:  # malformed: a node answers Redis's own error at once, without blocking
        session.same_slot(spec, argv, t0, keys)
        return
    if not blocks(spec, argv):  # XREAD without BLOCK: an ordinary multi-key read
        session.same_slot(spec, argv, t0, keys)
        return
    if ctx.breaker.active and session.blocked(spec, keys, t0):
        return
    got, err = _route(session, keys)
    if err is not None:
        session.answer(spec, err.replace(b"one transaction", b"one blocking command")
                       .replace(b"the transaction", b"the command"), t0)
        return
    group, slot = got
    if group.__class__ is not Group:
        session.answer(spec, error_line("ERR xcache: no slot table"), t0)
        return
    if session.refused_over(spec, t0, ctx.blocked, "max_blocked_sessions", "max_blocked", "blocked",
                            "; retry later"):
        return
    session.drain_routed()
    conn = session.block_conns.get(group.id)
    if conn is None or conn.closed or conn.addr != group.master:
        if conn is not None:
            conn.close()
        conn = session.block_conns[group.id] = take_spare(session, group)
    ctx.blocked += 1
    session.blocking += 1
    req = Blocked(session, spec, pack(argv), slot, t0, argv)
    session.pending.append(req)
    conn.send(req)
