"""Regressions found by running Redis 7.0's own data-type test units (tests/unit/type/*, sort,
bitops, keyspace, dump) against a node: each test runs against xcache and redis-server alike
(fixture `r`) unless it needs something only one of them has."""

from __future__ import annotations

import contextlib

import pytest
import redis


@contextlib.contextmanager
def config(r, name: str, value: str):
    """CONFIG SET name value for the block, then back to what it was (the servers are shared)."""
    old = r.config_get(name)[name]
    r.config_set(name, value)
    try:
        yield
    finally:
        r.config_set(name, old)


# --- streams ---------------------------------------------------------------------------------

def test_xadd_auto_id_after_max_sequence(r):
    """A future ms with the largest sequence: the next automatic id carries into the ms part."""
    r.execute_command("XADD", "x", "2577343934890-18446744073709551615", "f", "v")
    assert r.execute_command("XADD", "x", "*", "f2", "v2") == b"2577343934891-0"
    r.execute_command("XADD", "y", "5-18446744073709551614", "f", "v")
    assert r.execute_command("XADD", "y", "5-*", "f", "v") == b"5-18446744073709551615"
    with pytest.raises(redis.ResponseError, match="^Elements are too large to be stored$"):
        r.execute_command("XADD", "y", "5-*", "f", "v")


def test_approximate_trim_follows_stream_node_max_entries(r):
    with config(r, "stream-node-max-entries", "10"):
        for _ in range(100):
            r.execute_command("XADD", "s", "*", "xitem", "v")
        r.execute_command("XADD", "s", "MAXLEN", "~", "55", "LIMIT", "30", "*", "xitem", "v")
        assert r.xlen("s") == 71
        r.execute_command("XADD", "s", "MAXLEN", "~", "55", "LIMIT", "30", "*", "xitem", "v")
        assert r.xlen("s") == 62
    with config(r, "stream-node-max-entries", "2"):
        for _ in range(3):
            r.execute_command("XADD", "t", "*", "xitem", "v")
        assert r.execute_command("XTRIM", "t", "MAXLEN", "~", "0", "LIMIT", "1") == 0
        assert r.execute_command("XTRIM", "t", "MAXLEN", "~", "0", "LIMIT", "2") == 2
