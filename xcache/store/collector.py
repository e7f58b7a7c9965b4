"""Background collector: removes expired keys and the data of deleted or overwritten collections.

It walks the meta, data and score column families in small steps (`expire_collector_batch`
entries every `expire_collector_interval_ms`), so each step holds the event loop only briefly.
A data entry is stale when its key no longer exists, has expired, is of another type now, or
carries an older version than the key's metadata. A full pass over meta also refreshes the key
counts that INFO keyspace reports.
"""

from __future__ import annotations

import asyncio
import logging

from xcache.store.dbmap import logical_db
from xcache.store.engine import STRING, WriteStall, decode_meta, now_ms, parse_data_key
from xcache.store.notify import EXPIRED, notify

log = logging.getLogger("xcache.collector")


class Collector:
    def __init__(self, server):
        self.server = server
        self.engine = server.engine
        self._cursors: dict[str, bytes | None] = {"meta": None, "data": None, "score": None}
        self._counting: dict[int, list[int]] = {}
        self.keyspace: dict[int, tuple[int, int]] = {}  # db -> (keys, keys with expiry)
        self.passes = 0
        self.removed_entries = 0

    async def run(self) -> None:
        interval = self.server.cfg.expire_collector_interval_ms / 1000
        while True:
            await asyncio.sleep(interval)
            if self.engine.disk.full or self.server.engine_swap is not None:
                continue  # nothing can be deleted until the disk heals (diskfull.py)
            try:
                self.step()
            except WriteStall:
                pass  # RocksDB is stalled: collecting garbage now would only add to its load
            except Exception:
                log.exception("event=collector_failed")

    def step(self) -> int:
        """One bounded unit of work over each column family; returns entries removed."""
        scripts = getattr(self.server, "scripts", None)
        if scripts is not None and scripts.running is not None:
            return 0  # a script's time stands still: nothing expires while it runs (as Redis)
        limit = self.server.cfg.expire_collector_batch
        return self._step_meta(limit) + self._step_data("data", limit) + self._step_data("score", limit)

    async def run_full_pass(self, step: int = 1000) -> int:
        """Collect everything now (COMPACT uses it), yielding to the loop between steps."""
        removed = 0
        for name in ("meta", "data", "score"):
            self._cursors[name] = None
            while True:
                try:
                    removed += self._step_meta(step) if name == "meta" else self._step_data(name, step)
                except WriteStall:
                    await asyncio.sleep(0.1)  # RocksDB is stalled: come back to this step later
                    continue
                if self._cursors[name] is None:
                    break
                await asyncio.sleep(0)
        return removed

    def _step_meta(self, limit: int) -> int:
        engine = self.engine
        now = now_ms()
        batch = engine.batch()
        seen = 0
        expired = 0
        gone = []
        last = None
        # no key is expired during CLIENT PAUSE (Redis: a failover may be under way; the new
        # master sends the deletions, or they happen after the pause)
        # nor with DEBUG SET-ACTIVE-EXPIRE 0 (keys then go when a command finds them expired)
        paused = bool(self.server.pause.mode) or not getattr(self.server, "active_expire", True)
        start = self._cursors["meta"]
        if start is None:
            self._counting = {}
        for mk, raw in engine.scan(engine.meta, b"", start=start):
            if mk == start:
                continue
            last = mk
            seen += 1
            expire = int.from_bytes(raw[1:9], "big")
            if expire and expire <= now and not paused:
                batch.delete_meta_raw(mk)
                gone.append(mk)
                expired += 1
            else:
                counts = self._counting.setdefault(mk[0], [0, 0])
                counts[0] += 1
                if expire:
                    counts[1] += 1
            if seen >= limit:
                break
        if expired:
            engine.commit(batch)
            if self.server.notify_flags & EXPIRED:
                for mk in gone:
                    notify(self.server, EXPIRED, b"expired", mk[1:], logical_db(mk[0]))
            if self.server.watchers:  # an expired key's deletion touches its watchers
                for mk in gone:
                    self.server.touch(logical_db(mk[0]), mk[1:])
            if self.server.tracking is not None:  # caching clients hear of expired keys too
                self.server.tracking.invalidate(self.server, None, [mk[1:] for mk in gone])
            self.server.stats["expired_keys"] += expired
            self.removed_entries += expired
        if seen < limit:
            self._cursors["meta"] = None
            self.keyspace = {db: (n, e) for db, (n, e) in self._counting.items()}
            self.passes += 1
        else:
            self._cursors["meta"] = last
        return expired

    def _step_data(self, name: str, limit: int) -> int:
        engine = self.engine
        cf = engine.data if name == "data" else engine.score
        now = now_ms()
        batch = engine.batch()
        start = self._cursors[name]
        seen = 0
        stale = 0
        last = None
        cache_key, cache_meta = None, None
        for k, _ in engine.scan(cf, b"", start=start):
            if k == start:
                continue
            last = k
            seen += 1
            db, key, version, _ = parse_data_key(k)
            mk = bytes((db,)) + key
            if mk != cache_key:
                raw = engine.meta.get(mk)
                cache_key, cache_meta = mk, decode_meta(raw) if raw is not None else None
            m = cache_meta
            if m is None or m.type == STRING or m.version != version or (m.expire_ms and m.expire_ms <= now):
                if name == "data":
                    batch.delete_data(k)
                else:
                    batch.delete_score(k)
                stale += 1
            if seen >= limit:
                break
        if stale:
            engine.commit(batch)
            self.removed_entries += stale
        self._cursors[name] = last if seen >= limit else None
        return stale

