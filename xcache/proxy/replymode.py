"""CLIENT REPLY ON|OFF|SKIP for a proxy session, as Redis's CLIENT_REPLY_OFF/SKIP flags.

The mode is a marker (pending.ReplyMode) queued in the session's `pending` in order, so it takes
effect for exactly the replies released after its own, whatever order the backends answer in.
While any marker is queued or a mode is in force, Session.request_done releases through
`release` here (the plain path stays as fast as before): the replies of commands are dropped;
pushes (pub/sub messages, (un)subscribe confirmations) are not; SKIP drops the next command's
reply (a pipelined batch's first).
"""

from __future__ import annotations

from time import perf_counter

from xcache.proxy import pubsub
from xcache.proxy.pending import Pushed, ReplyMode


def set_mode(session, spec, mode: bytes, reply: bytes, t0: float) -> None:
    """CLIENT REPLY ON|OFF|SKIP (or RESET: ON with +RESET): takes effect after its own reply."""
    if session.routed:
        session.drain_routed()
    session.filtering = True
    session.pending.append(ReplyMode(spec, mode, reply, t0))
    session.request_done(session.pending[0])


def release(session) -> None:
    """Session.request_done while filtering: release every answered head of `pending`."""
    pending, out, ctx = session.pending, session.out, session.ctx
    t1 = perf_counter()
    while pending and pending[0].reply is not None:
        r = pending.popleft()
        reply = r.reply
        if r.batch:
            for i, (spec, _, _) in enumerate(r.items):
                ctx.count(spec, b"-" if i in r.errs else b"+", r.t0, t1)
        elif r.spec is not None and reply:
            ctx.count(r.spec, reply, r.t0, t1)
        if r.__class__ is ReplyMode:
            session.silence = b"" if r.mode == b"ON" else r.mode
        elif r.__class__ is Pushed:
            pass
        elif r.spec is not None and r.spec.name in pubsub.PUSH_REPLIES:
            if session.silence == b"SKIP":  # a command all the same: the skip is used up
                session.silence = b""
        elif session.silence == b"SKIP":
            reply = b"".join(r.parts[1:]) if r.batch else b""
            session.silence = b""
        elif session.silence:
            reply = b""
        if reply:
            out.append(reply)
    if not session.silence and not any(r.__class__ is ReplyMode for r in pending):
        session.filtering = False
    session.mark()
    if session.paused and len(pending) < ctx.cfg.max_pending_per_session // 2:
        session.paused = False
        if not session.write_paused:
            session.transport.resume_reading()
