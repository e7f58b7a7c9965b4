"""The sample replies of DEBUG PROTOCOL <type> (Redis's debug.c), one of each RESP3 type: answered
by a node, and by the proxy itself (an attribute or a push would read as two replies on a pooled
backend link)."""

from __future__ import annotations

from xcache.resp.encode import BigNum, Bool, Double, Error, Map, Raw, Set, Verbatim


def debug_protocol(name: bytes, resp3: bool):
    """DEBUG PROTOCOL <type>: one reply of each RESP3 type (debug.c), downgraded in RESP2."""
    if name == b"string":
        return b"Hello World"
    if name == b"integer":
        return 12345
    if name == b"double":
        return Double(3.141)
    if name == b"bignum":
        return BigNum(b"1234567999999999999999999999999999999")
    if name == b"null":
        return None
    if name == b"array":
        return [0, 1, 2]
    if name == b"set":
        return Set([0, 1, 2])
    if name == b"map":
        return Map([0, Bool(False), 1, Bool(True), 2, Bool(False)])
    if name == b"attrib":  # an attribute, then the reply it annotates
        real = b"$39\r\nSome real reply following the attribute\r\n"
        return Raw((b"|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n" if resp3
                    else b"") + real)
    if name == b"push":
        if not resp3:
            raise Error("ERR RESP2 is not supported by this command")
        return Raw(b">2\r\n$16\r\nserver-cpu-usage\r\n:42\r\n"
                   b"$40\r\nSome real reply following the push reply\r\n")
    if name in (b"true", b"false"):
        return Bool(name == b"true")
    if name == b"verbatim":
        return Verbatim(b"This is a verbatim\nstring")
    raise Error("ERR Wrong protocol type name. Please use one of the following: "
                "string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false")
