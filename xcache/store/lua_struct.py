"""The `struct` Lua library Redis bundles (Roberto's struct.c 1.4 with Redis's overflow fix), for
scripts, in Python.

As the C library on x86-64: native order little endian, b/B 1 byte, h/H 2, l/L/T 8, i/I 4 (or
In, n <= 32), f float, d double, cn chars, s zero-terminated, x a pad byte, ' ' ignored, `<` `>`
order, `![n]` maximum alignment (default 8). Integers go through the library's int64/uint64 casts
(so sizes past 8 bytes are zero-filled on pack and keep the low 8 bytes on unpack).
"""

from __future__ import annotations

import ctypes
import struct as pystruct
from types import SimpleNamespace

from xcache.store.lua_msgpack import (
    MAX_C_STACK,
    check_number,
    check_string,
    lua_tonumber,
    opt_integer,
    to_integer,
)
from xcache.store.lualibs import LuaLibError

MAXINTSIZE = 32
MAXALIGN = 8  # offsetof(struct {char c; double d;}, d) on x86-64
_M64 = (1 << 64) - 1
_SIZES = {"b": 1, "B": 1, "h": 2, "H": 2, "l": 8, "L": 8, "T": 8, "f": 4, "d": 8, "x": 1}
_INTEGERS = "bBhHlLTiI"
_INT_MAX = (1 << 31) - 1
_DIGITS = "0123456789"


class _Format:
    """A format string being read (up to a NUL, as the C string it is), with its header state."""

    def __init__(self, fname: str, fmt: bytes):
        self.fname = fname
        self.fmt = fmt.split(b"\0", 1)[0].decode("latin-1")
        self.i = 0
        self.little = True
        self.align = 1

    def options(self):
        while self.i < len(self.fmt):
            opt = self.fmt[self.i]
            self.i += 1
            yield opt, self.optsize(opt)

    def getnum(self, default: int) -> int:
        if self.i >= len(self.fmt) or self.fmt[self.i] not in _DIGITS:
            return default
        a = 0
        while self.i < len(self.fmt) and self.fmt[self.i] in _DIGITS:
            d = ord(self.fmt[self.i]) - 48
            if a > _INT_MAX // 10 or a * 10 > _INT_MAX - d:
                raise LuaLibError("integral size overflow")
            a = a * 10 + d
            self.i += 1
        return a

    def optsize(self, opt: str) -> int:
        if opt in _SIZES:
            return _SIZES[opt]
        if opt == "c":
            return self.getnum(1)
        if opt in "iI":
            size = self.getnum(4)
            if size > MAXINTSIZE:
                raise LuaLibError(f"integral size {size} is larger than limit of {MAXINTSIZE}")
            return size
        return 0

    def toalign(self, pos: int, opt: str, size: int) -> int:
        if size == 0 or opt == "c":
            return 0
        size = min(size, self.align)
        return (size - (pos & (size - 1))) & (size - 1)

    def control(self, opt: str) -> None:
        if opt == " ":
            return
        if opt in "<>":
            self.little = opt == "<"
        elif opt == "!":
            a = self.getnum(MAXALIGN)
            if a <= 0 or a & (a - 1):
                raise LuaLibError(f"alignment {a} is not a power of 2")
            self.align = a
        else:
            raise LuaLibError(f"bad argument #1 to '{self.fname}' (invalid format option '{opt}')")


def _put_integer(n: float, size: int, little: bool) -> bytes:
    value = (to_integer(n) if n < 0 else int(n) if n == n and n < 2.0**64 else 0) & _M64
    raw = bytes((value >> (8 * i)) & 0xFF if i < 8 else 0 for i in range(size))
    return raw if little else raw[::-1]


def _get_integer(raw: bytes, little: bool, signed: bool) -> float:
    value = 0
    for b in reversed(raw) if little else raw:
        value = ((value << 8) | b) & _M64
    if signed:
        mask = (_M64 << ((len(raw) * 8 - 1) & 63)) & _M64  # x86 masks the shift count
        if value & mask:
            value |= mask
        return float(value - (1 << 64) if value >> 63 else value)
    return float(value)


def _size_t(n: float) -> int:
    """The (size_t) cast of a double as x86-64 code does it: negative wraps to huge, >= 2^64 is 0
    (NaN taken as huge: "data string too short" either way)."""
    if n != n:
        return _M64
    if n < 2.0**63:
        return (int(n) if n > -(2.0**63) else -(1 << 63)) & _M64
    return int(n) if n < 2.0**64 else 0


def make_struct(lua_type) -> SimpleNamespace:
    def pack(*args):
        f = _Format("pack", check_string("pack", args, 0, lua_type))
        # b_pack pushes a nil mark after its arguments: the first missing one reads as nil
        args = (*args, None)
        out = bytearray()
        arg = 1
        for opt, size in f.options():
            pad = f.toalign(len(out), opt, size)
            out += b"\0" * pad
            if opt in _INTEGERS:
                out += _put_integer(check_number("pack", args, arg, lua_type), size, f.little)
                arg += 1
            elif opt == "x":
                out.append(0)
            elif opt in "fd":
                n = check_number("pack", args, arg, lua_type)
                arg += 1
                raw = pystruct.pack("<f", ctypes.c_float(n).value) if opt == "f" \
                    else pystruct.pack("<d", n)
                out += raw if f.little else raw[::-1]
            elif opt in "cs":
                s = check_string("pack", args, arg, lua_type)
                arg += 1
                if size == 0:
                    size = len(s)
                if len(s) < size:
                    # luaL_argcheck names the argument after the string (arg was advanced)
                    raise LuaLibError(f"bad argument #{arg + 1} to 'pack' (string too short)")
                out += s[:size]
                if opt == "s":
                    out.append(0)
            else:
                f.control(opt)
        return bytes(out)

    def unpack(*args):
        f = _Format("unpack", check_string("unpack", args, 0, lua_type))
        data = check_string("unpack", args, 1, lua_type)
        pos = opt_integer("unpack", args, 2, 1, lua_type) - 1
        short = "bad argument #2 to 'unpack' (data string too short)"
        out: list = []
        for opt, size in f.options():
            pos += f.toalign(pos, opt, size)
            if pos < 0 or pos + size > len(data):
                raise LuaLibError(short)
            # luaL_checkstack(L, 2) (room for a result and the final position) over the format,
            # the data and the results so far
            if 2 + len(out) + 2 > MAX_C_STACK:
                raise LuaLibError("stack overflow (too many results)")
            if opt in _INTEGERS:
                out.append(_get_integer(data[pos:pos + size], f.little, opt.islower()))
            elif opt in "fd":
                raw = data[pos:pos + size]
                out.append(pystruct.unpack("<f" if opt == "f" else "<d",
                                           raw if f.little else raw[::-1])[0])
            elif opt == "c":
                if size == 0:
                    # the length is the value read just before (the data string when none)
                    n = lua_tonumber(out[-1] if out else data)
                    if n is None:
                        raise LuaLibError("format 'c0' needs a previous size")
                    if out:
                        out.pop()
                    size = _size_t(n)
                    if pos + size > len(data):
                        raise LuaLibError(short)
                out.append(data[pos:pos + size])
            elif opt == "s":
                end = data.find(b"\0", pos)
                if end < 0:
                    raise LuaLibError("unfinished string in data")
                size = end - pos + 1
                out.append(data[pos:end])
            elif opt != "x":
                f.control(opt)
            pos += size
        return (*out, pos + 1)

    def size(*args):
        f = _Format("size", check_string("size", args, 0, lua_type))
        pos = 0
        for opt, sz in f.options():
            pos += f.toalign(pos, opt, sz)
            if opt == "s":
                raise LuaLibError("bad argument #1 to 'size' (option 's' has no fixed size)")
            if opt == "c" and sz == 0:
                raise LuaLibError("bad argument #1 to 'size' (option 'c0' has no fixed size)")
            if not (opt.isascii() and opt.isalnum()):
                f.control(opt)
            pos += sz
        return pos

    return SimpleNamespace(pack=pack, unpack=unpack, size=size)
