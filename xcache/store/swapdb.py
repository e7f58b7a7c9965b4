"""SWAPDB as Redis 7.0's dbSwapDatabases: two dbs exchange their keys in O(1).

The engine swaps the key prefixes of the two dbs (dbmap.py); clients stay in the db they
selected and see its new keys. As Redis does, WATCHed keys that exist in either db are touched
(unless only an expired key comes or goes)
and clients blocked on keys of either db look again (a list that now exists serves them; an
XREADGROUP whose stream is gone is answered its error). The command is replicated as it is.
"""

from __future__ import annotations

from xcache.resp import OK, Error
from xcache.store.commands import command, parse_int
from xcache.store.dbmap import db_byte
from xcache.store.engine import decode_meta, now_ms


def _index(raw: bytes, which: str) -> int:
    """getIntFromObjectOrReply: a 32-bit integer, or Redis's error naming the argument."""
    error = Error(f"ERR invalid {which} DB index")
    value = parse_int(raw, error)
    if not -(1 << 31) <= value < 1 << 31:
        raise error
    return value


def _state(engine, db: int, key: bytes) -> str:
    """'absent', 'stale' (expired, not deleted yet) or 'live': read raw, deleting nothing."""
    raw = engine.get_raw_meta(db_byte(db) + key)
    if raw is None:
        return "absent"
    expire = decode_meta(raw).expire_ms
    return "stale" if expire and expire <= now_ms() else "live"


def _touch_watchers(engine, db: int, old_db: int, key: bytes, clients) -> None:
    """Redis 7.0's touchAllWatchedKeysInDb for a key watched in db, whose keys now are those
    old_db had: a change that is only between stale and absent touches nobody."""
    before, after = _state(engine, old_db, key), _state(engine, db, key)
    if before == "absent" and after == "absent":
        return
    for other in clients:
        if (db, key) in other.watched_expired:  # it was stale when watched
            if after == "absent":
                other.watched_expired.discard((db, key))  # deleted: no logical change
                continue
            if after == "stale":
                continue
        elif before == "absent" and after == "stale":
            other.watched_expired.add((db, key))  # absent replaced by stale: still absent
            continue
        other.dirty_cas = True


@command("swapdb", 3, "write fast", 0, 0, 0)
def swapdb(c, args):
    a, b = _index(args[0], "first"), _index(args[1], "second")
    server = c.server
    if not (0 <= a < server.cfg.databases and 0 <= b < server.cfg.databases):
        raise Error("ERR DB index is out of range")
    if a == b:
        return OK
    c.engine.swap_dbs(a, b)  # first: a stalled write raises before anything changed
    for (db, key), clients in server.watchers.items():
        if db in (a, b):
            _touch_watchers(c.engine, db, b if db == a else a, key, clients)
    for db, key in list(server.key_waiters):  # scanDatabaseForReadyKeys / ...DeletedStreams
        if db in (a, b):
            server.signal_key(db, key)
    return OK
