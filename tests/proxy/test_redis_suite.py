"""What Redis's own TCL suite checks, through the proxy: the replies equal redis-server's."""

from __future__ import annotations

from tests.proxy.conftest import exchange
from xcache.resp import encode_command


def replies(port: int, *cmds: list[str]) -> list:
    chunk = b"".join(encode_command(*[a.encode() for a in c]) for c in cmds)
    # errors as ("-", text): the parser's error objects do not compare by value
    return [("-", str(r)) if isinstance(r, Exception) else r
            for r in exchange(port, chunk, len(cmds))]


def test_save_runs_on_every_group(proxy, backends):
    before = [replies(b.port, ["LASTSAVE"])[0] for b in backends]
    assert replies(proxy.port, ["SAVE"]) == replies(backends[0].port, ["SAVE"])
    proxy.wait_until(lambda: all(replies(b.port, ["LASTSAVE"])[0] >= t
                                 for b, t in zip(backends, before, strict=True)), what="saved")


def test_select_errors_as_redis(proxy, backends):
    cmds = [["SELECT", x] for x in ("0", "16", "1000000", "-1", "abc", "01", "+0", "-0",
                                     "2147483648", "99999999999999999999")]
    assert replies(proxy.port, *cmds) == replies(backends[0].port, *cmds)
    got = replies(proxy.port, ["SELECT", "1"], ["SELECT", "15"], ["SET", "k", "v"])
    assert got[:2] == [("-", "ERR xcache: only database 0 is available through the proxy")] * 2
    assert got[2] == b"OK"


def test_pfselftest_and_pfdebug_as_redis(proxy, backends):
    cmds = [["DEL", "h"], ["PFADD", "h", "a", "b", "c"], ["PFSELFTEST"], ["PFDEBUG", "ENCODING", "h"],
            ["PFDEBUG", "TODENSE", "h"], ["PFDEBUG", "ENCODING", "h"], ["PFDEBUG", "ENCODING"],
            ["PFDEBUG", "GETREG", "nosuch"]]
    assert replies(proxy.port, *cmds) == replies(backends[0].port, *cmds)


def test_unsubscribe_confirmed_after_the_nodes(proxy):
    """Once a client read its (P)UNSUBSCRIBE confirmation, no node delivers to it or counts it."""
    import socket

    from xcache.resp import ReplyParser

    other = proxy.client()
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
        parser = ReplyParser()

        def read(n):
            got = []
            while len(got) < n:
                got += parser.feed(s.recv(65536))
            return got

        for _ in range(20):
            s.sendall(encode_command(b"PSUBSCRIBE", b"p*", b"q*") + encode_command(b"SUBSCRIBE", b"pc"))
            assert read(3)[-1] == [b"subscribe", b"pc", 3]
            s.sendall(encode_command(b"PUNSUBSCRIBE") + encode_command(b"UNSUBSCRIBE", b"pc"))
            assert read(3)[-1] == [b"unsubscribe", b"pc", 0]
            assert other.publish("pc", "hi") == 0
            assert other.execute_command("PUBSUB", "NUMPAT") == 0
            assert other.execute_command("PUBSUB", "NUMSUB", "pc") == [b"pc", 0]
