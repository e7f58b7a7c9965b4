"""Which keyspace events a write command raises, as Redis 7.0's commands call
notifyKeyspaceEvent (t_string.c, t_list.c, t_set.c, t_zset.c, t_hash.c, t_stream.c, db.c, ...).

Read off the command, its reply and the keys' existence before and after it (so no data type
module knows about notifications): `before` snapshots existence, `after` publishes
- `new` for each key the command created (dbAdd's event, published first),
- the command's own events (RULES, in Redis's order),
- `del` for each key the command removed (a container emptied, DEL, an EXPIRE in the past, an
  empty STORE result), unless a rule placed it or the key moved (RENAME, MOVE).
"""

from __future__ import annotations

from xcache.resp import Error
from xcache.store.commands import COMMANDS
from xcache.store.notify import GENERIC, HASH, LIST, NEW, SET, STREAM, STRING, ZSET, notify

_NOTE = object()  # before()'s note for SMOVE (dst had the member) and ZADD (the old scores)
DEL_HERE = object()  # a rule's marker: the generic `del` of this key goes at this point
_EXPIRY_OPTS = {b"EX", b"PX", b"EXAT", b"PXAT"}
_ZADD_OPTS = {b"NX", b"XX", b"GT", b"LT", b"CH", b"INCR"}
_MOVED = {b"rename", b"renamenx", b"move"}
# a time in the past deletes the key: `del` (the generic one) instead of `expire`
_EXPIRES = {b"expire", b"pexpire", b"expireat", b"pexpireat", b"getex"}


def _opts(args: list[bytes]) -> set[bytes]:
    return {a.upper() for a in args}


def _set(a, r):
    opts = _opts(a[3:])
    if b"GET" in opts:
        done = r is None if b"NX" in opts else r is not None if b"XX" in opts else True
    else:
        done = r is not None
    if not done:
        return []
    return [(STRING, b"set", a[1])] + ([(GENERIC, b"expire", a[1])] if opts & _EXPIRY_OPTS else [])


def _getex(a, r):
    return [(GENERIC, b"expire", a[1])] if r is not None and _opts(a[2:]) & _EXPIRY_OPTS else []


def _zadd(a, r):
    """ZADD INCR; otherwise after() compares the scores before and after."""
    return [(ZSET, b"zincr", a[1])] if r is not None else []


def _lmove(a, r, src_end: bytes, dst_end: bytes):
    if r is None:
        return []
    return [(LIST, dst_end + b"push", a[2]), (LIST, src_end + b"pop", a[1]), (DEL_HERE, a[1])]


def _popped(r) -> bool:
    return r is not None and r != []


def _by_reply(cls: int, event: bytes, pos: int = 1):
    """The event on argv[pos] when the reply is a positive count, a value, or OK."""
    def rule(a, r):
        ok = r > 0 if type(r) is int else _popped(r)
        return [(cls, event, a[pos])] if ok else []
    return rule


def _always(cls: int, event: bytes, pos: int = 1):
    return lambda a, r: [(cls, event, a[pos])]


def _each(cls: int, event: bytes, start: int, step: int, cond=lambda r: True):
    return lambda a, r: [(cls, event, k) for k in a[start::step]] if cond(r) else []


def _mpop(cls: int, ends: dict):
    """LMPOP/ZMPOP (and the blocking forms): the reply names the key."""
    def rule(a, r):
        if not _popped(r):
            return []
        end = next((ends[x.upper()] for x in a if x.upper() in ends), None)
        return [(cls, end, r[0])] if end else []
    return rule


def _bpop(cls: int, event: bytes):
    """BLPOP/BRPOP/BZPOPMIN/BZPOPMAX served at once: the reply names the key."""
    return lambda a, r: [(cls, event, r[0])] if _popped(r) else []


def _smove(a, r, dst_had_member: bool):
    if r != 1 or a[1] == a[2]:
        return []
    return [(SET, b"srem", a[1]), (DEL_HERE, a[1])] + ([] if dst_had_member else [(SET, b"sadd", a[2])])


def _store_option(a, names: set[bytes]):
    for i in range(len(a) - 1):
        if a[i].upper() in names:
            return a[i + 1]
    return None


def _sort(a, r):
    dst = _store_option(a[2:], {b"STORE"})
    return [(LIST, b"sortstore", dst)] if dst is not None and r else []


def _georadius(a, r):
    dst = _store_option(a[2:], {b"STORE", b"STOREDIST"})
    return [(ZSET, b"georadiusstore", dst)] if dst is not None and r else []


def _expire(a, r):
    return [(GENERIC, b"expire", a[1])] if r == 1 else []


def _rename(a, r):
    if r == 0 or a[1] == a[2]:
        return []
    return [(GENERIC, b"rename_from", a[1]), (GENERIC, b"rename_to", a[2])]


def _xgroup(a, r):
    sub = a[1].upper()
    if sub == b"CREATE":
        return [(STREAM, b"xgroup-create", a[2])]
    if sub == b"SETID":
        return [(STREAM, b"xgroup-setid", a[2])]
    if sub == b"DESTROY":
        return [(STREAM, b"xgroup-destroy", a[2])] if r == 1 else []
    if sub == b"CREATECONSUMER":
        return [(STREAM, b"xgroup-createconsumer", a[2])] if r == 1 else []
    if sub == b"DELCONSUMER":  # an unknown consumer propagates (and notifies) nothing
        return [(STREAM, b"xgroup-delconsumer", a[2])]
    return []


def _xadd(a, r):  # NOMKSTREAM on a missing key answers nil
    return [(STREAM, b"xadd", a[1])] if r is not None else []


RULES = {
    b"set": _set, b"getex": _getex,
    b"setnx": _each(STRING, b"set", 1, 2, lambda r: r == 1),
    b"setex": lambda a, r: [(STRING, b"set", a[1]), (GENERIC, b"expire", a[1])],
    b"getset": _always(STRING, b"set"),
    b"mset": _each(STRING, b"set", 1, 2),
    b"msetnx": _each(STRING, b"set", 1, 2, lambda r: r == 1),
    b"setrange": lambda a, r: [(STRING, b"setrange", a[1])] if a[3] else [],
    b"append": _always(STRING, b"append"),
    b"incr": _always(STRING, b"incrby"), b"decr": _always(STRING, b"incrby"),
    b"incrby": _always(STRING, b"incrby"), b"decrby": _always(STRING, b"incrby"),
    b"incrbyfloat": _always(STRING, b"incrbyfloat"),
    b"setbit": _always(STRING, b"setbit"),
    b"bitfield": lambda a, r: ([(STRING, b"setbit", a[1])]
                               if _opts(a[2:]) & {b"SET", b"INCRBY"} else []),
    b"bitop": _by_reply(STRING, b"set", 2),
    b"pfadd": _by_reply(STRING, b"pfadd"),
    b"pfmerge": _always(STRING, b"pfadd"),
    b"lpush": _by_reply(LIST, b"lpush"), b"rpush": _by_reply(LIST, b"rpush"),
    b"lpushx": _by_reply(LIST, b"lpush"), b"rpushx": _by_reply(LIST, b"rpush"),
    b"linsert": _by_reply(LIST, b"linsert"),
    b"lset": _always(LIST, b"lset"),
    b"lrem": _by_reply(LIST, b"lrem"),
    b"ltrim": _always(LIST, b"ltrim"),
    b"lpop": _by_reply(LIST, b"lpop"), b"rpop": _by_reply(LIST, b"rpop"),
    b"blpop": _bpop(LIST, b"lpop"), b"brpop": _bpop(LIST, b"rpop"),
    b"rpoplpush": lambda a, r: _lmove(a, r, b"r", b"l"),
    b"brpoplpush": lambda a, r: _lmove(a, r, b"r", b"l"),
    b"lmove": lambda a, r: _lmove(a, r, a[3].lower()[:1], a[4].lower()[:1]),
    b"blmove": lambda a, r: _lmove(a, r, a[3].lower()[:1], a[4].lower()[:1]),
    b"lmpop": _mpop(LIST, {b"LEFT": b"lpop", b"RIGHT": b"rpop"}),
    b"blmpop": _mpop(LIST, {b"LEFT": b"lpop", b"RIGHT": b"rpop"}),
    b"sort": _sort,
    b"sadd": _by_reply(SET, b"sadd"), b"srem": _by_reply(SET, b"srem"),
    b"spop": _by_reply(SET, b"spop"),
    b"sinterstore": _by_reply(SET, b"sinterstore"),
    b"sunionstore": _by_reply(SET, b"sunionstore"),
    b"sdiffstore": _by_reply(SET, b"sdiffstore"),
    b"hset": _always(HASH, b"hset"), b"hmset": _always(HASH, b"hset"),
    b"hsetnx": _by_reply(HASH, b"hset"), b"hdel": _by_reply(HASH, b"hdel"),
    b"hincrby": _always(HASH, b"hincrby"), b"hincrbyfloat": _always(HASH, b"hincrbyfloat"),
    b"zadd": _zadd,
    b"zincrby": _always(ZSET, b"zincr"),
    b"zrem": _by_reply(ZSET, b"zrem"),
    b"zremrangebyscore": _by_reply(ZSET, b"zremrangebyscore"),
    b"zremrangebyrank": _by_reply(ZSET, b"zremrangebyrank"),
    b"zremrangebylex": _by_reply(ZSET, b"zremrangebylex"),
    b"zpopmin": _by_reply(ZSET, b"zpopmin"), b"zpopmax": _by_reply(ZSET, b"zpopmax"),
    b"bzpopmin": _bpop(ZSET, b"zpopmin"), b"bzpopmax": _bpop(ZSET, b"zpopmax"),
    b"zmpop": _mpop(ZSET, {b"MIN": b"zpopmin", b"MAX": b"zpopmax"}),
    b"bzmpop": _mpop(ZSET, {b"MIN": b"zpopmin", b"MAX": b"zpopmax"}),
    b"zunionstore": _by_reply(ZSET, b"zunionstore"),
    b"zinterstore": _by_reply(ZSET, b"zinterstore"),
    b"zdiffstore": _by_reply(ZSET, b"zdiffstore"),
    b"zrangestore": _by_reply(ZSET, b"zrangestore"),
    b"geosearchstore": _by_reply(ZSET, b"geosearchstore"),
    b"georadius": _georadius, b"georadiusbymember": _georadius,
    b"expire": _expire, b"pexpire": _expire, b"expireat": _expire, b"pexpireat": _expire,
    b"persist": lambda a, r: [(GENERIC, b"persist", a[1])] if r == 1 else [],
    b"rename": _rename, b"renamenx": _rename,
    b"restore": _always(GENERIC, b"restore"),
    b"xadd": _xadd,
    b"xtrim": _by_reply(STREAM, b"xtrim"), b"xdel": _by_reply(STREAM, b"xdel"),
    b"xsetid": _always(STREAM, b"xsetid"),
    b"xgroup": _xgroup,
}
RULES[b"psetex"] = RULES[b"setex"]


def store_keys(name: bytes, a: list[bytes]) -> list[bytes]:
    """Written keys that the key spec does not list (SORT/GEORADIUS ... STORE dst)."""
    if name in (b"lmpop", b"zmpop", b"blmpop", b"bzmpop"):  # numkeys key...
        at = 2 if name[0] == ord("b") else 1
        return a[at + 1:at + 1 + int(a[at])] if a[at].isdigit() else []
    if name == b"sort":
        dst = _store_option(a[2:], {b"STORE"})
    elif name in (b"georadius", b"georadiusbymember"):
        dst = _store_option(a[2:], {b"STORE", b"STOREDIST"})
    else:
        return []
    return [dst] if dst is not None else []


def _readded(name: bytes, a: list[bytes], r) -> dict:
    """Keys these commands dbDelete (if present) and dbAdd: `new` even when one was replaced;
    key -> its db (None: the client's)."""
    if name in (b"rename", b"renamenx") and r != 0 and a[1] != a[2]:
        return {a[2]: None}
    if name == b"restore":
        return {a[1]: None}
    if name == b"copy" and r == 1:
        dst_db = _store_option(a[3:], {b"DB"})
        return {a[2]: int(dst_db) if dst_db else None}
    if name == b"move" and r == 1:
        return {a[1]: int(a[2])}
    return {}


def before(c, cmd, argv: list[bytes]) -> dict:
    """Which of the command's keys exist now (and, for SMOVE, whether the destination already
    holds the member: then only `srem` is published)."""
    engine, db = c.engine, c.db
    name = argv[0].lower()
    keys = cmd.keys(argv) + store_keys(name, argv)
    existed: dict = {k: engine.get_meta(db, k) is not None for k in keys}
    if name == b"smove" and len(argv) == 4:
        try:
            existed[_NOTE] = COMMANDS[b"sismember"].handler(c, [argv[2], argv[3]]) == 1
        except Error:
            existed[_NOTE] = False  # WRONGTYPE: SMOVE fails the same way
    elif name in (b"zadd", b"geoadd") and (members := _zadd_members(argv)):
        existed[_NOTE] = _scores(c, argv[1], members)
    return existed


def _zadd_members(a: list[bytes]) -> list[bytes] | None:
    """ZADD's (or GEOADD's) members, unless INCR (which always publishes)."""
    i = 2
    while i < len(a) and a[i].upper() in _ZADD_OPTS:
        i += 1
    if b"INCR" in _opts(a[2:i]):
        return None
    return a[i + 2::3] if a[0].lower() == b"geoadd" else a[i + 1::2]


def _scores(c, key: bytes, members: list[bytes]):
    try:
        return COMMANDS[b"zmscore"].handler(c, [key, *members])
    except Error:
        return None


def after(c, cmd, argv: list[bytes], reply, existed: dict[bytes, bool]) -> None:
    if isinstance(reply, Error) or (c.propagate is not None and not c.propagate):
        return  # failed, or the handler wrote nothing
    server, engine, db = c.server, c.engine, c.db
    name = argv[0].lower()
    note = existed.pop(_NOTE, None)
    now = {k: engine.get_meta(db, k) is not None for k in existed}
    if server.notify_flags & NEW:
        for k, was in existed.items():
            if now[k] and not was and k not in _readded(name, argv, reply):
                notify(server, NEW, b"new", k, db)
        for k, k_db in _readded(name, argv, reply).items():
            notify(server, NEW, b"new", k, db if k_db is None else k_db)
    rule = None if name in _EXPIRES and not now[argv[1]] else RULES.get(name)
    events = rule(argv, reply) if rule is not None else ()
    if name == b"smove":
        events = _smove(argv, reply, bool(note))
    elif name in (b"zadd", b"geoadd") and note is not None:  # added or updated (zadd's rule)
        changed = (type(reply) is int and reply > 0) or _scores(c, argv[1], _zadd_members(argv)) != note
        events = [(ZSET, b"zadd", argv[1])] if changed else []
    placed = set()
    for ev in events:
        if ev[0] is DEL_HERE:
            placed.add(ev[1])
            if existed.get(ev[1]) and not now.get(ev[1], True):
                notify(server, GENERIC, b"del", ev[1], db)
        else:
            notify(server, ev[0], ev[1], ev[2], db)
    if name == b"move" and reply == 1:
        notify(server, GENERIC, b"move_from", argv[1], db)
        notify(server, GENERIC, b"move_to", argv[1], int(argv[2]))
    elif name == b"copy" and reply == 1:
        dst_db = _store_option(argv[3:], {b"DB"})
        notify(server, GENERIC, b"copy_to", argv[2], int(dst_db) if dst_db else db)
    elif name in (b"xclaim", b"xautoclaim") and c.propagate:  # XREADGROUP: stream_read.py
        for one in c.propagate if type(c.propagate[0]) is list else [c.propagate]:
            if one[:2] == [b"XGROUP", b"CREATECONSUMER"]:
                notify(server, STREAM, b"xgroup-createconsumer", one[2], db)
    if name in _MOVED:
        return
    for k, was in existed.items():
        if was and not now[k] and k not in placed:
            notify(server, GENERIC, b"del", k, db)


def served(c, cmds: list, existed: dict[bytes, bool]) -> None:
    """A blocked command served later: the events of what it replicates (a pop, a move; one argv
    or several), as the pop it is (existed: its source keys before; others are taken as
    existing, so a destination it creates publishes no `new`)."""
    for argv in cmds if type(cmds[0]) is list else [cmds]:
        cmd = COMMANDS.get(argv[0].lower())
        if cmd is None:
            continue
        keys = cmd.keys(argv) + store_keys(argv[0].lower(), argv)
        after(c, cmd, argv, [b""], {k: existed.get(k, True) for k in keys})
