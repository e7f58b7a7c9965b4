"""Sans-IO tests of the RESP request parser and encoder."""

import random
import re

import pytest

from xcache.resp import Error, ProtocolError, RequestParser, SimpleString, encode, split_inline
from xcache.resp.encode import NULL_ARRAY


def wire(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%b\r\n" % (len(a), a) for a in args)


def assert_error(out: list, message: str) -> None:
    assert len(out) == 1 and isinstance(out[0], ProtocolError), out
    assert re.search(message, str(out[0])), str(out[0])


def test_multibulk_and_pipeline():
    p = RequestParser()
    assert p.feed(wire(b"SET", b"k", b"v") + wire(b"GET", b"k")) == [[b"SET", b"k", b"v"], [b"GET", b"k"]]


def test_split_at_every_byte():
    stream = b"".join(wire(b"SET", b"key%d" % i, b"x" * random.randint(0, 200)) for i in range(200))
    p = RequestParser()
    got = []
    i = 0
    while i < len(stream):
        n = random.randint(1, 40)
        got += p.feed(stream[i : i + n])
        i += n
    assert len(got) == 200 and got[-1][1] == b"key199"


def test_inline_commands():
    p = RequestParser()
    assert p.feed(b"PING\r\nset k \"a b\\x41\\n\"\r\n") == [[b"PING"], [b"set", b"k", b"a bA\n"]]
    assert p.feed(b"get 'it''s'") == []
    assert_error(p.feed(b"\r\n"), "unbalanced quotes")
    assert split_inline(b"  a   'b c'  ") == [b"a", b"b c"]


def test_inline_too_big():
    p = RequestParser()
    assert_error(p.feed(b"x" * (70 * 1024)), "too big inline request")


@pytest.mark.parametrize("data,message", [
    (b"*abc\r\n", "invalid multibulk length"),
    (b"*99999999\r\n", "invalid multibulk length"),
    (b"*1\r\n$abc\r\n", "invalid bulk length"),
    (b"*1\r\n$-1\r\n", "invalid bulk length"),
    (b"*2\r\n$3\r\nGET\r\n:1\r\n", "expected '\\$', got ':'"),
    (b"*1\r\n*1\r\n$1\r\na\r\n", "expected '\\$', got '\\*'"),
    # issue 12: an announced length is checked before anything is reserved for it
    (b"*2147483648\r\n", "invalid multibulk length"),
    (b"*4294967295\r\n", "invalid multibulk length"),
    (b"*99999999999999999999999\r\n", "invalid multibulk length"),
    (b"*1\r\n$99999999999999999999999\r\n", "invalid bulk length"),
    (b"*1\r\n$-5\r\n", "invalid bulk length"),
    (b"*1\r\n$+5\r\n", "invalid bulk length"),
    (b"*01\r\n", "invalid multibulk length"),
    (b"*1\r\n$ 5\r\n", "invalid bulk length"),
    (b"*1\r\n*2147483648\r\n", "expected '\\$', got '\\*'"),
    (b"*1\r\n%2147483648\r\n", "expected '\\$', got '%'"),
])
def test_protocol_errors(data, message):
    assert_error(RequestParser().feed(data), message)


def test_oversize_bulk_refused_from_its_header():
    p = RequestParser(max_bulk_bytes=1000)
    assert p.feed(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$") == []
    assert_error(p.feed(b"1001\r\nabc"), "invalid bulk length")


def test_bulk_at_limit_accepted():
    p = RequestParser(max_bulk_bytes=1000)
    assert p.feed(wire(b"SET", b"k", b"v" * 1000)) == [[b"SET", b"k", b"v" * 1000]]


def test_multibulk_limit():
    assert_error(RequestParser(max_multibulk=10).feed(b"*11\r\n$1\r\na\r\n"), "invalid multibulk length")


def test_oversize_bulk_in_one_chunk():
    out = RequestParser(max_bulk_bytes=10).feed(wire(b"PING") + wire(b"SET", b"k", b"v" * 11))
    assert out[0] == [b"PING"]
    assert_error(out[1:], "invalid bulk length")


def test_commands_before_an_error_are_returned():
    out = RequestParser().feed(wire(b"PING") + b"*x\r\n")
    assert out[0] == [b"PING"]
    assert_error(out[1:], "invalid multibulk length")


def test_empty_and_null_multibulk_ignored():
    assert RequestParser().feed(b"*0\r\n*-1\r\n" + wire(b"PING")) == [[b"PING"]]


def test_encode():
    assert encode(b"x") == b"$1\r\nx\r\n"
    assert encode(None) == b"$-1\r\n"
    assert encode(NULL_ARRAY) == b"*-1\r\n"
    assert encode([1, b"a", [None]]) == b"*3\r\n:1\r\n$1\r\na\r\n*1\r\n$-1\r\n"
    assert encode(SimpleString(b"OK")) == b"+OK\r\n"
    assert encode(Error("ERR bad\r\nthing")) == b"-ERR bad  thing\r\n"
    assert encode(1.5) == b"$3\r\n1.5\r\n"


# --- bad input: nothing is reserved from an announced length (issue 12) ---------------------

def test_huge_array_header_reserves_nothing():
    import tracemalloc
    tracemalloc.start()
    try:
        for data in (b"*1048576\r\n", b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870912\r\nabc"):
            p = RequestParser()
            before = tracemalloc.get_traced_memory()[0]
            assert p.feed(data) == []
            assert tracemalloc.get_traced_memory()[0] - before < 64 * 1024
    finally:
        tracemalloc.stop()


def test_hiredis_fast_path_is_refused_big_headers():
    from xcache.resp.parser import hiredis_safe
    assert hiredis_safe(wire(b"SET", b"k", b"v") * 3)
    assert not hiredis_safe(b"*2147483648\r\n")
    assert not hiredis_safe(wire(b"PING") + b"*1000\r\n")
    assert not hiredis_safe(wire(b"PING") + b"%5000\r\n")


def test_error_keeps_no_reference_cycle():
    import gc
    import weakref
    gc.disable()
    try:
        p = RequestParser()
        out = p.feed(b"*1\r\n$1\r\na\r\n*x\r\n")
        ref = weakref.ref(p)
        exc = out[-1]
        assert exc.__traceback__ is None
        del p, out
        assert ref() is None  # freed by reference counting alone, without the cycle collector
    finally:
        gc.enable()


def test_big_bulk_in_small_chunks_is_joined_once():
    value = b"x" * 300_000
    data = wire(b"SET", b"k", value)
    p = RequestParser()
    got = []
    for i in range(0, len(data), 1000):
        got += p.feed(data[i : i + 1000])
        assert len(p._parts) <= 302
    assert got == [[b"SET", b"k", value]]


def test_unauthenticated_limits_one_command_at_a_time():
    p = RequestParser()
    p.authenticated = False
    out = p.feed(wire(b"AUTH", b"pw") + wire(*[b"a"] * 11))
    assert out == [[b"AUTH", b"pw"]]  # the rest waits: AUTH may lift the limits
    p.authenticated = True
    assert p.feed(b"") == [[b"a"] * 11]
    p2 = RequestParser()
    p2.authenticated = False
    assert_error(p2.feed(wire(*[b"a"] * 11)), "unauthenticated multibulk length")
    p3 = RequestParser()
    p3.authenticated = False
    assert_error(p3.feed(b"*1\r\n$16385\r\n"), "unauthenticated bulk length")


def test_crlf_split_everywhere_matches_whole():
    stream = wire(b"SET", b"k", b"v\r\n*9\r\n") + b"PING\r\n" + wire(b"GET", b"k") + b"*0\r\n"
    whole = RequestParser().feed(stream)
    for cut in range(1, len(stream)):
        p = RequestParser()
        assert p.feed(stream[:cut]) + p.feed(stream[cut:]) == whole


def test_parsing_on_with_no_new_data_copies_nothing():
    """A server calls feed(b"") after each batch of commands: while a big bulk is still arriving
    that must not join (copy) the chunks received so far."""
    p = RequestParser()
    assert p.feed(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1000000\r\n") == []
    for _ in range(100):
        p.feed(b"x" * 1000)
        assert p.feed(b"") == []
    assert len(p._parts) > 50  # still the chunks as received
