"""Introspection of keys and memory: OBJECT ENCODING's Redis-equivalent encodings, MEMORY
USAGE/STATS/DOCTOR/MALLOC-STATS/PURGE, LOLWUT.

Values are stored in RocksDB, not in Redis's in-memory encodings; OBJECT ENCODING reports what
Redis 7.0 would use for a value of that size and content under the node's encoding thresholds
(CONFIG SET hash-max-listpack-entries ... changes the answer). A hash or set that outgrew its
small encoding keeps the big one, as in Redis (the meta's `big` flag); a sorted set is judged by
what it holds now, so one that shrinks back reports `listpack` again, unlike Redis.
"""

from __future__ import annotations

from itertools import islice

from xcache.numbers import string2ll
from xcache.resp import Error, Map, SimpleString, Verbatim
from xcache.store.commands import command, parse_int
from xcache.store.dbmap import logical_db
from xcache.store.engine import HASH, LIST, SET, STREAM, STRING, ZSET, Meta, data_prefix
from xcache.store.subcommands import help_reply, subcommands, unknown_subcommand


def _is_int(v: bytes) -> bool:
    """Whether Redis would store v as an integer (string2ll: canonical form, 64-bit range)."""
    return string2ll(v) is not None


def string_encoding(value: bytes) -> bytes:
    if _is_int(value):
        return b"int"
    return b"embstr" if len(value) <= 44 else b"raw"


def _entries(c, key: bytes, meta: Meta, limit: int):
    """The first `limit` (subkey, value) of a collection (keys.py imports this module, so no
    import of the type modules here)."""
    prefix = data_prefix(c.db, key, meta.version)
    n = len(prefix)
    return islice(((k[n:], v) for k, v in c.engine.scan(c.engine.data, prefix)), limit)


LAZYFREE_THRESHOLD = 64  # Redis frees a value in the background past this effort


def free_effort(c, key: bytes, meta: Meta) -> int:
    """Redis 7.0's lazyfreeGetFreeEffort: the allocations freeing the value would take (1 for a
    compact encoding). A quicklist's nodes and a stream's radix tree nodes are estimated from the
    element counts (128 elements a list node, stream-node-max-entries a stream node)."""
    t = meta.type
    if t == STREAM:
        from xcache.store.stream_model import Stream

        s = Stream(c, key, meta)
        per_node = c.server.settings.int("stream-node-max-entries") or s.length or 1
        effort = -(-s.length // per_node)
        groups = s.all_groups()
        if groups:  # each group and its PEL (the first group's size stands for all), as Redis
            effort += len(groups) * (1 + groups[0].pel_count)
        return effort
    if meta.count <= LAZYFREE_THRESHOLD:
        return 1  # at most meta.count in every case below: under the threshold anyway
    if t == LIST:
        return -(-meta.count // 128)
    if t in (HASH, SET, ZSET) and encoding_of(c, key, meta, {}) in (b"hashtable", b"skiplist"):
        return meta.count
    return 1


def encoding_of(c, key: bytes, meta: Meta, other: dict) -> bytes:
    """The encoding Redis 7.0 would report for this value."""
    t = meta.type
    settings = c.server.settings
    if t == STRING:
        return b"raw" if meta.raw_enc else string_encoding(meta.value)
    if t == LIST:
        return b"quicklist"
    if t == HASH and (meta.big or meta.value):  # the encoding its writes carried (hashes.py)
        return b"hashtable" if meta.big else b"listpack"
    if t == SET and meta.big:  # an intset converts for good (sets.py)
        return b"hashtable"
    if t == HASH:  # written before the flag existed (or its field order overflowed): by content
        max_entries = settings.int("hash-max-listpack-entries")
        max_value = settings.int("hash-max-listpack-value")
        if meta.count > max_entries:
            return b"hashtable"
        small = all(len(f) <= max_value and len(v) <= max_value
                    for f, v in _entries(c, key, meta, meta.count))
        return b"listpack" if small else b"hashtable"
    if t == SET:
        if meta.count > settings.int("set-max-intset-entries"):
            return b"hashtable"
        ints = all(_is_int(m) for m, _ in _entries(c, key, meta, meta.count))
        return b"intset" if ints else b"hashtable"
    if t == ZSET:
        if meta.count > settings.int("zset-max-listpack-entries"):
            return b"skiplist"
        max_value = settings.int("zset-max-listpack-value")
        small = all(len(m) <= max_value for m, _ in _entries(c, key, meta, meta.count))
        return b"listpack" if small else b"skiplist"
    return other.get(t, b"unknown")


# --- MEMORY ---------------------------------------------------------------------------------

def usage(c, key: bytes, meta: Meta, samples: int) -> int:
    """An estimate of the bytes Redis would use for the key (dict entry, object, elements)."""
    base = 16 + 24 + len(key) + 8 + (24 if meta.expire_ms else 0)
    if meta.type == STRING:
        v = meta.value
        return base + (0 if _is_int(v) else len(v) + 3)
    if meta.type == LIST:
        from xcache.store.lists import _iter

        prefix = data_prefix(c.db, key, meta.version)
        sampled = list(islice(_iter(c, prefix, meta), samples or meta.count))
    else:
        sampled = [f + v for f, v in _entries(c, key, meta, samples or meta.count)]
    if not sampled:
        return base
    per = sum(len(x) + 11 for x in sampled) / len(sampled)
    return base + int(per * meta.count) + 32


# Redis 7.0's MEMORY help[] (src/object.c): every subcommand is served
MEMORY_HELP = (
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
)


@command("memory", -2, "readonly", 0, 0, 0)
@subcommands("memory")
def memory(c, args):
    sub = args[0].upper()
    if sub == b"USAGE" and len(args) >= 2:
        c.engine.lookup_stats = None  # Redis finds the key without a counted lookup
        samples, j = 5, 2
        while j < len(args):  # as object.c: SAMPLES may repeat, anything else is a syntax error
            if args[j].upper() != b"SAMPLES" or j + 1 == len(args):
                raise Error("ERR syntax error")
            samples = parse_int(args[j + 1])
            if samples < 0:
                raise Error("ERR syntax error")
            j += 2
        meta = c.engine.get_meta(c.db, args[1])
        if meta is None:
            return None
        return usage(c, args[1], meta, samples)
    if sub == b"STATS" and len(args) == 1:
        return stats(c.server)
    if sub == b"DOCTOR" and len(args) == 1:
        return Verbatim(b"Hi Sam, I can't find any memory issue in your instance. I can only "
                        b"account for what occurs on this base.")
    if sub == b"MALLOC-STATS" and len(args) == 1:
        return Verbatim(b"Stats not supported for the current allocator")
    if sub == b"PURGE" and len(args) == 1:
        return SimpleString(b"OK")
    if sub == b"HELP" and len(args) == 1:
        return help_reply("MEMORY", MEMORY_HELP)
    raise unknown_subcommand("memory", args[0])


def stats(server) -> Map:
    from xcache.store.version import rss_bytes as _rss

    rss = _rss()
    peak = max(getattr(server, "peak_memory", 0), rss)
    keys = sum(n for n, _ in server.collector.keyspace.values())
    out = Map([
        b"peak.allocated", peak, b"total.allocated", rss, b"startup.allocated", 0,
        b"replication.backlog", 0, b"clients.slaves", 0, b"clients.normal", 0,
        b"cluster.links", 0, b"aof.buffer", 0, b"lua.caches", 0, b"functions.caches", 184,
        b"overhead.total", 0, b"keys.count", keys,
        b"keys.bytes-per-key", rss // keys if keys else 0, b"dataset.bytes", rss,
        b"dataset.percentage", b"100", b"peak.percentage", b"%.2f" % (100 * rss / peak),
        b"allocator.allocated", rss, b"allocator.active", rss, b"allocator.resident", rss,
        b"allocator-fragmentation.ratio", b"1", b"allocator-fragmentation.bytes", 0,
        b"allocator.rss-ratio", b"1", b"allocator.rss-bytes", 0, b"rss-overhead.ratio", b"1",
        b"rss-overhead.bytes", 0, b"fragmentation", b"1", b"fragmentation.bytes", 0,
    ])
    for db, (n, _) in sorted((logical_db(p), ne) for p, ne in server.collector.keyspace.items()):
        if n:
            out += [b"db.%d" % db, Map([b"overhead.hashtable.main", 0,
                                        b"overhead.hashtable.expires", 0])]
    return out


@command("lolwut", -1, "readonly fast", 0, 0, 0)
def lolwut(c, args):
    from xcache.store.version import REDIS_VERSION, XCACHE_VERSION

    return Verbatim(b"xcache " + XCACHE_VERSION.encode() + b", Redis ver. "
                    + REDIS_VERSION.encode() + b"\n")
