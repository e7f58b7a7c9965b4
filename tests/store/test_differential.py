"""Differential fuzzing against redis-server 7 (issues 13/15): short random programs of commands
over a tiny key space run on xcache and on redis-server; every reply (errors byte for byte) and
the final state of every key must match. Replies Redis gives in no promised order are compared
sorted, random picks by shape only, TTLs by sign. Deterministic (derandomized); scale the
example count with XCACHE_FUZZ_SCALE, e.g.
`XCACHE_FUZZ_SCALE=30 python3 -m pytest -q tests/store/test_differential.py -p no:cacheprovider`.
"""

from __future__ import annotations

import socket

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzzing import fuzz
from xcache.numbers import string2ll

KEYS = ["a", "b", "c", "d"]
VALUES = ["0", "1", "-1", "10", "x", "abc", "", "1.5", "9223372036854775807",
          "-9223372036854775808", "1e3", " 1", "inf"]
MEMBERS = ["a", "b", "c", "x", "1", "2", "", "\x00é"]
INTS = ["0", "1", "-1", "2", "3", "-2", "5", "10", "-100", "9223372036854775807",
        "-9223372036854775808", "9223372036854775808", "x", "1.5", ""]
INTS += ["0", "1", "-1", "2", "-2", "3"] * 3  # mostly small valid numbers
FLOATS = ["0", "1", "-1", "1.5", "-2.5", "3", "inf", "-inf", "+inf", "nan", "1e308", "x",
          "0.1", "1e-5", "17", "", "0.2", "-0.1", "5.0e3", "3.0", "1e-320"]
SCORES = ["0", "1", "2", "-1", "1.5", "inf", "-inf", "3", "nan", "x", "-0", "1e3", "0.1", "0.2",
          "123456789012345678", "1e-320", "-1e400", "1e308"]
SCORE_BOUNDS = ["-inf", "+inf", "inf", "0", "1", "(1", "2", "(2", "-1", "1.5", "(x", "x", "nan"]
LEX_BOUNDS = ["-", "+", "[a", "(a", "[b", "(c", "[x", "a", "(", "["]
TTLS = ["100", "1000", "100000", "0", "-1", "x", "9223372036854775807", "99999999999999"]
FUTURE = ["4102444800", "4102444900", "1", "0", "-5", "x"]  # 2100-01-01, the past, bad
OFFSETS = ["0", "1", "3", "-1", "-3", "7", "100", "-100", "x", "4294967296", "536870912"]
BITOFFS = ["0", "1", "7", "8", "15", "63", "-1", "x", "4294967296"]
COORDS = [("13.361389", "38.115556"), ("15.087269", "37.502669"), ("0", "0"),
          ("-180", "85.05112878"), ("200", "10"), ("x", "1")]
STREAM_IDS = ["1-1", "1-2", "2-0", "3-5", "5", "0-1", "0-0", "10-*", "x", "1-x"]


class Pick:
    """Draws arguments from the small shared pools so commands collide on keys and types."""

    def __init__(self, draw):
        self.draw = draw

    def one(self, pool):
        return self.draw(st.sampled_from(pool))

    def key(self):
        return self.one(KEYS)

    def keys(self, lo=1, hi=3):
        return self.draw(st.lists(st.sampled_from(KEYS), min_size=lo, max_size=hi))

    def val(self):
        return self.one(VALUES)

    def int(self):
        return self.one(INTS)

    def float(self):
        return self.one(FLOATS)

    def mem(self):
        return self.one(MEMBERS)

    def mems(self, lo=1, hi=3):
        return self.draw(st.lists(st.sampled_from(MEMBERS), min_size=lo, max_size=hi))

    def opt(self, *choices):
        """One of the option lists (each a list of words), possibly empty."""
        return list(self.one([[], *choices]))

    def flags(self, *words):
        """A random sub-sequence of words (order kept)."""
        return [w for w in words if self.draw(st.booleans())]


def _expire_opt(p):
    return p.opt(["NX"], ["XX"], ["GT"], ["LT"], ["NX", "XX"], ["GT", "LT"], ["XX", "GT"])


def _set_opts(p):
    return [*p.opt(["NX"], ["XX"]), *p.opt(["GET"]),
            *p.opt(["EX", p.one(TTLS)], ["PX", p.one(TTLS)], ["EXAT", p.one(FUTURE)],
                   ["PXAT", p.one(FUTURE)], ["KEEPTTL"], ["EX", p.one(TTLS), "KEEPTTL"])]


def _range_bounds(p):
    how = p.one(["index", "score", "lex"])
    if how == "index":
        return [p.int(), p.int()]
    if how == "score":
        return [p.one(SCORE_BOUNDS), p.one(SCORE_BOUNDS), "BYSCORE"]
    return [p.one(LEX_BOUNDS), p.one(LEX_BOUNDS), "BYLEX"]


def _weights_aggr(p, n):
    return [*p.opt(["WEIGHTS", *[p.one(["1", "2", "-1", "0", "inf", "x"]) for _ in range(n)]]),
            *p.opt(["AGGREGATE", p.one(["SUM", "MIN", "MAX", "x"])])]


def _pairs(p, a, b, lo=1, hi=3):
    out = []
    for _ in range(p.draw(st.integers(lo, hi))):
        out += [a(), b()]
    return out


# Each template builds one command; the generic keyspace first so shrinking prefers it.
GENERIC = [
    lambda p: ["DEL", *p.keys()],
    lambda p: ["UNLINK", *p.keys()],
    lambda p: ["EXISTS", *p.keys()],
    lambda p: ["TOUCH", *p.keys()],
    lambda p: ["TYPE", p.key()],
    lambda p: ["EXPIRE", p.key(), p.one(TTLS), *_expire_opt(p)],
    lambda p: ["PEXPIRE", p.key(), p.one(TTLS), *_expire_opt(p)],
    lambda p: ["EXPIREAT", p.key(), p.one(FUTURE), *_expire_opt(p)],
    lambda p: ["PEXPIREAT", p.key(), p.one(FUTURE), *_expire_opt(p)],
    lambda p: ["PERSIST", p.key()],
    lambda p: [p.one(["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"]), p.key()],
    lambda p: ["RENAME", p.key(), p.key()],
    lambda p: ["RENAMENX", p.key(), p.key()],
    lambda p: ["COPY", p.key(), p.key(), *p.opt(["REPLACE"], ["DB", "0"], ["DB", "1"], ["x"])],
    lambda p: ["RANDOMKEY"],
    lambda p: ["MOVE", p.key(), p.one(["1", "0", "x"])],
    lambda p: ["DBSIZE"],
    lambda p: ["KEYS", p.one(["*", "a", "[ab]", "?", "x*"])],
    lambda p: ["SCAN*", "SCAN", *p.opt(["MATCH", "[ab]"], ["TYPE", p.one(["string", "list", "x"])])],
    lambda p: [p.one(["DEL", "EXISTS", "TTL", "EXPIRE", "RENAME", "TYPE", "PERSIST", "COPY"])],
]

STRINGS = [
    lambda p: ["SET", p.key(), p.val(), *_set_opts(p)],
    lambda p: ["SET", p.key(), p.val(), *p.flags("NX", "XX", "GET", "KEEPTTL", "EX", "PX")],
    lambda p: ["GET", p.key()],
    lambda p: ["GETEX", p.key(), *p.opt(["PERSIST"], ["EX", p.one(TTLS)], ["PXAT", p.one(FUTURE)],
                                      ["EXAT", p.one(FUTURE)], ["PX", p.one(TTLS)], ["x"])],
    lambda p: ["GETDEL", p.key()],
    lambda p: ["GETSET", p.key(), p.val()],
    lambda p: ["SETNX", p.key(), p.val()],
    lambda p: [p.one(["SETEX", "PSETEX"]), p.key(), p.one(TTLS), p.val()],
    lambda p: ["APPEND", p.key(), p.val()],
    lambda p: [p.one(["INCR", "DECR"]), p.key()],
    lambda p: [p.one(["INCRBY", "DECRBY"]), p.key(), p.int()],
    lambda p: ["INCRBYFLOAT", p.key(), p.float()],
    lambda p: ["SETRANGE", p.key(), p.one(OFFSETS), p.val()],
    lambda p: ["GETRANGE", p.key(), p.one(OFFSETS), p.one(OFFSETS)],
    lambda p: ["STRLEN", p.key()],
    lambda p: ["SUBSTR", p.key(), p.one(OFFSETS), p.one(OFFSETS)],
    lambda p: ["MSET", *_pairs(p, p.key, p.val)],
    lambda p: ["MSETNX", *_pairs(p, p.key, p.val)],
    lambda p: ["MGET", *p.keys()],
    lambda p: ["LCS", p.key(), p.key(), *p.flags("LEN", "IDX"),
               *p.opt(["MINMATCHLEN", p.one(["0", "1", "2", "x"])]), *p.flags("WITHMATCHLEN")],
    lambda p: [p.one(["SET", "GET", "GETEX", "APPEND", "INCRBY", "SETRANGE", "GETRANGE", "MSET",
                      "LCS", "INCRBYFLOAT", "SETEX"]), p.key()],
]

HASHES = [
    lambda p: [p.one(["HSET", "HMSET"]), p.key(), *_pairs(p, p.mem, p.val)],
    lambda p: ["HSETNX", p.key(), p.mem(), p.val()],
    lambda p: ["HGET", p.key(), p.mem()],
    lambda p: ["HMGET", p.key(), *p.mems()],
    lambda p: ["HDEL", p.key(), *p.mems()],
    lambda p: [p.one(["HLEN", "HKEYS", "HVALS", "HGETALL"]), p.key()],
    lambda p: ["HEXISTS", p.key(), p.mem()],
    lambda p: ["HSTRLEN", p.key(), p.mem()],
    lambda p: ["HINCRBY", p.key(), p.mem(), p.int()],
    lambda p: ["HINCRBYFLOAT", p.key(), p.mem(), p.float()],
    lambda p: ["HRANDFIELD", p.key(), *p.opt([p.int()], [p.int(), "WITHVALUES"])],
    lambda p: ["SCAN*", "HSCAN", p.key(), *p.opt(["MATCH", "[ab]"])],
    lambda p: [p.one(["HSET", "HGET", "HDEL", "HINCRBY", "HMGET"]), p.key()],
]

LISTS = [
    lambda p: [p.one(["LPUSH", "RPUSH", "LPUSHX", "RPUSHX"]), p.key(), *p.mems()],
    lambda p: [p.one(["LPOP", "RPOP"]), p.key(), *p.opt([p.int()])],
    lambda p: ["LRANGE", p.key(), p.int(), p.int()],
    lambda p: ["LINDEX", p.key(), p.int()],
    lambda p: ["LLEN", p.key()],
    lambda p: ["LSET", p.key(), p.int(), p.mem()],
    lambda p: ["LINSERT", p.key(), p.one(["BEFORE", "AFTER", "x"]), p.mem(), p.mem()],
    lambda p: ["LREM", p.key(), p.int(), p.mem()],
    lambda p: ["LTRIM", p.key(), p.int(), p.int()],
    lambda p: ["LPOS", p.key(), p.mem(), *p.opt(["RANK", p.int()]), *p.opt(["COUNT", p.int()]),
               *p.opt(["MAXLEN", p.int()])],
    lambda p: ["LMOVE", p.key(), p.key(), p.one(["LEFT", "RIGHT", "x"]), p.one(["LEFT", "RIGHT"])],
    lambda p: ["RPOPLPUSH", p.key(), p.key()],
    lambda p: [p.one(["BLPOP", "BRPOP"]), *p.keys(1, 2), p.one(["0.01", "-1", "x"])],
    lambda p: ["BLMOVE", p.key(), p.key(), p.one(["LEFT", "RIGHT"]), p.one(["LEFT", "RIGHT"]),
               "0.01"],
    lambda p: ["BLMPOP", "0.01", "1", p.key(), p.one(["LEFT", "RIGHT"]),
               *p.opt(["COUNT", p.int()])],
    lambda p: ["LMPOP", p.one(["1", "2", "0", "x"]), *p.keys(1, 2), p.one(["LEFT", "RIGHT", "x"]),
               *p.opt(["COUNT", p.int()])],
    lambda p: [p.one(["LPUSH", "LRANGE", "LSET", "LINSERT", "LPOS", "LMOVE", "LREM"]), p.key()],
]

SETS = [
    lambda p: ["SADD", p.key(), *p.mems()],
    lambda p: ["SREM", p.key(), *p.mems()],
    lambda p: [p.one(["SMEMBERS", "SCARD"]), p.key()],
    lambda p: ["SISMEMBER", p.key(), p.mem()],
    lambda p: ["SMISMEMBER", p.key(), *p.mems()],
    lambda p: [p.one(["SINTER", "SUNION", "SDIFF"]), *p.keys()],
    lambda p: [p.one(["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]), p.key(), *p.keys()],
    lambda p: ["SINTERCARD", p.one(["1", "2", "3", "0", "x"]), *p.keys(),
               *p.opt(["LIMIT", p.int()])],
    lambda p: ["SMOVE", p.key(), p.key(), p.mem()],
    lambda p: ["SPOP", p.key(), p.one(["0", "100", "-1", "x"])],
    lambda p: ["SRANDMEMBER", p.key(), *p.opt([p.int()])],
    lambda p: ["SCAN*", "SSCAN", p.key(), *p.opt(["MATCH", "[ab]"])],
    lambda p: [p.one(["SADD", "SREM", "SMOVE", "SINTERCARD", "SMISMEMBER"]), p.key()],
]

ZSETS = [
    lambda p: ["ZADD", p.key(), *p.flags("NX", "XX", "GT", "LT", "CH", "INCR"),
               *_pairs(p, lambda: p.one(SCORES), p.mem)],
    lambda p: ["ZINCRBY", p.key(), p.one(SCORES), p.mem()],
    lambda p: ["ZSCORE", p.key(), p.mem()],
    lambda p: ["ZMSCORE", p.key(), *p.mems()],
    lambda p: [p.one(["ZRANK", "ZREVRANK"]), p.key(), p.mem()],
    lambda p: ["ZREM", p.key(), *p.mems()],
    lambda p: ["ZCARD", p.key()],
    lambda p: ["ZCOUNT", p.key(), p.one(SCORE_BOUNDS), p.one(SCORE_BOUNDS)],
    lambda p: ["ZLEXCOUNT", p.key(), p.one(LEX_BOUNDS), p.one(LEX_BOUNDS)],
    lambda p: ["ZRANGE", p.key(), *_range_bounds(p), *p.flags("REV"),
               *p.opt(["LIMIT", p.int(), p.int()]), *p.flags("WITHSCORES")],
    lambda p: ["ZRANGESTORE", p.key(), p.key(), *_range_bounds(p), *p.flags("REV"),
               *p.opt(["LIMIT", p.int(), p.int()])],
    lambda p: [p.one(["ZRANGEBYSCORE", "ZREVRANGEBYSCORE"]), p.key(), p.one(SCORE_BOUNDS),
               p.one(SCORE_BOUNDS), *p.flags("WITHSCORES"), *p.opt(["LIMIT", p.int(), p.int()])],
    lambda p: [p.one(["ZRANGEBYLEX", "ZREVRANGEBYLEX"]), p.key(), p.one(LEX_BOUNDS),
               p.one(LEX_BOUNDS), *p.opt(["LIMIT", p.int(), p.int()])],
    lambda p: ["ZREVRANGE", p.key(), p.int(), p.int(), *p.flags("WITHSCORES")],
    lambda p: ["ZREMRANGEBYSCORE", p.key(), p.one(SCORE_BOUNDS), p.one(SCORE_BOUNDS)],
    lambda p: ["ZREMRANGEBYLEX", p.key(), p.one(LEX_BOUNDS), p.one(LEX_BOUNDS)],
    lambda p: ["ZREMRANGEBYRANK", p.key(), p.int(), p.int()],
    lambda p: [p.one(["ZPOPMIN", "ZPOPMAX"]), p.key(), *p.opt([p.int()])],
    lambda p: [p.one(["ZINTER", "ZUNION"]), *(lambda ks: [str(len(ks)), *ks])(p.keys()),
               *_weights_aggr(p, p.draw(st.integers(1, 3))), *p.flags("WITHSCORES")],
    lambda p: [p.one(["ZINTERSTORE", "ZUNIONSTORE"]), p.key(),
               *(lambda ks: [str(len(ks)), *ks])(p.keys()),
               *_weights_aggr(p, p.draw(st.integers(1, 3)))],
    lambda p: ["ZDIFF", *(lambda ks: [str(len(ks)), *ks])(p.keys()), *p.flags("WITHSCORES")],
    lambda p: ["ZDIFFSTORE", p.key(), *(lambda ks: [str(len(ks)), *ks])(p.keys())],
    lambda p: ["ZINTERCARD", *(lambda ks: [str(len(ks)), *ks])(p.keys()),
               *p.opt(["LIMIT", p.int()])],
    lambda p: ["ZMPOP", "1", p.key(), p.one(["MIN", "MAX", "x"]), *p.opt(["COUNT", p.int()])],
    lambda p: [p.one(["BZPOPMIN", "BZPOPMAX"]), *p.keys(1, 2), p.one(["0.01", "-1", "x"])],
    lambda p: ["BZMPOP", "0.01", "1", p.key(), p.one(["MIN", "MAX"]), *p.opt(["COUNT", p.int()])],
    lambda p: ["ZRANDMEMBER", p.key(), *p.opt([p.int()], [p.int(), "WITHSCORES"])],
    lambda p: ["SCAN*", "ZSCAN", p.key()],
    lambda p: [p.one(["ZADD", "ZRANGE", "ZINCRBY", "ZINTER", "ZRANGESTORE", "ZMSCORE"]), p.key()],
]

BITS = [
    lambda p: ["SETBIT", p.key(), p.one(BITOFFS), p.one(["0", "1", "2", "x"])],
    lambda p: ["GETBIT", p.key(), p.one(BITOFFS)],
    lambda p: ["BITCOUNT", p.key(), *p.opt([p.int(), p.int()], [p.int(), p.int(), "BIT"],
                                         [p.int(), p.int(), "BYTE"], [p.int()],
                                         [p.int(), p.int(), "x"])],
    lambda p: ["BITPOS", p.key(), p.one(["0", "1", "2"]),
               *p.opt([p.int()], [p.int(), p.int()], [p.int(), p.int(), "BIT"],
                      [p.int(), p.int(), "BYTE"])],
    lambda p: ["BITOP", p.one(["AND", "OR", "XOR", "NOT", "x"]), p.key(), *p.keys(1, 2)],
    lambda p: ["BITFIELD", p.key(),
               *p.opt(["OVERFLOW", p.one(["WRAP", "SAT", "FAIL", "x"])]),
               *p.one([["GET", "u8", "0"], ["GET", "i5", "3"], ["SET", "i8", "#1", "200"],
                       ["SET", "u4", "2", "-3"], ["INCRBY", "u2", "0", "5"],
                       ["INCRBY", "i8", "8", "-300"], ["GET", "u64", "0"], ["GET", "i64", "0"],
                       ["SET", "x8", "0", "1"], ["GET", "u8", "-1"], ["INCRBY", "u8", "#0", "x"]]),
               *p.opt(["INCRBY", "i3", "0", "2"], ["OVERFLOW", "SAT", "INCRBY", "u3", "1", "9"])],
    lambda p: ["BITFIELD_RO", p.key(), "GET", p.one(["u8", "i16", "u1"]), p.one(["0", "3", "#1"])],
]

HLL = [
    lambda p: ["PFADD", p.key(), *p.mems(0, 3)],
    # enough distinct elements to leave the sparse encoding (redis.conf hll-sparse-max-bytes)
    lambda p: ["PFADD", p.key(), *[f"e{i}" for i in range(p.one([40, 400, 2500]))]],
    lambda p: ["PFCOUNT", *p.keys()],
    lambda p: ["PFMERGE", p.key(), *p.keys(0, 2)],
]

GEO = [
    lambda p: ["GEOADD", p.key(), *p.flags("NX", "XX", "CH"),
               *[w for _ in range(p.draw(st.integers(1, 2))) for w in (*p.one(COORDS), p.mem())]],
    lambda p: ["GEOPOS", p.key(), *p.mems()],
    lambda p: ["GEODIST", p.key(), p.mem(), p.mem(), *p.opt(["km"], ["m"], ["mi"], ["x"])],
    lambda p: ["GEOHASH", p.key(), *p.mems()],
    lambda p: ["GEOSEARCH", p.key(),
               *p.one([["FROMMEMBER", p.mem()], ["FROMLONLAT", "15", "37"]]),
               *p.one([["BYRADIUS", p.one(["200", "1000", "0", "-1"]), "km"],
                       ["BYBOX", "400", "400", "km"]]),
               *p.opt(["ASC"], ["DESC"]), *p.opt(["COUNT", p.one(["1", "2", "0"])]),
               *p.flags("WITHCOORD", "WITHDIST", "WITHHASH")],
    lambda p: [p.one(["GEORADIUS", "GEORADIUS_RO"]), p.key(), "15", "37",
               p.one(["200", "1000", "-1"]), p.one(["km", "m", "x"]),
               *p.flags("WITHCOORD", "WITHDIST", "WITHHASH"), *p.opt(["COUNT", "1"]),
               *p.opt(["ASC"], ["DESC"])],
    lambda p: ["GEORADIUSBYMEMBER", p.key(), p.mem(), "300", "km", *p.flags("WITHDIST"),
               *p.opt(["ASC"], ["DESC"]), *p.opt(["STORE", p.key()], ["STOREDIST", p.key()])],
    lambda p: ["GEOSEARCHSTORE", p.key(), p.key(), "FROMLONLAT", "15", "37",
               "BYRADIUS", "500", "km", *p.opt(["ASC"], ["COUNT", "1"]), *p.flags("STOREDIST")],
]

STREAMS = [
    lambda p: ["XADD", p.key(), *p.opt(["NOMKSTREAM"], ["MAXLEN", p.one(["0", "1", "2", "x"])]),
               p.one(STREAM_IDS), "f", p.val()],
    lambda p: [p.one(["XRANGE", "XREVRANGE"]), p.key(), p.one(["-", "+", "1", "2-0", "(1-1"]),
               p.one(["-", "+", "5", "1-2"]), *p.opt(["COUNT", p.int()])],
    lambda p: ["XDEL", p.key(), *p.draw(st.lists(st.sampled_from(STREAM_IDS), min_size=1,
                                                  max_size=2))],
    lambda p: ["XTRIM", p.key(), p.one(["MAXLEN", "MINID", "x"]), p.one(["1", "0", "2-0", "-1"])],
    lambda p: ["XLEN", p.key()],
    lambda p: ["XREAD", *p.opt(["COUNT", p.int()]), "STREAMS", p.key(), p.one(["0", "1-1", "$"])],
]

SORTS = [
    lambda p: [p.one(["SORT", "SORT_RO"]), p.key(),
               *p.opt(["BY", "nosort"], ["BY", "w_*"]), *p.opt(["LIMIT", p.int(), p.int()]),
               *p.opt(["GET", "#"], ["GET", "#", "GET", "h_*->f"]), *p.flags("DESC", "ALPHA")],
    lambda p: ["SORT", p.key(), *p.flags("ALPHA"), "STORE", p.key()],
]

LUA = [
    "return redis.call('GET', KEYS[1])",
    "return redis.pcall('INCR', KEYS[1])",
    "return redis.call('INCR', KEYS[1])",
    "return redis.call('HGETALL', KEYS[1])",
    "return redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')",
    "return redis.call('TYPE', KEYS[1])",
    "return redis.call('SET', KEYS[1], ARGV[1], 'GET')",
    "return redis.call('LPOS', KEYS[1], ARGV[1])",
    "return redis.call('XRANGE', KEYS[1], '-', '+')",
    "return redis.call('GEOPOS', KEYS[1], ARGV[1])",
    "return redis.call('EXISTS', KEYS[1]) == 1",
    "return {1, 2.9, 'a', true, false, {ok='fine'}, ARGV[1]}",
    "return {1, 2, nil, 4}",
    "return 3.99",
    "return tonumber(ARGV[1])",
    "return {err='My error'}",
    "return redis.error_reply('x')",
    "return redis.status_reply('FINE')",
    "return redis.call('NOSUCH')",
    "return nosuchglobal",
    "redis.setresp(3); return redis.call('HGETALL', KEYS[1])",
    "redis.setresp(3); return redis.call('ZSCORE', KEYS[1], ARGV[1])",
    "redis.setresp(3); return redis.call('GEOPOS', KEYS[1], ARGV[1])",
    "redis.setresp(3); return redis.call('EXISTS', KEYS[1])",
    "redis.setresp(3); return redis.call('SMISMEMBER', KEYS[1], ARGV[1])",
    "return redis.call('ZINCRBY', KEYS[1], 1.5, ARGV[1])",
]
SCRIPTS = [
    lambda p: ["EVAL", p.one(LUA), "1", p.key(), p.mem()],
    lambda p: ["EVAL", p.one(LUA), p.one(["2", "-1", "x"]), p.key()],
]

FAMILIES = [GENERIC, STRINGS, HASHES, LISTS, SETS, ZSETS, BITS, HLL, GEO, STREAMS, SORTS, SCRIPTS]


# Wrong arity and stray arguments for every command above: the name alone, or with extras.
NAMES = ["SET", "GET", "DEL", "EXPIRE", "HSET", "LPUSH", "SADD", "ZADD", "ZRANGE", "SETBIT",
         "BITFIELD", "PFADD", "GEOADD", "GEOSEARCH", "XADD", "XRANGE", "SORT", "LCS", "COPY",
         "GETEX", "LPOS", "LMOVE", "SINTERCARD", "ZINTER", "ZUNIONSTORE", "ZRANGESTORE", "BITOP",
         "BITPOS", "BITCOUNT", "SMOVE", "LINSERT", "HRANDFIELD", "ZRANDMEMBER", "SRANDMEMBER",
         "SPOP", "XTRIM", "XDEL", "GEODIST", "GEOPOS", "PFMERGE", "PFCOUNT", "MSETNX", "SETRANGE",
         "GETRANGE", "INCRBYFLOAT", "HINCRBY", "ZINCRBY", "ZMSCORE", "SMISMEMBER", "LSET", "TTL",
         "RENAME", "TYPE", "TOUCH", "OBJECT", "SCAN", "HSCAN", "SSCAN", "ZSCAN", "SORT_RO",
         "LMPOP", "ZMPOP", "ZDIFF", "ZINTERCARD", "GEOSEARCHSTORE", "XLEN", "PERSIST", "GETDEL"]
ARITY = [
    lambda p: [p.one(NAMES)],
    lambda p: [p.one(NAMES), p.key(), *p.draw(st.lists(st.sampled_from(
        ["x", "1", "-1", "", "a", "NX", "COUNT", "LIMIT", "0"]), max_size=4))],
]
FAMILIES.append(ARITY)


@st.composite
def program(draw):
    """Commands of one or two families (and the generic ones) so values grow and collide."""
    chosen = draw(st.lists(st.sampled_from(FAMILIES[1:]), min_size=1, max_size=2, unique_by=id))
    pool = [t for family in chosen for t in family] + GENERIC
    pick = Pick(draw)

    def one():
        return draw(st.sampled_from(pool))(pick)

    out = []
    for _ in range(draw(st.integers(1, 20))):
        if draw(st.integers(0, 9)):
            out.append(one())
        else:  # a transaction: what is refused when queued, and EXEC's replies
            subs = [one() for _ in range(draw(st.integers(0, 3)))]
            out.append(["MULTI*", *[sub for sub in subs if sub[0] != "SCAN*"]])
    return out


PROGRAM = program()

def _is_err(reply) -> bool:
    return reply[0] == b"-"


def _err(text: str) -> tuple:
    return (b"-", text.encode())


# Differences with a known cause in a module being changed on another branch; the lead empties
# this after merging the fixes (the final report lists each with its fix). Each entry is a
# predicate on (cmd, xcache reply, redis reply); a program stops at its first known difference,
# since the two states may differ from then on.
KNOWN_DIFFERENCES: dict[str, object] = {}


def _known(cmd, got, want) -> bool:
    return any(pred(cmd, got, want) for pred in KNOWN_DIFFERENCES.values())


class Conn:
    """A bare RESP connection: replies come back as (type byte, value) trees, so that a simple
    string differs from a bulk one, a RESP3 double from an integer, and errors keep their code."""

    def __init__(self, port: int, protocol: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.file = self.sock.makefile("rb")
        if protocol == 3:
            self.call(["HELLO", "3"])

    def close(self):
        self.file.close()
        self.sock.close()

    def call(self, args):
        self.send([args])
        return self.read()

    def send(self, commands):
        """Write commands in one go (a pipeline: one chunk for the server)."""
        out = []
        for args in commands:
            out.append(b"*%d\r\n" % len(args))
            for a in args:
                a = a.encode() if isinstance(a, str) else a
                out.append(b"$%d\r\n%b\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))

    def read(self):
        line = self.file.readline()
        kind, rest = line[:1], line[1:-2]
        if kind in (b"+", b"-", b",", b"(", b"#"):
            return (kind, rest)
        if kind == b":":
            return (kind, int(rest))
        if kind == b"_":
            return (kind, None)
        if kind in (b"$", b"=", b"!"):
            n = int(rest)
            return (kind, None) if n < 0 else (kind, self.file.read(n + 2)[:-2])
        if kind in (b"*", b"~", b"%", b">", b"|"):
            n = int(rest)
            if n < 0:
                return (kind, None)
            items = [self.read() for _ in range(n * 2 if kind in (b"%", b"|") else n)]
            return self.read() if kind == b"|" else (kind, items)  # attributes: skipped
        raise AssertionError(f"bad reply line {line!r}")


def _scan_all(conn, args):
    """A full SCAN-family iteration: the sorted union of what it returned."""
    name, rest = args[0], args[1:]
    key = rest[:1] if name != "SCAN" else []
    opts = rest[len(key):]
    cursor, seen = b"0", set()
    for _ in range(1000):
        reply = conn.call([name, *key, cursor, *opts, "COUNT", "3"])
        if reply[0] != b"*":
            return reply
        (_, cursor), (_, items) = reply[1]
        if name in ("HSCAN", "ZSCAN"):
            items = list(zip(items[::2], items[1::2], strict=True))
        seen.update(items)
        if cursor == b"0":
            break
    if name == "SCAN":  # the program's keys only, not the fixture's helper keys
        seen = {k for k in seen if k[1].decode() in KEYS}
    return sorted(seen)


# SMEMBERS: a set that held a non-integer is a hashtable for good in Redis (its order is its
# hash table's); SINTER walks its smallest input, which may be one; SPOP picks at random.
UNORDERED = {"SMEMBERS", "SINTER", "KEYS", "SPOP"}
# SUNION and SDIFF build a new set, an intset while it can be, whose order is numeric
INTSET_RESULTS = {"SUNION", "SDIFF"}
SHAPE_ONLY = {"SRANDMEMBER", "HRANDFIELD", "ZRANDMEMBER", "RANDOMKEY"}
TIMES = {"TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"}


def _shape(reply):
    """A random pick's reply types and lengths, not its values."""
    kind, value = reply
    return (kind, [_shape(v) for v in value] if isinstance(value, list) else None)


def _is_int(v) -> bool:
    return isinstance(v, bytes) and string2ll(v) is not None


def _normalize(cmd, reply):
    name, (kind, value) = cmd[0], reply
    if kind == b"-" or value is None:
        return reply
    if name in SHAPE_ONLY:
        return _shape(reply)
    if name in ("SORT", "SORT_RO") and "nosort" in cmd and "STORE" not in cmd and kind == b"*":
        return (kind, sorted(value, key=repr))  # a set's own order: Redis promises none
    if name in ("SCAN", "SSCAN", "HSCAN", "ZSCAN"):
        return (kind, "page")  # one page: Redis promises nothing of it (full walks: SCAN*)
    if not isinstance(value, (list, int)):
        return reply
    if name in TIMES and value > 0:
        return (kind, "positive")
    # HGETALL, HKEYS, HVALS are compared as they come: every value the programs use is short, so
    # Redis keeps each hash as a listpack, in insertion order (hashes.py keeps that order too)
    if name in INTSET_RESULTS and not all(_is_int(v) for v in value):
        return (kind, sorted(value, key=repr))  # a hashtable's order
    unordered_geo = (name.startswith("GEORADIUS") or name == "GEOSEARCH") and isinstance(
        value, list) and not {"ASC", "DESC", "COUNT"} & set(cmd)
    if name in UNORDERED or unordered_geo:
        return (kind, sorted(value, key=repr))
    return reply


def _state(conn):
    out = []
    for key in KEYS:
        kind = conn.call(["TYPE", key])
        ttl = conn.call(["PTTL", key])
        item = [key, kind, "ttl" if ttl[1] > 0 else ttl]
        read = {b"string": ["GET", key], b"list": ["LRANGE", key, "0", "-1"],
                b"set": ["SMEMBERS", key], b"hash": ["HGETALL", key],
                b"zset": ["ZRANGE", key, "0", "-1", "WITHSCORES"],
                b"stream": ["XRANGE", key, "-", "+"]}.get(kind[1])
        if read:
            item.append(_normalize(read, conn.call(read)))
        out.append(item)
    return out


def _transaction(conn, subs):
    """MULTI, the commands (each +QUEUED or an error), EXEC (its replies normalized each)."""
    replies = [conn.call(["MULTI"])] + [conn.call(sub) for sub in subs]
    kind, value = conn.call(["EXEC"])
    if kind == b"*" and value is not None and len(value) == len(subs):
        value = [_normalize(sub, reply) for sub, reply in zip(subs, value, strict=True)]
    return replies + [(kind, value)]


def _per_command(subs, got, want):
    """(command, xcache's, redis's) for each queued command: its queueing reply and, when both
    EXECs ran them all, its EXEC reply."""
    out = [(sub, g, w) for sub, g, w in zip(subs, got[1:-1], want[1:-1], strict=True)]
    (gk, gv), (wk, wv) = got[-1], want[-1]
    if gk == wk == b"*" and gv is not None and wv is not None and len(gv) == len(wv) == len(subs):
        out += list(zip(subs, gv, wv, strict=True))
    return out


def first_difference(x, r, program):
    """Run program on both: None if all replies and the final state match (or the first
    difference is a known one), else (commands run, xcache's, redis's)."""
    for conn in (x, r):
        assert conn.call(["FLUSHALL"]) == (b"+", b"OK")
        # SORT ... BY w_* and GET h_*->f read these (weights and a hash field per member)
        conn.call(["MSET", "w_a", "3", "w_b", "1", "w_x", "2", "w_1", "x"])
        conn.call(["HSET", "h_a", "f", "A"])
    done = []
    for cmd in program:
        done.append(cmd)
        if cmd[0] == "SCAN*":
            got, want = _scan_all(x, cmd[1:]), _scan_all(r, cmd[1:])
        elif cmd[0] == "MULTI*":
            got, want = _transaction(x, cmd[1:]), _transaction(r, cmd[1:])
            if any(g != w and _known(sub, g, w) for sub, g, w in _per_command(cmd[1:], got, want)):
                return None
        else:
            got, want = _normalize(cmd, x.call(cmd)), _normalize(cmd, r.call(cmd))
        if got != want:
            return None if _known(cmd, got, want) else (done, got, want)
    got, want = _state(x), _state(r)
    return None if got == want else (done + [["<final state>"]], got, want)


def _pipelined(conn, program):
    """The program sent as one pipeline (SCAN* walks left out), replies normalized in order:
    the node runs it as one chunk, its writes in one group, GET/SET and the other common
    commands in its lean lane (fastpath.py) until a command of the chunk closes it."""
    cmds = []  # (command, the subs of an EXEC, inside MULTI)
    for cmd in program:
        if cmd[0] == "MULTI*":
            cmds += [(["MULTI"], None, False)] + [(sub, None, True) for sub in cmd[1:]]
            cmds.append((["EXEC"], cmd[1:], False))
        elif cmd[0] != "SCAN*":
            cmds.append((cmd, None, False))
    conn.send([cmd for cmd, _, _ in cmds])
    out = []
    for cmd, subs, queued in cmds:
        kind, value = conn.read()
        if subs is not None and kind == b"*" and value is not None and len(value) == len(subs):
            value = [_normalize(sub, reply) for sub, reply in zip(subs, value, strict=True)]
        out.append((cmd, (kind, value) if subs is not None or queued else _normalize(cmd, (kind, value))))
    return out + [(["<final state>"], _state(conn))]


def _check(xcache_node, redis_node, protocol, program, pipelined=False):
    x, r = Conn(xcache_node.port, protocol), Conn(redis_node.port, protocol)
    try:
        if pipelined:
            for conn in (x, r):
                assert conn.call(["FLUSHALL"]) == (b"+", b"OK")
                conn.call(["MSET", "w_a", "3", "w_b", "1", "w_x", "2", "w_1", "x"])  # as above
                conn.call(["HSET", "h_a", "f", "A"])
            got, want = _pipelined(x, program), _pipelined(r, program)
            diff = next(((program, g, w) for g, w in zip(got, want, strict=True) if g != w), None)
            assert diff is None, "in {}: xcache {!r} != redis {!r}".format(*diff)
            return
        diff = first_difference(x, r, program)
        assert diff is None, "after {}: xcache {!r} != redis {!r}".format(*diff)
    finally:
        x.close()
        r.close()


@settings(fuzz(800), derandomize=True)
@given(PROGRAM)
def test_random_programs_match_redis(xcache_node, redis_node, program):
    _check(xcache_node, redis_node, 2, program)


@settings(fuzz(200), derandomize=True)
@given(PROGRAM)
def test_random_programs_match_redis_resp3(xcache_node, redis_node, program):
    _check(xcache_node, redis_node, 3, program)


@settings(fuzz(300), derandomize=True)
@given(PROGRAM)
def test_pipelined_programs_match_redis(xcache_node, redis_node, program):
    _check(xcache_node, redis_node, 2, program, pipelined=True)
