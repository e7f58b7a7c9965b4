"""Sans-IO RESP2: request parsing (hiredis) and reply encoding. No sockets here."""

from xcache.resp.encode import (
    NULL_ARRAY,
    OK,
    PONG,
    QUEUED,
    Error,
    Raw,
    SimpleString,
    encode,
    encode_command,
    encode_into,
)
from xcache.resp.parser import ProtocolError, ReplyParser, RequestParser, split_inline

__all__ = [
    "NULL_ARRAY", "OK", "PONG", "QUEUED", "Error", "Raw", "SimpleString", "encode",
    "encode_command", "encode_into", "ProtocolError", "ReplyParser", "RequestParser",
    "split_inline",
]
