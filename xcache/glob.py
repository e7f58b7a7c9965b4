"""Redis glob patterns, exactly as Redis's stringmatchlen (src/util.c), in bounded time.

Used for KEYS, SCAN/HSCAN/SSCAN/ZSCAN MATCH, PSUBSCRIBE, PUBSUB CHANNELS, CONFIG GET (nocase)
and SENTINEL RESET. Syntax: `*` any run of bytes, `?` one byte, `[abc]` / `[a-z]` / `[^...]` a
class (a range may be given high-low; `\\x` inside a class is x), `\\x` the byte x.

Redis matches recursively and prunes with `skipLongerMatches`; a Python port of that would
recurse up to 1000 levels per byte. Instead the pattern is tokenized as Redis reads it (every
token but `*` stands for exactly one byte), each token becomes a byte class computed with
Redis's own comparisons (signed chars in ranges, ASCII-only nocase), and the pattern becomes a
regular expression in which the text between two stars is an atomic group `(?>.*?SEGMENT)`:
the leftmost place a fixed-width segment matches is always the best one, and atomic groups
never backtrack, so a match costs O(len(pattern) * len(value)) inside the regex engine, never
exponential time (`a*a*a*...*b` with 20 stars over 40 bytes is microseconds).

Redis's quirks are kept: an empty value matches only the empty pattern (`*` does not match ``;
KEYS and SCAN special-case a lone `*` themselves), an unterminated `[` class runs to the end of
the pattern, and a pattern needing more than 1000 nested stars never matches.
"""

from __future__ import annotations

import re
from functools import lru_cache

MAX_STAR_NESTING = 1000  # Redis: "Protection against abusive patterns" (nesting > 1000)

_ALL = (1 << 256) - 1
_NEVER = re.compile(rb"(?!)")


def _signed(b: int) -> int:
    return b - 256 if b >= 128 else b


def _lower(v: int) -> int:
    """C tolower() in the C locale: A-Z only (signed values pass unchanged)."""
    return v + 32 if 65 <= v <= 90 else v


@lru_cache(maxsize=4096)
def _range_mask(start: int, end: int, nocase: bool) -> int:
    start, end = _signed(start), _signed(end)
    if start > end:
        start, end = end, start
    if nocase:
        start, end = _lower(start), _lower(end)
    mask = 0
    for b in range(256):
        c = _lower(_signed(b)) if nocase else _signed(b)
        if start <= c <= end:
            mask |= 1 << b
    return mask


@lru_cache(maxsize=512)
def _literal_mask(p: int, nocase: bool) -> int:
    if not nocase:
        return 1 << p
    lp = _lower(_signed(p))
    return sum(1 << b for b in range(256) if _lower(_signed(b)) == lp)


def tokenize(pattern: bytes, nocase: bool = False) -> list:
    """The pattern as Redis walks it: None for a run of stars, else the set of bytes (a 256-bit
    mask) one value byte must be in."""
    tokens: list = []
    # Redis reads one byte past the end (the sds NUL terminator) in a few places.
    p = pattern + b"\0"
    i, n = 0, len(pattern)
    while i < n:
        c = p[i]
        if c == 42:  # '*'
            while i + 1 < n and p[i + 1] == 42:
                i += 1
            tokens.append(None)
        elif c == 63:  # '?'
            tokens.append(_ALL)
        elif c == 91:  # '['
            i += 1
            negate = p[i] == 94 and i < n  # '^'
            if negate:
                i += 1
            mask = 0
            while True:
                if p[i] == 92 and n - i >= 2:  # '\\': the next byte, compared case-sensitively
                    i += 1
                    mask |= 1 << p[i]
                elif p[i] == 93 and i < n:  # ']'
                    break
                elif i >= n:  # unterminated: the class ends with the pattern
                    i -= 1
                    break
                elif n - i >= 3 and p[i + 1] == 45:  # 'a-z'
                    mask |= _range_mask(p[i], p[i + 2], nocase)
                    i += 2
                else:
                    mask |= _literal_mask(p[i], nocase)
                i += 1
            tokens.append(mask ^ _ALL if negate else mask)
        else:
            if c == 92 and n - i >= 2:  # '\\'
                i += 1
            tokens.append(_literal_mask(p[i], nocase))
        i += 1
    return tokens


def _atom(mask: int) -> bytes:
    if mask == _ALL:
        return b"."
    if mask == 0:
        return b"(?!)"
    parts, b = [], 0
    while b < 256:
        if mask >> b & 1:
            e = b
            while e + 1 < 256 and mask >> (e + 1) & 1:
                e += 1
            parts.append(b"\\x%02x" % b if e == b else b"\\x%02x-\\x%02x" % (b, e))
            b = e + 1
        else:
            b += 1
    if len(parts) == 1 and b"-" not in parts[0]:
        return parts[0]
    return b"[" + b"".join(parts) + b"]"


@lru_cache(maxsize=1024)
def compile_glob(pattern: bytes, nocase: bool = False) -> re.Pattern:
    """A compiled regex whose .match(value) is truthy exactly when Redis's
    stringmatchlen(pattern, value, nocase) is 1."""
    tokens = tokenize(pattern, nocase)
    segments: list[list[bytes]] = [[]]
    for t in tokens:
        if t is None:
            segments.append([])
        else:
            segments[-1].append(_atom(t))
    stars = len(segments) - 1
    if stars > MAX_STAR_NESTING and not (stars == MAX_STAR_NESTING + 1 and not segments[-1]):
        # Redis gives up (no match) when it reaches its 1001st star with pattern left after it.
        return _NEVER
    out = [b"(?s)", b"(?=.)" if pattern else b"", b"".join(segments[0])]
    if stars:
        for seg in segments[1:-1]:
            if seg:
                out.append(b"(?>.*?" + b"".join(seg) + b")")
        out.append(b".*" + b"".join(segments[-1]))
    out.append(b"\\Z")
    return re.compile(b"".join(out))


def glob_match(pattern: bytes, value: bytes, nocase: bool = False) -> bool:
    """Redis's stringmatchlen(pattern, value, nocase)."""
    return compile_glob(pattern, nocase).match(value) is not None
