"""A whole RDB file (version 10, as Redis 7.0 writes it) of a node's data, for SYNC: the
replication protocol before PSYNC, which tools still speak (`redis-cli --rdb`, Redis's own test
suite attaching to the replication stream).

The file is built in memory from the committed data, on the event loop, so it is exactly the data
at the stream offset it is followed from; SYNC refuses a dataset whose file would pass MAX_BYTES
rather than stall the node (replicas use PSYNC, whose snapshot is a RocksDB checkpoint sent from
a thread). Its checksum is written as 0, which Redis reads as "saved with checksum disabled".
"""

from __future__ import annotations

import struct
import time

from xcache.store.dump import value_body
from xcache.store.engine import DbView
from xcache.store.keys import iter_live_keys
from xcache.store.rdb import RDB_VERSION, _len, _string
from xcache.store.version import REDIS_VERSION

MAX_BYTES = 16 * 1024 * 1024
_AUX, _RESIZEDB, _EXPIRETIME_MS, _SELECTDB, _EOF = 0xFA, 0xFB, 0xFC, 0xFE, 0xFF


class TooLarge(Exception):
    """The dataset's RDB would pass MAX_BYTES."""


def _aux(name: bytes, value: bytes) -> bytes:
    return bytes((_AUX,)) + _string(name) + _string(value)


def rdb_file(engine, databases: int, replid: str, offset: int) -> bytes:
    out = [b"REDIS%04d" % RDB_VERSION, _aux(b"redis-ver", REDIS_VERSION.encode()),
           _aux(b"redis-bits", b"64"), _aux(b"ctime", b"%d" % time.time()),
           _aux(b"used-mem", b"0"), _aux(b"repl-stream-db", b"0"),
           _aux(b"repl-id", replid.encode()), _aux(b"repl-offset", b"%d" % offset),
           _aux(b"aof-base", b"0")]
    size = sum(map(len, out))
    for db in range(databases):
        keys = list(iter_live_keys(DbView(engine, db)))
        if not keys:
            continue
        expiring = sum(1 for _, meta in keys if meta.expire_ms)
        out.append(bytes((_SELECTDB,)) + _len(db) + bytes((_RESIZEDB,)) + _len(len(keys))
                   + _len(expiring))
        for key, meta in keys:
            body = value_body(engine, db, key, meta)
            entry = (bytes((_EXPIRETIME_MS,)) + struct.pack("<q", meta.expire_ms)
                     if meta.expire_ms else b"") + body[:1] + _string(key) + body[1:]
            size += len(entry)
            if size > MAX_BYTES:
                raise TooLarge
            out.append(entry)
    out.append(bytes((_EOF,)) + bytes(8))
    return b"".join(out)
