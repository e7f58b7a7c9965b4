"""Popping from the first non-empty of several keys: ZMPOP, LMPOP and the blocking BZPOPMIN,
BZPOPMAX, BZMPOP, BLMPOP (blocked clients wait as BLPOP's do: see server.Block).

Replicas get plain pops (ZPOPMIN/ZPOPMAX/LPOP/RPOP key count), as Redis propagates them.
"""

from __future__ import annotations

from functools import partial

from xcache.resp import NULL_ARRAY, Double, Error
from xcache.store import lists, zsets
from xcache.store.commands import SYNTAX_ERROR, command, parse_int_at_least
from xcache.store.engine import LIST, ZSET

NUMKEYS = Error("ERR numkeys should be greater than 0")
COUNT = Error("ERR count should be greater than 0")


def _parse_mpop(args: list[bytes], at: int, ends: tuple[bytes, bytes]) -> tuple[list[bytes], bool, int | None]:
    """numkeys key... WHERE [COUNT n] starting at args[at] -> (keys, first end?, count)."""
    numkeys = parse_int_at_least(args[at], 1, NUMKEYS)
    where_at = at + 1 + numkeys
    if where_at >= len(args):
        raise SYNTAX_ERROR
    where = args[where_at].upper()
    if where not in ends:
        raise SYNTAX_ERROR
    count = None
    i = where_at + 1
    while i < len(args):
        if count is None and args[i].upper() == b"COUNT" and i + 1 < len(args):
            count = parse_int_at_least(args[i + 1], 1, COUNT)
            i += 2
        else:
            raise SYNTAX_ERROR
    return args[at + 1:where_at], where == ends[0], count


def _zpop_first(c, keys: list[bytes], low: bool, count: int, retrying: bool):
    """Pop up to count members from the first non-empty zset of keys -> (key, entries) or None."""
    for key, meta in lists.existing_keys(c, keys, ZSET, retrying):
        entries = []
        for entry in zsets._iter_scores(c, key, meta, not low):
            entries.append(entry)
            if len(entries) == count:
                break
        zsets._remove(c, key, meta, entries)
        # replicated with the count popped, as Redis rewrites it (not the one asked for)
        c.propagate = [b"ZPOPMIN" if low else b"ZPOPMAX", key, b"%d" % len(entries)]
        lists._touch(c, (key,))  # the key spec of *MPOP cannot name its keys: tell WATCHers here
        return key, entries
    return None


def _lpop_first(c, keys: list[bytes], left: bool, count: int, retrying: bool):
    for key, meta in lists.existing_keys(c, keys, LIST, retrying):
        b = c.engine.batch()
        values = lists._pop(c, b, key, meta, left, min(count, meta.count))
        c.engine.commit(b)
        c.propagate = [b"LPOP" if left else b"RPOP", key, b"%d" % len(values)]
        lists._touch(c, (key,))
        return key, values
    return None


def _nested(entries) -> list:
    return [[m, Double(s)] for m, s in entries]


def _blocking(c, keys: list[bytes], timeout: float, serve):
    """Serve now, or (outside MULTI) block until a key is signalled or the timeout passes."""
    reply = serve(False)
    if reply is not None:
        return reply
    if getattr(c, "in_exec", False):
        c.propagate = []
        return NULL_ARRAY  # inside MULTI/EXEC a blocking pop behaves as if it timed out
    c.propagate = []
    return lists._block(list(dict.fromkeys(keys)), timeout, lambda: serve(True), NULL_ARRAY)


def _mpop(c, args, ends: tuple[bytes, bytes], pop_first, fmt):
    """ZMPOP / LMPOP: (key, fmt(popped)) of the first non-empty key, or a null array."""
    keys, first_end, count = _parse_mpop(args, 0, ends)
    got = pop_first(c, keys, first_end, count or 1, False)
    if got is None:
        c.propagate = []
        return NULL_ARRAY
    return [got[0], fmt(got[1])]


def _bmpop(c, args, ends: tuple[bytes, bytes], pop_first, fmt):
    """BZMPOP / BLMPOP: as _mpop, blocking until a key has something or the timeout passes."""
    keys, first_end, count = _parse_mpop(args, 1, ends)
    timeout = lists.parse_timeout(args[0])

    def serve(retrying: bool):
        got = pop_first(c, keys, first_end, count or 1, retrying)
        return None if got is None else [got[0], fmt(got[1])]

    return _blocking(c, keys, timeout, serve)


# ZMPOP, LMPOP and their blocking forms. A row per type: the two commands, the words naming its
# two ends, its pop, the reply form of what was popped.
for _name, _bname, _ends, _pop_first, _fmt in (
    ("zmpop", "bzmpop", (b"MIN", b"MAX"), _zpop_first, _nested),
    ("lmpop", "blmpop", (b"LEFT", b"RIGHT"), _lpop_first, list),
):
    _bound = {"ends": _ends, "pop_first": _pop_first, "fmt": _fmt}
    command(_name, -4, "write", 0, 0, 0)(partial(_mpop, **_bound))
    command(_bname, -5, "write blocking", 0, 0, 0)(partial(_bmpop, **_bound))


# --- BZPOPMIN / BZPOPMAX ----------------------------------------------------------------------


def _bzpop(c, args, low: bool):
    keys = args[:-1]
    timeout = lists.parse_timeout(args[-1])

    def serve(retrying: bool):
        got = _zpop_first(c, keys, low, 1, retrying)
        if got is None:
            return None
        key, [(member, score)] = got
        c.propagate = [b"ZPOPMIN" if low else b"ZPOPMAX", key]
        return [key, member, Double(score)]

    return _blocking(c, keys, timeout, serve)


@command("bzpopmin", -3, "write blocking fast", 1, -2, 1)
def bzpopmin(c, args):
    return _bzpop(c, args, True)


@command("bzpopmax", -3, "write blocking fast", 1, -2, 1)
def bzpopmax(c, args):
    return _bzpop(c, args, False)
