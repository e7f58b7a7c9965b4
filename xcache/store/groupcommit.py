"""Group commit: the writes of several commands go to RocksDB as one WriteBatch (one WAL append).

While a Group is open on the Engine (a round opens one for the chunks of the clients read in one
loop iteration, rounds.py; the replica for a chunk of its master's stream), Engine.commit and put_meta_now append to the group's WriteBatch
instead of writing, and record each pending value in an overlay per column family (None = a
deleted key). Point reads consult the overlay first and scans merge it into RocksDB's order, so
a command sees the writes of the commands before it (read-your-writes). The caller writes the
group (Engine.write_group) before it releases any reply of its commands: an acknowledged write is
in the WAL exactly as when each command wrote alone.

A Batch built while a group is open (PendingBatch) keeps its operations in a list: they reach
the group only when it is committed, so a command that fails half-way leaves nothing behind.
"""

from __future__ import annotations

from rocksdict import WriteBatch

from xcache.store.dbmap import DB_BYTE

MISSING = object()  # not in the overlay: read RocksDB
_META, _DATA, _SCORE = 0, 1, 2


class Group:
    """The pending writes of one group of commands."""

    __slots__ = ("engine", "wb", "size", "overlay", "ranges", "after")

    def __init__(self, engine):
        self.engine = engine
        self.wb = None  # made by the first write: a chunk of reads costs no WriteBatch
        self.size = 0  # operations in wb (0: nothing to write)
        self.overlay = ({}, {}, {})  # meta, data, score: key -> value | None (deleted)
        self.ranges: list[tuple[int, bytes, bytes]] = []  # (cf index, lo, hi): FLUSHDB's ranges
        self.after: list = []  # replication of the group's commands, sent once it is written

    def put(self, cfi: int, key: bytes, value: bytes) -> None:
        (self._new_wb() if self.wb is None else self.wb).put(key, value, self.engine.cf_handles[cfi])
        self.overlay[cfi][key] = value
        self.size += 1

    def delete(self, cfi: int, key: bytes) -> None:
        (self._new_wb() if self.wb is None else self.wb).delete(key, self.engine.cf_handles[cfi])
        self.overlay[cfi][key] = None
        self.size += 1

    def _new_wb(self) -> WriteBatch:
        self.wb = WriteBatch(raw_mode=True)
        return self.wb

    def delete_range(self, cfi: int, lo: bytes, hi: bytes) -> None:
        (self._new_wb() if self.wb is None else self.wb).delete_range(lo, hi, self.engine.cf_handles[cfi])
        ov = self.overlay[cfi]
        for k in [k for k in ov if lo <= k < hi]:
            del ov[k]  # older than the range: the range deletes them
        self.ranges.append((cfi, lo, hi))
        self.size += 1

    def rebuild(self) -> None:
        """A new WriteBatch with the same effect (RocksDB consumes a batch even when it refuses
        it): the range deletes, then each key's last value (those before a range were dropped)."""
        wb = WriteBatch(raw_mode=True)
        handles = self.engine.cf_handles
        for cfi, lo, hi in self.ranges:
            wb.delete_range(lo, hi, handles[cfi])
        for cfi, ov in enumerate(self.overlay):
            cf = handles[cfi]
            for k, v in ov.items():
                if v is None:
                    wb.delete(k, cf)
                else:
                    wb.put(k, v, cf)
        self.wb = wb

    def get(self, cfi: int, key: bytes):
        """The pending value of key: bytes, None (deleted) or MISSING (read RocksDB)."""
        value = self.overlay[cfi].get(key, MISSING)
        if value is MISSING and self.ranges and self.in_range(cfi, key):
            return None
        return value

    def overlay_onto(self, cfi: int, keys: list[bytes], values: list) -> None:
        """values[i], keys[i]'s value read from RocksDB (a multi_get), replaced by the pending
        value where this group has one."""
        if self.overlay[cfi] or self.ranges:
            for i, key in enumerate(keys):
                value = self.get(cfi, key)
                if value is not MISSING:
                    values[i] = value

    def in_range(self, cfi: int, key: bytes) -> bool:
        return any(i == cfi and lo <= key < hi for i, lo, hi in self.ranges)

    def merge(self, cfi: int, base, prefix: bytes, start: bytes | None, reverse: bool):
        """base (RocksDB's (key, value) in scan order) with this group's pending writes."""
        ov = self.overlay[cfi]
        if start is None:
            pend = [(k, v) for k, v in ov.items() if k.startswith(prefix)]
        elif reverse:
            pend = [(k, v) for k, v in ov.items() if k.startswith(prefix) and k <= start]
        else:
            pend = [(k, v) for k, v in ov.items() if k.startswith(prefix) and k >= start]
        pend.sort(reverse=reverse)
        ranges = [(lo, hi) for i, lo, hi in self.ranges if i == cfi]
        i, n = 0, len(pend)
        for k, v in base:
            while i < n and (pend[i][0] > k if reverse else pend[i][0] < k):
                if pend[i][1] is not None:
                    yield pend[i]
                i += 1
            if i < n and pend[i][0] == k:
                if pend[i][1] is not None:
                    yield pend[i]
                i += 1
                continue
            if ranges and any(lo <= k < hi for lo, hi in ranges):
                continue
            yield k, v
        for k, v in pend[i:]:
            if v is not None:
                yield k, v


class PendingBatch:
    """Batch's interface while a group is open: operations wait in a list until commit."""

    __slots__ = ("engine", "ops", "size")

    def __init__(self, engine):
        self.engine = engine
        self.ops: list = []
        self.size = 0

    def delete_range(self, lo: bytes, hi: bytes, cfi: int) -> None:
        self.ops.append((3, cfi, lo, hi))
        self.size += 1

    def put_meta(self, db: int, key: bytes, meta) -> None:
        self.put_meta_raw(DB_BYTE[db] + key, meta.encode())

    def put_meta_raw(self, mkey: bytes, raw: bytes) -> None:
        self.ops.append((_META, mkey, raw))
        self.size += 1
        access = self.engine.access
        if access.touching:
            access.touch(mkey)

    def delete_meta_raw(self, mkey: bytes) -> None:
        self.ops.append((_META, mkey, None))
        self.size += 1

    def delete_meta(self, db: int, key: bytes) -> None:
        self.ops.append((_META, DB_BYTE[db] + key, None))
        self.size += 1

    def put_data(self, key: bytes, value: bytes) -> None:
        self.ops.append((_DATA, key, value))
        self.size += 1

    def delete_data(self, key: bytes) -> None:
        self.ops.append((_DATA, key, None))
        self.size += 1

    def put_score(self, key: bytes) -> None:
        self.ops.append((_SCORE, key, b""))
        self.size += 1

    def delete_score(self, key: bytes) -> None:
        self.ops.append((_SCORE, key, None))
        self.size += 1

    def as_batch(self, batch):
        """The same operations in an engine.Batch (to write them outside a group)."""
        eng = self.engine
        for op in self.ops:
            if len(op) == 4:
                batch.delete_range(op[2], op[3], op[1])
            elif op[0] == _META:  # through the Batch: it tells the meta cache once written
                if op[2] is None:
                    batch.delete_meta_raw(op[1])
                else:
                    batch.put_meta_raw(op[1], op[2])
            elif op[2] is None:
                batch.wb.delete(op[1], eng.cf_handles[op[0]])
                batch.size += 1
            else:
                batch.wb.put(op[1], op[2], eng.cf_handles[op[0]])
                batch.size += 1
        return batch

    def apply_to(self, group: Group) -> None:
        """Group.put/delete/delete_range of each operation, in order (inlined: every collection
        write of a pipelined chunk passes here)."""
        handles = self.engine.cf_handles
        overlay = group.overlay
        n = 0  # operations other than range deletes (Group.delete_range counts its own)
        for op in self.ops:
            if len(op) == 4:
                group.delete_range(op[1], op[2], op[3])
                continue
            n += 1
            cfi, key, value = op
            wb = group.wb if group.wb is not None else group._new_wb()
            if value is None:
                wb.delete(key, handles[cfi])
            else:
                wb.put(key, value, handles[cfi])
            overlay[cfi][key] = value
        group.size += n
