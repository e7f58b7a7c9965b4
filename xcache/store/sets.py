"""Set commands.

Encoding: meta(key) holds type SET, expiry, version and the member count; every member is one
data entry `data_prefix(db, key, version) + member -> b""`, so SADD/SREM/SISMEMBER are point
operations and SMEMBERS/SSCAN are prefix scans in member (byte) order.

Redis 7.0 keeps a set of at most set-max-intset-entries integers as an intset, which it walks in
numeric order (SMEMBERS, SSCAN, the results of SINTER/SUNION/SDIFF), and converts it to a
hashtable for good once it outgrows that. The meta's `big` flag records that conversion, so a
small integer set answers in Redis's order and OBJECT ENCODING says what Redis would.
"""

from __future__ import annotations

from xcache.numbers import string2ll
from xcache.resp import Error, Set
from xcache.store.commands import NOT_POSITIVE, SYNTAX_ERROR, command, parse_int_at_least
from xcache.store.engine import SET, Meta, data_prefix, read_counted
from xcache.store.hashes import iter_subkeys, parse_random_count, random_entries, scan_collection


def _lookup(c, key: bytes) -> Meta | None:
    return c.engine.lookup(c.db, key, SET)


def _members(c, key: bytes, meta: Meta | None) -> list[bytes]:
    """All members, in the order Redis walks the set."""
    if meta is None:
        return []
    members = [m for m, _ in iter_subkeys(c, key, meta)]
    return members if meta.big else intset_order(members)


def fits_intset(c, members: list[bytes], count: int) -> bool:
    return count <= c.server.settings.int("set-max-intset-entries") and all(
        string2ll(m) is not None for m in members)


def intset_order(members: list[bytes]) -> list[bytes]:
    """members in numeric order if they are all integers (an intset's order), else as they are."""
    numbers = [string2ll(m) for m in members]
    if None in numbers:
        return members
    return [m for _, m in sorted(zip(numbers, members, strict=True))]


def _result_order(c, members: list[bytes]) -> list[bytes]:
    """A computed set (SINTER, SUNION, SDIFF, a whole SPOP): Redis builds it as an intset while
    it can, and answers in that set's order."""
    if len(members) <= c.server.settings.int("set-max-intset-entries"):
        return intset_order(members)
    return members


def _present(c, key: bytes, meta: Meta | None, members: list[bytes]) -> list[bool]:
    """Membership of each of members in the set (a get for one, else one multi-get)."""
    if meta is None:
        return [False] * len(members)
    prefix = data_prefix(c.db, key, meta.version)
    if len(members) == 1:
        return [c.engine.get_data(prefix + members[0]) is not None]
    return [v is not None for v in c.engine.multi_get_data([prefix + m for m in members])]


def _remove(c, b, key: bytes, meta: Meta, members: list[bytes]) -> None:
    """Stage the removal of members (all present, distinct) into batch b."""
    prefix = data_prefix(c.db, key, meta.version)
    for m in members:
        b.delete_data(prefix + m)
    meta.count -= len(members)
    if meta.count:
        b.put_meta(c.db, key, meta)
    else:
        b.delete_meta(c.db, key)  # an empty set does not exist


def _add(c, b, key: bytes, meta: Meta | None, members: list[bytes]) -> int:
    """Stage the addition of distinct members into batch b; returns how many were new."""
    engine = c.engine
    if meta is None:
        meta = engine.new_collection(SET)
        new = [data_prefix(c.db, key, meta.version) + m for m in members]
    else:
        prefix = data_prefix(c.db, key, meta.version)
        dkeys = [prefix + m for m in members]
        if len(dkeys) == 1:  # a get costs less than a multi-get of one
            new = dkeys if engine.get_data(dkeys[0]) is None else []
        else:
            new = [dk for dk, v in zip(dkeys, engine.multi_get_data(dkeys), strict=True) if v is None]
    if not new:
        return 0
    for dk in new:
        b.put_data(dk, b"")
    meta.count += len(new)
    if not meta.big:  # setTypeAdd: a non-integer, or one member too many, makes it a hashtable
        n = len(data_prefix(c.db, key, meta.version))
        meta.big = not fits_intset(c, [dk[n:] for dk in new], meta.count)
    b.put_meta(c.db, key, meta)
    return len(new)


# --- single-set commands ---------------------------------------------------------------------


@command("sadd", -3, "write denyoom fast")
def sadd(c, args):
    key = args[0]
    meta = _lookup(c, key)
    b = c.engine.batch()
    members = args[1:] if len(args) == 2 else list(dict.fromkeys(args[1:]))
    added = _add(c, b, key, meta, members)
    c.engine.commit(b)
    return added


@command("srem", -3, "write fast")
def srem(c, args):
    key = args[0]
    meta = _lookup(c, key)
    if meta is None:
        return 0
    members = args[1:] if len(args) == 2 else list(dict.fromkeys(args[1:]))
    found = [m for m, there in zip(members, _present(c, key, meta, members), strict=True) if there]
    if not found:
        return 0
    b = c.engine.batch()
    _remove(c, b, key, meta, found)
    c.engine.commit(b)
    return len(found)


@command("scard", 2, "readonly fast")
def scard(c, args):
    meta = _lookup(c, args[0])
    return meta.count if meta is not None else 0


@command("sismember", 3, "readonly fast")
def sismember(c, args):
    return int(_present(c, args[0], _lookup(c, args[0]), [args[1]])[0])


@command("smismember", -3, "readonly fast")
def smismember(c, args):
    return [int(x) for x in _present(c, args[0], _lookup(c, args[0]), args[1:])]


@command("smembers", 2, "readonly")
def smembers(c, args):
    return Set(_members(c, args[0], _lookup(c, args[0])))


@command("sscan", -3, "readonly")
def sscan(c, args):
    key = args[0]
    cursor, entries = scan_collection(c, key, _lookup, args[1:], _intset_whole)
    return [cursor, [m for m, _ in entries]]


def _intset_whole(c, key: bytes, meta: Meta) -> list[tuple[bytes, bytes]] | None:
    """An intset is scanned whole, in its order, whatever the cursor and COUNT (as Redis). (The
    count test keeps a large set written before the flag existed to the cursor walk.)"""
    if meta.big or meta.count > c.server.settings.int("set-max-intset-entries"):
        return None
    return [(m, b"") for m in _members(c, key, meta)]


@command("spop", -2, "write fast")
def spop(c, args):
    key = args[0]
    if len(args) > 2:
        raise SYNTAX_ERROR
    count = None
    if len(args) == 2:
        count = parse_int_at_least(args[1], 0, NOT_POSITIVE)
    meta = _lookup(c, key)
    if meta is None:
        return None if count is None else Set()
    if count == 0:
        return Set()
    n = 1 if count is None else count
    if n >= meta.count:
        popped = _result_order(c, _members(c, key, meta))
    else:
        popped = [m for m, _ in random_entries(c, key, meta, n, True)]
    b = c.engine.batch()
    _remove(c, b, key, meta, popped)
    c.engine.commit(b)
    # Replicas must remove the same members, not draw their own random ones.
    c.propagate = [b"SREM", key, *popped]
    return popped[0] if count is None else Set(popped)


@command("srandmember", -2, "readonly")
def srandmember(c, args):
    key = args[0]
    if len(args) > 2:
        raise SYNTAX_ERROR
    if len(args) == 1:
        meta = _lookup(c, key)
        return None if meta is None else random_entries(c, key, meta, 1, True)[0][0]
    count = parse_random_count(args[1])
    meta = _lookup(c, key)
    if meta is None or count == 0:
        return []
    if count >= meta.count:
        return _result_order(c, _members(c, key, meta))
    return [m for m, _ in random_entries(c, key, meta, abs(count), count > 0)]


@command("smove", 4, "write fast", 1, 2, 1)
def smove(c, args):
    src, dst, member = args
    src_meta = _lookup(c, src)
    if src_meta is None:
        return 0  # Redis answers 0 here before looking at the destination's type
    dst_meta = _lookup(c, dst)
    if not _present(c, src, src_meta, [member])[0]:
        return 0
    if src == dst:
        return 1
    b = c.engine.batch()
    _remove(c, b, src, src_meta, [member])
    if not _add(c, b, dst, dst_meta, [member]):
        c.touched_keys = [src]  # dst already had it: unchanged, its WATCHers are not touched
    c.engine.commit(b)
    return 1


# --- multi-set algebra -----------------------------------------------------------------------


def _metas(c, keys: list[bytes]) -> list[Meta | None]:
    return [_lookup(c, k) for k in keys]  # type-checks every key, as Redis does


def _inter(c, keys: list[bytes]) -> list[bytes]:
    metas = _metas(c, keys)
    if any(m is None for m in metas):
        return []
    # Walk the smallest set and probe the others with multi-gets (O(smallest * sets)).
    order = sorted(range(len(keys)), key=lambda i: metas[i].count)
    result = _members(c, keys[order[0]], metas[order[0]])
    for i in order[1:]:
        if not result:
            break
        result = [m for m, there in zip(result, _present(c, keys[i], metas[i], result), strict=True) if there]
    return _result_order(c, result)


def _union(c, keys: list[bytes]) -> list[bytes]:
    out: set[bytes] = set()
    for key, meta in zip(keys, _metas(c, keys), strict=True):
        out.update(_members(c, key, meta))
    return _result_order(c, sorted(out))


def _diff(c, keys: list[bytes]) -> list[bytes]:
    metas = _metas(c, keys)
    result = _members(c, keys[0], metas[0])
    for key, meta in zip(keys[1:], metas[1:], strict=True):
        if not result:
            break
        if meta is not None:
            result = [m for m, there in zip(result, _present(c, key, meta, result), strict=True) if not there]
    return _result_order(c, result)


def _store(c, dst: bytes, members: list[bytes]) -> int:
    """Replace dst, whatever it held, by a set of members (or delete it if members is empty)."""
    engine = c.engine
    b = engine.batch()
    if members:
        meta = engine.new_collection(SET)  # a fresh version hides dst's old data, if any
        prefix = data_prefix(c.db, dst, meta.version)
        for m in members:
            b.put_data(prefix + m, b"")
        meta.count = len(members)
        meta.big = not fits_intset(c, members, meta.count)
        b.put_meta(c.db, dst, meta)
    elif engine.get_meta(c.db, dst) is not None:
        b.delete_meta(c.db, dst)
    engine.commit(b)
    return len(members)


@command("sinter", -2, "readonly", 1, -1, 1)
def sinter(c, args):
    return Set(_inter(c, args))


@command("sunion", -2, "readonly", 1, -1, 1)
def sunion(c, args):
    return Set(_union(c, args))


@command("sdiff", -2, "readonly", 1, -1, 1)
def sdiff(c, args):
    return Set(_diff(c, args))


@command("sinterstore", -3, "write denyoom", 1, -1, 1)
def sinterstore(c, args):
    return _store(c, args[0], read_counted(c, _inter, c, args[1:]))


@command("sunionstore", -3, "write denyoom", 1, -1, 1)
def sunionstore(c, args):
    return _store(c, args[0], read_counted(c, _union, c, args[1:]))


@command("sdiffstore", -3, "write denyoom", 1, -1, 1)
def sdiffstore(c, args):
    return _store(c, args[0], read_counted(c, _diff, c, args[1:]))


@command("sintercard", -3, "readonly", 2, -1, 1)
def sintercard(c, args):
    numkeys = parse_int_at_least(args[0], 1, Error("ERR numkeys should be greater than 0"))
    if numkeys > len(args) - 1:
        raise Error("ERR Number of keys can't be greater than number of args")
    limit = 0
    i = 1 + numkeys
    while i < len(args):
        if args[i].upper() == b"LIMIT" and i + 1 < len(args):
            limit = parse_int_at_least(args[i + 1], 0, Error("ERR LIMIT can't be negative"))
            i += 2
        else:
            raise SYNTAX_ERROR
    n = len(_inter(c, args[1 : 1 + numkeys]))
    return min(n, limit) if limit else n
