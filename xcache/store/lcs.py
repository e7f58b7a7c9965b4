"""LCS: the longest common subsequence of two strings (LEN, IDX, MINMATCHLEN, WITHMATCHLEN).

Redis's dynamic programme (computed a row at a time with numpy), walked back the same way so IDX
reports the same ranges. Its cost is O(len(a) * len(b)) on the event loop, as in Redis; the table
is refused beyond proto-max-bulk-len bytes (4 bytes a cell) as Redis does.
"""

from __future__ import annotations

import numpy as np

from xcache.resp import Error, Map
from xcache.store.commands import SYNTAX_ERROR, command, parse_int
from xcache.store.engine import STRING
from xcache.store.strings import max_size


def _value(c, key: bytes) -> bytes | None:
    meta = c.engine.get_meta(c.db, key)
    if meta is None:
        return b""
    if meta.type != STRING:
        return None
    return meta.value


def _table(a: bytes, b: bytes) -> np.ndarray:
    """LCS[i, j] of a[:i] and b[:j], a row at a time with numpy: LCS[i, j] is the running
    maximum over j of max(LCS[i-1, j], LCS[i-1, j-1] + 1 where a[i-1] == b[j-1])."""
    table = np.zeros((len(a) + 1, len(b) + 1), dtype=np.uint32)
    bb = np.frombuffer(b, dtype=np.uint8)
    for i in range(1, len(a) + 1):
        prev = table[i - 1]
        step = np.where(bb == a[i - 1], prev[:-1] + 1, 0).astype(np.uint32)
        np.maximum(step, prev[1:], out=step)
        np.maximum.accumulate(step, out=table[i, 1:])
    return table


@command("lcs", -3, "readonly", 1, 2, 1)
def lcs(c, args):
    a, b = _value(c, args[0]), _value(c, args[1])
    if a is None or b is None:
        raise Error("ERR The specified keys must contain string values")
    getlen = getidx = withmatchlen = False
    minmatchlen = 0
    i = 2
    while i < len(args):
        opt = args[i].upper()
        more = len(args) - 1 - i
        if opt == b"IDX":
            getidx = True
        elif opt == b"LEN":
            getlen = True
        elif opt == b"WITHMATCHLEN":
            withmatchlen = True
        elif opt == b"MINMATCHLEN" and more:
            minmatchlen = max(parse_int(args[i + 1]), 0)
            i += 1
        else:
            raise SYNTAX_ERROR
        i += 1
    if getidx and getlen:
        raise Error("ERR If you want both the length and indexes, please just use IDX.")
    alen, blen = len(a), len(b)
    if (alen + 1) * (blen + 1) * 4 > max_size(c):
        raise Error("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")
    table = _table(a, b)
    total = int(table[alen, blen])
    if getlen:
        return total
    result = bytearray(total)
    idx = total
    matches = []
    a_start, a_end, b_start, b_end = alen, 0, 0, 0
    x, y = alen, blen
    while x > 0 and y > 0:
        emit = False
        if a[x - 1] == b[y - 1]:
            result[idx - 1] = a[x - 1]
            if a_start == alen:
                a_start = a_end = x - 1
                b_start = b_end = y - 1
            elif a_start == x and b_start == y:
                a_start -= 1
                b_start -= 1
            else:
                emit = True
            if a_start == 0 or b_start == 0:
                emit = True
            idx -= 1
            x -= 1
            y -= 1
        else:
            if table[x - 1, y] > table[x, y - 1]:
                x -= 1
            else:
                y -= 1
            if a_start != alen:
                emit = True
        if emit:
            match_len = a_end - a_start + 1
            if minmatchlen == 0 or match_len >= minmatchlen:
                entry = [[a_start, a_end], [b_start, b_end]]
                if withmatchlen:
                    entry.append(match_len)
                matches.append(entry)
            a_start = alen
    if getidx:
        return Map([b"matches", matches, b"len", total])  # a map in RESP3, as Redis
    return bytes(result)
