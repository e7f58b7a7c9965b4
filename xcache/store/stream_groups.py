"""Consumer groups: XGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM, on the layout of stream_model.py
(group records, PEL entries and consumers under the key's collection prefix). XREAD and XREADGROUP
are in stream_read.py (imported here, which registers them), the PEL bookkeeping both share in
stream_pel.py.

Replication: a replica never re-decides a delivery. XCLAIM/XAUTOCLAIM replicate as XCLAIMs
(`FORCE JUSTID LASTID`) of what they changed, and a consumer created on the way as
`XGROUP CREATECONSUMER` (XREADGROUP likewise, see stream_read.py).
"""

from __future__ import annotations

from xcache.resp import NULL_ARRAY, OK, Error
from xcache.store import stream_read  # noqa: F401 - registers XREAD, XREADGROUP
from xcache.store.commands import SYNTAX_ERROR, command, parse_int
from xcache.store.engine import now_ms
from xcache.store.stream_model import (
    _ID,
    INVALID_READ,
    ZERO_ID,
    Group,
    Nack,
    _gp,
    _nogroup,
    _nogroup_for,
    _start_end,
    create,
    entry_reply,
    fmt_id,
    incr_id,
    lookup,
    parse_id,
    parse_interval,
    parse_strict,
)
from xcache.store.stream_pel import Consumers, _created, _drop_nack, _take, _xclaim_cmd
from xcache.store.subcommands import help_reply, parse_subcommand

BUSYGROUP = Error("BUSYGROUP Consumer Group name already exists")
NEED_KEY = Error("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you "
                 "may want to use the MKSTREAM option to create an empty stream automatically.")


# --- XGROUP ----------------------------------------------------------------------------------

XGROUP_ARITY = {b"CREATE": -5, b"SETID": -5, b"DESTROY": 4, b"CREATECONSUMER": 5,
                b"DELCONSUMER": 5, b"HELP": 2}




# Redis 7.0's XGROUP help[] (src/t_stream.c): every subcommand is served
XGROUP_HELP = (
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
)


@command("xgroup", -2, "write", 2, 2, 1)
def xgroup(c, args):
    sub = parse_subcommand("xgroup", XGROUP_ARITY, args)
    if sub == b"HELP":
        c.propagate = []
        return help_reply("XGROUP", XGROUP_HELP)
    key, gname = args[1], args[2]
    mkstream = False
    entries_read = INVALID_READ
    if sub in (b"CREATE", b"SETID"):
        i = 4
        while i < len(args):
            opt = args[i].upper()
            if sub == b"CREATE" and opt == b"MKSTREAM":
                mkstream = True
            elif i + 1 < len(args) and opt == b"ENTRIESREAD":
                entries_read = parse_int(args[i + 1])
                if entries_read < 0 and entries_read != INVALID_READ:
                    raise Error("ERR value for ENTRIESREAD must be positive or -1")
                i += 1
            else:
                raise Error(f"ERR unknown subcommand or wrong number of arguments for "
                            f"'{args[0].decode(errors='replace')}'. Try XGROUP HELP.")
            i += 1
    s = lookup(c, key)
    g = None
    if not mkstream:
        if s is None:
            raise NEED_KEY
        g = s.get_group(gname)
        if g is None and sub in (b"SETID", b"CREATECONSUMER", b"DELCONSUMER"):
            raise _nogroup_for(key, gname)
    elif s is not None:
        g = s.get_group(gname)
    b = c.engine.batch()
    if sub == b"CREATE":
        if len(args) > 7:
            raise Error("ERR unknown subcommand or wrong number of arguments for "
                        f"'{args[0].decode(errors='replace')}'. Try XGROUP HELP.")
        if args[3] == b"$":
            id_ = s.last_id if s is not None else ZERO_ID
        else:
            id_ = parse_strict(args[3])
        if s is None:
            s = create(c, key)
        elif g is not None:
            raise BUSYGROUP
        s.put_group(b, Group(gname, id_, entries_read, 0))
        s.groups += 1
        s.save(b)
        c.engine.commit(b)
        c.propagate = [b"XGROUP", b"CREATE", key, gname, fmt_id(id_), b"ENTRIESREAD",
                       b"%d" % entries_read] + ([b"MKSTREAM"] if mkstream else [])
        return OK
    if sub == b"SETID":
        if len(args) not in (4, 6):
            raise Error("ERR unknown subcommand or wrong number of arguments for "
                        f"'{args[0].decode(errors='replace')}'. Try XGROUP HELP.")
        id_ = s.last_id if args[3] == b"$" else parse_id(args[3], False, 0)[0]
        g.last_id = id_
        g.entries_read = entries_read
        s.put_group(b, g)
        c.engine.commit(b)
        c.propagate = [b"XGROUP", b"SETID", key, gname, fmt_id(id_), b"ENTRIESREAD",
                       b"%d" % entries_read]
        return OK
    if sub == b"DESTROY":
        if g is None:
            c.propagate = []
            return 0
        b.delete_data(s.gkey(gname))
        for sub_prefix in (b"p", b"c", b"q"):  # its PEL, consumers and consumer PELs: O(group)
            for k, _ in c.engine.scan(c.engine.data, s.prefix + sub_prefix + _gp(gname)):
                b.delete_data(k)
        s.groups -= 1
        s.save(b)
        c.engine.commit(b)
        c.server.signal_key(c.db, key)
        return 1
    if sub == b"CREATECONSUMER":
        if s.get_consumer(gname, args[3]) is not None:
            c.propagate = []
            return 0
        s.put_consumer(b, gname, args[3], now_ms(), 0)
        c.engine.commit(b)
        return 1
    # DELCONSUMER
    rec = s.get_consumer(gname, args[3])
    if rec is None:
        c.propagate = []
        return 0
    ids = list(s.consumer_pel(gname, args[3]))
    for id_ in ids:
        b.delete_data(s.pkey(gname, id_))
        b.delete_data(s.qkey(gname, args[3], id_))
    g.pel_count -= len(ids)
    s.put_group(b, g)
    b.delete_data(s.ckey(gname, args[3]))
    c.engine.commit(b)
    return len(ids)


# --- XACK / XPENDING / XCLAIM / XAUTOCLAIM ----------------------------------------------------

@command("xack", -4, "write fast")
def xack(c, args):
    key, gname = args[0], args[1]
    s = lookup(c, key)
    g = s.get_group(gname) if s is not None else None
    if g is None:  # no key or group: nothing to ack (before the ids are parsed, as Redis)
        c.propagate = []
        return 0
    ids = [parse_strict(a) for a in args[2:]]
    b = c.engine.batch()
    cons = Consumers(s, g)
    acked = 0
    for id_ in dict.fromkeys(ids):
        nack = s.get_nack(gname, id_)
        if nack is None:
            continue
        _drop_nack(s, b, cons, nack)
        acked += 1
    if not acked:
        c.propagate = []
        return 0
    cons.save(b)
    s.put_group(b, g)
    c.engine.commit(b)
    return acked


@command("xpending", -3, "readonly")
def xpending(c, args):
    key, gname = args[0], args[1]
    n = len(args) + 1
    if n != 3 and (n < 6 or n > 9):
        raise SYNTAX_ERROR
    extended = n >= 6
    min_idle = 0
    consumer = None
    if extended:
        at = 2
        if args[2].upper() == b"IDLE":
            min_idle = parse_int(args[3])
            if n < 8:
                raise SYNTAX_ERROR
            at = 4
        count = max(parse_int(args[at + 2]), 0)
        start, end = _start_end(args[at:at + 2])
        if at + 3 < len(args):
            consumer = args[at + 3]
    s = lookup(c, key)
    g = s.get_group(gname) if s is not None else None
    if g is None:
        raise _nogroup(key, gname)
    if not extended:
        if not g.pel_count:
            return [0, None, None, NULL_ARRAY]
        first = next(iter(s.group_pel(gname, count=1))).id
        last = None
        p = s.prefix + b"p" + _gp(gname)
        for k, _ in c.engine.scan(c.engine.data, p, reverse=True):
            last = _ID.unpack_from(k, len(p))
            break
        per = [[name, b"%d" % pel] for name, _, pel in s.consumers(gname) if pel > 0]
        return [g.pel_count, fmt_id(first), fmt_id(last), per]
    if count == 0 or start > end:
        return []
    now = now_ms()
    out = []
    if consumer is not None:
        ids = s.consumer_pel(gname, consumer, start, end)
        nacks = (s.get_nack(gname, id_) for id_ in ids)
    else:
        nacks = s.group_pel(gname, start, end)
    for nack in nacks:
        idle = now - nack.delivery_ms
        if min_idle and idle < min_idle:
            continue
        out.append([fmt_id(nack.id), nack.consumer, max(idle, 0), nack.count])
        if len(out) >= count:
            break
    return out


def _parse_min_idle(raw: bytes, cmd: str) -> int:
    return max(parse_int(raw, Error(f"ERR Invalid min-idle-time argument for {cmd}")), 0)


def _advance_entries_read(s, g, last_id) -> None:
    """The group's entries_read once its last id moves to last_id, as XREADGROUP counts it on
    the master: Redis 7.0 sends a read's XCLAIMs without it (its replicas' lag drifted until
    7.2's redis#12898); a replica counts the entries the read passed, as the read did."""
    start = incr_id(g.last_id)
    for id_, _ in s.range(start, last_id) if start is not None else ():
        if g.entries_read != INVALID_READ and not s.has_tombstones(id_):  # as _serve_group
            g.entries_read += 1
        elif s.entries_added:
            g.entries_read = s.estimate_distance(id_)


@command("xclaim", -6, "write fast")
def xclaim(c, args):
    key, gname, consumer = args[0], args[1], args[2]
    s = lookup(c, key)
    g = s.get_group(gname) if s is not None else None
    if g is None:
        raise _nogroup(key, gname)
    min_idle = _parse_min_idle(args[3], "XCLAIM")
    j = 4
    ids = []
    while j < len(args):
        try:
            ids.append(parse_strict(args[j]))
        except Error:
            break
        j += 1
    now = now_ms()
    delivery = -1
    retrycount = -1
    force = justid = False
    last_id = ZERO_ID
    while j < len(args):
        more = len(args) - 1 - j
        opt = args[j].upper()
        if opt == b"FORCE":
            force = True
        elif opt == b"JUSTID":
            justid = True
        elif opt == b"IDLE" and more:
            j += 1
            delivery = now - parse_int(args[j], Error("ERR Invalid IDLE option argument for XCLAIM"))
        elif opt == b"TIME" and more:
            j += 1
            delivery = parse_int(args[j], Error("ERR Invalid TIME option argument for XCLAIM"))
        elif opt == b"RETRYCOUNT" and more:
            j += 1
            retrycount = parse_int(args[j], Error("ERR Invalid RETRYCOUNT option argument for XCLAIM"))
        elif opt == b"LASTID" and more:
            j += 1
            last_id = parse_strict(args[j])
        else:
            raise Error(f"ERR Unrecognized XCLAIM option '{args[j].decode(errors='replace')}'")
        j += 1
    if delivery == -1 or delivery < 0 or delivery > now:
        delivery = now
    b = c.engine.batch()
    cons = Consumers(s, g)
    cmds: list = []
    propagate_last = False
    if last_id > g.last_id:
        if c.kind == "master":  # a replica following XREADGROUP's XCLAIMs (stream_read.py)
            _advance_entries_read(s, g, last_id)
        g.last_id = last_id
        propagate_last = True
    out = []
    got_consumer = False
    for id_ in ids:
        nack = s.get_nack(gname, id_)
        fields = s.get_entry(id_)
        if fields is None:
            if nack is not None:
                cmds.append(_xclaim_cmd(key, g, nack))
                propagate_last = False
                _drop_nack(s, b, cons, nack)
            continue
        if force and nack is None:
            nack = Nack(id_, now, 1, b"")
            g.pel_count += 1
        if nack is None:
            continue
        if nack.consumer and min_idle and now - nack.delivery_ms < min_idle:
            continue
        if not got_consumer:
            cons.get(consumer)
            got_consumer = True
        nack.delivery_ms = delivery
        if retrycount >= 0:
            nack.count = retrycount
        elif not justid:
            nack.count += 1
        _take(s, b, cons, nack, consumer)
        out.append(fmt_id(id_) if justid else entry_reply(id_, fields))
        cmds.append(_xclaim_cmd(key, g, nack))
        propagate_last = False
    if propagate_last:
        cmds.append([b"XGROUP", b"SETID", key, gname, fmt_id(g.last_id), b"ENTRIESREAD",
                     b"%d" % g.entries_read])
    cons.save(b)
    s.put_group(b, g)
    c.engine.commit(b)
    created = []
    _created(created, key, gname, cons)
    c.propagate = created + cmds if (cmds or created) else []
    return out


@command("xautoclaim", -6, "write fast")
def xautoclaim(c, args):
    key, gname, consumer = args[0], args[1], args[2]
    min_idle = _parse_min_idle(args[3], "XAUTOCLAIM")
    start, ex = parse_interval(args[4], 0)
    if ex:
        start = incr_id(start)
        if start is None:
            raise Error("ERR invalid start ID for the interval")
    count = 100
    justid = False
    j = 5
    while j < len(args):
        more = len(args) - 1 - j
        opt = args[j].upper()
        if opt == b"COUNT" and more:
            count = parse_int(args[j + 1], Error("ERR COUNT must be > 0"))
            if count < 1 or count > (1 << 63) // 16:
                raise Error("ERR COUNT must be > 0")
            j += 2
        elif opt == b"JUSTID":
            justid = True
            j += 1
        else:
            raise SYNTAX_ERROR
    s = lookup(c, key)
    g = s.get_group(gname) if s is not None else None
    if g is None:
        raise _nogroup(key, gname)
    attempts = count * 10
    now = now_ms()
    b = c.engine.batch()
    cons = Consumers(s, g)
    cmds: list = []
    out, deleted = [], []
    cursor = ZERO_ID
    got_consumer = False
    pel = s.group_pel(gname, start)
    for nack in pel:
        if not attempts or not count:
            cursor = nack.id
            break
        attempts -= 1
        fields = s.get_entry(nack.id)
        if fields is None:
            cmds.append(_xclaim_cmd(key, g, nack))
            _drop_nack(s, b, cons, nack)
            deleted.append(fmt_id(nack.id))
            count -= 1
            continue
        if min_idle and now - nack.delivery_ms < min_idle:
            continue
        if not got_consumer:
            cons.get(consumer)
            got_consumer = True
        nack.delivery_ms = now
        if not justid:
            nack.count += 1
        _take(s, b, cons, nack, consumer)
        out.append(fmt_id(nack.id) if justid else entry_reply(nack.id, fields))
        count -= 1
        cmds.append(_xclaim_cmd(key, g, nack))
    cons.save(b)
    s.put_group(b, g)
    c.engine.commit(b)
    created: list = []
    _created(created, key, gname, cons)
    c.propagate = created + cmds if (cmds or created) else []
    return [fmt_id(cursor), out, deleted]
