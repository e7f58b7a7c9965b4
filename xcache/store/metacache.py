"""The meta entries of recently used keys, held in Python (issue 14).

Every command reads its key's meta entry first (a string's whole value lives in it). In RocksDB
that is a memtable skiplist seek, 1-2 µs of cache misses per lookup on a busy node; a dict
lookup is 0.1 µs. The cache mirrors what RocksDB holds: Engine fills it from its reads, and
after each write reached RocksDB (Engine.commit, put_meta_now, write_group), never before, the
keys it holds take their new entries; so a write that fails or is still pending in a group
leaves it as it was. Written keys it does not hold stay out (a write-only workload costs it
nothing). A range delete (FLUSHDB) clears it.

It is bounded in bytes (`meta_cache_bytes`; under a memory budget, part of it: rocksopts.py) with
two generations instead of an LRU list: lookups fill `young`; when young holds half the
capacity it becomes `old` and the previous old is dropped; a key found in old moves back to
young. So the cache keeps what was used since the last turn over, and never more than its
capacity (sizes are estimated: CPython object sizes plus a dict slot, ENTRY_OVERHEAD), but for
the growth of one written batch's entries.
"""

from __future__ import annotations

from xcache.store.groupcommit import MISSING  # not cached: read RocksDB

ENTRY_OVERHEAD = 150  # two bytes objects' headers (33 each) and the dict's share per entry
MAX_ENTRY_FRACTION = 64  # an entry larger than 1/64 of the capacity is not cached


class MetaCache:
    __slots__ = ("young", "old", "young_bytes", "old_bytes", "capacity", "max_entry",
                 "hits", "misses")

    def __init__(self, capacity_bytes: int):
        self.young: dict = {}
        self.old: dict = {}
        self.young_bytes = self.old_bytes = 0
        self.hits = self.misses = 0
        self.capacity = self.max_entry = 0
        self.resize(capacity_bytes)

    def resize(self, capacity_bytes: int) -> None:
        if capacity_bytes < self.capacity:
            self.clear()
        self.capacity = capacity_bytes
        self.max_entry = capacity_bytes // MAX_ENTRY_FRACTION

    def lookup_old(self, mkey: bytes):
        """The miss path of a lookup in young: old's entry (moved to young) or MISSING."""
        raw = self.old.pop(mkey, MISSING)
        if raw is MISSING:
            self.misses += 1
            return MISSING
        self.hits += 1
        self.old_bytes -= _size(mkey, raw)
        self.put(mkey, raw)
        return raw

    def put(self, mkey: bytes, raw: bytes | None) -> None:
        """Cache mkey's entry (not in old) as RocksDB now holds it (None: no such key)."""
        size = _size(mkey, raw)
        if size > self.max_entry:
            self.forget(mkey)
            return
        if (self.young_bytes + size) * 2 > self.capacity:
            self._turn()
        self.young[mkey] = raw
        self.young_bytes += size

    def refresh(self, mkey: bytes, raw: bytes | None) -> None:
        """A write of mkey reached RocksDB: a cached entry of it takes the new value. An uncached
        key stays out: a write-only key costs the cache nothing."""
        if mkey in self.young or mkey in self.old:
            self.forget(mkey)
            self.put(mkey, raw)

    def absorb(self, entries: dict) -> None:
        """refresh of the meta entries of a batch or a group RocksDB just wrote (None: deleted).
        The cached keys are found by a set intersection and updated by one dict update, in C:
        a group of 500 SETs costs a few µs here, not 500 calls."""
        if not self.capacity:
            return
        cached = self.young.keys() & entries.keys()
        if cached:
            new = {mkey: entries[mkey] for mkey in cached}
            replaced = sum(map(len, filter(None, map(self.young.get, cached))))
            self.young.update(new)
            values = list(filter(None, new.values()))
            self.young_bytes += sum(map(len, values)) - replaced  # same keys, new values
            if max(map(len, values), default=0) + ENTRY_OVERHEAD > self.max_entry:
                for mkey, raw in new.items():  # too large to keep (rare)
                    if _size(mkey, raw) > self.max_entry:
                        self.forget(mkey)
        if self.old:
            for mkey in self.old.keys() & entries.keys():
                self.forget(mkey)
                self.put(mkey, entries[mkey])
        if self.young_bytes * 2 > self.capacity:
            self._turn()

    def _turn(self) -> None:
        """young becomes old; the previous old is dropped."""
        self.old, self.young = self.young, {}
        self.old_bytes, self.young_bytes = self.young_bytes, 0
        if self.old_bytes > self.capacity:  # one batch larger than the whole cache
            self.clear()

    def forget(self, mkey: bytes) -> None:
        self.young.pop(mkey, None)  # its estimate stays counted until young turns over
        raw = self.old.pop(mkey, MISSING)
        if raw is not MISSING:
            self.old_bytes -= _size(mkey, raw)

    def clear(self) -> None:
        self.young, self.old = {}, {}
        self.young_bytes = self.old_bytes = 0

    def info(self) -> dict:
        return {"meta_cache_capacity": self.capacity,
                "meta_cache_used": self.young_bytes + self.old_bytes,
                "meta_cache_keys": len(self.young) + len(self.old),
                "meta_cache_hits": self.hits, "meta_cache_misses": self.misses}


def _size(mkey: bytes, raw: bytes | None) -> int:
    return len(mkey) + ENTRY_OVERHEAD + (len(raw) if raw is not None else 0)
