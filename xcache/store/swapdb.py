"""SWAPDB as Redis 7.0's dbSwapDatabases: two dbs exchange their keys in O(1).

The engine swaps the key prefixes of the two dbs (dbmap.py); clients stay in the db they
selected and see its new keys. As Redis does, WATCHed keys that exist in either db are touched
and clients blocked on keys of either db look again (a list that now exists serves them; an
XREADGROUP whose stream is gone is answered its error). The command is replicated as it is.
"""

from __future__ import annotations

from xcache.resp import OK, Error
from xcache.store.commands import command, parse_int


def _index(raw: bytes, which: str) -> int:
    """getIntFromObjectOrReply: a 32-bit integer, or Redis's error naming the argument."""
    error = Error(f"ERR invalid {which} DB index")
    value = parse_int(raw, error)
    if not -(1 << 31) <= value < 1 << 31:
        raise error
    return value


@command("swapdb", 3, "write fast", 0, 0, 0)
def swapdb(c, args):
    a, b = _index(args[0], "first"), _index(args[1], "second")
    server = c.server
    if not (0 <= a < server.cfg.databases and 0 <= b < server.cfg.databases):
        raise Error("ERR DB index is out of range")
    if a == b:
        return OK
    c.engine.swap_dbs(a, b)  # first: a stalled write raises before anything changed
    engine = c.engine
    for (db, key), clients in server.watchers.items():  # touchAllWatchedKeysInDb
        if db in (a, b) and (engine.get_meta(a, key) is not None
                             or engine.get_meta(b, key) is not None):
            for other in clients:
                other.dirty_cas = True
    for db, key in list(server.key_waiters):  # scanDatabaseForReadyKeys / ...DeletedStreams
        if db in (a, b):
            server.signal_key(db, key)
    return OK
