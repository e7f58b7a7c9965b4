"""Glob patterns on a real redis-server and on xcache: KEYS, SCAN/HSCAN/SSCAN/ZSCAN MATCH and
PUBSUB CHANNELS give the same bytes (issue 12: the matcher is now bounded, not a regex that
backtracks)."""

import redis
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzzing import fuzz

KEYS = [b"", b"a", b"ab", b"abc", b"hello", b"hallo", b"hxllo", b"HELLO", b"h]llo", b"*", b"?",
        b"[", b"]", b"\\", b"a\\b", b"-", b"^", b"\x00", b"\x80", b"\xe9t\xe9", b"\xff",
        b"a" * 40, b"key:1", b"key:22", b"key:{tag}:3", b"[abc]", b"a-z"]
PATTERNS = [b"*", b"**", b"?", b"??", b"a*", b"*a", b"*b*", b"h?llo", b"h*llo", b"h[ae]llo",
            b"h[^e]llo", b"h[a-b]llo", b"h[b-a]llo", b"[z-a]*", b"[a-]", b"[abc", b"[^", b"[",
            b"\\*", b"\\", b"a\\", b"a\\\\b", b"[\\]]*", b"[]]", b"[\\-]", b"key:*", b"key:?",
            b"key:??", b"key:{*}*", b"\\[abc\\]", b"[\x00-\xff]", b"[\x80-\xff]", b"*\xe9",
            b"a*" * 20 + b"b", b"*a" * 20, b"[^a]*", b"[a-z]-[a-z]", b"*[", b"[]"]


def clients(xcache_node, redis_node):
    out = []
    for node in (xcache_node, redis_node):
        c = redis.Redis(port=node.port, protocol=2, socket_timeout=10)
        c.flushall()
        out.append(c)
    return out


def test_keys_and_scan_match_same_as_redis(xcache_node, redis_node):
    x, r = clients(xcache_node, redis_node)
    for c in (x, r):
        c.mset({k: b"v" for k in KEYS})
        c.hset("h", mapping={k: b"v" for k in KEYS})
        c.sadd("s", *KEYS)
        c.zadd("z", {k: 1 for k in KEYS})
    for pattern in PATTERNS:
        got = [sorted(c.keys(pattern)) for c in (x, r)]
        assert got[0] == got[1], pattern
        got = [sorted(c.scan_iter(match=pattern, count=1000)) for c in (x, r)]
        assert got[0] == got[1], pattern
        got = [sorted(k for k, _ in c.hscan_iter("h", match=pattern, count=1000)) for c in (x, r)]
        assert got[0] == got[1], pattern
        got = [sorted(c.sscan_iter("s", match=pattern, count=1000)) for c in (x, r)]
        assert got[0] == got[1], pattern
        got = [sorted(m for m, _ in c.zscan_iter("z", match=pattern, count=1000)) for c in (x, r)]
        assert got[0] == got[1], pattern
    for c in (x, r):
        c.close()


def test_many_stars_answer_and_ping_goes_on(xcache_node):
    """issue 12: KEYS "a*a*...*b" (20 stars, 40-byte key) used to hold the loop for hours."""
    x = redis.Redis(port=xcache_node.port, protocol=2, socket_timeout=10)
    x.flushall()
    x.set(b"a" * 40, b"v")
    assert x.keys(b"a*" * 20 + b"b") == []
    assert list(x.scan_iter(match=b"a*" * 20 + b"b")) == []
    assert x.keys(b"a*" * 20) == [b"a" * 40]
    assert x.ping()
    x.close()


def test_pubsub_channels_patterns_same_as_redis(xcache_node, redis_node):
    subs = []
    for node in (xcache_node, redis_node):
        p = redis.Redis(port=node.port, protocol=2, socket_timeout=10).pubsub()
        p.subscribe(*KEYS[1:])
        subs.append(p)
    x, r = clients(xcache_node, redis_node)
    for p in subs:
        for _ in KEYS[1:]:
            p.get_message(timeout=5)
    for pattern in PATTERNS:
        got = [sorted(c.pubsub_channels(pattern)) for c in (x, r)]
        assert got[0] == got[1], pattern
    for p in subs:
        p.close()


@fuzz(40)
@given(st.lists(st.sampled_from(list(b"*?[]^-\\aAbh")), max_size=8).map(bytes))
def test_random_patterns_same_as_redis(xcache_node, redis_node, pattern):
    x, r = (redis.Redis(port=n.port, protocol=2, socket_timeout=10) for n in (xcache_node, redis_node))
    for c in (x, r):
        if c.dbsize() != len(KEYS):
            c.flushall()
            c.mset({k: b"v" for k in KEYS})
    got = [sorted(c.keys(pattern)) for c in (x, r)]
    assert got[0] == got[1], pattern
    x.close()
    r.close()


def test_nesting_limit_same_as_redis(xcache_node, redis_node):
    x, r = clients(xcache_node, redis_node)
    for c in (x, r):
        c.set(b"a" * 1010, b"v")
    for stars, tail in ((1000, b"a"), (1001, b"a"), (1001, b""), (1002, b"")):
        got = [c.keys(b"a*" * stars + tail) for c in (x, r)]
        assert got[0] == got[1], (stars, tail)
    for c in (x, r):
        c.close()
