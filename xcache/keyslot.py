"""Key -> slot, the one hash every component agrees on (sans-IO, like resp/).

Same hashing as Codis: crc32 (IEEE) of the key, or of the text between the first '{' and the
next '}' when there is one (an empty tag '{}' hashes the empty string, as in Codis), mod 1024.
"""

from __future__ import annotations

from zlib import crc32

NSLOTS = 1024


def slot_of(key: bytes) -> int:
    beg = key.find(b"{")
    if beg >= 0:
        end = key.find(b"}", beg + 1)
        if end >= 0:
            key = key[beg + 1 : end]
    return crc32(key) & 1023  # 1024 is a power of two: & is % here
