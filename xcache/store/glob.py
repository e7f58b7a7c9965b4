"""Redis glob patterns (KEYS, SCAN MATCH, PSUBSCRIBE, CONFIG GET): *, ?, [abc], [^a-z], \\x."""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=1024)
def compile_glob(pattern: bytes) -> re.Pattern:
    out = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i : i + 1]
        if c == b"*":
            out.append(b".*")
        elif c == b"?":
            out.append(b".")
        elif c == b"\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i : i + 1]))
        elif c == b"[":
            j = i + 1
            neg = j < n and pattern[j : j + 1] == b"^"
            if neg:
                j += 1
            parts = []
            while j < n and pattern[j : j + 1] != b"]":
                if pattern[j : j + 1] == b"\\" and j + 1 < n:
                    j += 1
                    parts.append(re.escape(pattern[j : j + 1]))
                elif j + 2 < n and pattern[j + 1 : j + 2] == b"-" and pattern[j + 2 : j + 3] != b"]":
                    lo, hi = sorted((pattern[j], pattern[j + 2]))
                    parts.append(re.escape(bytes([lo])) + b"-" + re.escape(bytes([hi])))
                    j += 2
                else:
                    parts.append(re.escape(pattern[j : j + 1]))
                j += 1
            body = b"".join(parts)
            if not body:
                out.append(b"(?!)" if not neg else b".")
            else:
                out.append(b"[" + (b"^" if neg else b"") + body + b"]")
            i = j
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile(b"".join(out) + b"\\Z", re.DOTALL)


def glob_match(pattern: bytes, value: bytes, nocase: bool = False) -> bool:
    if pattern == b"*":
        return True
    if nocase:
        pattern, value = pattern.lower(), value.lower()
    return compile_glob(pattern).match(value) is not None
