"""The admission gate: decide what to do with a new socket before anything is allocated for it.

The incident: clients gave up after 2 s while their sockets still sat in a 32768-deep accept
queue; the proxy then accepted each corpse and spent a session, a task and buffers on it, so live
clients waited behind dead ones. Here, each accepted socket is checked with TCP_INFO first:
  - state CLOSE_WAIT / CLOSE etc.: the client already left  -> drop (reason client_closed / reset)
  - tcpi_last_data_recv > client_timeout_ms: it waited in the queue longer than any client waits
                                                             -> drop (reason stale)
Dropped sockets are closed with an RST (SO_LINGER 0) and never see a session. At max_clients the
listener stops accepting (the kernel queue and SYN backlog push back) instead of accepting and
erroring; it resumes below a low-water mark. Per-IP limits are checked right after accept().

Backlog rule: a worker should queue no more connections than it can drain within the client
timeout: backlog = accept_rate_per_sec x client_timeout_ms / 1000 (capped by somaxconn). A deeper
queue only stores sockets whose clients will be gone by the time they are accepted.
"""

from __future__ import annotations

import errno
import os
import socket
import struct

from xcache.observability import tcpinfo
from xcache.proxy.logs import log

_LINGER_RST = struct.pack("ii", 1, 0)
_GONE = {tcpinfo.CLOSE_WAIT: "client_closed", tcpinfo.LAST_ACK: "client_closed",
         tcpinfo.CLOSING: "client_closed", tcpinfo.CLOSE: "reset"}
DROP_REASONS = ("client_closed", "reset", "stale")
REJECT_REASONS = ("ip_concurrency", "ip_rate")


def gate_verdict(info: tcpinfo.TcpInfo | None, client_timeout_ms: int) -> str | None:
    """None to admit, else the drop reason. Sans-IO: info comes from tcpinfo.tcp_info()."""
    if info is None:
        return None
    reason = _GONE.get(info.state)
    if reason is not None:
        return reason
    if info.last_data_recv_ms > client_timeout_ms:
        return "stale"
    return None


def low_water(max_clients: int, pct: int) -> int:
    return max(0, min(max_clients - 1, max_clients * pct // 100))


def make_listen_socket(host: str, port: int, backlog: int, defer_accept_ms: int) -> socket.socket:
    """A non-blocking SO_REUSEPORT listener, so several workers can share the port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if defer_accept_ms and hasattr(socket, "TCP_DEFER_ACCEPT"):
        # Seconds, rounded up: the connection is queued once the client has sent its first bytes.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, max(1, (defer_accept_ms + 999) // 1000))
    sock.bind((host, port))
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


class Listener:
    """Accept loop driven by readability of the listening socket (no accept-then-decide)."""

    def __init__(self, ctx, sock: socket.socket):
        self.ctx = ctx
        self.sock = sock
        self.cfg = ctx.cfg
        self.paused = True
        self.closed = False
        self.pauses = 0
        self.fd_episode = 0  # accept failures for want of descriptors since the last success
        self.low = low_water(self.cfg.max_clients, self.cfg.resume_clients_pct)

    def start(self) -> None:
        self.resume()

    def pause(self, why: str, quiet: bool = False) -> None:
        if not self.paused:
            self.ctx.loop.remove_reader(self.sock.fileno())
            self.paused = True
            self.pauses += 1
            if not quiet:
                log("listener_paused", reason=why, sessions=self.ctx.session_count)

    def resume(self) -> None:
        if self.paused:
            self.ctx.loop.add_reader(self.sock.fileno(), self.on_readable)
            self.paused = False

    def drain(self) -> None:
        """Accept what is queued (one last pass), then stop and close this process's descriptor."""
        self.closed = True
        for _ in range(1000):  # bounded: at most 1000 batches
            queued = tcpinfo.listen_queue(self.sock)
            if self.paused or (queued is not None and queued[0] == 0):
                break
            self.on_readable()
            if queued is None:  # no TCP_INFO here: one pass is all we can do
                break
        self.pause("retiring")
        self.sock.close()

    def maybe_resume(self) -> None:
        if self.paused and self.ctx.session_count <= self.low and not self.ctx.stopping and not self.closed:
            log("listener_resumed", sessions=self.ctx.session_count)
            self.resume()

    def _retry_after_fd_pause(self) -> None:
        if self.paused and not self.ctx.stopping and not self.closed and self.ctx.session_count < self.cfg.max_clients:
            self.resume()

    def on_readable(self) -> None:
        ctx = self.ctx
        cfg = self.cfg
        gate = cfg.admission_gate
        timeout = cfg.client_timeout_ms
        for _ in range(cfg.accept_batch):
            if ctx.session_count >= cfg.max_clients:
                self.pause("max_clients")
                return
            try:
                conn, addr = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    # Out of descriptors: stop accepting for a moment rather than spin. Logged
                    # once per episode (it retries 10 times a second), counted every time.
                    ctx.rejected["fd_exhausted"] += 1
                    if not self.fd_episode:
                        log("fd_exhausted", "warning", error=os.strerror(exc.errno),
                            sessions=ctx.session_count, action="accept_paused_retrying")
                    self.fd_episode += 1
                    self.pause("fd_exhausted", quiet=True)
                    ctx.loop.call_later(0.1, self._retry_after_fd_pause)
                return
            if self.fd_episode:
                log("fd_exhaustion_ended", retries=self.fd_episode, sessions=ctx.session_count)
                self.fd_episode = 0
            if gate:
                reason = gate_verdict(tcpinfo.tcp_info(conn), timeout)
                if reason is not None:
                    ctx.dropped[reason] += 1
                    _drop(conn)
                    continue
            ip = addr[0] if isinstance(addr, tuple) else "local"
            reason = ctx.ip_limits.check(ip, ctx.loop.time())
            if reason is not None:
                ctx.rejected[reason] += 1
                _refuse(conn, reason)
                continue
            ctx.admit(conn, ip)


def _drop(conn: socket.socket) -> None:
    try:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
    except OSError:
        pass
    conn.close()


def _refuse(conn: socket.socket, reason: str) -> None:
    msg = b"-ERR xcache: too many connections from your address\r\n" if reason == "ip_concurrency" \
        else b"-ERR xcache: connection rate limit for your address exceeded\r\n"
    try:
        conn.setblocking(False)
        conn.send(msg)
    except OSError:
        pass
    conn.close()
