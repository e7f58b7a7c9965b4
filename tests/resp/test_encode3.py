"""Sans-IO tests of the RESP3 reply types and their RESP2 downgrade (as Redis 7 does it)."""

import pytest

from xcache.resp import (
    FALSE,
    NULL_ARRAY,
    OK,
    TRUE,
    Double,
    Error,
    Many,
    Map,
    Pairs,
    Push,
    Set,
    SimpleString,
    Verbatim,
    encode,
)

CASES = [
    # reply, RESP2, RESP3
    (b"v", b"$1\r\nv\r\n", b"$1\r\nv\r\n"),
    (7, b":7\r\n", b":7\r\n"),
    (None, b"$-1\r\n", b"_\r\n"),
    (NULL_ARRAY, b"*-1\r\n", b"_\r\n"),
    ([b"a", 1], b"*2\r\n$1\r\na\r\n:1\r\n", b"*2\r\n$1\r\na\r\n:1\r\n"),
    (Map([b"k", b"v"]), b"*2\r\n$1\r\nk\r\n$1\r\nv\r\n", b"%1\r\n$1\r\nk\r\n$1\r\nv\r\n"),
    (Set([b"m"]), b"*1\r\n$1\r\nm\r\n", b"~1\r\n$1\r\nm\r\n"),
    (Push([b"message", b"c", b"x"]), b"*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nx\r\n",
     b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nx\r\n"),
    (Double(1.5), b"$3\r\n1.5\r\n", b",1.5\r\n"),
    (Double(3.0), b"$1\r\n3\r\n", b",3\r\n"),
    (Double(float("inf")), b"$3\r\ninf\r\n", b",inf\r\n"),
    (Double(float("-inf")), b"$4\r\n-inf\r\n", b",-inf\r\n"),
    (Double(0.1), b"$19\r\n0.10000000000000001\r\n", b",0.10000000000000001\r\n"),
    (TRUE, b":1\r\n", b"#t\r\n"),
    (FALSE, b":0\r\n", b"#f\r\n"),
    (True, b":1\r\n", b":1\r\n"),  # a Python bool is an integer reply (SISMEMBER...)
    (Verbatim(b"a:1\r\n"), b"$5\r\na:1\r\n\r\n", b"=9\r\ntxt:a:1\r\n\r\n"),
    (Pairs([b"a", Double(1.0), b"b", Double(2.5)]),
     b"*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$3\r\n2.5\r\n",
     b"*2\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2.5\r\n"),
    (Many([Push([b"subscribe", b"a", 1]), Push([b"subscribe", b"b", 2])]),
     b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n",
     b">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n>3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n"),
    (SimpleString(b"PONG"), b"+PONG\r\n", b"+PONG\r\n"),
    (OK, b"+OK\r\n", b"+OK\r\n"),
    (Error("ERR x\r\ny"), b"-ERR x  y\r\n", b"-ERR x  y\r\n"),
    (Map([b"m", Map([b"x", None])]), b"*2\r\n$1\r\nm\r\n*2\r\n$1\r\nx\r\n$-1\r\n",
     b"%1\r\n$1\r\nm\r\n%1\r\n$1\r\nx\r\n_\r\n"),
]


@pytest.mark.parametrize("reply,resp2,resp3", CASES)
def test_encode_both_protocols(reply, resp2, resp3):
    assert encode(reply) == resp2
    assert encode(reply, 2) == resp2
    assert encode(reply, 3) == resp3
