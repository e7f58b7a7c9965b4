"""RESP2 and RESP3 reply encoding.

Replies are plain Python values: bytes -> bulk string, int -> integer, None -> null bulk,
list/tuple -> array, SimpleString -> status, Error -> error, Raw -> already-encoded bytes.

RESP3 types are small wrappers (Map, Set, Double, Bool, Verbatim, Push, Pairs) that
`encode_into` (RESP2) downgrades exactly as Redis does: maps flatten, sets become arrays,
doubles bulk strings, booleans integers 1/0, verbatim strings bulk strings, pushes arrays, and
both nulls stay `$-1` / `*-1`. `encode_into3` writes them as RESP3 (`%`, `~`, `,`, `#`, `=`,
`>`, `_`). Plain bytes/int/list come first in both, so the common replies pay nothing.
"""

from __future__ import annotations

import math


class SimpleString(bytes):
    """A status reply such as +OK."""


class Error(Exception):
    """An error reply; message includes the prefix, e.g. 'ERR syntax error' or 'WRONGTYPE ...'."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class Raw(bytes):
    """Bytes that are already RESP-encoded."""


class Map(list):
    """A map reply as a flat [k1, v1, k2, v2, ...] list: '%' in RESP3, a flat array in RESP2."""


class Set(list):
    """A set reply: '~' in RESP3, an array in RESP2."""


class Push(list):
    """An out-of-band message (pub/sub, invalidation): '>' in RESP3, an array in RESP2."""


class Pairs(list):
    """A flat [member, score, ...] list (ZRANGE WITHSCORES, HRANDFIELD WITHVALUES): an array of
    2-element arrays in RESP3, the flat array in RESP2 (as Redis 7)."""


class KeyedArrays(list):
    """A flat [key1, value1, ...] list answered as an array of [key, value] arrays in RESP2 and
    as a map in RESP3 (XREAD, XREADGROUP: Redis 7 keys the streams by name for RESP3)."""


class Many(list):
    """Several replies to one command (SUBSCRIBE a b answers one confirmation per channel)."""


class Double(float):
    """A double: ',' in RESP3, a bulk string (%.17g, integers bare) in RESP2."""


class HumanDouble(bytes):
    """A double already formatted as Redis's addReplyHumanLongDouble does (GEO coordinates):
    ',' with that text in RESP3, a bulk string in RESP2."""


class Verbatim(bytes):
    """A verbatim text string (INFO, CLIENT LIST): '=' with a 'txt:' prefix in RESP3, bulk in RESP2.
    A script may return another three-letter format: set fmt on the instance."""

    fmt = b"txt"


class BigNum(bytes):
    """A big number (its decimal digits): '(' in RESP3, a bulk string in RESP2."""


class Bool:
    """A boolean: '#t'/'#f' in RESP3, :1/:0 in RESP2. (A Python bool is an integer reply.)"""

    __slots__ = ("value",)

    def __init__(self, value: bool):
        self.value = bool(value)


TRUE, FALSE = Bool(True), Bool(False)


class _NullArray:
    __slots__ = ()


NULL_ARRAY = _NullArray()
OK = Raw(b"+OK\r\n")
PONG = Raw(b"+PONG\r\n")
QUEUED = Raw(b"+QUEUED\r\n")
_NULL_BULK = b"$-1\r\n"


def encode_into(out: list, reply) -> None:
    """Append the RESP encoding of reply to out (a list of bytes)."""
    t = type(reply)
    if t is bytes:
        out.append(b"$%d\r\n%b\r\n" % (len(reply), reply))
    elif t is Raw:
        out.append(reply)
    elif t is int:
        out.append(b":%d\r\n" % reply)
    elif reply is None:
        out.append(_NULL_BULK)
    elif t is list or t is tuple:
        out.append(b"*%d\r\n" % len(reply))
        for item in reply:
            encode_into(out, item)
    elif reply is NULL_ARRAY:
        out.append(b"*-1\r\n")
    elif t is Map or t is Set or t is Push or t is Pairs:
        out.append(b"*%d\r\n" % len(reply))
        for item in reply:
            encode_into(out, item)
    elif t is KeyedArrays:
        _pairs_into(out, reply, encode_into)
    elif t is Double:
        encode_into(out, format_float(reply))
    elif t is Many:
        for item in reply:
            encode_into(out, item)
    elif t is Bool:
        out.append(b":1\r\n" if reply.value else b":0\r\n")
    else:
        _scalar_into(out, reply, t, encode_into)


def encode_into3(out: list, reply) -> None:
    """Append the RESP3 encoding of reply to out."""
    t = type(reply)
    if t is bytes:
        out.append(b"$%d\r\n%b\r\n" % (len(reply), reply))
    elif t is Raw:
        out.append(reply)
    elif t is int:
        out.append(b":%d\r\n" % reply)
    elif reply is None or reply is NULL_ARRAY:
        out.append(b"_\r\n")
    elif t is list or t is tuple:
        out.append(b"*%d\r\n" % len(reply))
        for item in reply:
            encode_into3(out, item)
    elif t is Map or t is KeyedArrays:
        out.append(b"%%%d\r\n" % (len(reply) // 2))
        for item in reply:
            encode_into3(out, item)
    elif t is Set or t is Push:
        out.append(b"%b%d\r\n" % (b"~" if t is Set else b">", len(reply)))
        for item in reply:
            encode_into3(out, item)
    elif t is Pairs:
        _pairs_into(out, reply, encode_into3)
    elif t is Double:
        out.append(b",%b\r\n" % format_float(reply))
    elif t is Bool:
        out.append(b"#t\r\n" if reply.value else b"#f\r\n")
    elif t is Verbatim:
        out.append(b"=%d\r\n%b:%b\r\n" % (len(reply) + 4, reply.fmt, reply))
    elif t is BigNum:
        out.append(b"(%b\r\n" % reply)
    elif t is HumanDouble:
        out.append(b",%b\r\n" % reply)
    elif t is Many:
        for item in reply:
            encode_into3(out, item)
    else:
        _scalar_into(out, reply, t, encode_into3)


def _scalar_into(out: list, reply, t: type, encode_item) -> None:
    """The replies RESP2 and RESP3 write alike: status, error, Python bool (an integer), float
    and str (bulk strings) and other bytes-like values; the rest is not a reply."""
    if t is SimpleString:
        out.append(b"+%b\r\n" % reply)
    elif isinstance(reply, Error):
        msg = reply.message.replace("\r", " ").replace("\n", " ")
        out.append(b"-%b\r\n" % msg.encode())
    elif t is bool:
        out.append(b":1\r\n" if reply else b":0\r\n")
    elif t is float:
        encode_item(out, format_float(reply))
    elif t is str:
        encode_item(out, reply.encode())
    elif isinstance(reply, bytes | bytearray | memoryview):
        encode_item(out, bytes(reply))
    else:
        raise TypeError(f"cannot encode {t.__name__} as RESP")


def _pairs_into(out: list, flat: list, encode_item) -> None:
    """A flat [k1, v1, ...] list as an array of 2-element arrays (RESP3 Pairs, RESP2 KeyedArrays)."""
    out.append(b"*%d\r\n" % (len(flat) // 2))
    for i in range(0, len(flat), 2):
        out.append(b"*2\r\n")
        encode_item(out, flat[i])
        encode_item(out, flat[i + 1])


def encode(reply, resp: int = 2) -> bytes:
    out: list = []
    (encode_into3 if resp == 3 else encode_into)(out, reply)
    return b"".join(out)


def encode_command(*args) -> bytes:
    """Encode a command as a multibulk request (used by clients: proxy, sentinel, replication)."""
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        if type(a) is not bytes:
            a = str(a).encode() if not isinstance(a, bytes | bytearray) else bytes(a)
        parts.append(b"$%d\r\n%b\r\n" % (len(a), a))
    return b"".join(parts)


def format_float(value: float) -> bytes:
    """Format a double the way Redis does in replies (17 significant digits, inf, integers bare)."""
    if value != value:
        return b"nan"
    if value == float("inf"):
        return b"inf"
    if value == float("-inf"):
        return b"-inf"
    if value == int(value) and abs(value) < 1e17:
        if value == 0 and math.copysign(1.0, value) < 0:
            return b"-0"  # %.17g keeps the sign of a zero (ZINCRBY of a new member by -0)
        return b"%d" % int(value)
    return (b"%.17g" % value)
