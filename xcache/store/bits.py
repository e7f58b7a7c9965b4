"""Bit commands beyond SETBIT/GETBIT/BITCOUNT (strings.py): BITOP, BITPOS, BITFIELD, BITFIELD_RO.

A string lives whole in its meta entry, so these read (and BITOP/BITFIELD write) the whole value:
the work per call is proportional to the string's length (numpy for BITOP, one big-integer scan
for BITPOS, O(1) per BITFIELD operation apart from reading and writing the value).
"""

from __future__ import annotations

import numpy as np

from xcache.resp import Error
from xcache.store.commands import NOT_INTEGER, SYNTAX_ERROR, command, parse_int
from xcache.store.engine import read_counted
from xcache.store.strings import BIT_OFFSET_ERROR, max_size, read_string, write_string

_M64 = (1 << 64) - 1


def _s64(v: int) -> int:
    """v wrapped to a signed 64-bit integer (C's int64_t arithmetic)."""
    v &= _M64
    return v - (1 << 64) if v >> 63 else v


# --- BITOP ------------------------------------------------------------------------------------


@command("bitop", -4, "write denyoom", 2, -1, 1)
def bitop(c, args):
    op = args[0].upper()
    dst, keys = args[1], args[2:]
    if op not in (b"AND", b"OR", b"XOR", b"NOT"):
        raise SYNTAX_ERROR
    if op == b"NOT" and len(keys) != 1:
        raise Error("ERR BITOP NOT must be called with a single source key.")
    values = [read_counted(c, read_string, c, k)[0] or b"" for k in keys]
    maxlen = max(len(v) for v in values)
    if maxlen == 0:
        if c.engine.get_meta(c.db, dst) is not None:
            b = c.engine.batch()
            b.delete_meta(c.db, dst)
            c.engine.commit(b)
        return 0
    arrays = []
    for v in values:
        arr = np.zeros(maxlen, dtype=np.uint8)
        arr[:len(v)] = np.frombuffer(v, dtype=np.uint8)
        arrays.append(arr)
    if op == b"NOT":
        acc = np.invert(arrays[0])
    else:
        ufunc = {b"AND": np.bitwise_and, b"OR": np.bitwise_or, b"XOR": np.bitwise_xor}[op]
        acc = arrays[0]
        for arr in arrays[1:]:
            acc = ufunc(acc, arr)
    write_string(c, dst, acc.tobytes(), raw_enc=True)  # Redis creates it raw
    return maxlen


# --- BITPOS -----------------------------------------------------------------------------------


def _first_bit(value: bytes, bit: int, first: int, last: int) -> int:
    """The first bit position in [first, last] (bit offsets) holding bit, or -1."""
    if first > last:
        return -1
    lo, hi = first >> 3, last >> 3
    chunk = int.from_bytes(value[lo:hi + 1], "big")
    width = (hi - lo + 1) * 8
    # keep bits first..last: clear the leading (first & 7) and trailing (7 - last & 7) bits
    lead, trail = first & 7, 7 - (last & 7)
    span = width - lead - trail
    chunk = (chunk >> trail) & ((1 << span) - 1)
    if not bit:
        chunk = ~chunk & ((1 << span) - 1)
    if chunk == 0:
        return -1
    return first + span - chunk.bit_length()


@command("bitpos", -3, "readonly")
def bitpos(c, args):
    bit = parse_int(args[1])
    if bit not in (0, 1):
        raise Error("ERR The bit argument must be 1 or 0.")
    value, _ = read_string(c, args[0])
    if value is None:
        return -1 if bit else 0
    strlen = len(value)
    end_given = False
    if len(args) in (3, 4, 5):
        start = parse_int(args[2])
        isbit = False
        if len(args) == 5:
            unit = args[4].lower()
            if unit == b"bit":
                isbit = True
            elif unit != b"byte":
                raise SYNTAX_ERROR
        if len(args) >= 4:
            end = parse_int(args[3])
            end_given = True
        else:
            end = (strlen << 3) + 7 if isbit else strlen - 1
        total = strlen << 3 if isbit else strlen
        if start < 0:
            start += total
        if end < 0:
            end += total
        start = max(start, 0)
        end = max(end, 0)
        end = min(end, total - 1)
        if start > end:
            return -1
        if not isbit:
            start, end = start << 3, (end << 3) + 7
    elif len(args) == 2:
        start, end = 0, (strlen << 3) - 1
        if strlen == 0:
            return -1
    else:
        raise SYNTAX_ERROR
    pos = _first_bit(value, bit, start, end)
    if pos == -1 and bit == 0 and not end_given:
        return ((end >> 3) + 1) << 3  # a clear bit just past the string (it is zero-padded)
    return pos


# --- BITFIELD ---------------------------------------------------------------------------------

TYPE_ERROR = Error("ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not "
                   "supported but i64 is.")
WRAP, SAT, FAIL = 0, 1, 2


def _type(raw: bytes) -> tuple[bool, int]:
    if raw[:1] not in (b"i", b"u"):
        raise TYPE_ERROR
    signed = raw[:1] == b"i"
    bits = parse_int(raw[1:], TYPE_ERROR)
    if bits < 1 or (signed and bits > 64) or (not signed and bits > 63):
        raise TYPE_ERROR
    return signed, bits


def _offset(c, raw: bytes, bits: int) -> int:
    hashed = raw[:1] == b"#"
    offset = parse_int(raw[1:] if hashed else raw, BIT_OFFSET_ERROR)
    if hashed:
        offset *= bits
    if offset < 0 or (offset >> 3) >= max_size(c):
        raise BIT_OFFSET_ERROR
    return offset


def _get(buf, offset: int, bits: int, signed: bool) -> int:
    lo, hi = offset >> 3, (offset + bits - 1) >> 3
    chunk = bytes(buf[lo:hi + 1]).ljust(hi - lo + 1, b"\x00")
    n = int.from_bytes(chunk, "big")
    n = (n >> ((hi - lo + 1) * 8 - (offset & 7) - bits)) & ((1 << bits) - 1)
    if signed and bits < 64 and n >> (bits - 1):
        n -= 1 << bits
    elif signed and bits == 64 and n >> 63:
        n -= 1 << 64
    return n


def _set(buf: bytearray, offset: int, bits: int, value: int) -> None:
    lo, hi = offset >> 3, (offset + bits - 1) >> 3
    width = (hi - lo + 1) * 8
    shift = width - (offset & 7) - bits
    mask = ((1 << bits) - 1) << shift
    n = int.from_bytes(buf[lo:hi + 1], "big")
    n = (n & ~mask) | (((value & ((1 << bits) - 1)) << shift) & mask)
    buf[lo:hi + 1] = n.to_bytes(hi - lo + 1, "big")


def _unsigned_overflow(value: int, incr: int, bits: int, mode: int) -> tuple[int, int | None]:
    """checkUnsignedBitfieldOverflow -> (overflow, limit). value is a uint64, incr an int64."""
    mx = (1 << bits) - 1
    maxincr = _s64(mx - value)
    minincr = _s64(-value)
    if value > mx or (incr > 0 and incr > maxincr):
        return 1, ((value + incr) & mx if mode == WRAP else mx)
    if incr < 0 and incr < minincr:
        return -1, ((value + incr) & mx if mode == WRAP else 0)
    return 0, None


def _signed_overflow(value: int, incr: int, bits: int, mode: int) -> tuple[int, int | None]:
    """checkSignedBitfieldOverflow with C's 64-bit wrap-around, -> (overflow, limit)."""
    mx = (1 << 63) - 1 if bits == 64 else (1 << (bits - 1)) - 1
    mn = -mx - 1
    maxincr = _s64(mx - value)
    minincr = _s64(mn - value)

    def wrapped() -> int:
        res = (value + incr) & ((1 << bits) - 1)
        return res - (1 << bits) if res >> (bits - 1) else res

    if value > mx or (bits != 64 and incr > maxincr) or (value >= 0 and incr > 0 and incr > maxincr):
        return 1, (wrapped() if mode == WRAP else mx)
    if value < mn or (bits != 64 and incr < minincr) or (value < 0 and incr < 0 and incr < minincr):
        return -1, (wrapped() if mode == WRAP else mn)
    return 0, None


def _bitfield(c, args, readonly_cmd: bool):
    key = args[0]
    ops = []
    mode = WRAP
    readonly = True
    highest = -1
    i = 1
    while i < len(args):
        sub = args[i].lower()
        remaining = len(args) - i - 1
        if sub == b"get" and remaining >= 2:
            opcode = "get"
        elif sub == b"set" and remaining >= 3:
            opcode = "set"
        elif sub == b"incrby" and remaining >= 3:
            opcode = "incrby"
        elif sub == b"overflow" and remaining >= 1:
            kind = args[i + 1].lower()
            modes = {b"wrap": WRAP, b"sat": SAT, b"fail": FAIL}
            if kind not in modes:
                raise Error("ERR Invalid OVERFLOW type specified")
            mode = modes[kind]
            i += 2
            continue
        else:
            raise SYNTAX_ERROR
        signed, bits = _type(args[i + 1])
        offset = _offset(c, args[i + 2], bits)
        value = 0
        if opcode != "get":
            readonly = False
            highest = max(highest, offset + bits - 1)
            value = parse_int(args[i + 3], NOT_INTEGER)
        ops.append((opcode, signed, bits, offset, value, mode))
        i += 3 if opcode == "get" else 4
    if not readonly and readonly_cmd:
        raise Error("ERR BITFIELD_RO only supports the GET subcommand")
    current, expire = read_string(c, key)
    if readonly:
        c.propagate = []  # GETs only: nothing to replicate
        buf = current or b""
        return [_get(buf, off, bits, signed) for _, signed, bits, off, _, _ in ops]
    buf = bytearray(current or b"")
    need = (highest >> 3) + 1
    grown = current is None or len(buf) < need  # lookupStringForBitCommand's dirty
    if len(buf) < need:
        buf.extend(b"\x00" * (need - len(buf)))
    changes = 0
    out = []
    for opcode, signed, bits, offset, value, omode in ops:
        if opcode == "get":
            out.append(_get(buf, offset, bits, signed))
            continue
        old = _get(buf, offset, bits, signed)
        if signed:
            if opcode == "incrby":
                overflow, limit = _signed_overflow(old, value, bits, omode)
                new = limit if overflow else old + value
                ret = new
            else:
                overflow, limit = _signed_overflow(value, 0, bits, omode)
                new = limit if overflow else value
                ret = old
        else:
            if opcode == "incrby":
                overflow, limit = _unsigned_overflow(old, value, bits, omode)
                new = limit if overflow else (old + value) & _M64
                ret = new
            else:
                uvalue = value & _M64
                overflow, limit = _unsigned_overflow(uvalue, 0, bits, omode)
                new = limit if overflow else uvalue
                ret = old
        if overflow and omode == FAIL:
            out.append(None)
        else:
            out.append(ret)
            _set(buf, offset, bits, new)
            if grown or old != new:
                changes += 1
    if not changes:
        c.propagate = []  # nothing changed: Redis neither counts (dirty) nor propagates it
        if not grown:
            return out
    # (grown without changes, every op failing its OVERFLOW FAIL: Redis keeps the created key)
    write_string(c, key, bytes(buf), expire, raw_enc=True)
    return out


@command("bitfield", -2, "write denyoom")
def bitfield(c, args):
    return _bitfield(c, args, False)


@command("bitfield_ro", -2, "readonly fast")
def bitfield_ro(c, args):
    return _bitfield(c, args, True)
