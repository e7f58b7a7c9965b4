"""Stateless SCAN cursors: the cursor is the last returned key (or field), as a decimal integer.

0 means start (in a request) and end (in a reply). Stateless cursors survive restarts and need
no server-side table; the price is a longer cursor for long keys.
"""

from __future__ import annotations

from xcache.resp import Error

INVALID_CURSOR = Error("ERR invalid cursor")


def encode_cursor(last: bytes) -> int:
    return int.from_bytes(b"\x01" + last, "big")


ULONG_MAX = (1 << 64) - 1


def decode_cursor(raw: bytes) -> bytes | None:
    """The key to continue after, or None to start from the beginning.

    Redis reads a cursor with strtoul: an optional sign, digits (none is 0), no spaces, at most
    ULONG_MAX. A number it takes that is not one of ours (a client's own 0 < n <= ULONG_MAX,
    "-1") starts from the beginning, as Redis does for small collections, which ignore it."""
    sign, digits = (raw[:1], raw[1:]) if raw[:1] in (b"+", b"-") else (b"", raw)
    if (digits and not digits.isdigit()) or (sign and not digits):
        raise INVALID_CURSOR
    value = int(digits or b"0")
    data = value.to_bytes((value.bit_length() + 7) // 8, "big")
    if sign != b"-" and data[:1] == b"\x01":
        return data[1:]
    if value > ULONG_MAX:
        raise INVALID_CURSOR
    return None
