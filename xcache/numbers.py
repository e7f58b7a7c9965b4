"""Integers as Redis reads them (util.c string2ll), for the node and the proxy alike.

Python's int() also takes spaces around the digits, a '+' sign, '_' between digits and leading
zeros, all of which Redis refuses ("1_0" is not 10 to a Redis client)."""

from __future__ import annotations

MAX_INT = (1 << 63) - 1
MIN_INT = -(1 << 63)


def string2ll(raw: bytes) -> int | None:
    """The signed 64-bit integer raw spells exactly, or None."""
    if raw.isdigit():  # bytes.isdigit() is ASCII-only
        if raw[0] == 48 and len(raw) > 1:
            return None
        value = int(raw)
        return value if value <= MAX_INT else None
    if raw[:1] == b"-" and raw[1:].isdigit() and raw[1] != 48:
        value = int(raw)
        return value if value >= MIN_INT else None
    return None
