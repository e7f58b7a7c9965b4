"""Bad input to `xcache sentinel` over a raw socket (issue 12): every request gets a reply or a
Redis-style error, never a silent drop; announced lengths are checked before use."""

from __future__ import annotations

import socket
import sys

import pytest

from tests.bad_lengths import ANNOUNCED_LENGTHS
from tests.procs import Proc, free_port, send_until_close


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("sentinel") / "sentinel.log"
    proc = Proc([sys.executable, "-m", "xcache.cli", "sentinel", "--port", str(port)], port,
                stderr_path=str(log)).wait_ready()
    yield proc
    proc.stop()


def wire(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%b\r\n" % (len(a), a) for a in args)


def read_reply(s: socket.socket) -> bytes:
    s.settimeout(5)
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_monitor_with_a_non_utf8_host_is_an_error(sentinel):
    with socket.create_connection(("127.0.0.1", sentinel.port)) as s:
        s.sendall(wire(b"SENTINEL", b"MONITOR", b"x", b"\xff", b"1", b"1"))
        assert read_reply(s) == b"-ERR Invalid IP address or hostname specified\r\n"
        s.sendall(wire(b"PING"))
        assert read_reply(s) == b"+PONG\r\n"


def test_non_utf8_command_while_subscribed_is_an_error(sentinel):
    with socket.create_connection(("127.0.0.1", sentinel.port)) as s:
        s.sendall(wire(b"SUBSCRIBE", b"ch"))
        assert read_reply(s) == b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"
        s.sendall(wire(b"\xff\xfe"))
        assert read_reply(s).startswith(b"-ERR Can't execute '")
        s.sendall(wire(b"PING"))
        assert read_reply(s) == b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"


@pytest.mark.parametrize("data,reply", ANNOUNCED_LENGTHS)
def test_protocol_errors_answer_then_close(sentinel, data, reply):
    assert send_until_close(sentinel.port, wire(b"PING") + data) == b"+PONG\r\n" + reply
