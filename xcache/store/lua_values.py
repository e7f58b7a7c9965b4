"""Values crossing between Redis and Lua as Redis 7's script_lua.c converts them: a Lua number
given to redis.call, a command's reply as the script sees it (RESP2, or RESP3 after
redis.setresp(3)), an error as a Lua error table, and the script's return value as a reply."""

from __future__ import annotations

from xcache.resp import NULL_ARRAY, Error, Raw, SimpleString
from xcache.resp.encode import (
    BigNum,
    Bool,
    Double,
    HumanDouble,
    KeyedArrays,
    Map,
    Pairs,
    Push,
    Set,
    Verbatim,
    format_float,
)


def lua_number_arg(value) -> bytes:
    """A Lua number given to redis.call, as Lua's tostring (%.14g) would make it."""
    if isinstance(value, int):
        return b"%d" % value
    if value == int(value) and abs(value) < 1e15:
        return b"%d" % int(value)
    return (b"%.14g" % value)


def reply_to_lua(lua, reply, resp3: bool = False):
    """A command's reply as a script sees it (redisProtocolToLuaType): RESP2, or RESP3 when the
    script called redis.setresp(3)."""
    if resp3:
        return _resp3_to_lua(lua, reply)
    t = type(reply)
    if t is bytes:
        return reply
    if t is int or t is bool:
        return int(reply)
    if reply is None or reply is NULL_ARRAY:
        return False
    if t is list or t is tuple or t is Map or t is Set or t is Pairs or t is Push:
        # scripts speak RESP2: typed replies arrive as Redis downgrades them (flat arrays)
        return lua.table_from([reply_to_lua(lua, x) for x in reply])
    if t is KeyedArrays:  # RESP2's shape: [[key, value], ...]
        return lua.table_from([lua.table_from([reply_to_lua(lua, reply[i]),
                                               reply_to_lua(lua, reply[i + 1])])
                               for i in range(0, len(reply), 2)])
    if t is Double:
        return format_float(reply)
    if t is Bool:
        return int(reply.value)
    if t is SimpleString:
        return lua.table_from({b"ok": bytes(reply)})
    if t is float:
        return format_float(reply)
    if t is Raw:
        return reply_to_lua(lua, parse_encoded(bytes(reply)))
    if t is str:
        return reply.encode()
    if isinstance(reply, Error):
        return lua.table_from({b"err": error_for_lua(reply.message)})
    if isinstance(reply, bytes | bytearray | memoryview):
        return bytes(reply)
    return False


def _resp3_to_lua(lua, reply):
    """The reply as it reads in RESP3 (encode_into3), converted as Redis's parser callbacks do:
    null -> nil, map -> {map=...}, set -> {set={member=true}}, double -> {double=n}, boolean ->
    true/false, verbatim -> {verbatim_string={format=, string=}}."""
    t = type(reply)
    if reply is None or reply is NULL_ARRAY:
        return None
    if t is list or t is tuple or t is Push:
        return lua.table_from([_resp3_to_lua(lua, x) for x in reply])
    if t is Map or t is KeyedArrays:
        fields = lua.table()
        for i in range(0, len(reply), 2):
            fields[_resp3_to_lua(lua, reply[i])] = _resp3_to_lua(lua, reply[i + 1])
        return lua.table_from({b"map": fields})
    if t is Set:
        return lua.table_from({b"set": lua.table_from({_resp3_to_lua(lua, x): True for x in reply})})
    if t is Pairs:
        return lua.table_from([lua.table_from([_resp3_to_lua(lua, reply[i]), _resp3_to_lua(lua, reply[i + 1])])
                               for i in range(0, len(reply), 2)])
    if t is Double or t is HumanDouble:
        return lua.table_from({b"double": float(reply)})
    if t is Bool:
        return bool(reply.value)
    if t is Verbatim:
        return lua.table_from({b"verbatim_string": lua.table_from({b"format": reply.fmt,
                                                                   b"string": bytes(reply)})})
    if t is BigNum:
        return lua.table_from({b"big_number": bytes(reply)})
    if t is Raw:
        return _resp3_to_lua(lua, parse_encoded(bytes(reply)))
    return reply_to_lua(lua, reply)  # written alike in both protocols (Raw: RESP2 bytes)


def error_for_lua(message: str) -> bytes:
    """A command's error reply as the `err` of a Lua error table (code kept, newlines trimmed)."""
    msg = message.strip("\r\n")
    if " " not in msg:
        msg = "ERR " + msg
    return msg.encode()


def parse_encoded(data: bytes):
    """Decode an already-encoded reply (status replies stay SimpleString)."""
    value, _ = _parse_at(data, 0)
    return value


def _parse_at(data: bytes, i: int):
    kind = data[i:i + 1]
    end = data.index(b"\r\n", i)
    line = data[i + 1:end]
    nxt = end + 2
    if kind == b"+":
        return SimpleString(line), nxt
    if kind == b"-":
        return Error(line.decode(errors="replace")), nxt
    if kind == b":":
        return int(line), nxt
    if kind == b"$":
        n = int(line)
        if n < 0:
            return None, nxt
        return data[nxt:nxt + n], nxt + n + 2
    if kind == b"*":
        n = int(line)
        if n < 0:
            return NULL_ARRAY, nxt
        out = []
        for _ in range(n):
            v, nxt = _parse_at(data, nxt)
            out.append(v)
        return out, nxt
    if kind == b"(":
        return BigNum(line), nxt
    if kind == b"|":  # an attribute: Redis's script parser reads past it to the reply it annotates
        for _ in range(2 * int(line)):
            _, nxt = _parse_at(data, nxt)
        return _parse_at(data, nxt)
    return None, len(data)


# How deep a returned table may nest: past it the innermost reply is Redis's "reached lua stack
# limit" error (Redis stops at Lua's C stack limit; this stays well inside Python's recursion).
MAX_REPLY_DEPTH = 400
STACK_LIMIT = Error("ERR reached lua stack limit")


def lua_to_reply(value, lua, resp3: bool = False, rawget=None, depth: int = 0):
    """A script's return value as a Redis reply (luaReplyToRedisReply). resp3: the script called
    redis.setresp(3), so its booleans are RESP3 booleans (else true is 1 and false a null).
    Tables are read raw (lua_rawget), as Redis does: a metatable's __index is never run here."""
    from lupa.lua51 import lua_type

    if value is None:
        return None
    if value is True or value is False:
        return Bool(value) if resp3 else (1 if value else None)
    if isinstance(value, bytes):
        return value
    if isinstance(value, int | float):
        # Redis's (long long) cast: out of range or NaN reads as INT64_MIN on x86-64
        return int(value) if -2.0**63 <= value < 2.0**63 else -(1 << 63)
    if lua_type(value) == "table":
        if depth >= MAX_REPLY_DEPTH:
            return STACK_LIMIT
        depth += 1
        if rawget is None:
            rawget = lua.globals().rawget
        err = rawget(value, b"err")
        if isinstance(err, bytes):
            return Error(err.decode(errors="replace"))
        ok = rawget(value, b"ok")
        if isinstance(ok, bytes):
            return SimpleString(ok.replace(b"\r", b" ").replace(b"\n", b" "))
        double = rawget(value, b"double")
        if isinstance(double, int | float) and not isinstance(double, bool):
            return Double(double)
        big = rawget(value, b"big_number")
        if isinstance(big, bytes):
            return BigNum(big.replace(b"\r", b" ").replace(b"\n", b" "))
        verbatim = rawget(value, b"verbatim_string")
        if lua_type(verbatim) == "table" and isinstance(rawget(verbatim, b"format"), bytes) \
                and isinstance(rawget(verbatim, b"string"), bytes):
            out = Verbatim(rawget(verbatim, b"string"))
            out.fmt = rawget(verbatim, b"format")
            return out
        fields = rawget(value, b"map")
        if lua_type(fields) == "table":
            out = Map()
            for k, v in fields.items():
                out += [lua_to_reply(k, lua, resp3, rawget, depth),
                        lua_to_reply(v, lua, resp3, rawget, depth)]
            return out
        members = rawget(value, b"set")
        if lua_type(members) == "table":
            return Set(lua_to_reply(k, lua, resp3, rawget, depth) for k in members.keys())
        out = []
        i = 1
        while True:
            item = rawget(value, i)
            if item is None:
                break
            out.append(lua_to_reply(item, lua, resp3, rawget, depth))
            i += 1
        return out
    return None
