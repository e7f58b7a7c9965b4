"""CLIENT PAUSE / UNPAUSE through the proxy: the nodes pause, the shared connections stay free.

CLIENT PAUSE runs on every group's node, which decides what waits exactly as Redis does (writes,
may-replicate commands, scripts without `no-writes`, an EXEC of a write block; with ALL
everything). A node pauses per connection, though, and a pooled backend connection carries every
session's requests: one paused write there would hold all the requests behind it, among them the
INFO or CLIENT UNPAUSE that would end the wait. So while a pause lasts (as this worker saw it
start; a margin past its timeout, as the nodes' clocks may lag), each session's requests to a
group's master travel on a connection of the session's own (the one its blocking commands use),
where a paused command holds only its own client, as in Redis. INFO's blocked_clients is then the
nodes' count, which includes the clients they hold paused (Redis counts those as blocked).
"""

from __future__ import annotations

from xcache.numbers import string2ll
from xcache.proxy.pinned import take_spare
from xcache.proxy.replies import pack

MARGIN_S = 1.0


def handle(session, spec, argv: list[bytes], t0: float) -> None:
    """CLIENT PAUSE timeout [WRITE|ALL] / CLIENT UNPAUSE, on every group's node."""
    from xcache.proxy.keyspace import gather, merged

    ctx = session.ctx
    before = ctx.pause_until
    if argv[1].upper() == b"PAUSE":
        ms = string2ll(argv[2])
        if ms is not None and ms >= 0:  # before the command goes out: what follows it must not queue behind a pause
            ctx.pause_until = max(before, ctx.loop.time() + ms / 1000 + MARGIN_S)

        def done(replies):
            if any(r.startswith(b"-") for r in replies):
                ctx.pause_until = before  # refused (bad timeout or mode): nothing paused
            return merged(lambda r: r[0])(replies)
    else:
        def done(replies):
            if not any(r.startswith(b"-") for r in replies):
                ctx.pause_until = 0.0  # the nodes serve everyone again: back to pooled connections
            return merged(lambda r: r[0])(replies)
    gather(session, spec, argv, t0, done)


def paused(ctx) -> bool:
    return ctx.now < ctx.pause_until


def redirect(group, req) -> bool:
    """Send req on its session's own connection to group's master (True), if it has a session
    and, for a new one, the worker holds fewer such connections than max_blocked_sessions."""
    session = getattr(req, "session", None)
    if session is None or session.closed:
        return False
    if req.batch:
        raw = getattr(req, "raw", None)  # a transaction (MULTI ... EXEC), answered by its last
        if raw is None:  # a pipelined batch travels on pooled connections only
            return False
        n = req.n
    else:
        raw, n = req.raw or pack(req.argv), 1
    conn = session.block_conns.get(group.id)
    if conn is None or conn.closed or conn.addr != group.master:
        ctx = session.ctx
        if len(ctx.pinned) >= ctx.cfg.max_blocked_sessions:
            return False  # as many own connections as blocked sessions may hold: the shared one
        if conn is not None:
            conn.close()
        conn = session.block_conns[group.id] = take_spare(session, group)
    conn.send(req, raw, n)
    return True


def queue(session, argv: list[bytes]) -> bool:
    """May CLIENT PAUSE/UNPAUSE be queued in a MULTI (True)? When the proxy has one group, the
    transaction's node is every node: it pauses at the end of the transaction, as Redis does."""
    from xcache.proxy.keyspace import groups

    sub = argv[1].upper() if len(argv) > 1 else b""
    if sub not in (b"PAUSE", b"UNPAUSE") or len(groups(session.ctx)) != 1:
        return False
    if sub == b"PAUSE" and len(argv) > 2:
        ms = string2ll(argv[2])
        if ms is not None and ms >= 0:  # an UNPAUSE in a transaction leaves this to run out: it only costs connections
            ctx = session.ctx
            ctx.pause_until = max(ctx.pause_until, ctx.loop.time() + ms / 1000 + MARGIN_S)
    return True
