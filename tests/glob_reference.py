"""A line-for-line Python port of Redis's stringmatchlen_impl (src/util.c, Redis 7), recursion,
skipLongerMatches and nesting limit included: the reference the bounded matcher is checked
against. Exponential-looking but pruned like Redis; use it on small inputs only."""

from __future__ import annotations


def _s(b: int) -> int:
    return b - 256 if b >= 128 else b  # C char is signed


def _lower(v: int) -> int:
    return v + 32 if 65 <= v <= 90 else v


def _impl(p: bytes, pi: int, plen: int, s: bytes, si: int, slen: int, nocase: bool,
          skip: list, nesting: int) -> bool:
    if nesting > 1000:
        return False
    while plen and slen:
        c = p[pi]
        if c == 42:  # '*'
            while plen and p[pi + 1] == 42:
                pi += 1
                plen -= 1
            if plen == 1:
                return True
            while slen:
                if _impl(p, pi + 1, plen - 1, s, si, slen, nocase, skip, nesting + 1):
                    return True
                if skip[0]:
                    return False
                si += 1
                slen -= 1
            skip[0] = True
            return False
        elif c == 63:  # '?'
            si += 1
            slen -= 1
        elif c == 91:  # '['
            pi += 1
            plen -= 1
            neg = p[pi] == 94
            if neg:
                pi += 1
                plen -= 1
            match = False
            while True:
                if p[pi] == 92 and plen >= 2:
                    pi += 1
                    plen -= 1
                    if p[pi] == s[si]:
                        match = True
                elif p[pi] == 93:
                    break
                elif plen == 0:
                    pi -= 1
                    plen += 1
                    break
                elif plen >= 3 and p[pi + 1] == 45:
                    start, end, ch = _s(p[pi]), _s(p[pi + 2]), _s(s[si])
                    if start > end:
                        start, end = end, start
                    if nocase:
                        start, end, ch = _lower(start), _lower(end), _lower(ch)
                    pi += 2
                    plen -= 2
                    if start <= ch <= end:
                        match = True
                else:
                    if nocase:
                        if _lower(_s(p[pi])) == _lower(_s(s[si])):
                            match = True
                    elif p[pi] == s[si]:
                        match = True
                pi += 1
                plen -= 1
            if neg:
                match = not match
            if not match:
                return False
            si += 1
            slen -= 1
        else:
            if c == 92 and plen >= 2:
                pi += 1
                plen -= 1
            if nocase:
                if _lower(_s(p[pi])) != _lower(_s(s[si])):
                    return False
            elif p[pi] != s[si]:
                return False
            si += 1
            slen -= 1
        pi += 1
        plen -= 1
        if slen == 0:
            while p[pi] == 42:
                pi += 1
                plen -= 1
            break
    return plen == 0 and slen == 0


def stringmatchlen(pattern: bytes, value: bytes, nocase: bool = False) -> bool:
    # The NUL after the pattern is the sds terminator Redis reads past the end.
    return _impl(pattern + b"\0", 0, len(pattern), value, 0, len(value), nocase, [False], 0)
