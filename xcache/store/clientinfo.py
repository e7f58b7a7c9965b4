"""One client's line of CLIENT LIST / CLIENT INFO (shared by admin.py and the ACL LOG)."""

from __future__ import annotations


def client_line(c, now: float) -> str:
    flags = "S" if c.kind == "replica" else "M" if c.kind == "master" else "P" if (c.channels or c.patterns or c.shard_channels) else ""
    if c.multi is not None:
        flags += "x"
    if c.tracking is not None:
        flags += "t"
    if c.no_evict:
        flags += "e"
    if c.no_touch:
        flags += "T"
    redir = c.tracking.redirect if c.tracking is not None else -1
    return (f"id={c.id} addr={c.addr} laddr={c.laddr} fd=-1 name={c.name.decode(errors='replace')} "
            f"age={int(now - c.created)} idle={int(now - c.last_interaction)} flags={flags or 'N'} "
            f"db={c.db} sub={len(c.channels)} psub={len(c.patterns)} ssub={len(c.shard_channels)} "
            f"multi={len(c.multi) if c.multi is not None else -1} qbuf=0 qbuf-free=0 argv-mem=0 "
            f"multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r "
            f"cmd={c.last_cmd.decode(errors='replace')} user={c.user.name} redir={redir} resp={c.resp} "
            f"lib-name={c.lib_name.decode(errors='replace')} lib-ver={c.lib_ver.decode(errors='replace')}")
