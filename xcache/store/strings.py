"""String commands. A string lives entirely in its meta entry: type(1) expire_ms(8) value."""

from __future__ import annotations

import struct
import warnings

import numpy as np

from xcache.resp import OK, Error
from xcache.store.commands import (
    MAX_INT,
    MIN_INT,
    NOT_FLOAT,
    NOT_INTEGER,
    OVERFLOW,
    SYNTAX_ERROR,
    command,
    parse_int,
)
from xcache.store.dbmap import DB_BYTE, db_byte
from xcache.store.engine import RAW_STRING, STRING, WRONGTYPE, now_ms, read_counted

_Q = struct.Struct(">Q")
_ZERO8 = b"\x00" * 8
PLAIN_STRING = b"\x00" + _ZERO8  # the meta header of a STRING without a TTL
TOO_BIG = Error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")


def read_string(c, key: bytes, now: int | None = None) -> tuple[bytes | None, int]:
    """-> (value or None, expire_ms). Raises WRONGTYPE for other types."""
    engine = c.server.engine
    raw = engine.get_raw_meta(DB_BYTE[c.db] + key)
    if raw is None:
        if engine.lookup_stats is not None:
            engine.count_miss(c.db, key)
        return None, 0
    expire = 0
    if raw[1:9] != _ZERO8:
        expire = _Q.unpack_from(raw, 1)[0]
        if expire <= (now if now is not None else now_ms()):
            engine.met_expired(c.db, key)
            return None, 0
    if engine.lookup_stats is not None:
        engine.lookup_stats["keyspace_hits"] += 1
    if raw[0] != STRING and raw[0] != RAW_STRING:
        raise WRONGTYPE
    return raw[9:], expire


def get_value(c, key: bytes) -> bytes | None:
    return read_string(c, key)[0]


def put_string(batch, db: int, key: bytes, value: bytes, expire_ms: int = 0) -> None:
    batch.put_meta_raw(db_byte(db) + key, b"\x00" + _Q.pack(expire_ms) + value)


def write_string(c, key: bytes, value: bytes, expire_ms: int = 0, raw_enc: bool = False) -> None:
    """raw_enc: the value was changed in place (APPEND, SETRANGE...): Redis encodes it raw."""
    if expire_ms or raw_enc:
        head = (b"\x80" if raw_enc else b"\x00") + _Q.pack(expire_ms)  # RAW_STRING or STRING
    else:
        head = PLAIN_STRING
    c.server.engine.put_meta_now(DB_BYTE[c.db] + key, head + value)


def exists(c, key: bytes) -> bool:
    return c.engine.get_meta(c.db, key) is not None


def parse_expire(name: str, unit_ms: int, raw: bytes, absolute: bool) -> int:
    """An EX/PX/EXAT/PXAT argument -> absolute unix ms."""
    value = parse_int(raw)
    if value <= 0 or value > MAX_INT // unit_ms:
        raise Error(f"ERR invalid expire time in '{name}' command")
    value *= unit_ms
    if not absolute:
        value += now_ms()
        if value > MAX_INT:
            raise Error(f"ERR invalid expire time in '{name}' command")
    return value


_EXPIRE_OPTS = {b"EX": (1000, False), b"PX": (1, False), b"EXAT": (1000, True), b"PXAT": (1, True)}


@command("get", 2, "readonly fast")
def get(c, args):
    return get_value(c, args[0])


def parse_string_options(args: list[bytes], start: int, is_set: bool):
    """SET/GETEX options as Redis's parseExtendedStringArgumentsOrReply reads them: flags may
    repeat, a repeated EX/PX/EXAT/PXAT replaces the earlier number, conflicting ones are a syntax
    error. -> (set of flags, (expire option, raw number) or None). The number is checked later by
    the caller, after any syntax error (and, for GETEX, after the key lookup)."""
    flags: set[bytes] = set()
    expire = None
    i = start
    while i < len(args):
        opt = args[i].upper()
        if is_set and opt == b"NX" and b"XX" not in flags:
            flags.add(opt)
        elif is_set and opt == b"XX" and b"NX" not in flags:
            flags.add(opt)
        elif is_set and opt == b"GET":
            flags.add(opt)
        elif is_set and opt == b"KEEPTTL" and expire is None:
            flags.add(opt)
        elif not is_set and opt == b"PERSIST" and expire is None:
            flags.add(opt)
        elif (opt in _EXPIRE_OPTS and i + 1 < len(args) and not flags & {b"KEEPTTL", b"PERSIST"}
              and (expire is None or expire[0] == opt)):
            expire = (opt, args[i + 1])
            i += 1
        else:
            raise SYNTAX_ERROR
        i += 1
    return flags, expire


def _expire_ms(name: str, expire: tuple[bytes, bytes]) -> int:
    unit, absolute = _EXPIRE_OPTS[expire[0]]
    return parse_expire(name, unit, expire[1], absolute)


@command("set", -3, "write denyoom")
def set_(c, args):
    if len(args) == 2:  # a plain SET (most of them): no option to parse
        write_string(c, args[0], args[1])
        return OK
    key, value = args[0], args[1]
    flags, expire_opt = parse_string_options(args, 2, True)
    expire = _expire_ms("set", expire_opt) if expire_opt else None
    nx, xx, get_old, keepttl = (f in flags for f in (b"NX", b"XX", b"GET", b"KEEPTTL"))
    old = None
    if get_old:
        old, old_expire = read_counted(c, read_string, c, key)  # SET ... GET reads as GET
    if nx or xx or keepttl:
        meta = c.engine.get_meta(c.db, key)
        if (nx and meta is not None) or (xx and meta is None):
            c.propagate = []  # not set: neither dirty nor replicated
            return old if get_old else None
        if keepttl and meta is not None:
            expire = meta.expire_ms
    write_string(c, key, value, expire or 0)
    if expire_opt:  # replicated as Redis rewrites it: SET key value PXAT <absolute ms>
        c.propagate = [b"SET", key, value, b"PXAT", b"%d" % expire]
    return old if get_old else OK


@command("setnx", 3, "write denyoom fast")
def setnx(c, args):
    if exists(c, args[0]):
        return 0
    write_string(c, args[0], args[1])
    return 1


def _setex(c, key: bytes, raw_ttl: bytes, value: bytes, unit: int, name: str):
    expire = parse_expire(name, unit, raw_ttl, False)
    write_string(c, key, value, expire)
    c.propagate = [b"SET", key, value, b"PXAT", b"%d" % expire]  # as Redis rewrites it
    return OK


@command("setex", 4, "write denyoom")
def setex(c, args):
    return _setex(c, args[0], args[1], args[2], 1000, "setex")


@command("psetex", 4, "write denyoom")
def psetex(c, args):
    return _setex(c, args[0], args[1], args[2], 1, "psetex")


@command("getset", 3, "write denyoom fast")
def getset(c, args):
    old, _ = read_counted(c, read_string, c, args[0])
    write_string(c, args[0], args[1])
    c.propagate = [b"SET", args[0], args[1]]  # as Redis rewrites it
    return old


@command("getdel", 2, "write fast")
def getdel(c, args):
    old, _ = read_counted(c, read_string, c, args[0])
    if old is not None:
        b = c.engine.batch()
        b.delete_meta(c.db, args[0])
        c.engine.commit(b)
        c.propagate = [b"DEL", args[0]]  # as Redis rewrites it
    else:
        c.propagate = []  # nothing deleted: neither dirty nor replicated
    return old


@command("getex", -2, "write fast")
def getex(c, args):
    # Redis order: option syntax, then the key (nil when missing, WRONGTYPE), then the number.
    key = args[0]
    flags, expire_opt = parse_string_options(args, 1, False)
    value, old_expire = read_counted(c, read_string, c, key)
    if value is None:
        c.propagate = []
        return None
    expire = _expire_ms("getex", expire_opt) if expire_opt else None
    if b"PERSIST" in flags and old_expire or expire is not None:
        raw_enc = c.engine.get_raw_meta(db_byte(c.db) + key)[0] == RAW_STRING
        write_string(c, key, value, expire or 0, raw_enc)  # the value keeps its encoding
        # never replicated as itself (Redis): PEXPIREAT, DEL when already past, or PERSIST
        if expire is None:
            c.propagate = [b"PERSIST", key]
        elif expire <= now_ms():
            c.propagate = [b"DEL", key]
        else:
            c.propagate = [b"PEXPIREAT", key, b"%d" % expire]
    else:
        c.propagate = []  # nothing changed: neither dirty nor replicated
    return value


@command("mget", -2, "readonly fast", 1, -1, 1)
def mget(c, args):
    now = now_ms()
    db = db_byte(c.db)
    out = []
    for key, raw in zip(args, c.engine.multi_get_raw_meta([db + key for key in args]),
                        strict=True):  # one RocksDB call
        if raw is not None and raw[1:9] != _ZERO8 and _Q.unpack_from(raw, 1)[0] <= now:
            c.engine.met_expired(c.db, key)  # a miss
            out.append(None)
            continue
        c.engine.count_lookup(c.db, key, raw is not None)
        if raw is None or (raw[0] != STRING and raw[0] != RAW_STRING):
            out.append(None)  # missing, or another type (MGET answers nil for it)
        else:
            out.append(raw[9:])
    return out


@command("mset", -3, "write denyoom", 1, -1, 2)
def mset(c, args):
    if len(args) % 2:
        raise Error("ERR wrong number of arguments for 'mset' command")
    b = c.engine.batch()
    for i in range(0, len(args), 2):
        put_string(b, c.db, args[i], args[i + 1])
    c.engine.commit(b)
    return OK


@command("msetnx", -3, "write denyoom", 1, -1, 2)
def msetnx(c, args):
    if len(args) % 2:
        raise Error("ERR wrong number of arguments for 'msetnx' command")
    if any(exists(c, args[i]) for i in range(0, len(args), 2)):
        return 0
    mset(c, args)
    return 1


def _incr(c, key: bytes, delta: int) -> int:
    old, expire = read_string(c, key)
    current = 0
    if old is not None:
        if len(old) > 20:
            raise NOT_INTEGER
        current = parse_int(old)
    result = current + delta
    if result < MIN_INT or result > MAX_INT:
        raise OVERFLOW
    write_string(c, key, b"%d" % result, expire)
    return result


@command("incr", 2, "write denyoom fast")
def incr(c, args):
    return _incr(c, args[0], 1)


@command("decr", 2, "write denyoom fast")
def decr(c, args):
    return _incr(c, args[0], -1)


@command("incrby", 3, "write denyoom fast")
def incrby(c, args):
    return _incr(c, args[0], parse_int(args[1]))


@command("decrby", 3, "write denyoom fast")
def decrby(c, args):
    delta = parse_int(args[1])
    if delta == MIN_INT:
        raise Error("ERR decrement would overflow")
    return _incr(c, args[0], -delta)


_MAX_LONG_DOUBLE_CHARS = 5 * 1024  # Redis's MAX_LONG_DOUBLE_CHARS: longer numbers are refused
_INF_WORDS = ("inf", "infinity")


def parse_long_double(raw: bytes, error: Error = NOT_FLOAT) -> np.longdouble:
    """A number as Redis's string2ld reads it with strtold into a long double: hex and "inf"
    accepted; leading space, trailing garbage, nan, overflow and underflow to zero refused."""
    if not raw or len(raw) >= _MAX_LONG_DOUBLE_CHARS or raw[:1].isspace() or b"\0" in raw:
        raise error
    text = raw.decode("latin-1")
    try:
        with warnings.catch_warnings():  # numpy warns on overflow; refused below instead
            warnings.simplefilter("ignore", RuntimeWarning)
            value = np.longdouble(text)
    except ValueError:
        raise error from None
    if np.isnan(value):
        raise error
    if np.isinf(value) and text.lstrip("+-").lower() not in _INF_WORDS:
        raise error  # strtold's ERANGE overflow
    if value == 0:
        mantissa = text.lstrip("+-").lower()
        if mantissa.startswith("0x"):
            nonzero = "123456789abcdef"
            mantissa = mantissa[2:].partition("p")[0]
        else:
            nonzero = "123456789"
            mantissa = mantissa.partition("e")[0]
        if any(ch in nonzero for ch in mantissa):
            raise error  # strtold's ERANGE underflow to zero
    return value


def format_long_double(value: np.longdouble) -> bytes:
    """Redis's ld2string(LD_STR_HUMAN): "%.17Lf" with trailing zeros (and point) cut, "-0" -> 0."""
    text = np.format_float_positional(value, precision=17, unique=False, fractional=True,
                                      trim="-")
    return b"0" if text == "-0" else text.encode()


def add_float(current: bytes | None, delta: np.longdouble, not_float: Error = NOT_FLOAT) -> bytes:
    """current + delta (see parse_long_double) in long double as INCRBYFLOAT/HINCRBYFLOAT compute
    it, with Redis's errors (an unparsable current value raises not_float)."""
    base = np.longdouble(0) if current is None else parse_long_double(current, not_float)
    with np.errstate(all="ignore"):  # inf/nan results are refused just below
        result = base + delta
    if not np.isfinite(result):
        raise Error("ERR increment would produce NaN or Infinity")
    return format_long_double(result)


@command("incrbyfloat", 3, "write denyoom fast")
def incrbyfloat(c, args):
    old, expire = read_string(c, args[0])
    new = add_float(old, parse_long_double(args[1]))
    write_string(c, args[0], new, expire)
    # Replicas must apply the result, not redo float arithmetic (as Redis propagates SET KEEPTTL).
    c.propagate = [b"SET", args[0], new, b"KEEPTTL"]
    return new


def max_size(c) -> int:
    return c.server.cfg.proto_max_bulk_len_bytes


@command("append", 3, "write denyoom fast")
def append(c, args):
    old, expire = read_string(c, args[0])
    new = (old or b"") + args[1]
    if len(new) > max_size(c):
        raise TOO_BIG
    write_string(c, args[0], new, expire, raw_enc=old is not None)  # a new key: as SET
    return len(new)


@command("strlen", 2, "readonly fast")
def strlen(c, args):
    value, _ = read_string(c, args[0])
    return len(value) if value is not None else 0


def clamp_range(start: int, end: int, length: int) -> tuple[int, int] | None:
    """GETRANGE/BITCOUNT's start/end normalisation (negative from the end, both clamped to
    0..length-1, as Redis 7.0's getrangeCommand); None when empty."""
    if start < 0:
        start += length
    if end < 0:
        end += length
    start = max(start, 0)
    end = min(max(end, 0), length - 1)
    if start > end or length == 0:
        return None
    return start, end


@command("getrange", 4, "readonly")
def getrange(c, args):
    start, end = parse_int(args[1]), parse_int(args[2])
    value, _ = read_string(c, args[0])
    if not value:
        return b""
    if start < 0 and end < 0 and start > end:
        return b""
    span = clamp_range(start, end, len(value))
    return b"" if span is None else value[span[0] : span[1] + 1]


@command("substr", 4, "readonly")
def substr(c, args):
    return getrange(c, args)


@command("setrange", 4, "write denyoom")
def setrange(c, args):
    offset = parse_int(args[1])
    if offset < 0:
        raise Error("ERR offset is out of range")
    piece = args[2]
    old, expire = read_string(c, args[0])
    if not piece:
        return len(old or b"")
    if offset + len(piece) > max_size(c):
        raise TOO_BIG
    buf = bytearray(old or b"")
    if len(buf) < offset + len(piece):
        buf.extend(b"\x00" * (offset + len(piece) - len(buf)))
    buf[offset : offset + len(piece)] = piece
    write_string(c, args[0], bytes(buf), expire, raw_enc=True)
    return len(buf)


BIT_OFFSET_ERROR = Error("ERR bit offset is not an integer or out of range")


def _bit_offset(raw: bytes) -> int:
    """A SETBIT/GETBIT offset: an integer in [0, 2**32), with one error for anything else."""
    try:
        offset = parse_int(raw)
    except Error:
        raise BIT_OFFSET_ERROR from None
    if offset < 0 or offset >= 4 * 1024 * 1024 * 1024:
        raise BIT_OFFSET_ERROR
    return offset


@command("setbit", 4, "write denyoom")
def setbit(c, args):
    offset = _bit_offset(args[1])
    if offset // 8 >= max_size(c):
        raise BIT_OFFSET_ERROR
    if args[2] not in (b"0", b"1"):
        raise Error("ERR bit is not an integer or out of range")
    old, expire = read_string(c, args[0])
    buf = bytearray(old or b"")
    byte = offset >> 3
    grown = old is None or len(buf) <= byte
    if len(buf) <= byte:
        buf.extend(b"\x00" * (byte + 1 - len(buf)))
    mask = 1 << (7 - (offset & 7))
    previous = 1 if buf[byte] & mask else 0
    if not grown and previous == (args[2] == b"1"):
        c.propagate = []  # nothing changed: Redis neither counts (dirty) nor propagates it
        return previous
    if args[2] == b"1":
        buf[byte] |= mask
    else:
        buf[byte] &= ~mask & 0xFF
    write_string(c, args[0], bytes(buf), expire, raw_enc=True)
    return previous


@command("getbit", 3, "readonly fast")
def getbit(c, args):
    offset = _bit_offset(args[1])
    value, _ = read_string(c, args[0])
    byte = offset >> 3
    if value is None or byte >= len(value):
        return 0
    return 1 if value[byte] & (1 << (7 - (offset & 7))) else 0


@command("bitcount", -2, "readonly")
def bitcount(c, args):
    # Redis 7.0 looks the key up (0 when missing, WRONGTYPE) before checking the arguments.
    value, _ = read_string(c, args[0])
    if value is None:
        return 0
    if len(args) not in (1, 3, 4):
        raise SYNTAX_ERROR
    if len(args) == 1:
        return int.from_bytes(value, "big").bit_count()
    start, end = parse_int(args[1]), parse_int(args[2])
    if start < 0 and end < 0 and start > end:
        return 0  # Redis answers this before looking at BYTE/BIT
    unit = args[3].upper() if len(args) == 4 else b"BYTE"
    if unit not in (b"BYTE", b"BIT"):
        raise SYNTAX_ERROR
    if not value:
        return 0
    if unit == b"BYTE":
        span = clamp_range(start, end, len(value))
        if span is None:
            return 0
        return int.from_bytes(value[span[0] : span[1] + 1], "big").bit_count()
    span = clamp_range(start, end, len(value) * 8)
    if span is None:
        return 0
    bits = int.from_bytes(value, "big")
    total = len(value) * 8
    width = span[1] - span[0] + 1
    return ((bits >> (total - 1 - span[1])) & ((1 << width) - 1)).bit_count()
