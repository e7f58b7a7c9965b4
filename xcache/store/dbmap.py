"""SWAPDB's map: the byte that prefixes the keys of each (logical) db in RocksDB.

Commands, clients and everything a client sees use logical db numbers; only the key encoding
(engine.meta_key, engine.data_prefix, ...) maps them, so a swap is O(1) like Redis's swap of its
dicts. The map is stored in RocksDB (engine.DB_MAP_KEY) and loaded by the open Engine: one node
per process.
"""

from __future__ import annotations

DB_BYTE = [bytes((i,)) for i in range(256)]


def db_byte(db: int) -> bytes:
    """The key prefix of logical db."""
    return DB_BYTE[db]


def logical_db(physical: int) -> int:
    """The logical db whose keys are prefixed by the byte physical (INFO keyspace)."""
    return DB_BYTE.index(bytes((physical,)))


def swapped(a: int, b: int) -> bytes:
    """The stored form of the map once logical dbs a and b are swapped."""
    order = list(DB_BYTE)
    order[a], order[b] = order[b], order[a]
    return b"".join(order)


def load(raw: bytes | None) -> None:
    """Set the map from its stored form (none stored: each db is its own prefix)."""
    for i in range(256):
        DB_BYTE[i] = raw[i:i + 1] if raw and len(raw) == 256 else bytes((i,))
