"""Sorted-set algebra: ZUNION/ZINTER/ZDIFF (+STORE), ZINTERCARD and ZRANGESTORE.

Inputs may be sorted sets or sets (members score 1). As Redis, the inputs are ordered by size;
an intersection walks the smallest input and looks its members up in the others (point reads),
a union or difference reads every input once. The work is proportional to the members read; the
result is built in memory (as Redis builds it) before it is replied or stored in one batch.
"""

from __future__ import annotations

from collections.abc import Iterator

from xcache.resp import Double, Error, Pairs
from xcache.store.commands import SYNTAX_ERROR, command, parse_int, parse_int_at_least
from xcache.store.engine import SET, WRONGTYPE, ZSET, Meta, data_prefix, read_counted, unpack_double
from xcache.store.hashes import iter_subkeys
from xcache.store.zsets import _store, _zrange, parse_score

UNION, INTER, DIFF = "union", "inter", "diff"


def _aggregate(target: float, value: float, how: bytes) -> float:
    if how == b"SUM":
        total = target + value
        return 0.0 if total != total else total  # inf + -inf is 0 by Redis's convention
    if how == b"MIN":
        return value if value < target else target
    return value if value > target else target


class _Source:
    """One input: a zset, a set (scores 1) or a missing key."""

    def __init__(self, c, key: bytes, meta: Meta | None):
        self.c, self.key, self.meta = c, key, meta
        self.weight = 1.0
        self.size = 0 if meta is None else meta.count

    def entries(self) -> Iterator[tuple[bytes, float]]:
        if self.meta is None:
            return
        for m, v in iter_subkeys(self.c, self.key, self.meta):
            yield m, (1.0 if self.meta.type == SET else unpack_double(v))

    def scores(self, members: list[bytes]) -> list[float | None]:
        if self.meta is None:
            return [None] * len(members)
        prefix = data_prefix(self.c.db, self.key, self.meta.version)
        raws = self.c.engine.multi_get_data([prefix + m for m in members])
        if self.meta.type == SET:
            return [None if v is None else 1.0 for v in raws]
        return [None if v is None else unpack_double(v) for v in raws]


def _compute(sources: list[_Source], op: str, how: bytes, limit: int = 0) -> dict[bytes, float]:
    result: dict[bytes, float] = {}
    if op == INTER:
        if not sources[0].size:
            return result
        first, others = sources[0], sources[1:]
        for m, s in first.entries():
            score = first.weight * s
            result[m] = 0.0 if score != score else score
        for src in others:
            if not result:
                break
            members = list(result)
            for m, s in zip(members, src.scores(members), strict=True):
                if s is None:
                    del result[m]
                else:
                    result[m] = _aggregate(result[m], s * src.weight, how)
        if limit and len(result) > limit:
            result = dict(list(result.items())[:limit])
    elif op == UNION:
        for src in sources:
            for m, s in src.entries():
                score = src.weight * s
                if score != score:
                    score = 0.0
                old = result.get(m)
                result[m] = score if old is None else _aggregate(old, score, how)
    else:
        first, others = sources[0], sources[1:]
        result = dict(first.entries())
        for src in others:
            if not result:
                break
            members = list(result)
            for m, s in zip(members, src.scores(members), strict=True):
                if s is not None:
                    del result[m]
    return result


def _generic(c, args, name: str, op: str, numkeys_at: int, store: bool = False,
             cardinality: bool = False):
    """zunionInterDiffGenericCommand: same parsing, errors and reply."""
    numkeys = parse_int(args[numkeys_at])
    if numkeys < 1:
        raise Error(f"ERR at least 1 input key is needed for '{name}' command")
    if numkeys > len(args) - numkeys_at - 1:
        raise SYNTAX_ERROR
    sources = []
    first = numkeys_at + 1
    for key in args[first:first + numkeys]:
        meta = read_counted(c, c.engine.get_meta, c.db, key)  # a source, read by the STOREs too
        if meta is not None and meta.type not in (SET, ZSET):
            raise WRONGTYPE
        sources.append(_Source(c, key, meta))
    how = b"SUM"
    withscores = False
    limit = 0
    i = first + numkeys
    while i < len(args):
        remaining = len(args) - i
        opt = args[i].upper()
        if op != DIFF and not cardinality and opt == b"WEIGHTS" and remaining >= numkeys + 1:
            for j, src in enumerate(sources):
                src.weight = parse_score(args[i + 1 + j], Error("ERR weight value is not a float"))
            i += 1 + numkeys
        elif op != DIFF and not cardinality and opt == b"AGGREGATE" and remaining >= 2:
            how = args[i + 1].upper()
            if how not in (b"SUM", b"MIN", b"MAX"):
                raise SYNTAX_ERROR
            i += 2
        elif not store and not cardinality and opt == b"WITHSCORES":
            withscores = True
            i += 1
        elif cardinality and opt == b"LIMIT" and remaining >= 2:
            limit = parse_int_at_least(args[i + 1], 0, Error("ERR LIMIT can't be negative"))
            i += 2
        else:
            raise SYNTAX_ERROR
    if op != DIFF:
        sources.sort(key=lambda s: s.size)  # Redis orders inputs by cardinality (affects sums)
    result = _compute(sources, op, how, limit if cardinality else 0)
    if cardinality:
        return len(result)
    if store:
        return _store(c, args[0], result)
    ordered = sorted(result.items(), key=lambda e: (e[1], e[0]))
    if not withscores:
        return [m for m, _ in ordered]
    out = Pairs()  # flat in RESP2, [member, score] pairs with double scores in RESP3 (Redis 7)
    for m, s in ordered:
        out += [m, Double(s + 0.0)]
    return out


@command("zunionstore", -4, "write denyoom")
def zunionstore(c, args):
    return _generic(c, args, "zunionstore", UNION, 1, store=True)


@command("zinterstore", -4, "write denyoom")
def zinterstore(c, args):
    return _generic(c, args, "zinterstore", INTER, 1, store=True)


@command("zdiffstore", -4, "write denyoom")
def zdiffstore(c, args):
    return _generic(c, args, "zdiffstore", DIFF, 1, store=True)


@command("zunion", -3, "readonly", 0, 0, 0)
def zunion(c, args):
    return _generic(c, args, "zunion", UNION, 0)


@command("zinter", -3, "readonly", 0, 0, 0)
def zinter(c, args):
    return _generic(c, args, "zinter", INTER, 0)


@command("zdiff", -3, "readonly", 0, 0, 0)
def zdiff(c, args):
    return _generic(c, args, "zdiff", DIFF, 0)


@command("zintercard", -3, "readonly", 0, 0, 0)
def zintercard(c, args):
    return _generic(c, args, "zintercard", INTER, 0, cardinality=True)


@command("zrangestore", -5, "write denyoom", 1, 2, 1)
def zrangestore(c, args):
    entries = read_counted(c, lambda: _zrange(c, args[1:], store=True))
    return _store(c, args[0], dict(entries))
