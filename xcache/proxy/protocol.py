"""Replies the proxy builds itself, encoded in the session's protocol (RESP2 or RESP3).

Backend replies pass through as the node typed them (a RESP3 session's requests go over RESP3
backend connections); only the proxy's own replies (HELLO, CLIENT, merged INFO/SCAN/KEYS...,
pub/sub confirmations) are encoded here. Python values map to Redis 7's types:
None -> null, bool -> boolean, int, float -> double, bytes/str -> bulk, list -> array,
dict -> map, set -> set, Status -> simple string, Verbatim -> verbatim string, Push -> push,
Raw -> already encoded.
"""

from __future__ import annotations

from xcache.proxy.replies import array_items


class Status(str):
    """A simple string reply (+OK)."""


class Verbatim(str):
    """A verbatim text reply in RESP3 (INFO, CLIENT INFO/LIST, LOLWUT), a bulk string in RESP2."""


class Push(list):
    """Out-of-band data (pub/sub): '>' in RESP3, an array in RESP2."""


class Raw(bytes):
    """Already encoded."""


def encode(value, resp3: bool) -> bytes:
    out: list[bytes] = []
    _enc(out, value, resp3)
    return b"".join(out)


def _enc(out: list, v, r3: bool) -> None:
    t = type(v)
    if t is Raw:
        out.append(v)
    elif t is bytes:
        out.append(b"$%d\r\n%b\r\n" % (len(v), v))
    elif t is Status:
        out.append(b"+%b\r\n" % v.encode())
    elif t is Verbatim:
        b = v.encode()
        out.append(b"=%d\r\ntxt:%b\r\n" % (len(b) + 4, b) if r3 else b"$%d\r\n%b\r\n" % (len(b), b))
    elif t is str:
        b = v.encode()
        out.append(b"$%d\r\n%b\r\n" % (len(b), b))
    elif t is bool:
        out.append((b"#t\r\n" if v else b"#f\r\n") if r3 else (b":1\r\n" if v else b":0\r\n"))
    elif t is int:
        out.append(b":%d\r\n" % v)
    elif v is None:
        out.append(b"_\r\n" if r3 else b"$-1\r\n")
    elif t is float:
        s = repr(v).encode() if v == v and v not in (float("inf"), float("-inf")) else (
            b"inf" if v > 0 else b"-inf" if v < 0 else b"nan")
        out.append(b",%b\r\n" % s if r3 else b"$%d\r\n%b\r\n" % (len(s), s))
    elif t is dict:
        out.append(b"%%%d\r\n" % len(v) if r3 else b"*%d\r\n" % (2 * len(v)))
        for k, x in v.items():
            _enc(out, k, r3)
            _enc(out, x, r3)
    elif t is set or t is frozenset:
        out.append(b"~%d\r\n" % len(v) if r3 else b"*%d\r\n" % len(v))
        for x in v:
            _enc(out, x, r3)
    elif t is Push:
        out.append(b">%d\r\n" % len(v) if r3 else b"*%d\r\n" % len(v))
        for x in v:
            _enc(out, x, r3)
    elif t is list or t is tuple:
        out.append(b"*%d\r\n" % len(v))
        for x in v:
            _enc(out, x, r3)
    else:
        raise TypeError(f"cannot encode {t.__name__}")


def null(resp3: bool) -> bytes:
    return b"_\r\n" if resp3 else b"$-1\r\n"


def null_array(resp3: bool) -> bytes:
    return b"_\r\n" if resp3 else b"*-1\r\n"


def text(reply: bytes) -> bytes | None:
    """The payload of a bulk, verbatim (without its 'txt:') or simple string reply."""
    if not reply:
        return None
    t = reply[0]
    if t == 43:  # '+'
        return reply[1:-2]
    if t in (36, 61):  # '$' '='
        nl = reply.find(b"\r\n")
        n = int(reply[1:nl])
        if n < 0:
            return None
        body = reply[nl + 2 : nl + 2 + n]
        return body[4:] if t == 61 else body
    return None


def integer(reply: bytes) -> int | None:
    if reply.startswith(b":"):
        return int(reply[1:-2])
    return None


def is_null(reply: bytes) -> bool:
    return reply in (b"_\r\n", b"$-1\r\n", b"*-1\r\n")


def items(reply: bytes) -> list[bytes] | None:
    """Elements of an array, set, push or map (flattened pairs) reply."""
    return array_items(reply)
