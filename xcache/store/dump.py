"""DUMP and RESTORE in Redis 7.0's format: an RDB-serialised value, the RDB version (10, two bytes
little-endian) and a CRC64 (Jones, as Redis's crc64.c) of all that, little-endian.

DUMP writes the plain RDB encodings every Redis since 2.x loads: strings (integer-encoded when
Redis would), RDB_TYPE_LIST, RDB_TYPE_SET, RDB_TYPE_ZSET_2 (binary scores) and RDB_TYPE_HASH;
streams as RDB_TYPE_STREAM_LISTPACKS_2 (Redis 7.0's), nodes of 100 entries built as t_stream.c.
RESTORE reads what Redis 7.0 writes or loads: strings (raw, integer, LZF-compressed), lists
(linked, ziplist, quicklist of ziplists, quicklist 2 of listpacks/plain nodes), sets (hashtable,
intset, listpack), sorted sets (ZSET, ZSET_2, ziplist, listpack) and hashes (hashtable, ziplist,
listpack), streams (STREAM_LISTPACKS and _2, with consumer groups). Modules and zipmap hashes are
refused ("Bad data format").

The RDB encodings themselves (lengths, strings, CRC64, LZF, listpack/ziplist/intset readers) are in
rdb.py, shared with FUNCTION DUMP/RESTORE; streams' are in rdb_stream.py.

Bound: both directions hold the event loop for O(size of the value) (the CRC64 is pure Python,
about 10 MB/s), like DUMP/RESTORE in Redis itself; MIGRATE does not use them (it moves keys as
commands, chunked).
"""

from __future__ import annotations

import math
import struct

from xcache.resp import OK, Error
from xcache.store.commands import SYNTAX_ERROR, command, parse_int
from xcache.store.dbmap import db_byte
from xcache.store.engine import (
    HASH,
    LIST,
    LIST_MIDDLE,
    SET,
    STREAM,
    STRING,
    ZSET,
    Meta,
    data_prefix,
    encode_score,
    now_ms,
    pack_double,
    unpack_double,
)
from xcache.store.hashes import in_hash_order, written_whole
from xcache.store.rdb import (
    BAD_FORMAT,
    BAD_PAYLOAD,
    RDB_VERSION,
    T_HASH,
    T_HASH_LISTPACK,
    T_HASH_ZIPLIST,
    T_LIST,
    T_LIST_QUICKLIST,
    T_LIST_QUICKLIST_2,
    T_LIST_ZIPLIST,
    T_SET,
    T_SET_INTSET,
    T_SET_LISTPACK,
    T_STREAM,
    T_STREAM_2,
    T_STRING,
    T_ZSET,
    T_ZSET_2,
    T_ZSET_LISTPACK,
    T_ZSET_ZIPLIST,
    _intset,
    _len,
    _listpack,
    _pairs,
    _Reader,
    _score,
    _string,
    _ziplist,
    crc64,
    verify,
)
from xcache.store.rdb_stream import deserialize_stream, serialize_stream, store_stream
from xcache.store.sets import fits_intset

BUSYKEY = Error("BUSYKEY Target key name already exists.")


def serialize(engine, db: int, key: bytes, meta: Meta) -> bytes:
    """The DUMP payload of key."""
    body = value_body(engine, db, key, meta) + struct.pack("<H", RDB_VERSION)
    return body + struct.pack("<Q", crc64(body))


def value_body(engine, db: int, key: bytes, meta: Meta) -> bytes:
    """key's value as an RDB object: its type byte, then its encoding (DUMP's payload without
    the version and checksum trailer; an RDB file's entry after the key)."""
    if meta.type == STRING:
        body = bytes((T_STRING,)) + _string(meta.value)
    else:
        prefix = data_prefix(db, key, meta.version)
        n = len(prefix)
        items = [] if meta.type == STREAM else [(k[n:], v) for k, v in engine.scan(engine.data, prefix)]
        parts = [_len(len(items))]
        if meta.type == LIST:
            kind = T_LIST
            parts += [_string(v) for _, v in items]
        elif meta.type == SET:
            kind = T_SET
            parts += [_string(m) for m, _ in items]
        elif meta.type == ZSET:
            kind = T_ZSET_2
            parts += [_string(m) + struct.pack("<d", unpack_double(v)) for m, v in items]
        elif meta.type == HASH:
            kind = T_HASH
            parts += [_string(f) + _string(v) for f, v in in_hash_order(meta, items)]
        elif meta.type == STREAM:
            parts, kind = [serialize_stream(engine, db, key, meta)[1:]], T_STREAM_2
        else:
            raise Error("ERR DUMP of this type is not supported by xcache")
        body = bytes((kind,)) + b"".join(parts)
    return body


def deserialize(payload: bytes) -> tuple[int, object]:
    """-> (xcache type, value): bytes, list of elements/members, or list of pairs."""
    r = _Reader(payload[:-10])
    return read_value(r, r.byte())


def read_value(r: _Reader, t: int) -> tuple[int, object]:
    """The value of RDB type t at r (a DUMP payload's or an RDB file's): as deserialize."""
    if t == T_STRING:
        return STRING, r.string()
    if t == T_LIST:
        return LIST, [r.string() for _ in range(r.count())]
    if t == T_LIST_ZIPLIST:
        return LIST, _ziplist(r.string())
    if t == T_LIST_QUICKLIST:
        return LIST, [e for _ in range(r.count()) for e in _ziplist(r.string())]
    if t == T_LIST_QUICKLIST_2:
        out = []
        for _ in range(r.count()):
            container = r.count()
            blob = r.string()
            if container == 1:  # PLAIN node: one element
                out.append(blob)
            elif container == 2:
                out += _listpack(blob)
            else:
                raise ValueError("bad quicklist container")
        return LIST, out
    if t == T_SET:
        return SET, [r.string() for _ in range(r.count())]
    if t == T_SET_INTSET:
        return SET, _intset(r.string())
    if t == T_SET_LISTPACK:
        return SET, _listpack(r.string())
    if t == T_ZSET:
        out = []
        for _ in range(r.count()):
            member = r.string()
            score = r.double_text()
            if math.isnan(score):
                raise ValueError("nan score")
            out.append((member, score))
        return ZSET, out
    if t == T_ZSET_2:
        out = []
        for _ in range(r.count()):
            member = r.string()
            (score,) = struct.unpack("<d", r.take(8))
            if math.isnan(score):
                raise ValueError("nan score")
            out.append((member, score))
        return ZSET, out
    if t in (T_ZSET_ZIPLIST, T_ZSET_LISTPACK):
        items = (_ziplist if t == T_ZSET_ZIPLIST else _listpack)(r.string())
        return ZSET, [(m, _score(s)) for m, s in _pairs(items)]
    if t == T_HASH:
        return HASH, [(r.string(), r.string()) for _ in range(r.count())]
    if t in (T_HASH_ZIPLIST, T_HASH_LISTPACK):
        items = (_ziplist if t == T_HASH_ZIPLIST else _listpack)(r.string())
        return HASH, _pairs(items)
    if t in (T_STREAM, T_STREAM_2):
        return STREAM, deserialize_stream(r, t)
    raise ValueError(f"unsupported RDB type {t}")


def store(c, b, key: bytes, type_: int, value, expire_ms: int) -> None:
    """Stage key := value (replacing whatever key held) into batch b."""
    engine = c.engine
    if type_ == STRING:
        b.put_meta(c.db, key, Meta(STRING, expire_ms, value=value))
        return
    if type_ == STREAM:
        store_stream(c, b, key, value, expire_ms)
        return
    meta = engine.new_collection(type_)
    meta.expire_ms = expire_ms
    prefix = data_prefix(c.db, key, meta.version)
    if type_ == LIST:
        for i, element in enumerate(value):
            b.put_data(prefix + struct.pack(">Q", LIST_MIDDLE + i), element)
        meta.count = len(value)
        meta.tail = LIST_MIDDLE + len(value)
    elif type_ == SET:
        members = dict.fromkeys(value)
        for m in members:
            b.put_data(prefix + m, b"")
        meta.count = len(members)
        meta.big = not fits_intset(c, list(members), meta.count)
    elif type_ == HASH:
        fields = dict(value)
        for f, v in fields.items():
            b.put_data(prefix + f, v)
        written_whole(c, meta, fields)
    else:
        scores = dict(value)
        for m, s in scores.items():
            b.put_data(prefix + m, pack_double(s))
            b.put_score(prefix + encode_score(s) + m)
        meta.count = len(scores)
    b.put_meta(c.db, key, meta)


# --- commands -------------------------------------------------------------------------------

@command("dump", 2, "readonly")
def dump(c, args):
    meta = c.engine.get_meta(c.db, args[0])
    if meta is None:
        return None
    return serialize(c.engine, c.db, args[0], meta)


@command("restore-asking", -4, "write denyoom asking")  # cluster's RESTORE; same on one node
@command("restore", -4, "write denyoom")
def restore(c, args):
    key, ttl_raw, payload = args[0], args[1], args[2]
    replace = absttl = False
    idle = freq = -1
    j = 3
    while j < len(args):
        opt = args[j].upper()
        more = len(args) - j - 1
        if opt == b"REPLACE":
            replace = True
        elif opt == b"ABSTTL":
            absttl = True
        elif opt == b"IDLETIME" and more >= 1 and freq == -1:
            idle = parse_int(args[j + 1])
            if idle < 0:
                raise Error("ERR Invalid IDLETIME value, must be >= 0")
            j += 1
        elif opt == b"FREQ" and more >= 1 and idle == -1:
            freq = parse_int(args[j + 1])
            if freq < 0 or freq > 255:
                raise Error("ERR Invalid FREQ value, must be >= 0 and <= 255")
            j += 1
        else:
            raise SYNTAX_ERROR
        j += 1
    existing = c.engine.get_meta(c.db, key)
    if not replace and existing is not None:
        raise BUSYKEY
    ttl = parse_int(ttl_raw)
    if ttl < 0:
        raise Error("ERR Invalid TTL value, must be >= 0")
    if not verify(payload):
        raise BAD_PAYLOAD
    try:
        type_, value = deserialize(payload)
    except (ValueError, IndexError, KeyError, struct.error, OverflowError, UnicodeDecodeError):
        raise BAD_FORMAT from None
    if type_ not in (STRING, STREAM) and not value:
        raise BAD_FORMAT  # Redis refuses empty collections (a stream may be empty)
    expire_ms = (ttl if absttl else ttl + now_ms()) if ttl else 0
    b = c.engine.batch()
    if expire_ms and expire_ms <= now_ms():  # already expired: only the old key goes
        if existing is not None:
            b.delete_meta(c.db, key)
            c.engine.commit(b)
            c.propagate = [b"DEL", key]
        else:
            c.propagate = []
        return OK
    store(c, b, key, type_, value, expire_ms)
    c.engine.commit(b)
    if idle >= 0 or freq >= 0:
        c.server.access.set(db_byte(c.db) + key, idle if idle >= 0 else None, freq if freq >= 0 else None)
    if type_ in (LIST, STREAM):
        c.server.signal_key(c.db, key)
    # Replicas get the absolute expiry, so they expire the key when this node does: the command
    # as it came, a relative TTL rewritten to absolute with ABSTTL appended (as Redis does)
    if ttl and not absttl:
        c.propagate = [b"RESTORE", key, b"%d" % expire_ms, *args[2:], b"ABSTTL"]
    return OK
