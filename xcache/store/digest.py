"""DEBUG DIGEST and DEBUG DIGEST-VALUE: Redis 7.0's dataset and value digests (src/debug.c),
computed the same way, so a digest taken here equals redis-server's for the same data.

Ordered contents (a list, a stream's entries, a string) are mixed in: digest = SHA1(digest xor
SHA1(data)); unordered ones (set members, hash fields, zset members) are xored in, each pair first
mixed into a digest of its own, so the order a node stores them in does not matter.
"""

from __future__ import annotations

import struct
from hashlib import sha1

from xcache.store.engine import (
    HASH,
    LIST,
    SET,
    STREAM,
    STRING,
    ZSET,
    DbView,
    Meta,
    data_prefix,
    unpack_double,
)
from xcache.store.keys import iter_live_keys
from xcache.store.stream_model import MAX_ID, ZERO_ID, Stream

# Redis's OBJ_* type codes, which the digest starts with
_REDIS_TYPE = {STRING: 0, LIST: 1, SET: 2, ZSET: 3, HASH: 4, STREAM: 6}
ZERO = bytes(20)


def _xor(digest: bytes, data: bytes) -> bytes:
    return (int.from_bytes(digest, "big") ^ int.from_bytes(sha1(data).digest(), "big")).to_bytes(20, "big")


def _mix(digest: bytes, data: bytes) -> bytes:
    return sha1(_xor(digest, data)).digest()


def _pair(a: bytes, b: bytes) -> bytes:
    """The digest of one member and its score, or one field and its value."""
    return _mix(_mix(ZERO, a), b)


def value_digest(engine, db: int, key: bytes, meta: Meta, digest: bytes = ZERO) -> bytes:
    """xorObjectDigest: key's value (and whether it expires) mixed into digest."""
    d = _mix(digest, struct.pack(">I", _REDIS_TYPE[meta.type]))
    if meta.type == STRING:
        value = meta.value
        d = _mix(d, b"%d" % value if isinstance(value, int) else value)
    elif meta.type == STREAM:
        for (ms, seq), fields in Stream(DbView(engine, db), key, meta).range(ZERO_ID, MAX_ID):
            d = _mix(d, b"%d.%d" % (ms, seq))
            for item in fields:
                d = _mix(d, item)
    else:
        prefix = data_prefix(db, key, meta.version)
        n = len(prefix)
        for k, v in engine.scan(engine.data, prefix):
            if meta.type == LIST:
                d = _mix(d, v)
            elif meta.type == SET:
                d = _xor(d, k[n:])
            elif meta.type == ZSET:
                d = _xor(d, _pair(k[n:], b"%.17g" % unpack_double(v)))
            else:
                d = _xor(d, _pair(k[n:], v))
    if meta.expire_ms:
        d = _xor(d, b"!!expire!!")
    return d


def dataset_digest(engine, databases: int) -> bytes:
    """computeDatasetDigest: every db that holds keys, then each key and its value, xored in."""
    final = ZERO
    for db in range(databases):
        keys = list(iter_live_keys(DbView(engine, db)))
        if not keys:
            continue
        final = _mix(final, struct.pack(">I", db))
        for key, meta in keys:
            final = _xor(final, value_digest(engine, db, key, meta, _mix(ZERO, key)))
    return final
