"""Accepting clients on the storage node, including when file descriptors run out.

uvloop's own accept path, out of descriptors, accepts and closes pending connections without a
word (libuv's EMFILE trick): clients saw a reset and the node logged nothing. Here the node
accepts itself, and out of descriptors it spends a reserved one to accept each pending client,
answer it Redis's `-ERR max number of clients reached` and close it; it logs once per episode
(when it starts and when it ends, with how many clients were refused) and counts every refusal
(`rejected_connections_fd` in INFO, `xcache_server_rejected_connections_fd` in /metrics).

At start, like Redis's adjustOpenFilesLimit, the soft RLIMIT_NOFILE is raised to fit maxclients
plus a reserve, and maxclients is lowered (with a warning) when the hard limit does not allow it.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import resource
import socket

log = logging.getLogger("xcache.server")

RESERVED_FDS = 128  # RocksDB files, replication, the metrics port, logs (Redis reserves 32)
_OUT_OF_FDS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
_REFUSAL = b"-ERR max number of clients reached\r\n"
_BATCH = 64  # accepts per wakeup, so a connection storm cannot hold the loop


def fit_maxclients(maxclients: int) -> int:
    """Raise the soft fd limit for maxclients + RESERVED_FDS; the maxclients that fits."""
    want = maxclients + RESERVED_FDS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
            soft = new
        except (ValueError, OSError) as exc:
            log.warning("event=fd_limit_not_raised want=%s soft=%s hard=%s error=%r", want, soft,
                        hard, str(exc))
    if soft != resource.RLIM_INFINITY and soft < want:
        fitted = max(1, soft - RESERVED_FDS)
        log.warning("event=maxclients_lowered maxclients=%s fd_limit=%s now=%s reason=%s",
                    maxclients, soft, fitted, "low_open_files_limit")
        return fitted
    return maxclients


class Acceptor:
    """Accepts on a listening socket and hands each client to protocol_factory."""

    def __init__(self, sock: socket.socket, protocol_factory, stats: dict):
        self.sock = sock
        self.factory = protocol_factory
        self.stats = stats
        self.loop = asyncio.get_running_loop()
        self.reserve: int | None = self._open_reserve()
        self.episode_refused = 0  # > 0 while out of descriptors
        self.closed = False
        sock.setblocking(False)

    @staticmethod
    def _open_reserve() -> int | None:
        try:
            return os.open(os.devnull, os.O_RDONLY)
        except OSError:
            return None

    def start(self) -> None:
        self.loop.add_reader(self.sock.fileno(), self._on_readable)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.loop.remove_reader(self.sock.fileno())
            self.sock.close()
            if self.reserve is not None:
                os.close(self.reserve)
                self.reserve = None

    def _on_readable(self) -> None:
        for _ in range(_BATCH):
            try:
                conn, _addr = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _OUT_OF_FDS:
                    if not self._refuse_one(exc):
                        return
                    continue
                if exc.errno in (errno.ECONNABORTED, errno.EPROTO, errno.EPERM):
                    continue  # the client left before we accepted it
                log.error("event=accept_failed error=%r", str(exc))
                return
            if self.episode_refused:
                log.warning("event=fd_exhaustion_ended refused=%s", self.episode_refused)
                self.episode_refused = 0
            if self.reserve is None:
                self.reserve = self._open_reserve()
            self._serve(conn)

    def _serve(self, conn: socket.socket) -> None:
        conn.setblocking(False)
        if conn.family in (socket.AF_INET, socket.AF_INET6):
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        task = self.loop.create_task(self.loop.connect_accepted_socket(self.factory, conn))
        task.add_done_callback(_report)

    def _refuse_one(self, exc: OSError) -> bool:
        """Out of descriptors: refuse one pending client with a reply; False if we cannot."""
        self.stats["rejected_connections_fd"] += 1
        if not self.episode_refused:
            log.warning("event=fd_exhaustion error=%r action=refusing_clients "
                        "(logged once per episode)", os.strerror(exc.errno))
        self.episode_refused += 1
        if self.reserve is None:
            self.reserve = self._open_reserve()
            if self.reserve is None:
                # Nothing to accept with: stop listening for a moment instead of spinning.
                self.loop.remove_reader(self.sock.fileno())
                self.loop.call_later(0.1, self._resume)
                return False
        os.close(self.reserve)
        self.reserve = None
        try:
            conn, _addr = self.sock.accept()
        except OSError:
            conn = None
        if conn is not None:
            try:
                conn.send(_REFUSAL, socket.MSG_DONTWAIT)
                conn.shutdown(socket.SHUT_WR)
                conn.recv(65536, socket.MSG_DONTWAIT)  # unread input would turn close into a reset
            except OSError:
                pass
            conn.close()
        self.reserve = self._open_reserve()
        return conn is not None

    def _resume(self) -> None:
        if not self.closed:
            self.loop.add_reader(self.sock.fileno(), self._on_readable)


def _report(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("event=client_setup_failed error=%r", str(task.exception()))
