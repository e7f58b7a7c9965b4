"""Stream commands (XADD ... XINFO), with consumer groups, as Redis 7.0's t_stream.c.

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

from xcache.resp import NULL_ARRAY, OK, Error
from xcache.store.commands import SYNTAX_ERROR, command, parse_int, wrong_arity
from xcache.store.engine import STREAM, Meta, data_prefix, now_ms

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
BUSYGROUP = Error("BUSYGROUP Consumer Group name already exists")
NO_SUCH_KEY = Error("ERR no such key")
NEED_KEY = Error("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you "
                 "may want to use the MKSTREAM option to create an empty stream automatically.")


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
        p = self.prefix + b"p" + _gp(group)
        n = len(p)
        got = 0
        for k, v in self.engine.scan(self.engine.data, p, start=p + _ID.pack(*start)):
            id_ = _ID.unpack_from(k, n)
            if id_ > end:
                break
            t, c = _NACK.unpack_from(v)
            yield Nack(id_, t, c, v[16:])
            got += 1
            if count and got >= count:
                break

    def consumer_pel(self, group: bytes, consumer: bytes, start=ZERO_ID, end=MAX_ID, count: int = 0):
        p = self.prefix + b"q" + _gp(group) + _gp(consumer)
        n = len(p)
        got = 0
        for k, _ in self.engine.scan(self.engine.data, p, start=p + _ID.pack(*start)):
            id_ = _ID.unpack_from(k, n)
            if id_ > end:
                break
            yield id_
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


class Consumers:
    """Consumer records of one group touched by a command: loaded once, saved at the end."""

    def __init__(self, s: Stream, group: Group):
        self.s = s
        self.group = group
        self.cache: dict[bytes, list[int]] = {}
        self.created: list[bytes] = []

    def get(self, name: bytes, create: bool = True, refresh: bool = True) -> list[int] | None:
        rec = self.cache.get(name)
        if rec is None:
            found = self.s.get_consumer(self.group.name, name)
            if found is None:
                if not create:
                    return None
                self.created.append(name)
                found = (now_ms(), 0)
            rec = self.cache[name] = list(found)
        if refresh:
            rec[0] = now_ms()
        return rec

    def save(self, b) -> None:
        for name, (seen, pel) in self.cache.items():
            self.s.put_consumer(b, self.group.name, name, seen, pel)


def _take(s: Stream, b, cons: Consumers, nack: Nack, new_owner: bytes) -> None:
    """Move a PEL entry to new_owner (or attach it, if it had no owner yet)."""
    g = cons.group.name
    if nack.consumer != new_owner:
        if nack.consumer:
            b.delete_data(s.qkey(g, nack.consumer, nack.id))
            old = cons.get(nack.consumer, create=False, refresh=False)
            if old is not None:
                old[1] -= 1
        b.put_data(s.qkey(g, new_owner, nack.id), b"")
        cons.get(new_owner, refresh=False)[1] += 1
        nack.consumer = new_owner
    s.put_nack(b, g, nack)


def _drop_nack(s: Stream, b, cons: Consumers, nack: Nack) -> None:
    g = cons.group.name
    b.delete_data(s.pkey(g, nack.id))
    b.delete_data(s.qkey(g, nack.consumer, nack.id))
    rec = cons.get(nack.consumer, create=False, refresh=False)
    if rec is not None:
        rec[1] -= 1
    cons.group.pel_count -= 1


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


# --- XREAD / XREADGROUP -----------------------------------------------------------------------

def _parse_block_ms(raw: bytes) -> int:
    value = parse_int(raw, Error("ERR timeout is not an integer or out of range"))
    if value < 0:
        raise Error("ERR timeout is negative")
    return value


def _xread(c, args, group_mode: bool):
    name = "xreadgroup" if group_mode else "xread"
    count = 0
    block_ms = None
    noack = False
    group = consumer = None
    streams_at = -1
    i = 0
    while i < len(args):
        more = len(args) - 1 - i
        opt = args[i].upper()
        if opt == b"COUNT" and more:
            count = max(parse_int(args[i + 1]), 0)
            i += 2
        elif opt == b"BLOCK" and more:
            block_ms = _parse_block_ms(args[i + 1])
            i += 2
        elif opt == b"STREAMS" and more:
            streams_at = i + 1
            break
        elif group_mode and opt == b"GROUP" and more >= 2:
            group, consumer = args[i + 1], args[i + 2]
            i += 3
        elif group_mode and opt == b"NOACK":
            noack = True
            i += 1
        else:
            raise SYNTAX_ERROR
    if streams_at < 0:
        raise SYNTAX_ERROR
    rest = args[streams_at:]
    if len(rest) % 2:
        raise Error(f"ERR Unbalanced {name.upper()} list of streams: for each stream key an ID "
                    "or '$' must be specified.")
    if group_mode and group is None:
        raise Error("ERR Missing GROUP option for XREADGROUP")
    half = len(rest) // 2
    keys, raw_ids = rest[:half], rest[half:]
    targets = []  # (key, start id or None for '>')
    for key, raw in zip(keys, raw_ids, strict=True):
        s = lookup(c, key)
        if group_mode:
            g = s.get_group(group) if s is not None else None
            if g is None:
                raise Error(f"NOGROUP No such key '{key.decode(errors='replace')}' or consumer "
                            f"group '{group.decode(errors='replace')}' in XREADGROUP with GROUP "
                            "option")
            if raw == b"$":
                raise Error("ERR The $ ID is meaningless in the context of XREADGROUP: you want "
                            "to read the history of this consumer by specifying a proper ID, or "
                            "use the > ID to get new messages. The $ ID would just return an "
                            "empty result set.")
            if raw == b">":
                targets.append((key, None))
                continue
        elif raw == b">":
            raise Error("ERR The > ID can be specified only when calling XREADGROUP using the "
                        "GROUP <group> <consumer> option.")
        elif raw == b"$":
            targets.append((key, s.last_id if s is not None else ZERO_ID))
            continue
        targets.append((key, parse_strict(raw)))

    def serve():
        if group_mode:
            return _serve_group(c, targets, group, consumer, count, noack)
        c.propagate = None
        out = []
        for key, after in targets:
            s = lookup(c, key)
            if s is None or not s.length or s.last_id <= after:
                continue
            start = incr_id(after)
            found = [entry_reply(i_, f) for i_, f in s.range(start, MAX_ID, count)]
            if found:  # Redis compares with the last entry still there, not the last id
                out.append([key, found])
        return out or None

    reply = serve()
    if reply is not None:
        return reply
    if block_ms is None or getattr(c, "in_exec", False):
        return NULL_ARRAY
    from xcache.store.server import Block  # server.py imports this module: import at call time

    def retry():
        if group_mode:  # what Redis 7.0 answers a blocked XREADGROUP whose stream/group went
            for key, _ in targets:
                try:
                    s = lookup(c, key)
                except Error:
                    s = None
                if s is None:
                    raise Error("UNBLOCKED the stream key no longer exists")
                if s.get_group(group) is None:
                    raise Error("NOGROUP the consumer group this client was blocked on no "
                                "longer exists")
        try:
            return serve()
        except Error as exc:
            if exc.message.startswith("WRONGTYPE"):
                return None
            raise

    return Block(list(dict.fromkeys(keys)), block_ms / 1000, retry, NULL_ARRAY)


def _serve_group(c, targets, group: bytes, consumer: bytes, count: int, noack: bool):
    out = []
    cmds: list = []
    b = c.engine.batch()
    dirty = False
    now = now_ms()
    for key, after in targets:
        s = lookup(c, key)
        g = s.get_group(group) if s is not None else None
        if g is None:
            raise Error(f"NOGROUP No such key '{key.decode(errors='replace')}' or consumer group "
                        f"'{group.decode(errors='replace')}' in XREADGROUP with GROUP option")
        cons = Consumers(s, g)
        if after is not None:  # history: this consumer's PEL after the id
            cons.get(consumer)
            start = incr_id(after)
            entries = []
            if start is not None:
                for id_ in s.consumer_pel(group, consumer, start, MAX_ID, count):
                    fields = s.get_entry(id_)
                    if fields is None:
                        entries.append([fmt_id(id_), NULL_ARRAY])
                        continue
                    nack = s.get_nack(group, id_)
                    nack.delivery_ms = now
                    nack.count += 1
                    s.put_nack(b, group, nack)
                    entries.append(entry_reply(id_, fields))
            out.append([key, entries])
            cons.save(b)
            dirty = True
            _created(cmds, key, group, cons)
            continue
        start = incr_id(g.last_id) if s.length else None
        new = list(s.range(start, MAX_ID, count)) if start is not None else []
        if not new:  # nothing after the group's last id: not served (no consumer is created)
            continue
        cons.get(consumer)
        entries = []
        for id_, fields in new:
            if g.entries_read != INVALID_READ and not s.has_tombstones(id_):
                g.entries_read += 1
            elif s.entries_added:
                g.entries_read = s.estimate_distance(id_)
            g.last_id = id_
            entries.append(entry_reply(id_, fields))
            if noack:
                continue
            nack = s.get_nack(group, id_)
            if nack is None:
                nack = Nack(id_, now, 1, b"")
                g.pel_count += 1
            else:
                nack.delivery_ms, nack.count = now, 1
            _take(s, b, cons, nack, consumer)
            cmds.append(_xclaim_cmd(key, g, nack))
        cons.save(b)
        s.put_group(b, g)
        dirty = True
        _created(cmds, key, group, cons)
        cmds.append([b"XGROUP", b"SETID", key, group, fmt_id(g.last_id), b"ENTRIESREAD",
                     b"%d" % g.entries_read])
        out.append([key, entries])
    if dirty:
        c.engine.commit(b)
    c.propagate = cmds
    return out or None


def _created(cmds: list, key: bytes, group: bytes, cons: Consumers) -> None:
    for name in cons.created:
        cmds.append([b"XGROUP", b"CREATECONSUMER", key, group, name])
    cons.created = []


def _xclaim_cmd(key: bytes, g: Group, nack: Nack) -> list[bytes]:
    """streamPropagateXCLAIM: how a PEL change reaches replicas."""
    return [b"XCLAIM", key, g.name, nack.consumer, b"0", fmt_id(nack.id), b"TIME",
            b"%d" % nack.delivery_ms, b"RETRYCOUNT", b"%d" % nack.count, b"FORCE", b"JUSTID",
            b"LASTID", fmt_id(g.last_id)]


@command("xread", -4, "readonly blocking", 0, 0, 0)
def xread(c, args):
    return _xread(c, args, False)


@command("xreadgroup", -7, "write blocking", 0, 0, 0)
def xreadgroup(c, args):
    return _xread(c, args, True)


# --- XGROUP ----------------------------------------------------------------------------------

XGROUP_ARITY = {b"CREATE": -5, b"SETID": -5, b"DESTROY": 4, b"CREATECONSUMER": 5,
                b"DELCONSUMER": 5, b"HELP": 2}


def _subcommand(cmd: str, table: dict, args: list[bytes]) -> bytes:
    sub = args[0].upper()
    arity = table.get(sub)
    if arity is None:
        raise Error(f"ERR unknown subcommand '{args[0].decode(errors='replace')[:128]}'. "
                    f"Try {cmd.upper()} HELP.")
    n = len(args) + 1
    if (arity > 0 and n != arity) or n < -arity:
        raise Error(f"ERR wrong number of arguments for '{cmd}|{sub.decode().lower()}' command")
    return sub


@command("xgroup", -2, "write", 2, 2, 1)
def xgroup(c, args):
    sub = _subcommand("xgroup", XGROUP_ARITY, args)
    if sub == b"HELP":
        c.propagate = []
        return [b"XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                b"CREATE <key> <groupname> <id|$> [option]",
                b"    Create a new consumer group. Options are:",
                b"    * MKSTREAM",
                b"      Create the empty stream if it does not exist.",
                b"    * ENTRIESREAD entries_read",
                b"      Set the group's entries_read counter (internal use).",
                b"CREATECONSUMER <key> <groupname> <consumer>",
                b"    Create a new consumer in the specified group.",
                b"DELCONSUMER <key> <groupname> <consumer>",
                b"    Remove the specified consumer.",
                b"DESTROY <key> <groupname>",
                b"    Remove the specified group.",
                b"SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
                b"    Set the current group ID and entries_read counter.",
                b"HELP",
                b"    Prints this help."]
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


# --- XINFO / XSETID ----------------------------------------------------------------------------

XINFO_ARITY = {b"CONSUMERS": 4, b"GROUPS": 3, b"STREAM": -3, b"HELP": 2}


def _tree_estimate(length: int) -> tuple[int, int]:
    keys = (length + NODE_ENTRIES - 1) // NODE_ENTRIES
    return keys, keys + 1


@command("xinfo", -2, "readonly", 2, 2, 1)
def xinfo(c, args):
    sub = _subcommand("xinfo", XINFO_ARITY, args)
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
        return [[b"name", name, b"pending", pel, b"idle", max(now - seen, 0)]
                for name, seen, pel in s.consumers(g.name)]
    if sub == b"GROUPS":
        out = []
        for g in s.all_groups():
            out.append([b"name", g.name, b"consumers", len(s.consumers(g.name)),
                        b"pending", g.pel_count, b"last-delivered-id", fmt_id(g.last_id),
                        b"entries-read", None if g.entries_read == INVALID_READ else g.entries_read,
                        b"lag", s.lag(g)])
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
        return head + [b"groups", s.groups,
                       b"first-entry", entry_reply(*first) if first else None,
                       b"last-entry", entry_reply(*last) if last else None]
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
            consumers.append([b"name", name, b"seen-time", seen, b"pel-count", pel,
                              b"pending", cp])
        groups.append([b"name", g.name, b"last-delivered-id", fmt_id(g.last_id),
                       b"entries-read", None if g.entries_read == INVALID_READ else g.entries_read,
                       b"lag", s.lag(g), b"pel-count", g.pel_count, b"pending", pending,
                       b"consumers", consumers])
    return head + [b"entries", entries, b"groups", groups]


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
