"""Redis 7.0's RDB value encodings, the part DUMP/RESTORE (dump.py, rdb_stream.py) and FUNCTION
DUMP/RESTORE (functions.py) share: type codes, lengths and strings, the CRC64 of the payload
trailer, LZF, and readers of the compact containers (listpack, ziplist, intset)."""

from __future__ import annotations

import math
import struct

from xcache.resp import Error

RDB_VERSION = 10
T_STRING, T_LIST, T_SET, T_ZSET, T_HASH, T_ZSET_2 = 0, 1, 2, 3, 4, 5
T_HASH_ZIPMAP, T_LIST_ZIPLIST, T_SET_INTSET, T_ZSET_ZIPLIST, T_HASH_ZIPLIST = 9, 10, 11, 12, 13
T_LIST_QUICKLIST, T_HASH_LISTPACK, T_ZSET_LISTPACK, T_LIST_QUICKLIST_2 = 14, 16, 17, 18
T_SET_LISTPACK = 20
T_STREAM, T_STREAM_2 = 15, 19
BAD_PAYLOAD = Error("ERR DUMP payload version or checksum are wrong")
BAD_FORMAT = Error("ERR Bad data format")


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


def verify(payload: bytes) -> bool:
    """verifyDumpPayload: version not newer than ours, CRC64 of everything before it."""
    if len(payload) < 10:
        return False
    version = struct.unpack_from("<H", payload, len(payload) - 10)[0]
    if version > RDB_VERSION:
        return False
    return struct.unpack_from("<Q", payload, len(payload) - 8)[0] == crc64(payload[:-8])
