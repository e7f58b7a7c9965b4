"""Requests announcing a length out of range (issue 12) and Redis 7's reply to each. Every RESP
server here (node, proxy, sentinel) must refuse them from the header, before reserving anything."""

ANNOUNCED_LENGTHS = [
    (b"*2147483648\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
    (b"*4294967295\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
    (b"*1\r\n*5\r\n", b"-ERR Protocol error: expected '$', got '*'\r\n"),
    (b"*1\r\n*2147483648\r\n", b"-ERR Protocol error: expected '$', got '*'\r\n"),
    (b"*1\r\n$-3\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
    (b"*1\r\n$99999999999\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
    (b"*1\r\n$9223372036854775808\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
]
