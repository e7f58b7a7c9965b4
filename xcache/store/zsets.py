"""Sorted-set commands.

Encoding: meta(key) holds type ZSET, expiry, version and the member count. Every member has two
entries under the same `data_prefix(db, key, version)`:
  data CF   prefix + member                        -> pack_double(score)   (point lookups, lex order)
  score CF  prefix + encode_score(score) + member  -> b""                  (score order)
so ZSCORE/ZADD are point operations, by-score ranges seek in the score CF and by-lex ranges seek in
the data CF (members with equal scores sort by member bytes in both, as in Redis). Rank-based
operations walk the score CF from an end (O(rank), as in Kvrocks).

Why one module (~700 lines): every command here reads or writes the two-entry encoding above,
and its range parsing (score, lex, rank, LIMIT, REV) is shared by all of them; the set-algebra
commands (ZUNION/ZINTER/ZDIFF) and the pops already live apart (zsetops.py, mpop.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import partial

from xcache.resp import Double, Error, Pairs
from xcache.resp.encode import format_float
from xcache.store.commands import (
    NOT_FLOAT,
    NOT_POSITIVE,
    SYNTAX_ERROR,
    command,
    parse_int,
    parse_int_at_least,
)
from xcache.store.engine import (
    ZSET,
    Meta,
    data_prefix,
    decode_score,
    encode_score,
    pack_double,
    prefix_end,
    unpack_double,
)
from xcache.store.hashes import parse_random_count, random_entries, scan_collection

NAN_ERROR = Error("ERR resulting score is not a number (NaN)")
RANGE_NOT_FLOAT = Error("ERR min or max is not a float")
BAD_LEX = Error("ERR min or max not valid string range item")
INF = float("inf")

_HEX = re.compile(r"[+-]?0[xX]")
_SPACE = " \t\n\v\f\r"


# --- number parsing, as Redis's strtod-based helpers ------------------------------------------


def _strtod(text: str) -> float | None:
    """C strtod over the whole string (None if it does not consume it all): '' is 0 as in C."""
    body = text.lstrip(_SPACE)
    if not body:
        return 0.0 if not text else None  # strtod("") = 0 with nothing left; "  " stops at the space
    if "_" in body or body[-1] in _SPACE:  # Python's float() accepts these, strtod does not
        return None
    try:
        return float(body)
    except ValueError:
        pass
    if _HEX.match(body):
        try:
            return float.fromhex(body)
        except ValueError:
            return None
    return None


def parse_score(raw: bytes, error: Error = NOT_FLOAT) -> float:
    """A score or weight argument (getDoubleFromObject): no spaces, no NaN, no overflow/underflow."""
    if raw.isdigit() and len(raw) < 300:  # the common case: digits only cannot overflow
        return float(raw)
    text = raw.decode("latin-1")
    if not text or text[0] in _SPACE:
        raise error
    value = _strtod(text)
    if value is None or value != value:
        raise error
    mantissa = text.lower().lstrip("+-")
    if value in (INF, -INF) and not mantissa.startswith("inf"):
        raise error  # ERANGE overflow ("1e400")
    if value == 0 and re.search(r"[1-9]", re.split("[ep]", mantissa.removeprefix("0x"))[0]):
        raise error  # ERANGE underflow ("1e-400")
    return value + 0.0  # -0 is stored and shown as 0, as Redis does


def _score_bound(raw: bytes) -> tuple[float, bool]:
    """One end of a score range: '(x' exclusive, else inclusive (zslParseRange)."""
    text = raw.split(b"\0", 1)[0].decode("latin-1")
    exclusive = text.startswith("(")
    value = _strtod(text[1:] if exclusive else text)
    if value is None or value != value:
        raise RANGE_NOT_FLOAT
    return value, exclusive


# A lex bound is (rank, value): '-' is (0, b"") and '+' is (2, b""), so tuples compare as Redis does.
_LEX_MIN, _LEX_MAX = (0, b""), (2, b"")


def _lex_bound(raw: bytes) -> tuple[tuple[int, bytes], bool]:
    if raw == b"-":
        return _LEX_MIN, True
    if raw == b"+":
        return _LEX_MAX, True
    if raw[:1] == b"(":
        return (1, raw[1:]), True
    if raw[:1] == b"[":
        return (1, raw[1:]), False
    raise BAD_LEX


def _empty_range(lo, loex: bool, hi, hiex: bool) -> bool:
    return lo > hi or (lo == hi and (loex or hiex))


_fmt = format_float  # Redis 7.0 replies scores with %.17g (integers bare, "inf"); -0 never stored


# --- storage helpers -------------------------------------------------------------------------


def _lookup(c, key: bytes) -> Meta | None:
    return c.engine.lookup(c.db, key, ZSET)


def _prefix(c, key: bytes, meta: Meta) -> bytes:
    return data_prefix(c.db, key, meta.version)


def _scores(c, key: bytes, meta: Meta | None, members: list[bytes]) -> list[float | None]:
    """The score of each of members (None if absent), with one multi-get."""
    if meta is None:
        return [None] * len(members)
    prefix = _prefix(c, key, meta)
    if len(members) == 1:  # a get costs less than a multi-get of one
        raw = c.engine.get_data(prefix + members[0])
        return [None if raw is None else unpack_double(raw)]
    raws = c.engine.multi_get_data([prefix + m for m in members])
    return [None if v is None else unpack_double(v) for v in raws]


def _stage_remove(c, b, key: bytes, meta: Meta, entries: list[tuple[bytes, float]]) -> None:
    """Stage the removal of distinct present (member, score) pairs into batch b."""
    prefix = _prefix(c, key, meta)
    for m, s in entries:
        b.delete_data(prefix + m)
        b.delete_score(prefix + encode_score(s) + m)
    meta.count -= len(entries)
    if meta.count:
        b.put_meta(c.db, key, meta)
    else:
        b.delete_meta(c.db, key)  # an empty zset does not exist


def _remove(c, key: bytes, meta: Meta, entries: list[tuple[bytes, float]]) -> int:
    if entries:
        b = c.engine.batch()
        _stage_remove(c, b, key, meta, entries)
        c.engine.commit(b)
    return len(entries)


def _iter_scores(c, key: bytes, meta: Meta, reverse: bool = False,
                 start: bytes | None = None) -> Iterator[tuple[bytes, float]]:
    """(member, score) in score order (or reverse) from the score CF; start is a full score key."""
    prefix = _prefix(c, key, meta)
    n = len(prefix)
    for k, _ in c.engine.scan(c.engine.score, prefix, start=start, reverse=reverse):
        yield k[n + 8:], decode_score(k[n:n + 8])


def _by_score(c, key: bytes, meta: Meta, lo: float, loex: bool, hi: float, hiex: bool,
              reverse: bool = False) -> Iterator[tuple[bytes, float]]:
    """Members with a score in the range, seeking to its first end instead of scanning."""
    if _empty_range(lo, loex, hi, hiex):
        return
    prefix = _prefix(c, key, meta)
    if not reverse:
        start = prefix + encode_score(lo)
        if loex:
            start = prefix_end(start)  # past every member of score lo
        for m, s in _iter_scores(c, key, meta, False, start):
            if s > hi or (hiex and s == hi):
                return
            if s > lo or (s == lo and not loex):
                yield m, s
    else:
        start = prefix + encode_score(hi)
        if not hiex:
            start = prefix_end(start)  # seek_for_prev: the last member of score hi (or less)
        for m, s in _iter_scores(c, key, meta, True, start):
            if s < lo or (loex and s == lo):
                return
            if s < hi or (s == hi and not hiex):  # the seek key itself may lie just above hi
                yield m, s


def _by_lex(c, key: bytes, meta: Meta, lo, loex: bool, hi, hiex: bool,
            reverse: bool = False) -> Iterator[tuple[bytes, float]]:
    """Members in the lex range, from the member-ordered data CF (Redis assumes equal scores)."""
    if _empty_range(lo, loex, hi, hiex) or lo == _LEX_MAX or hi == _LEX_MIN:
        return
    prefix = _prefix(c, key, meta)
    n = len(prefix)
    engine = c.engine
    if not reverse:
        start = None if lo == _LEX_MIN else prefix + lo[1] + (b"\x00" if loex else b"")
        for k, v in engine.scan(engine.data, prefix, start=start):
            t = (1, k[n:])
            if t > hi or (hiex and t == hi):
                return
            if t > lo or not loex:
                yield t[1], unpack_double(v)
    else:
        start = None if hi == _LEX_MAX else prefix + hi[1]
        for k, v in engine.scan(engine.data, prefix, start=start, reverse=True):
            t = (1, k[n:])
            if t < lo or (loex and t == lo):
                return
            if t < hi or not hiex:
                yield t[1], unpack_double(v)


LISTPACK_ENTRIES = 128  # zset-max-listpack-entries: Redis keeps smaller zsets in one flat list


def _lex_range(c, key: bytes, meta: Meta, lo, loex: bool, hi, hiex: bool, reverse: bool = False,
               offset: int = 0, limit: int = -1) -> list[tuple[bytes, float]]:
    """The lex range as Redis answers it (ZRANGEBYLEX and its kin, LIMIT offset/limit applied).

    Lex ranges assume equal scores. Over mixed scores Redis's answer is whatever its walk gives:
    for a listpack zset that walk is exact (_lex_walk); for larger ones it depends on the random
    skiplist levels, so the member-ordered seek (_by_lex) serves them as well as anything could.
    """
    if meta.count <= LISTPACK_ENTRIES and _mixed_scores(c, key, meta):
        return _lex_walk(c, key, meta, lo, loex, hi, hiex, reverse, offset, limit)
    return _limit(_by_lex(c, key, meta, lo, loex, hi, hiex, reverse), offset, limit)


def _mixed_scores(c, key: bytes, meta: Meta) -> bool:
    first = next(_iter_scores(c, key, meta), None)
    last = next(_iter_scores(c, key, meta, reverse=True), None)
    return first is not None and last is not None and first[1] != last[1]


def _lex_walk(c, key: bytes, meta: Meta, lo, loex: bool, hi, hiex: bool, reverse: bool,
              offset: int, limit: int) -> list[tuple[bytes, float]]:
    """Redis's listpack walk (zzlFirstInLexRange / zzlLastInLexRange, then genericZrangebylex):
    in (score, member) order from the first member >= min (the last <= max when reversed), which
    must be in range; the offset is skipped unchecked, then members are taken while <= max
    (>= min when reversed) - the other end is never checked again."""
    if offset < 0 or limit == 0 or _empty_range(lo, loex, hi, hiex):
        return []

    def gte_min(m: bytes) -> bool:
        return (1, m) > lo if loex else (1, m) >= lo

    def lte_max(m: bytes) -> bool:
        return (1, m) < hi if hiex else (1, m) <= hi

    entries = list(_iter_scores(c, key, meta))
    if not entries or not gte_min(entries[-1][0]) or not lte_max(entries[0][0]):
        return []  # zzlIsInLexRange
    enter, stay = gte_min, lte_max
    if reverse:
        entries.reverse()
        enter, stay = lte_max, gte_min
    i = next((j for j, (m, _) in enumerate(entries) if enter(m)), len(entries))
    if i == len(entries) or not stay(entries[i][0]):
        return []
    out = []
    for m, score in entries[i + offset:]:
        if len(out) == limit or not stay(m):
            break
        out.append((m, score))
    return out


def _by_rank(c, key: bytes, meta: Meta, start: int, stop: int, reverse: bool = False) -> list[tuple[bytes, float]]:
    """Members at ranks start..stop (Redis index rules, negatives from the end)."""
    size = meta.count
    if start < 0:
        start += size
    if stop < 0:
        stop += size
    start = max(start, 0)
    if start > stop or start >= size:
        return []
    stop = min(stop, size - 1)
    out = []
    for i, entry in enumerate(_iter_scores(c, key, meta, reverse)):  # O(stop): no rank index
        if i >= start:
            out.append(entry)
            if i == stop:
                break
    return out


def _limit(entries: Iterator, offset: int, count: int) -> list:
    """Redis's LIMIT: a negative offset gives nothing, a negative count means all."""
    if offset < 0 or count == 0:
        return []
    out = []
    for i, entry in enumerate(entries):
        if i < offset:
            continue
        out.append(entry)
        if len(out) == count:
            break
    return out


def _reply(entries: list[tuple[bytes, float]], withscores: bool) -> list:
    """Members, or member/score pairs (nested [m, score] arrays in RESP3, flat in RESP2)."""
    if not withscores:
        return [m for m, _ in entries]
    out = Pairs()
    for m, s in entries:
        out.append(m)
        out.append(Double(s))
    return out


# --- ZADD / ZINCRBY / ZREM -------------------------------------------------------------------


def _add(c, key: bytes, pairs: list[tuple[float, bytes]], nx: bool = False, xx: bool = False,
         gt: bool = False, lt: bool = False, incr: bool = False) -> tuple[int, int, int, float | None]:
    """zsetAdd over pairs in order -> (added, updated, processed, last score).

    One meta read, one read of the old scores (a get for one member, a multi-get for several) and
    one batch; a member given twice is read once and written once, with its last score.
    """
    engine = c.engine
    meta = engine.lookup(c.db, key, ZSET)
    olds: dict[bytes, float] = {}
    if meta is None:
        if xx:
            return 0, 0, 0, None
        prefix = b""
    else:
        prefix = data_prefix(c.db, key, meta.version)
        if len(pairs) == 1:
            m = pairs[0][1]
            raw = engine.get_data(prefix + m)
            if raw is not None:
                olds[m] = unpack_double(raw)
        else:
            members = list(dict.fromkeys([m for _, m in pairs]))
            raws = engine.multi_get_data([prefix + m for m in members])
            olds = {m: unpack_double(r) for m, r in zip(members, raws, strict=True) if r is not None}
    cur = olds.copy()  # each member's score as the pairs are applied in order
    added = updated = processed = 0
    result = None
    for score, m in pairs:
        old = cur.get(m)
        if old is not None:
            if nx:
                continue
            if incr:
                score = score + old + 0.0
                if score != score:
                    raise NAN_ERROR  # nothing is written: the batch is not committed yet
            if (lt and score >= old) or (gt and score <= old):
                continue
            processed += 1
            result = score
            if score != old:
                cur[m] = score
                updated += 1
        elif not xx:
            cur[m] = score + 0.0  # -0 is stored as 0 ...
            added += 1
            processed += 1
            result = score  # ... but a new member's INCR replies the increment itself ("-0")
    if added or updated:
        if meta is None:
            meta = engine.new_collection(ZSET)
            prefix = data_prefix(c.db, key, meta.version)
        b = engine.batch()
        for m, s in cur.items():
            old = olds.get(m)
            if old == s:
                continue  # unchanged, or changed and changed back within this call
            if old is not None:
                b.delete_score(prefix + encode_score(old) + m)
            b.put_data(prefix + m, pack_double(s))
            b.put_score(prefix + encode_score(s) + m)
        if added:  # updated scores leave the meta as it is
            meta.count += added
            b.put_meta(c.db, key, meta)
        engine.commit(b)
        c.server.signal_key(c.db, key)  # wakes BZPOPMIN/BZMPOP clients blocked on key
    return added, updated, processed, result


_ZADD_FLAGS = {b"NX", b"XX", b"CH", b"INCR", b"GT", b"LT"}


@command("zadd", -4, "write denyoom fast")
def zadd(c, args):
    key = args[0]
    i = 1
    if args[1].isdigit():  # the common form: no flags, a plain score first
        nx = xx = gt = lt = incr = ch = False
    else:
        flags = set()
        while i < len(args) and args[i].upper() in _ZADD_FLAGS:
            flags.add(args[i].upper())
            i += 1
        nx, xx, gt, lt, incr, ch = (f in flags for f in (b"NX", b"XX", b"GT", b"LT", b"INCR", b"CH"))
    rest = args[i:]
    if not rest or len(rest) % 2:
        raise SYNTAX_ERROR
    if nx and xx:
        raise Error("ERR XX and NX options at the same time are not compatible")
    if (gt and nx) or (lt and nx) or (gt and lt):
        raise Error("ERR GT, LT, and/or NX options at the same time are not compatible")
    if incr and len(rest) > 2:
        raise Error("ERR INCR option supports a single increment-element pair")
    if incr:
        pairs = [(_parse_increment(rest[0]), rest[1])]
    elif len(rest) == 2:
        pairs = [(parse_score(rest[0]), rest[1])]
    else:
        pairs = [(parse_score(s), m) for s, m in zip(rest[0::2], rest[1::2], strict=True)]
    added, updated, processed, result = _add(c, key, pairs, nx, xx, gt, lt, incr)
    if incr:
        return Double(result) if processed else None
    return added + updated if ch else added


@command("zincrby", 4, "write denyoom fast")
def zincrby(c, args):
    key, incr, member = args
    if incr.upper() in _ZADD_FLAGS:
        # Redis runs ZINCRBY through ZADD's flag loop: a flag there leaves at most one argument,
        # not an increment-member pair.
        raise SYNTAX_ERROR
    _, _, _, result = _add(c, key, [(_parse_increment(incr), member)], incr=True)
    return Double(result)


def _parse_increment(raw: bytes) -> float:
    """A ZINCRBY/ZADD INCR increment: a score that keeps the sign of a zero (-0 is replied, as
    the score of a new member, though stored as 0)."""
    value = parse_score(raw)
    return -0.0 if value == 0 and raw[:1] == b"-" else value


@command("zrem", -3, "write fast")
def zrem(c, args):
    key = args[0]
    meta = _lookup(c, key)
    if meta is None:
        return 0
    members = args[1:] if len(args) == 2 else list(dict.fromkeys(args[1:]))
    found = [(m, s) for m, s in zip(members, _scores(c, key, meta, members), strict=True) if s is not None]
    return _remove(c, key, meta, found)


# --- point reads -----------------------------------------------------------------------------


@command("zcard", 2, "readonly fast")
def zcard(c, args):
    meta = _lookup(c, args[0])
    return 0 if meta is None else meta.count


@command("zscore", 3, "readonly fast")
def zscore(c, args):
    s = _scores(c, args[0], _lookup(c, args[0]), [args[1]])[0]
    return None if s is None else Double(s)


@command("zmscore", -3, "readonly fast")
def zmscore(c, args):
    return [None if s is None else Double(s) for s in _scores(c, args[0], _lookup(c, args[0]), args[1:])]


def _rank(c, args, reverse: bool):
    key, member = args
    meta = _lookup(c, key)
    s = _scores(c, key, meta, [member])[0]
    if s is None:
        return None
    # No rank index: count the members before it, from the end the rank is counted from (O(rank)).
    for i, (m, _) in enumerate(_iter_scores(c, key, meta, reverse)):
        if m == member:
            return i
    return None


@command("zrank", 3, "readonly fast")
def zrank(c, args):
    return _rank(c, args, False)


@command("zrevrank", 3, "readonly fast")
def zrevrank(c, args):
    return _rank(c, args, True)


@command("zcount", 4, "readonly fast")
def zcount(c, args):
    lo, loex = _score_bound(args[1])
    hi, hiex = _score_bound(args[2])
    meta = _lookup(c, args[0])
    return 0 if meta is None else sum(1 for _ in _by_score(c, args[0], meta, lo, loex, hi, hiex))


@command("zlexcount", 4, "readonly fast")
def zlexcount(c, args):
    lo, loex = _lex_bound(args[1])
    hi, hiex = _lex_bound(args[2])
    meta = _lookup(c, args[0])
    return 0 if meta is None else len(_lex_range(c, args[0], meta, lo, loex, hi, hiex))


# --- ZRANGE and its legacy forms -------------------------------------------------------------

RANK, SCORE, LEX = "rank", "score", "lex"


def _parse_range(rangetype: str, a_min: bytes, a_max: bytes) -> tuple:
    """A range's bounds: (start, stop) ranks, or (lo, loex, hi, hiex) scores or members."""
    if rangetype == RANK:
        return parse_int(a_min), parse_int(a_max)
    parse = _score_bound if rangetype == SCORE else _lex_bound
    return (*parse(a_min), *parse(a_max))


def _in_range(c, key: bytes, meta: Meta, rangetype: str, bounds: tuple, reverse: bool = False,
              offset: int = 0, limit: int = -1) -> list[tuple[bytes, float]]:
    """The (member, score) entries within bounds (_parse_range), LIMIT applied to score/lex."""
    if rangetype == RANK:
        return _by_rank(c, key, meta, *bounds, reverse)
    if rangetype == SCORE:
        return _limit(_by_score(c, key, meta, *bounds, reverse), offset, limit)
    return _lex_range(c, key, meta, *bounds, reverse, offset, limit)


def _zrange(c, args, rangetype: str | None = None, reverse: bool | None = None, store: bool = False):
    """zrangeGenericCommand: options first, then the range, then the key (Redis's error order).

    store (ZRANGESTORE): WITHSCORES is refused and the (member, score) entries are returned."""
    key, a_min, a_max = args[0], args[1], args[2]
    withscores = False
    offset, limit = 0, -1
    i = 3
    while i < len(args):
        opt = args[i].upper()
        if opt == b"WITHSCORES" and not store:
            withscores = True
        elif opt == b"LIMIT" and len(args) - i - 1 >= 2:
            offset, limit = parse_int(args[i + 1]), parse_int(args[i + 2])
            i += 2
        elif reverse is None and opt == b"REV":
            reverse = True
        elif rangetype is None and opt == b"BYLEX":
            rangetype = LEX
        elif rangetype is None and opt == b"BYSCORE":
            rangetype = SCORE
        else:
            raise SYNTAX_ERROR
        i += 1
    reverse = bool(reverse)
    rangetype = rangetype or RANK
    if limit != -1 and rangetype == RANK:  # Redis tests limit != -1, so "LIMIT 0 -1" passes
        raise Error("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
    if withscores and rangetype == LEX:
        raise Error("ERR syntax error, WITHSCORES not supported in combination with BYLEX")
    if reverse and rangetype != RANK:
        a_min, a_max = a_max, a_min  # the range is given as max, min
    bounds = _parse_range(rangetype, a_min, a_max)
    meta = _lookup(c, key)
    if meta is None:
        return []
    entries = _in_range(c, key, meta, rangetype, bounds, reverse, offset, limit)
    return entries if store else _reply(entries, withscores)


# ZRANGE and its legacy forms, which fix the range type and the direction.
for _name, _rangetype, _reverse in (("zrange", None, None), ("zrevrange", RANK, True),
                                    ("zrangebyscore", SCORE, False), ("zrevrangebyscore", SCORE, True),
                                    ("zrangebylex", LEX, False), ("zrevrangebylex", LEX, True)):
    command(_name, -4, "readonly")(partial(_zrange, rangetype=_rangetype, reverse=_reverse))


# --- removal by range and popping ------------------------------------------------------------


def _zremrange(c, args, rangetype: str) -> int:
    """zremrangeGenericCommand: the range is parsed before the key is looked up."""
    bounds = _parse_range(rangetype, args[1], args[2])
    meta = _lookup(c, args[0])
    return 0 if meta is None else _remove(c, args[0], meta, _in_range(c, args[0], meta, rangetype, bounds))


for _name, _rangetype in (("zremrangebyrank", RANK), ("zremrangebyscore", SCORE), ("zremrangebylex", LEX)):
    command(_name, 4, "write")(partial(_zremrange, rangetype=_rangetype))


def _pop(c, args, reverse: bool):
    if len(args) > 2:
        raise SYNTAX_ERROR
    count = 1
    if len(args) == 2:
        count = parse_int_at_least(args[1], 0, NOT_POSITIVE)
    key = args[0]
    meta = _lookup(c, key)  # type-checked even for count 0, as Redis does
    if meta is None or count == 0:
        return []
    entries = []
    for entry in _iter_scores(c, key, meta, reverse):
        entries.append(entry)
        if len(entries) == count:
            break
    _remove(c, key, meta, entries)
    if len(args) == 2:
        return _reply(entries, True)  # with a count: pairs (nested in RESP3), as Redis 7.0
    return [x for m, s in entries for x in (m, Double(s))]


@command("zpopmin", -2, "write fast")
def zpopmin(c, args):
    return _pop(c, args, False)


@command("zpopmax", -2, "write fast")
def zpopmax(c, args):
    return _pop(c, args, True)


# --- storing a result (ZUNIONSTORE & co in zsetops.py, GEOSEARCHSTORE, SORT) -----------


def _store(c, dst: bytes, result: dict[bytes, float]) -> int:
    """Replace dst, whatever it held, by a zset of result (or delete it if result is empty)."""
    engine = c.engine
    b = engine.batch()
    if result:
        meta = engine.new_collection(ZSET)  # a fresh version hides dst's old data, if any
        prefix = _prefix(c, dst, meta)
        for m, s in result.items():
            s += 0.0
            b.put_data(prefix + m, pack_double(s))
            b.put_score(prefix + encode_score(s) + m)
        meta.count = len(result)
        b.put_meta(c.db, dst, meta)
    elif engine.get_meta(c.db, dst) is not None:
        b.delete_meta(c.db, dst)
    engine.commit(b)
    if result:
        c.server.signal_key(c.db, dst)
    return len(result)


# --- ZSCAN / ZRANDMEMBER ---------------------------------------------------------------------


@command("zscan", -3, "readonly")
def zscan(c, args):
    key = args[0]
    cursor, entries = scan_collection(c, key, _lookup, args[1:], _listpack_whole)
    return [cursor, [x for m, v in entries for x in (m, _fmt(unpack_double(v)))]]


def _listpack_whole(c, key: bytes, meta: Meta) -> list[tuple[bytes, bytes]] | None:
    """A sorted set Redis would keep as a listpack is scanned whole, in score order, whatever the
    cursor and COUNT (as Redis); judged by what it holds now (no conversion flag here)."""
    settings = c.server.settings
    if meta.count > settings.int("zset-max-listpack-entries"):
        return None
    entries = list(_iter_scores(c, key, meta))
    longest = settings.int("zset-max-listpack-value")
    if any(len(m) > longest for m, _ in entries):
        return None
    return [(m, pack_double(s)) for m, s in entries]


@command("zrandmember", -2, "readonly")
def zrandmember(c, args):
    key = args[0]
    if len(args) == 1:
        meta = _lookup(c, key)
        return None if meta is None else random_entries(c, key, meta, 1, True)[0][0]
    count = parse_random_count(args[1])
    withscores = False
    if len(args) > 3 or (len(args) == 3 and args[2].upper() != b"WITHSCORES"):
        raise SYNTAX_ERROR
    if len(args) == 3:
        withscores = True
        if abs(count) > (1 << 62) - 1:  # Redis refuses counts whose reply length would overflow
            raise Error("ERR value is out of range")
    meta = _lookup(c, key)
    if meta is None or count == 0:
        return []
    if count >= meta.count:
        entries = list(_iter_scores(c, key, meta))
    else:
        entries = [(m, unpack_double(v)) for m, v in random_entries(c, key, meta, abs(count), count > 0)]
    return _reply(entries, withscores)
