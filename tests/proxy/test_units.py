"""Sans-IO parts of the proxy: slot math, tables, limits, gate decisions, command classes."""

from __future__ import annotations

import socket
import time
import zlib

import pytest

from xcache.config import ConfigError, load, markdown_table
from xcache.observability import tcpinfo
from xcache.observability.metrics import Histogram, counter, render
from xcache.proxy import commands as C
from xcache.proxy.admission import gate_verdict
from xcache.proxy.config import ProxyConfig
from xcache.proxy.limits import CircuitBreaker, IpLimits, TokenBucket
from xcache.proxy.pending import Part, Split
from xcache.proxy.replies import array_items, int_value, pack, reply_end
from xcache.proxy.router import NSLOTS, SlotTable, TableError, parse_ranges, ranges, slot_of, spread
from xcache.resp import encode_command

# -- slots -----------------------------------------------------------------------------------------


def test_slot_is_crc32_mod_1024():
    for key in (b"foo", b"bar", b"user:1000", b"", b"\xff\x00"):
        assert slot_of(key) == zlib.crc32(key) % NSLOTS


def test_hashtag_like_codis():
    assert slot_of(b"{user1000}.following") == slot_of(b"{user1000}.followers") == slot_of(b"user1000")
    assert slot_of(b"foo{bar}{zap}") == slot_of(b"bar")  # first tag wins
    assert slot_of(b"foo{}bar") == zlib.crc32(b"") % NSLOTS  # Codis hashes the empty tag
    assert slot_of(b"foo{bar") == zlib.crc32(b"foo{bar") % NSLOTS  # unclosed: whole key


def test_table_from_config_spreads_slots():
    t = SlotTable.from_config("1=127.0.0.1:6380/127.0.0.1:6390, 2=127.0.0.1:6381", "", 3)
    assert t.epoch == 3
    assert t.groups[1].replicas == ["127.0.0.1:6390"]
    assert t.slots[0] == 1 and t.slots[511] == 1 and t.slots[512] == 2 and t.slots[1023] == 2
    assert SlotTable.from_json(t.to_json()) == t


def test_table_ranges_roundtrip():
    slots = parse_ranges("0-99=2, 100-1023=1")
    assert ranges(slots) == [(0, 99, 2), (100, 1023, 1)]
    assert spread([7]) == [7] * NSLOTS


@pytest.mark.parametrize("bad, msg", [
    ({"epoch": -1, "groups": {"1": "h:1"}}, "epoch"),
    ({"epoch": 1, "groups": {}}, "groups"),
    ({"epoch": 1, "groups": {"1": "nohost"}}, "bad address"),
    ({"epoch": 1, "groups": {"1": "h:1"}, "slots": "0-10=1"}, "no group"),
    ({"epoch": 1, "groups": {"1": "h:1"}, "slots": "0-1023=1,5-6=1"}, "twice"),
    ({"epoch": 1, "groups": {"1": "h:1"}, "slots": "0-1023=2"}, "unknown group"),
    ({"epoch": 1, "groups": {"1": "h:1"}, "slots": [1] * 10}, "1024"),
])
def test_table_validation(bad, msg):
    with pytest.raises(TableError, match=msg):
        SlotTable.from_json(bad)


# -- limits ----------------------------------------------------------------------------------------


def test_token_bucket():
    b = TokenBucket(10, 2, now=0.0)
    assert b.take(0.0) and b.take(0.0) and not b.take(0.0)
    assert b.take(0.1)  # one token refilled after 100 ms at 10/s
    assert not b.take(0.1)
    assert b.take(10.0) and b.take(10.0) and not b.take(10.0)  # refill capped at burst


def test_ip_limits():
    lim = IpLimits(max_per_ip=2, rate_per_ip=0)
    lim.opened("1.1.1.1")
    lim.opened("1.1.1.1")
    assert lim.check("1.1.1.1", 0) == "ip_concurrency"
    assert lim.check("2.2.2.2", 0) is None
    lim.closed("1.1.1.1")
    assert lim.check("1.1.1.1", 0) is None
    rate = IpLimits(max_per_ip=0, rate_per_ip=2)
    assert rate.check("a", 0) is None and rate.check("a", 0) is None
    assert rate.check("a", 0) == "ip_rate"
    assert rate.check("a", 1.0) is None
    rate.sweep(100.0)
    assert rate.buckets == {}


def test_circuit_breaker():
    br = CircuitBreaker(["hgetall"], ["user:"])
    assert br.active
    assert "HGETALL" in br.check("HGETALL", True, [b"k"])
    assert "user:" in br.check("SET", False, [b"user:1"])
    assert br.check("GET", True, [b"user:1"]) is None  # reads of the prefix still pass
    assert br.check("SET", False, [b"other"]) is None
    br.set([], [])
    assert not br.active and br.check("HGETALL", True, []) is None


# -- admission decisions ---------------------------------------------------------------------------


def test_gate_verdict():
    T = tcpinfo.TcpInfo
    assert gate_verdict(T(tcpinfo.ESTABLISHED, 0, 0, 10), 2000) is None
    assert gate_verdict(T(tcpinfo.CLOSE_WAIT, 0, 0, 10), 2000) == "client_closed"
    assert gate_verdict(T(tcpinfo.CLOSE, 0, 0, 10), 2000) == "reset"
    assert gate_verdict(T(tcpinfo.ESTABLISHED, 0, 0, 2001), 2000) == "stale"
    assert gate_verdict(None, 2000) is None


def test_tcp_info_of_real_sockets():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(7)
    cli = socket.create_connection(srv.getsockname())
    cli.sendall(b"PING\r\n")
    deadline = time.monotonic() + 5
    while tcpinfo.listen_queue(srv)[0] < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert tcpinfo.listen_queue(srv) == (1, 7)
    cli.close()  # the client gives up while its socket still waits in the accept queue
    conn, _ = srv.accept()
    while tcpinfo.tcp_info(conn).state != tcpinfo.CLOSE_WAIT and time.monotonic() < deadline:
        time.sleep(0.01)
    assert gate_verdict(tcpinfo.tcp_info(conn), 2000) == "client_closed"
    conn.close()
    srv.close()
    assert "TcpExt.ListenOverflows" in tcpinfo.netstat()


# -- commands and replies --------------------------------------------------------------------------


def test_command_classes():
    assert C.lookup(b"get").kind == C.KEY and C.lookup(b"GET").readonly
    assert C.lookup(b"Set").kind == C.KEY and not C.lookup(b"SET").readonly
    assert C.lookup(b"mget").kind == C.SPLIT
    assert C.lookup(b"keys").kind == C.FANOUT and C.lookup(b"multi").kind == C.TXN
    assert C.lookup(b"blpop").kind == C.BLOCK and C.lookup(b"subscribe").kind == C.PUBSUB
    assert C.lookup(b"shutdown").kind == C.DENY
    assert C.lookup(b"auth").kind == C.LOCAL
    assert C.lookup(b"nosuch") is None
    spec = C.lookup(b"eval")
    assert C.same_slot_keys(spec, [b"EVAL", b"s", b"2", b"a", b"b", b"x"]) == [b"a", b"b"]
    assert C.same_slot_keys(C.lookup(b"msetnx"), [b"MSETNX", b"a", b"1", b"b", b"2"]) == [b"a", b"b"]
    assert C.same_slot_keys(C.lookup(b"zunionstore"), [b"Z", b"d", b"2", b"a", b"b"]) == [b"a", b"b", b"d"]
    with pytest.raises(ValueError):
        C.same_slot_keys(spec, [b"EVAL", b"s", b"5", b"a"])
    assert C.same_slot_keys(C.lookup(b"object"), [b"OBJECT", b"ENCODING", b"k"]) == [b"k"]
    assert C.same_slot_keys(C.lookup(b"blpop"), [b"BLPOP", b"a", b"b", b"0"]) == [b"a", b"b"]
    assert C.same_slot_keys(C.lookup(b"xread"), [b"XREAD", b"BLOCK", b"0", b"STREAMS", b"a", b"b",
                                                 b"$", b"$"]) == [b"a", b"b"]
    assert C.same_slot_keys(C.lookup(b"blmpop"), [b"BLMPOP", b"0", b"2", b"a", b"b", b"LEFT"]) == [b"a", b"b"]


def test_reply_framing():
    replies = [b"+OK\r\n", b"-ERR x\r\n", b":12\r\n", b"$3\r\nbar\r\n", b"$-1\r\n", b"*-1\r\n",
               b"*2\r\n$1\r\na\r\n*1\r\n:1\r\n"]
    buf = b"".join(replies)
    pos, seen = 0, []
    while pos < len(buf):
        end = reply_end(buf, pos)
        seen.append(buf[pos:end])
        pos = end
    assert seen == replies
    assert reply_end(b"$3\r\nba", 0) == -1 and reply_end(b"*2\r\n:1\r\n", 0) == -1
    assert array_items(b"*2\r\n$1\r\na\r\n$-1\r\n") == [b"$1\r\na\r\n", b"$-1\r\n"]
    assert array_items(b"-ERR no\r\n") is None
    assert int_value(b":42\r\n") == 42
    resp3 = [b"%2\r\n+a\r\n,1.5\r\n$1\r\nb\r\n_\r\n", b"~1\r\n#t\r\n", b">2\r\n$1\r\nx\r\n(12\r\n",
             b"=7\r\ntxt:abc\r\n", b"|1\r\n+k\r\n+v\r\n:1\r\n", b"!3\r\nERR\r\n"]
    buf, pos, seen = b"".join(resp3), 0, []
    while pos < len(buf):
        end = reply_end(buf, pos)
        seen.append(buf[pos:end])
        pos = end
    assert seen == resp3
    assert reply_end(b"%1\r\n+a\r\n", 0) == -1
    assert array_items(resp3[0]) == [b"+a\r\n", b",1.5\r\n", b"$1\r\nb\r\n", b"_\r\n"]
    for argv in ([b"GET", b"k"], [b"SET", b"k", b"v"], [b"MSET", b"a", b"1", b"b", b"2"]):
        assert pack(argv) == encode_command(*argv)


def _split(name: bytes, nkeys: int, parts: list[tuple[list[int], bytes]]) -> bytes:
    parent = Split(None, C.lookup(name), b"", 0, 0.0)
    parent.nkeys = nkeys
    parent.parts = []
    for positions, reply in parts:
        p = Part(None, parent.spec, b"", 0, 0.0)
        p.positions, p.reply = positions, reply
        parent.parts.append(p)
    return parent.merge()


def test_split_merge():
    assert _split(b"MGET", 3, [([0, 2], b"*2\r\n$1\r\na\r\n$1\r\nc\r\n"), ([1], b"*1\r\n$-1\r\n")]) == \
        b"*3\r\n$1\r\na\r\n$-1\r\n$1\r\nc\r\n"
    assert _split(b"DEL", 3, [([0, 2], b":2\r\n"), ([1], b":0\r\n")]) == b":2\r\n"
    assert _split(b"MSET", 2, [([0], b"+OK\r\n"), ([1], b"+OK\r\n")]) == b"+OK\r\n"
    assert _split(b"EXISTS", 2, [([0], b":1\r\n"), ([1], b"-ERR boom\r\n")]) == b"-ERR boom\r\n"


# -- config and metrics ----------------------------------------------------------------------------


def test_table_migrating_parse_validate_roundtrip():
    base = {"epoch": 2, "groups": {"1": "h:1", "2": "h:2", "3": "h:3"}, "slots": {"0-511": 2, "512-1023": 1}}
    t = SlotTable.from_json({**base, "migrating": {"0-9": 1, "20": 3}})
    assert t.migrating == {**{s: 1 for s in range(10)}, 20: 3}
    assert t.to_json()["migrating"] == {"0-9": 1, "20-20": 3}
    assert SlotTable.from_json(t.to_json()) == t
    as_list = [0] * NSLOTS
    as_list[5] = 3
    assert SlotTable.from_json({**base, "migrating": as_list}).migrating == {5: 3}
    plain = SlotTable.from_json(base)
    assert plain.migrating == {} and "migrating" not in plain.to_json()
    for bad, msg in [({"0-9": 7}, "unknown group 7"), ({"0-9": 2}, "already owns"),
                     ({"9-3": 1}, "bad range"), ({"1000-1024": 1}, "bad range"), ({"x": 1}, "integer"),
                     ({"0-3": 1, "3": 1}, "twice"), ([1] * 5, "1024"), ("0-3=1", "must be")]:
        with pytest.raises(TableError, match=msg):
            SlotTable.from_json({**base, "migrating": bad})


def test_config_backlog_rule(tmp_path):
    with open("/proc/sys/net/core/somaxconn") as fh:
        somaxconn = int(fh.read())
    assert load(ProxyConfig, None, {}).effective_backlog() == max(16, somaxconn)  # deep by default
    assert load(ProxyConfig, None, {"listen_backlog": "123"}).effective_backlog() == 123
    cfg = load(ProxyConfig, None, {"client_timeout_ms": "2000", "admit_margin_ms": "500"})
    assert cfg.stale_after_ms() == 1500
    assert load(ProxyConfig, None, {"client_timeout_ms": "100", "admit_margin_ms": "500"}).stale_after_ms() == 1
    path = tmp_path / "p.toml"
    path.write_text("port = 1\nbogus_key = 2\n")
    with pytest.raises(ConfigError, match="unknown key 'bogus_key'"):
        load(ProxyConfig, path)
    table = markdown_table(ProxyConfig)
    assert "`client_timeout_ms`" in table and "`admission_gate`" in table


def test_metrics_render():
    h = Histogram((0.1, 1.0))
    h.observe(0.05)
    h.observe(5)
    text = render([counter("x_dropped", "d", ["reason"], {"stale": 3}), h.family("x_lat", "l")]).decode()
    assert 'x_dropped_total{reason="stale"} 3.0' in text
    assert 'x_lat_bucket{le="+Inf"} 2.0' in text and 'x_lat_bucket{le="0.1"} 1.0' in text


def test_example_config_loads():
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "deploy" / "proxy.example.toml"
    cfg = load(ProxyConfig, path)
    table = SlotTable.from_config(cfg.groups, cfg.slots, cfg.slots_epoch)
    assert table.epoch == 1 and sorted(table.groups) == [1, 2]


def test_chunk_parser_any_split_of_a_stream():
    """However a stream is cut into chunks, the commands come out once and in order, and a chunk
    called clean is exactly the encoding of the commands it produced."""
    import random

    from xcache.proxy.chunks import ChunkParser
    from xcache.resp.parser import _FENCE

    cmds = []
    for i in range(300):
        v = [b"v", b"x" * 300, _FENCE, encode_command(b"GET", b"k"), b"*2\r\n$3\r\nGET", b""][i % 6]
        cmds.append([b"SET", b"key%d" % i, v] if i % 2 else [b"GET", b"key%d" % i])
    stream = b"".join(encode_command(*c) for c in cmds)
    rnd = random.Random(7)
    for _ in range(300):
        parser, got, pos = ChunkParser(1 << 20, 1 << 20), [], 0
        while pos < len(stream):
            step = rnd.choice([1, 2, 7, 19, 64, 300, 1000, 5000])
            data = stream[pos : pos + step]
            pos += step
            out, clean = parser.feed(data)
            if clean:
                assert b"".join(encode_command(*c) for c in out) == data
            got += out
        assert got == cmds


def test_chunk_parser_errors_and_inline():
    from xcache.proxy.chunks import ChunkParser

    p = ChunkParser(1 << 20, 1 << 20)
    out, clean = p.feed(b"PING\r\n")
    assert out == [[b"PING"]] and not clean
    out, clean = p.feed(b"*1\r\n$4\r\nPING\r\n")
    assert out == [[b"PING"]] and clean
    out, clean = p.feed(b"*1\r\n$x\r\n")
    assert not clean and isinstance(out[-1], Exception)


class _StubFlusher:
    sessions: list = []

    def flush_sessions(self):
        pass

    def backend(self, b):
        pass


class _StubCtx:
    now = 0.0
    flusher = _StubFlusher()
    cfg = load(ProxyConfig, None, {})


class _StubGroup:
    ctx = _StubCtx()
    demoted = False

    def refused(self, conn, reqs, reply_of_first=None):
        self.refused_reqs = reqs


class _StubSession:
    closed = False
    resp3 = False

    def __init__(self):
        from collections import deque

        self.pending = deque()
        self.done = []

    def request_done(self, req):
        while self.pending and self.pending[0].reply is not None:
            self.done.append(self.pending.popleft().reply)


def test_backend_reply_framing_any_split():
    """Replies cut anywhere are matched to requests in order; a Batch gets its replies as one
    slice; a -READONLY inside a batch splits it (answered prefix, refused one, rest)."""
    import random

    from xcache.proxy.backend import BackendConn
    from xcache.proxy.pending import Batch, Request

    replies = [b"+OK\r\n", b"$3\r\nbar\r\n", b"$-1\r\n", b":7\r\n", b"-ERR x\r\n", b"$1000\r\n" + b"y" * 1000 + b"\r\n",
               b"*2\r\n$1\r\na\r\n*1\r\n:1\r\n", b"*0\r\n"]
    spec = C.lookup(b"get")
    rnd = random.Random(3)
    for _ in range(200):
        conn = BackendConn(_StubGroup(), "127.0.0.1:1")
        sess = _StubSession()
        stream, expect = b"", []
        for _ in range(30):
            if rnd.random() < 0.5:
                req = Request(sess, spec, b"", 0, 0.0)
                r = rnd.choice(replies)
                stream += r
                expect.append(r)
            else:
                items = [(spec, [b"GET", b"k"], 0)] * rnd.randint(2, 5)
                req = Batch(sess, items, 0.0)
                rs = b"".join(rnd.choice(replies) for _ in items)
                stream += rs
                expect.append(rs)
            sess.pending.append(req)
            conn.queue.append(req)
        pos = 0
        while pos < len(stream):
            step = rnd.choice([1, 3, 10, 100, 2000])
            conn.data_received(stream[pos : pos + step])
            pos += step
        assert sess.done == expect and not conn.queue

    conn = BackendConn(_StubGroup(), "127.0.0.1:1")
    sess = _StubSession()
    batch = Batch(sess, [(spec, [b"SET", b"k%d" % i, b"v"], i) for i in range(4)], 0.0)
    sess.pending.append(batch)
    conn.queue.append(batch)
    conn.data_received(b"+OK\r\n-READONLY You can't write against a read only replica.\r\n+OK\r\n")
    assert sess.done == [b"+OK\r\n"]  # the answered prefix went out; the refused one is held
    refused = conn.group.refused_reqs
    assert [r.argv[1] for r in refused] == [b"k1"]
    assert [p.reply for p in sess.pending] == [None, b"+OK\r\n", None]  # k1 held, k2 done, k3 waiting
    assert [r.argv[1] for r in conn.queue] == [b"k3"]


def test_steering_program():
    import pytest

    from xcache.proxy.steering import program

    assert program(3) == [(0x20, 0, 0, 0xFFFFF038), (0x94, 0, 0, 3), (0x16, 0, 0, 0)]
    with pytest.raises(ValueError):
        program(0)
