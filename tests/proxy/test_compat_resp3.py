"""RESP3 per session: HELLO negotiated by each client, replies typed exactly as redis-server types
them (compared byte for byte with a direct connection), clients with their defaults."""

from __future__ import annotations

import asyncio
import socket

import pytest
import redis
import redis.asyncio

from tests.proxy.test_proxy import keys_in, owner
from xcache.proxy.protocol import Push, Verbatim, encode
from xcache.resp import ReplyParser, encode_command


def _raw(port: int, *cmds: list, proto: int = 3) -> list[bytes]:
    """Raw reply bytes of each command after HELLO <proto>, one at a time."""
    out = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        for argv in [["HELLO", str(proto)], *cmds]:
            s.sendall(encode_command(*[a if isinstance(a, bytes) else str(a).encode() for a in argv]))
            data = b""
            while True:
                data += s.recv(65536)
                if _complete(data):
                    break
            out.append(data)
    return out[1:]


def _complete(data: bytes) -> bool:
    from xcache.proxy.replies import reply_end

    try:
        return reply_end(data, 0) == len(data)
    except (ValueError, IndexError):
        return False


TYPED = [
    ["HSET", "h{1}", "f", "v", "g", "w"], ["HGETALL", "h{1}"], ["ZADD", "z{1}", "1.5", "a", "2", "b"],
    ["ZSCORE", "z{1}", "a"], ["ZRANGE", "z{1}", "0", "-1", "WITHSCORES"], ["ZINCRBY", "z{1}", "1", "a"],
    ["SADD", "s{1}", "x"], ["SMEMBERS", "s{1}"], ["GET", "missing{1}"], ["LPOP", "missing{1}"],
    ["BLPOP", "missing{1}", "0.01"], ["XADD", "x{1}", "1-1", "f", "v"], ["XINFO", "STREAM", "x{1}"],
    ["OBJECT", "HELP"], ["PUBSUB", "HELP"], ["HRANDFIELD", "missing{1}"], ["ZMSCORE", "z{1}", "a", "nosuch"],
    ["SINTER", "s{1}", "s{1}"], ["EVAL", "return {1, 'a', false}", "0"],
    ["MGET", "h{1}", "missing{1}"], ["PING"], ["ECHO", "hi"],
]


@pytest.mark.parametrize("proto", [2, 3])
def test_replies_typed_like_redis(proxy, backends, proto):
    """Every command of TYPED answers the same bytes through the proxy as from redis-server."""
    got = _raw(proxy.port, *TYPED, proto=proto)
    other = backends[1] if owner(b"{1}") == 1 else backends[0]  # a node the proxy left empty
    want = _raw(other.port, *TYPED, proto=proto)
    for cmd, g, w in zip(TYPED, got, want, strict=True):
        if cmd[0] == "XINFO":  # per-node counters aside, same shape
            assert g[:2] == w[:2]
            continue
        assert g == w, cmd


def test_hello(backends, start_proxy):
    a, b = backends
    p = start_proxy(f"1=127.0.0.1:{a.port},2=127.0.0.1:{b.port}", session_password="pw")
    with socket.create_connection(("127.0.0.1", p.port), timeout=10) as s:
        parser = ReplyParser()

        def ask(*argv):
            s.sendall(encode_command(*argv))
            while True:
                got = parser.feed(s.recv(65536))
                if got:
                    return got[0]

        assert "NOAUTH HELLO must be called" in str(ask(b"HELLO", b"3"))
        assert "NOPROTO" in str(ask(b"HELLO", b"4"))
        assert "Syntax error in HELLO option 'bad'" in str(ask(b"HELLO", b"3", b"bad"))
        assert "WRONGPASS" in str(ask(b"HELLO", b"3", b"AUTH", b"default", b"no"))
        reply = ask(b"HELLO", b"3", b"AUTH", b"default", b"pw", b"SETNAME", b"app")
    assert {k: v for k, v in reply.items() if k != b"id"} == {
        b"server": b"redis", b"version": b"7.0.15", b"proto": 3, b"mode": b"standalone",
        b"role": b"master", b"modules": []}
    c = redis.Redis(port=p.port, password="pw", protocol=3, client_name="me", socket_timeout=10)
    assert c.client_getname() == b"me"
    info = c.client_info()
    assert info["resp"] == "3" and info["name"] == "me"
    assert _raw(p.port, ["HELLO", "2", "AUTH", "default", "pw"], ["CLIENT", "GETNAME"])[1] == b"$-1\r\n"


def test_protocol_encoding_units():
    assert encode({"a": 1}, True) == b"%1\r\n$1\r\na\r\n:1\r\n"
    assert encode({"a": 1}, False) == b"*2\r\n$1\r\na\r\n:1\r\n"
    assert encode([None, True, 1.5], True) == b"*3\r\n_\r\n#t\r\n,1.5\r\n"
    assert encode([None, True, 1.5], False) == b"*3\r\n$-1\r\n:1\r\n$3\r\n1.5\r\n"
    assert encode(Verbatim("x"), True) == b"=5\r\ntxt:x\r\n"
    assert encode(Push([b"message", b"c", 1]), True).startswith(b">3\r\n")


def test_redis_py_defaults(proxy):
    """redis-py with no options (RESP3 in redis-py 8): the types its RESP3 callbacks expect."""
    c = redis.Redis(port=proxy.port, socket_timeout=10)
    assert c.ping() and c.set("a", "1") and c.get("a") == b"1"
    assert c.connection_pool.get_connection().protocol in (3, "3")
    c.hset("h", mapping={"f": "1"})
    assert c.hgetall("h") == {b"f": b"1"}
    c.zadd("z", {"m": 2.5})
    assert c.zscore("z", "m") == 2.5 and c.zrange("z", 0, -1, withscores=True) == [(b"m", 2.5)]
    ks = keys_in(1, 2, "r") + keys_in(2, 2, "r")
    assert c.mset({k: k for k in ks}) and c.mget(ks) == ks
    assert c.delete(*ks) == 4


def test_redis_asyncio_defaults(proxy):
    async def run():
        c = redis.asyncio.Redis(port=proxy.port, socket_timeout=10)
        try:
            assert await c.set("x{a}", "1")
            async with c.pipeline() as pipe:
                res = await pipe.incr("x{a}").get("x{a}").execute()
            assert res == [2, b"2"]
            keys = [k async for k in c.scan_iter(match="x*")]
            assert b"x{a}" in keys
            ps = c.pubsub()
            await ps.subscribe("ch")
            assert (await ps.get_message(timeout=5))["type"] == "subscribe"
            assert await c.publish("ch", "hi") == 1
            msg = await ps.get_message(timeout=5)
            assert msg["data"] == b"hi"
            await ps.aclose()
        finally:
            await c.aclose()

    asyncio.run(run())
