"""Redis 7.0's small encodings as clients see them: an intset answers in numeric order, a listpack
hash in insertion order, both scanned whole; a conversion to the big encoding is for good.
Every reply is compared, order included, with redis-server's."""

from __future__ import annotations

import pytest

from tests.store.crosscheck import both_fixture, raw, same  # noqa: F401  (fixture)

LONG = b"x" * 70  # over hash-max-listpack-value (64)


def run(both, *commands):
    for args in commands:
        same(both, *args)


def test_an_intset_answers_in_numeric_order(both):
    run(both, ("SADD", "s", "5", "10", "-3", "2", "100"), ("SMEMBERS", "s"), ("SSCAN", "s", "0", "COUNT", "2"),
        ("SSCAN", "s", "7", "MATCH", "1*"), ("OBJECT", "ENCODING", "s"),
        ("SADD", "t", "10", "7", "1"), ("SINTER", "s", "t"), ("SUNION", "s", "t"), ("SDIFF", "s", "t"),
        ("SUNIONSTORE", "u", "s", "t"), ("OBJECT", "ENCODING", "u"), ("SMEMBERS", "u"),
        ("SRANDMEMBER", "u", "100"), ("SPOP", "u", "100"), ("EXISTS", "u"))


def test_a_set_that_held_a_string_stays_a_hashtable(both):
    run(both, ("SADD", "s", "3", "1", "x"), ("SREM", "s", "x"), ("OBJECT", "ENCODING", "s"),
        ("SADD", "d", "2"), ("OBJECT", "ENCODING", "d"), ("SMOVE", "s", "n", "1"), ("OBJECT", "ENCODING", "n"),
        ("SADD", "n", "y"), ("OBJECT", "ENCODING", "n"))
    assert sorted(raw(both[0], "SMEMBERS", "s")) == [b"3"]


def test_an_intset_past_its_entries_limit_converts(both):
    run(both, ("CONFIG", "SET", "set-max-intset-entries", "3"), ("SADD", "s", "4", "3", "2"),
        ("SMEMBERS", "s"), ("OBJECT", "ENCODING", "s"), ("SADD", "s", "1"), ("OBJECT", "ENCODING", "s"),
        ("SREM", "s", "1", "2"), ("OBJECT", "ENCODING", "s"), ("CONFIG", "SET", "set-max-intset-entries", "512"))


def test_a_listpack_hash_answers_in_insertion_order(both):
    run(both, ("HSET", "h", "b", "1", "a", "2", "c", "3"), ("HGETALL", "h"), ("HKEYS", "h"), ("HVALS", "h"),
        ("HSCAN", "h", "0", "COUNT", "1"), ("HSCAN", "h", "0", "MATCH", "[ab]"), ("HDEL", "h", "a"),
        ("HSET", "h", "a", "9", "b", "8"), ("HSETNX", "h", "d", "4"), ("HINCRBY", "h", "e", "5"),
        ("HINCRBYFLOAT", "h", "0", "1.5"), ("HMSET", "h", "z", "0"), ("HGETALL", "h"),
        ("HRANDFIELD", "h", "100", "WITHVALUES"), ("OBJECT", "ENCODING", "h"),
        ("COPY", "h", "h2"), ("HGETALL", "h2"), ("RENAME", "h2", "h3"), ("HKEYS", "h3"))


def test_a_dumped_hash_keeps_its_order(both):
    for cl in both:
        cl.hset("h", mapping={"q": "1", "b": "2", "m": "3"})
        cl.restore("r", 0, cl.dump("h"))
    run(both, ("HGETALL", "r"), ("OBJECT", "ENCODING", "r"))


@pytest.mark.parametrize("write", [
    ("HSET", "h", "f", LONG), ("HSET", "h", LONG, "v"), ("HSETNX", "h", "a", LONG),
    ("HINCRBYFLOAT", "h", "a" * 65, "1"),
])
def test_a_long_field_or_value_converts_the_hash_for_good(both, write):
    run(both, ("HSET", "h", "a", "1"), write, ("OBJECT", "ENCODING", "h"), ("HDEL", "h", "f", LONG),
        ("OBJECT", "ENCODING", "h"), ("HLEN", "h"))


def test_a_hash_past_its_entries_limit_converts(both):
    run(both, ("CONFIG", "SET", "hash-max-listpack-entries", "2"), ("HSET", "h", "b", "1", "a", "2"),
        ("OBJECT", "ENCODING", "h"), ("HSET", "h", "c", "3"), ("OBJECT", "ENCODING", "h"), ("HDEL", "h", "c"),
        ("OBJECT", "ENCODING", "h"), ("CONFIG", "SET", "hash-max-listpack-entries", "128"))
    for cl in both:  # a hashtable's order is arbitrary; its contents are not
        assert sorted(raw(cl, "HKEYS", "h")) == [b"a", b"b"]


def test_a_hincrbyfloat_result_over_the_value_limit_converts(both):
    """The case of Redis's unit type/hash ("HINCRBYFLOAT over hash-max-listpack-value")."""
    run(both, ("CONFIG", "SET", "hash-max-listpack-value", "8"), ("HSET", "small", "tmp", "0"),
        ("HSET", "big", "tmp", "0"), ("HINCRBYFLOAT", "small", "tmp", "0.000005"),
        ("HINCRBYFLOAT", "big", "tmp", "0.0000005"), ("OBJECT", "ENCODING", "small"),
        ("OBJECT", "ENCODING", "big"), ("CONFIG", "SET", "hash-max-listpack-value", "64"))


def test_a_listpack_sorted_set_is_scanned_whole_in_score_order(both):
    run(both, ("ZADD", "z", "3", "a", "1", "b", "2", "c"), ("ZSCAN", "z", "0", "COUNT", "1"),
        ("ZSCAN", "z", "0", "MATCH", "[ab]"))
