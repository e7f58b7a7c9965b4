"""HyperLogLog: PFADD, PFCOUNT, PFMERGE, PFDEBUG, PFSELFTEST.

An HLL is a string value in Redis's own representation (hyperloglog.c), byte for byte: a 16-byte
header ("HYLL", encoding, 3 unused bytes, the cached cardinality in 8 little-endian bytes whose
top bit flags it stale) followed by either
  dense:  16384 registers of 6 bits, packed little-endian (12288 bytes), or
  sparse: run-length opcodes ZERO 00xxxxxx (1..64 zero registers), XZERO 01xxxxxx yyyyyyyy
          (1..16384 zero registers), VAL 1vvvvvxx (1..4 registers of value 1..32).
A new HLL is sparse and becomes dense when a register needs a value over 32 or the string would
grow past `hll-sparse-max-bytes` (3000). The opcode rewriting below follows Redis's
hllSparseSet step by step, so the same PFADDs give the same bytes here and in Redis: a value
GET from one and SET on the other counts the same.

Cost: O(1) per element in the dense form; in the sparse form a bisection plus a few list edits
(see Sparse); a count or merge decodes the 16384 registers once (numpy).
"""

from __future__ import annotations

import random
from bisect import bisect_right

import numpy as np

from xcache.resp import OK, Error, SimpleString
from xcache.store.commands import command
from xcache.store.engine import WriteStall, read_counted
from xcache.store.strings import read_string, write_string

P = 14
REGISTERS = 1 << P
P_MASK = REGISTERS - 1
Q = 64 - P
HDR = 16
DENSE_SIZE = HDR + (REGISTERS * 6 + 7) // 8
DENSE, SPARSE = 0, 1
SPARSE_MAX_BYTES = 3000  # Redis's hll-sparse-max-bytes default
VAL_MAX_VALUE, VAL_MAX_LEN, ZERO_MAX_LEN, XZERO_MAX_LEN = 32, 4, 64, 16384
ALPHA_INF = 0.721347520444481703680

NOT_HLL = Error("WRONGTYPE Key is not a valid HyperLogLog string value.")
INVALID = Error("INVALIDOBJ Corrupted HLL object detected")

_M64 = (1 << 64) - 1
_MUR_M = 0xC6A4A7935BD1E995
_MUR_R = 47


class Corrupted(Exception):
    """The sparse representation does not cover exactly 16384 registers."""


def murmur64a(data: bytes, seed: int = 0xADC83B19) -> int:
    """MurmurHash64A as Redis computes it (little-endian 64-bit blocks)."""
    n = len(data)
    h = (seed ^ (n * _MUR_M)) & _M64
    nblocks = n // 8
    for i in range(nblocks):
        k = int.from_bytes(data[8 * i:8 * i + 8], "little")
        k = (k * _MUR_M) & _M64
        k ^= k >> _MUR_R
        k = (k * _MUR_M) & _M64
        h ^= k
        h = (h * _MUR_M) & _M64
    tail = data[8 * nblocks:]
    if tail:
        h ^= int.from_bytes(tail, "little")
        h = (h * _MUR_M) & _M64
    h ^= h >> _MUR_R
    h = (h * _MUR_M) & _M64
    h ^= h >> _MUR_R
    return h


def pat_len(element: bytes) -> tuple[int, int]:
    """-> (register index, length of the 000..1 pattern) of element (hllPatLen)."""
    h = murmur64a(element)
    index = h & P_MASK
    h = (h >> P) | (1 << Q)
    count = (h & -h).bit_length()  # position of the lowest set bit, 1-based
    return index, count


# --- representations --------------------------------------------------------------------------


def new_sparse() -> bytearray:
    """An empty HLL as createHLLObject makes it: sparse, XZERO opcodes over every register."""
    buf = bytearray(b"HYLL" + bytes((SPARSE,)) + b"\x00" * 11)
    left = REGISTERS
    while left:
        n = min(XZERO_MAX_LEN, left)
        buf += bytes((((n - 1) >> 8) | 0x40, (n - 1) & 0xFF))
        left -= n
    return buf


def is_hll(value: bytes) -> bool:
    """isHLLObjectOrReply's checks (the type check is done by the caller)."""
    if len(value) < HDR or value[:4] != b"HYLL" or value[4] > 1:
        return False
    return not (value[4] == DENSE and len(value) != DENSE_SIZE)


def invalidate(buf: bytearray) -> None:
    buf[15] |= 0x80


def _val(value: int, length: int) -> int:
    return 0x80 | ((value - 1) << 2) | (length - 1)


def _zero_run(n: int) -> bytes:
    if n > ZERO_MAX_LEN:
        return bytes((((n - 1) >> 8) | 0x40, (n - 1) & 0xFF))
    return bytes((n - 1,))


def dense_get(buf, index: int) -> int:
    pos = HDR + index * 6 // 8
    fb = index * 6 & 7
    b1 = buf[pos + 1] if pos + 1 < len(buf) else 0
    return ((buf[pos] >> fb) | (b1 << (8 - fb))) & 63


def dense_set(buf: bytearray, index: int, count: int) -> int:
    """hllDenseSet: raise register index to count; 1 if it changed."""
    if count <= dense_get(buf, index):
        return 0
    pos = HDR + index * 6 // 8
    fb = index * 6 & 7
    buf[pos] = (buf[pos] & ~(63 << fb) & 0xFF) | ((count << fb) & 0xFF)
    if pos + 1 < len(buf):
        fb8 = 8 - fb
        buf[pos + 1] = (buf[pos + 1] & ~(63 >> fb8) & 0xFF) | (count >> fb8)
    return 1


def sparse_registers(buf) -> np.ndarray:
    """The 16384 registers of a sparse HLL (raises Corrupted)."""
    regs = bytearray(REGISTERS)
    idx, p, end = 0, HDR, len(buf)
    while p < end:
        b = buf[p]
        if b & 0x80:
            n = (b & 3) + 1
            if idx + n > REGISTERS:
                raise Corrupted
            regs[idx:idx + n] = _RUNS[b & 0x7F]
            idx += n
            p += 1
        elif b & 0x40:
            if p + 1 >= end:
                raise Corrupted
            idx += (((b & 0x3F) << 8) | buf[p + 1]) + 1
            p += 2
        else:
            idx += (b & 0x3F) + 1
            p += 1
    if idx != REGISTERS:
        raise Corrupted
    return np.frombuffer(bytes(regs), dtype=np.uint8).copy()


# VAL opcode (without its top bit) -> the run of registers it stands for
_RUNS = [bytes((((op >> 2) & 0x1F) + 1,)) * ((op & 3) + 1) for op in range(128)]


def dense_registers(buf) -> np.ndarray:
    raw = np.frombuffer(bytes(buf[HDR:DENSE_SIZE]), dtype=np.uint8).reshape(-1, 3).astype(np.uint16)
    b0, b1, b2 = raw[:, 0], raw[:, 1], raw[:, 2]
    out = np.empty((raw.shape[0], 4), dtype=np.uint8)
    out[:, 0] = b0 & 63
    out[:, 1] = ((b0 >> 6) | (b1 << 2)) & 63
    out[:, 2] = ((b1 >> 4) | (b2 << 4)) & 63
    out[:, 3] = b2 >> 2
    return out.reshape(-1)


def registers(buf) -> np.ndarray:
    return dense_registers(buf) if buf[4] == DENSE else sparse_registers(buf)


def pack_dense(regs: np.ndarray) -> bytes:
    r = regs.astype(np.uint16).reshape(-1, 4)
    out = np.empty((r.shape[0], 3), dtype=np.uint8)
    out[:, 0] = (r[:, 0] | (r[:, 1] << 6)) & 0xFF
    out[:, 1] = ((r[:, 1] >> 2) | (r[:, 2] << 4)) & 0xFF
    out[:, 2] = ((r[:, 2] >> 4) | (r[:, 3] << 2)) & 0xFF
    return out.tobytes()


def to_dense(buf: bytearray) -> bytearray:
    """hllSparseToDense: same header (cached cardinality included), dense registers."""
    if buf[4] == DENSE:
        return buf
    regs = sparse_registers(buf)
    out = bytearray(buf[:HDR])
    out[4] = DENSE
    out += pack_dense(regs)
    return out


class Promote(Exception):
    """The sparse HLL must become dense (a register over 32, or more than max_bytes)."""


class Sparse:
    """A sparse HLL being updated: its opcodes as a list, with the first register each covers.

    Splitting an opcode or merging two keeps the registers covered by the others, so `firsts`
    changes only where opcodes are replaced: finding a register's opcode is a bisection, and an
    update costs list edits (C speed) rather than a walk over the bytes. The edits are exactly
    hllSparseSet's, so to_bytes() gives Redis's bytes.
    """

    __slots__ = ("header", "ops", "firsts", "size", "max_bytes")

    def __init__(self, buf, max_bytes: int):
        self.header = bytearray(buf[:HDR])
        self.max_bytes = max_bytes
        ops: list[bytes] = []
        firsts: list[int] = []
        first, p, end = 0, HDR, len(buf)
        while p < end:
            b = buf[p]
            n = 2 if not b & 0x80 and b & 0x40 else 1
            op = bytes(buf[p:p + n])
            if len(op) < n:
                break
            ops.append(op)
            firsts.append(first)
            first += _span(op)
            p += n
        self.ops, self.firsts = ops, firsts
        self.size = len(buf)

    def to_bytes(self) -> bytearray:
        return self.header + b"".join(self.ops)

    def set(self, index: int, count: int) -> int:
        """hllSparseSet: raise register index to count -> 1 if it grew; raises Promote."""
        if count > VAL_MAX_VALUE:
            raise Promote
        ops, firsts = self.ops, self.firsts
        k = bisect_right(firsts, index) - 1
        if k < 0 or index > firsts[k] + _span(ops[k]) - 1:
            raise Corrupted
        op, first = ops[k], firsts[k]
        b = op[0]
        span = _span(op)
        if b & 0x80:
            old = ((b >> 2) & 0x1F) + 1
            if old >= count:
                return 0
        if (b & 0x80 or not b & 0x40) and span == 1:
            ops[k] = bytes((_val(count, 1),))
        else:
            last = first + span - 1
            seq, seq_firsts = [], []
            if index != first:
                seq.append(bytes((_val(old, index - first),)) if b & 0x80 else _zero_run(index - first))
                seq_firsts.append(first)
            seq.append(bytes((_val(count, 1),)))
            seq_firsts.append(index)
            if index != last:
                seq.append(bytes((_val(old, last - index),)) if b & 0x80 else _zero_run(last - index))
                seq_firsts.append(index + 1)
            delta = sum(len(x) for x in seq) - len(op)
            if delta > 0 and self.size + delta > self.max_bytes:
                raise Promote
            ops[k:k + 1] = seq
            firsts[k:k + 1] = seq_firsts
            self.size += delta
        # Step 4: merge adjacent VAL opcodes of equal value, up to 5 opcodes from the previous one.
        i = k - 1 if k > 0 else 0
        scan = 5
        while i < len(ops) and scan:
            scan -= 1
            a = ops[i][0]
            if not a & 0x80:
                i += 1
                continue
            if i + 1 < len(ops) and ops[i + 1][0] & 0x80:
                a2 = ops[i + 1][0]
                if (a >> 2) & 0x1F == (a2 >> 2) & 0x1F:
                    n = (a & 3) + (a2 & 3) + 2
                    if n <= VAL_MAX_LEN:
                        ops[i] = bytes((_val(((a >> 2) & 0x1F) + 1, n),))
                        del ops[i + 1]
                        del firsts[i + 1]
                        self.size -= 1
                        continue
            i += 1
        self.header[15] |= 0x80
        return 1


def _span(op: bytes) -> int:
    b = op[0]
    if b & 0x80:
        return (b & 3) + 1
    if b & 0x40:
        return (((b & 0x3F) << 8) | op[1]) + 1
    return (b & 0x3F) + 1


class Registers:
    """An HLL being updated register by register, sparse while it can, then dense."""

    def __init__(self, buf: bytearray, max_bytes: int):
        self.dense = buf if buf[4] == DENSE else None
        self.sparse = None if self.dense is not None else Sparse(buf, max_bytes)

    def set(self, index: int, count: int) -> int:
        if self.sparse is not None:
            try:
                return self.sparse.set(index, count)
            except Promote:
                self.dense = to_dense(self.sparse.to_bytes())
                self.sparse = None
        return dense_set(self.dense, index, count)

    def add(self, element: bytes) -> int:
        return self.set(*pat_len(element))

    def to_bytes(self) -> bytearray:
        return self.dense if self.sparse is None else self.sparse.to_bytes()


# --- cardinality ---------------------------------------------------------------------------


def _tau(x: float) -> float:
    if x == 0.0 or x == 1.0:
        return 0.0
    y, z = 1.0, 1 - x
    while True:
        x = x ** 0.5
        zp = z
        y *= 0.5
        z -= (1 - x) ** 2 * y
        if zp == z:
            return z / 3


def _sigma(x: float) -> float:
    if x == 1.0:
        return float("inf")
    y, z = 1.0, x
    while True:
        x *= x
        zp = z
        z += x * y
        y += y
        if zp == z:
            return z


def estimate(regs: np.ndarray) -> int:
    """hllCount's estimator (Ertl's improved raw estimator, as Redis >= 5)."""
    histo = np.bincount(regs, minlength=64).tolist()
    m = float(REGISTERS)
    z = m * _tau((m - histo[Q + 1]) / m)
    for j in range(Q, 0, -1):
        z += histo[j]
        z *= 0.5
    z += m * _sigma(histo[0] / m)
    e = ALPHA_INF * m * m / z
    return int(e + 0.5)  # llroundl of a positive value


def cached_count(buf) -> int | None:
    if buf[15] & 0x80:
        return None
    return int.from_bytes(buf[8:16], "little")


# --- commands --------------------------------------------------------------------------------


def _read_hll(c, key: bytes):
    """-> (value or None, expire); raises WRONGTYPE / NOT_HLL as Redis."""
    value, expire = read_string(c, key)
    if value is not None and not is_hll(value):
        raise NOT_HLL
    return value, expire


def _max_bytes(c) -> int:
    return SPARSE_MAX_BYTES  # Redis's default; not configurable here


@command("pfadd", -2, "write denyoom fast")
def pfadd(c, args):
    key = args[0]
    value, expire = _read_hll(c, key)
    updated = 0
    if value is None:
        buf = new_sparse()
        updated = 1
    else:
        buf = bytearray(value)
    try:
        hll = Registers(buf, _max_bytes(c))
        for element in args[1:]:
            updated |= hll.add(element)
        buf = hll.to_bytes()
    except Corrupted:
        raise INVALID from None
    if updated:
        invalidate(buf)
        write_string(c, key, bytes(buf), expire, raw_enc=True)
    else:
        c.propagate = []  # nothing changed: Redis does not propagate it either
    return 1 if updated else 0


def _union_registers(c, keys: list[bytes]) -> tuple[np.ndarray, bool]:
    """Register-wise max of the HLLs at keys (missing keys are empty) -> (registers, any dense)."""
    regs = np.zeros(REGISTERS, dtype=np.uint8)
    dense = False
    values = []
    for key in keys:
        value, _ = _read_hll(c, key)  # every key is checked before any is decoded
        values.append(value)
    for value in values:
        if value is None:
            continue
        dense |= value[4] == DENSE
        try:
            np.maximum(regs, registers(value), out=regs)
        except Corrupted:
            raise INVALID from None
    return regs, dense


@command("pfcount", -2, "readonly", 1, -1, 1)
def pfcount(c, args):
    if len(args) > 1:
        regs, _ = _union_registers(c, args)
        return estimate(regs)
    key = args[0]
    value, expire = _read_hll(c, key)
    if value is None:
        return 0
    card = cached_count(value)
    if card is not None:
        return card
    try:
        card = estimate(registers(value))
    except Corrupted:
        raise INVALID from None
    # Redis caches the count in the value and propagates PFCOUNT so replicas cache it too.
    server = c.server
    if not server.replication.is_replica or c.kind == "master":  # a replica applies its master's
        buf = bytearray(value)
        buf[8:16] = card.to_bytes(8, "little")
        try:
            write_string(c, key, bytes(buf), expire, raw_enc=True)
        except WriteStall:
            return card  # RocksDB is stalled: answer without caching rather than wait
        server.replication.propagate(c, [b"PFCOUNT", key])
    return card


@command("pfmerge", -2, "write denyoom", 1, -1, 1)
def pfmerge(c, args):
    dst = args[0]
    regs, use_dense = read_counted(c, _union_registers, c, args)  # dst too, as Redis
    value, expire = _read_hll(c, dst)
    buf = new_sparse() if value is None else bytearray(value)
    try:
        if use_dense:
            buf = to_dense(buf)
        hll = Registers(buf, _max_bytes(c))
        for j in np.flatnonzero(regs).tolist():
            hll.set(j, int(regs[j]))
        buf = hll.to_bytes()
    except Corrupted:
        raise INVALID from None
    invalidate(buf)
    write_string(c, dst, bytes(buf), expire, raw_enc=True)
    return OK


def _decode(buf) -> bytes:
    parts = []
    p, end = HDR, len(buf)
    while p < end:
        b = buf[p]
        if b & 0x80:
            parts.append(b"v:%d,%d" % (((b >> 2) & 0x1F) + 1, (b & 3) + 1))
            p += 1
        elif b & 0x40:
            parts.append(b"Z:%d" % ((((b & 0x3F) << 8) | buf[p + 1]) + 1))
            p += 2
        else:
            parts.append(b"z:%d" % ((b & 0x3F) + 1))
            p += 1
    return b" ".join(parts)


@command("pfdebug", 3, "write denyoom admin", 2, 2, 1)
def pfdebug(c, args):
    sub, key = args[0], args[1]
    value, expire = read_string(c, key)
    if value is None:
        raise Error("ERR The specified key does not exist")
    if not is_hll(value):
        raise NOT_HLL
    buf = bytearray(value)
    name = sub.lower()
    if name in (b"getreg", b"todense"):
        converted = buf[4] == SPARSE
        if converted:
            try:
                buf = to_dense(buf)
            except Corrupted:
                raise INVALID from None
            write_string(c, key, bytes(buf), expire, raw_enc=True)
        else:
            c.propagate = []
        if name == b"todense":
            return 1 if converted else 0
        return dense_registers(buf).tolist()
    c.propagate = []
    if name == b"decode":
        if buf[4] != SPARSE:
            raise Error("ERR HLL encoding is not sparse")
        return _decode(buf)
    if name == b"encoding":
        return SimpleString(b"dense" if buf[4] == DENSE else b"sparse")
    raise Error(f"ERR Unknown PFDEBUG subcommand '{sub.decode(errors='replace')}'")


@command("pfselftest", 1, "admin")
def pfselftest(c, args):
    """Set random registers in a dense HLL and read them back (as Redis's self-test)."""
    rng = random.Random()
    buf = bytearray(DENSE_SIZE)
    for _ in range(4):
        regs = np.array([rng.randrange(64) for _ in range(REGISTERS)], dtype=np.uint8)
        buf[HDR:] = pack_dense(regs)
        if not np.array_equal(dense_registers(buf), regs):
            raise Error("ERR TESTFAILED dense registers do not read back")
        for i in rng.sample(range(REGISTERS), 64):
            buf2 = bytearray(DENSE_SIZE)
            dense_set(buf2, i, int(regs[i]) or 1)
            if dense_get(buf2, i) != (int(regs[i]) or 1):
                raise Error(f"ERR TESTFAILED Register {i} should be {regs[i]}")
    return OK
