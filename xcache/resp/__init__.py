"""Sans-IO RESP2/RESP3: request parsing (hiredis) and reply encoding. No sockets here."""

from xcache.resp.encode import (
    FALSE,
    NULL_ARRAY,
    OK,
    PONG,
    QUEUED,
    TRUE,
    BigNum,
    Bool,
    Double,
    Error,
    HumanDouble,
    KeyedArrays,
    Many,
    Map,
    Pairs,
    Push,
    Raw,
    Set,
    SimpleString,
    Verbatim,
    encode,
    encode_command,
    encode_into,
    encode_into3,
)
from xcache.resp.parser import ProtocolError, ReplyParser, RequestParser, split_inline

__all__ = [
    "FALSE", "NULL_ARRAY", "OK", "PONG", "QUEUED", "TRUE", "BigNum", "Bool", "Double", "Error", "HumanDouble", "KeyedArrays", "Many",
    "Map", "Pairs", "Push", "Raw", "Set", "SimpleString", "Verbatim", "encode", "encode_command",
    "encode_into", "encode_into3", "ProtocolError", "ReplyParser", "RequestParser",
    "split_inline",
]
