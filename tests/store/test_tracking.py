"""CLIENT TRACKING as redis-server does it, byte for byte on the wire: BCAST batching and NOLOOP,
invalidations of a client's own writes after its reply, scripts, blocked commands served later,
expired keys, tracking-table-max-keys, TRACKINGINFO and the option checks."""

from __future__ import annotations

import contextlib
import socket

import pytest

from tests.procs import read_until, wait_until
from tests.store.crosscheck import both_fixture, same  # noqa: F401 (fixture)


class Conn:
    """A raw RESP connection: commands out, exact bytes in."""

    def __init__(self, port: int, resp3: bool = False):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.subscribed = False
        if resp3:
            self.s.sendall(b"HELLO 3\r\n")
            read_until(self.s, b"*0\r\n")

    def send(self, *args: str | bytes) -> None:
        parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        self.s.sendall(b"*%d\r\n" % len(parts)
                       + b"".join(b"$%d\r\n%b\r\n" % (len(p), p) for p in parts))

    def call(self, *args, end: bytes = b"\r\n") -> bytes:
        self.send(*args)
        return read_until(self.s, end)

    def upto_pong(self) -> bytes:
        """Everything received up to the reply of a PING sent now (a subscribed RESP2
        connection answers it with a pong message)."""
        self.send("PING")
        return read_until(self.s, b"PONG\r\n" if not self.subscribed else b"pong\r\n$0\r\n\r\n")

    def close(self) -> None:
        self.s.close()


def _port(client) -> int:
    return client.connection_pool.connection_kwargs["port"]


def _redirect_target(conn) -> tuple[Conn, int]:
    """A RESP2 connection subscribed to __redis__:invalidate, and its client id."""
    target = conn()
    cid = int(target.call("CLIENT", "ID")[1:-2])
    target.call("SUBSCRIBE", "__redis__:invalidate", end=b":1\r\n")
    target.subscribed = True
    return target, cid


@contextlib.contextmanager
def _connections(port: int):
    """conn(resp3=False): a new Conn to port; all of them are closed after the block."""
    opened: list[Conn] = []

    def conn(resp3: bool = False) -> Conn:
        opened.append(Conn(port, resp3))
        return opened[-1]

    try:
        yield conn
    finally:
        for c in opened:
            c.close()


def _on_both(both, scenario) -> None:
    """Run scenario(conn) on xcache and redis-server (conn as _connections gives it); its
    transcripts must be equal."""
    got = []
    for client in both:
        client.config_set("tracking-table-max-keys", 1000000)
        with _connections(_port(client)) as conn:
            got.append(scenario(conn))
        client.config_set("tracking-table-max-keys", 0)
    assert got[0] == got[1]
    return got[0]


def test_bcast_sends_one_message_per_prefix_per_event_loop_run(both):
    def scenario(conn):
        target, cid = _redirect_target(conn)
        c, other = conn(), conn()
        out = [c.call("CLIENT", "TRACKING", "ON", "BCAST", "REDIRECT", cid, "PREFIX", "a:",
                      "PREFIX", "b:")]
        out.append(c.call("MSET", "a:2", "1", "a:1", "1", "b:1", "1", "c:1", "1"))
        out.append(target.upto_pong())
        # PREFIX adds to the client's prefixes; an overlapping one is refused
        out.append(c.call("CLIENT", "TRACKING", "ON", "BCAST", "REDIRECT", cid, "PREFIX", "c:"))
        out.append(c.call("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "a:x"))
        info = c.call("CLIENT", "TRACKINGINFO", end=b"c:\r\n")
        out.append(info.replace(b":%d\r\n" % cid, b":ID\r\n"))  # ids differ between servers
        out.append(other.call("MULTI") + other.call("INCR", "c:2") + other.call("SET", "d", "1")
                   + other.call("EXEC"))
        out.append(target.upto_pong())
        return out

    transcript = _on_both(both, scenario)
    assert b"$3\r\na:1\r\n$3\r\na:2\r\n" in transcript[2]  # both keys of the prefix, one message


def test_noloop_in_default_and_bcast_modes(both):
    def scenario(conn):
        target, cid = _redirect_target(conn)
        c, other = conn(), conn()
        out = [c.call("CLIENT", "TRACKING", "ON", "REDIRECT", cid, "NOLOOP")]
        out.append(c.call("MGET", "k1", "loop", "k2"))
        out += [other.call("SET", "k1", "1"), c.call("SET", "loop", "1"),
                other.call("SET", "k2", "1"), target.upto_pong()]
        out += [c.call("CLIENT", "TRACKING", "OFF"),
                c.call("CLIENT", "TRACKING", "ON", "BCAST", "REDIRECT", cid, "NOLOOP")]
        out += [other.call("SET", "o1", "1"), c.call("SET", "loop", "2"),
                c.call("MSET", "mine", "1", "o2", "1"), target.upto_pong()]
        return out

    _on_both(both, scenario)


def test_own_write_invalidation_follows_the_reply(both):
    def scenario(conn):
        c = conn(resp3=True)
        out = [c.call("CLIENT", "TRACKING", "ON"), c.call("GET", "k", end=b"_\r\n")]
        c.send("SET", "k", "v")
        out.append(c.upto_pong())  # +OK, then the push
        out.append(c.call("GET", "k", end=b"v\r\n"))
        c.send("EVAL", "return redis.call('set', KEYS[1], 'w')", "1", "k")
        out.append(c.upto_pong())
        out.append(c.call("MGET", "k", "x", end=b"_\r\n"))
        c.send("FLUSHALL")
        out.append(c.upto_pong())
        return out

    transcript = _on_both(both, scenario)
    assert transcript[2] == b"+OK\r\n>2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n+PONG\r\n"


def test_script_reads_track_the_declared_keys(both):
    def scenario(conn):
        c, other = conn(resp3=True), conn()
        out = [c.call("CLIENT", "TRACKING", "ON")]
        out.append(c.call("EVAL", "redis.call('set', 'k3', 'bar')", "2", "k1", "k2"))
        out.append(other.call("MSET", "k2", "1", "k1", "1"))
        out.append(c.call("EVAL", "redis.call('get', 'k3')", "2", "k1", "k2"))
        out.append(other.call("MSET", "k2", "2", "k1", "2"))
        out.append(c.upto_pong())
        out.append(c.call("EVAL_RO", "redis.call('ping')", "2", "k1", "k2"))
        out.append(other.call("MSET", "k2", "3", "k1", "3"))
        out.append(c.upto_pong())
        return out

    _on_both(both, scenario)


def test_blocked_command_served_later_invalidates_after_its_reply(both):
    def scenario(conn):
        c, other = conn(resp3=True), conn()
        out = [other.call("RPUSH", "dst", "a"), c.call("CLIENT", "TRACKING", "ON")]
        out.append(c.call("LRANGE", "dst", "0", "-1", end=b"a\r\n"))
        c.send("BLMOVE", "src", "dst", "LEFT", "LEFT", "0")
        wait_until(lambda: b"blocked_clients:1" in other.call("INFO", "clients", end=b"\r\n\r\n"),
                   what="BLMOVE blocked")
        out.append(other.call("RPUSH", "src", "foo"))
        out.append(c.upto_pong())
        return out

    _on_both(both, scenario)


def test_expired_key_is_broadcast(both):
    def scenario(conn):
        target, cid = _redirect_target(conn)
        c = conn()
        out = [c.call("CLIENT", "TRACKING", "ON", "BCAST", "REDIRECT", cid, "NOLOOP"),
               c.call("SET", "gone", "v", "PX", "1"), c.call("SET", "stays", "v")]
        out.append(read_until(target.s, b"gone\r\n"))
        return out

    _on_both(both, scenario)


def test_tracking_table_max_keys_evicts_keys_down_to_the_limit(both):
    def scenario(conn):
        target, cid = _redirect_target(conn)
        c, admin = conn(), conn()
        out = [c.call("CLIENT", "TRACKING", "ON", "REDIRECT", cid)]
        for i in range(150):
            c.call("GET", f"key{i}")
        out.append(admin.call("CONFIG", "SET", "tracking-table-max-keys", "1"))
        data = b""
        while data.count(b"__redis__:invalidate\r\n*1\r\n") < 149:  # one per evicted key
            chunk = target.s.recv(65536)
            assert chunk
            data += chunk
        out.append(admin.call("INFO", "stats", end=b"\r\n\r\n").split(b"tracking_total_keys:")[1]
                   .split(b"\r\n")[0])
        out.append(target.upto_pong())  # and no more than those
        return out

    _on_both(both, scenario)


@pytest.mark.parametrize("options", [
    (), ("OPTIN",), ("OPTOUT",), ("BCAST",), ("BCAST", "PREFIX", "a", "PREFIX", "ab"),
    ("BCAST", "PREFIX", "b", "PREFIX", "a"), ("NOLOOP", "OPTIN"), ("REDIRECT", "999999"),
    ("REDIRECT", "x"), ("OPTIN", "OPTOUT"), ("BCAST", "OPTIN"), ("PREFIX", "a"), ("BOGUS",),
])
def test_tracking_on_and_trackinginfo(both, options):
    def scenario(conn):
        c = conn(resp3=True)
        out = [c.call("CLIENT", "TRACKING", "ON", *options)]
        c.send("CLIENT", "TRACKINGINFO")
        out.append(c.upto_pong())
        out.append(c.call("CLIENT", "GETREDIR"))
        # switching modes: BCAST on/off and OPTIN<->OPTOUT are refused, the rest allowed
        for more in (("BCAST",), ("OPTIN",), ("OPTOUT",), ()):
            out.append(c.call("CLIENT", "TRACKING", "ON", *more))
        return out

    _on_both(both, scenario)


def test_only_written_keys_are_invalidated(both):
    def scenario(conn):
        c, other = conn(resp3=True), conn()
        out = [other.call("SADD", "a", "1"), other.call("SADD", "b", "2"),
               other.call("RPUSH", "l", "3", "1"), c.call("CLIENT", "TRACKING", "ON")]
        out.append(c.call("MGET", "d", "sorted", "x", end=b"_\r\n_\r\n_\r\n"))
        c.send("SMEMBERS", "a")
        c.send("SMEMBERS", "b")
        c.send("LRANGE", "l", "0", "-1")
        out.append(c.upto_pong())
        out += [other.call("SUNIONSTORE", "d", "a", "b"),
                other.call("SORT", "l", "STORE", "sorted"), other.call("LMPOP", "2", "x", "l", "LEFT", end=b"3\r\n")]
        out.append(c.upto_pong())
        return out

    _on_both(both, scenario)
