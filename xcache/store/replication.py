"""Replication of a storage node: master side and replica side, with Redis's PSYNC semantics.

Master side. Every write command, after it succeeds, is encoded as a RESP multibulk (SELECT first
when the db changes) and appended to the write stream. The master offset counts the bytes of that
stream, as in Redis. The last `repl_backlog_bytes` of it stay in a backlog, so a replica that was
briefly disconnected resumes with `+CONTINUE` and the missing bytes (partial resync). Otherwise the
master answers `+FULLRESYNC <replid> <offset>`, takes a RocksDB checkpoint on the event loop (so
that no write slips in between the offset and the snapshot: hard links plus a memtable flush),
tars it in a thread and streams it as one bulk `$<len>\r\n<tar>` with backpressure, then the writes
made meanwhile, then the live stream. PING goes into the stream periodically so replicas can tell
a dead link from a quiet one.

Replica side. A link task connects, authenticates (masterauth), sends `REPLCONF listening-port`
and `PSYNC <replid> <offset+1>`. On a full resync it receives the tar, closes the engine, swaps the
data directory and reopens it. Then it applies the stream through the normal dispatch as a client
of kind "master" (the only one allowed to write on a replica), waits out write stalls without
dropping anything, keeps its own backlog of the stream (so it can serve partial resyncs after being
promoted) and sends `REPLCONF ACK <offset>` every second.

A promotion (REPLICAOF NO ONE) keeps the data and shifts the replication id like Redis: replid2 =
old replid, second_repl_offset = offset + 1, new replid; replicas of the old master that reach the
promoted node resume with a partial resync.

Why one module (~1,000 lines): the master and replica sides share the replication id, offsets
and backlog, and a node switches between them (REPLICAOF, promotion, fencing) keeping that state;
the full-sync transfer, the fence and durability are already apart (fence.py, durability.py).
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import logging
import os
import shutil
import tarfile
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import hiredis
from rocksdict import Checkpoint

from xcache.resp import OK, Error, Raw, SimpleString, encode_command
from xcache.store import fence
from xcache.store.commands import SYNTAX_ERROR, command, parse_int
from xcache.store.engine import Engine, WriteStall
from xcache.store.interfaces import BUSY_STALL, Suspend

if TYPE_CHECKING:
    from xcache.store.interfaces import Client, Server

log = logging.getLogger("xcache.replication")

ACK_PERIOD_S = 1.0  # replica -> master REPLCONF ACK, as Redis
CHUNK_BYTES = 256 * 1024  # snapshot transfer unit
HIGH_WATER_BYTES = 4 * 1024 * 1024  # pause the snapshot while this much is unsent
RECONNECT_S = 1.0
NO_REPLID = "0" * 40
SNAPSHOT_PREFIX = "repl-snapshot-"
INCOMING_TAR = "repl-incoming.tar"
INCOMING_DIR = "repl-incoming"
_snapshot_ids = itertools.count(1)


class ReplError(Exception):
    """The replication link must be dropped and re-established."""


class Backlog:
    """The last `size` bytes of the write stream, for partial resync."""

    def __init__(self, size: int, offset: int):
        self.size = size
        self.buf = bytearray()
        self.first = offset + 1  # stream offset of buf[0] (offsets of bytes are 1-based, as Redis)

    def append(self, data: bytes) -> None:
        self.buf += data
        extra = len(self.buf) - self.size
        if extra > 0:
            del self.buf[:extra]  # CPython trims a bytearray's front without copying
            self.first += extra

    @property
    def histlen(self) -> int:
        return len(self.buf)

    def holds(self, offset: int) -> bool:
        """Can the stream be resumed from byte `offset` (the next byte the replica needs)?"""
        return self.first <= offset <= self.first + len(self.buf)

    def read_from(self, offset: int) -> bytes:
        return bytes(self.buf[offset - self.first :])


@dataclass
class ReplicaState:
    """What a master knows of one of its replicas (keyed by its connection)."""

    client: Client
    ip: str
    port: int
    state: str  # wait_bgsave | send_bulk | online (Redis's words)
    ack_offset: int = 0
    ack_time: float = field(default_factory=time.monotonic)
    pending: list[bytes] | None = None  # stream produced while the snapshot is being sent
    pending_bytes: int = 0


class Replication:
    def __init__(self, server: Server):
        self.server = server
        self.cfg = server.cfg
        self.is_replica = False
        # a master that restarted before its role was confirmed: refuses writes (fence.py)
        self.fenced = False
        self.role_state: dict | None = None  # what role.json holds
        self.replid = server.run_id[:40]
        self.replid2 = NO_REPLID
        # master_repl_offset: bytes of stream produced (master) or applied (replica)
        self.offset = 0
        self.second_offset = -1
        self.backlog: Backlog | None = None  # created when the first replica attaches, as Redis
        # db of the last SELECT in the stream (-1: emit SELECT before the next write)
        self.stream_db = -1
        self.replicas: dict[Client, ReplicaState] = {}
        self.stats = {"sync_full": 0, "sync_partial_ok": 0, "sync_partial_err": 0}
        self._acked = asyncio.Event()
        self._getack_scheduled = False
        # replica side
        self.master_host = ""
        self.master_port = 0
        self.link_state = "connect"  # connect | connecting | sync | connected (ROLE's words)
        self.link_down_since: float | None = None  # time.time() when the link went down
        self.last_io = 0.0
        self.read_offset = 0
        self.applied_db = 0  # db of the master stream at self.offset (kept across reconnects)
        self.synced = False
        self._link_task: asyncio.Task | None = None
        self._cron_task: asyncio.Task | None = None
        self._master_client: Client | None = None

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        self._remove_leftovers()
        self._cron_task = asyncio.ensure_future(self._cron())
        self.role_state = fence.load(self.cfg.dir)
        stored = self.role_state or {}
        if not self.cfg.replicaof and stored.get("role") == "replica" and stored.get("master"):
            # a replica restarted without --replicaof follows its last master (as Redis does
            # with a rewritten config); the dashboard repoints it if that changed
            self.cfg.replicaof = stored["master"].replace(":", " ")
        if self.cfg.replicaof:
            parts = self.cfg.replicaof.split()
            if len(parts) != 2 or not parts[1].isdigit():
                raise ValueError(f"replicaof must be 'host port', got {self.cfg.replicaof!r}")
            self.become_replica(parts[0], int(parts[1]))
        elif fence.decide(self.role_state, self.cfg.replicaof):
            self.fenced = True
            log.warning("event=fenced reason=was_master epoch=%s: writes refused until REPLICAOF "
                        "(rejoin as a replica) or REPLICAOF NO ONE (confirmed master)",
                        stored.get("epoch"))
        else:
            self._save_role("master", "")

    @property
    def read_only(self) -> bool:
        """Writes from clients are refused: a replica, or a fenced master."""
        return self.is_replica or self.fenced

    def _save_role(self, role: str, master: str, replicated: bool = False) -> None:
        state = fence.next_state(self.role_state, role, master, self.replid, self.offset,
                                 replicated)
        try:
            fence.save(self.cfg.dir, state)
            self.role_state = state
        except OSError as exc:
            log.error("event=role_state_write_failed dir=%s error=%s", self.cfg.dir, exc)

    async def stop(self) -> None:
        for task in (self._link_task, self._cron_task):
            if task is not None:
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, Exception):
                    pass

    def _remove_leftovers(
        self, prefixes: tuple[str, ...] = (SNAPSHOT_PREFIX, INCOMING_TAR, INCOMING_DIR, "db.old")
    ) -> None:
        """Snapshots and transfers interrupted by a crash; replaced databases."""
        for name in os.listdir(self.cfg.dir):
            if name.startswith(prefixes):
                _remove(os.path.join(self.cfg.dir, name))

    async def _cron(self) -> None:
        """PING into the stream every ping period; drop replicas that stopped acking."""
        # Redis's repl-ping-replica-period is 10 s; ping faster when repl_timeout_ms is short.
        ping_period = min(10.0, self.cfg.repl_timeout_ms / 4000)
        last_ping = time.monotonic()
        while True:
            await asyncio.sleep(min(1.0, ping_period))
            now = time.monotonic()
            if self.replicas and not self.is_replica and now - last_ping >= ping_period:
                last_ping = now
                self.feed(encode_command(b"PING"))
            timeout = self.cfg.repl_timeout_ms / 1000
            for st in list(self.replicas.values()):
                if st.state == "online" and now - st.ack_time > timeout:
                    log.warning("event=replica_timeout addr=%s:%s", st.ip, st.port)
                    st.client.close()

    # --- master side: the stream ------------------------------------------------------------

    def propagate(self, c: Client, argv: list[bytes]) -> None:
        """Called after every successful write command (c.propagate overrides argv)."""
        if self.backlog is None or self.is_replica:
            return  # no replica ever attached (Redis keeps no backlog then); a replica forwards raw
        if c.propagate is not None and not c.propagate:
            return  # the handler wrote nothing (e.g. a blocking pop inside EXEC)
        cmds = c.propagate or absolute_expiry(c, argv)
        group = self.server.engine.group
        if group is not None:  # sent once the group is written: never ahead of the local commit
            group.after.append((c, c.db, cmds))
            return
        self.emit(c, c.db, cmds)

    def emit(self, c: Client, db: int, cmds: list) -> None:
        """Append one propagated write (or several, a list of argvs) to the stream."""
        if db != self.stream_db:
            self.stream_db = db
            self.feed(encode_command(b"SELECT", b"%d" % db))
        if cmds and type(cmds[0]) is list:  # a handler may replace one command by several
            for one in cmds:
                self.feed(encode_command(*one))
        else:
            self.feed(encode_command(*cmds))
        c.repl_woff = self.offset  # for WAIT
        if (owner := getattr(c, "woff_owner", None)) is not None:
            owner.repl_woff = self.offset  # a script's write: WAIT / the write hold of its caller

    def emit_group(self, entries: list) -> None:
        """A written group's writes ((client, db, cmds) each, in order) as one append to the
        stream: one send per replica instead of one per command."""
        parts = []
        off = self.offset
        for c, db, cmds in entries:
            if db != self.stream_db:
                self.stream_db = db
                parts.append(encode_command(b"SELECT", b"%d" % db))
                off += len(parts[-1])
            for one in cmds if cmds and type(cmds[0]) is list else (cmds,):
                parts.append(encode_command(*one))
                off += len(parts[-1])
            c.repl_woff = off  # for WAIT
        self.feed(b"".join(parts))

    def feed(self, data: bytes) -> None:
        """Append bytes to the stream: backlog, then every attached replica."""
        self.offset += len(data)
        if self.backlog is not None:
            self.backlog.append(data)
        limit = self.cfg.client_output_buffer_limit_bytes
        for st in list(self.replicas.values()):
            if st.pending is None:
                st.client.send([data])  # Client.send drops a replica whose output exceeds the limit
            else:
                st.pending.append(data)
                st.pending_bytes += len(data)
                if limit and st.pending_bytes > limit:
                    log.warning("event=replica_output_limit addr=%s:%s", st.ip, st.port)
                    st.client.close()

    def _ensure_backlog(self) -> None:
        if self.backlog is None:
            self.backlog = Backlog(self.cfg.repl_backlog_bytes, self.offset)

    def resize_backlog(self) -> None:
        """CONFIG SET repl-backlog-size: the backlog keeps the last repl_backlog_bytes from now."""
        if self.backlog is not None:
            self.backlog.size = self.cfg.repl_backlog_bytes
            self.backlog.append(b"")  # trims a shrunk backlog

    def _can_continue(self, replid: str, offset: int) -> bool:
        if self.backlog is None:
            return False
        if replid != self.replid and not (replid == self.replid2 and offset <= self.second_offset):
            return False
        return self.backlog.holds(offset)

    def psync(self, c: Client, replid: str, offset: int):
        """PSYNC from a replica: +CONTINUE with the backlog, or +FULLRESYNC and a snapshot."""
        if self.is_replica and self.link_state != "connected":
            return Error("NOMASTERLINK Can't SYNC while not connected with my master")
        c.kind = "replica"
        if not self.is_replica and not (self.role_state or {}).get("replicated"):
            self._save_role("master", "", replicated=True)  # a group member from now on
        ip = getattr(c, "repl_ip", None) or c.addr.rsplit(":", 1)[0]
        port = getattr(c, "repl_port", 0) or int(c.addr.rsplit(":", 1)[1])
        self._ensure_backlog()
        if self._can_continue(replid, offset):
            self.stats["sync_partial_ok"] += 1
            self.replicas[c] = ReplicaState(c, ip, port, "online", ack_offset=offset - 1)
            log.info(
                "event=partial_resync replica=%s:%s replid=%s offset=%s backlog_bytes=%s",
                ip,
                port,
                self.replid,
                offset,
                self.offset + 1 - offset,
            )
            # One reply: it stays in order with anything answered before in the same read.
            return Raw(b"+CONTINUE %s\r\n" % self.replid.encode() + self.backlog.read_from(offset))
        if replid != "?":
            self.stats["sync_partial_err"] += 1
        self.stats["sync_full"] += 1
        path = os.path.join(self.cfg.dir, f"{SNAPSHOT_PREFIX}{os.getpid()}-{next(_snapshot_ids)}")
        started = time.monotonic()
        try:
            # On the loop, on purpose: the snapshot is exactly the data at self.offset.
            Checkpoint(self.server.engine.db).create_checkpoint(path)
        except Exception as exc:
            log.error("event=checkpoint_failed path=%s error=%s", path, exc)
            _remove(path)
            return Error(f"ERR snapshot for full resync failed: {exc}")
        st = ReplicaState(c, ip, port, "send_bulk", ack_offset=self.offset, pending=[])
        self.replicas[c] = st
        self.stream_db = -1  # the stream after a snapshot starts with SELECT
        log.info(
            "event=full_resync replica=%s:%s replid=%s offset=%s checkpoint_ms=%.1f",
            ip,
            port,
            self.replid,
            self.offset,
            (time.monotonic() - started) * 1000,
        )
        return Suspend(self._send_snapshot(st, path, self.offset))

    async def _send_snapshot(self, st: ReplicaState, path: str, offset: int):
        c = st.client
        t = c.transport
        loop = asyncio.get_running_loop()
        t.write(b"+FULLRESYNC %s %d\r\n" % (self.replid.encode(), offset))
        tar_path = path + ".tar"
        tarring = loop.run_in_executor(None, _make_tar, path, tar_path)
        size = 0
        try:
            while not tarring.done():  # a newline keeps the replica's read timeout fed, as Redis
                await asyncio.wait([tarring], timeout=1.0)
                if not tarring.done() and not c.closing:
                    t.write(b"\n")
            size = tarring.result()
            if c.closing:
                return None
            t.write(b"$%d\r\n" % size)
            sent = 0
            with open(tar_path, "rb") as fh:
                while sent < size:
                    chunk = await loop.run_in_executor(None, fh.read, CHUNK_BYTES)
                    if not chunk or c.closing:
                        return None
                    t.write(chunk)
                    sent += len(chunk)
                    while t.get_write_buffer_size() > HIGH_WATER_BYTES and not c.closing:
                        await asyncio.sleep(0.005)  # backpressure: let the socket drain
        except Exception as exc:  # e.g. disk full while tarring: the replica will retry
            log.error("event=snapshot_send_failed replica=%s:%s error=%s", st.ip, st.port, exc)
            c.close()
            return None
        finally:
            if not tarring.done():
                await asyncio.wait([tarring])
            await loop.run_in_executor(None, _remove, path)
            await loop.run_in_executor(None, _remove, tar_path)
        pending, st.pending, st.pending_bytes = st.pending, None, 0
        st.state = "online"
        st.ack_time = time.monotonic()
        log.info(
            "event=snapshot_sent replica=%s:%s bytes=%s buffered_stream_bytes=%s",
            st.ip,
            st.port,
            size,
            sum(map(len, pending)),
        )
        if pending:
            c.send(pending)
        return Raw(b"")

    def on_ack(self, c: Client, offset: int) -> None:
        st = self.replicas.get(c)
        if st is None:
            return
        st.ack_offset = max(st.ack_offset, offset)
        st.ack_time = time.monotonic()
        self._acked.set()
        self._acked = asyncio.Event()

    def forget_client(self, c: Client) -> None:
        st = self.replicas.pop(c, None)
        if st is not None:
            log.info("event=replica_disconnected addr=%s:%s state=%s", st.ip, st.port, st.state)

    def drop_replicas(self) -> None:
        """Make our replicas reconnect (they learn a new replid or resync)."""
        for st in list(self.replicas.values()):
            st.client.close()

    # --- WAIT -------------------------------------------------------------------------------

    def count_acked(self, offset: int) -> int:
        return sum(
            1 for st in self.replicas.values() if st.state == "online" and st.ack_offset >= offset
        )

    def request_acks(self) -> None:
        """REPLCONF GETACK into the stream, once per loop iteration however many WAITs ask."""
        if self._getack_scheduled:
            return
        self._getack_scheduled = True

        def send() -> None:
            self._getack_scheduled = False
            if self.replicas and not self.is_replica:
                self.feed(encode_command(b"REPLCONF", b"GETACK", b"*"))

        asyncio.get_running_loop().call_soon(send)

    async def wait_acks(self, wanted: int, offset: int, timeout_s: float) -> int:
        deadline = time.monotonic() + timeout_s if timeout_s > 0 else None
        while True:
            count = self.count_acked(offset)
            if count >= wanted:
                return count
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return count
            try:
                await asyncio.wait_for(self._acked.wait(), remaining)
            except TimeoutError:
                return self.count_acked(offset)

    # --- role changes -----------------------------------------------------------------------

    def become_replica(self, host: str, port: int) -> None:
        self._ensure_backlog()  # so that our replid/offset can be offered to the new master
        was_replica = self.is_replica
        self.is_replica = True
        if self.fenced:
            log.info("event=unfenced role=replica master=%s:%s", host, port)
        self.fenced = False
        self.master_host, self.master_port = host, port
        self._save_role("replica", f"{host}:{port}")
        self.cfg.replicaof = f"{host} {port}"  # CONFIG REWRITE persists the role, as in Redis
        self._stop_link()
        self.drop_replicas()
        self.link_state = "connect"
        if not was_replica or self.link_down_since is None:
            self.link_down_since = time.time()
        log.info(
            "event=replicaof master=%s:%s replid=%s offset=%s", host, port, self.replid, self.offset
        )
        self._link_task = asyncio.ensure_future(self._link(host, port))

    def become_master(self) -> None:
        if not self.is_replica:
            if self.fenced:
                self.fenced = False
                log.info("event=unfenced role=master")
                self._save_role("master", "")
            return
        self._stop_link()
        self.is_replica = False
        self.master_host, self.master_port = "", 0
        self.cfg.replicaof = ""
        self.link_state = "connect"
        self.link_down_since = None
        # Shift the replication id as Redis does: our history up to offset is the old master's.
        self.replid2 = self.replid
        self.second_offset = self.offset + 1
        self.replid = os.urandom(20).hex()
        self.stream_db = -1
        self.drop_replicas()
        self._save_role("master", "")
        log.info(
            "event=promoted replid=%s replid2=%s second_repl_offset=%s",
            self.replid,
            self.replid2,
            self.second_offset,
        )

    def _stop_link(self) -> None:
        if self._link_task is not None:
            self._link_task.cancel()
            self._link_task = None
        self._close_master_client()

    # --- replica side: the link -------------------------------------------------------------

    def _tls(self):
        """The TLS context of the link to the master (tls_replication), or None."""
        if not self.cfg.tls_replication:
            return None
        from xcache.tlsconfig import client_context

        cfg = self.cfg
        return client_context(cfg.tls_ca_cert_file, cfg.tls_cert_file, cfg.tls_key_file)

    async def _link(self, host: str, port: int) -> None:
        """Keep a replication link to host:port: connect, sync, apply; reconnect on failure."""
        while True:
            writer = None
            was_up = False
            try:
                self.link_state = "connecting"
                timeout = self.cfg.repl_timeout_ms / 1000
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(host, port, ssl=self._tls()), timeout
                )
                await self._sync(reader, writer, timeout)
            except asyncio.CancelledError:
                raise
            except (OSError, EOFError, TimeoutError, ReplError, asyncio.IncompleteReadError) as exc:
                log.warning(  # ssl.SSLError is an OSError: a refused certificate lands here too
                    "event=replication_link_down master=%s:%s reason=%s",
                    host,
                    port,
                    str(exc) or type(exc).__name__,
                )
            except Exception:
                log.exception("event=replication_link_failed master=%s:%s", host, port)
            finally:
                if writer is not None:
                    writer.transport.abort()
                if self._link_task is asyncio.current_task():  # not replaced by REPLICAOF meanwhile
                    was_up = self.link_state == "connected"
                    self._close_master_client()
                    self.link_state = "connect"
                    if self.link_down_since is None:
                        self.link_down_since = time.time()
            # Reconnect at once after a working link broke; back off after a failed attempt.
            await asyncio.sleep(0.05 if was_up else RECONNECT_S)

    async def _sync(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float
    ) -> None:
        async def call(*args) -> bytes:
            writer.write(encode_command(*args))
            return await _read_line(reader, timeout)

        reply = await call(b"PING")
        if reply.startswith(b"-") and not reply.startswith((b"-NOAUTH", b"-NOPERM")):
            raise ReplError(f"master answered PING with {reply.decode(errors='replace')}")
        if self.cfg.masterauth:
            reply = await call(b"AUTH", self.cfg.masterauth)
            if not reply.startswith(b"+"):
                raise ReplError(f"AUTH failed: {reply.decode(errors='replace')}")
        await call(b"REPLCONF", b"listening-port", b"%d" % self.cfg.port)
        await call(b"REPLCONF", b"capa", b"eof", b"capa", b"psync2")
        reply = await call(b"PSYNC", self.replid, b"%d" % (self.offset + 1))
        parts = reply.split()
        if parts[:1] == [b"+FULLRESYNC"] and len(parts) == 3:
            await self._receive_snapshot(reader, timeout, parts[1].decode(), int(parts[2]))
        elif parts[:1] == [b"+CONTINUE"]:
            new_id = parts[1].decode() if len(parts) > 1 else self.replid
            if new_id != self.replid:  # the master was promoted: its history includes ours
                self.replid2, self.second_offset, self.replid = self.replid, self.offset + 1, new_id
                self.drop_replicas()
            log.info(
                "event=partial_resync_ok master=%s:%s replid=%s offset=%s",
                self.master_host,
                self.master_port,
                self.replid,
                self.offset,
            )
        else:
            raise ReplError(f"PSYNC answered {reply.decode(errors='replace')}")
        await self._stream(reader, writer, timeout)

    async def _receive_snapshot(
        self, reader: asyncio.StreamReader, timeout: float, replid: str, offset: int
    ) -> None:
        self.link_state = "sync"
        started = time.monotonic()
        line = b""
        while not line:  # empty lines are the master's keepalives while it prepares the snapshot
            line = (await _read_line(reader, timeout)).strip()
        if not line.startswith(b"$"):
            raise ReplError(f"expected the snapshot bulk, got {line[:40]!r}")
        size = int(line[1:])
        loop = asyncio.get_running_loop()
        tar_path = os.path.join(self.cfg.dir, INCOMING_TAR)
        new_dir = os.path.join(self.cfg.dir, INCOMING_DIR)
        with open(tar_path, "wb") as fh:
            left = size
            while left:
                chunk = await asyncio.wait_for(reader.read(min(CHUNK_BYTES, left)), timeout)
                if not chunk:
                    raise ReplError("master closed the link during the snapshot")
                fh.write(chunk)  # into the page cache: short
                left -= len(chunk)
                self.last_io = time.monotonic()
        await loop.run_in_executor(None, _extract_tar, tar_path, new_dir)
        await self.server.engine.wait_idle()
        self._install(new_dir)
        # Data, replid and offset change together, with no await in between.
        self.replid, self.replid2, self.second_offset = replid, NO_REPLID, -1
        self.offset = self.read_offset = offset
        self.backlog = Backlog(self.cfg.repl_backlog_bytes, offset)
        self.applied_db = 0
        self.synced = True
        self.drop_replicas()  # our data and replid changed under them
        await loop.run_in_executor(None, self._remove_leftovers, ("db.old",))
        log.info(
            "event=full_sync_done master=%s:%s replid=%s offset=%s bytes=%s seconds=%.3f",
            self.master_host,
            self.master_port,
            replid,
            offset,
            size,
            time.monotonic() - started,
        )

    def _install(self, new_dir: str) -> None:
        """Swap the engine for the received snapshot (synchronous: nothing runs in between)."""
        server = self.server
        old = server.engine
        old.close()
        db_path = old.path
        os.rename(db_path, os.path.join(self.cfg.dir, f"db.old-{next(_snapshot_ids)}"))
        os.rename(new_dir, db_path)
        server.engine = _reopen(server.cfg)
        server.collector.engine = server.engine
        server.touch_all()  # WATCHed keys may all have changed

    async def _stream(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float
    ) -> None:
        mc = self.server.new_client()
        mc.kind = "master"
        mc.authenticated = True
        mc.db = self.applied_db
        mc.transport = writer.transport  # CLIENT KILL TYPE master closes the link
        peer = writer.get_extra_info("peername") or (self.master_host, self.master_port)
        sock = writer.get_extra_info("sockname") or ("?", 0)
        mc.addr, mc.laddr = f"{peer[0]}:{peer[1]}", f"{sock[0]}:{sock[1]}"
        self.server.next_client_id += 1
        mc.id = self.server.next_client_id
        self.server.clients[mc.id] = mc
        self._master_client = mc
        self.link_state = "connected"
        self.link_down_since = None
        self.last_io = time.monotonic()
        self.read_offset = self.offset  # bytes read but not applied before are sent again
        acks = asyncio.ensure_future(self._ack_loop(writer))
        parser = hiredis.Reader()
        try:
            while True:
                data = await asyncio.wait_for(reader.read(65536), timeout)
                if not data:
                    raise ReplError("master closed the link")
                self.last_io = time.monotonic()
                self.read_offset += len(data)
                parser.feed(data)
                cmds = []
                while (cmd := parser.gets()) is not False:
                    if type(cmd) is not list or not cmd:
                        raise ReplError(f"unexpected item in the stream: {cmd!r:.60}")
                    cmds.append(cmd)
                await self._apply_chunk(mc, cmds, writer)
        finally:
            acks.cancel()

    async def _apply_chunk(self, mc: Client, cmds: list, writer) -> None:
        """Apply what one read of the stream brought, as groups (groupcommit.py): one RocksDB
        batch for a run of commands, our offset advanced (and sub-replicas fed) once it is written.
        REPLCONF GETACK is answered after everything before it is written."""
        server = self.server
        i, n = 0, len(cmds)
        while i < n:
            cmd = cmds[i]
            getack = cmd[0].lower() == b"replconf" and len(cmd) > 1 and cmd[1].lower() == b"getack"
            group = None if getack or n - i < 2 else server.open_group()
            if group is None:
                i += 1
                await self._apply(mc, cmd)
                if mc.closing:
                    raise ReplError("master client killed")
                if getack:
                    writer.write(encode_command(b"REPLCONF", b"ACK", b"%d" % self.offset))
                continue
            start = i
            saved = (mc.db, None if mc.multi is None else list(mc.multi), mc.multi_error)
            suspended = None
            while i < n:
                cmd = cmds[i]
                name = cmd[0].lower()
                if name == b"replconf" and len(cmd) > 1 and cmd[1].lower() == b"getack":
                    break
                i += 1
                if name in (b"ping", b"replconf"):
                    continue
                reply = server.execute(mc, cmd)
                if type(reply) is Suspend:
                    suspended = reply  # runs once the group is written
                    break
                if isinstance(reply, Error):
                    log.warning("event=replica_apply_error cmd=%s error=%s",
                                name.decode(errors="replace"), reply.message)
            if server.engine.group is group:
                server.engine.close_group()
            try:
                group.engine.write_group(group)
            except (WriteStall, Error):
                # Nothing of it was applied: apply the same commands one by one, each waiting
                # out the stall or the full disk as a lone write does.
                if suspended is not None:
                    suspended.waiter.close()
                mc.db, mc.multi, mc.multi_error = saved
                for cmd in cmds[start:i]:
                    await self._apply(mc, cmd)
                    if mc.closing:
                        raise ReplError("master client killed") from None
                continue
            if suspended is not None:
                reply = await suspended.waiter
                if reply is BUSY_STALL or mc.closing:
                    self.applied_db = mc.db
                    for cmd in cmds[start:i - 1]:
                        self.feed(encode_command(*cmd))
                    if mc.closing:  # the last one was not applied: the next PSYNC resends it
                        raise ReplError("master client killed")
                    await self._apply(mc, cmds[i - 1])  # not applied: again, until it is
                    if mc.closing:
                        raise ReplError("master client killed")
                    continue
            self.applied_db = mc.db
            # Forward exactly what we applied: our offset and backlog mirror the master's stream.
            self.feed(b"".join([encode_command(*cmd) for cmd in cmds[start:i]]))
            if mc.closing:
                raise ReplError("master client killed")

    async def _apply(self, mc: Client, argv: list[bytes]) -> None:
        """Run one command of the stream; a stalled write is retried until it succeeds."""
        name = argv[0].lower()
        if name not in (b"ping", b"replconf"):
            stalled_since = None
            while True:
                reply = self.server.execute(mc, argv)
                if type(reply) is Suspend:
                    reply = await reply.waiter
                if mc.closing:
                    return  # not applied: the offset stays, the next PSYNC resends it
                if reply is BUSY_STALL:  # the stall outlasted write_stall_timeout_ms: never drop
                    if stalled_since is None:
                        stalled_since = time.monotonic()
                        log.warning(
                            "event=replica_apply_stalled cmd=%s offset=%s",
                            name.decode(errors="replace"),
                            self.offset,
                        )
                    continue
                if isinstance(reply, Error) and self.server.engine.disk.full and name != b"exec":
                    continue  # the disk refused it (nothing applied): wait for the heal, retry
                if stalled_since is not None:
                    log.info(
                        "event=replica_apply_resumed offset=%s stalled_seconds=%.3f",
                        self.offset,
                        time.monotonic() - stalled_since,
                    )
                if isinstance(reply, Error):
                    log.warning(
                        "event=replica_apply_error cmd=%s error=%s",
                        name.decode(errors="replace"),
                        reply.message,
                    )
                break
            self.applied_db = mc.db
        # Forward exactly what we applied: our offset and backlog mirror the master's stream.
        self.feed(encode_command(*argv))

    async def _ack_loop(self, writer: asyncio.StreamWriter) -> None:
        while True:
            writer.write(encode_command(b"REPLCONF", b"ACK", b"%d" % self.offset))
            await asyncio.sleep(ACK_PERIOD_S)

    def _close_master_client(self) -> None:
        mc, self._master_client = self._master_client, None
        if mc is not None:
            mc.closing = True
            self.server.clients.pop(mc.id, None)
            self.server.forget_client(mc)
            if mc.transport is not None:
                mc.transport.abort()

    # --- INFO / ROLE ------------------------------------------------------------------------

    def info_section(self) -> str:
        lines = []
        if self.is_replica:
            up = self.link_state == "connected"
            lines += [
                "role:slave",
                f"master_host:{self.master_host}",
                f"master_port:{self.master_port}",
                f"master_link_status:{'up' if up else 'down'}",
                f"master_last_io_seconds_ago:{int(time.monotonic() - self.last_io) if up else -1}",
                f"master_sync_in_progress:{int(self.link_state == 'sync')}",
                f"slave_read_repl_offset:{self.read_offset if up else self.offset}",
                f"slave_repl_offset:{self.offset}",
            ]
            if not up:
                since = self.link_down_since
                lines.append(
                    f"master_link_down_since_seconds:{int(time.time() - since) if since else -1}"
                )
            lines += [
                f"slave_priority:{self.cfg.replica_priority}",
                "slave_read_only:1",
                "replica_announced:1",
            ]
        else:
            lines.append("role:master")
            lines.append(f"fenced:{int(self.fenced)}")
        lines.append(f"connected_slaves:{len(self.replicas)}")
        now = time.monotonic()
        for i, st in enumerate(self.replicas.values()):
            lines.append(
                f"slave{i}:ip={st.ip},port={st.port},state={st.state},"
                f"offset={st.ack_offset},lag={int(now - st.ack_time)}"
            )
        b = self.backlog
        lines += [
            "master_failover_state:no-failover",
            f"master_replid:{self.replid}",
            f"master_replid2:{self.replid2}",
            f"master_repl_offset:{self.offset}",
            f"second_repl_offset:{self.second_offset}",
            f"repl_backlog_active:{int(b is not None)}",
            f"repl_backlog_size:{self.cfg.repl_backlog_bytes}",
            f"repl_backlog_first_byte_offset:{b.first if b else 0}",
            f"repl_backlog_histlen:{b.histlen if b else 0}",
        ]
        return "".join(line + "\r\n" for line in lines)

    def stats_fields(self) -> dict[str, int]:
        """Counters for INFO stats (Redis's names)."""
        return dict(self.stats)

    def role_reply(self) -> list:
        if self.is_replica:
            offset = self.offset if self.synced or self.link_state == "connected" else -1
            return [
                b"slave",
                self.master_host.encode(),
                self.master_port,
                self.link_state.encode(),
                offset,
            ]
        return [
            b"master",
            self.offset,
            [
                [st.ip.encode(), b"%d" % st.port, b"%d" % st.ack_offset]
                for st in self.replicas.values()
                if st.state == "online"
            ],
        ]


# --- helpers ---------------------------------------------------------------------------------

_RELATIVE_OPTS = (b"EX", b"PX", b"EXAT")
_TTL_OPTS = (b"EX", b"PX", b"EXAT", b"PXAT")


def absolute_expiry(c: Client, argv: list[bytes]) -> list[bytes]:
    """SET/SETEX/PSETEX/GETEX with a TTL -> the absolute deadline the master stored (PXAT,
    PEXPIREAT), as Redis 7 propagates them: the replica gets the same expiry to the millisecond."""
    name = argv[0].lower()
    if name not in (b"set", b"setex", b"psetex", b"getex") or len(argv) < 3:
        return argv
    if name == b"set" and not any(a.upper() in _RELATIVE_OPTS for a in argv[3:]):
        return argv  # no relative TTL to rewrite (the common SET): no meta read
    meta = c.engine.get_meta(c.db, argv[1])
    if meta is None or not meta.expire_ms:
        return argv  # nothing stored with a TTL: replaying the command does the same
    when = b"%d" % meta.expire_ms
    if name in (b"setex", b"psetex"):
        return [b"SET", argv[1], argv[3], b"PXAT", when]
    if name == b"getex":
        has_ttl = any(a.upper() in _TTL_OPTS for a in argv[2:])
        return [b"PEXPIREAT", argv[1], when] if has_ttl else argv
    out = list(argv)
    for i in range(3, len(out) - 1):
        if out[i].upper() in _RELATIVE_OPTS:
            out[i], out[i + 1] = b"PXAT", when
    return out


async def _read_line(reader: asyncio.StreamReader, timeout: float) -> bytes:
    line = await asyncio.wait_for(reader.readline(), timeout)
    if not line:
        raise ReplError("master closed the link")
    return line.rstrip(b"\r\n")


def _reopen(cfg) -> Engine:
    """Open the installed snapshot; a thread that slipped in may hold the old LOCK a moment."""
    for attempt in range(50):
        try:
            return Engine(cfg)
        except Exception as exc:
            if "lock" not in str(exc).lower() or attempt == 49:
                # Closed engine, no data: better to exit (a supervisor restarts us and we resync)
                # than to keep answering PING with no usable store.
                log.critical("event=engine_reopen_failed error=%s", exc)
                os._exit(1)
            gc.collect()
            time.sleep(0.01)  # rare and short: a WAL fsync finishing
    raise AssertionError("unreachable")


def _make_tar(src_dir: str, tar_path: str) -> int:
    with tarfile.open(tar_path, "w") as tf:
        for name in sorted(os.listdir(src_dir)):
            tf.add(os.path.join(src_dir, name), arcname=name)
    return os.path.getsize(tar_path)


def _extract_tar(tar_path: str, dest: str) -> None:
    _remove(dest)
    os.makedirs(dest)
    with tarfile.open(tar_path) as tf:
        tf.extractall(dest, filter="data")
    os.remove(tar_path)


def _remove(path: str) -> None:
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.exists(path):
        os.remove(path)


# --- commands ---------------------------------------------------------------------------------


@command("role", 1, "noscript loading stale fast", 0, 0, 0)
def role(c: Client, args: list[bytes]):
    return c.server.replication.role_reply()


@command("replicaof", 3, "admin noscript stale", 0, 0, 0)
def replicaof(c: Client, args: list[bytes]):
    rep = c.server.replication
    if args[0].lower() == b"no" and args[1].lower() == b"one":
        rep.become_master()
        return OK
    port = parse_int(args[1], Error("ERR Invalid master port"))
    if not 0 < port < 65536:
        raise Error("ERR Invalid master port")
    host = args[0].decode(errors="replace")
    if rep.is_replica and (rep.master_host, rep.master_port) == (host, port):
        return SimpleString(b"OK Already connected to specified master")
    rep.become_replica(host, port)
    return OK


@command("slaveof", 3, "admin noscript stale", 0, 0, 0)
def slaveof(c: Client, args: list[bytes]):
    return replicaof(c, args)


@command("psync", -3, "admin noscript", 0, 0, 0)
def psync(c: Client, args: list[bytes]):
    try:
        offset = int(args[1])
    except ValueError:
        raise Error("ERR value is not an integer or out of range") from None
    return c.server.replication.psync(c, args[0].decode(errors="replace"), offset)


@command("sync", 1, "admin noscript", 0, 0, 0)
def sync(c: Client, args: list[bytes]):
    raise Error("ERR SYNC is not supported: use PSYNC")


@command("replconf", -1, "admin noscript loading stale", 0, 0, 0)
def replconf(c: Client, args: list[bytes]):
    if len(args) % 2:
        raise SYNTAX_ERROR
    rep = c.server.replication
    for i in range(0, len(args), 2):
        opt, value = args[i].lower(), args[i + 1]
        if opt == b"listening-port":
            c.repl_port = parse_int(value)
        elif opt == b"ip-address":
            c.repl_ip = value.decode(errors="replace")
        elif opt == b"ack":
            rep.on_ack(c, parse_int(value))
            return Raw(b"")  # a replica's ACK gets no reply
        elif opt == b"getack":
            return Raw(b"")  # handled by the replica's stream reader
        elif opt not in (b"capa", b"rdb-only", b"rdb-filter-only"):
            raise Error(f"ERR Unrecognized REPLCONF option: {args[i].decode(errors='replace')}")
    return OK


@command("wait", 3, "noscript", 0, 0, 0)
def wait(c: Client, args: list[bytes]):
    rep = c.server.replication
    if rep.is_replica:
        raise Error(
            "ERR WAIT cannot be used with replica instances. Please also note that since "
            "Redis 4.0 if a replica is configured to be writable (which is not the default) "
            "writes to replicas are just local and are not propagated."
        )
    wanted = parse_int(args[0])
    timeout_ms = parse_int(args[1])
    if timeout_ms < 0:
        raise Error("ERR timeout is negative")
    target = getattr(c, "repl_woff", 0)
    acked = rep.count_acked(target)
    if acked >= wanted:
        return acked
    rep.request_acks()
    return Suspend(rep.wait_acks(wanted, target, timeout_ms / 1000))
