"""Raw RESP reply framing (sans-IO): find where a reply ends without decoding it.

The proxy forwards backend replies byte for byte; it only needs their boundaries (and, to merge
split MGETs, the boundaries of array elements). That is cheaper than decode + re-encode.
"""

from __future__ import annotations


def reply_end(buf: bytes, pos: int) -> int:
    """Index just past the reply starting at pos, or -1 if buf does not hold all of it yet."""
    nl = buf.find(b"\r\n", pos)
    if nl < 0:
        return -1
    t = buf[pos]
    if t == 36 or t == 61 or t == 33:  # '$' bulk, RESP3 '=' verbatim and '!' blob error
        n = int(buf[pos + 1 : nl])
        if n < 0:
            return nl + 2
        end = nl + n + 4
        return end if end <= len(buf) else -1
    if t == 42 or t == 126 or t == 62 or t == 37 or t == 124:  # '*' array, RESP3 '~' '>' '%' '|'
        n = int(buf[pos + 1 : nl])
        if t == 37 or t == 124:  # map, attribute: n pairs
            n *= 2
        p = nl + 2
        for _ in range(n):
            p = reply_end(buf, p)
            if p < 0:
                return -1
        if t == 124:  # an attribute precedes the reply it describes
            return reply_end(buf, p) if p < len(buf) else -1
        return p
    return nl + 2  # + - : status, error, integer; RESP3 , # _ ( double, boolean, null, big number


def array_items(reply: bytes) -> list[bytes] | None:
    """The raw elements of an array reply; None if the reply is not an array (e.g. an error)."""
    if not reply or reply[0] not in (42, 126, 62, 37):  # '*' and RESP3 set, push, map
        return None
    nl = reply.find(b"\r\n")
    n = int(reply[1:nl]) * (2 if reply[0] == 37 else 1)
    items, p = [], nl + 2
    for _ in range(max(n, 0)):
        e = reply_end(reply, p)
        items.append(reply[p:e])
        p = e
    return items


def int_value(reply: bytes) -> int | None:
    if reply.startswith(b":"):
        return int(reply[1:-2])
    return None


def error_line(message: str) -> bytes:
    return b"-" + message.replace("\r", " ").replace("\n", " ").encode() + b"\r\n"


def pack(argv: list[bytes]) -> bytes:
    """Encode a command for a backend (fast paths for the common short commands)."""
    n = len(argv)
    if n == 2:
        a, b = argv
        return b"*2\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n" % (len(a), a, len(b), b)
    if n == 3:
        a, b, c = argv
        return b"*3\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n" % (len(a), a, len(b), b, len(c), c)
    out = [b"*%d\r\n" % n]
    for a in argv:
        out.append(b"$%d\r\n%b\r\n" % (len(a), a))
    return b"".join(out)


def bulk(value: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(value), value)
