"""DEBUG RELOAD [NOSAVE] [NOFLUSH] [MERGE] as Redis 7.0: save the dataset as an RDB file to
`dir/dbfilename` (rdb_file.py, from a checkpoint) and load it back, or (NOSAVE) load that file
into the node: RDB files written by redis-server (version <= 10) or by `redis-cli --rdb` from a
node, keys and function libraries.

Like Redis, it blocks the node while it runs (DEBUG RELOAD is a test command). Differences: a key
of the file that exists already (NOFLUSH without MERGE) makes Redis stop the server ("Duplicated
key found in RDB file"); the node answers an error instead and loads nothing (the file is checked
before anything is written). The file's CRC64 is not verified (a pure-Python CRC of a large file
would take minutes); its structure is. Loading is not replicated (as in Redis).
"""

from __future__ import annotations

import mmap
import os
import struct
import time

from rocksdict import Checkpoint

from xcache.resp import Error
from xcache.store import repl_snapshot
from xcache.store.dump import read_value, store
from xcache.store.engine import STREAM, STRING, WriteStall, now_ms
from xcache.store.rdb import RDB_VERSION, _Reader
from xcache.store.rdb_file import write_rdb

_FUNCTION2, _MODULE_AUX, _IDLE, _FREQ, _AUX, _RESIZEDB = 0xF5, 0xF7, 0xF8, 0xF9, 0xFA, 0xFB
_EXPIRETIME_MS, _EXPIRETIME, _SELECTDB, _EOF = 0xFC, 0xFD, 0xFE, 0xFF
_BATCH_KEYS = 1000
_STALL_WAIT_S = 60.0


def rdb_path(server) -> str:
    name = server.settings.values.get("dbfilename") or "dump.rdb"
    return os.path.join(os.path.abspath(server.cfg.dir), name)


def read_rdb(path: str):
    """Yield ("function", code) and ("key", db, key, type, value, expire_ms) of an RDB file."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size < 9:
            raise ValueError("short file")
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            yield from _records(_Reader(mm))


def _records(r: _Reader):
    magic = r.take(9)
    if magic[:5] != b"REDIS" or not magic[5:].isdigit():
        raise ValueError("wrong signature trying to load DB from file")
    if not 1 <= int(magic[5:]) <= RDB_VERSION:
        raise ValueError(f"can't handle RDB format version {int(magic[5:])}")
    db, expire_ms = 0, 0
    while True:
        t = r.byte()
        if t == _EOF:
            return
        if t == _EXPIRETIME_MS:
            (expire_ms,) = struct.unpack("<q", r.take(8))
        elif t == _EXPIRETIME:
            expire_ms = struct.unpack("<i", r.take(4))[0] * 1000
        elif t == _FREQ:
            r.take(1)
        elif t == _IDLE:
            r.count()
        elif t == _SELECTDB:
            db = r.count()
        elif t == _RESIZEDB:
            r.count()
            r.count()
        elif t == _AUX:
            r.string()
            r.string()
        elif t == _FUNCTION2:
            yield ("function", r.string())
        elif t == _MODULE_AUX:
            raise ValueError("the RDB holds module data (modules are not supported)")
        else:
            key = r.string()
            type_, value = read_value(r, t)
            yield ("key", db, key, type_, value, expire_ms)
            expire_ms = 0


def save(c) -> None:
    """DEBUG RELOAD's save: the committed data as an RDB file at dir/dbfilename (replaced
    atomically), from a checkpoint."""
    server = c.server
    final = rdb_path(server)
    ckpt = repl_snapshot.checkpoint_path(server.cfg.dir)
    tmp = ckpt + ".rdb"
    try:
        Checkpoint(c.engine.db).create_checkpoint(ckpt)
        rep = server.replication
        write_rdb(ckpt, tmp, server.cfg.databases, rep.replid, rep.offset)
        os.replace(tmp, final)
    finally:
        repl_snapshot.remove(ckpt)
        repl_snapshot.remove(tmp)
    server.stats["last_save"] = int(time.time())


def load(c, flush_db, merge: bool) -> None:
    """Load dir/dbfilename into the node: first flush_db(c, None) and the functions, unless
    flush_db is None (NOFLUSH); merge: the file's keys and libraries replace existing ones, else
    an existing one is an error (checked before anything changes)."""
    from xcache.store.functions import registry_of

    flush = flush_db is not None

    path = rdb_path(c.server)
    reg = registry_of(c.server)
    reg.ensure_loaded()
    try:  # the whole file is read once first: a damaged file or a conflict changes nothing
        _check(c, path, reg, conflicts=not flush and not merge)
    except FileNotFoundError:
        raise Error("ERR Error trying to load the RDB dump: no such file "
                    f"'{path}'") from None
    except (ValueError, IndexError, KeyError, struct.error, OverflowError, UnicodeDecodeError,
            OSError) as exc:
        raise Error(f"ERR Error trying to load the RDB dump: {exc}") from None
    if flush:
        flush_db(c, None)
        reg.flush()
    engine = c.engine
    now = now_ms()
    saved_db = c.db
    b, n = engine.batch(), 0
    try:
        for rec in read_rdb(path):
            if rec[0] == "function":
                reg.install(reg.compile(rec[1], replace=True))
                continue
            _, db, key, type_, value, expire_ms = rec
            if expire_ms and expire_ms < now:
                continue  # as Redis loading as a master: expired keys are not loaded
            if type_ not in (STRING, STREAM) and not value:
                continue  # an empty collection (Redis skips them too)
            if db != c.db:
                c.db = db
            store(c, b, key, type_, value, expire_ms)
            n += 1
            if n >= _BATCH_KEYS:
                _commit(engine, b)
                b, n = engine.batch(), 0
        _commit(engine, b)
    finally:
        c.db = saved_db


def _check(c, path: str, reg, conflicts: bool) -> None:
    """Read the whole file; conflicts: refuse a key or library the node already has."""
    from xcache.store.dbmap import db_byte
    from xcache.store.functions import parse_metadata

    engine = c.engine
    databases = c.server.cfg.databases
    for rec in read_rdb(path):
        if rec[0] == "function":
            name = parse_metadata(rec[1])
            if conflicts and name in reg.libraries:
                raise Error(f"ERR Error trying to load the RDB dump: library "
                            f"'{name.decode(errors='replace')}' already exists")
            continue
        db, key = rec[1], rec[2]
        if db >= databases:
            raise Error(f"ERR Error trying to load the RDB dump: DB {db} out of range "
                        f"(databases {databases})")
        if conflicts and engine.get_raw_meta(db_byte(db) + key) is not None:
            raise Error(f"ERR Error trying to load the RDB dump: duplicated key "
                        f"'{key.decode(errors='replace')}' in DB {db} (Redis stops the server "
                        f"here; xcache loads nothing)")


def _commit(engine, b) -> None:
    """Commit b, waiting out a RocksDB write stall (blocking: DEBUG RELOAD blocks the node)."""
    deadline = time.monotonic() + _STALL_WAIT_S
    while True:
        try:
            engine.commit(b)
            return
        except WriteStall:
            if time.monotonic() > deadline:
                raise Error("ERR Error trying to load the RDB dump: writes stalled") from None
            time.sleep(0.05)
