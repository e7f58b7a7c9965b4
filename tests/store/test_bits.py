"""BITOP, BITPOS, BITFIELD(_RO) and LCS: replies compared exactly with redis-server's (`same`)."""

import random

import pytest

from tests.store.crosscheck import both_fixture, same  # noqa: F401

VALUES = {"a": bytes(random.Random(3).randrange(256) for _ in range(13)), "b": b"\xff\x00\x0f",
          "c": b"", "ones": b"\xff" * 5, "zeros": b"\x00" * 4}


@pytest.fixture
def strings(both):
    for k, v in VALUES.items():
        same(both, "SET", k, v)
    same(both, "LPUSH", "l", "x")
    return both


@pytest.mark.parametrize("op", ["AND", "OR", "XOR", "and"])
def test_bitop(strings, op):
    for keys in (("a", "b", "nokey"), ("a",), ("b", "ones", "zeros")):
        assert same(strings, "BITOP", op, "d", *keys) >= 0
        same(strings, "GET", "d")


def test_bitop_not_and_errors(strings):
    same(strings, "BITOP", "NOT", "d", "a")
    same(strings, "GET", "d")
    same(strings, "BITOP", "NOT", "d", "a", "b")
    same(strings, "BITOP", "FOO", "d", "a")
    same(strings, "SET", "d", "old")
    same(strings, "BITOP", "AND", "d", "nokey", "nokey2")  # empty result deletes the destination
    same(strings, "EXISTS", "d")
    same(strings, "BITOP", "AND", "d", "a", "l")


@pytest.mark.parametrize("key", ["a", "b", "c", "ones", "zeros", "nokey"])
def test_bitpos(strings, key):
    for bit in (0, 1):
        same(strings, "BITPOS", key, bit)
        for s in (-20, -3, -1, 0, 1, 2, 5, 30):
            same(strings, "BITPOS", key, bit, s)
            for e in (-30, -2, -1, 0, 1, 3, 7, 40):
                same(strings, "BITPOS", key, bit, s, e)
                same(strings, "BITPOS", key, bit, s, e, "BIT")
                same(strings, "BITPOS", key, bit, s * 3, e * 5, "bit")
                same(strings, "BITPOS", key, bit, s, e, "BYTE")


@pytest.mark.parametrize("args", [("BITPOS", "a", 2), ("BITPOS", "a", "x"),
                                  ("BITPOS", "a", 1, 0, 1, "FOO"), ("BITPOS", "a", 1, 0, 1, "BIT", "x"),
                                  ("BITPOS", "l", 1), ("BITPOS", "a", 1, "x")])
def test_bitpos_errors(strings, args):
    same(strings, *args)


@pytest.mark.parametrize("t", ["u1", "u5", "u8", "u16", "u31", "u63", "i1", "i5", "i8", "i16",
                               "i32", "i63", "i64"])
def test_bitfield_types_and_overflow(strings, t):
    for off in ("0", "3", "#2", "17"):
        same(strings, "BITFIELD", "a", "GET", t, off)
        same(strings, "BITFIELD_RO", "a", "GET", t, off)
        for v in ("0", "1", "-1", "100", "-100", "9223372036854775807", "-9223372036854775808",
                  "255", "256", "1234567"):
            for ow in ("WRAP", "SAT", "FAIL"):
                same(strings, "BITFIELD", "bf", "OVERFLOW", ow, "SET", t, off, v, "GET", t, off)
                same(strings, "BITFIELD", "bf", "OVERFLOW", ow, "INCRBY", t, off, v)
        same(strings, "GET", "bf")


@pytest.mark.parametrize("args", [
    ("BITFIELD", "bf", "GET", "u64", "0"), ("BITFIELD", "bf", "GET", "i65", "0"),
    ("BITFIELD", "bf", "GET", "x8", "0"), ("BITFIELD", "bf", "GET", "U8", "0"),
    ("BITFIELD", "bf", "GET", "u8", "-1"), ("BITFIELD", "bf", "GET", "u8", "#-1"),
    ("BITFIELD", "bf", "GET", "u8", "4294967296"), ("BITFIELD", "bf", "OVERFLOW", "FOO", "GET", "u8", "0"),
    ("BITFIELD", "bf", "FOO"), ("BITFIELD", "bf", "GET", "u8"), ("BITFIELD", "bf", "SET", "u8", "0", "x"),
    ("BITFIELD_RO", "bf", "SET", "u8", "0", "1"), ("BITFIELD_RO", "l", "SET", "u8", "0", "1"),
    ("BITFIELD", "l", "GET", "u8", "0"), ("BITFIELD", "l", "SET", "u8", "0", "1"), ("BITFIELD", "nokey"),
])
def test_bitfield_errors(strings, args):
    same(strings, *args)


def test_bitfield_fail_still_creates_key(both):
    same(both, "BITFIELD", "new", "OVERFLOW", "FAIL", "INCRBY", "u2", "100", "10")
    same(both, "GET", "new")


@pytest.mark.parametrize("opts", [[], ["LEN"], ["IDX"], ["IDX", "WITHMATCHLEN"], ["IDX", "MINMATCHLEN", 4],
                                  ["IDX", "MINMATCHLEN", 2, "WITHMATCHLEN"], ["IDX", "LEN"], ["FOO"],
                                  ["MINMATCHLEN"], ["MINMATCHLEN", "x"]])
def test_lcs(both, opts):
    same(both, "SET", "s1", "ohmytext")
    same(both, "SET", "s2", "mynewtext")
    same(both, "LPUSH", "l", "x")
    same(both, "LCS", "s1", "s2", *opts)
    same(both, "LCS", "s2", "s1", *opts)
    same(both, "LCS", "s1", "nokey", *opts)
    same(both, "LCS", "s1", "l", *opts)


def test_lcs_random(both):
    rng = random.Random(5)
    for _ in range(30):
        same(both, "SET", "x", "".join(rng.choice("abc") for _ in range(rng.randrange(0, 40))))
        same(both, "SET", "y", "".join(rng.choice("abc") for _ in range(rng.randrange(0, 40))))
        same(both, "LCS", "x", "y")
        same(both, "LCS", "x", "y", "IDX", "WITHMATCHLEN")


def test_lcs_idx_is_a_map_in_resp3(r):
    r.mset({"a": "ohmytext", "b": "mynewtext"})
    reply = r.execute_command("LCS", "a", "b", "IDX", "MINMATCHLEN", "4")
    if r.get_connection_kwargs().get("protocol") == 3:
        assert reply == {b"matches": [[[4, 7], [5, 8]]], b"len": 6}
    else:
        assert reply == [b"matches", [[[4, 7], [5, 8]]], b"len", 6]
