"""Hash commands.

Encoding: meta(key) holds type HASH, expiry, version and the field count; every field is one
data entry `data_prefix(db, key, version) + field -> value`, so HGET/HSET/HDEL are point reads
and writes, and HGETALL/HSCAN are prefix scans in field (byte) order.

Redis 7.0 keeps a small hash (hash-max-listpack-entries fields, none of its fields or values
longer than hash-max-listpack-value) as a listpack, which answers HGETALL, HKEYS, HVALS and HSCAN
in insertion order, and converts it to a hashtable for good once it outgrows that. While a hash
is small its meta also holds its field order (meta.value: each field, length-prefixed); the
meta's `big` flag records the conversion, after which the order is that of the fields' bytes
(a hashtable's order is arbitrary). Adding a field to a small hash rewrites its meta, which
happens anyway: the field count changes.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from xcache.resp import OK, Error, Map, Pairs
from xcache.store.commands import (
    MAX_INT,
    MIN_INT,
    OVERFLOW,
    SYNTAX_ERROR,
    command,
    parse_int,
    wrong_arity,
)
from xcache.store.cursor import decode_cursor, encode_cursor
from xcache.store.engine import HASH, Meta, data_prefix
from xcache.store.keys import parse_scan_options
from xcache.store.strings import add_float, parse_long_double

HASH_NOT_INTEGER = Error("ERR hash value is not an integer")
HASH_NOT_FLOAT = Error("ERR hash value is not a float")
OUT_OF_RANGE = Error("ERR value is out of range")


# --- helpers shared with the other collection types (sets import these) ----------------------


def iter_subkeys(c, key: bytes, meta: Meta) -> Iterator[tuple[bytes, bytes]]:
    """Yield (subkey, value) of a collection in subkey order."""
    prefix = data_prefix(c.db, key, meta.version)
    n = len(prefix)
    for k, v in c.engine.scan(c.engine.data, prefix):
        yield k[n:], v


def scan_collection(c, key: bytes, lookup: Callable[[Any, bytes], Meta | None],
                    args: list[bytes], small=None) -> tuple[bytes, list]:
    """The HSCAN/SSCAN/ZSCAN loop: args = [cursor, options...] -> (next cursor, [(subkey, value)]).

    The cursor is the last examined subkey (stateless, see cursor.py); COUNT bounds the number of
    examined entries, MATCH filters them afterwards, as in Redis. Redis parses the cursor, then
    looks the key up (an empty page when missing, WRONGTYPE), and only then the options.
    small(c, key, meta) gives the whole collection, in Redis's order, when Redis would keep it in
    a small encoding (listpack, intset): Redis then answers all of it with cursor 0, whatever the
    cursor and COUNT.
    """
    after = decode_cursor(args[0])
    meta = lookup(c, key)
    if meta is None:
        return b"0", []
    regex, count, _ = parse_scan_options(args[1:], False)
    whole = small(c, key, meta) if small is not None else None
    if whole is not None:
        return b"0", whole if regex is None else [e for e in whole if regex.match(e[0])]
    prefix = data_prefix(c.db, key, meta.version)
    n = len(prefix)
    start = prefix + after + b"\x00" if after is not None else None
    out = []
    examined = 0
    for k, v in c.engine.scan(c.engine.data, prefix, start=start):
        sub = k[n:]
        examined += 1
        if regex is None or regex.match(sub):
            out.append((sub, v))
        if examined >= count:
            return b"%d" % encode_cursor(sub), out
    return b"0", out


def random_entries(c, key: bytes, meta: Meta, count: int, unique: bool) -> list[tuple[bytes, bytes]]:
    """count uniformly chosen (subkey, value) pairs: distinct if unique (count < meta.count), else
    with repetition. The layout has no positional index, so this is one ordered scan up to the
    highest chosen position (O(n), like Kvrocks), choosing positions first so it stays uniform."""
    size = meta.count
    if unique:
        positions = sorted(random.sample(range(size), count))
    else:
        positions = sorted(random.randrange(size) for _ in range(count))
    out: list[tuple[bytes, bytes]] = []
    i = 0
    for pos, entry in enumerate(iter_subkeys(c, key, meta)):
        while i < len(positions) and positions[i] == pos:
            out.append(entry)
            i += 1
        if i == len(positions):
            break
    random.shuffle(out)  # positions were sorted; the reply order should be random too
    return out


def parse_random_count(raw: bytes) -> int:
    """The count of HRANDFIELD/SRANDMEMBER: any integer in [-LONG_MAX, LONG_MAX]."""
    value = parse_int(raw)
    if value == MIN_INT:
        raise Error(f"ERR value is out of range, value must between {-MAX_INT} and {MAX_INT}")
    return value


# --- hash internals ------------------------------------------------------------------------

_FIELD_LEN = struct.Struct(">I")
ORDER_MAX_BYTES = 1 << 16  # past this (thresholds raised far beyond Redis's defaults) the order is dropped


def _lookup(c, key: bytes) -> Meta | None:
    return c.engine.lookup(c.db, key, HASH)


def _order(raw: bytes) -> list[bytes]:
    fields = []
    i, end = 0, len(raw)
    while i < end:
        (n,) = _FIELD_LEN.unpack_from(raw, i)
        fields.append(raw[i + 4 : i + 4 + n])
        i += 4 + n
    return fields


def _order_bytes(fields: Iterable[bytes]) -> bytes:
    return b"".join(_FIELD_LEN.pack(len(f)) + f for f in fields)


def in_hash_order(meta: Meta, entries: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """A whole hash's (field, value) pairs, read in byte order, in the order Redis answers them."""
    if meta.big or not meta.value:
        return entries
    values = dict(entries)
    order = _order(meta.value)
    if len(order) != len(values) or not all(f in values for f in order):
        return entries  # not written by this code (an older node): byte order
    return [(f, values[f]) for f in order]


def _after_write(c, meta: Meta, new: list[bytes], longest: int) -> bool:
    """Carry Redis's listpack -> hashtable conversion (hashTypeTryConversion, hashTypeSet) and the
    small hash's field order over a write that added the fields new (meta.count already counts
    them) and wrote nothing longer than longest. Returns whether meta changed."""
    if meta.big:
        return bool(new)
    settings = c.server.settings
    if longest > settings.int("hash-max-listpack-value") or meta.count > settings.int(
            "hash-max-listpack-entries"):
        meta.big, meta.value = True, b""
        return True
    if new and (meta.value or meta.count == len(new)):  # the order is known (or starts here)
        order = meta.value + _order_bytes(new)
        meta.value = order if len(order) <= ORDER_MAX_BYTES else b""
    return bool(new)


def _set_fields(c, key: bytes, pairs: dict[bytes, bytes]) -> int:
    """Write field/value pairs: one meta read, one read of the fields (a get for one, a multi-get
    for several; none for a new hash) and one batch. Returns the number of new fields.
    meta is only rewritten when its count changes (a new hash has new fields)."""
    engine = c.engine
    meta = _lookup(c, key) or engine.new_collection(HASH)
    prefix = data_prefix(c.db, key, meta.version)
    b = engine.batch()
    if len(pairs) == 1:
        for field, value in pairs.items():
            dk = prefix + field
            new = [field] if not meta.count or engine.get_data(dk) is None else []
            b.put_data(dk, value)
            longest = max(len(field), len(value))
    else:
        dkeys = [prefix + f for f in pairs]
        if meta.count:
            new = [f for f, v in zip(pairs, engine.multi_get_data(dkeys), strict=True) if v is None]
        else:
            new = list(pairs)
        for dk, value in zip(dkeys, pairs.values(), strict=True):
            b.put_data(dk, value)
        longest = 0 if meta.big else max(max(map(len, pairs)), max(map(len, pairs.values())))
    meta.count += len(new)
    if _after_write(c, meta, new, longest):  # overwritten fields alone leave the meta as it is
        b.put_meta(c.db, key, meta)
    engine.commit(b)
    return len(new)


def _field(c, key: bytes, field: bytes) -> tuple[Meta | None, bytes | None]:
    """(meta, value) of one field, for the read-modify-write commands."""
    meta = _lookup(c, key)
    if meta is None:
        return None, None
    return meta, c.engine.get_data(data_prefix(c.db, key, meta.version) + field)


def _put_field(c, key: bytes, meta: Meta | None, field: bytes, value: bytes, new: bool) -> None:
    """Write one field whose current state _field read (one batch, no second read)."""
    engine = c.engine
    if meta is None:
        meta = engine.new_collection(HASH)
    b = engine.batch()
    b.put_data(data_prefix(c.db, key, meta.version) + field, value)
    meta.count += new
    if _after_write(c, meta, [field] if new else [], max(len(field), len(value))):
        b.put_meta(c.db, key, meta)
    engine.commit(b)


def written_whole(c, meta: Meta, pairs: dict[bytes, bytes]) -> None:
    """Encoding and field order of a new hash written at once (RESTORE): as Redis's rdbLoad,
    small unless it has too many fields or too long a field or value."""
    meta.count = len(pairs)
    _after_write(c, meta, list(pairs), max(map(len, [*pairs, *pairs.values()]), default=0))


def _pairs(args: list[bytes], name: str) -> dict[bytes, bytes]:
    if len(args) == 2:
        return {args[0]: args[1]}
    if len(args) < 2 or len(args) % 2:
        raise wrong_arity(name)
    return dict(zip(args[0::2], args[1::2], strict=True))  # a repeated field keeps its last value, as in Redis


def _get(c, key: bytes, field: bytes) -> bytes | None:
    meta = _lookup(c, key)
    if meta is None:
        return None
    return c.engine.get_data(data_prefix(c.db, key, meta.version) + field)


# --- commands --------------------------------------------------------------------------------


@command("hset", -4, "write denyoom fast")
def hset(c, args):
    return _set_fields(c, args[0], _pairs(args[1:], "hset"))


@command("hmset", -4, "write denyoom fast")
def hmset(c, args):
    _set_fields(c, args[0], _pairs(args[1:], "hmset"))
    return OK


@command("hsetnx", 4, "write denyoom fast")
def hsetnx(c, args):
    key, field, value = args
    meta, current = _field(c, key, field)
    if current is not None:
        return 0
    _put_field(c, key, meta, field, value, True)
    return 1


@command("hget", 3, "readonly fast")
def hget(c, args):
    return _get(c, args[0], args[1])


@command("hmget", -3, "readonly fast")
def hmget(c, args):
    meta = _lookup(c, args[0])
    if meta is None:
        return [None] * (len(args) - 1)
    prefix = data_prefix(c.db, args[0], meta.version)
    return list(c.engine.multi_get_data([prefix + f for f in args[1:]]))


@command("hdel", -3, "write fast")
def hdel(c, args):
    key = args[0]
    meta = _lookup(c, key)
    if meta is None:
        return 0
    engine = c.engine
    prefix = data_prefix(c.db, key, meta.version)
    dkeys = list(dict.fromkeys(prefix + f for f in args[1:]))  # a repeated field counts once
    found = [dk for dk, v in zip(dkeys, engine.multi_get_data(dkeys), strict=True) if v is not None]
    if not found:
        return 0
    b = engine.batch()
    for dk in found:
        b.delete_data(dk)
    meta.count -= len(found)
    if meta.value and not meta.big:
        gone = {dk[len(prefix):] for dk in found}
        meta.value = _order_bytes(f for f in _order(meta.value) if f not in gone)
    if meta.count:
        b.put_meta(c.db, key, meta)
    else:
        b.delete_meta(c.db, key)
    engine.commit(b)
    return len(found)


@command("hlen", 2, "readonly fast")
def hlen(c, args):
    meta = _lookup(c, args[0])
    return meta.count if meta is not None else 0


@command("hexists", 3, "readonly fast")
def hexists(c, args):
    return 0 if _get(c, args[0], args[1]) is None else 1


@command("hstrlen", 3, "readonly fast")
def hstrlen(c, args):
    value = _get(c, args[0], args[1])
    return 0 if value is None else len(value)


def _all(c, key: bytes) -> list[tuple[bytes, bytes]]:
    meta = _lookup(c, key)
    return [] if meta is None else in_hash_order(meta, list(iter_subkeys(c, key, meta)))


def _listpack_whole(c, key: bytes, meta: Meta) -> list[tuple[bytes, bytes]] | None:
    """A listpack is scanned whole, in its order, whatever the cursor and COUNT (as Redis). A
    hash without its order (written before it was kept) takes the cursor walk."""
    if meta.big or not meta.value:
        return None
    return in_hash_order(meta, list(iter_subkeys(c, key, meta)))


@command("hgetall", 2, "readonly")
def hgetall(c, args):
    return Map([x for pair in _all(c, args[0]) for x in pair])


@command("hkeys", 2, "readonly")
def hkeys(c, args):
    return [f for f, _ in _all(c, args[0])]


@command("hvals", 2, "readonly")
def hvals(c, args):
    return [v for _, v in _all(c, args[0])]


@command("hincrby", 4, "write denyoom fast")
def hincrby(c, args):
    key, field = args[0], args[1]
    delta = parse_int(args[2])
    meta, current = _field(c, key, field)
    old = 0 if current is None else parse_int(current, HASH_NOT_INTEGER)
    new = old + delta
    if new < MIN_INT or new > MAX_INT:
        raise OVERFLOW
    _put_field(c, key, meta, field, b"%d" % new, current is None)
    return new


@command("hincrbyfloat", 4, "write denyoom fast")
def hincrbyfloat(c, args):
    key, field = args[0], args[1]
    delta = parse_long_double(args[2])
    if np.isinf(delta):
        raise Error("ERR value is NaN or Infinity")
    meta, current = _field(c, key, field)
    new = add_float(current, delta, HASH_NOT_FLOAT)
    _put_field(c, key, meta, field, new, current is None)
    # Replicas apply the result instead of redoing float arithmetic (Redis propagates HSET too).
    c.propagate = [b"HSET", key, field, new]
    return new


@command("hscan", -3, "readonly")
def hscan(c, args):
    key = args[0]
    cursor, entries = scan_collection(c, key, _lookup, args[1:], _listpack_whole)
    return [cursor, [x for pair in entries for x in pair]]


@command("hrandfield", -2, "readonly")
def hrandfield(c, args):
    key = args[0]
    if len(args) == 1:
        meta = _lookup(c, key)
        if meta is None:
            return None
        return random_entries(c, key, meta, 1, True)[0][0]
    count = parse_random_count(args[1])
    withvalues = False
    if len(args) == 3 and args[2].upper() == b"WITHVALUES":
        withvalues = True
    elif len(args) > 2:
        raise SYNTAX_ERROR
    if withvalues and abs(count) > MAX_INT // 2:
        raise OUT_OF_RANGE  # Redis refuses a reply size that would overflow (2 * count)
    meta = _lookup(c, key)
    if meta is None or count == 0:
        return []
    if count >= meta.count:
        entries = in_hash_order(meta, list(iter_subkeys(c, key, meta)))
    else:
        entries = random_entries(c, key, meta, abs(count), count > 0)
    if withvalues:
        return Pairs([x for pair in entries for x in pair])
    return [f for f, _ in entries]

