"""Long scripts through the proxy: SCRIPT KILL / FUNCTION KILL, and requests kept off a
connection a running script holds.

A script (EVAL, FCALL...) runs on a pooled backend connection, where the requests behind it wait
for it. A node running a script longer than busy-reply-threshold answers every other client
-BUSY at once, and runs SCRIPT KILL / FUNCTION KILL, whose purpose is to end it: so those go to
every group's master on connections of their own (never queued behind the script), and, once
the script has run past the threshold (Group.tick marks its connection `stuck`), a session with
nothing else in flight sends its requests on its own connection, where the node answers them
(-BUSY, or the KILL, FUNCTION STATS... it serves meanwhile) as Redis would; PING, which the
proxy answers itself, then goes to that node too.
"""

from __future__ import annotations

from xcache.proxy import clientpause
from xcache.proxy.pending import Request
from xcache.proxy.pinned import Pinned
from xcache.proxy.replies import pack

SCRIPTS = frozenset(("EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"))
BUSY_DEFAULT_MS = 5000  # Redis's busy-reply-threshold (lua-time-limit)


def holds(head, waited_s: float, busy_ms: int) -> bool:
    """Is a connection whose oldest request is head, in flight for waited_s, held by a script
    the node already answers others -BUSY for?"""
    spec = getattr(head, "spec", None)
    return spec is not None and spec.name in SCRIPTS and waited_s * 1000 > busy_ms


class _Part:
    __slots__ = ("kill", "conn", "reply")

    def __init__(self, kill, conn):
        self.kill, self.conn, self.reply = kill, conn, None

    def complete(self, reply: bytes) -> None:
        self.reply = reply
        self.conn.close()
        self.kill.part_done()


class _Kill(Request):
    __slots__ = ("parts",)

    def part_done(self) -> None:
        if all(p.reply is not None for p in self.parts):
            self.complete(merge([p.reply for p in self.parts]))


def merge(replies: list[bytes]) -> bytes:
    """+OK if a group's node killed its script; else its error (-NOTBUSY when none ran)."""
    for r in replies:
        if not r.startswith(b"-"):
            return r
    for r in replies:
        if not r.startswith(b"-NOTBUSY"):
            return r
    return replies[0]


def kill(session, spec, argv: list[bytes], t0: float) -> None:
    from xcache.proxy.keyspace import fanout_request

    started = fanout_request(session, spec, argv, t0, _Kill)
    if started is None:
        return
    req, gs = started
    req.parts = []
    for g, _slot in gs:
        conn = Pinned(session, g)
        part = _Part(req, conn)
        req.parts.append(part)
        conn.send(part, pack(argv))


def ping(session, spec, argv: list[bytes], t0: float) -> bool:
    """PING while a group's node runs a long script: that node answers it (-BUSY), as the one
    Redis a client believes it talks to would."""
    if len(argv) > 2:
        return False  # the arity error is the proxy's own
    group = min(session.ctx.busy_groups, key=lambda g: g.id)
    session.drain_routed()
    req = Request(session, spec, pack(argv), 0, t0, argv)
    session.pending.append(req)
    if not clientpause.redirect(group, req):
        session.pending.pop()
        return False
    return True
