"""SORT and SORT_RO: replies (and STOREd lists) compared exactly with redis-server's (`same`).

Not compared: orders that follow Redis's hash tables (ties when sorting a sorted set or a set of
non-integers, BY nosort on such a set), see docs/data-types.md."""

import random

import pytest

from tests.store.crosscheck import both_fixture, same  # noqa: F401

OPTIONS = [[], ["DESC"], ["ALPHA"], ["ALPHA", "DESC"], ["LIMIT", 1, 2], ["LIMIT", 0, -1],
           ["LIMIT", -5, 2], ["LIMIT", 10, 2], ["LIMIT", 2, 0], ["BY", "w_*"], ["BY", "w_*", "DESC"],
           ["BY", "h_*->f"], ["BY", "nosort"], ["BY", "nosort", "DESC", "LIMIT", 1, 2],
           ["GET", "#", "GET", "o_*", "GET", "h_*->name", "GET", "h_*->nofield", "GET", "nostar",
            "GET", "h_*->"],
           ["BY", "w_*", "ALPHA", "GET", "o_*"], ["DESC", "LIMIT", 1, 3, "GET", "#"]]


@pytest.fixture
def data(both):
    same(both, "RPUSH", "l", 3, 1, 2, 10, "1.5", -4, 2)
    same(both, "RPUSH", "la", "b", "a", "C", "ab", "", "a")
    same(both, "RPUSH", "lbad", 1, "x", 2)
    same(both, "ZADD", "z", 5, "a", 1, "b", 3, "c")
    same(both, "SADD", "s", 5, 1, 3, 20)
    for i, w in ((1, 30), (2, 20), (3, 10), (10, 5)):
        same(both, "SET", f"w_{i}", w)
        same(both, "HSET", f"h_{i}", "f", -w, "name", f"n{i}")
        same(both, "SET", f"o_{i}", f"obj{i}")
    same(both, "SET", "w_a", "x")
    same(both, "SET", "w_b", 2)
    return both


@pytest.mark.parametrize("key", ["l", "z", "s", "nokey", "la"])
@pytest.mark.parametrize("opts", OPTIONS)
def test_sort(data, key, opts):
    same(data, "SORT", key, *opts)
    same(data, "SORT_RO", key, *opts)
    same(data, "SORT", key, *opts, "STORE", "dst")
    same(data, "LRANGE", "dst", 0, -1)
    same(data, "TYPE", "dst")


def test_sort_alpha_by_hash_field(data):
    same(data, "SORT", "s", "BY", "h_*->f", "ALPHA")
    same(data, "SORT", "l", "BY", "h_*->f", "ALPHA", "DESC")


def test_store_of_an_unsorted_set_is_sorted(data):
    same(data, "SADD", "sa", "x", "y", "a")
    same(data, "SORT", "sa", "BY", "nosort", "STORE", "dst")
    same(data, "LRANGE", "dst", 0, -1)


@pytest.mark.parametrize("args", [
    ("SORT", "lbad"), ("SORT", "la"), ("SORT", "l", "LIMIT", "x", 1), ("SORT", "l", "LIMIT", 1),
    ("SORT", "l", "FOO"), ("SORT", "l", "BY"), ("SORT_RO", "l", "STORE", "x"), ("SORT", "w_1"),
    ("SORT", "h_1"), ("SORT", "lbad", "STORE", "dst2"), ("EXISTS", "dst2"),
    ("SORT", "nokey", "STORE", "w_1"), ("EXISTS", "w_1"),
])
def test_errors_and_edges(data, args):
    same(data, *args)


@pytest.mark.parametrize("opts", [
    ["BY", "wt_*", "ALPHA", "LIMIT", 0, 10], ["BY", "wt_*", "ALPHA", "LIMIT", 20, 50, "DESC"],
    ["BY", "nokey_*", "LIMIT", 3, 7], ["BY", "nokey_*", "ALPHA", "LIMIT", 3, 100], ["BY", "wt_*", "ALPHA"],
    ["BY", "wt_*", "ALPHA", "DESC"], ["ALPHA", "LIMIT", 10, 10]])
def test_ties_on_a_list_ordered_as_redis(both, opts):
    """Ties under BY keep list order in a full sort (a stable merge sort, as glibc's qsort) and
    follow Redis's partial quicksort with LIMIT."""
    rng = random.Random(9)
    elements = [str(rng.randrange(200)) for _ in range(150)]
    same(both, "RPUSH", "big", *elements)
    for e in sorted(set(elements)):
        same(both, "SET", f"wt_{e}", rng.choice(["a", "b", "c", "1", "2"]))
    same(both, "SORT", "big", *opts)
    same(both, "SORT", "big", *opts, "GET", "#", "GET", "wt_*")
    same(both, "SORT", "big", *opts, "STORE", "dst")
    same(both, "LRANGE", "dst", 0, -1)
