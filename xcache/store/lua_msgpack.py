"""The `cmsgpack` Lua library Redis bundles (lua-cmsgpack 0.4.0), for scripts, in Python.

Byte for byte as Redis's C library on 64-bit Lua 5.1: numbers are doubles, integral ones that fit
an int64 go out as the smallest msgpack int, others as float32 when that is exact, else float64;
tables with keys exactly 1..n are arrays, others maps (in lua_next order); tables nested 16 deep
and values of other types (functions, cjson.null...) are nil. Decoding: str8/16/32 and the old raw
types, no bin/ext (bad format). The library's C casts are emulated where a script can see them.
"""

from __future__ import annotations

import ctypes
import math
import struct
from types import SimpleNamespace

from xcache.store.lualibs import LuaLibError

MAX_NESTING = 16
MAX_C_STACK = 8000  # LUAI_MAXCSTACK: the most stack slots a C function may use
_I64 = 1 << 63


def _lua_typename(v, lua_type) -> str:
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, bytes):
        return "string"
    return lua_type(v) or "userdata"


def lua_tonumber(v):
    """lua_tonumber: numbers, and strings glibc's strtod reads whole (hex, inf, nan); else None."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, bytes):
        text = v.strip(b" \t\n\r\f\v")
        if not text or b"_" in text:  # Python's float() takes "1_0", strtod does not
            return None
        try:
            if text.lstrip(b"+-")[:2].lower() == b"0x":
                return float.fromhex(text.decode("ascii"))
            return float(text)
        except (ValueError, UnicodeDecodeError):
            return None
    return None


def lua_number_text(n: float) -> bytes:
    """A number as Lua 5.1 makes it a string (LUA_NUMBER_FMT "%.14g")."""
    return f"{float(n):.14g}".encode()


def check_string(fname: str, args, i: int, lua_type) -> bytes:
    """luaL_checklstring on (0-based) args[i]: strings, or numbers turned into strings."""
    v = args[i] if i < len(args) else None
    if isinstance(v, bytes):
        return v
    if isinstance(v, int | float) and not isinstance(v, bool):
        return lua_number_text(v)
    got = "no value" if i >= len(args) else _lua_typename(v, lua_type)
    raise LuaLibError(f"bad argument #{i + 1} to '{fname}' (string expected, got {got})")


def check_number(fname: str, args, i: int, lua_type) -> float:
    """luaL_checknumber on (0-based) args[i]."""
    v = args[i] if i < len(args) else None
    n = lua_tonumber(v)
    if n is None:
        got = "no value" if i >= len(args) else _lua_typename(v, lua_type)
        raise LuaLibError(f"bad argument #{i + 1} to '{fname}' (number expected, got {got})")
    return n


def to_integer(n: float) -> int:
    """lua_Integer (int64) from a double, as the C cast does on x86-64 (out of range: INT64_MIN)."""
    if not math.isfinite(n) or not -_I64 <= n < _I64:
        return -_I64
    return int(n)


def opt_integer(fname: str, args, i: int, default: int, lua_type) -> int:
    if i >= len(args) or args[i] is None:
        return default
    return to_integer(check_number(fname, args, i, lua_type))


def _float32(d: float) -> float:
    return ctypes.c_float(d).value  # the C (float) cast: out of range gives inf, no exception


def _encode_number(n, out: bytearray) -> None:
    n = float(n)
    if not math.isinf(n) and to_integer(n) == n:
        _encode_int(int(n), out)
    elif _float32(n) == n:
        out += b"\xca" + struct.pack(">f", _float32(n))
    else:
        out += b"\xcb" + struct.pack(">d", n)


def _encode_int(n: int, out: bytearray) -> None:
    if n >= 0:
        if n <= 127:
            out.append(n)
        elif n <= 0xFF:
            out += b"\xcc" + n.to_bytes(1, "big")
        elif n <= 0xFFFF:
            out += b"\xcd" + n.to_bytes(2, "big")
        elif n <= 0xFFFFFFFF:
            out += b"\xce" + n.to_bytes(4, "big")
        else:
            out += b"\xcf" + n.to_bytes(8, "big")
    elif n >= -32:
        out.append(n & 0xFF)
    elif n >= -128:
        out += b"\xd0" + n.to_bytes(1, "big", signed=True)
    elif n >= -32768:
        out += b"\xd1" + n.to_bytes(2, "big", signed=True)
    elif n >= -(1 << 31):
        out += b"\xd2" + n.to_bytes(4, "big", signed=True)
    else:
        out += b"\xd3" + n.to_bytes(8, "big", signed=True)


def _header(n: int, fix: int, small: int, out: bytearray, limit: int = 15) -> None:
    """fixarray/fixmap (fix|n), else the 16-bit (small) or 32-bit (small+1) form."""
    if n <= limit:
        out.append(fix | n)
    elif n <= 0xFFFF:
        out += bytes([small]) + n.to_bytes(2, "big")
    else:
        out += bytes([small + 1]) + (n & 0xFFFFFFFF).to_bytes(4, "big")


def _encode_bytes(s: bytes, out: bytearray) -> None:
    n = len(s)
    if n < 32:
        out.append(0xA0 | n)
    elif n <= 0xFF:
        out += b"\xd9" + bytes([n])
    elif n <= 0xFFFF:
        out += b"\xda" + n.to_bytes(2, "big")
    else:
        out += b"\xdb" + (n & 0xFFFFFFFF).to_bytes(4, "big")
    out += s


def _is_array(items) -> bool:
    """table_is_an_array: only number keys in 1..INT_MAX that are integral, max == count."""
    top = 0
    for k, _ in items:
        if isinstance(k, bool) or not isinstance(k, int | float):
            return False
        if k <= 0 or not (k < (1 << 31) and int(k) == k):
            return False
        top = max(top, int(k))
    return top == len(items)


def make_cmsgpack(lua, lua_type, null) -> SimpleNamespace:
    rawequal = lua.eval("rawequal")  # lupa wraps a table anew on each crossing: no `is`

    def encode(v, out: bytearray, level: int, top: int) -> None:
        """v at level, with top Lua stack slots in use in the C encoder (for its checks)."""
        if v is None:
            out.append(0xC0)
        elif isinstance(v, bool):
            out.append(0xC3 if v else 0xC2)
        elif isinstance(v, int | float):
            _encode_number(v, out)
        elif isinstance(v, bytes):
            _encode_bytes(v, out)
        elif lua_type(v) == "table" and level < MAX_NESTING and not rawequal(v, null):
            # (cjson.null is a lightuserdata in Redis: it packs as nil)
            _check_stack(top, 2, "table_is_an_array")
            items = list(v.items())
            if _is_array(items):
                n = len(v)  # lua_objlen: keys are 1..n here, so n
                _header(n, 0x90, 0xDC, out)
                for j in range(1, n + 1):
                    encode(v[j], out, level + 1, top + 1)
            else:
                _check_stack(top, 3, "mp_encode_lua_table_as_map")
                _header(len(items), 0x80, 0xDE, out)
                for k, val in items:
                    encode(k, out, level + 1, top + 3)  # table, key, value, key copy
                    encode(val, out, level + 1, top + 2)
        else:
            out.append(0xC0)  # functions, userdata, tables past the depth limit

    def pack(*args):
        if not args:
            raise LuaLibError("bad argument #0 to 'pack' (MessagePack pack needs input.)")
        if 2 * len(args) > MAX_C_STACK:  # lua_checkstack(L, nargs) over the nargs arguments
            raise LuaLibError("bad argument #0 to 'pack' (Too many arguments for MessagePack "
                              "pack.)")
        out = bytearray()
        for i, a in enumerate(args):
            # the arguments, one packed string per argument done, and this argument's copy
            _check_stack(len(args) + i, 1, "mp_check")
            encode(a, out, 0, len(args) + i + 1)
        return bytes(out)

    def unpack_full(fname, data: bytes, limit: int, offset: int):
        decode_all = not limit and not offset
        if offset < 0 or limit < 0:
            raise LuaLibError(f"Invalid request to unpack with offset of {_c_int(offset)} and "
                              f"limit of {_c_int(len(data))}.")
        if offset > len(data):
            raise LuaLibError(f"Start offset {_c_int(offset)} greater than input length "
                              f"{_c_int(len(data))}.")
        dec = _Decoder(lua, data, offset)
        values = []
        count = 0
        while dec.pos < len(data) and (decode_all or count < limit):
            values.append(dec.value(1 + count))
            count += 1
        if decode_all:
            return tuple(values)
        return (-1 if dec.pos == len(data) else dec.pos, *values)

    def unpack(*args):
        return unpack_full("unpack", check_string("unpack", args, 0, lua_type), 0, 0)

    def unpack_one(*args):
        offset = opt_integer("unpack_one", args, 1, 0, lua_type)
        return unpack_full("unpack_one", check_string("unpack_one", args, 0, lua_type), 1, offset)

    def unpack_limit(*args):
        limit = to_integer(check_number("unpack_limit", args, 1, lua_type))
        offset = opt_integer("unpack_limit", args, 2, 0, lua_type)
        return unpack_full("unpack_limit", check_string("unpack_limit", args, 0, lua_type),
                           limit, offset)

    return SimpleNamespace(pack=pack, unpack=unpack, unpack_one=unpack_one,
                           unpack_limit=unpack_limit)


def _check_stack(top: int, space: int, where: str) -> None:
    """luaL_checkstack(L, space, "in function <where>") with top slots in use."""
    if top + space > MAX_C_STACK:
        raise LuaLibError(f"stack overflow (in function {where})")


def _c_int(n: int) -> int:
    """The (int) cast of the library's error messages."""
    n &= 0xFFFFFFFF
    return n - (1 << 32) if n & 0x80000000 else n


class _Decoder:
    """mp_decode_to_lua_type over data from pos; errors as the library's luaL_error texts.

    Iterative (a msgpack value may nest thousands deep), counting the Lua stack slots the C
    decoder would hold so that its "stack overflow" (LUAI_MAXCSTACK) comes at the same point.
    """

    def __init__(self, lua, data: bytes, pos: int):
        self.lua, self.data, self.pos = lua, data, pos

    def take(self, n: int) -> bytes:
        if len(self.data) - self.pos < n:
            raise LuaLibError("Missing bytes in input.")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def sint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big", signed=True)

    def value(self, used: int):
        """One value; used: the stack slots already taken (the argument, earlier values)."""
        frames: list[list] = []  # [table, items left, is_map, key or _NO_KEY, next index]
        while True:
            if self.pos >= len(self.data):
                raise LuaLibError("Missing bytes in input.")  # checked before the stack
            held = sum(1 if f[2] and f[3] is _NO_KEY else 2 for f in frames)
            if used + held + 1 > MAX_C_STACK:
                raise LuaLibError("stack overflow (too many return values at once; "
                                  "use unpack_one or unpack_limit instead.)")
            v = self.one()
            if isinstance(v, _Container) and not v.is_map and used + held + 2 > MAX_C_STACK:
                # mp_decode_to_lua_array's own check, with its new table on the stack
                raise LuaLibError("stack overflow (in function mp_decode_to_lua_array)")
            while True:
                if isinstance(v, _Container):
                    if v.n:
                        frames.append([v.table, v.n, v.is_map, _NO_KEY, 1])
                        break
                    v = v.table
                if not frames:
                    return v
                f = frames[-1]
                if f[2] and f[3] is _NO_KEY:
                    f[3] = v
                    break
                key = f[3] if f[2] else f[4]
                if key is None:
                    raise LuaLibError("ERR table index is nil")  # lua_settable's (no position)
                if isinstance(key, float) and key != key:
                    raise LuaLibError("ERR table index is NaN")
                f[0][key] = v
                f[3], f[4], f[1] = _NO_KEY, f[4] + 1, f[1] - 1
                if f[1]:
                    break
                frames.pop()
                v = f[0]

    def one(self):
        """The value at pos, a container as an empty table plus its item count."""
        b = self.take(1)[0]
        if b < 0x80:
            return b
        if b >= 0xE0:
            return b - 256
        if 0xA0 <= b <= 0xBF:
            return self.take(b & 0x1F)
        if 0x90 <= b <= 0x9F:
            return _Container(self.lua.table(), b & 0xF, False)
        if 0x80 <= b <= 0x8F:
            return _Container(self.lua.table(), b & 0xF, True)
        if b == 0xC0:
            return None
        if b in (0xC2, 0xC3):
            return b == 0xC3
        if b in (0xCC, 0xCD, 0xCE):
            return self.uint({0xCC: 1, 0xCD: 2, 0xCE: 4}[b])
        if b == 0xCF:  # lua_pushinteger of a uint64: past INT64_MAX it reads as negative
            u = self.uint(8)
            return float(u - (1 << 64) if u >= _I64 else u)
        if b in (0xD0, 0xD1, 0xD2, 0xD3):
            return float(self.sint({0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8}[b]))
        if b == 0xCA:
            return struct.unpack(">f", self.take(4))[0]
        if b == 0xCB:
            return struct.unpack(">d", self.take(8))[0]
        if b in (0xD9, 0xDA, 0xDB):
            return self.take(self.uint({0xD9: 1, 0xDA: 2, 0xDB: 4}[b]))
        if b in (0xDC, 0xDD, 0xDE, 0xDF):
            n = self.uint(2 if b in (0xDC, 0xDE) else 4)
            return _Container(self.lua.table(), n, b >= 0xDE)
        raise LuaLibError("Bad data format in input.")


class _Container:
    __slots__ = ("table", "n", "is_map")

    def __init__(self, table, n: int, is_map: bool):
        self.table, self.n, self.is_map = table, n, is_map


_NO_KEY = object()
