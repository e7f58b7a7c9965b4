"""Bad input to `xcache proxy` (issue 12): announced lengths are checked before anything is
reserved, and running out of file descriptors is logged once per episode."""

from __future__ import annotations

import shutil
import socket

import pytest

from tests.procs import Proc, wait_until
from tests.proxy.conftest import ProxyProc


def read_until_close(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


@pytest.mark.parametrize("data,reply", [
    (b"*2147483648\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
    (b"*4294967295\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
    (b"*1\r\n*2147483648\r\n", b"-ERR Protocol error: expected '$', got '*'\r\n"),
    (b"*1\r\n$-3\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
])
def test_announced_lengths_checked_before_use(proxy, data, reply):
    # After a complete request in the same chunk: the chunk parser's fast path must not take it.
    assert read_until_close(proxy.port, b"*1\r\n$4\r\nPING\r\n" + data) == b"+PONG\r\n" + reply


def test_many_huge_headers_leave_the_proxy_answering(proxy):
    for _ in range(30):
        assert read_until_close(proxy.port, b"*2147483648\r\n") == \
            b"-ERR Protocol error: invalid multibulk length\r\n"
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
        s.sendall(b"PING\r\n")
        assert s.recv(100) == b"+PONG\r\n"


class _Limited(Proc):
    """Runs the process under `prlimit --nofile=200`."""

    def __init__(self, args, port, **kw):
        super().__init__(["prlimit", "--nofile=200:200", *args], port, **kw)


class LimitedProxy(ProxyProc, _Limited):
    pass


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="needs prlimit (util-linux)")
def test_out_of_fds_logged_once_per_episode(tmp_path, backends):
    a, b = backends
    proxy = LimitedProxy(tmp_path, f"1=127.0.0.1:{a.port},2=127.0.0.1:{b.port}").wait_healthy()
    socks = []
    try:
        for _ in range(400):
            try:
                socks.append(socket.create_connection(("127.0.0.1", proxy.port), timeout=5))
            except OSError:
                break

        def log() -> str:
            with open(proxy.log_path) as f:
                return f.read()

        # Retried 10 times a second, each retry counted: wait for several, then one log line.
        wait_until(lambda: proxy.metric("xcache_proxy_rejected_total", reason="fd_exhausted") >= 5,
                   what="several accept retries out of descriptors")
        assert log().count("event=fd_exhausted") == 1
        assert log().count("event=listener_paused") == 0
        for s in socks:
            s.close()
        socks = []
        wait_until(lambda: "event=fd_exhaustion_ended" in log(), what="end of the episode logged")
    finally:
        for s in socks:
            s.close()
        proxy.stop()
