"""Unit tests without sockets: INFO parsing, config, RESP2/RESP3 reply encoding, dispatch."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unknown_commands import UNKNOWN_COMMANDS
from xcache.config import ConfigError, load
from xcache.resp import Error
from xcache.sentinel.config import SentinelConfig, parse_monitors
from xcache.sentinel.monitor import node_info, parse_info
from xcache.sentinel.node import SentinelNode
from xcache.sentinel.server import Push, SentinelServer, Session, encode_reply

MASTER_INFO = (b"# Server\r\nrun_id:abc\r\n# Replication\r\nrole:master\r\nconnected_slaves:2\r\n"
               b"slave0:ip=127.0.0.1,port=6381,state=online,offset=100,lag=0\r\n"
               b"slave1:ip=127.0.0.1,port=6382,state=online,offset=90,lag=1\r\n"
               b"master_repl_offset:100\r\n")
REPLICA_INFO = (b"# Replication\r\nrole:slave\r\nmaster_host:127.0.0.1\r\nmaster_port:6380\r\n"
                b"master_link_status:down\r\nmaster_link_down_since_seconds:7\r\n"
                b"slave_repl_offset:90\r\nslave_priority:10\r\n"
                b"# Storage\r\nwrite_stall_active:0\r\nwrite_stall_seconds:0\r\n"
                b"rocksdb_write_stopped:1\r\nrocksdb_delayed_write_rate:0\r\n")


def test_master_info():
    info = node_info(parse_info(MASTER_INFO))
    assert info.role == "master" and info.run_id == "abc"
    assert info.replicas == [("127.0.0.1", 6381), ("127.0.0.1", 6382)]
    assert info.repl_offset == 100 and not info.stalled


def test_replica_info_with_storage_section():
    info = node_info(parse_info(REPLICA_INFO))
    assert (info.role, info.master_host, info.master_port) == ("slave", "127.0.0.1", 6380)
    assert not info.master_link_up and info.master_link_down_ms == 7000
    assert (info.priority, info.repl_offset) == (10, 90)
    assert info.stalled  # rocksdb_write_stopped:1 counts as a stall


def test_config_monitor_parsing(tmp_path):
    assert parse_monitors("a 127.0.0.1 6380 2, b h 1 1") == [("a", "127.0.0.1", 6380, 2), ("b", "h", 1, 1)]
    for bad in ("a 127.0.0.1 6380", "a h x 2", "a h 1 0"):
        with pytest.raises(ConfigError):
            parse_monitors(bad)
    p = tmp_path / "s.toml"
    p.write_text('port = 26400\nmonitor = "m 127.0.0.1 6380 2"\ndown_after_ms = 500\n')
    cfg = load(SentinelConfig, p)
    assert (cfg.port, cfg.down_after_ms) == (26400, 500)
    p.write_text("down_after = 5\n")
    with pytest.raises(ConfigError, match="did you mean 'down_after_ms'"):
        load(SentinelConfig, p)


def _enc(reply, resp3: bool) -> bytes:
    out: list = []
    encode_reply(out, reply, resp3)
    return b"".join(out)


def test_encode_resp2_and_resp3():
    assert _enc({b"a": b"1"}, False) == b"*2\r\n$1\r\na\r\n$1\r\n1\r\n"
    assert _enc({b"a": b"1"}, True) == b"%1\r\n$1\r\na\r\n$1\r\n1\r\n"
    assert _enc(None, True) == b"_\r\n" and _enc(None, False) == b"$-1\r\n"
    assert _enc(Push([b"message", b"c", b"m"]), True).startswith(b">3\r\n")
    assert _enc(Push([b"message", b"c", b"m"]), False).startswith(b"*3\r\n")


class FakeTransport:
    def __init__(self):
        self.data = b""
        self.closed = False

    def write(self, data: bytes) -> None:
        self.data += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return 0


def _session():
    node = SentinelNode(SentinelConfig())
    server = SentinelServer(node)
    s = Session(server)
    s.connection_made(FakeTransport())
    return node, server, s


def test_dispatch_sentinel_commands():
    node, server, s = _session()
    assert server.dispatch(s, [b"SENTINEL", b"monitor", b"m", b"127.0.0.1", b"6380", b"2"]) is not None
    assert server.dispatch(s, [b"SENTINEL", b"get-master-addr-by-name", b"m"]) == [b"127.0.0.1", b"6380"]
    err = server.dispatch(s, [b"SENTINEL", b"monitor", b"m", b"127.0.0.1", b"6380", b"0"])
    assert isinstance(err, Error) and "Quorum" in err.message
    err = server.dispatch(s, [b"SENTINEL", b"failover", b"m"])
    assert isinstance(err, Error) and err.message.startswith("NOGOODSLAVE")
    err = server.dispatch(s, [b"SENTINEL", b"ckquorum", b"m"])
    assert isinstance(err, Error) and err.message.startswith("NOQUORUM 1 usable")
    err = server.dispatch(s, [b"SENTINEL", b"bogus"])
    assert isinstance(err, Error) and "Unknown sentinel subcommand" in err.message
    desc = server.dispatch(s, [b"SENTINEL", b"master", b"m"])
    assert desc[b"flags"] == b"master,disconnected" and desc[b"quorum"] == b"2"
    assert server.dispatch(s, [b"SENTINEL", b"sentinels", b"m"]) == []


def test_pubsub_session_receives_events_and_is_restricted():
    node, server, s = _session()
    s.data_received(b"*2\r\n$9\r\nSUBSCRIBE\r\n$6\r\n+sdown\r\n*2\r\n$10\r\nPSUBSCRIBE\r\n$2\r\n-*\r\n")
    assert s.transport.data == (b"*3\r\n$9\r\nsubscribe\r\n$6\r\n+sdown\r\n:1\r\n"
                                b"*3\r\n$10\r\npsubscribe\r\n$2\r\n-*\r\n:2\r\n")
    s.transport.data = b""
    node.monitor("m", "127.0.0.1", 6380, 1)
    server.publish("+sdown", "master m 127.0.0.1 6380")
    server.publish("-odown", "master m 127.0.0.1 6380")
    assert s.transport.data == (b"*3\r\n$7\r\nmessage\r\n$6\r\n+sdown\r\n$23\r\nmaster m 127.0.0.1 6380\r\n"
                                b"*4\r\n$8\r\npmessage\r\n$2\r\n-*\r\n$6\r\n-odown\r\n"
                                b"$23\r\nmaster m 127.0.0.1 6380\r\n")
    err = server.dispatch(s, [b"SENTINEL", b"masters"])
    assert isinstance(err, Error) and "only (P|S)SUBSCRIBE" in err.message


def test_hello_switches_protocol():
    node, server, s = _session()
    reply = server.dispatch(s, [b"HELLO", b"3"])
    assert reply[b"proto"] == 3 and s.resp3
    assert isinstance(server.dispatch(s, [b"HELLO", b"4"]), Error)


def test_deploy_example_loads():
    path = Path(__file__).resolve().parents[2] / "deploy" / "sentinel.example.toml"
    assert load(SentinelConfig, path) == SentinelConfig()


def test_reset_leaves_pubsub_mode():
    node, server, s = _session()
    server.dispatch(s, [b"SUBSCRIBE", b"+sdown"])
    assert server.dispatch(s, [b"RESET"]) == b"RESET"
    assert not s.channels and server.channels[b"+sdown"] == set()
    assert server.dispatch(s, [b"PING"]) is not None and not isinstance(server.dispatch(s, [b"ROLE"]), Error)


def test_quorum_metrics():
    from prometheus_client import generate_latest

    from xcache.sentinel.metrics import Metrics

    node, server, s = _session()
    server.dispatch(s, [b"SENTINEL", b"monitor", b"m", b"127.0.0.1", b"6380", b"2"])
    text = generate_latest(Metrics(node).registry).decode()
    assert 'xcache_sentinel_master_quorum{master="m"} 2.0' in text
    assert 'xcache_sentinel_master_sentinels_up{master="m"} 1.0' in text  # itself; no peers yet
    assert 'xcache_sentinel_master_sentinels{master="m"} 0.0' in text


def test_unknown_command_text_is_redis_sentinels():
    _, server, s = _session()
    for argv, line in UNKNOWN_COMMANDS:
        err = server.dispatch(s, argv)
        assert isinstance(err, Error)
        out: list = []
        encode_reply(out, err, False)
        assert b"".join(out) == line
