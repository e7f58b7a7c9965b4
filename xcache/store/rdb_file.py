"""A whole RDB file (version 10, as Redis 7.0 writes it) of a node's data, for SYNC: the
replication protocol before PSYNC, which tools still speak (`redis-cli --rdb`, `redis-cli
--functions-rdb`, Redis's own test suite attaching to the replication stream).

The file is written from a RocksDB checkpoint (taken on the event loop at the stream offset the
client is followed from, as PSYNC's full resync does), in a worker thread, to a file on disk: a
dataset of any size is served without blocking the node or holding the RDB in memory. Its checksum
is written as 0, which Redis reads as "saved with checksum disabled".

Layout as Redis 7.0's rdbSaveRio: aux fields, the function libraries (RDB_OPCODE_FUNCTION2 each),
then each non-empty db (SELECTDB, RESIZEDB, its keys), then EOF and the checksum.
"""

from __future__ import annotations

import struct
import time

from rocksdict import AccessType, Options, Rdict

from xcache.store.dump import value_body
from xcache.store.engine import DB_MAP_KEY, Engine, decode_meta, now_ms
from xcache.store.functions import OPCODE_FUNCTION2
from xcache.store.functions import PREFIX as FUNCTION_PREFIX
from xcache.store.rdb import RDB_VERSION, _len, _string
from xcache.store.version import REDIS_VERSION

_AUX, _RESIZEDB, _EXPIRETIME_MS, _SELECTDB, _EOF = 0xFA, 0xFB, 0xFC, 0xFE, 0xFF
_WRITE_BUFFER = 1 << 20


def _aux(name: bytes, value: bytes) -> bytes:
    return bytes((_AUX,)) + _string(name) + _string(value)


class CheckpointReader:
    """A checkpoint's RocksDB, opened read-only, read as the node's value readers (dump.value_body,
    the stream model) read an Engine. Their keys carry the db prefix of the *current* SWAPDB map
    (engine.DB_BYTE, which may change while this thread runs); scan and get_data put the prefix
    of the db being written, in the checkpoint's own map, in its place (set_db)."""

    group = None  # no pending writes: the readers see the checkpoint as it is

    def __init__(self, path: str):
        opts = Options(raw_mode=True)
        self.db = Rdict(path, opts, column_families={"meta": opts, "data": opts, "score": opts},
                        access_type=AccessType.read_only())
        self.meta = self.db.get_column_family("meta")
        self.data = self.db.get_column_family("data")
        self.score = self.db.get_column_family("score")
        raw = self.db.get(DB_MAP_KEY)
        self.db_bytes = [raw[i:i + 1] if raw and len(raw) == 256 else bytes((i,))
                         for i in range(256)]
        self.phys = b"\x00"

    def set_db(self, db: int) -> None:
        self.phys = self.db_bytes[db]

    def scan(self, cf, prefix: bytes, start: bytes | None = None, reverse: bool = False):
        p = self.phys
        return Engine._scan(self, cf, p + prefix[1:], None if start is None else p + start[1:],
                            reverse)

    def get_data(self, key: bytes) -> bytes | None:
        return self.data.get(self.phys + key[1:])

    def multi_get_data(self, keys: list[bytes]) -> list:
        return self.data.get([self.phys + k[1:] for k in keys]) if keys else []

    def live_keys(self, db: int, now: int):
        """(key, Meta) of the live keys of logical db, in key order."""
        prefix = self.db_bytes[db]
        for mk, raw in Engine._scan(self, self.meta, prefix, None, False):
            meta = decode_meta(raw)
            if meta.expire_ms and meta.expire_ms <= now:
                continue
            yield mk[1:], meta

    def function_codes(self) -> list[bytes]:
        return [code for _, code in Engine._scan(self, self.db, FUNCTION_PREFIX, None, False)]

    def close(self) -> None:
        self.meta = self.data = self.score = None
        self.db.close()


def write_rdb(checkpoint: str, out_path: str, databases: int, replid: str, offset: int,
              data: bool = True, functions: bool = True) -> int:
    """Write the RDB of the checkpoint at `checkpoint` to out_path; returns its size. Blocking:
    run it in a thread. data / functions: include the keys / the function libraries (REPLCONF
    rdb-filter-only)."""
    reader = CheckpointReader(checkpoint)
    try:
        with open(out_path, "wb", buffering=_WRITE_BUFFER) as out:
            write_to(reader, out, databases, replid, offset, data, functions)
            return out.tell()
    finally:
        reader.close()


def write_to(reader: CheckpointReader, out, databases: int, replid: str, offset: int,
             data: bool = True, functions: bool = True) -> None:
    out.write(b"".join([
        b"REDIS%04d" % RDB_VERSION, _aux(b"redis-ver", REDIS_VERSION.encode()),
        _aux(b"redis-bits", b"64"), _aux(b"ctime", b"%d" % time.time()),
        _aux(b"used-mem", b"0"), _aux(b"repl-stream-db", b"0"),
        _aux(b"repl-id", replid.encode()), _aux(b"repl-offset", b"%d" % offset),
        _aux(b"aof-base", b"0")]))
    if functions:
        for code in reader.function_codes():
            out.write(bytes((OPCODE_FUNCTION2,)) + _string(code))
    now = now_ms()
    for db in range(databases if data else 0):
        reader.set_db(db)
        count = expiring = 0  # RESIZEDB comes first: one pass to count, one to write
        for _, meta in reader.live_keys(db, now):
            count += 1
            expiring += bool(meta.expire_ms)
        if not count:
            continue
        out.write(bytes((_SELECTDB,)) + _len(db) + bytes((_RESIZEDB,)) + _len(count)
                  + _len(expiring))
        for key, meta in reader.live_keys(db, now):  # the same keys: the checkpoint is fixed
            body = value_body(reader, db, key, meta)
            if meta.expire_ms:
                out.write(bytes((_EXPIRETIME_MS,)) + struct.pack("<q", meta.expire_ms))
            out.write(body[:1] + _string(key) + body[1:])
    out.write(bytes((_EOF,)) + bytes(8))
