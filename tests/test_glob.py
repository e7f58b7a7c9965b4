"""The bounded glob matcher (xcache/glob.py) against a line-for-line port of Redis's
stringmatchlen (tests/glob_reference.py). Byte-exact checks against a real redis-server are in
tests/store/test_glob_redis.py."""

import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzzing import fuzz
from tests.glob_reference import stringmatchlen
from xcache.glob import compile_glob, glob_match

# Bytes that matter to the syntax, plus letters of both cases and signed-char territory.
PATTERN_BYTES = st.sampled_from(list(b"*?[]^-\\aAbBzZ") + [0, 0x7F, 0x80, 0xE9, 0xFF])
VALUE_BYTES = st.sampled_from(list(b"*?[]^-\\aAbBzZ") + [0, 0x7F, 0x80, 0xE9, 0xFF])
patterns = st.lists(PATTERN_BYTES, max_size=12).map(bytes)
values = st.lists(VALUE_BYTES, max_size=12).map(bytes)


@fuzz(1500)
@given(patterns, values, st.booleans())
def test_same_answer_as_redis_stringmatchlen(pattern, value, nocase):
    assert glob_match(pattern, value, nocase) == stringmatchlen(pattern, value, nocase)


@fuzz(300)
@given(st.binary(max_size=40), st.binary(max_size=40), st.booleans())
def test_random_bytes(pattern, value, nocase):
    assert glob_match(pattern, value, nocase) == stringmatchlen(pattern, value, nocase)


@pytest.mark.parametrize("pattern,value,nocase,expected", [
    (b"*", b"", False, False),  # Redis: only the empty pattern matches the empty string
    (b"", b"", False, True),
    (b"a*", b"a", False, True),
    (b"h?llo", b"hello", False, True),
    (b"h[^e]llo", b"hallo", False, True),
    (b"h[^e]llo", b"hello", False, False),
    (b"h[a-b]llo", b"hbllo", False, True),
    (b"[z-a]", b"q", False, True),  # a range may be written high-low
    (b"[a-]", b"_", False, True),  # 'a-]' is a range from ']' to 'a'; the class runs to the end
    (b"[abc", b"b", False, True),  # unterminated class
    (b"\\*", b"*", False, True),
    (b"\\*", b"a", False, False),
    (b"a\\", b"a\\", False, True),  # a trailing backslash is itself
    (b"[\\]]", b"]", False, True),
    (b"HELLO", b"hello", True, True),
    (b"[\\H]", b"h", True, False),  # an escaped byte in a class is compared case-sensitively
    (b"[\x80-\xff]", b"\x90", False, True),  # signed chars: 0x80..0xff is -128..-1
    (b"[\x00-\xff]", b"a", False, False),  # ... so 0-\xff is -1..0: only \xff and \x00
    (b"[\x00-\xff]", b"\xfe", False, False),
    (b"[\x00-\xff]", b"\xff", False, True),
])
def test_redis_quirks(pattern, value, nocase, expected):
    assert stringmatchlen(pattern, value, nocase) is expected
    assert glob_match(pattern, value, nocase) is expected


def test_many_stars_answer_at_once():
    """issue 12: 20 stars over a 40-byte key used to backtrack exponentially (hours)."""
    key = b"a" * 40
    for stars in (10, 20, 200):
        assert not glob_match(b"a*" * stars + b"b", key)
        assert glob_match(b"a*" * stars, b"a" * stars)
    assert not glob_match(b"*a" * 5000 + b"*b", b"a" * 100_000)


def test_nesting_limit():
    """Redis gives up on a pattern that needs more than 1000 nested stars."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(5000)
    try:
        for stars, tail in ((1000, b"a"), (1001, b"a"), (1001, b""), (1002, b"")):
            pattern = b"a*" * stars + tail
            value = b"a" * (stars + 5)
            assert glob_match(pattern, value) == stringmatchlen(pattern, value), (stars, tail)
    finally:
        sys.setrecursionlimit(old)


def test_compiled_pattern_has_no_nested_quantifier():
    """Each segment between stars is atomic: nothing for the regex engine to backtrack into."""
    rx = compile_glob(b"a*b*c*d").pattern
    assert rx.count(b"(?>") == 2
