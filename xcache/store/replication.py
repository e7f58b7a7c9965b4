"""Replication of a storage node, with Redis's PSYNC semantics: the node's replication state
(replid, offsets, backlog, role) and the master side. The replica side's link to its master is
repl_link.py, the snapshot files repl_snapshot.py, the commands (ROLE, REPLICAOF, PSYNC, REPLCONF,
WAIT) repl_commands.py.

Why one module (~730 lines): one Replication object owns the write stream (replid, offsets,
backlog, open units, connected replicas); propagating writes, PSYNC and full syncs, ACKs and WAIT,
and role changes all read and move those same offsets, so they stay together; the replica's link,
the snapshot files and the commands already live apart (see above).

Master side. Every write command, after it succeeds, is encoded as a RESP multibulk (SELECT first
when the db changes) and appended to the write stream; the ops of one top-level command (EXEC, a
script, a command propagating several ops) go as one block, wrapped in MULTI ... EXEC when there
are several (Redis 7.0's rule: open_unit / close_unit). With group commit they are sent once the
group is written, never ahead of the local commit. The master offset counts the bytes of that
stream, as in Redis. The last `repl_backlog_bytes` of it stay in a backlog, so a replica that was
briefly disconnected resumes with `+CONTINUE` and the missing bytes (partial resync). Otherwise the
master answers `+FULLRESYNC <replid> <offset>`, takes a RocksDB checkpoint on the event loop (so
that no write slips in between the offset and the snapshot: hard links plus a memtable flush),
tars it in a thread and streams it as one bulk `$<len>\r\n<tar>` with backpressure, then the writes
made meanwhile, then the live stream. PING goes into the stream periodically so replicas can tell
a dead link from a quiet one.

Replica side. The link (repl_link.py) applies the master's stream and feeds it on through this
module's stream, so a replica keeps its own backlog (it can serve partial resyncs after being
promoted) and feeds its own replicas.

A promotion (REPLICAOF NO ONE) keeps the data and shifts the replication id like Redis: replid2 =
old replid, second_repl_offset = offset + 1, new replid; replicas of the old master that reach the
promoted node resume with a partial resync.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rocksdict import Checkpoint

from xcache.resp import Error, Raw, encode_command
from xcache.store import (
    fence,
    repl_commands,  # noqa: F401 - registers ROLE, REPLICAOF, PSYNC, WAIT...
    repl_snapshot,
)
from xcache.store.interfaces import Suspend
from xcache.store.rdb_file import write_rdb
from xcache.store.repl_link import MasterLink

if TYPE_CHECKING:
    from xcache.store.interfaces import Client, Server

log = logging.getLogger("xcache.replication")

_MULTI = encode_command(b"MULTI")
_EXEC = encode_command(b"EXEC")


class _Nobody:
    """The writer of a deletion the node made by itself (no client waits on its WAIT offset)."""

    repl_woff = 0


_NOBODY = _Nobody()
HIGH_WATER_BYTES = 4 * 1024 * 1024  # pause the snapshot while this much is unsent
NO_REPLID = "0" * 40


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
    acks: bool = True  # False: attached by SYNC, which never acks (exempt from the ack timeout)


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
        # the ops of the top-level command running (EXEC, a script), emitted as one block
        self.unit: list | None = None
        self.replicas: dict[Client, ReplicaState] = {}
        self.stats = {"sync_full": 0, "sync_partial_ok": 0, "sync_partial_err": 0}
        self._acked = asyncio.Event()
        self._getack_scheduled = False
        # replica side (the link, repl_link.py, advances it; INFO and ROLE show it)
        self.master_host = ""
        self.master_port = 0
        self.link_state = "connect"  # connect | connecting | sync | connected (ROLE's words)
        self.link_down_since: float | None = None  # time.time() when the link went down
        self.last_io = 0.0
        self.read_offset = 0
        self.applied_db = 0  # db of the master stream at self.offset (kept across reconnects)
        self.synced = False
        self._link: MasterLink | None = None
        self._cron_task: asyncio.Task | None = None

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        repl_snapshot.remove_leftovers(self.cfg.dir)
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
        link_task = self._link.task if self._link is not None else None
        self._stop_link()
        for task in (link_task, self._cron_task):
            if task is not None:
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, Exception):
                    pass

    def _ping_period(self) -> float:
        period = float(self.server.settings.values["repl-ping-replica-period"])
        return min(period, self.cfg.repl_timeout_ms / 4000) if period == 10 else period

    async def _cron(self) -> None:
        """PING into the stream every ping period; drop replicas that stopped acking."""
        last_ping = time.monotonic()
        while True:
            # repl-ping-replica-period: its default (10 s) is shortened to repl_timeout_ms / 4
            # when that is shorter; a period set by CONFIG SET is honoured as is (Redis's suite
            # sets 3600 so that no PING lands in the stream it asserts)
            await asyncio.sleep(min(1.0, self._ping_period()))
            # read after the sleep: a period set during it counts now
            ping_period = self._ping_period()
            now = time.monotonic()
            if self.replicas and not self.is_replica and now - last_ping >= ping_period:
                last_ping = now
                self.feed(encode_command(b"PING"))
            timeout = self.cfg.repl_timeout_ms / 1000
            for st in list(self.replicas.values()):
                if st.state == "online" and st.acks and now - st.ack_time > timeout:
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
        unit = self.unit
        if unit is not None:  # inside EXEC or a script: emitted with the rest, as one block
            if type(cmds[0]) is list:
                unit.extend([(c.db, one) for one in cmds])
            else:
                unit.append((c.db, cmds))
            return
        if type(cmds[0]) is list and len(cmds) > 1:  # several ops of one command: one block
            self.emit_unit(c, [(c.db, one) for one in cmds])
            return
        group = self.server.engine.group
        if group is not None:  # sent once the group is written: never ahead of the local commit
            group.after.append((c, c.db, cmds))
            return
        self.emit(c, c.db, cmds)

    def propagate_deletion(self, db: int, key: bytes) -> None:
        """A key the node deleted by itself (expired, evicted) reaches replicas as a DEL
        (Redis's propagateDeletion): inside a unit it joins it, as in Redis's also_propagate."""
        if self.backlog is None or self.is_replica:
            return
        argv = [b"DEL", key]
        if self.unit is not None:
            self.unit.append((db, argv))
            return
        group = self.server.engine.group
        if group is not None:  # never ahead of the local commit
            group.after.append((_NOBODY, db, argv))
            return
        self.emit(_NOBODY, db, argv)

    # A unit: the ops propagated while one top-level command runs (EXEC, EVAL, FCALL), emitted
    # together once it ends, wrapped in MULTI ... EXEC when there are several (Redis 7.0's
    # also_propagate / propagatePendingCommands): a replica never applies half of it.

    def open_unit(self) -> list | None:
        """Start collecting a unit; None when one is already open (a script inside EXEC: its
        ops belong to the transaction's unit). Pass the result to close_unit."""
        if self.unit is not None:
            return None
        self.unit = []
        return self.unit

    def close_unit(self, c: Client, unit: list | None) -> None:
        """End the unit opened by open_unit (unit: what it returned) and emit it for client c
        (whose repl_woff then points after it, for WAIT)."""
        if unit is None:
            return
        if self.unit is unit:
            self.unit = None
        if unit and self.backlog is not None and not self.is_replica:
            self.emit_unit(c, unit)

    def suspend_unit(self) -> list | None:
        """Take the open unit aside (an EXEC stalled half-way: resume_unit brings it back)."""
        unit, self.unit = self.unit, None
        return unit

    def resume_unit(self, unit: list | None) -> None:
        if unit is not None and self.unit is None:
            self.unit = unit

    def emit_unit(self, c: Client, ops: list) -> None:
        """ops ((db, argv) each): a single op as itself, several wrapped in MULTI ... EXEC."""
        if len(ops) == 1:
            db, cmds = ops[0]
        else:
            db, cmds = None, ops
        group = self.server.engine.group
        if group is not None:  # never ahead of the local commit
            group.after.append((c, db, cmds))
            return
        self.emit(c, db, cmds)

    def _encode(self, parts: list, db: int | None, cmds: list) -> None:
        """Encode one entry (db None: a block of (db, argv) ops, wrapped) into parts."""
        if db is None:
            first = cmds[0][0]
            if first != self.stream_db:  # the SELECT goes before the MULTI
                self.stream_db = first
                parts.append(encode_command(b"SELECT", b"%d" % first))
            parts.append(_MULTI)
            for one_db, one in cmds:
                if one_db != self.stream_db:
                    self.stream_db = one_db
                    parts.append(encode_command(b"SELECT", b"%d" % one_db))
                parts.append(encode_command(*one))
            parts.append(_EXEC)
            return
        if db != self.stream_db:
            self.stream_db = db
            parts.append(encode_command(b"SELECT", b"%d" % db))
        if cmds and type(cmds[0]) is list:  # a handler may replace one command by several
            for one in cmds:
                parts.append(encode_command(*one))
        else:
            parts.append(encode_command(*cmds))

    def emit(self, c: Client, db: int | None, cmds: list) -> None:
        """Append one propagated write (or several, a list of argvs; db None: a block of
        (db, argv) ops, wrapped in MULTI ... EXEC) to the stream."""
        parts: list = []
        self._encode(parts, db, cmds)
        self.feed(b"".join(parts))
        c.repl_woff = self.offset  # for WAIT
        if (owner := getattr(c, "woff_owner", None)) is not None:
            owner.repl_woff = self.offset  # a script's write: WAIT / the write hold of its caller

    def emit_group(self, entries: list) -> None:
        """A written group's writes ((client, db, cmds) each, in order) as one append to the
        stream: one send per replica instead of one per command."""
        parts: list = []
        off = self.offset
        for c, db, cmds in entries:
            if db is not None and type(cmds[0]) is not list:  # one command (the common case)
                if db != self.stream_db:
                    self.stream_db = db
                    parts.append(encode_command(b"SELECT", b"%d" % db))
                    off += len(parts[-1])
                one = encode_command(*cmds)
                parts.append(one)
                off += len(one)
            else:
                n = len(parts)
                self._encode(parts, db, cmds)
                off += sum(map(len, parts[n:]))
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
        path = repl_snapshot.checkpoint_path(self.cfg.dir)
        started = time.monotonic()
        try:
            # On the loop, on purpose: the snapshot is exactly the data at self.offset.
            Checkpoint(self.server.engine.db).create_checkpoint(path)
        except Exception as exc:
            log.error("event=checkpoint_failed path=%s error=%s", path, exc)
            repl_snapshot.remove(path)
            return Error(f"ERR snapshot for full resync failed: {exc}")
        tar = repl_snapshot.SNAPSHOT_CAPA in getattr(c, "repl_capa", ())
        st = ReplicaState(c, ip, port, "send_bulk" if tar else "wait_bgsave", ack_offset=self.offset,
                          pending=[])
        self.replicas[c] = st
        self.stream_db = -1  # the stream after a snapshot starts with SELECT
        log.info(
            "event=full_resync replica=%s:%s replid=%s offset=%s checkpoint_ms=%.1f format=%s",
            ip,
            port,
            self.replid,
            self.offset,
            (time.monotonic() - started) * 1000,
            "tar" if tar else "rdb",
        )
        if not tar:  # a Redis replica (or redis-shake...): the same RDB as SYNC's
            fullresync = b"+FULLRESYNC %s %d\r\n" % (self.replid.encode(), self.offset)
            return Suspend(self._send_rdb(st, path, self.offset, False, fullresync))
        return Suspend(self._send_snapshot(st, path, self.offset))

    def sync(self, c: Client):
        """SYNC, the protocol before PSYNC (`redis-cli --rdb`, Redis's test suite): an RDB of the
        committed data, then the live stream. Like a full resync: a checkpoint on the loop at
        self.offset (the writes of a group still open are not in it: they reach this client in
        the stream once the group is written), the RDB written from it in a thread (rdb_file.py)
        and sent with backpressure, the stream produced meanwhile buffered and sent after it.
        REPLCONF rdb-only 1: the connection closes after the RDB (no stream); REPLCONF
        rdb-filter-only: which parts the RDB holds (functions only, or nothing)."""
        if self.is_replica and self.link_state != "connected":
            return Error("NOMASTERLINK Can't SYNC while not connected with my master")
        path = repl_snapshot.checkpoint_path(self.cfg.dir)
        try:
            # On the loop, on purpose: the snapshot is exactly the data at self.offset.
            Checkpoint(self.server.engine.db).create_checkpoint(path)
        except Exception as exc:
            log.error("event=checkpoint_failed path=%s error=%s", path, exc)
            repl_snapshot.remove(path)
            return Error(f"ERR snapshot for SYNC failed: {exc}")
        c.kind = "replica"
        self._ensure_backlog()
        ip = getattr(c, "repl_ip", None) or c.addr.rsplit(":", 1)[0]
        port = getattr(c, "repl_port", 0) or int(c.addr.rsplit(":", 1)[1])
        rdb_only = getattr(c, "repl_rdb_only", False)
        st = ReplicaState(c, ip, port, "wait_bgsave", ack_offset=self.offset, pending=[],
                          acks=False)
        if not rdb_only:  # an rdb-only client gets no stream (Redis keeps it out of it too)
            self.replicas[c] = st
            self.stream_db = -1  # the stream after a snapshot starts with SELECT
        self.stats["sync_full"] += 1
        log.info("event=sync replica=%s:%s offset=%s rdb_only=%s", ip, port, self.offset,
                 int(rdb_only))
        return Suspend(self._send_rdb(st, path, self.offset, rdb_only))

    async def _send_rdb(self, st: ReplicaState, path: str, offset: int, rdb_only: bool,
                        preamble: bytes = b""):
        """The RDB of the checkpoint at path, then the stream; preamble (PSYNC's +FULLRESYNC
        line) goes first, at once, as Redis sends it before its BGSAVE."""
        c = st.client
        loop = asyncio.get_running_loop()
        if preamble:
            c.transport.write(preamble)
        exclude = getattr(c, "repl_rdb_exclude", ())
        rdb_path = path + ".rdb"
        building = loop.run_in_executor(
            None, write_rdb, path, rdb_path, self.server.cfg.databases, self.replid, offset,
            "data" not in exclude, "functions" not in exclude)
        size = 0
        try:
            while not building.done():  # a newline keeps the client's read timeout fed, as Redis
                await asyncio.wait([building], timeout=1.0)
                if not building.done() and not c.closing:
                    c.transport.write(b"\n")
            size = building.result()
            if c.closing:
                return None
            st.state = "send_bulk"
            if not await self._send_file(c, rdb_path, b"$%d\r\n" % size, size):
                return None
        except Exception as exc:  # e.g. disk full while writing the RDB
            log.error("event=sync_failed replica=%s:%s error=%s", st.ip, st.port, exc)
            c.close()
            return None
        finally:  # also when the task is cancelled (the client left): nothing awaited here
            _remove_after(building, path, rdb_path)
        log.info("event=sync_rdb_sent replica=%s:%s bytes=%s", st.ip, st.port, size)
        if rdb_only:
            c.close()  # after the RDB is flushed: what Redis does with an rdb-only client
            return None
        pending, st.pending, st.pending_bytes = st.pending, None, 0
        st.state = "online"
        st.ack_time = time.monotonic()
        if pending:
            c.send(pending)
        return Raw(b"")

    async def _send_file(self, c: Client, path: str, header: bytes, size: int) -> bool:
        """header, then size bytes of the file at path, with backpressure; False if the client
        left first."""
        t = c.transport
        loop = asyncio.get_running_loop()
        t.write(header)
        sent = 0
        with open(path, "rb") as fh:
            while sent < size:
                chunk = await loop.run_in_executor(None, fh.read, repl_snapshot.CHUNK_BYTES)
                if not chunk or c.closing:
                    return False
                t.write(chunk)
                sent += len(chunk)
                while t.get_write_buffer_size() > HIGH_WATER_BYTES and not c.closing:
                    await asyncio.sleep(0.005)  # backpressure: let the socket drain
        return not c.closing

    async def _send_snapshot(self, st: ReplicaState, path: str, offset: int):
        c = st.client
        t = c.transport
        loop = asyncio.get_running_loop()
        t.write(b"+FULLRESYNC %s %d\r\n" % (self.replid.encode(), offset))
        tar_path = path + ".tar"
        tarring = loop.run_in_executor(None, repl_snapshot.make_tar, path, tar_path)
        size = 0
        try:
            while not tarring.done():  # a newline keeps the replica's read timeout fed, as Redis
                await asyncio.wait([tarring], timeout=1.0)
                if not tarring.done() and not c.closing:
                    t.write(b"\n")
            size = tarring.result()
            if c.closing:
                return None
            if not await self._send_file(c, tar_path, b"$%d\r\n" % size, size):
                return None
        except Exception as exc:  # e.g. disk full while tarring: the replica will retry
            log.error("event=snapshot_send_failed replica=%s:%s error=%s", st.ip, st.port, exc)
            c.close()
            return None
        finally:  # also when the task is cancelled (the replica left): nothing awaited here
            _remove_after(tarring, path, tar_path)
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
        self._link = MasterLink(self, host, port)

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
        if self._link is not None:
            self._link.stop()
            self._link = None

    # --- replica side: what the link (repl_link.py) learns ------------------------------------

    def follow_new_replid(self, replid: str) -> None:
        """+CONTINUE with another id: our master was promoted, its history includes ours."""
        self.replid2, self.second_offset, self.replid = self.replid, self.offset + 1, replid
        self.drop_replicas()

    def synced_to(self, replid: str, offset: int) -> None:
        """A full resync installed the master's data at offset of its stream replid."""
        self.replid, self.replid2, self.second_offset = replid, NO_REPLID, -1
        self.offset = self.read_offset = offset
        self.backlog = Backlog(self.cfg.repl_backlog_bytes, offset)
        self.applied_db = 0
        self.synced = True
        self.drop_replicas()  # our data and replid changed under them

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


def _remove_after(job: asyncio.Future, *paths: str) -> None:
    """Remove paths in a thread once job (the thread writing from them) is done."""

    def remove(_job=None) -> None:
        asyncio.get_running_loop().run_in_executor(None, _remove_quietly, paths)

    if job.done():
        remove()
    else:
        job.add_done_callback(remove)


def _remove_quietly(paths: tuple[str, ...]) -> None:
    for path in paths:
        try:
            repl_snapshot.remove(path)
        except OSError as exc:
            log.warning("event=snapshot_remove_failed path=%s error=%s", path, exc)

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
