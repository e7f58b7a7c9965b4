"""RocksDB keyspace of a storage node: key encoding, metadata, versions and write-stall state.

Layout (in the style of Pika/Kvrocks), three column families:
  meta   db(1) + key                                   -> type(1) expire_ms(8) [payload]
         string payload: the value
         collection payload: version(8) count(8) [list: head(8) tail(8)] [stream: see streams.py]
                             [hash, set: big(1) [small hash: its field order, hashes.py]]
  data   db(1) + keylen(4) + key + version(8) + subkey -> value
         (hash field -> value, set member -> b"", zset member -> score(8), list index -> element)
  score  db(1) + keylen(4) + key + version(8) + sortable score(8) + member -> b""

Deleting a collection only deletes its meta entry (O(1)); its data keys carry the old version and
are removed later by the collector (collector.py), as are expired keys.

Writes use RocksDB's no_slowdown: a write that RocksDB would stall raises WriteStall at once
instead of blocking the event loop; the server retries it asynchronously.

Why this module is over 600 lines: every read and write of a key passes through it, and the hot
ones (get_raw_meta, commit, put_meta_now) inline the meta cache, the group commit's overlay and
the access table instead of calling into them, which is most of a GET's cost; the rest (Meta's
codec, Batch, snapshots, stall state) is what those paths share.
"""

from __future__ import annotations

import asyncio
import os
import struct
import sys
import time
from dataclasses import dataclass

from rocksdict import (
    AccessType,
    Options,
    Rdict,
    ReadOptions,
    WriteBatch,
    WriteOptions,
)

from xcache.config import ServerConfig
from xcache.resp import Error
from xcache.store import dbmap
from xcache.store.access import GENERATION_KEYS, AccessTable
from xcache.store.dbmap import DB_BYTE
from xcache.store.diskfull import DiskState, classify
from xcache.store.groupcommit import MISSING, Group, PendingBatch
from xcache.store.rocksopts import RocksResources

STRING, HASH, LIST, SET, ZSET, STREAM = 0, 1, 2, 3, 4, 5
# The meta type byte of a string last changed in place (APPEND to a key, SETRANGE, SETBIT,
# BITFIELD): Redis keeps such a value raw-encoded whatever it holds, and OBJECT ENCODING says so.
# Decoded as a STRING whose Meta.raw_enc is set.
RAW_STRING = 0x80
TYPE_NAMES = {STRING: b"string", HASH: b"hash", LIST: b"list", SET: b"set", ZSET: b"zset",
              STREAM: b"stream"}
TYPE_BY_NAME = {v: k for k, v in TYPE_NAMES.items()}
WRONGTYPE = Error("WRONGTYPE Operation against a key holding the wrong kind of value")
LIST_MIDDLE = 1 << 63

_Q = struct.Struct(">Q")
_QQ = struct.Struct(">QQ")
_QQQ = struct.Struct(">QQQ")
_QQQQ = struct.Struct(">QQQQ")
_D = struct.Struct(">d")
_ZERO8 = b"\x00" * 8
# Versions come from the clock; a floor persisted ahead of use keeps them increasing across
# restarts even if the clock steps back (a reused version would revive a deleted key's data).
VERSION_FLOOR_KEY = b"xcache:version-floor"
VERSION_RESERVE_US = 600_000_000
DB_MAP_KEY = b"xcache:db-map"  # the physical prefix byte of each logical db, after SWAPDBs


class WriteStall(Exception):
    """RocksDB refused a write because it is stalled; nothing of the batch was applied."""


# While a script's command or a transaction runs, time stands at its start (Redis 7's cached
# command time): a key cannot expire between two commands of one script or one EXEC.
frozen_ms: int | None = None


def now_ms() -> int:
    if frozen_ms is not None:
        return frozen_ms
    return time.time_ns() // 1_000_000


@dataclass(slots=True)
class Meta:
    type: int
    expire_ms: int = 0
    version: int = 0
    count: int = 0
    head: int = LIST_MIDDLE
    tail: int = LIST_MIDDLE
    value: bytes = b""  # a STRING's value, a STREAM's state, a small HASH's field order
    raw_enc: bool = False  # a STRING changed in place (RAW_STRING)
    # A HASH or SET that outgrew Redis's small encoding (listpack, intset): Redis never converts
    # back, so OBJECT ENCODING and the small encoding's reply order follow this flag.
    big: bool = False

    def encode(self) -> bytes:
        if self.type == STRING:
            return bytes((RAW_STRING if self.raw_enc else STRING,)) + _Q.pack(self.expire_ms) + self.value
        if self.type == LIST:
            return bytes((LIST,)) + _QQQQ.pack(self.expire_ms, self.version, self.count, self.head) + _Q.pack(self.tail)
        if self.type == STREAM:  # value: the stream's own state (streams.py)
            return bytes((STREAM,)) + _QQQ.pack(self.expire_ms, self.version, self.count) + self.value
        head = bytes((self.type,)) + _QQQ.pack(self.expire_ms, self.version, self.count)
        if self.big or self.value:
            return head + (b"\x01" if self.big else b"\x00") + self.value
        return head


def decode_meta(raw: bytes) -> Meta:
    t = raw[0]
    if t == STRING or t == RAW_STRING:
        return Meta(STRING, _Q.unpack_from(raw, 1)[0], value=raw[9:], raw_enc=t == RAW_STRING)
    expire, version, count = _QQQ.unpack_from(raw, 1)
    if t == LIST:
        head, tail = _QQ.unpack_from(raw, 25)
        return Meta(LIST, expire, version, count, head, tail)
    if t == STREAM:
        return Meta(STREAM, expire, version, count, value=raw[25:])
    if len(raw) > 25:  # HASH, SET: the big flag, then a small hash's field order
        return Meta(t, expire, version, count, value=raw[26:], big=raw[25] == 1)
    return Meta(t, expire, version, count)


def meta_key(db: int, key: bytes) -> bytes:
    return DB_BYTE[db] + key


def data_prefix(db: int, key: bytes, version: int) -> bytes:
    return DB_BYTE[db] + len(key).to_bytes(4, "big") + key + _Q.pack(version)


def parse_data_key(raw: bytes) -> tuple[int, bytes, int, int]:
    """-> (db, key, version, offset of the subkey)."""
    klen = int.from_bytes(raw[1:5], "big")
    end = 5 + klen
    return raw[0], raw[5:end], _Q.unpack_from(raw, end)[0], end + 8


def encode_score(score: float) -> bytes:
    """8 bytes whose byte order is the numeric order of the double (-inf < ... < +inf)."""
    (bits,) = _Q.unpack(_D.pack(score + 0.0))  # + 0.0 turns -0.0 into 0.0
    bits = bits ^ 0xFFFFFFFFFFFFFFFF if bits >> 63 else bits | (1 << 63)
    return _Q.pack(bits)


def decode_score(raw: bytes) -> float:
    (bits,) = _Q.unpack(raw[:8])
    bits = bits & ~(1 << 63) if bits >> 63 else bits ^ 0xFFFFFFFFFFFFFFFF
    return _D.unpack(_Q.pack(bits))[0]


def pack_double(score: float) -> bytes:
    return _D.pack(score)


def unpack_double(raw: bytes) -> float:
    return _D.unpack(raw)[0]


def prefix_end(prefix: bytes) -> bytes | None:
    """Smallest key greater than every key starting with prefix (None: no such key)."""
    p = bytearray(prefix)
    while p and p[-1] == 0xFF:
        p.pop()
    if not p:
        return None
    p[-1] += 1
    return bytes(p)


class Batch:
    """An atomic set of writes across the column families."""

    # metas: the meta entries it writes, for the meta cache once written (None: a range delete)
    __slots__ = ("engine", "wb", "size", "metas")

    def __init__(self, engine: Engine):
        self.engine = engine
        self.wb = WriteBatch(raw_mode=True)
        self.size = 0
        self.metas: dict | None = {}

    def put_meta(self, db: int, key: bytes, meta: Meta) -> None:
        self.put_meta_raw(meta_key(db, key), meta.encode())

    def put_meta_raw(self, mkey: bytes, raw: bytes) -> None:
        self.wb.put(mkey, raw, self.engine.meta_cf)
        self.size += 1
        if self.metas is not None:
            self.metas[mkey] = raw
        if self.engine.access.touching:
            self.engine.access.touch(mkey)

    def delete_meta_raw(self, mkey: bytes) -> None:
        self.wb.delete(mkey, self.engine.meta_cf)
        self.size += 1
        if self.metas is not None:
            self.metas[mkey] = None

    def delete_meta(self, db: int, key: bytes) -> None:
        self.delete_meta_raw(meta_key(db, key))

    def delete_range(self, lo: bytes, hi: bytes, cfi: int) -> None:
        """Every key of column family cfi (0 meta, 1 data, 2 score) in [lo, hi) (FLUSHDB)."""
        self.wb.delete_range(lo, hi, self.engine.cf_handles[cfi])
        self.size += 1
        if cfi == 0:
            self.metas = None  # the meta cache is cleared once it is written

    def put_data(self, key: bytes, value: bytes) -> None:
        self.wb.put(key, value, self.engine.data_cf)
        self.size += 1

    def delete_data(self, key: bytes) -> None:
        self.wb.delete(key, self.engine.data_cf)
        self.size += 1

    def put_score(self, key: bytes) -> None:
        self.wb.put(key, b"", self.engine.score_cf)
        self.size += 1

    def delete_score(self, key: bytes) -> None:
        self.wb.delete(key, self.engine.score_cf)
        self.size += 1


class StallState:
    """What the node knows of RocksDB write stalls, for INFO and health checks."""

    def __init__(self):
        self.since: float | None = None
        self.total_seconds = 0.0
        self.stalled_writes = 0
        self.rejected_writes = 0

    def on_stall(self) -> None:
        self.stalled_writes += 1
        if self.since is None:
            self.since = time.monotonic()

    def on_write_ok(self) -> None:
        if self.since is not None:
            self.total_seconds += time.monotonic() - self.since
            self.since = None

    @property
    def active(self) -> bool:
        return self.since is not None

    def current_seconds(self) -> float:
        return 0.0 if self.since is None else time.monotonic() - self.since


def build_options(cfg: ServerConfig) -> Options:
    """RocksDB options of cfg (rocksopts.py); the Engine keeps the RocksResources instead."""
    return RocksResources(cfg).options


class DbView:
    """An engine and a db: what the readers that take a client (iter_live_keys, Stream) need,
    for code that reads outside any client (DUMP of a stream, DEBUG DIGEST, SYNC's RDB)."""

    __slots__ = ("engine", "db")

    def __init__(self, engine, db: int):
        self.engine = engine
        self.db = db


def read_counted(c, read, *args):
    """read(*args), its key lookups counted as Redis's lookupKeyRead: the keys a write command
    only reads (SUNIONSTORE's sources, GETDEL's key...). Server.invoke counts a read command's."""
    engine = c.engine
    before, engine.lookup_stats = engine.lookup_stats, c.server.stats
    try:
        return read(*args)
    finally:
        engine.lookup_stats = before


class Engine:
    """The RocksDB database of one storage node."""

    def __init__(self, cfg: ServerConfig, read_only: bool = False):
        self.cfg = cfg
        self.path = os.path.join(cfg.dir, "db")
        _private_db_dir(cfg.dir, self.path)
        self.rocks = RocksResources(cfg)  # options, shared block cache, memory budget
        opts = self.rocks.options
        access = AccessType.read_only() if read_only else AccessType.read_write()
        self.db = Rdict(self.path, opts, column_families={"meta": opts, "data": opts, "score": opts},
                        access_type=access)
        self.meta = self.db.get_column_family("meta")
        self.data = self.db.get_column_family("data")
        self.score = self.db.get_column_family("score")
        self.meta_cf = self.db.get_column_family_handle("meta")
        self.data_cf = self.db.get_column_family_handle("data")
        self.score_cf = self.db.get_column_family_handle("score")
        self.cf_handles = (self.meta_cf, self.data_cf, self.score_cf)
        self.meta_cache = self.rocks.meta_cache  # RocksDB's meta entries in Python (metacache.py)
        self.access = AccessTable()  # when keys were last used (OBJECT IDLETIME/FREQ, access.py)
        self.group: Group | None = None  # open while a group of commands runs (groupcommit.py)
        # Redis's lookupKeyRead accounting: the server's stats while a command reads keys the way
        # Redis counts (Server.invoke, and the write commands that read other keys), else None;
        # `missed` collects the keys of `keymiss` events while that class is enabled.
        self.lookup_stats: dict | None = None
        self.missed: list | None = None
        # bumped by every write: a write command that leaves it as it was changed nothing, and
        # is neither replicated nor seen by WATCH or tracking (Redis's server.dirty)
        self.changes = 0
        self.groups_written = self.group_ops_written = 0  # for INFO / metrics
        self._wopts = WriteOptions()
        self._wopts.no_slowdown = True
        self._wopts.sync = cfg.wal_sync == "always"
        raw = self.db.get(VERSION_FLOOR_KEY)
        self._version_floor = _Q.unpack(raw)[0] if raw else 0
        self._last_version = self._version_floor
        dbmap.load(self.db.get(DB_MAP_KEY))
        self.stall = StallState()
        self.disk = DiskState()  # write errors of the disk (full): see diskfull.py
        # (db, key) of the expired keys reads met: the command deletes them after it ran
        # (Redis's passive expiry, lazyexpire.py), unless writes are paused
        self.expired_hits: list = []

    async def wait_idle(self, limit_s: float = 10.0) -> None:
        """Wait until no thread (WAL fsync, COMPACT, BGSAVE) is using this engine before it is
        closed: such a thread keeps RocksDB open, and its LOCK would refuse a reopen."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            # 2 = the attribute + getrefcount's argument; a thread inside a call holds one more.
            if all(sys.getrefcount(getattr(self, n)) <= 2 for n in ("db", "meta", "data", "score")):
                return
            await asyncio.sleep(0.01)

    def close(self) -> None:
        """Sync the WAL and release RocksDB (its LOCK), so the path can be reopened."""
        try:
            self.db.flush_wal(True)
        finally:
            # Every column-family handle must go before close() releases the database.
            self.meta = self.data = self.score = None
            self.meta_cf = self.data_cf = self.score_cf = None
            self.cf_handles = ()
            self.group = None
            self.db.close()

    # --- versions and metadata -------------------------------------------------------------

    def next_version(self) -> int:
        v = max(self._last_version + 1, time.time_ns() // 1000)
        if v >= self._version_floor:
            floor = v + VERSION_RESERVE_US
            try:  # written before any data using v: the WAL keeps it ahead of them
                self.db.put(VERSION_FLOOR_KEY, _Q.pack(floor), self._wopts)
            except Exception as exc:
                self._raise_write_error(exc)
            self._version_floor = floor
        self._last_version = v
        return v

    def swap_dbs(self, a: int, b: int) -> None:
        """SWAPDB: logical dbs a and b exchange their keys (their prefixes). The map is written
        at once, outside any group: every write is encoded with the prefixes of its time, so
        writes staged before the swap stay in the db they were made in."""
        raw = dbmap.swapped(a, b)
        self.changes += 1
        try:
            self.db.put(DB_MAP_KEY, raw, self._wopts)
        except Exception as exc:
            self._raise_write_error(exc)
        dbmap.load(raw)

    def get_raw_meta(self, mkey: bytes) -> bytes | None:
        """The encoded meta entry of mkey (db byte + key), pending writes of the group included."""
        g = self.group
        raw = MISSING if g is None else g.get(0, mkey)
        if raw is MISSING:
            cache = self.meta_cache
            raw = cache.young.get(mkey, MISSING)
            if raw is MISSING:
                raw = self._read_meta(mkey)
            else:
                cache.hits += 1
        access = self.access
        if raw is not None and access.touching:
            if access.lfu:
                access.touch(mkey)
            else:  # AccessTable.touch's LRU case, inlined: this is every command's path
                young = access.young
                young[mkey] = access.clock
                if len(young) > GENERATION_KEYS:
                    access.turn()
        return raw

    def _read_meta(self, mkey: bytes) -> bytes | None:
        """What the meta cache's young generation lacks: from its old one, or from RocksDB."""
        cache = self.meta_cache
        raw = cache.lookup_old(mkey)
        if raw is MISSING:
            raw = self.meta.get(mkey)
            cache.put(mkey, raw)
        return raw

    def get_meta(self, db: int, key: bytes, now: int | None = None) -> Meta | None:
        """Live metadata of key, or None if it does not exist or has expired."""
        raw = self.get_raw_meta(DB_BYTE[db] + key)
        if raw is None:
            if self.lookup_stats is not None:
                self.count_miss(db, key)
            return None
        m = decode_meta(raw)
        if m.expire_ms and m.expire_ms <= (now if now is not None else now_ms()):
            self.met_expired(db, key)
            return None
        if self.lookup_stats is not None:
            self.lookup_stats["keyspace_hits"] += 1
        return m

    def count_miss(self, db: int, key: bytes) -> None:
        """A counted read lookup found no live key: a keyspace miss, and a `keymiss` event."""
        self.lookup_stats["keyspace_misses"] += 1
        if self.missed is not None:
            self.missed.append((db, key))

    def count_lookup(self, db: int, key: bytes, found: bool) -> None:
        """A read lookup made without get_meta/lookup (strings, MGET), counted if counting is on."""
        if self.lookup_stats is not None:
            if found:
                self.lookup_stats["keyspace_hits"] += 1
            else:
                self.count_miss(db, key)

    def met_expired(self, db: int, key: bytes) -> None:
        """A read lookup found key expired: kept for deletion after the command (expired_hits),
        and a keyspace miss if counted."""
        self.expired_hits.append((db, key))
        if self.lookup_stats is not None:
            self.count_miss(db, key)

    def lookup(self, db: int, key: bytes, type_: int) -> Meta | None:
        """Live metadata of key, raising WRONGTYPE if it holds another type (every collection
        command starts here)."""
        m = self.get_meta(db, key)
        if m is not None and m.type != type_:
            raise WRONGTYPE
        return m

    def new_collection(self, type_: int) -> Meta:
        return Meta(type_, 0, self.next_version(), 0)

    # --- reads ------------------------------------------------------------------------------

    def get_data(self, key: bytes) -> bytes | None:
        g = self.group
        if g is not None:
            value = g.get(1, key)
            if value is not MISSING:
                return value
        return self.data.get(key)

    def multi_get_data(self, keys: list[bytes]) -> list:
        if not keys:
            return []
        values = self.data.get(keys)
        if self.group is not None:
            self.group.overlay_onto(1, keys, values)
        return values

    def multi_get_raw_meta(self, mkeys: list[bytes]) -> list:
        """get_raw_meta of several keys: the meta cache, then one RocksDB multi_get (MGET)."""
        cache = self.meta_cache
        values = [cache.young.get(mkey, MISSING) for mkey in mkeys]
        absent = [i for i, v in enumerate(values) if v is MISSING]
        cache.hits += len(mkeys) - len(absent)
        if absent:
            for i in absent:
                values[i] = cache.lookup_old(mkeys[i])
            absent = [i for i in absent if values[i] is MISSING]
        if absent:
            read = self.meta.get([mkeys[i] for i in absent])
            for i, raw in zip(absent, read, strict=True):
                values[i] = raw
                cache.put(mkeys[i], raw)
        if self.group is not None:
            self.group.overlay_onto(0, mkeys, values)
        access = self.access
        if access.touching:
            for mkey, raw in zip(mkeys, values, strict=True):
                if raw is not None:
                    access.touch(mkey)
        return values

    def cf_index(self, cf) -> int:
        """0, 1, 2 for the meta, data, score column family (object or handle); -1 otherwise."""
        for i, (obj, handle) in enumerate(((self.meta, self.meta_cf), (self.data, self.data_cf),
                                           (self.score, self.score_cf))):
            if cf is obj or cf is handle:
                return i
        return -1

    def scan(self, cf, prefix: bytes, start: bytes | None = None, reverse: bool = False):
        """Yield (key, value) of cf in key order (or reverse) among keys starting with prefix.

        start: forward: first key >= start; reverse: first key <= start.
        While a group is open its pending writes are merged in (read-your-writes).
        """
        g = self.group
        if g is not None and g.size:
            cfi = self.cf_index(cf)
            if cfi >= 0:
                return g.merge(cfi, self._scan(cf, prefix, start, reverse), prefix, start, reverse)
        return self._scan(cf, prefix, start, reverse)

    def _scan(self, cf, prefix: bytes, start: bytes | None, reverse: bool):
        ropts = ReadOptions()
        end = prefix_end(prefix)
        # No iterate_lower_bound: rocksdict 0.3.29 applies it as an upper bound. Reverse scans
        # stop at the prefix themselves.
        if end is not None:
            ropts.set_iterate_upper_bound(end)
        it = cf.iter(ropts)
        if not reverse:
            if start is None and not prefix:
                it.seek_to_first()
            else:
                it.seek(start if start is not None else prefix)
            while it.valid():
                yield it.key(), it.value()
                it.next()
        else:
            if start is not None:
                it.seek_for_prev(start)
            else:
                it.seek_to_last()
            while it.valid():
                key = it.key()
                if not key.startswith(prefix):
                    break
                yield key, it.value()
                it.prev()

    # --- writes -----------------------------------------------------------------------------

    def batch(self) -> Batch | PendingBatch:
        return Batch(self) if self.group is None else PendingBatch(self)

    def commit(self, batch: Batch | PendingBatch) -> None:
        if not batch.size:
            return
        self.changes += 1
        if type(batch) is PendingBatch:
            if self.group is not None:
                batch.apply_to(self.group)
                return
            batch = batch.as_batch(Batch(self))  # its group was closed meanwhile
        try:
            self.db.write(batch.wb, self._wopts)
        except Exception as exc:  # rocksdict raises plain Exception with RocksDB's status text
            self._raise_write_error(exc)
        if self.stall.since is not None:
            self.stall.on_write_ok()
        if batch.metas is None:
            self.meta_cache.clear()
        else:
            self.meta_cache.absorb(batch.metas)

    def put_meta_now(self, mkey: bytes, raw: bytes) -> None:
        """One meta write without a batch (the common SET): same stall handling as commit()."""
        self.changes += 1
        access = self.access
        if access.touching:
            if access.lfu:
                access.touch(mkey)
            else:  # AccessTable.touch's LRU case, inlined as in get_raw_meta
                young = access.young
                young[mkey] = access.clock
                if len(young) > GENERATION_KEYS:
                    access.turn()
        g = self.group
        if g is not None:
            g.put(0, mkey, raw)
            return
        try:
            self.meta.put(mkey, raw, self._wopts)
        except Exception as exc:
            self._raise_write_error(exc)
        if self.stall.since is not None:
            self.stall.on_write_ok()
        self.meta_cache.refresh(mkey, raw)

    # --- group commit (groupcommit.py) -----------------------------------------------------

    def open_group(self) -> Group:
        self.group = Group(self)
        return self.group

    def close_group(self) -> Group | None:
        """Detach the open group (its writes are not written: see write_group)."""
        g, self.group = self.group, None
        return g

    def write_group(self, g: Group) -> None:
        """Write a closed group as one WriteBatch; raises WriteStall or the disk's error, in which
        case nothing of it was applied and it can be written again."""
        if g.size:
            try:
                self._write(g.wb)
            except BaseException:
                g.rebuild()
                raise
            self.groups_written += 1
            self.group_ops_written += g.size
            if any(cfi == 0 for cfi, _, _ in g.ranges):
                self.meta_cache.clear()
            else:
                self.meta_cache.absorb(g.overlay[0])

    def _write(self, wb) -> None:
        try:
            self.db.write(wb, self._wopts)
        except Exception as exc:
            self._raise_write_error(exc)
        if self.stall.since is not None:
            self.stall.on_write_ok()

    def _raise_write_error(self, exc: Exception):
        text = str(exc)
        if "stall" in text.lower() or "incomplete" in text.lower():
            self.stall.on_stall()
            raise WriteStall(text) from None
        reason = classify(text)
        if reason is not None:
            self.disk.on_error(reason, text)
            raise self.disk.refuse() from None
        raise exc

    def flush_wal(self) -> None:
        try:
            self.db.flush_wal(True)
        except Exception as exc:
            self._raise_write_error(exc)

    # --- RocksDB state for INFO -------------------------------------------------------------

    def properties(self) -> dict[str, int]:
        out = {"write_stopped": 0, "delayed_write_rate": 0, "l0_files": 0,
               "pending_compaction_bytes": 0, "memtable_bytes": 0, "estimate_keys": 0,
               "sst_bytes": 0}
        for cf in (self.meta, self.data, self.score):
            out["write_stopped"] |= _int_prop(cf, "rocksdb.is-write-stopped")
            out["l0_files"] += _int_prop(cf, "rocksdb.num-files-at-level0")
            out["pending_compaction_bytes"] += _int_prop(cf, "rocksdb.estimate-pending-compaction-bytes")
            out["memtable_bytes"] += _int_prop(cf, "rocksdb.cur-size-all-mem-tables")
            out["sst_bytes"] += _int_prop(cf, "rocksdb.total-sst-files-size")
            out["delayed_write_rate"] = max(out["delayed_write_rate"], _int_prop(cf, "rocksdb.actual-delayed-write-rate"))
        out["estimate_keys"] = _int_prop(self.meta, "rocksdb.estimate-num-keys")
        return out

    def compact(self) -> None:
        """Full compaction (blocking: call it from a thread)."""
        for cf in (self.meta, self.data, self.score):
            cf.compact_range(None, None)


def _private_db_dir(data_dir: str, path: str) -> None:
    """The RocksDB directory and its files (WAL with cached values, SST, LOG) owner-only; files
    created later are too (the `xcache` command runs with umask 077). A data dir the node creates
    is 0700; an existing one is left as it is (it may be shared, like /tmp)."""
    os.makedirs(data_dir, mode=0o700, exist_ok=True)
    os.makedirs(path, mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)
    for name in os.listdir(path):
        full = os.path.join(path, name)
        if os.path.isfile(full) and os.stat(full).st_mode & 0o077:
            os.chmod(full, 0o600)


def _int_prop(cf, name: str) -> int:
    try:
        value = cf.property_int_value(name)
    except Exception:
        return 0
    return int(value or 0)
