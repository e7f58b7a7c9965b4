"""Geo commands on the sorted-set layout: a member's score is its 52-bit geohash (geohash.py).

GEOADD is ZADD with computed scores (and replicates as that ZADD); searches scan only the score
ranges of the geohash boxes covering the area (up to 9), as Redis does, so their cost is the
number of members in those boxes: a radius covering the whole set reads the whole set.
"""

from __future__ import annotations

from functools import partial

from xcache.resp import NULL_ARRAY, Error, HumanDouble
from xcache.store import geohash as gh
from xcache.store.commands import SYNTAX_ERROR, command, parse_int
from xcache.store.engine import ZSET, read_counted
from xcache.store.pqsort import pqsort
from xcache.store.zsets import _add, _by_score, _lookup, _scores, _store, parse_score

UNITS = {b"m": 1.0, b"km": 1000.0, b"ft": 0.3048, b"mi": 1609.34}
BAD_MEMBER = Error("ERR could not decode requested zset member")


def _unit(raw: bytes) -> float:
    unit = UNITS.get(raw.lower())
    if unit is None:
        raise Error("ERR unsupported unit provided. please use M, KM, FT, MI")
    return unit


def _lonlat(lon_raw: bytes, lat_raw: bytes) -> tuple[float, float]:
    lon, lat = parse_score(lon_raw), parse_score(lat_raw)
    if lon < gh.LONG_MIN or lon > gh.LONG_MAX or lat < gh.LAT_MIN or lat > gh.LAT_MAX:
        raise Error(f"ERR invalid longitude,latitude pair {lon:f},{lat:f}")
    return lon, lat


def _distance_arg(raw: bytes, unit: bytes) -> tuple[float, float]:
    value = parse_score(raw, Error("ERR need numeric radius"))
    if value < 0:
        raise Error("ERR radius cannot be negative")
    return value, _unit(unit)


def _coord_reply(xy: tuple[float, float]) -> list:
    """[lon, lat] as Redis answers them: doubles in RESP3, bulk strings in RESP2."""
    return [HumanDouble(gh.human(xy[0])), HumanDouble(gh.human(xy[1]))]


def _fmt_dist(d: float) -> bytes:
    return b"%.4f" % d


@command("geoadd", -5, "write denyoom")
def geoadd(c, args):
    key = args[0]
    i = 1
    nx = xx = ch = False
    while i < len(args):
        opt = args[i].lower()
        if opt == b"nx":
            nx = True
        elif opt == b"xx":
            xx = True
        elif opt == b"ch":
            ch = True
        else:
            break
        i += 1
    rest = args[i:]
    if len(rest) % 3 or (xx and nx) or not rest:
        raise SYNTAX_ERROR
    pairs = []
    for j in range(0, len(rest), 3):
        lon, lat = _lonlat(rest[j], rest[j + 1])
        pairs.append((float(gh.encode(lon, lat)), rest[j + 2]))
    added, updated, _, _ = _add(c, key, pairs, nx, xx)
    argv = [b"ZADD", key] + args[1:i]
    for score, member in pairs:
        argv += [b"%d" % int(score), member]
    # replicas apply the ZADD: no float work to redo (nothing when nothing changed)
    c.propagate = argv if added or updated else []
    return added + updated if ch else added


def _coords(c, key: bytes, members: list[bytes]) -> list[tuple[float, float] | None]:
    meta = _lookup(c, key)
    return [None if s is None else gh.decode_score(s) for s in _scores(c, key, meta, members)]


@command("geopos", -2, "readonly")
def geopos(c, args):
    out = []
    for xy in _coords(c, args[0], args[1:]):
        out.append(NULL_ARRAY if xy is None else _coord_reply(xy))
    return out


@command("geodist", -4, "readonly")
def geodist(c, args):
    key, m1, m2 = args[0], args[1], args[2]
    if len(args) > 4:
        raise SYNTAX_ERROR
    to_m = _unit(args[3]) if len(args) == 4 else 1.0
    a, b = _coords(c, key, [m1, m2])
    if a is None or b is None:
        return None
    return _fmt_dist(gh.distance(a[0], a[1], b[0], b[1]) / to_m)


@command("geohash", -2, "readonly")
def geohash_(c, args):
    return [None if xy is None else gh.hash_string(*xy) for xy in _coords(c, args[0], args[1:])]


# --- searches ---------------------------------------------------------------------------------

RADIUS_COORDS, RADIUS_MEMBER, SEARCH, SEARCHSTORE, NOSTORE = 1, 2, 4, 8, 16


def _member_coords(c, meta, key: bytes, member: bytes) -> tuple[float, float]:
    score = _scores(c, key, meta, [member])[0]
    if score is None:
        raise BAD_MEMBER
    return gh.decode_score(score)


def _search(c, args, flags: int, name: str):
    """georadiusGeneric: parse as Redis (same error order), then scan the covering boxes."""
    src = args[1] if flags & SEARCHSTORE else args[0]
    meta = read_counted(c, c.engine.lookup, c.db, src, ZSET)  # GEORADIUS ... STORE: counted too
    shape = gh.Shape()
    storekey = None
    storedist = False
    if flags & RADIUS_COORDS:
        base = 5
        shape.lon, shape.lat = _lonlat(args[1], args[2])
        shape.radius, shape.conversion = _distance_arg(args[3], args[4])
    elif flags & RADIUS_MEMBER:
        base = 4
        if meta is not None:
            shape.lon, shape.lat = _member_coords(c, meta, src, args[1])
            shape.radius, shape.conversion = _distance_arg(args[2], args[3])
    else:
        base = 1
        if flags & SEARCHSTORE:
            base = 2
            storekey = args[0]
    withdist = withhash = withcoord = any_ = False
    frommember = fromloc = byradius = bybox = False
    sort = None
    count = 0
    rest = args[base:]
    i = 0
    n = len(rest)
    while i < n:
        arg = rest[i].lower()
        if arg == b"withdist":
            withdist = True
        elif arg == b"withhash":
            withhash = True
        elif arg == b"withcoord":
            withcoord = True
        elif arg == b"any":
            any_ = True
        elif arg == b"asc":
            sort = "asc"
        elif arg == b"desc":
            sort = "desc"
        elif arg == b"count" and i + 1 < n:
            count = parse_int(rest[i + 1])
            if count <= 0:
                raise Error("ERR COUNT must be > 0")
            i += 1
        elif (arg in (b"store", b"storedist") and i + 1 < n and not flags & NOSTORE
              and not flags & SEARCH):
            storekey = rest[i + 1]
            storedist = arg == b"storedist"
            i += 1
        elif arg == b"storedist" and flags & SEARCH and flags & SEARCHSTORE:
            storedist = True
        elif arg == b"frommember" and i + 1 < n and flags & SEARCH and not fromloc:
            if meta is not None:
                shape.lon, shape.lat = _member_coords(c, meta, src, rest[i + 1])
            frommember = True
            i += 1
        elif arg == b"fromlonlat" and i + 2 < n and flags & SEARCH and not frommember:
            shape.lon, shape.lat = _lonlat(rest[i + 1], rest[i + 2])
            fromloc = True
            i += 2
        elif arg == b"byradius" and i + 2 < n and flags & SEARCH and not bybox:
            shape.radius, shape.conversion = _distance_arg(rest[i + 1], rest[i + 2])
            shape.box = False
            byradius = True
            i += 2
        elif arg == b"bybox" and i + 3 < n and flags & SEARCH and not byradius:
            w = parse_score(rest[i + 1], Error("ERR need numeric width"))
            h = parse_score(rest[i + 2], Error("ERR need numeric height"))
            if h < 0 or w < 0:
                raise Error("ERR height or width cannot be negative")
            shape.width, shape.height = w, h
            shape.conversion = _unit(rest[i + 3])
            shape.box = True
            bybox = True
            i += 3
        else:
            raise SYNTAX_ERROR
        i += 1
    if storekey is not None and (withdist or withhash or withcoord):
        what = "GEOSEARCHSTORE" if flags & SEARCHSTORE else "STORE option in GEORADIUS"
        raise Error(f"ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options")
    if flags & SEARCH and not (frommember or fromloc):
        raise Error(f"ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}")
    if flags & SEARCH and not (byradius or bybox):
        raise Error(f"ERR exactly one of BYRADIUS and BYBOX can be specified for {name}")
    if any_ and not count:
        raise Error("ERR the ANY argument requires COUNT argument")
    if storekey is None:
        c.propagate = []  # a read: nothing to replicate
    elif c.server.watchers:
        c.server.touch(c.db, storekey)  # GEORADIUS's STORE key is not in its key spec
    if meta is None:
        if storekey is not None:
            return _store(c, storekey, {})
        return []
    if count and sort is None and not any_:
        sort = "asc"
    found = _collect(c, src, meta, shape, count if any_ else 0)
    if not found and storekey is None:
        return []
    returned = min(count, len(found)) if count else len(found)
    if sort is not None:
        sign = 1 if sort == "asc" else -1
        if returned == len(found):  # glibc's qsort: a stable merge sort
            found.sort(key=lambda p: sign * p[2])
        else:  # Redis sorts just enough for the first `returned` (unstable: same ties as Redis)
            pqsort(found, lambda x, y: sign * ((x[2] > y[2]) - (x[2] < y[2])), 0, returned - 1)
    found = found[:returned]
    if storekey is not None:
        result = {m: (d / shape.conversion if storedist else s) for m, s, d, _ in found}
        return _store(c, storekey, result)
    out = []
    for member, score, dist, xy in found:
        if not (withdist or withhash or withcoord):
            out.append(member)
            continue
        item = [member]
        if withdist:
            item.append(_fmt_dist(dist / shape.conversion))
        if withhash:
            item.append(int(score))
        if withcoord:
            item.append(_coord_reply(xy))
        out.append(item)
    return out


def _collect(c, key: bytes, meta, shape: gh.Shape, limit: int) -> list:
    """(member, score, distance m, (lon, lat)) of members inside shape, in Redis's scan order."""
    found = []
    for bits, step in gh.search_boxes(shape):
        if limit and len(found) >= limit:
            break
        lo, hi = gh.box_scores(bits, step)
        for member, score in _by_score(c, key, meta, float(lo), False, float(hi), True):
            xy = gh.decode_score(score)
            d = shape.contains(xy[0], xy[1])
            if d is None:
                continue
            found.append((member, score, d, xy))
            if limit and len(found) >= limit:
                break
    return found


# georadiusGeneric serves the six searches. A row: name, arity, flags, argument layout, last key.
for _name, _arity, _flags, _layout, _last in (
    ("georadius", -6, "write denyoom", RADIUS_COORDS, 1),
    ("georadius_ro", -6, "readonly", RADIUS_COORDS | NOSTORE, 1),
    ("georadiusbymember", -5, "write denyoom", RADIUS_MEMBER, 1),
    ("georadiusbymember_ro", -5, "readonly", RADIUS_MEMBER | NOSTORE, 1),
    ("geosearch", -7, "readonly", SEARCH, 1),
    ("geosearchstore", -8, "write denyoom", SEARCH | SEARCHSTORE, 2),
):
    command(_name, _arity, _flags, 1, _last, 1)(partial(_search, flags=_layout, name=_name))
