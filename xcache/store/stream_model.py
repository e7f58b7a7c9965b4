"""Streams' data model as Redis 7.0's t_stream.c keeps it: ids, and the layout and state of one
stream (Stream: entries, consumer groups, PELs, consumers), with the lookups the stream commands
(streams.py, stream_groups.py) and DUMP/RESTORE (rdb_stream.py) share.

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
`stream-node-max-entries` (100, a setting); here each entry is one RocksDB row, so XADD/XTRIM
with `~` trim in whole blocks of that many entries counted from the current head (Redis: its node
boundaries), and
XINFO's radix-tree-keys/nodes are estimates. Replies are otherwise Redis 7.0's.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from xcache.resp import Error
from xcache.store.engine import STREAM, Meta, data_prefix

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

    def trim(self, b, maxlen: int | None, minid, approx: bool, limit: int,
             node_entries: int = NODE_ENTRIES) -> int:
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
            excess = self._whole_nodes(excess, limit, node_entries)
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

    def _whole_nodes(self, excess: int, limit: int, node_entries: int) -> int:
        """How many of the first `excess` entries lie in whole nodes, as Redis's approximate trim
        removes only whole nodes (and stops before exceeding limit). Nodes are modelled as runs of
        node_entries (stream-node-max-entries) entries in order of addition, as Redis fills them
        when entries are small."""
        length = self.meta.count
        head_ordinal = max(self.entries_added - length, 0)  # entries added before the head
        first = min(length, node_entries - head_ordinal % node_entries)
        removed = 0
        node = first
        while node and removed + node <= excess:
            if limit and removed + node > limit:
                break
            removed += node
            node = min(node_entries, length - removed)
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
