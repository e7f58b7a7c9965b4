"""CLIENT TRACKING through the proxy (proxy/tracking.py): client-side caching as Redis 7 offers
it, with the invalidations of writes made anywhere (another session, another proxy, the node
itself: expiry, FLUSHALL) reaching the session that cached the key."""

from __future__ import annotations

import socket

import pytest

from tests.proxy.conftest import direct
from xcache.resp import ReplyParser


class Conn:
    """A raw connection that sees push messages where they arrive among the replies."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.parser = ReplyParser()
        self.got: list = []

    def send(self, *args) -> None:
        parts = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            parts.append(b"$%d\r\n%b\r\n" % (len(a), a))
        self.sock.sendall(b"".join(parts))

    def read(self):
        while not self.got:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed")
            self.got += self.parser.feed(data)
        return self.got.pop(0)

    def call(self, *args):
        self.send(*args)
        return self.read()

    def close(self) -> None:
        self.sock.close()


def push(reply) -> list:
    """A push's items, as the parser gives them (a list)."""
    return list(reply)


def resp3_tracking(conns) -> Conn:
    """A RESP3 connection with CLIENT TRACKING ON (default mode)."""
    r = conns()
    r.call("HELLO", "3")
    assert r.call("CLIENT", "TRACKING", "ON") == b"OK"
    return r


@pytest.fixture
def conns(proxy):
    opened: list[Conn] = []

    def make() -> Conn:
        c = Conn(proxy.port)
        opened.append(c)
        return c

    yield make
    for c in opened:
        c.close()


def test_resp3_default_mode_invalidates_a_key_another_client_writes(proxy, conns):
    r = conns()
    r.call("HELLO", "3")
    assert r.call("CLIENT", "TRACKING", "ON") == b"OK"
    writer = proxy.client()
    for key in ("k1", "k2", "other"):
        writer.set(key, "v")
    assert r.call("MGET", "k1", "k2") == [b"v", b"v"]
    writer.set("other", "x")  # not read: no invalidation
    writer.set("k2", "x")
    assert push(r.read()) == [b"invalidate", [b"k2"]]
    writer.set("k2", "y")  # read no more since: nothing
    writer.set("k1", "y")
    assert push(r.read()) == [b"invalidate", [b"k1"]]
    assert r.call("PING") == b"PONG"  # and nothing else came


def test_writes_straight_to_the_node_expiry_and_flushall_are_reported(proxy, backends, conns):
    r = resp3_tracking(conns)
    r.call("SET", "probe", "1")
    r.call("GET", "probe")
    owner = next(n for n in backends if direct(n).exists("probe"))
    direct(owner).set("probe", "2")  # not through the proxy
    assert push(r.read()) == [b"invalidate", [b"probe"]]
    r.call("SET", "short", "v", "PX", "1")
    r.call("GET", "short")  # cached, then gone by expiry (lazily on this read, or actively)
    while r.read() != [b"invalidate", [b"short"]]:
        pass  # the GET's reply came first when the key was still there
    r.call("GET", "probe")
    direct(owner).flushall()
    assert push(r.read()) == [b"invalidate", None]
    assert r.call("PING") == b"PONG"


def test_own_write_is_answered_before_its_invalidation(proxy, conns):
    r = resp3_tracking(conns)
    r.call("HSET", "h", "f", "1")
    r.call("HGET", "h", "f")
    assert r.call("HDEL", "h", "f") == 1
    assert push(r.read()) == [b"invalidate", [b"h"]]


def test_redirect_to_a_resp2_subscriber_and_broken_redirect(proxy, conns):
    sub = conns()
    sub_id = sub.call("CLIENT", "ID")
    sub.call("SUBSCRIBE", "__redis__:invalidate")
    r = conns()
    assert r.call("CLIENT", "TRACKING", "ON", "REDIRECT", sub_id) == b"OK"
    assert r.call("CLIENT", "GETREDIR") == sub_id
    writer = proxy.client()
    writer.set("a", "1")
    r.call("GET", "a")
    writer.incr("a")
    assert sub.read() == [b"message", b"__redis__:invalidate", [b"a"]]
    # the redirect target leaves: a RESP3 client is told its invalidations are lost
    r.call("HELLO", "3")
    r.call("GET", "a")
    sub.call("QUIT")
    writer.incr("a")
    assert push(r.read()) == [b"tracking-redir-broken", sub_id]
    info = r.call("CLIENT", "TRACKINGINFO")
    assert list(info[b"flags"]) == [b"on", b"broken_redirect"]
    assert str(r.call("CLIENT", "TRACKING", "ON", "REDIRECT", 999999)).startswith("ERR The client ID")


def test_bcast_prefixes_and_noloop(proxy, conns):
    r = conns()
    r.call("HELLO", "3")
    assert r.call("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "a:", "NOLOOP") == b"OK"
    writer = proxy.client()
    writer.set("b:1", "x")  # not under the prefix
    r.call("SET", "a:mine", "x")  # its own write: NOLOOP
    writer.set("a:1", "x")
    assert push(r.read()) == [b"invalidate", [b"a:1"]]
    assert r.call("PING") == b"PONG"
    err = r.call("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "a")
    assert str(err).startswith("ERR Prefix 'a' overlaps with an existing prefix 'a:'")


def test_optin_caches_only_after_client_caching_yes(proxy, conns):
    r = conns()
    r.call("HELLO", "3")
    r.call("CLIENT", "TRACKING", "ON", "OPTIN")
    writer = proxy.client()
    writer.mset({"x": "1", "y": "1"})
    r.call("GET", "x")  # not cached
    r.call("CLIENT", "CACHING", "YES")
    r.call("GET", "y")
    writer.mset({"x": "2", "y": "2"})
    assert push(r.read()) == [b"invalidate", [b"y"]]
    assert list(r.call("CLIENT", "TRACKINGINFO")[b"flags"]) == [b"on", b"optin"]


def test_info_and_client_list_show_tracking(proxy, conns):
    r = conns()
    r.call("CLIENT", "TRACKING", "ON")
    r.call("MGET", "i1", "i2")
    info = r.call("INFO", "stats").decode() + r.call("INFO", "clients").decode()
    assert "tracking_total_keys:2\r\n" in info
    assert "tracking_clients:1\r\n" in info
    assert " flags=t " in r.call("CLIENT", "LIST").decode()
    assert r.call("CONFIG", "SET", "tracking-table-max-keys", "1") == b"OK"
    assert r.call("CONFIG", "GET", "tracking-table-max-keys") == [b"tracking-table-max-keys", b"1"]
    assert "tracking_total_keys:1\r\n" in r.call("INFO", "stats").decode()
    r.call("CLIENT", "TRACKING", "OFF")
    assert "tracking_clients:0\r\n" in r.call("INFO", "clients").decode()


def test_a_read_pipelined_after_tracking_on_is_tracked(proxy, conns):
    r = conns()
    r.call("HELLO", "3")
    r.sock.sendall(b"*3\r\n$6\r\nCLIENT\r\n$8\r\nTRACKING\r\n$2\r\nON\r\n*2\r\n$3\r\nGET\r\n$2\r\npk\r\n")
    assert r.read() == b"OK"
    assert r.read() is None
    proxy.client().set("pk", "1")
    assert push(r.read()) == [b"invalidate", [b"pk"]]


def test_tracking_needs_reads_from_the_master(backends, start_proxy):
    """read_from_replicas: a tracking session still reads from the master, whose changes the
    feed reports (a replica could hand back the value just invalidated)."""
    a, b = backends
    direct(b).replicaof("127.0.0.1", a.port)
    proxy = start_proxy(f"1=127.0.0.1:{a.port}/127.0.0.1:{b.port}", read_from_replicas="true")
    r = Conn(proxy.port)
    try:
        r.call("HELLO", "3")
        r.call("CLIENT", "TRACKING", "ON")
        direct(a).set("m", "1")
        direct(b).replicaof("NO", "ONE")  # the replica stops following: only the master has news
        direct(a).set("m", "2")
        assert r.call("GET", "m") == b"2"
    finally:
        r.close()


def test_a_script_is_tracked_when_it_reads_as_on_redis(proxy, conns):
    """A script runs on the session's own connection, where the node tracks its keys only if
    it reads (Redis 7.0's rule): a script that only writes leaves nothing to invalidate."""
    r = resp3_tracking(conns)
    writer = proxy.client()
    r.call("EVAL", "redis.call('set', 'k3{t}', 'bar')", 2, "k1{t}", "k2{t}")
    writer.mset({"k1{t}": "1", "k2{t}": "1"})
    assert r.call("EVAL", "return redis.call('get', 'k3{t}')", 2, "k1{t}", "k2{t}") == b"bar"
    writer.mset({"k2{t}": "2"})
    assert push(r.read()) == [b"invalidate", [b"k2{t}"]]
    writer.mset({"k1{t}": "2"})
    assert push(r.read()) == [b"invalidate", [b"k1{t}"]]
    assert r.call("PING") == b"PONG"  # nothing for the script that only wrote


def test_a_pipelined_script_keeps_its_order_and_is_tracked(proxy, conns):
    """With other requests in flight the script stays on the pooled connection (in order) and
    its keys are remembered by the proxy."""
    r = resp3_tracking(conns)
    script = b"return redis.call('get', KEYS[1])"
    r.sock.sendall(b"*3\r\n$3\r\nSET\r\n$2\r\nps\r\n$1\r\n1\r\n" + b"*4\r\n$4\r\nEVAL\r\n$%d\r\n%b\r\n$1\r\n1\r\n$2\r\nps\r\n"
                   % (len(script), script))
    assert r.read() == b"OK"
    assert r.read() == b"1"  # after the SET, though sent in the same chunk
    proxy.client().set("ps", "2")
    assert push(r.read()) == [b"invalidate", [b"ps"]]


def test_a_lost_feed_invalidates_everything_until_a_new_one_is_in_place(proxy, backends, conns):
    """The connection on which a node reports its changes closes (a node restart, a failover):
    what changed meanwhile is unknown, so every tracking session drops all it cached, at once
    and again once a new connection reports; then changes are reported as before."""
    r = resp3_tracking(conns)
    r.call("SET", "g1", "1")
    r.call("GET", "g1")
    owner = next(n for n in backends if direct(n).exists("g1"))
    direct(owner).client_kill_filter(_type="normal")  # the proxy's connections to it, the feed too
    assert push(r.read()) == [b"invalidate", None]
    assert push(r.read()) == [b"invalidate", None]
    assert r.call("GET", "g1") == b"1"
    direct(owner).set("g1", "2")
    assert push(r.read()) == [b"invalidate", [b"g1"]]
