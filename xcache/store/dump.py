"""DUMP and RESTORE in Redis 7.0's format: an RDB-serialised value, the RDB version (10, two bytes
little-endian) and a CRC64 (Jones, as Redis's crc64.c) of all that, little-endian.

DUMP writes the plain RDB encodings every Redis since 2.x loads: strings (integer-encoded when
Redis would), RDB_TYPE_LIST, RDB_TYPE_SET, RDB_TYPE_ZSET_2 (binary scores) and RDB_TYPE_HASH;
streams as RDB_TYPE_STREAM_LISTPACKS_2 (Redis 7.0's), nodes of 100 entries built as t_stream.c.
RESTORE reads what Redis 7.0 writes or loads: strings (raw, integer, LZF-compressed), lists
(linked, ziplist, quicklist of ziplists, quicklist 2 of listpacks/plain nodes), sets (hashtable,
intset, listpack), sorted sets (ZSET, ZSET_2, ziplist, listpack) and hashes (hashtable, ziplist,
listpack), streams (STREAM_LISTPACKS and _2, with consumer groups). Modules and zipmap hashes are
refused ("Bad data format").

Bound: both directions hold the event loop for O(size of the value) (the CRC64 is pure Python,
about 10 MB/s), like DUMP/RESTORE in Redis itself; MIGRATE does not use them (it moves keys as
commands, chunked).
"""

from __future__ import annotations

import math
import struct

from xcache.resp import OK, Error
from xcache.store.commands import SYNTAX_ERROR, command, parse_int
from xcache.store.engine import (
    HASH,
    LIST,
    LIST_MIDDLE,
    SET,
    STREAM,
    STRING,
    ZSET,
    Meta,
    data_prefix,
    encode_score,
    now_ms,
    pack_double,
    unpack_double,
)

RDB_VERSION = 10
T_STRING, T_LIST, T_SET, T_ZSET, T_HASH, T_ZSET_2 = 0, 1, 2, 3, 4, 5
T_HASH_ZIPMAP, T_LIST_ZIPLIST, T_SET_INTSET, T_ZSET_ZIPLIST, T_HASH_ZIPLIST = 9, 10, 11, 12, 13
T_LIST_QUICKLIST, T_HASH_LISTPACK, T_ZSET_LISTPACK, T_LIST_QUICKLIST_2 = 14, 16, 17, 18
T_SET_LISTPACK = 20
BAD_PAYLOAD = Error("ERR DUMP payload version or checksum are wrong")
BAD_FORMAT = Error("ERR Bad data format")
BUSYKEY = Error("BUSYKEY Target key name already exists.")


# --- CRC64 (Jones polynomial, reflected, as Redis's crc64.c) -----------------------------------

def _crc_table() -> list[int]:
    poly = 0x95AC9329AC4BC9B5  # 0xad93d23594c935a9 reflected
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC = _crc_table()


def crc64(data: bytes, crc: int = 0) -> int:
    table = _CRC
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc


# --- LZF decompression (lzf_d.c) ---------------------------------------------------------------

def lzf_decompress(data: bytes, out_len: int) -> bytes:
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        ctrl = data[i]
        i += 1
        if ctrl < 32:
            ctrl += 1
            if i + ctrl > n:
                raise ValueError("lzf: input overrun")
            out += data[i:i + ctrl]
            i += ctrl
        else:
            length = ctrl >> 5
            ref = len(out) - ((ctrl & 0x1F) << 8) - 1
            if length == 7:
                length += data[i]
                i += 1
            ref -= data[i]
            i += 1
            length += 2
            if ref < 0:
                raise ValueError("lzf: back reference before the start")
            for _ in range(length):  # byte by byte: the reference may overlap the output
                out.append(out[ref])
                ref += 1
        if len(out) > out_len:
            raise ValueError("lzf: output overrun")
    if len(out) != out_len:
        raise ValueError("lzf: wrong length")
    return bytes(out)


# --- writing --------------------------------------------------------------------------------

def _len(n: int) -> bytes:
    if n < 64:
        return bytes((n,))
    if n < 16384:
        return bytes((0x40 | (n >> 8), n & 0xFF))
    if n <= 0xFFFFFFFF:
        return b"\x80" + struct.pack(">I", n)
    return b"\x81" + struct.pack(">Q", n)


def _string(s: bytes) -> bytes:
    """rdbSaveRawString: integer encodings for short integers, else length + bytes."""
    if 0 < len(s) <= 11:
        try:
            v = int(s)
        except ValueError:
            v = None
        if v is not None and b"%d" % v == s:
            if -(1 << 7) <= v < (1 << 7):
                return b"\xc0" + struct.pack("<b", v)
            if -(1 << 15) <= v < (1 << 15):
                return b"\xc1" + struct.pack("<h", v)
            if -(1 << 31) <= v < (1 << 31):
                return b"\xc2" + struct.pack("<i", v)
    return _len(len(s)) + s


def serialize(engine, db: int, key: bytes, meta: Meta) -> bytes:
    """The DUMP payload of key."""
    if meta.type == STRING:
        body = bytes((T_STRING,)) + _string(meta.value)
    else:
        prefix = data_prefix(db, key, meta.version)
        n = len(prefix)
        items = [] if meta.type == STREAM else [(k[n:], v) for k, v in engine.scan(engine.data, prefix)]
        parts = [_len(len(items))]
        if meta.type == LIST:
            kind = T_LIST
            parts += [_string(v) for _, v in items]
        elif meta.type == SET:
            kind = T_SET
            parts += [_string(m) for m, _ in items]
        elif meta.type == ZSET:
            kind = T_ZSET_2
            parts += [_string(m) + struct.pack("<d", unpack_double(v)) for m, v in items]
        elif meta.type == HASH:
            kind = T_HASH
            parts += [_string(f) + _string(v) for f, v in items]
        elif meta.type == STREAM:
            parts, kind = [serialize_stream(engine, db, key, meta)[1:]], T_STREAM_2
        else:
            raise Error("ERR DUMP of this type is not supported by xcache")
        body = bytes((kind,)) + b"".join(parts)
    body += struct.pack("<H", RDB_VERSION)
    return body + struct.pack("<Q", crc64(body))


# --- reading --------------------------------------------------------------------------------

class _Reader:
    def __init__(self, data: bytes):
        self.d = data
        self.i = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.i + n > len(self.d):
            raise ValueError("short payload")
        out = self.d[self.i:self.i + n]
        self.i += n
        return out

    def byte(self) -> int:
        return self.take(1)[0]

    def length(self) -> tuple[int, bool]:
        """-> (length, is_encoded) as rdbLoadLenByRef."""
        b = self.byte()
        kind = b >> 6
        if kind == 0:
            return b & 0x3F, False
        if kind == 1:
            return ((b & 0x3F) << 8) | self.byte(), False
        if kind == 3:
            return b & 0x3F, True
        if b == 0x80:
            return struct.unpack(">I", self.take(4))[0], False
        if b == 0x81:
            return struct.unpack(">Q", self.take(8))[0], False
        raise ValueError("bad length")

    def count(self) -> int:
        n, enc = self.length()
        if enc:
            raise ValueError("encoded length")
        return n

    def string(self) -> bytes:
        n, enc = self.length()
        if not enc:
            return self.take(n)
        if n == 0:
            return b"%d" % struct.unpack("<b", self.take(1))[0]
        if n == 1:
            return b"%d" % struct.unpack("<h", self.take(2))[0]
        if n == 2:
            return b"%d" % struct.unpack("<i", self.take(4))[0]
        if n == 3:
            clen = self.count()
            ulen = self.count()
            return lzf_decompress(self.take(clen), ulen)
        raise ValueError("unknown string encoding")

    def double_text(self) -> float:
        """RDB_TYPE_ZSET's scores: a length byte and ASCII (253 nan, 254 +inf, 255 -inf)."""
        n = self.byte()
        if n == 253:
            return math.nan
        if n == 254:
            return math.inf
        if n == 255:
            return -math.inf
        return float(self.take(n).decode())


def _listpack(blob: bytes) -> list[bytes]:
    """Entries of a listpack (listpack.c), integers as their decimal text."""
    if len(blob) < 7 or struct.unpack_from("<I", blob)[0] != len(blob):
        raise ValueError("bad listpack")
    out, i = [], 6
    while True:
        b = blob[i]
        if b == 0xFF:
            break
        if b < 0x80:
            value, size = b"%d" % b, 1
        elif b >> 6 == 2:
            n = b & 0x3F
            value, size = blob[i + 1:i + 1 + n], 1 + n
        elif b >> 5 == 6:
            v = ((b & 0x1F) << 8) | blob[i + 1]
            value, size = b"%d" % (v - (1 << 13) if v >= 1 << 12 else v), 2
        elif b >> 4 == 14:
            n = ((b & 0x0F) << 8) | blob[i + 1]
            value, size = blob[i + 2:i + 2 + n], 2 + n
        elif b == 0xF0:
            n = struct.unpack_from("<I", blob, i + 1)[0]
            value, size = blob[i + 5:i + 5 + n], 5 + n
        elif b in (0xF1, 0xF2, 0xF3, 0xF4):
            w = {0xF1: 2, 0xF2: 3, 0xF3: 4, 0xF4: 8}[b]
            value = b"%d" % int.from_bytes(blob[i + 1:i + 1 + w], "little", signed=True)
            size = 1 + w
        else:
            raise ValueError("bad listpack entry")
        out.append(value)
        back = 1 if size <= 127 else 2 if size < 16383 else 3 if size < 2097151 else 4 if size < 268435455 else 5
        i += size + back
        if i >= len(blob):
            raise ValueError("listpack overrun")
    return out


def _ziplist(blob: bytes) -> list[bytes]:
    """Entries of a ziplist (ziplist.c), integers as their decimal text."""
    if len(blob) < 11 or struct.unpack_from("<I", blob)[0] != len(blob):
        raise ValueError("bad ziplist")
    out, i = [], 10
    while True:
        if blob[i] == 0xFF:
            break
        i += 1 if blob[i] < 254 else 5  # prevlen
        b = blob[i]
        kind = b >> 6
        if kind == 0:
            n = b & 0x3F
            out.append(blob[i + 1:i + 1 + n])
            i += 1 + n
        elif kind == 1:
            n = ((b & 0x3F) << 8) | blob[i + 1]
            out.append(blob[i + 2:i + 2 + n])
            i += 2 + n
        elif b == 0x80:
            n = struct.unpack_from(">I", blob, i + 1)[0]
            out.append(blob[i + 5:i + 5 + n])
            i += 5 + n
        else:
            widths = {0xC0: 2, 0xD0: 4, 0xE0: 8, 0xF0: 3, 0xFE: 1}
            if b in widths:
                w = widths[b]
                out.append(b"%d" % int.from_bytes(blob[i + 1:i + 1 + w], "little", signed=True))
                i += 1 + w
            elif 0xF1 <= b <= 0xFD:
                out.append(b"%d" % ((b & 0x0F) - 1))
                i += 1
            else:
                raise ValueError("bad ziplist entry")
        if i >= len(blob):
            raise ValueError("ziplist overrun")
    return out


def _intset(blob: bytes) -> list[bytes]:
    enc, n = struct.unpack_from("<II", blob)
    if enc not in (2, 4, 8) or len(blob) != 8 + enc * n:
        raise ValueError("bad intset")
    return [b"%d" % int.from_bytes(blob[8 + k * enc:8 + (k + 1) * enc], "little", signed=True)
            for k in range(n)]


def _pairs(items: list[bytes]) -> list[tuple[bytes, bytes]]:
    if len(items) % 2:
        raise ValueError("odd number of elements")
    return list(zip(items[0::2], items[1::2], strict=True))


def _score(raw: bytes) -> float:
    value = float(raw)
    if math.isnan(value):
        raise ValueError("nan score")
    return value


def deserialize(payload: bytes) -> tuple[int, object]:
    """-> (xcache type, value): bytes, list of elements/members, or list of pairs."""
    r = _Reader(payload[:-10])
    t = r.byte()
    if t == T_STRING:
        return STRING, r.string()
    if t == T_LIST:
        return LIST, [r.string() for _ in range(r.count())]
    if t == T_LIST_ZIPLIST:
        return LIST, _ziplist(r.string())
    if t == T_LIST_QUICKLIST:
        return LIST, [e for _ in range(r.count()) for e in _ziplist(r.string())]
    if t == T_LIST_QUICKLIST_2:
        out = []
        for _ in range(r.count()):
            container = r.count()
            blob = r.string()
            if container == 1:  # PLAIN node: one element
                out.append(blob)
            elif container == 2:
                out += _listpack(blob)
            else:
                raise ValueError("bad quicklist container")
        return LIST, out
    if t == T_SET:
        return SET, [r.string() for _ in range(r.count())]
    if t == T_SET_INTSET:
        return SET, _intset(r.string())
    if t == T_SET_LISTPACK:
        return SET, _listpack(r.string())
    if t == T_ZSET:
        out = []
        for _ in range(r.count()):
            member = r.string()
            score = r.double_text()
            if math.isnan(score):
                raise ValueError("nan score")
            out.append((member, score))
        return ZSET, out
    if t == T_ZSET_2:
        out = []
        for _ in range(r.count()):
            member = r.string()
            (score,) = struct.unpack("<d", r.take(8))
            if math.isnan(score):
                raise ValueError("nan score")
            out.append((member, score))
        return ZSET, out
    if t in (T_ZSET_ZIPLIST, T_ZSET_LISTPACK):
        items = (_ziplist if t == T_ZSET_ZIPLIST else _listpack)(r.string())
        return ZSET, [(m, _score(s)) for m, s in _pairs(items)]
    if t == T_HASH:
        return HASH, [(r.string(), r.string()) for _ in range(r.count())]
    if t in (T_HASH_ZIPLIST, T_HASH_LISTPACK):
        items = (_ziplist if t == T_HASH_ZIPLIST else _listpack)(r.string())
        return HASH, _pairs(items)
    if t in (T_STREAM, T_STREAM_2):
        return STREAM, deserialize_stream(r, t)
    raise ValueError(f"unsupported RDB type {t}")


def verify(payload: bytes) -> bool:
    """verifyDumpPayload: version not newer than ours, CRC64 of everything before it."""
    if len(payload) < 10:
        return False
    version = struct.unpack_from("<H", payload, len(payload) - 10)[0]
    if version > RDB_VERSION:
        return False
    return struct.unpack_from("<Q", payload, len(payload) - 8)[0] == crc64(payload[:-8])


def store(c, b, key: bytes, type_: int, value, expire_ms: int) -> None:
    """Stage key := value (replacing whatever key held) into batch b."""
    engine = c.engine
    if type_ == STRING:
        b.put_meta(c.db, key, Meta(STRING, expire_ms, value=value))
        return
    if type_ == STREAM:
        store_stream(c, b, key, value, expire_ms)
        return
    meta = engine.new_collection(type_)
    meta.expire_ms = expire_ms
    prefix = data_prefix(c.db, key, meta.version)
    if type_ == LIST:
        for i, element in enumerate(value):
            b.put_data(prefix + struct.pack(">Q", LIST_MIDDLE + i), element)
        meta.count = len(value)
        meta.tail = LIST_MIDDLE + len(value)
    elif type_ == SET:
        members = dict.fromkeys(value)
        for m in members:
            b.put_data(prefix + m, b"")
        meta.count = len(members)
    elif type_ == HASH:
        fields = dict(value)
        for f, v in fields.items():
            b.put_data(prefix + f, v)
        meta.count = len(fields)
    else:
        scores = dict(value)
        for m, s in scores.items():
            b.put_data(prefix + m, pack_double(s))
            b.put_score(prefix + encode_score(s) + m)
        meta.count = len(scores)
    b.put_meta(c.db, key, meta)


# --- commands -------------------------------------------------------------------------------

@command("dump", 2, "readonly")
def dump(c, args):
    meta = c.engine.get_meta(c.db, args[0])
    if meta is None:
        return None
    return serialize(c.engine, c.db, args[0], meta)


@command("restore", -4, "write denyoom")
def restore(c, args):
    key, ttl_raw, payload = args[0], args[1], args[2]
    replace = absttl = False
    idle = freq = -1
    j = 3
    while j < len(args):
        opt = args[j].upper()
        more = len(args) - j - 1
        if opt == b"REPLACE":
            replace = True
        elif opt == b"ABSTTL":
            absttl = True
        elif opt == b"IDLETIME" and more >= 1 and freq == -1:
            idle = parse_int(args[j + 1])
            if idle < 0:
                raise Error("ERR Invalid IDLETIME value, must be >= 0")
            j += 1
        elif opt == b"FREQ" and more >= 1 and idle == -1:
            freq = parse_int(args[j + 1])
            if freq < 0 or freq > 255:
                raise Error("ERR Invalid FREQ value, must be >= 0 and <= 255")
            j += 1
        else:
            raise SYNTAX_ERROR
        j += 1
    existing = c.engine.get_meta(c.db, key)
    if not replace and existing is not None:
        raise BUSYKEY
    ttl = parse_int(ttl_raw)
    if ttl < 0:
        raise Error("ERR Invalid TTL value, must be >= 0")
    if not verify(payload):
        raise BAD_PAYLOAD
    try:
        type_, value = deserialize(payload)
    except (ValueError, IndexError, KeyError, struct.error, OverflowError, UnicodeDecodeError):
        raise BAD_FORMAT from None
    if type_ not in (STRING, STREAM) and not value:
        raise BAD_FORMAT  # Redis refuses empty collections (a stream may be empty)
    expire_ms = (ttl if absttl else ttl + now_ms()) if ttl else 0
    b = c.engine.batch()
    if expire_ms and expire_ms <= now_ms():  # already expired: only the old key goes
        if existing is not None:
            b.delete_meta(c.db, key)
            c.engine.commit(b)
            c.propagate = [b"DEL", key]
        else:
            c.propagate = []
        return OK
    store(c, b, key, type_, value, expire_ms)
    c.engine.commit(b)
    if type_ in (LIST, STREAM):
        c.server.signal_key(c.db, key)
    # Replicas get the absolute expiry, so they expire the key when this node does.
    c.propagate = [b"RESTORE", key, b"%d" % expire_ms, payload, b"REPLACE"] + (
        [b"ABSTTL"] if expire_ms else [])
    return OK


# --- streams (RDB_TYPE_STREAM_LISTPACKS_2, Redis 7.0) -------------------------------------------

T_STREAM, T_STREAM_2 = 15, 19
NODE_ENTRIES = 100
FLAG_DELETED, FLAG_SAMEFIELDS = 1, 2
_U64 = (1 << 64) - 1


def _lp_int(v: int) -> bytes:
    if 0 <= v <= 127:
        return bytes((v,))
    if -4096 <= v <= 4095:
        u = v & 0x1FFF
        return bytes((0xC0 | (u >> 8), u & 0xFF))
    for tag, width in ((0xF1, 2), (0xF2, 3), (0xF3, 4), (0xF4, 8)):
        if -(1 << (8 * width - 1)) <= v < (1 << (8 * width - 1)):
            return bytes((tag,)) + v.to_bytes(width, "little", signed=True)
    raise ValueError("integer out of range")


def _lp_entry(value: bytes | int) -> bytes:
    """One listpack entry (encoding, data, backlen), integers encoded as listpack.c does."""
    if isinstance(value, int):
        body = _lp_int(value)
    else:
        as_int = None
        if 0 < len(value) <= 20:
            try:
                n = int(value)
            except ValueError:
                n = None
            if n is not None and b"%d" % n == value and -(1 << 63) <= n < (1 << 63):
                as_int = n
        if as_int is not None:
            body = _lp_int(as_int)
        elif len(value) < 64:
            body = bytes((0x80 | len(value),)) + value
        elif len(value) < 4096:
            body = bytes((0xE0 | (len(value) >> 8), len(value) & 0xFF)) + value
        else:
            body = b"\xf0" + struct.pack("<I", len(value)) + value
    n = len(body)
    if n <= 127:
        back = bytes((n,))
    else:
        parts = []
        while n:
            parts.append(n & 127)
            n >>= 7
        parts.reverse()
        back = bytes([parts[0]] + [p | 128 for p in parts[1:]])
    return body + back


def _listpack_of(values: list) -> bytes:
    entries = b"".join(_lp_entry(v) for v in values)
    total = 6 + len(entries) + 1
    return struct.pack("<IH", total, min(len(values), 65535)) + entries + b"\xff"


def _node(entries: list[tuple[tuple[int, int], list[bytes]]]) -> tuple[bytes, bytes]:
    """A stream node: its master id (16 bytes) and listpack, as t_stream.c builds them."""
    master_id = entries[0][0]
    master_fields = entries[0][1][0::2]
    values: list = [len(entries), 0, len(master_fields), *master_fields, 0]
    for (ms, seq), fv in entries:
        fields = fv[0::2]
        same = fields == master_fields
        values += [FLAG_SAMEFIELDS if same else 0, ms - master_id[0], seq - master_id[1]]
        if same:
            values += fv[1::2]
            values.append(len(master_fields) + 3)
        else:
            values.append(len(fields))
            values += fv
            values.append(len(fv) + 4)
    return struct.pack(">QQ", *master_id), _listpack_of(values)


def _ms_time(v: int) -> bytes:
    return struct.pack("<q", v)


def serialize_stream(engine, db: int, key: bytes, meta: Meta) -> bytes:
    from xcache.store.streams import MAX_ID, ZERO_ID, Stream

    view = _View(engine, db)
    s = Stream(view, key, meta)
    entries = list(s.range(ZERO_ID, MAX_ID))
    nodes = [_node(entries[i:i + NODE_ENTRIES]) for i in range(0, len(entries), NODE_ENTRIES)]
    out = [bytes((T_STREAM_2,)), _len(len(nodes))]
    for master, lp in nodes:
        out += [_len(16) + master, _len(len(lp)) + lp]
    out += [_len(s.length), _len(s.last_id[0]), _len(s.last_id[1]), _len(s.first_id[0]),
            _len(s.first_id[1]), _len(s.max_deleted[0]), _len(s.max_deleted[1]),
            _len(s.entries_added)]
    groups = s.all_groups()
    out.append(_len(len(groups)))
    for g in groups:
        out += [_string(g.name), _len(g.last_id[0]), _len(g.last_id[1]),
                _len(g.entries_read & _U64)]
        pel = list(s.group_pel(g.name))
        out.append(_len(len(pel)))
        for n in pel:
            out += [struct.pack(">QQ", *n.id), _ms_time(n.delivery_ms), _len(n.count)]
        consumers = s.consumers(g.name)
        out.append(_len(len(consumers)))
        for name, seen, _ in consumers:
            ids = list(s.consumer_pel(g.name, name))
            out += [_string(name), _ms_time(seen), _len(len(ids))]
            out += [struct.pack(">QQ", *i) for i in ids]
    return b"".join(out)


class _View:
    """What streams.Stream needs of a client: engine and db."""

    def __init__(self, engine, db: int):
        self.engine = engine
        self.db = db


def _stream_entries(r: _Reader) -> list:
    out = []
    for _ in range(r.count()):
        master = r.string()
        if len(master) != 16:
            raise ValueError("bad stream node key")
        mms, mseq = struct.unpack(">QQ", master)
        items = _listpack(r.string())
        if not items:
            raise ValueError("empty stream node")
        nfields = int(items[2])
        master_fields = items[3:3 + nfields]
        i = 3 + nfields + 1
        while i < len(items):
            flags, dms, dseq = int(items[i]), int(items[i + 1]), int(items[i + 2])
            i += 3
            if flags & FLAG_SAMEFIELDS:
                vals = items[i:i + nfields]
                fv = [x for pair in zip(master_fields, vals, strict=True) for x in pair]
                i += nfields
            else:
                n = int(items[i])
                fv = items[i + 1:i + 1 + 2 * n]
                i += 1 + 2 * n
            i += 1  # lp-count
            if not flags & FLAG_DELETED:
                out.append(((mms + dms, mseq + dseq), fv))
    return out


def deserialize_stream(r: _Reader, t: int) -> dict:
    st: dict = {"entries": _stream_entries(r)}
    st["length"] = r.count()
    st["last_id"] = (r.count(), r.count())
    if t == T_STREAM_2:
        st["first_id"] = (r.count(), r.count())
        st["max_deleted"] = (r.count(), r.count())
        st["entries_added"] = r.count()
    else:
        st["first_id"] = st["entries"][0][0] if st["entries"] else (0, 0)
        st["max_deleted"] = (0, 0)
        st["entries_added"] = st["length"]
    groups = []
    for _ in range(r.count()):
        name = r.string()
        last = (r.count(), r.count())
        entries_read = -1
        if t == T_STREAM_2:
            entries_read = r.count()
            if entries_read >= 1 << 63:
                entries_read -= 1 << 64
        pel = {}
        for _ in range(r.count()):
            id_ = struct.unpack(">QQ", r.take(16))
            delivery = struct.unpack("<q", r.take(8))[0]
            pel[id_] = [delivery, r.count(), b""]
        consumers = []
        for _ in range(r.count()):
            cname = r.string()
            seen = struct.unpack("<q", r.take(8))[0]
            ids = [struct.unpack(">QQ", r.take(16)) for _ in range(r.count())]
            for id_ in ids:
                if id_ not in pel:
                    raise ValueError("consumer PEL entry not in the group PEL")
                pel[id_][2] = cname
            consumers.append((cname, seen, len(ids)))
        if any(not owner for _, _, owner in pel.values()):
            raise ValueError("PEL entry without consumer")
        groups.append((name, last, entries_read, pel, consumers))
    st["groups"] = groups
    if len(st["entries"]) != st["length"]:
        raise ValueError("stream length mismatch")
    return st


def store_stream(c, b, key: bytes, st: dict, expire_ms: int) -> None:
    from xcache.store.streams import Group, Nack, Stream

    meta = c.engine.new_collection(STREAM)
    meta.expire_ms = expire_ms
    s = Stream(c, key, meta)
    for id_, fv in st["entries"]:
        b.put_data(s.ekey(id_), encode_fields_of(fv))
    meta.count = st["length"]
    s.last_id, s.first_id, s.max_deleted = st["last_id"], st["first_id"], st["max_deleted"]
    s.entries_added = st["entries_added"]
    s.groups = len(st["groups"])
    for name, last, entries_read, pel, consumers in st["groups"]:
        s.put_group(b, Group(name, last, entries_read, len(pel)))
        for id_, (delivery, count, owner) in pel.items():
            s.put_nack(b, name, Nack(id_, delivery, count, owner))
            b.put_data(s.qkey(name, owner, id_), b"")
        for cname, seen, npel in consumers:
            s.put_consumer(b, name, cname, seen, npel)
    s.save(b)


def encode_fields_of(fv: list[bytes]) -> bytes:
    from xcache.store.streams import encode_fields

    return encode_fields(fv)
