"""Stateless SCAN cursors: the cursor is the last returned key (or field), as a decimal integer.

0 means start (in a request) and end (in a reply). Stateless cursors survive restarts and need
no server-side table; the price is a longer cursor for long keys.
"""

from __future__ import annotations

from xcache.resp import Error

INVALID_CURSOR = Error("ERR invalid cursor")


def encode_cursor(last: bytes) -> int:
    return int.from_bytes(b"\x01" + last, "big")


def decode_cursor(raw: bytes) -> bytes | None:
    """The key to continue after, or None to start from the beginning."""
    if not raw.isdigit():
        raise INVALID_CURSOR
    value = int(raw)
    if value == 0:
        return None
    data = value.to_bytes((value.bit_length() + 7) // 8, "big")
    if data[:1] != b"\x01":
        raise INVALID_CURSOR
    return data[1:]
