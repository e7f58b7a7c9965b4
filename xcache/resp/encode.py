"""RESP2 reply encoding.

Replies are plain Python values: bytes -> bulk string, int -> integer, None -> null bulk,
list/tuple -> array, SimpleString -> status, Error -> error, Raw -> already-encoded bytes.
"""

from __future__ import annotations


class SimpleString(bytes):
    """A status reply such as +OK."""


class Error(Exception):
    """An error reply; message includes the prefix, e.g. 'ERR syntax error' or 'WRONGTYPE ...'."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class Raw(bytes):
    """Bytes that are already RESP-encoded."""


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
    elif t is SimpleString:
        out.append(b"+%b\r\n" % reply)
    elif isinstance(reply, Error):
        msg = reply.message.replace("\r", " ").replace("\n", " ")
        out.append(b"-%b\r\n" % msg.encode())
    elif t is bool:
        out.append(b":1\r\n" if reply else b":0\r\n")
    elif t is float:
        encode_into(out, format_float(reply))
    elif reply is NULL_ARRAY:
        out.append(b"*-1\r\n")
    elif t is str:
        encode_into(out, reply.encode())
    elif isinstance(reply, bytes | bytearray | memoryview):
        encode_into(out, bytes(reply))
    else:
        raise TypeError(f"cannot encode {t.__name__} as RESP")


def encode(reply) -> bytes:
    out: list = []
    encode_into(out, reply)
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
        return b"%d" % int(value)
    return (b"%.17g" % value)
