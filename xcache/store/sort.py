"""SORT and SORT_RO (sort.c): BY (a pattern, a hash field `key->field`, or a constant: no sort),
GET (`#`, patterns, hash fields), LIMIT, ASC/DESC, ALPHA and STORE (into a list).

Patterns are resolved on this node only (a proxy routes SORT by its first key). The whole input
is read and sorted in memory, plus one point read per element and BY/GET pattern, as in Redis:
the work is O(N log N) in the size of the sorted key.
"""

from __future__ import annotations

from xcache.resp import Error
from xcache.store import lists
from xcache.store.commands import SYNTAX_ERROR, command, parse_int
from xcache.store.engine import HASH, LIST, SET, STRING, WRONGTYPE, ZSET, data_prefix, read_counted
from xcache.store.hashes import iter_subkeys
from xcache.store.pqsort import pqsort
from xcache.store.sets import intset_order
from xcache.store.zsets import _iter_scores, _strtod

SCORE_ERROR = Error("ERR One or more scores can't be converted into double")
_INF = float("inf")


def lookup_by_pattern(c, pattern: bytes, subst: bytes) -> bytes | None:
    """lookupKeyByPattern: '#' is the element itself; 'pre*post' a string key, 'pre*post->f'
    a hash field; None when missing or of another type."""
    if pattern == b"#":
        return subst
    star = pattern.find(b"*")
    if star < 0:
        return None
    field = None
    arrow = pattern.find(b"->", star + 1)
    if arrow >= 0 and arrow + 2 < len(pattern):
        field = pattern[arrow + 2:]
        key = pattern[:star] + subst + pattern[star + 1:arrow]
    else:
        key = pattern[:star] + subst + pattern[star + 1:]
    meta = c.engine.get_meta(c.db, key)
    if meta is None:
        return None
    if field is not None:
        if meta.type != HASH:
            return None
        return c.engine.get_data(data_prefix(c.db, key, meta.version) + field)
    return meta.value if meta.type == STRING else None


def _to_double(raw: bytes) -> float | None:
    """strtod over the whole value as SORT checks it (None: not a number, NaN, or ERANGE)."""
    text = raw.decode("latin-1")
    value = _strtod(text)
    if value is None or value != value:
        return None
    mantissa = text.strip().lower().lstrip("+-")
    if value in (_INF, -_INF) and not mantissa.startswith("inf"):
        return None
    if value == 0 and any(ch in "123456789" for ch in mantissa.split("e")[0].split("p")[0].removeprefix("0x")):
        return None
    return value


def _elements(c, key: bytes, meta) -> list[bytes]:
    if meta is None:
        return []
    if meta.type == LIST:
        return list(lists._iter(c, data_prefix(c.db, key, meta.version), meta))
    if meta.type == SET:
        members = [m for m, _ in iter_subkeys(c, key, meta)]
        return members if meta.big else intset_order(members)  # an intset's numeric order
    return [m for m, _ in _iter_scores(c, key, meta)]


def _need_full_key_access(c, option: bytes, readonly: bool, args: list[bytes]) -> None:
    """BY and GET read keys the command does not name: the user must be able to read any key."""
    from xcache.store.acl import acl_of
    from xcache.store.acl_perm import full_key_access
    from xcache.store.commands import COMMANDS

    name = b"sort_ro" if readonly else b"sort"
    u = c.user
    if not u.unrestricted and not full_key_access(acl_of(c.server), u, COMMANDS[name], [name, *args]):
        raise Error(f"ERR {option.decode()} option of SORT denied due to insufficient ACL permissions.")


def _sort(c, args, readonly: bool):
    key = args[0]
    desc = alpha = dontsort = False
    limit_start, limit_count = 0, -1
    storekey = sortby = None
    gets: list[bytes] = []
    i = 1
    while i < len(args):
        opt = args[i].lower()
        left = len(args) - i - 1
        if opt == b"asc":
            desc = False
        elif opt == b"desc":
            desc = True
        elif opt == b"alpha":
            alpha = True
        elif opt == b"limit" and left >= 2:
            limit_start, limit_count = parse_int(args[i + 1]), parse_int(args[i + 2])
            i += 2
        elif not readonly and opt == b"store" and left >= 1:
            storekey = args[i + 1]
            i += 1
        elif opt == b"by" and left >= 1:
            sortby = args[i + 1]
            dontsort = b"*" not in sortby
            if not dontsort:
                _need_full_key_access(c, b"BY", readonly, args)
            i += 1
        elif opt == b"get" and left >= 1:
            _need_full_key_access(c, b"GET", readonly, args)
            gets.append(args[i + 1])
            i += 1
        else:
            raise SYNTAX_ERROR
        i += 1
    meta = c.engine.get_meta(c.db, key)
    if meta is not None and meta.type not in (LIST, SET, ZSET):
        raise WRONGTYPE
    kind = meta.type if meta is not None else LIST
    if dontsort and kind == SET and storekey is not None:
        dontsort, alpha, sortby = False, True, None  # a stored result must not depend on set order
    vector = _elements(c, key, meta)
    n = len(vector)
    start = max(limit_start, 0)
    end = n - 1 if limit_count < 0 else start + limit_count - 1
    if start >= n:
        start, end = n - 1, n - 2
    end = min(end, n - 1)
    if dontsort:
        if desc and kind in (LIST, ZSET):
            vector.reverse()
    else:
        vector = _sorted(c, vector, sortby, alpha, desc, storekey is not None, start, end)
    chosen = vector[start:end + 1] if end >= start else []
    if storekey is None:
        c.propagate = []  # a read
        if not gets:
            return chosen
        return [lookup_by_pattern(c, g, e) for e in chosen for g in gets]
    if gets:
        values = [lookup_by_pattern(c, g, e) or b"" for e in chosen for g in gets]
    else:
        values = chosen
    engine = c.engine
    engine.lookup_stats = None  # STORE's key is written, not read: not counted
    b = engine.batch()
    if values:
        lists._push(c, b, storekey, None, False, values)
    elif engine.get_meta(c.db, storekey) is not None:
        b.delete_meta(c.db, storekey)
    engine.commit(b)
    lists._touch(c, (storekey,))  # STORE's key is not in SORT's key spec: tell WATCHers here
    if values:
        c.server.signal_key(c.db, storekey)
    return len(values)


def _cstr(raw: bytes) -> bytes:
    """What strcoll sees of a value: up to its first NUL (the C locale collates bytewise)."""
    return raw.split(b"\0", 1)[0]


def _sorted(c, vector: list[bytes], sortby: bytes | None, alpha: bool, desc: bool,
            store: bool, start: int, end: int) -> list[bytes]:
    """sortCompare over the elements; a partial pqsort when BY and LIMIT are given, as Redis."""
    entries = []
    for e in vector:
        v = e if sortby is None else lookup_by_pattern(c, sortby, e)
        if alpha:
            if sortby is None:
                weight = e if store else _cstr(e)
            else:
                weight = None if v is None else (v if store else _cstr(v))
        else:
            weight = 0.0
            if v is not None:
                weight = _to_double(v)
                if weight is None:
                    raise SCORE_ERROR
        entries.append((e, weight))
    sign = -1 if desc else 1

    def compare(x, y) -> int:
        (e1, w1), (e2, w2) = x, y
        if alpha:
            if w1 is None or w2 is None:
                r = 0 if w1 is w2 else (-1 if w1 is None else 1)
            else:
                r = (w1 > w2) - (w1 < w2)
        else:
            r = (w1 > w2) - (w1 < w2) or (e1 > e2) - (e1 < e2)
        return sign * r

    if sortby is not None and (start != 0 or end != len(entries) - 1):
        pqsort(entries, compare, start, end)
    elif alpha:  # glibc's qsort is a stable merge sort: so is list.sort, with an equivalent key
        entries.sort(key=lambda t: (0, b"") if t[1] is None else (1, t[1]), reverse=desc)
    else:
        entries.sort(key=lambda t: (t[1], t[0]), reverse=desc)
    return [e for e, _ in entries]


@command("sort", -2, "write denyoom")
def sort(c, args):
    return read_counted(c, _sort, c, args, False)  # its key and BY/GET keys count, as SORT_RO's


@command("sort_ro", -2, "readonly")
def sort_ro(c, args):
    return _sort(c, args, True)
