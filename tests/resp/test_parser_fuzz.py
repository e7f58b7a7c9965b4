"""Fuzzing the RESP request parser (issue 12): random bytes in random splits never crash it, never
make it reserve memory from an announced length, and give the same commands however the stream
is split (so hiredis's fast path and the state machine agree). Scale with XCACHE_FUZZ_SCALE."""

import tracemalloc

from hypothesis import given
from hypothesis import strategies as st

from tests.fuzzing import fuzz
from xcache.resp import ProtocolError, RequestParser

# Fragments that steer random input into the parser's interesting states.
FRAGMENTS = [b"*", b"$", b"\r\n", b"\r", b"\n", b"*1\r\n", b"*2\r\n", b"*3\r\n", b"$3\r\nSET\r\n",
             b"$0\r\n\r\n", b"$-1\r\n", b"*-1\r\n", b"*0\r\n", b"*2147483648\r\n", b"*4294967295\r\n",
             b"$2147483648\r\n", b"$99999999999999999999\r\n", b"*1048577\r\n", b"*1000\r\n",
             b"%5\r\n", b"~3\r\n", b">2\r\n", b":1\r\n", b"+OK\r\n", b"-ERR\r\n", b"PING\r\n",
             b'SET k "v\r\n', b"'a'\r\n", b"\\x41", b"*01\r\n", b"$ 1\r\n", b"*1\r\n$1\r\nab\r\n"]
streams = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.binary(max_size=20)), max_size=30).map(b"".join)


def parse_split(data: bytes, cuts: list[int]) -> list:
    p = RequestParser()
    out, prev = [], 0
    for cut in sorted({c % (len(data) + 1) for c in cuts}) + [len(data)]:
        out += p.feed(data[prev:cut])
        prev = cut
    return out


def normal(out: list) -> list:
    return [("error", str(x)) if isinstance(x, ProtocolError) else x for x in out]


@fuzz(600)
@given(streams, st.lists(st.integers(min_value=0, max_value=10_000), max_size=8))
def test_any_split_gives_the_same_commands(data, cuts):
    whole = normal(RequestParser().feed(data))
    assert normal(parse_split(data, cuts)) == whole
    assert normal(parse_split(data, list(range(len(data))))) == whole  # one byte at a time
    for i, item in enumerate(whole):
        assert isinstance(item, list) or i == len(whole) - 1  # an error can only end the list
        if isinstance(item, list):
            assert item and all(type(a) is bytes for a in item)


@fuzz(300)
@given(streams)
def test_memory_follows_received_bytes_not_announced_lengths(data):
    tracemalloc.start()
    try:
        p = RequestParser()
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        p.feed(data)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024 + 64 * len(data)


@fuzz(500)
@given(st.lists(st.lists(st.binary(max_size=30), min_size=1, max_size=6), max_size=10),
       st.lists(st.integers(min_value=0, max_value=2000), max_size=6))
def test_well_formed_requests_round_trip(commands, cuts):
    data = b"".join(b"*%d\r\n" % len(c) + b"".join(b"$%d\r\n%b\r\n" % (len(a), a) for a in c)
                    for c in commands)
    assert RequestParser().feed(data) == commands
    assert parse_split(data, cuts) == commands


def test_resp3_aggregates_never_reach_hiredis():
    """Found by the fuzzer: hiredis raised TypeError on a map whose key is an array."""
    data = b"$0\r\n\r\n\x00\x00\x00\x00\x00****1\r\n\x00\n*1\r\n%5\r\n**1000\r\n"
    assert normal(RequestParser().feed(data)) == normal(parse_split(data, list(range(len(data)))))
    assert normal(RequestParser().feed(b"*1\r\n%5\r\n")) == [("error", "expected '$', got '%'")]


def test_simple_string_argument_is_refused_like_redis():
    """Found by the fuzzer: hiredis took '+' for an argument."""
    for data in (b"*1\r\n+\r\n", b"*1\r\n+OK\r\n"):
        assert normal(RequestParser().feed(data)) == [("error", "expected '$', got '+'")]
    assert RequestParser().feed(b"$-1\r\n") == [[b"$-1"]]  # an inline command, as in Redis
