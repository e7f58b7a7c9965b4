"""One client's line of CLIENT LIST / CLIENT INFO (shared by admin.py and the ACL LOG), with
the fields of Redis 7's catClientInfoString (networking.c).

qbuf is the bytes of the request stream read and not yet consumed: for the client running the
command, the whole read that brought it (Redis trims its query buffer after the read's commands
ran); argv-mem is the running command's argument bytes; qbuf-free follows Redis's query buffer
(xcache/querybuf.py), rbs and rbp its reply buffer (xcache/replybuf.py). Redis's other allocator figures (tot-mem) have no counterpart here and
are 0."""

from __future__ import annotations

POINTER_BYTES = 8  # Redis counts an argv pointer per queued argument in multi-mem


def _flags(c) -> str:
    flags = ""
    if c.kind == "monitor":
        flags += "O"
    elif c.kind == "replica":
        flags += "S"
    elif c.kind == "master":
        flags += "M"
    if c.channels or c.patterns or c.shard_channels:
        flags += "P"
    if c.multi is not None:
        flags += "x"
    if c.blocked is not None:
        flags += "b"
    tracking = c.tracking
    if tracking is not None:
        flags += "t"
        if tracking.redirect and tracking.redirect != c.id and tracking.redirect not in c.server.clients:
            flags += "R"
        if tracking.bcast:
            flags += "B"
    if c.dirty_cas:
        flags += "d"
    if c.close_after_reply:
        flags += "c"
    if c.no_evict:
        flags += "e"
    if c.no_touch:  # Redis 7.2's flag
        flags += "T"
    return flags or "N"


def client_line(c, now: float, running=None, argv: list[bytes] = ()) -> str:
    """c's line; running is the client whose command asks (argv: that command's arguments)."""
    if c is running:
        qbuf = c.qbuf_read
        argv_mem = sum(len(a) for a in argv)
    else:
        qbuf = c.parser.buffered()
        argv_mem = 0
    multi = len(c.multi) if c.multi is not None else -1
    multi_mem = sum(sum(len(a) for a in q[1]) + POINTER_BYTES * len(q[1])
                    for q in c.multi) if c.multi else 0
    redir = c.tracking.redirect if c.tracking is not None else -1
    cmd = c.last_full.name if c.last_full is not None else "NULL"
    return (f"id={c.id} addr={c.addr} laddr={c.laddr} fd={c.fd} name={c.name.decode(errors='replace')} "
            f"age={int(now - c.created)} idle={int(now - c.last_interaction)} flags={_flags(c)} "
            f"db={c.db} sub={len(c.channels)} psub={len(c.patterns)} ssub={len(c.shard_channels)} "
            f"multi={multi} qbuf={qbuf} qbuf-free={max(0, c.qbuf_alloc - qbuf)} argv-mem={argv_mem} "
            f"multi-mem={multi_mem} rbs={c.rbuf_size} rbp={c.rbuf_peak} obl=0 oll=0 omem=0 tot-mem=0 events=r "
            f"cmd={cmd} user={c.user.name} redir={redir} resp={c.resp} "
            f"lib-name={c.lib_name.decode(errors='replace')} lib-ver={c.lib_ver.decode(errors='replace')}")
