"""Start and stop real processes for tests: redis-server, xcache components. Ephemeral ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 20.0) -> None:
    """Wait until something accepts on 127.0.0.1:port (fails fast if proc exits)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            out = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise RuntimeError(f"process exited with {proc.returncode} before listening: {out[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listening on port {port} after {timeout}s")


class Stops:
    """`with thing as t:` stops thing (a process, or a set of them) when the block ends."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class Proc(Stops):
    """A child process listening on a port; stop() kills it and waits."""

    def __init__(self, args: list[str], port: int, cwd: str | None = None, env: dict | None = None,
                 stderr_path: str | None = None):
        self.args = args
        self.port = port
        self._stderr_path = stderr_path
        stderr = open(stderr_path, "ab") if stderr_path else subprocess.PIPE
        self.popen = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=stderr,
                                      env={**os.environ, **(env or {})}, start_new_session=True)
        if stderr_path:
            stderr.close()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def wait_ready(self, timeout: float = 20.0) -> Proc:
        wait_for_port(self.port, self.popen if not self._stderr_path else None, timeout)
        return self

    def signal(self, sig: int) -> None:
        self.popen.send_signal(sig)

    def kill9(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait(10)

    def stop(self) -> None:
        if self.popen.poll() is None:
            try:
                self.popen.send_signal(signal.SIGCONT)
                self.popen.terminate()
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        if self.popen.stderr:
            self.popen.stderr.close()


def proc_fixture(start, name: str, scope: str):
    """A fixture running start(tmp dir named name) once per scope, stopped at its end."""

    @pytest.fixture(scope=scope)
    def fixture(tmp_path_factory):
        with start(tmp_path_factory.mktemp(name)) as proc:
            yield proc

    return fixture


def start_redis(tmp: Path, *extra: str, port: int | None = None) -> Proc:
    """A real redis-server (Debian package) on an ephemeral port, no persistence."""
    port = port or free_port()
    d = tmp / f"redis-{port}"
    d.mkdir(parents=True, exist_ok=True)
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(d), *extra]
    return Proc(args, port, stderr_path=str(d / "log")).wait_ready()


def start_xcache_server(tmp: Path, *extra: str, port: int | None = None, data_dir: Path | None = None) -> Proc:
    """An `xcache server` on an ephemeral port with its data under tmp."""
    port = port or free_port()
    d = data_dir or tmp / f"xcache-{port}"
    d.mkdir(parents=True, exist_ok=True)
    # No metrics endpoint unless asked for: its default (port + 10000) lies in the ephemeral
    # range, where a parallel test's client connection may hold it (the node would exit).
    off = [] if any("metrics_port" in a for a in extra) else ["--set", "metrics_port=0"]
    args = [sys.executable, "-m", "xcache.cli", "server", "--port", str(port), "--dir", str(d), *off, *extra]
    return Proc(args, port, stderr_path=str(d / "server.log")).wait_ready()


def talk(port: int, data: bytes, replies: int) -> list[bytes]:
    """Send data, return the first `replies` reply lines (simple replies only)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        buf = b""
        while buf.count(b"\r\n") < replies:
            chunk = s.recv(65536)
            assert chunk, buf
            buf += chunk
    return [line + b"\r\n" for line in buf.split(b"\r\n")[:replies]]


def send_until_close(port: int, data: bytes) -> bytes:
    """Send data on a new connection; return all the server answers until it closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def assert_reply_held(port: int, request: bytes, applied, replica: Proc, reply: bytes) -> None:
    """With replica stopped, request sent to port is applied (applied() turns true) but not
    answered; once replica resumes, the answer is reply. replica is resumed whatever happens."""
    replica.signal(signal.SIGSTOP)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(request)
            wait_until(applied, what="the write applied")
            s.setblocking(False)
            with pytest.raises(BlockingIOError):  # applied, but no reply while no replica has it
                s.recv(64)
            s.setblocking(True)
            replica.signal(signal.SIGCONT)
            assert s.recv(64) == reply
    finally:
        replica.signal(signal.SIGCONT)


def read_until(s: socket.socket, end: bytes) -> bytes:
    """Read from s until what was read ends with end (the connection must not close first)."""
    data = b""
    while not data.endswith(end):
        chunk = s.recv(65536)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    return data


def read_reply(s: socket.socket, closed_ok: bool = False):
    """One reply read from s, parsed (xcache.resp.ReplyParser); "closed" if the peer closes
    first and closed_ok, else that fails the test."""
    from xcache.resp import ReplyParser

    parser, got = ReplyParser(), []
    while not got:
        data = s.recv(1000)
        if not data and closed_ok:
            return "closed"
        assert data, "closed"
        got += parser.feed(data)
    return got[0]


def wait_until(predicate, timeout: float = 30.0, what: str = "condition", interval: float = 0.05):
    """Poll predicate until it returns something truthy (returned); errors it raises meanwhile
    (a node still starting, a connection reset) count as 'not yet' and are shown on timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as exc:  # noqa: BLE001 - keep polling until the deadline
            last = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
