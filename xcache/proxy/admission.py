"""The admission gate: decide what to do with a new socket before anything is allocated for it.

The incident: clients gave up after 2 s while their sockets still sat in a 32768-deep accept
queue; the proxy then accepted each corpse and spent a session, a task and buffers on it, so live
clients waited behind dead ones. Here, each accepted socket is checked with TCP_INFO first:
  - state CLOSE_WAIT / CLOSE etc.: the client already left  -> drop (reason client_closed / reset)
  - tcpi_last_data_recv > client_timeout_ms - admit_margin_ms - the wait for the sessions
    admitted ahead of it and not yet answered (setupwait.py: their number / the rate this worker
    answers new sessions when busy): its client would give up before a reply could reach it
    -> drop (reason stale)
Dropped sockets are closed with an RST (SO_LINGER 0): a client still waiting learns at once and
retries into a queue that is now shorter, instead of timing out. Per-IP limits and max_clients
are checked right after accept(); a refused client gets Redis's error line and the connection
closes, at once.

Why a deep kernel queue and no pause at max_clients (measured with `xcache drill incident`, 16,000
clients): dropping a dead socket costs the gate microseconds, while every connection the kernel
refuses because the queue is full (or the listener paused) costs its client a SYN timeout of 1-3 s.
Those timeouts expire together, so the retries came back in synchronized waves and the proxy
never caught up (the lockout of issue 11). So the listen backlog defaults to net.core.somaxconn,
the listener drains the queue fast (dead sockets do not count against accept_batch), and work is
refused explicitly rather than left queued.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from time import perf_counter

from xcache.observability import tcpinfo
from xcache.proxy.logs import log

_LINGER_RST = struct.pack("ii", 1, 0)
_GONE = {tcpinfo.CLOSE_WAIT: "client_closed", tcpinfo.LAST_ACK: "client_closed",
         tcpinfo.CLOSING: "client_closed", tcpinfo.CLOSE: "reset"}
DROP_REASONS = ("client_closed", "reset", "stale")
REJECT_REASONS = ("max_clients", "ip_concurrency", "ip_rate")


def gate_verdict(info: tcpinfo.TcpInfo | None, stale_after_ms: int) -> str | None:
    """None to admit, else the drop reason. Sans-IO: info comes from tcpinfo.tcp_info()."""
    if info is None:
        return None
    reason = _GONE.get(info.state)
    if reason is not None:
        return reason
    if info.last_data_recv_ms > stale_after_ms:
        return "stale"
    return None


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


# A wake-up of the listener accepts for at most this long before the loop serves sessions again.
ACCEPT_BUDGET_S = 0.01


class Listener:
    """Accept loop driven by readability of the listening socket (no accept-then-decide)."""

    def __init__(self, ctx, sock: socket.socket):
        self.ctx = ctx
        self.sock = sock
        self.family = sock.family
        self.cfg = ctx.cfg
        self.paused = True
        self.closed = False
        self.pauses = 0
        self.stale_after_ms = ctx.cfg.stale_after_ms()
        self.fd_episode = 0  # accept failures for want of descriptors since the last success

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

    def _retry_after_fd_pause(self) -> None:
        if self.paused and not self.ctx.stopping and not self.closed:
            self.resume()

    def on_readable(self) -> None:
        """Drain the queue: dead sockets cost a getsockopt and a close, so they do not count
        against accept_batch; admissions do. Bounded by ACCEPT_BUDGET_S per wake-up."""
        ctx = self.ctx
        cfg = self.cfg
        gate = cfg.admission_gate
        stale_after = self.stale_after_ms
        setup = ctx.setup
        per_session = setup.ms_per_session()
        family = self.family
        raw_accept = self.sock._accept  # (fd, addr): socket.accept() would look up family and type as enums each time
        admitted = 0
        deadline = perf_counter() + ACCEPT_BUDGET_S
        while admitted < cfg.accept_batch and perf_counter() < deadline:
            try:
                fd, addr = raw_accept()
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
            conn = socket.socket(family, socket.SOCK_STREAM, 0, fd)
            if gate:
                # the wait for the sessions admitted ahead of it comes on top of the margin
                reason = gate_verdict(tcpinfo.tcp_info(conn), stale_after - setup.pending * per_session)
                if reason is not None:
                    ctx.dropped[reason] += 1
                    _drop(conn)
                    continue
            if ctx.session_count >= cfg.max_clients:
                ctx.rejected["max_clients"] += 1
                _refuse(conn, MAX_CLIENTS)
                continue
            ip = addr[0] if isinstance(addr, tuple) else "local"
            reason = ctx.ip_limits.check(ip, ctx.loop.time())
            if reason is not None:
                ctx.rejected[reason] += 1
                _refuse(conn, IP_CONCURRENCY if reason == "ip_concurrency" else IP_RATE)
                continue
            ctx.admit(conn, ip)
            admitted += 1


def _drop(conn: socket.socket) -> None:
    try:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
    except OSError:
        pass
    conn.close()


MAX_CLIENTS = b"-ERR max number of clients reached\r\n"  # Redis's words
IP_CONCURRENCY = b"-ERR xcache: too many connections from your address\r\n"
IP_RATE = b"-ERR xcache: connection rate limit for your address exceeded\r\n"


def _refuse(conn: socket.socket, msg: bytes) -> None:
    """Tell the client why, then close: it fails at once instead of waiting in a queue."""
    try:
        conn.setblocking(False)
        conn.send(msg)
    except OSError:
        pass
    conn.close()
