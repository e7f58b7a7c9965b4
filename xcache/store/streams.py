"""Streams as Redis 7.0's t_stream.c: XADD/XTRIM/XDEL/XLEN/XRANGE/XREVRANGE/XINFO/XSETID and
MIGRATE's commands for a stream. The layout and state (Stream) are in stream_model.py; reading
(XREAD/XREADGROUP) and the consumer-group commands are in stream_groups.py.

Differences from Redis, by construction: Redis keeps entries in radix-tree nodes of up to
`stream-node-max-entries` (100, a setting); here each entry is one RocksDB row, so XADD/XTRIM
with `~` trim in whole blocks of that many entries counted from the current head (Redis: its node
boundaries), and
XINFO's radix-tree-keys/nodes are estimates. Replies are otherwise Redis 7.0's.
"""

from __future__ import annotations

from dataclasses import dataclass

from xcache.resp import NULL_ARRAY, OK, Error, Map
from xcache.store.commands import SYNTAX_ERROR, command, parse_int, wrong_arity
from xcache.store.engine import Meta, now_ms
from xcache.store.stream_model import (
    INVALID_READ,
    MAX64,
    MAX_ID,
    NODE_ENTRIES,
    ZERO_ID,
    Stream,
    _nogroup_for,
    _start_end,
    create,
    entry_reply,
    fmt_id,
    incr_id,
    lookup,
    parse_id,
    parse_strict,
)
from xcache.store.subcommands import help_reply, parse_subcommand

TOP_ITEM = Error("ERR The ID specified in XADD is equal or smaller than the target stream top item")
NO_SUCH_KEY = Error("ERR no such key")

# --- XADD / XTRIM -------------------------------------------------------------------------------

@dataclass(slots=True)
class TrimArgs:
    maxlen: int | None = None
    minid: tuple[int, int] | None = None
    approx: bool = False
    limit: int = 0
    nomkstream: bool = False
    id: tuple[int, int] | None = None
    seq_given: bool = True
    id_given: bool = False
    next: int = 0  # index of the first field (XADD)


def parse_trim_args(args: list[bytes], xadd: bool, node_entries: int = NODE_ENTRIES) -> TrimArgs:
    """streamParseAddOrTrimArgsOrReply (args start after the key); node_entries: the
    stream-node-max-entries setting."""
    t = TrimArgs()
    strategy = None
    limit_given = False
    i = 0
    n = len(args)
    while i < n:
        more = n - 1 - i
        opt = args[i].upper()
        if xadd and args[i] == b"*":
            break
        if opt in (b"MAXLEN", b"MINID") and more:
            if strategy is not None:
                raise Error("ERR syntax error, MAXLEN and MINID options at the same time are not "
                            "compatible")
            nxt = args[i + 1]
            if more >= 2 and nxt == b"~":
                t.approx = True
                i += 1
            elif more >= 2 and nxt == b"=":
                i += 1
            if opt == b"MAXLEN":
                t.maxlen = parse_int(args[i + 1])
                if t.maxlen < 0:
                    raise Error("ERR The MAXLEN argument must be >= 0.")
            else:
                t.minid = parse_strict(args[i + 1])
            strategy = opt
            i += 2
            continue
        if opt == b"LIMIT" and more:
            value = parse_int(args[i + 1])
            if value < 0:
                raise Error("ERR The LIMIT argument must be >= 0.")
            t.limit = value
            limit_given = True
            i += 2
            continue
        if xadd and opt == b"NOMKSTREAM":
            t.nomkstream = True
            i += 1
            continue
        if xadd:
            t.id, t.seq_given = parse_id(args[i], True, 0, allow_partial=True)
            t.id_given = True
            break
        raise SYNTAX_ERROR
    t.next = i + 1
    if t.limit and strategy is None:
        raise Error("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy")
    if not xadd and strategy is None:
        raise Error("ERR syntax error, XTRIM must be called with a trimming strategy")
    if limit_given:
        if not t.approx:
            raise Error("ERR syntax error, LIMIT cannot be used without the special ~ option")
    elif t.approx:  # at most 100 nodes, as Redis bounds it
        t.limit = min(node_entries * 100, 1_000_000) if node_entries > 0 else 10_000
    return t


def _node_entries(c) -> int:
    """stream-node-max-entries: the size of the nodes approximate trimming removes whole."""
    return c.server.settings.int("stream-node-max-entries") or NODE_ENTRIES


def _has_trim(t: TrimArgs) -> bool:
    return t.maxlen is not None or t.minid is not None


@command("xadd", -5, "write denyoom fast")
def xadd(c, args):
    key = args[0]
    t = parse_trim_args(args[1:], True, _node_entries(c))
    fields = args[1 + t.next:]
    if len(fields) < 2 or len(fields) % 2:
        raise wrong_arity("xadd")
    if t.id_given and t.seq_given and t.id == ZERO_ID:
        raise Error("ERR The ID specified in XADD must be greater than 0-0")
    s = lookup(c, key)
    if s is None:
        if t.nomkstream:
            c.propagate = []
            return None
        s = create(c, key)
    if s.last_id == MAX_ID:
        raise Error("ERR The stream has exhausted the last possible ID, unable to add more items")
    if not t.id_given:
        ms = now_ms()
        new = (ms, 0) if ms > s.last_id[0] else incr_id(s.last_id)  # streamNextID
    elif not t.seq_given:
        ms = t.id[0]
        if ms == s.last_id[0]:
            if s.last_id[1] == MAX64:  # streamAppendItem fails with a stale errno: not EDOM
                raise Error("ERR Elements are too large to be stored")
            new = (ms, s.last_id[1] + 1)
        elif ms > s.last_id[0]:
            new = (ms, 0)
        else:
            raise TOP_ITEM
    else:
        new = t.id
        if new <= s.last_id:
            raise TOP_ITEM
    b = c.engine.batch()
    s.add_entry(b, new, fields)
    removed = s.trim(b, t.maxlen, t.minid, t.approx, t.limit, _node_entries(c)) if _has_trim(t) else 0
    s.save(b)
    c.engine.commit(b)
    # Replicas get the concrete id, and an exact trim to the same length (as Redis rewrites it).
    cmds = [[b"XADD", key, fmt_id(new), *fields]]
    if removed:
        cmds.append([b"XTRIM", key, b"MAXLEN", b"=", b"%d" % s.length])
    c.propagate = cmds
    c.server.signal_key(c.db, key)
    return fmt_id(new)


@command("xtrim", -4, "write")
def xtrim(c, args):
    key = args[0]
    t = parse_trim_args(args[1:], False, _node_entries(c))
    s = lookup(c, key)
    if s is None:
        c.propagate = []
        return 0
    b = c.engine.batch()
    removed = s.trim(b, t.maxlen, t.minid, t.approx, t.limit, _node_entries(c))
    if not removed:
        c.propagate = []
        return 0
    s.save(b)
    c.engine.commit(b)
    c.propagate = [b"XTRIM", key, b"MAXLEN", b"=", b"%d" % s.length]
    return removed


@command("xdel", -3, "write fast")
def xdel(c, args):
    key = args[0]
    s = lookup(c, key)
    if s is None:
        return 0
    ids = [parse_strict(a) for a in args[1:]]
    b = c.engine.batch()
    deleted = 0
    first_entry = False
    seen = set()
    for id_ in ids:
        if id_ in seen or s.get_entry(id_) is None:
            continue
        seen.add(id_)
        b.delete_data(s.ekey(id_))
        s.meta.count -= 1
        if id_ == s.first_id:
            first_entry = True
        if id_ > s.max_deleted:
            s.max_deleted = id_
        deleted += 1
    if deleted:
        if s.meta.count == 0:
            s.first_id = ZERO_ID
        elif first_entry:
            for id_, _ in s.range(s.first_id, MAX_ID):
                if id_ not in seen:
                    s.first_id = id_
                    break
        s.save(b)
        c.engine.commit(b)
    return deleted


@command("xlen", 2, "readonly fast")
def xlen(c, args):
    s = lookup(c, args[0])
    return 0 if s is None else s.length


# --- XRANGE / XREVRANGE -----------------------------------------------------------------------

def _range_command(c, args, reverse: bool):
    key = args[0]
    bounds = [args[2], args[1]] if reverse else [args[1], args[2]]
    start, end = _start_end(bounds)
    count = -1
    i = 3
    while i < len(args):
        if args[i].upper() == b"COUNT" and i + 1 < len(args):
            count = max(parse_int(args[i + 1]), 0)
            i += 2
        else:
            raise SYNTAX_ERROR
    s = lookup(c, key)
    if s is None:
        return []
    if count == 0:
        return NULL_ARRAY
    return [entry_reply(i_, f) for i_, f in s.range(start, end, max(count, 0), reverse)]


@command("xrange", -4, "readonly")
def xrange(c, args):
    return _range_command(c, args, False)


@command("xrevrange", -4, "readonly")
def xrevrange(c, args):
    return _range_command(c, args, True)


# --- subcommands --------------------------------------------------------------------------

# --- XINFO / XSETID ----------------------------------------------------------------------------

XINFO_ARITY = {b"CONSUMERS": 4, b"GROUPS": 3, b"STREAM": -3, b"HELP": 2}


def _tree_estimate(length: int) -> tuple[int, int]:
    keys = (length + NODE_ENTRIES - 1) // NODE_ENTRIES
    return keys, keys + 1


# Redis 7.0's XINFO help[] (src/t_stream.c): every subcommand is served
XINFO_HELP = (
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
)


@command("xinfo", -2, "readonly", 2, 2, 1)
def xinfo(c, args):
    sub = parse_subcommand("xinfo", XINFO_ARITY, args)
    if sub == b"HELP":
        return help_reply("XINFO", XINFO_HELP)
    key = args[1]
    s = lookup(c, key)
    if s is None:
        raise NO_SUCH_KEY
    now = now_ms()
    if sub == b"CONSUMERS":
        g = s.get_group(args[2])
        if g is None:
            raise _nogroup_for(key, args[2])
        return [Map([b"name", name, b"pending", pel, b"idle", max(now - seen, 0)])
                for name, seen, pel in s.consumers(g.name)]
    if sub == b"GROUPS":
        out = []
        for g in s.all_groups():
            out.append(Map([b"name", g.name, b"consumers", len(s.consumers(g.name)),
                        b"pending", g.pel_count, b"last-delivered-id", fmt_id(g.last_id),
                        b"entries-read", None if g.entries_read == INVALID_READ else g.entries_read,
                        b"lag", s.lag(g)]))
        return out
    full = False
    count = 10
    rest = args[2:]
    if rest:
        if (rest[0].upper() != b"FULL" or len(rest) not in (1, 3)
                or (len(rest) == 3 and rest[1].upper() != b"COUNT")):
            raise Error(f"ERR unknown subcommand or wrong number of arguments for "
                        f"'{args[0].decode(errors='replace')}'. Try XINFO HELP.")
        full = True
        if len(rest) == 3:
            count = parse_int(rest[2])
            if count < 0:
                count = 10
    rkeys, rnodes = _tree_estimate(s.length)
    head = [b"length", s.length, b"radix-tree-keys", rkeys, b"radix-tree-nodes", rnodes,
            b"last-generated-id", fmt_id(s.last_id), b"max-deleted-entry-id",
            fmt_id(s.max_deleted), b"entries-added", s.entries_added,
            b"recorded-first-entry-id", fmt_id(s.first_id)]
    if not full:
        first = next(iter(s.range(ZERO_ID, MAX_ID, 1)), None)
        last = next(iter(s.range(ZERO_ID, MAX_ID, 1, reverse=True)), None)
        return Map(head + [b"groups", s.groups,
                           b"first-entry", entry_reply(*first) if first else None,
                           b"last-entry", entry_reply(*last) if last else None])
    entries = [entry_reply(i_, f) for i_, f in s.range(ZERO_ID, MAX_ID, count)]
    groups = []
    for g in s.all_groups():
        pending = [[fmt_id(n.id), n.consumer, n.delivery_ms, n.count]
                   for n in s.group_pel(g.name, count=count)]
        consumers = []
        for name, seen, pel in s.consumers(g.name):
            cp = []
            for id_ in s.consumer_pel(g.name, name, count=count):
                n = s.get_nack(g.name, id_)
                cp.append([fmt_id(id_), n.delivery_ms, n.count])
            consumers.append(Map([b"name", name, b"seen-time", seen, b"pel-count", pel,
                                  b"pending", cp]))
        groups.append(Map([b"name", g.name, b"last-delivered-id", fmt_id(g.last_id),
                       b"entries-read", None if g.entries_read == INVALID_READ else g.entries_read,
                       b"lag", s.lag(g), b"pel-count", g.pel_count, b"pending", pending,
                           b"consumers", consumers]))
    return Map(head + [b"entries", entries, b"groups", groups])


@command("xsetid", -3, "write denyoom fast")
def xsetid(c, args):
    key = args[0]
    id_ = parse_strict(args[1])
    entries_added = -1
    max_del = ZERO_ID
    i = 2
    while i < len(args):
        more = len(args) - 1 - i
        opt = args[i].upper()
        if opt == b"ENTRIESADDED" and more:
            entries_added = parse_int(args[i + 1])
            if entries_added < 0:
                raise Error("ERR entries_added must be positive")
            i += 2
        elif opt == b"MAXDELETEDID" and more:
            max_del = parse_strict(args[i + 1])
            if id_ < max_del:
                raise Error("ERR The ID specified in XSETID is smaller than the provided "
                            "max_deleted_entry_id")
            i += 2
        else:
            raise SYNTAX_ERROR
    s = lookup(c, key)
    if s is None:
        raise NO_SUCH_KEY
    if s.length > 0:
        top = s.edge(last=True)
        if id_ < top:
            raise Error("ERR The ID specified in XSETID is smaller than the target stream top item")
        if entries_added != -1 and s.length > entries_added:
            raise Error("ERR The entries_added specified in XSETID is smaller than the target "
                        "stream length")
    s.last_id = id_
    if entries_added != -1:
        s.entries_added = entries_added
    if max_del != ZERO_ID:
        s.max_deleted = max_del
    b = c.engine.batch()
    s.save(b)
    c.engine.commit(b)
    return OK


# --- MIGRATE: a stream as plain commands ------------------------------------------------------

def migrate_commands(c_like, key: bytes, meta: Meta, chunk: int):
    """Yield lists of commands that rebuild the stream on a target (xcache or redis-server): its
    entries by XADD with their ids (`chunk` per list), then XSETID, the groups, consumers and
    PEL entries (XCLAIM ... FORCE, so an entry no longer in the stream is not carried over)."""
    s = Stream(c_like, key, meta)
    batch: list = []
    if not s.length:
        batch.append([b"XADD", key, b"MAXLEN", b"0", b"0-1", b"x", b"y"])  # an empty stream
    for id_, fields in s.range(ZERO_ID, MAX_ID):
        batch.append([b"XADD", key, fmt_id(id_), *fields])
        if len(batch) >= chunk:
            yield batch
            batch = []
    batch.append([b"XSETID", key, fmt_id(s.last_id), b"ENTRIESADDED", b"%d" % s.entries_added,
                  b"MAXDELETEDID", fmt_id(s.max_deleted)])
    for g in s.all_groups():
        batch.append([b"XGROUP", b"CREATE", key, g.name, fmt_id(g.last_id), b"ENTRIESREAD",
                      b"%d" % g.entries_read])
        for name, _, _ in s.consumers(g.name):
            batch.append([b"XGROUP", b"CREATECONSUMER", key, g.name, name])
        for n in s.group_pel(g.name):
            batch.append([b"XCLAIM", key, g.name, n.consumer, b"0", fmt_id(n.id), b"TIME",
                          b"%d" % n.delivery_ms, b"RETRYCOUNT", b"%d" % n.count, b"FORCE",
                          b"JUSTID"])
            if len(batch) >= chunk:
                yield batch
                batch = []
    if batch:
        yield batch
