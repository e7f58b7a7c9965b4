"""Streams as Redis 7.0's t_stream.c: the layout and state (Stream), XADD/XTRIM/XDEL/XLEN/XRANGE/
XREVRANGE/XINFO/XSETID and MIGRATE's commands for a stream. Reading (XREAD/XREADGROUP) and the
consumer-group commands are in stream_groups.py.

Encoding (all under the key's collection prefix `data_prefix(db, key, version)`, so DEL is O(1)
and the collector removes the data of a deleted stream like any collection's):
  meta value   last_id(16) first_id(16) max_deleted_id(16) entries_added(8) groups(8);
               meta.count is the stream's length
  b"e" + id(16)                                   -> entry: fields and values, length-prefixed
  b"g" + group                                    -> last_id(16) entries_read(8, -1 unknown)
                                                     pel_count(8)
  b"p" + len(group)(4) + group + id(16)           -> PEL entry: delivery_ms(8) count(8) consumer
  b"c" + len(group)(4) + group + consumer         -> seen_ms(8) pel_count(8)
  b"q" + len(group)(4) + group + len(consumer)(4) + consumer + id(16) -> b"" (consumer's PEL)
An id is 128 bits big-endian (ms, seq), so RocksDB iterates entries and PELs in id order.

Differences from Redis, by construction: Redis keeps entries in radix-tree nodes of up to
`stream-node-max-entries` (100); here each entry is one RocksDB row, so XADD/XTRIM with `~` trim
in whole blocks of 100 entries counted from the current head (Redis: its node boundaries), and
XINFO's radix-tree-keys/nodes are estimates. Replies are otherwise Redis 7.0's.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from xcache.resp import NULL_ARRAY, OK, Error, Map
from xcache.store.commands import SYNTAX_ERROR, command, parse_int, wrong_arity
from xcache.store.engine import STREAM, Meta, data_prefix, now_ms
from xcache.store.subcommands import parse_subcommand

MAX64 = (1 << 64) - 1
MAX_ID = (MAX64, MAX64)
ZERO_ID = (0, 0)
NODE_ENTRIES = 100  # stream-node-max-entries: the unit of approximate (~) trimming
INVALID_READ = -1  # SCG_INVALID_ENTRIES_READ

_ID = struct.Struct(">QQ")
_Q = struct.Struct(">Q")
_q = struct.Struct(">q")
_L = struct.Struct(">L")
_META = struct.Struct(">QQQQQQQQ")
_GROUP = struct.Struct(">QQqQ")
_NACK = struct.Struct(">QQ")
_DIGITS = re.compile(rb"[0-9]+")

INVALID_ID = Error("ERR Invalid stream ID specified as stream command argument")
TOP_ITEM = Error("ERR The ID specified in XADD is equal or smaller than the target stream top item")
NO_SUCH_KEY = Error("ERR no such key")


# --- ids ------------------------------------------------------------------------------------

def fmt_id(id_: tuple[int, int]) -> bytes:
    return b"%d-%d" % id_


def _ull(raw: bytes) -> int:
    if not _DIGITS.fullmatch(raw) or len(raw) > 20:
        raise INVALID_ID
    value = int(raw)
    if value > MAX64:
        raise INVALID_ID
    return value


def parse_id(raw: bytes, strict: bool = True, missing_seq: int = 0,
             allow_partial: bool = False) -> tuple[tuple[int, int], bool]:
    """streamGenericParseIDOrReply: -> (id, seq_given). strict refuses "-" and "+"."""
    if len(raw) > 127:
        raise INVALID_ID
    if raw in (b"-", b"+"):
        if strict:
            raise INVALID_ID
        return (ZERO_ID if raw == b"-" else MAX_ID), True
    ms_raw, dash, seq_raw = raw.partition(b"-")
    ms = _ull(ms_raw)
    if not dash:
        return (ms, missing_seq), True
    if allow_partial and seq_raw == b"*":
        return (ms, 0), False
    return (ms, _ull(seq_raw)), True


def parse_strict(raw: bytes) -> tuple[int, int]:
    return parse_id(raw)[0]


def parse_interval(raw: bytes, missing_seq: int) -> tuple[tuple[int, int], bool]:
    """streamParseIntervalIDOrReply: -> (id, exclusive)."""
    if len(raw) > 1 and raw[:1] == b"(":
        return parse_id(raw[1:], True, missing_seq)[0], True
    return parse_id(raw, False, missing_seq)[0], False


def incr_id(id_: tuple[int, int]) -> tuple[int, int] | None:
    ms, seq = id_
    if seq == MAX64:
        return None if ms == MAX64 else (ms + 1, 0)
    return ms, seq + 1


def decr_id(id_: tuple[int, int]) -> tuple[int, int] | None:
    ms, seq = id_
    if seq == 0:
        return None if ms == 0 else (ms - 1, MAX64)
    return ms, seq - 1


def _start_end(args: list[bytes]) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """XRANGE-style start and end (exclusive forms applied); None: an empty interval."""
    start, sx = parse_interval(args[0], 0)
    if sx:
        start = incr_id(start)
        if start is None:
            raise Error("ERR invalid start ID for the interval")
    end, ex = parse_interval(args[1], MAX64)
    if ex:
        end = decr_id(end)
        if end is None:
            raise Error("ERR invalid end ID for the interval")
    return start, end


# --- encoding of entries and state ------------------------------------------------------------

def encode_fields(fields: list[bytes]) -> bytes:
    return b"".join(_L.pack(len(f)) + f for f in fields)


def decode_fields(raw: bytes) -> list[bytes]:
    out, i, n = [], 0, len(raw)
    while i < n:
        (ln,) = _L.unpack_from(raw, i)
        out.append(raw[i + 4:i + 4 + ln])
        i += 4 + ln
    return out


def _gp(group: bytes) -> bytes:
    return _L.pack(len(group)) + group


@dataclass(slots=True)
class Group:
    name: bytes
    last_id: tuple[int, int]
    entries_read: int
    pel_count: int

    def encode(self) -> bytes:
        return _GROUP.pack(*self.last_id, self.entries_read, self.pel_count)


@dataclass(slots=True)
class Nack:
    id: tuple[int, int]
    delivery_ms: int
    count: int
    consumer: bytes


class Stream:
    """One stream's state, loaded from meta; changes are staged into a batch by the caller."""

    def __init__(self, c, key: bytes, meta: Meta):
        self.c = c
        self.engine = c.engine
        self.key = key
        self.meta = meta
        self.added = None  # id of an entry staged by add_entry, not committed yet
        self.prefix = data_prefix(c.db, key, meta.version)
        v = meta.value
        if v:
            f = _META.unpack(v[:64])
            self.last_id, self.first_id, self.max_deleted = (f[0], f[1]), (f[2], f[3]), (f[4], f[5])
            self.entries_added, self.groups = f[6], f[7]
        else:
            self.last_id = self.first_id = self.max_deleted = ZERO_ID
            self.entries_added = self.groups = 0

    @property
    def length(self) -> int:
        return self.meta.count

    def save(self, b) -> None:
        self.meta.value = _META.pack(*self.last_id, *self.first_id, *self.max_deleted,
                                     self.entries_added, self.groups)
        b.put_meta(self.c.db, self.key, self.meta)

    # entries
    def ekey(self, id_: tuple[int, int]) -> bytes:
        return self.prefix + b"e" + _ID.pack(*id_)

    def get_entry(self, id_: tuple[int, int]) -> list[bytes] | None:
        raw = self.engine.get_data(self.ekey(id_))
        return None if raw is None else decode_fields(raw)

    def range(self, start, end, count: int = 0, reverse: bool = False):
        """Yield (id, fields) with start <= id <= end, ascending (or descending), at most count
        (0: all)."""
        if not reverse and self.length and start < self.first_id:
            # Nothing lies below the first entry, only the tombstones of trimmed ones: seeking
            # past them keeps XRANGE - + on a capped stream from walking every deleted entry.
            start = self.first_id
        if start > end:
            return
        p = self.prefix + b"e"
        n = len(p)
        first = p + _ID.pack(*(end if reverse else start))
        got = 0
        for k, v in self.engine.scan(self.engine.data, p, start=first, reverse=reverse):
            id_ = _ID.unpack_from(k, n)
            if (id_ < start) if reverse else (id_ > end):
                break
            yield id_, decode_fields(v)
            got += 1
            if count and got >= count:
                break

    def edge(self, last: bool) -> tuple[int, int] | None:
        for id_, _ in self.range(ZERO_ID, MAX_ID, 1, reverse=last):
            return id_
        return None

    def _head_ids(self, n: int = 0):
        """Ids from the head (at most n; 0: all), including an entry added to the batch but not
        committed yet (XADD trims after adding, as Redis)."""
        got = 0
        for id_, _ in self.range(ZERO_ID, MAX_ID):
            if id_ == self.added:
                break
            yield id_
            got += 1
            if n and got >= n:
                return
        if self.added is not None:
            yield self.added

    def add_entry(self, b, id_, fields: list[bytes]) -> None:
        self.added = id_
        b.put_data(self.ekey(id_), encode_fields(fields))
        if self.meta.count == 0:
            self.first_id = id_
        self.meta.count += 1
        self.last_id = id_
        self.entries_added += 1

    def trim(self, b, maxlen: int | None, minid, approx: bool, limit: int) -> int:
        """streamTrim: delete from the head; returns the number of entries removed."""
        length = self.meta.count
        if maxlen is not None:
            excess = max(0, length - maxlen)
        else:
            excess = 0
            for id_ in self._head_ids():
                if id_ >= minid:
                    break
                excess += 1
        if approx:
            excess = self._whole_nodes(excess, limit)
        if excess <= 0:
            return 0
        removed = 0
        first = ZERO_ID
        for id_ in self._head_ids(excess + 1):
            if removed == excess:
                first = id_  # the new head (the batch is not applied yet: the scan sees it)
                break
            b.delete_data(self.ekey(id_))
            removed += 1
        self.meta.count -= removed
        self.first_id = first if self.meta.count else ZERO_ID
        return removed

    def _whole_nodes(self, excess: int, limit: int) -> int:
        """How many of the first `excess` entries lie in whole nodes, as Redis's approximate trim
        removes only whole nodes (and stops before exceeding limit). Nodes are modelled as runs of
        NODE_ENTRIES entries in order of addition, as Redis fills them when entries are small."""
        length = self.meta.count
        head_ordinal = max(self.entries_added - length, 0)  # entries added before the head
        first = min(length, NODE_ENTRIES - head_ordinal % NODE_ENTRIES)
        removed = 0
        node = first
        while node and removed + node <= excess:
            if limit and removed + node > limit:
                break
            removed += node
            node = min(NODE_ENTRIES, length - removed)
        return removed

    # groups
    def gkey(self, name: bytes) -> bytes:
        return self.prefix + b"g" + name

    def get_group(self, name: bytes) -> Group | None:
        raw = self.engine.get_data(self.gkey(name))
        if raw is None:
            return None
        a, s, er, pc = _GROUP.unpack(raw)
        return Group(name, (a, s), er, pc)

    def put_group(self, b, g: Group) -> None:
        b.put_data(self.gkey(g.name), g.encode())

    def all_groups(self) -> list[Group]:
        p = self.prefix + b"g"
        out = []
        for k, v in self.engine.scan(self.engine.data, p):
            a, s, er, pc = _GROUP.unpack(v)
            out.append(Group(k[len(p):], (a, s), er, pc))
        return out

    # consumers
    def ckey(self, group: bytes, name: bytes) -> bytes:
        return self.prefix + b"c" + _gp(group) + name

    def get_consumer(self, group: bytes, name: bytes) -> tuple[int, int] | None:
        raw = self.engine.get_data(self.ckey(group, name))
        return None if raw is None else _NACK.unpack(raw)

    def put_consumer(self, b, group: bytes, name: bytes, seen: int, pel: int) -> None:
        b.put_data(self.ckey(group, name), _NACK.pack(seen, pel))

    def consumers(self, group: bytes) -> list[tuple[bytes, int, int]]:
        p = self.prefix + b"c" + _gp(group)
        return [(k[len(p):], *_NACK.unpack(v)) for k, v in self.engine.scan(self.engine.data, p)]

    # PEL
    def pkey(self, group: bytes, id_) -> bytes:
        return self.prefix + b"p" + _gp(group) + _ID.pack(*id_)

    def qkey(self, group: bytes, consumer: bytes, id_) -> bytes:
        return self.prefix + b"q" + _gp(group) + _gp(consumer) + _ID.pack(*id_)

    def get_nack(self, group: bytes, id_) -> Nack | None:
        raw = self.engine.get_data(self.pkey(group, id_))
        if raw is None:
            return None
        t, n = _NACK.unpack_from(raw)
        return Nack(id_, t, n, raw[16:])

    def put_nack(self, b, group: bytes, nack: Nack) -> None:
        b.put_data(self.pkey(group, nack.id), _NACK.pack(nack.delivery_ms, nack.count) + nack.consumer)

    def group_pel(self, group: bytes, start=ZERO_ID, end=MAX_ID, count: int = 0):
        for id_, v in self._pel(self.prefix + b"p" + _gp(group), start, end, count):
            t, c = _NACK.unpack_from(v)
            yield Nack(id_, t, c, v[16:])

    def consumer_pel(self, group: bytes, consumer: bytes, start=ZERO_ID, end=MAX_ID, count: int = 0):
        for id_, _ in self._pel(self.prefix + b"q" + _gp(group) + _gp(consumer), start, end, count):
            yield id_

    def _pel(self, p: bytes, start, end, count: int):
        """(id, value) of a pending-entries list under prefix p, from start to end, at most
        count of them (0 = all)."""
        n = len(p)
        got = 0
        for k, v in self.engine.scan(self.engine.data, p, start=p + _ID.pack(*start)):
            id_ = _ID.unpack_from(k, n)
            if id_ > end:
                break
            yield id_, v
            got += 1
            if count and got >= count:
                break

    def has_tombstones(self, start=None) -> bool:
        """streamRangeHasTombstones(s, start, NULL)."""
        if not self.meta.count or self.max_deleted == ZERO_ID:
            return False
        if self.first_id > self.max_deleted:
            return False
        return (start or ZERO_ID) <= self.max_deleted

    def estimate_distance(self, id_) -> int:
        """streamEstimateDistanceFromFirstEverEntry."""
        if not self.entries_added:
            return 0
        if not self.meta.count and id_ <= self.last_id:
            return self.entries_added
        if id_ == self.last_id:
            return self.entries_added
        if id_ > self.last_id:
            return INVALID_READ
        if self.max_deleted == ZERO_ID or self.max_deleted < self.first_id:
            if id_ < self.first_id:
                return self.entries_added - self.meta.count
            if id_ == self.first_id:
                return self.entries_added - self.meta.count + 1
        return INVALID_READ

    def lag(self, g: Group) -> int | None:
        if not self.entries_added:
            return 0
        if g.entries_read != INVALID_READ and not self.has_tombstones(g.last_id):
            return self.entries_added - g.entries_read
        er = self.estimate_distance(g.last_id)
        return None if er == INVALID_READ else self.entries_added - er


# --- lookup helpers ---------------------------------------------------------------------------

def lookup(c, key: bytes) -> Stream | None:
    meta = c.engine.lookup(c.db, key, STREAM)
    return None if meta is None else Stream(c, key, meta)


def create(c, key: bytes) -> Stream:
    return Stream(c, key, c.engine.new_collection(STREAM))


def entry_reply(id_, fields) -> list:
    return [fmt_id(id_), fields]


def _nogroup(key: bytes, group: bytes) -> Error:
    return Error(f"NOGROUP No such key '{key.decode(errors='replace')}' or consumer group "
                 f"'{group.decode(errors='replace')}'")


def _nogroup_for(key: bytes, group: bytes) -> Error:
    return Error(f"NOGROUP No such consumer group '{group.decode(errors='replace')}' for key name "
                 f"'{key.decode(errors='replace')}'")


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


def parse_trim_args(args: list[bytes], xadd: bool) -> TrimArgs:
    """streamParseAddOrTrimArgsOrReply (args start after the key)."""
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
    elif t.approx:
        t.limit = NODE_ENTRIES * 100
    return t


def _has_trim(t: TrimArgs) -> bool:
    return t.maxlen is not None or t.minid is not None


@command("xadd", -5, "write denyoom fast")
def xadd(c, args):
    key = args[0]
    t = parse_trim_args(args[1:], True)
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
        new = (ms, 0) if ms > s.last_id[0] else (s.last_id[0], s.last_id[1] + 1)
    elif not t.seq_given:
        ms = t.id[0]
        if ms == s.last_id[0]:
            if s.last_id[1] == MAX64:
                raise TOP_ITEM
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
    removed = s.trim(b, t.maxlen, t.minid, t.approx, t.limit) if _has_trim(t) else 0
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
    t = parse_trim_args(args[1:], False)
    s = lookup(c, key)
    if s is None:
        c.propagate = []
        return 0
    b = c.engine.batch()
    removed = s.trim(b, t.maxlen, t.minid, t.approx, t.limit)
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


@command("xinfo", -2, "readonly", 2, 2, 1)
def xinfo(c, args):
    sub = parse_subcommand("xinfo", XINFO_ARITY, args)
    if sub == b"HELP":
        return [b"XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                b"CONSUMERS <key> <groupname>",
                b"    Show consumers of <groupname>.",
                b"GROUPS <key>",
                b"    Show the stream consumer groups.",
                b"STREAM <key> [FULL [COUNT <count>]",
                b"    Show information about the stream.",
                b"HELP",
                b"    Prints this help."]
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
