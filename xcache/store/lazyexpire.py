"""Keys a command finds expired on a master: deleted there and replicated as a DEL (Redis's
expireIfNeeded -> deleteExpiredKeyAndPropagate). Reads hide an expired key everywhere anyway
(Engine.get_meta); what this adds is the DEL in the replication stream at the point where Redis
puts it, so replicas (which never expire keys on their own in Redis) and tools reading the stream
see the same sequence. A replica, or a fenced master, deletes nothing: its master's DEL comes.

Used where Redis 7.0's stream shows such a DEL: a blocked client woken for a key that has expired
meanwhile (handleClientsBlockedOnKeys' lookupKeyWrite), SCAN and RANDOMKEY meeting expired keys.
The background collector (collector.py) does not replicate its expiries, unlike Redis's
activeExpireCycle: every node collects its own, so the stream of a master about to be demoted
does not grow past the promoted replica's history (the old master resumes with a partial sync).
"""

from __future__ import annotations

from xcache.store.dbmap import db_byte
from xcache.store.engine import WriteStall, now_ms
from xcache.store.notify import EXPIRED, notify


def expire_keys(server, db: int, keys) -> int:
    """Delete the keys of db that are stored but expired; the number deleted."""
    rep = server.replication
    if rep.read_only:
        return 0
    engine = server.engine
    now = now_ms()
    prefix = db_byte(db)
    gone = []
    for key in keys:
        raw = engine.get_raw_meta(prefix + key)
        if raw is not None:
            expire = int.from_bytes(raw[1:9], "big")
            if expire and expire <= now:
                gone.append(key)
    if not gone:
        return 0
    b = engine.batch()
    for key in gone:
        b.delete_meta(db, key)
    try:
        engine.commit(b)
    except WriteStall:
        return 0  # RocksDB is stalled: the key stays (hidden) until a later look or the collector
    server.stats["expired_keys"] += len(gone)
    for key in gone:
        if server.notify_flags & EXPIRED:
            notify(server, EXPIRED, b"expired", key, db)
        if server.watchers:  # signalModifiedKey: a watcher of a key live when watched fails
            server.touch(db, key)
        if server.tracking is not None:
            server.tracking.invalidate(server, None, [key])
        rep.propagate_deletion(db, key)
    return len(gone)
