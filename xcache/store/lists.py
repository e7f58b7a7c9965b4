"""Lists: LPUSH/RPUSH ... LPOS, LMOVE, and the blocking BLPOP/BRPOP/BLMOVE/BRPOPLPUSH.

Encoding: the elements of a list occupy the data keys `data_prefix(db, key, version) + index`
(index = 8 bytes big-endian) for meta.head <= index < meta.tail, with no holes. Both bounds start
at LIST_MIDDLE (2**63) so either end can grow for ever, and byte order is list order: LINDEX/LSET
are one get/put, LRANGE one bounded forward scan, pushes and pops O(1) per element, LTRIM
O(removed). LINSERT and LREM rewrite the shorter side of the change (O(n), as Redis).
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from functools import partial
from itertools import islice

from xcache.resp import NULL_ARRAY, OK, Error
from xcache.store.commands import (
    MIN_INT,
    NO_SUCH_KEY,
    NOT_POSITIVE,
    SYNTAX_ERROR,
    command,
    parse_int,
    parse_int_at_least,
    wrong_arity,
)
from xcache.store.engine import LIST, Meta, data_prefix
from xcache.store.interfaces import Block

INDEX_OUT_OF_RANGE = Error("ERR index out of range")
TIMEOUT_NOT_FLOAT = Error("ERR timeout is not a float or out of range")
TIMEOUT_NEGATIVE = Error("ERR timeout is negative")
RANK_ZERO = Error("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second "
                  "... or use negative to start from the end of the list")

# A blocked client waits at most this long even if asked for more (about 31 years): keeps the
# event loop's timer arithmetic far from overflow while being "for ever" in practice.
MAX_BLOCK_S = 1e9
_LDBL_MAX = Decimal("1.18973149535723176502e+4932")
_LDBL_TRUE_MIN = Decimal("3.64519953188247460253e-4951")


def _ix(index: int) -> bytes:
    return index.to_bytes(8, "big")


# --- storage helpers (stage writes in a batch; the caller commits once) ---------------------


def _read(c, prefix: bytes, start: int, n: int) -> list[bytes]:
    """n consecutive elements from absolute index start (all must exist)."""
    if n <= 0:
        return []
    if n == 1:
        return [c.engine.get_data(prefix + _ix(start))]
    if n <= 32:  # a multi-get beats starting an iterator for short runs (measured)
        return c.engine.multi_get_data([prefix + _ix(i) for i in range(start, start + n)])
    out = []
    for _, value in c.engine.scan(c.engine.data, prefix, start=prefix + _ix(start)):
        out.append(value)
        if len(out) == n:
            break
    return out


def _iter(c, prefix: bytes, meta: Meta, reverse: bool = False):
    """The elements of a list, from the head (or from the tail if reverse)."""
    start = prefix + _ix(meta.tail - 1 if reverse else meta.head)
    # Bounded by count, not only by the prefix: this rocksdict's iterate_lower_bound does not
    # bound reverse scans.
    for _, value in islice(c.engine.scan(c.engine.data, prefix, start=start, reverse=reverse), meta.count):
        yield value


def _save(b, db: int, key: bytes, meta: Meta) -> None:
    """Stage meta, or the key's deletion when the list became empty."""
    if meta.count:
        b.put_meta(db, key, meta)
    else:
        b.delete_meta(db, key)


def _pop(c, b, key: bytes, meta: Meta, left: bool, n: int) -> list[bytes]:
    """Stage popping n (<= meta.count) elements from one end; returns them in pop order."""
    prefix = data_prefix(c.db, key, meta.version)
    if left:
        values = _read(c, prefix, meta.head, n)
        first = meta.head
        meta.head += n
    else:
        values = _read(c, prefix, meta.tail - n, n)
        values.reverse()
        meta.tail -= n
        first = meta.tail
    for i in range(first, first + n):
        b.delete_data(prefix + _ix(i))
    meta.count -= n
    _save(b, c.db, key, meta)
    return values


def _push(c, b, key: bytes, meta: Meta | None, left: bool, values) -> Meta:
    """Stage pushing values one by one at one end (creating the list if meta is None)."""
    if meta is None:
        meta = c.engine.new_collection(LIST)
    prefix = data_prefix(c.db, key, meta.version)
    put = b.put_data
    if left:
        i = meta.head
        for value in values:
            i -= 1
            put(prefix + i.to_bytes(8, "big"), value)
        meta.count += meta.head - i
        meta.head = i
    else:
        i = meta.tail
        for value in values:
            put(prefix + i.to_bytes(8, "big"), value)
            i += 1
        meta.count += i - meta.tail
        meta.tail = i
    b.put_meta(c.db, key, meta)
    return meta


def _rewrite(b, prefix: bytes, meta: Meta, old: list[bytes], new: list[bytes]) -> None:
    """Stage replacing the whole list old by new, anchored at the end that needs fewer writes."""
    n, m = len(old), len(new)
    lo = 0  # first position where old and new differ, counting from the head
    while lo < min(n, m) and old[lo] == new[lo]:
        lo += 1
    hi = 0  # same, counting from the tail
    while hi < min(n, m) - lo and old[n - 1 - hi] == new[m - 1 - hi]:
        hi += 1
    if lo >= hi:  # keep the head: rewrite positions lo.. and drop the surplus at the tail
        for i in range(lo, m):
            if i >= n or old[i] != new[i]:
                b.put_data(prefix + _ix(meta.head + i), new[i])
        for i in range(m, n):
            b.delete_data(prefix + _ix(meta.head + i))
        meta.tail = meta.head + m
    else:  # keep the tail
        new_head = meta.tail - m
        for j in range(m - hi):
            i = new_head + j  # absolute index
            pos = i - meta.head  # position in old
            if pos < 0 or old[pos] != new[j]:
                b.put_data(prefix + _ix(i), new[j])
        for i in range(meta.head, new_head):
            b.delete_data(prefix + _ix(i))
        meta.head = new_head
    meta.count = m


def _where(raw: bytes) -> bool:
    """LEFT -> True, RIGHT -> False (as LMOVE's wherefrom/whereto)."""
    w = raw.lower()
    if w == b"left":
        return True
    if w == b"right":
        return False
    raise SYNTAX_ERROR


def _parse_long_double(raw: bytes) -> float:
    """A number as Redis's string2ld (strtold) accepts it, as the nearest double."""
    text = raw.decode("latin-1")
    # strtold refuses leading spaces and anything after the number; Python would strip spaces and
    # accept "1_0", so refuse those first.
    if not text or len(text) >= 5120 or text != text.strip() or "_" in text:
        raise TIMEOUT_NOT_FLOAT
    unsigned = text.lstrip("+-")
    try:
        if unsigned[:2].lower() == "0x":
            try:
                value = float.fromhex(text)
            except OverflowError:
                value = math.inf
        else:
            value = float(text)
    except ValueError:
        raise TIMEOUT_NOT_FLOAT from None
    if value != value:
        raise TIMEOUT_NOT_FLOAT
    if (value == 0 or math.isinf(value)) and (unsigned[:1].isdigit() or unsigned[:1] == "."):
        # A double over/underflowed; strtold (long double) refuses only what overflows or
        # underflows to zero in its wider range.
        try:
            d = abs(Decimal(text))
        except InvalidOperation:
            d = Decimal(0)
        if d > _LDBL_MAX or (d and d < _LDBL_TRUE_MIN / 2):
            raise TIMEOUT_NOT_FLOAT
    return value


def parse_timeout(raw: bytes) -> float:
    """BLPOP-style timeout in seconds (0 = for ever), with Redis 7.0's errors.

    Redis converts seconds to whole milliseconds by truncation, and a value too large for a
    64-bit integer becomes LLONG_MIN (hence "timeout is negative" for inf or 1e400).
    """
    ms = _parse_long_double(raw) * 1000.0
    tval = int(ms) if math.isfinite(ms) and -(2**63) <= ms < 2**63 else MIN_INT
    if tval < 0:
        raise TIMEOUT_NEGATIVE
    return min(tval / 1000, MAX_BLOCK_S)


# --- push -----------------------------------------------------------------------------------


def _push_command(left: bool, only_existing: bool, c, args: list[bytes]) -> int:
    key = args[0]
    meta = c.engine.lookup(c.db, key, LIST)
    if meta is None and only_existing:
        return 0
    b = c.engine.batch()
    meta = _push(c, b, key, meta, left, args[1:])
    c.engine.commit(b)
    c.server.signal_key(c.db, key)  # after commit: a woken client must see the elements
    return meta.count


# The bound arguments come first so that partial binds them positionally: its call then costs
# no more than a wrapper function's (with keywords it copies a dict per call; LPUSH is hot).
for _name, _left, _only_existing in (("lpush", True, False), ("rpush", False, False),
                                     ("lpushx", True, True), ("rpushx", False, True)):
    command(_name, -3, "write denyoom fast")(partial(_push_command, _left, _only_existing))


# --- pop ------------------------------------------------------------------------------------


def _pop_command(left: bool, name: str, c, args: list[bytes]):
    if len(args) > 2:
        raise wrong_arity(name)
    count = None
    if len(args) == 2:
        count = parse_int_at_least(args[1], 0, NOT_POSITIVE)
    key = args[0]
    meta = c.engine.lookup(c.db, key, LIST)
    if meta is None:
        return None if count is None else NULL_ARRAY
    if count == 0:
        return []
    b = c.engine.batch()
    values = _pop(c, b, key, meta, left, min(count or 1, meta.count))
    c.engine.commit(b)
    return values[0] if count is None else values


for _name, _left in (("lpop", True), ("rpop", False)):
    command(_name, -2, "write fast")(partial(_pop_command, _left, _name))


# --- reads ----------------------------------------------------------------------------------


@command("llen", 2, "readonly fast")
def llen(c, args: list[bytes]) -> int:
    meta = c.engine.lookup(c.db, args[0], LIST)
    return meta.count if meta else 0


def _range(start: int, stop: int, n: int) -> tuple[int, int]:
    """Redis's start/stop normalisation -> (first position, number of elements)."""
    if start < 0:
        start += n
    if stop < 0:
        stop += n
    start = max(start, 0)
    if start > stop or start >= n:
        return 0, 0
    stop = min(stop, n - 1)
    return start, stop - start + 1


@command("lrange", 4, "readonly")
def lrange(c, args: list[bytes]) -> list:
    start, stop = parse_int(args[1]), parse_int(args[2])
    meta = c.engine.lookup(c.db, args[0], LIST)
    if meta is None:
        return []
    first, n = _range(start, stop, meta.count)
    return _read(c, data_prefix(c.db, args[0], meta.version), meta.head + first, n)


def _element_key(c, key: bytes, meta: Meta, raw_index: bytes) -> bytes | None:
    """The data key of the element at index raw_index (negative: from the tail), None if none."""
    index = parse_int(raw_index)
    if index < 0:
        index += meta.count
    if not 0 <= index < meta.count:
        return None
    return data_prefix(c.db, key, meta.version) + _ix(meta.head + index)


@command("lindex", 3, "readonly")
def lindex(c, args: list[bytes]):
    meta = c.engine.lookup(c.db, args[0], LIST)
    if meta is None:
        return None
    dkey = _element_key(c, args[0], meta, args[1])
    return None if dkey is None else c.engine.get_data(dkey)


@command("lpos", -3, "readonly")
def lpos(c, args: list[bytes]):
    key, element = args[0], args[1]
    rank, count, maxlen = 1, -1, 0  # count -1: option not given
    i = 2
    while i < len(args):
        opt = args[i].lower()
        more = i + 1 < len(args)
        if opt == b"rank" and more:
            rank = parse_int(args[i + 1])
            if rank == 0:
                raise RANK_ZERO
        elif opt == b"count" and more:
            count = parse_int_at_least(args[i + 1], 0, Error("ERR COUNT can't be negative"))
        elif opt == b"maxlen" and more:
            maxlen = parse_int_at_least(args[i + 1], 0, Error("ERR MAXLEN can't be negative"))
        else:
            raise SYNTAX_ERROR
        i += 2
    reverse = rank < 0
    if rank == MIN_INT:
        # Redis negates LONG_MIN and overflows: every match qualifies and COUNT never stops it.
        rank, count = 1, (0 if count != -1 else -1)
    rank = abs(rank)
    meta = c.engine.lookup(c.db, key, LIST)
    if meta is None:
        return None if count == -1 else []
    found = []
    matches = 0
    prefix = data_prefix(c.db, key, meta.version)
    for pos, value in enumerate(_iter(c, prefix, meta, reverse)):
        if maxlen and pos >= maxlen:
            break
        if value == element:
            matches += 1
            if matches >= rank:
                found.append(meta.count - 1 - pos if reverse else pos)
                if count == -1 or (count and len(found) >= count):
                    break
    if count == -1:
        return found[0] if found else None
    return found


# --- in-place modifications -----------------------------------------------------------------


@command("lset", 4, "write denyoom")
def lset(c, args: list[bytes]):
    key = args[0]
    meta = c.engine.lookup(c.db, key, LIST)
    if meta is None:
        raise NO_SUCH_KEY
    dkey = _element_key(c, key, meta, args[1])
    if dkey is None:
        raise INDEX_OUT_OF_RANGE
    b = c.engine.batch()
    b.put_data(dkey, args[2])
    c.engine.commit(b)
    return OK


@command("ltrim", 4, "write")
def ltrim(c, args: list[bytes]):
    key = args[0]
    start, stop = parse_int(args[1]), parse_int(args[2])
    meta = c.engine.lookup(c.db, key, LIST)
    if meta is None:
        return OK
    first, n = _range(start, stop, meta.count)
    b = c.engine.batch()
    if n == 0:
        b.delete_meta(c.db, key)  # O(1): the old version's data is left to the collector
    else:
        prefix = data_prefix(c.db, key, meta.version)
        new_head, new_tail = meta.head + first, meta.head + first + n
        for i in range(meta.head, new_head):
            b.delete_data(prefix + _ix(i))
        for i in range(new_tail, meta.tail):
            b.delete_data(prefix + _ix(i))
        if new_head == meta.head and new_tail == meta.tail:
            return OK
        meta.head, meta.tail, meta.count = new_head, new_tail, n
        b.put_meta(c.db, key, meta)
    c.engine.commit(b)
    return OK


@command("lrem", 4, "write")
def lrem(c, args: list[bytes]) -> int:
    key, element = args[0], args[2]
    count = parse_int(args[1])
    meta = c.engine.lookup(c.db, key, LIST)
    if meta is None:
        return 0
    prefix = data_prefix(c.db, key, meta.version)
    old = list(_iter(c, prefix, meta))
    limit = abs(count) or len(old)
    order = range(len(old) - 1, -1, -1) if count < 0 else range(len(old))
    drop = set()
    for i in order:
        if old[i] == element:
            drop.add(i)
            if len(drop) >= limit:
                break
    if not drop:
        return 0
    b = c.engine.batch()
    if len(drop) == len(old):
        b.delete_meta(c.db, key)  # O(1): the old version's data is left to the collector
    else:
        _rewrite(b, prefix, meta, old, [v for i, v in enumerate(old) if i not in drop])
        b.put_meta(c.db, key, meta)
    c.engine.commit(b)
    return len(drop)


@command("linsert", 5, "write denyoom")
def linsert(c, args: list[bytes]) -> int:
    key, where, pivot, element = args
    where = where.lower()
    if where not in (b"before", b"after"):
        raise SYNTAX_ERROR
    meta = c.engine.lookup(c.db, key, LIST)
    if meta is None:
        return 0
    prefix = data_prefix(c.db, key, meta.version)
    before = []  # elements up to and including the pivot
    for value in _iter(c, prefix, meta):
        before.append(value)
        if value == pivot:
            break
    else:
        return -1
    q = len(before) - 1 if where == b"before" else len(before)  # position of the new element
    b = c.engine.batch()
    if q <= meta.count - q:  # shift the q elements in front of it one step to the left
        for i in range(q):
            b.put_data(prefix + _ix(meta.head - 1 + i), before[i])
        meta.head -= 1
        b.put_data(prefix + _ix(meta.head + q), element)
    else:  # shift the elements from position q one step to the right
        rest = _read(c, prefix, meta.head + q, meta.count - q)
        for j, value in enumerate(rest):
            b.put_data(prefix + _ix(meta.head + q + 1 + j), value)
        b.put_data(prefix + _ix(meta.head + q), element)
        meta.tail += 1
    meta.count += 1
    b.put_meta(c.db, key, meta)
    c.engine.commit(b)
    return meta.count


# --- moves ----------------------------------------------------------------------------------


def _move(c, src: bytes, dst: bytes, left_from: bool, left_to: bool, skip_wrongtype_src: bool = False):
    """Pop from src and push to dst atomically; None if src is empty. Raises WRONGTYPE for dst."""
    try:
        meta = c.engine.lookup(c.db, src, LIST)
    except Error:
        if skip_wrongtype_src:
            return None
        raise
    if meta is None:
        return None
    dmeta = meta if dst == src else c.engine.lookup(c.db, dst, LIST)
    b = c.engine.batch()
    value = _pop(c, b, src, meta, left_from, 1)[0]
    _push(c, b, dst, dmeta, left_to, (value,))
    c.engine.commit(b)
    c.server.signal_key(c.db, dst)
    return value


@command("lmove", 5, "write denyoom", 1, 2, 1)
def lmove(c, args: list[bytes]):
    left_from, left_to = _where(args[2]), _where(args[3])
    return _move(c, args[0], args[1], left_from, left_to)


@command("rpoplpush", 3, "write denyoom", 1, 2, 1)
def rpoplpush(c, args: list[bytes]):
    return _move(c, args[0], args[1], False, True)


# --- blocking -------------------------------------------------------------------------------


def _block(keys: list[bytes], timeout_s: float, retry, timeout_reply):
    return Block(keys, timeout_s, retry, timeout_reply)


def _touch(c, keys) -> None:
    """A pop served after blocking runs outside the server's write path: tell WATCHers."""
    if c.server.watchers:
        for key in keys:
            c.server.touch(c.db, key)


def existing_keys(c, keys: list[bytes], kind: int, retrying: bool):
    """(key, meta) of the keys that exist, in order; a key of another type is an error, except
    after waiting (retrying): a key that became another type while we waited, Redis keeps waiting.
    (Blocking pops here and in mpop.py.)"""
    for key in keys:
        try:
            meta = c.engine.lookup(c.db, key, kind)
        except Error:
            if retrying:
                continue
            raise
        if meta is not None:
            yield key, meta


def _bpop(c, args: list[bytes], left: bool):
    keys = args[:-1]
    timeout = parse_timeout(args[-1])
    verb = b"LPOP" if left else b"RPOP"

    def serve(retrying: bool):
        # The first non-empty list in argument order.
        for key, meta in existing_keys(c, keys, LIST, retrying):
            b = c.engine.batch()
            value = _pop(c, b, key, meta, left, 1)[0]
            c.engine.commit(b)
            c.propagate = [verb, key]  # replicas must not block: replicate a plain pop
            if retrying:
                _touch(c, (key,))
            return [key, value]
        return None

    reply = serve(False)
    if reply is not None:
        return reply
    if getattr(c, "in_exec", False):
        c.propagate = []  # nothing was written: replicate nothing
        return NULL_ARRAY  # inside MULTI/EXEC a blocking pop behaves as if it timed out
    return _block(list(dict.fromkeys(keys)), timeout, lambda: serve(True), NULL_ARRAY)


@command("blpop", -3, "write blocking", 1, -2, 1)
def blpop(c, args: list[bytes]):
    return _bpop(c, args, True)


@command("brpop", -3, "write blocking", 1, -2, 1)
def brpop(c, args: list[bytes]):
    return _bpop(c, args, False)


def _bmove(c, src: bytes, dst: bytes, left_from: bool, left_to: bool, timeout_raw: bytes, propagate: list):
    timeout = parse_timeout(timeout_raw)

    def serve(retrying: bool):
        value = _move(c, src, dst, left_from, left_to, skip_wrongtype_src=retrying)
        if value is not None:
            c.propagate = propagate
            if retrying:
                _touch(c, (src, dst))
        return value

    value = serve(False)
    if value is None and getattr(c, "in_exec", False):
        c.propagate = []  # nothing was written: replicate nothing
    if value is not None or getattr(c, "in_exec", False):
        return value  # inside MULTI/EXEC: LMOVE's null bulk, as in Redis
    # A timeout answers a null array, as every blocked list command (replyToBlockedClientTimedOut).
    return _block([src], timeout, lambda: serve(True), NULL_ARRAY)


@command("blmove", 6, "write denyoom blocking", 1, 2, 1)
def blmove(c, args: list[bytes]):
    src, dst, wfrom, wto = args[:4]
    left_from, left_to = _where(wfrom), _where(wto)
    return _bmove(c, src, dst, left_from, left_to, args[4],
                  [b"LMOVE", src, dst, b"LEFT" if left_from else b"RIGHT", b"LEFT" if left_to else b"RIGHT"])


@command("brpoplpush", 4, "write denyoom blocking", 1, 2, 1)
def brpoplpush(c, args: list[bytes]):
    return _bmove(c, args[0], args[1], False, True, args[2], [b"RPOPLPUSH", args[0], args[1]])
