"""CLIENT REPLY ON|OFF|SKIP through the proxy: the bytes a client reads equal redis-server's."""

from __future__ import annotations

import socket

import pytest

from xcache.resp import encode_command

END = encode_command(b"CLIENT", b"REPLY", b"ON") + encode_command(b"ECHO", b"end")

SCRIPTS = {
    "off-on": [["CLIENT", "REPLY", "OFF"], ["SET", "{r}a", "1"], ["GET", "{r}a"], ["INCR", "{r}a"],
               ["CLIENT", "REPLY", "ON"], ["GET", "{r}a"]],
    "skip": [["CLIENT", "REPLY", "SKIP"], ["SET", "{r}a", "1"], ["GET", "{r}a"], ["GET", "{r}a"]],
    "skip-then-on": [["CLIENT", "REPLY", "SKIP"], ["CLIENT", "REPLY", "ON"], ["GET", "{r}a"]],
    "skip-local": [["SET", "{r}a", "x"], ["CLIENT", "REPLY", "SKIP"], ["PING"], ["ECHO", "e"]],
    "off-errors": [["CLIENT", "REPLY", "OFF"], ["NOSUCHCMD"], ["GET"], ["SET", "{r}a", "1"]],
    "off-multikey": [["CLIENT", "REPLY", "OFF"], ["MSET", "{r}a", "1", "b", "2"], ["MGET", "{r}a", "b"],
                     ["DEL", "b"]],
    "bad-mode": [["CLIENT", "REPLY", "MAYBE"], ["CLIENT", "REPLY"], ["GET", "{r}a"]],
    "lookup-errors": [["CLIENT", "NOSUCH"], ["CLIENT", "ID", "x"], ["CLIENT", "SETNAME"],
                      ["CLIENT", "KILL"], ["CLIENT", "unpause", "x"], ["CLIENT", "LIST", "TYPE"]],
    "reset": [["CLIENT", "REPLY", "OFF"], ["GET", "{r}a"], ["RESET"], ["GET", "{r}a"]],
    "subscribe-off": [["CLIENT", "REPLY", "OFF"], ["SUBSCRIBE", "c1"], ["UNSUBSCRIBE", "c1"],
                      ["PING"]],
    "subscribe-skip": [["CLIENT", "REPLY", "SKIP"], ["SUBSCRIBE", "c1"], ["UNSUBSCRIBE"],
                       ["GET", "{r}a"]],
}


def run(port: int, script: list[list[str]]) -> bytes:
    data = b"".join(encode_command(*[a.encode() for a in argv]) for argv in script) + END
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        got = b""
        while not got.endswith(b"$3\r\nend\r\n"):
            chunk = s.recv(65536)
            assert chunk, got
            got += chunk
    return got


@pytest.mark.parametrize("name", SCRIPTS)
def test_client_reply_as_redis(proxy, backends, name):
    for port in (backends[0].port, proxy.port):  # same starting data on both
        run(port, [["DEL", "{r}a", "b"]])
    expected = run(backends[0].port, SCRIPTS[name])
    run(backends[0].port, [["DEL", "{r}a", "b"]])
    assert run(proxy.port, SCRIPTS[name]) == expected


def test_pipelined_chunk_with_skip_drops_only_the_next_reply(proxy):
    """KEY commands of one chunk go to a node as one batch; SKIP silences only the first."""
    script = [["SET", "{r}k", "v"], ["CLIENT", "REPLY", "SKIP"], *[["GET", "{r}k"]] * 5]
    assert run(proxy.port, script) == b"+OK\r\n" + b"$1\r\nv\r\n" * 4 + b"+OK\r\n$3\r\nend\r\n"
