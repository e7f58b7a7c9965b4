"""The `bit` and `cjson` Lua libraries Redis bundles, for scripts (scripting.py), in Python.

bit follows LuaBitOp (32-bit operations, signed results); cjson follows lua-cjson as Redis ships
it for the common cases: arrays for tables with keys 1..n, objects otherwise, `{}` for an empty
table, numbers as `%.14g`, `/` escaped as `\\/`, `cjson.null` for JSON null.
"""

from __future__ import annotations

import json
import math
from types import SimpleNamespace


class LuaLibError(Exception):
    """Raised into the script (its text becomes the Lua error)."""


def _int(x) -> int:
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise LuaLibError("bad argument (number expected)")
    if isinstance(x, float):
        if not math.isfinite(x):
            return 0
        x = round(x)  # LuaBitOp rounds (2^52+2^51 trick: ties to even)
    return x & 0xFFFFFFFF


def _signed(u: int) -> int:
    u &= 0xFFFFFFFF
    return u - (1 << 32) if u & 0x80000000 else u


def _fold(fn, args):
    if not args:
        raise LuaLibError("bad argument #1 (number expected, got no value)")
    acc = _int(args[0])
    for a in args[1:]:
        acc = fn(acc, _int(a))
    return _signed(acc)


def _tohex(x, n=8):
    n = int(n)
    upper = n < 0
    n = min(abs(n), 8) or 8
    text = f"{_int(x) & ((1 << (4 * n)) - 1):0{n}x}"
    return (text.upper() if upper else text).encode()


def make_bit() -> SimpleNamespace:
    def rol(x, n):
        x, n = _int(x), _int(n) & 31
        return _signed((x << n) | (x >> (32 - n)))

    def ror(x, n):
        x, n = _int(x), _int(n) & 31
        return _signed((x >> n) | (x << (32 - n)))

    return SimpleNamespace(
        tobit=lambda x: _signed(_int(x)),
        tohex=_tohex,
        bnot=lambda x: _signed(~_int(x)),
        band=lambda *a: _fold(lambda p, q: p & q, a),
        bor=lambda *a: _fold(lambda p, q: p | q, a),
        bxor=lambda *a: _fold(lambda p, q: p ^ q, a),
        lshift=lambda x, n: _signed(_int(x) << (_int(n) & 31)),
        rshift=lambda x, n: _signed(_int(x) >> (_int(n) & 31)),
        arshift=lambda x, n: _signed(_signed(_int(x)) >> (_int(n) & 31)),
        rol=rol,
        ror=ror,
        bswap=lambda x: _signed(int.from_bytes(_int(x).to_bytes(4, "little"), "big")),
    )


def _number(v, precision: int = 14) -> str:
    """A Lua number as lua-cjson writes it (fpconv_g_fmt: %.<precision>g)."""
    v = float(v)
    if not math.isfinite(v):
        raise LuaLibError("Cannot serialise number: must not be NaN or Inf")
    return f"{v:.{precision}g}"


def _string(b: bytes) -> str:
    text = b.decode("utf-8", errors="surrogateescape")
    return json.dumps(text, ensure_ascii=False).replace("/", "\\/")


class _CjsonConfig:
    """lua-cjson's settings (one per Lua runtime, shared by scripts as in Redis) and its
    configuration functions: each sets its option when given one and returns the current value."""

    def __init__(self):
        self.encode_max_depth = 1000
        self.decode_max_depth = 1000
        self.encode_invalid_numbers = 0  # 0 off (error), 1 on ("nan"/"inf"), 2 null
        self.decode_invalid_numbers = 1
        self.encode_keep_buffer = 1
        self.encode_number_precision = 14

    def integer(self, name, lo, hi):
        def option(value=None):
            if value is not None:
                number = _lua_number(value)
                if number is None:
                    raise LuaLibError(f"bad argument #1 to '{name}' "
                                      f"(number expected, got {_lua_type_name(value)})")
                value = int(number)
                if not lo <= value <= hi:
                    raise LuaLibError(f"bad argument #1 to '{name}' "
                                      f"(expected integer between {lo} and {hi})")
                setattr(self, name, int(value))
            return getattr(self, name)
        return option

    def enum(self, name, options=(b"off", b"on")):
        def option(value=None):
            if value is not None:
                if isinstance(value, bool):
                    setattr(self, name, int(value))
                elif value in options:
                    setattr(self, name, options.index(value))
                else:
                    shown = value.decode(errors="replace") if isinstance(value, bytes) else value
                    raise LuaLibError(f"bad argument #1 to '{name}' (invalid option '{shown}')")
            current = getattr(self, name)
            return bool(current) if current in (0, 1) else options[current]
        return option


def _lua_number(value):
    """luaL_checknumber's view of value: a number, a numeric string, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, bytes):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _lua_type_name(value) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, bytes):
        return "string"
    from lupa.lua51 import lua_type

    return lua_type(value) or "userdata"


def _decode_depth_check(text: bytes, limit: int) -> None:
    """lua-cjson's decode_max_depth: the first array/object nested deeper than limit fails."""
    depth = 0
    in_string = escaped = False
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == 0x5C:  # backslash
                escaped = True
            elif ch == 0x22:
                in_string = False
        elif ch == 0x22:
            in_string = True
        elif ch in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                raise LuaLibError(f"Found too many nested data structures ({depth}) "
                                  f"at character {i + 1}")
        elif ch in (0x5D, 0x7D):
            depth -= 1


def make_cjson(lua, lua_type) -> SimpleNamespace:
    null = lua.table()
    cfg = _CjsonConfig()

    def number(v) -> str:
        if isinstance(v, float) and not math.isfinite(v) and cfg.encode_invalid_numbers:
            if cfg.encode_invalid_numbers == 2:
                return "null"
            return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
        return _number(v, cfg.encode_number_precision)

    def enc(v, depth=0) -> str:
        if v is None or v is null:
            return "null"
        if v is True:
            return "true"
        if v is False:
            return "false"
        if isinstance(v, int | float):
            return number(v)
        if isinstance(v, bytes):
            return _string(v)
        if lua_type(v) == "table":
            if depth + 1 > cfg.encode_max_depth:  # lua-cjson counts the outermost table as 1
                raise LuaLibError(f"Cannot serialise, excessive nesting ({depth + 1})")
            items = list(v.items())
            if not items:
                return "{}"
            keys = [k for k, _ in items]
            if all(isinstance(k, int | float) and not isinstance(k, bool) and k == int(k) and k >= 1
                   for k in keys):
                top = int(max(keys))
                if top > 10 and top > 2 * len(keys):
                    raise LuaLibError("Cannot serialise table: excessively sparse array")
                return "[" + ",".join(enc(v[i], depth + 1) for i in range(1, top + 1)) + "]"
            parts = []
            for k, val in items:
                if isinstance(k, bytes):
                    key = _string(k)
                elif isinstance(k, int | float) and not isinstance(k, bool):
                    key = '"' + number(k) + '"'
                else:
                    raise LuaLibError("Cannot serialise table: table key must be a number or string")
                parts.append(key + ":" + enc(val, depth + 1))
            return "{" + ",".join(parts) + "}"
        raise LuaLibError(f"Cannot serialise {lua_type(v) or type(v).__name__}: type not supported")

    def to_lua(v):
        if v is None:
            return null
        if isinstance(v, str):
            return v.encode("utf-8", errors="surrogateescape")
        if isinstance(v, bool | int | float):
            return v
        if isinstance(v, list):
            return lua.table_from([to_lua(x) for x in v])
        return lua.table_from({k.encode("utf-8", errors="surrogateescape"): to_lua(x)
                               for k, x in v.items()})

    def encode(v=None):
        return enc(v).encode("utf-8", errors="surrogateescape")

    def decode(s=None):
        if not isinstance(s, bytes):
            raise LuaLibError("bad argument #1 to 'decode' (string expected)")
        _decode_depth_check(s, cfg.decode_max_depth)
        try:
            value = json.loads(s.decode("utf-8", errors="surrogateescape"))
        except ValueError as exc:
            raise LuaLibError(f"Expected value but found invalid token at character {getattr(exc, 'pos', 0) + 1}") from None
        return to_lua(value)

    return SimpleNamespace(
        encode=encode, decode=decode, null=null,
        encode_max_depth=cfg.integer("encode_max_depth", 1, 2**31 - 1),
        decode_max_depth=cfg.integer("decode_max_depth", 1, 2**31 - 1),
        encode_number_precision=cfg.integer("encode_number_precision", 1, 14),
        encode_invalid_numbers=cfg.enum("encode_invalid_numbers", (b"off", b"on", b"null")),
        decode_invalid_numbers=cfg.enum("decode_invalid_numbers"),
        encode_keep_buffer=cfg.enum("encode_keep_buffer"))
