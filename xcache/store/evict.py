"""performEvictions for a node over maxmemory (maxmemory.py): Redis, over its limit, evicts the
keys its maxmemory-policy allows until it is under the limit. A node below RocksDB's floor never
gets under it, so, as Redis with a limit it cannot reach, it evicts every key the policy allows
(allkeys-*: all of them; volatile-*: those with a TTL; noeviction: none) before each command,
and is then still out of memory (denyoom commands answer -OOM: oom.py).

Each eviction is what Redis does for one: the key is deleted, an `evicted` keyspace event is
sent, WATCHers and tracking clients hear of it, `evicted_keys` counts it, and replicas get a DEL.
"""

from __future__ import annotations

from xcache.store.dbmap import logical_db
from xcache.store.notify import EVICTED, notify


def evict(server) -> int:
    """Evict what maxmemory-policy allows; the number of keys evicted."""
    policy = server.settings.values["maxmemory-policy"]
    if policy == "noeviction":
        return 0
    volatile = policy.startswith("volatile-")
    engine = server.engine
    gone = [mk for mk, raw in engine.scan(engine.meta, b"")
            if not volatile or int.from_bytes(raw[1:9], "big")]
    if not gone:
        return 0
    batch = engine.batch()
    for mk in gone:
        batch.delete_meta_raw(mk)
    engine.commit(batch)
    rep = server.replication
    for mk in gone:
        db, key = logical_db(mk[0]), mk[1:]
        if server.notify_flags & EVICTED:
            notify(server, EVICTED, b"evicted", key, db)
        if server.watchers:
            server.touch(db, key)
        if server.tracking is not None:
            server.tracking.invalidate(server, None, [key])
        rep.propagate_deletion(db, key)
    server.stats["evicted_keys"] += len(gone)
    return len(gone)
