"""Generic key commands: DEL, EXISTS, TYPE, expiry, RENAME, SCAN, KEYS, RANDOMKEY, OBJECT."""

from __future__ import annotations

import os
import random
import re
from functools import partial

from xcache.resp import OK, Error, SimpleString
from xcache.store.commands import (
    MAX_INT,
    NO_SUCH_KEY,
    SYNTAX_ERROR,
    command,
    parse_c_int,
    parse_int,
)
from xcache.store.cursor import decode_cursor, encode_cursor
from xcache.store.dbmap import db_byte
from xcache.store.engine import (
    LIST,
    STREAM,
    STRING,
    TYPE_BY_NAME,
    TYPE_NAMES,
    ZSET,
    Meta,
    data_prefix,
    decode_meta,
    now_ms,
    read_counted,
)
from xcache.store.glob import compile_glob
from xcache.store.lazyexpire import expire_keys
from xcache.store.subcommands import help_reply, subcommands, unknown_subcommand


def delete_keys(c, keys: list[bytes], lazy: bool = False) -> int:
    """Delete keys (O(1) each: only the meta entry goes; the collector removes the rest, in the
    background). lazy (UNLINK): a value Redis would free in the background counts in INFO's
    lazyfreed_objects, as there."""
    engine = c.engine
    now = now_ms()
    b = engine.batch()
    seen = set()
    n = 0
    for key in keys:
        if key in seen:
            continue
        seen.add(key)
        meta = engine.get_meta(c.db, key, now)
        if meta is not None:
            b.delete_meta(c.db, key)
            n += 1
            if lazy and meta.type != STRING:
                from xcache.store.introspect import LAZYFREE_THRESHOLD, free_effort

                if free_effort(c, key, meta) > LAZYFREE_THRESHOLD:
                    c.server.stats["lazyfreed_objects"] += 1
    engine.commit(b)
    if n and c.server.key_waiters:  # a blocked XREADGROUP learns its stream is gone (Redis 7.0)
        for key in seen:
            c.server.signal_key(c.db, key)
    if not n:
        c.propagate = []  # nothing deleted: neither dirty nor replicated (Redis's delGenericCommand)
    return n


@command("del", -2, "write", 1, -1, 1)
def del_(c, args):
    return delete_keys(c, args, c.server.settings.values["lazyfree-lazy-user-del"] == "yes")


@command("unlink", -2, "write fast", 1, -1, 1)
def unlink(c, args):
    return delete_keys(c, args, True)


@command("exists", -2, "readonly fast", 1, -1, 1)
def exists(c, args):
    now = now_ms()
    return sum(1 for key in args if c.engine.get_meta(c.db, key, now) is not None)


@command("touch", -2, "readonly fast", 1, -1, 1)
def touch(c, args):
    return exists(c, args)


@command("type", 2, "readonly fast")
def type_(c, args):
    meta = c.engine.get_meta(c.db, args[0])
    return SimpleString(b"none" if meta is None else TYPE_NAMES[meta.type])


def set_expire(c, key: bytes, meta: Meta, expire_ms: int) -> None:
    b = c.engine.batch()
    if expire_ms and expire_ms <= now_ms():
        b.delete_meta(c.db, key)  # an expiry in the past deletes the key, as in Redis
    else:
        meta.expire_ms = expire_ms
        b.put_meta(c.db, key, meta)
    c.engine.commit(b)


def _expire(c, args, name: str, unit_ms: int, absolute: bool):
    key = args[0]
    flags = set()
    for a in args[2:]:  # options are checked before the time, as in Redis
        if a.upper() not in (b"NX", b"XX", b"GT", b"LT"):
            raise Error(f"ERR Unsupported option {a.decode(errors='replace')}")
        flags.add(a.upper())
    if b"NX" in flags and flags & {b"XX", b"GT", b"LT"}:
        raise Error("ERR NX and XX, GT or LT options at the same time are not compatible")
    if b"GT" in flags and b"LT" in flags:
        raise Error("ERR GT and LT options at the same time are not compatible")
    value = parse_int(args[1])
    if unit_ms == 1000 and (value > MAX_INT // 1000 or value < -(MAX_INT // 1000)):
        raise Error(f"ERR invalid expire time in '{name}' command")
    when = value * unit_ms if absolute else value * unit_ms + now_ms()
    if when > MAX_INT:
        raise Error(f"ERR invalid expire time in '{name}' command")
    meta = c.engine.get_meta(c.db, key)
    if meta is None:
        return 0
    current = meta.expire_ms  # 0 = no expiry, which counts as infinite for GT/LT
    if b"NX" in flags and current:
        return 0
    if b"XX" in flags and not current:
        return 0
    if b"GT" in flags and (not current or when <= current):
        return 0
    if b"LT" in flags and current and when >= current:
        return 0
    set_expire(c, key, meta, max(when, 1))
    if when <= now_ms():
        c.propagate = [b"DEL", key]
    else:
        c.propagate = [b"PEXPIREAT", key, b"%d" % when, *args[2:]]  # its NX/XX/GT/LT kept
    return 1


def _ttl(c, args, unit_ms: int, absolute: bool) -> int:
    meta = c.engine.get_meta(c.db, args[0])
    if meta is None:
        return -2
    if not meta.expire_ms:
        return -1
    if absolute:
        return meta.expire_ms // unit_ms
    remaining = max(meta.expire_ms - now_ms(), 0)
    return (remaining + unit_ms // 2) // unit_ms if unit_ms > 1 else remaining


# Each row: the command setting an expiry and the one reading it, in one unit (s or ms), relative
# or absolute (a unix time).
for _set, _get, _unit_ms, _absolute in (("expire", "ttl", 1000, False),
                                        ("pexpire", "pttl", 1, False),
                                        ("expireat", "expiretime", 1000, True),
                                        ("pexpireat", "pexpiretime", 1, True)):
    command(_set, -3, "write fast")(partial(_expire, name=_set, unit_ms=_unit_ms, absolute=_absolute))
    command(_get, 2, "readonly fast")(partial(_ttl, unit_ms=_unit_ms, absolute=_absolute))


@command("persist", 2, "write fast")
def persist(c, args):
    meta = c.engine.get_meta(c.db, args[0])
    if meta is None or not meta.expire_ms:
        return 0
    set_expire(c, args[0], meta, 0)
    return 1


def copy_key(c, src: bytes, meta: Meta, dst_db: int, dst: bytes, batch) -> None:
    """Stage a copy of src (with its data, under a new version) as dst into batch."""
    engine = c.engine
    if meta.type == STRING:
        batch.put_meta(dst_db, dst, meta)
        return
    new = Meta(meta.type, meta.expire_ms, engine.next_version(), meta.count, meta.head, meta.tail,
               meta.value, big=meta.big)
    old_prefix = data_prefix(c.db, src, meta.version)
    new_prefix = data_prefix(dst_db, dst, new.version)
    for k, v in engine.scan(engine.data, old_prefix):
        batch.put_data(new_prefix + k[len(old_prefix):], v)
    if meta.type == ZSET:
        for k, _ in engine.scan(engine.score, old_prefix):
            batch.put_score(new_prefix + k[len(old_prefix):])
    batch.put_meta(dst_db, dst, new)


def _rename(c, args, nx: bool):
    src, dst = args
    meta = c.engine.get_meta(c.db, src)
    if meta is None:
        raise NO_SUCH_KEY
    if src == dst:
        return 0 if nx else OK
    if nx and c.engine.get_meta(c.db, dst) is not None:
        return 0
    b = c.engine.batch()
    copy_key(c, src, meta, c.db, dst, b)
    b.delete_meta(c.db, src)
    c.engine.commit(b)
    if c.server.key_waiters:  # Redis signals the new key and the deleted one
        signal_ready(c, c.db, dst, meta.type)
        c.server.signal_key(c.db, src)
    return 1 if nx else OK


@command("rename", 3, "write", 1, 2, 1)
def rename(c, args):
    return _rename(c, args, False)


@command("renamenx", 3, "write fast", 1, 2, 1)
def renamenx(c, args):
    return _rename(c, args, True)


@command("copy", -3, "write denyoom", 1, 2, 1)
def copy(c, args):
    src, dst = args[0], args[1]
    dst_db, replace = c.db, False
    i = 2
    while i < len(args):
        opt = args[i].upper()
        if opt == b"REPLACE":
            replace = True
        elif opt == b"DB" and i + 1 < len(args):
            i += 1
            dst_db = parse_c_int(args[i])
            if dst_db < 0 or dst_db >= c.server.cfg.databases:
                raise Error("ERR DB index is out of range")
        else:
            raise SYNTAX_ERROR
        i += 1
    if src == dst and dst_db == c.db:
        raise Error("ERR source and destination objects are the same")
    meta = read_counted(c, c.engine.get_meta, c.db, src)
    if meta is None:
        return 0
    if not replace and c.engine.get_meta(dst_db, dst) is not None:
        return 0
    b = c.engine.batch()
    copy_key(c, src, meta, dst_db, dst, b)
    c.engine.commit(b)
    touch_other_db(c, dst_db, dst, meta)
    return 1


def touch_other_db(c, db: int, key: bytes, meta: Meta) -> None:
    """WATCH and blocked pops of another db see a key written there (after_write covers c.db)."""
    if db != c.db:
        c.server.touch(db, key)
        signal_ready(c, db, key, meta.type)


def signal_ready(c, db: int, key: bytes, type_: int) -> None:
    """signalKeyAsReady: a key added as a type a blocking command waits for wakes its clients."""
    if type_ in (LIST, ZSET, STREAM):
        c.server.signal_key(db, key)


@command("move", 3, "write fast")
def move(c, args):
    target = parse_c_int(args[1])
    if target < 0 or target >= c.server.cfg.databases:
        raise Error("ERR DB index is out of range")
    if target == c.db:
        raise Error("ERR source and destination objects are the same")
    meta = c.engine.get_meta(c.db, args[0])
    if meta is None or c.engine.get_meta(target, args[0]) is not None:
        return 0
    b = c.engine.batch()
    copy_key(c, args[0], meta, target, args[0], b)
    b.delete_meta(c.db, args[0])
    c.engine.commit(b)
    touch_other_db(c, target, args[0], meta)
    return 1


def literal_prefix(pattern: bytes) -> bytes:
    """The part of a glob before its first special character (to seek instead of full scans)."""
    m = re.match(rb"[^*?\[\\]*", pattern)
    return m.group(0) if m else b""


def iter_live_keys(c, start: bytes | None = None, prefix: bytes = b""):
    """Yield (key, Meta) of live keys of the client's db in key order, from start (inclusive)."""
    engine = c.engine
    db_prefix = db_byte(c.db)
    now = now_ms()
    seek = db_prefix + (start if start is not None else prefix)
    for mk, raw in engine.scan(engine.meta, db_prefix + prefix, start=seek):
        meta = decode_meta(raw)
        if meta.expire_ms and meta.expire_ms <= now:
            continue
        yield mk[1:], meta


@command("keys", 2, "readonly")
def keys_(c, args):
    pattern = args[0]
    if pattern == b"*":  # Redis's allkeys shortcut (also lists the empty key, which `*` does not match)
        return [k for k, _ in iter_live_keys(c)]
    regex = compile_glob(pattern)
    return [k for k, _ in iter_live_keys(c, prefix=literal_prefix(pattern)) if regex.match(k)]


def parse_scan_options(args: list[bytes], allow_type: bool) -> tuple[re.Pattern | None, int, int | None]:
    regex, count, type_ = None, 10, None
    i = 0
    while i < len(args):
        opt = args[i].upper()
        if i + 1 >= len(args):
            raise SYNTAX_ERROR
        if opt == b"MATCH":
            regex = None if args[i + 1] == b"*" else compile_glob(args[i + 1])
        elif opt == b"COUNT":
            count = parse_int(args[i + 1])
            if count < 1:
                raise SYNTAX_ERROR
        elif opt == b"TYPE" and allow_type:
            name = args[i + 1].lower()
            type_ = TYPE_BY_NAME.get(name, -1)
        else:
            raise SYNTAX_ERROR
        i += 2
    return regex, count, type_


@command("scan", -2, "readonly")
def scan(c, args):
    after = decode_cursor(args[0])
    regex, count, type_ = parse_scan_options(args[1:], True)
    engine = c.engine
    db_prefix = db_byte(c.db)
    now = now_ms()
    out = []
    examined = 0
    last = None
    seek = db_prefix + after + b"\x00" if after is not None else None
    stale = []
    cursor = b"0"
    for mk, raw in engine.scan(engine.meta, db_prefix, start=seek):
        key = mk[1:]
        last = key
        examined += 1
        meta_type, expire = raw[0] & 0x7F, int.from_bytes(raw[1:9], "big")  # RAW_STRING: STRING
        expired = expire and expire <= now
        if type_ is not None and (regex is None or regex.match(key)):
            engine.count_lookup(c.db, key, not expired)  # Redis's TYPE filter looks the key up
        if expired:
            stale.append(key)
        elif (regex is None or regex.match(key)) and (type_ is None or type_ == meta_type):
            out.append(key)
        if examined >= count:
            cursor = b"%d" % encode_cursor(last)
            break
    if stale:  # the expired keys it met go, each replicated as a DEL (not in a block: Redis)
        expire_keys(c.server, c.db, stale)
    return [cursor, out]


RANDOMKEY_SMALL = 64  # up to this many keys, RANDOMKEY picks uniformly, as Redis


@command("randomkey", 1, "readonly", 0, 0, 0)
def randomkey(c, args):
    engine = c.engine
    db_prefix = db_byte(c.db)
    now = now_ms()
    # A small keyspace is read whole: a random seek favours the key after the widest gap (with
    # `bar` and `foo` alone, `foo` would come 1 time in 60).
    live = []
    stale = []
    for examined, (mk, raw) in enumerate(engine.scan(engine.meta, db_prefix)):
        expire = int.from_bytes(raw[1:9], "big")
        if not (expire and expire <= now):
            live.append(mk[1:])
        else:
            stale.append(mk[1:])
        if len(live) > RANDOMKEY_SMALL or examined > 4 * RANDOMKEY_SMALL:
            break
    else:
        if stale:  # the expired keys it met go, each replicated as a DEL (as Redis's lookups)
            expire_keys(c.server, c.db, stale)
        return random.choice(live) if live else None
    for start in (db_prefix + os.urandom(8), None):
        for mk, raw in engine.scan(engine.meta, db_prefix, start=start):
            expire = int.from_bytes(raw[1:9], "big")
            if not (expire and expire <= now):
                return mk[1:]
    return None


ENCODINGS = {1: b"hashtable", 2: b"quicklist", 3: b"hashtable", 4: b"skiplist", 5: b"stream"}


# Redis 7.0's OBJECT help[] (src/object.c): every subcommand is served
OBJECT_HELP = (
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
)


@command("object", -2, "readonly", 2, 2, 1)
@subcommands("object")
def object_(c, args):
    sub = args[0].upper()
    if sub == b"HELP":
        return help_reply("OBJECT", OBJECT_HELP)
    if sub not in (b"ENCODING", b"FREQ", b"IDLETIME", b"REFCOUNT") or len(args) != 2:
        raise unknown_subcommand("object", args[0])
    c.engine.missed = None  # counted, but no keymiss event (LOOKUP_NONOTIFY)
    meta = c.engine.get_meta(c.db, args[1])
    if meta is None:
        return None
    if sub == b"ENCODING":
        from xcache.store.introspect import encoding_of

        return encoding_of(c, args[1], meta, ENCODINGS)
    access = c.server.access
    if sub == b"FREQ":
        if not access.lfu:
            raise Error("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
        return access.frequency(db_byte(c.db) + args[1])
    if sub == b"IDLETIME":
        if access.lfu:
            raise Error("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
        return access.idle_seconds(db_byte(c.db) + args[1])
    shared = meta.type == STRING and meta.value.isdigit() and len(meta.value) <= 4 and (
        meta.value == b"0" or meta.value[:1] != b"0")
    return 2147483647 if shared else 1  # REFCOUNT: Redis shares the integers 0..9999

