"""A replica's link to its master: connect, authenticate (masterauth), `REPLCONF listening-port`
and `PSYNC <replid> <offset+1>`; on a full resync receive the tar, close the engine, swap the
data directory and reopen it; then apply the stream through the normal dispatch as a client of
kind "master" (the only one allowed to write on a replica), wait out write stalls without dropping
anything, and send `REPLCONF ACK <offset>` every second. Reconnects until stopped (REPLICAOF).

The replication state it advances (replid, offset, backlog, the link status INFO and ROLE show)
is the node's Replication (replication.py), reached through interfaces.Replication.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import TYPE_CHECKING

import hiredis

from xcache.resp import Error, encode_command
from xcache.store import repl_snapshot
from xcache.store.engine import WriteStall
from xcache.store.fastpath import LEAN, NOT_FAST, lane_open, serve_lean
from xcache.store.interfaces import BUSY_STALL, Suspend

if TYPE_CHECKING:
    from xcache.store.interfaces import Client, Replication

log = logging.getLogger("xcache.replication")

ACK_PERIOD_S = 1.0  # replica -> master REPLCONF ACK, as Redis
RECONNECT_S = 1.0


class ReplError(Exception):
    """The replication link must be dropped and re-established."""


class MasterLink:
    """The link task to host:port, and the client that applies what it reads."""

    def __init__(self, rep: Replication, host: str, port: int):
        self.rep = rep
        self.server = rep.server
        self.cfg = rep.cfg
        self.host, self.port = host, port
        self.stopped = False
        self._master_client: Client | None = None
        self._held: list[bytes] = []  # an open transaction's commands, applied, not yet fed on
        self.task = asyncio.ensure_future(self._run())

    def stop(self) -> None:
        """End the link at once (REPLICAOF elsewhere, promotion, shutdown)."""
        self.stopped = True
        self.task.cancel()
        self._close_master_client()

    def _tls(self):
        """The TLS context of the link to the master (tls_replication), or None."""
        if not self.cfg.tls_replication:
            return None
        from xcache.tlsconfig import client_context

        cfg = self.cfg
        return client_context(cfg.tls_ca_cert_file, cfg.tls_cert_file, cfg.tls_key_file)

    async def _run(self) -> None:
        """Keep the link: connect, sync, apply; reconnect on failure."""
        host, port, rep = self.host, self.port, self.rep
        # `stopped`, not only the task's cancellation: Python 3.11's asyncio.wait_for loses a
        # cancel that arrives as its inner operation completes, and a link that outlived
        # stop() would follow the old master after a promotion (or keep a stopping node alive).
        while not self.stopped:
            writer = None
            was_up = False
            try:
                rep.link_state = "connecting"
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
                if not self.stopped:  # not replaced by REPLICAOF meanwhile
                    was_up = rep.link_state == "connected"
                    self._close_master_client()
                    rep.link_state = "connect"
                    if rep.link_down_since is None:
                        rep.link_down_since = time.time()
            # Reconnect at once after a working link broke; back off after a failed attempt.
            await asyncio.sleep(0.05 if was_up else RECONNECT_S)

    async def _sync(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float
    ) -> None:
        rep = self.rep

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
        # xcache-snapshot: an xcache master sends its full resync as a RocksDB checkpoint (a
        # tar) instead of an RDB; Redis ignores capabilities it does not know.
        await call(b"REPLCONF", b"capa", b"eof", b"capa", b"psync2", b"capa", repl_snapshot.SNAPSHOT_CAPA)
        reply = await call(b"PSYNC", rep.replid, b"%d" % (rep.offset + 1))
        parts = reply.split()
        if parts[:1] == [b"+FULLRESYNC"] and len(parts) == 3:
            await self._receive_snapshot(reader, timeout, parts[1].decode(), int(parts[2]))
        elif parts[:1] == [b"+CONTINUE"]:
            new_id = parts[1].decode() if len(parts) > 1 else rep.replid
            if new_id != rep.replid:  # the master was promoted: its history includes ours
                rep.follow_new_replid(new_id)
            log.info(
                "event=partial_resync_ok master=%s:%s replid=%s offset=%s",
                self.host,
                self.port,
                rep.replid,
                rep.offset,
            )
        else:
            raise ReplError(f"PSYNC answered {reply.decode(errors='replace')}")
        await self._stream(reader, writer, timeout)

    async def _receive_snapshot(
        self, reader: asyncio.StreamReader, timeout: float, replid: str, offset: int
    ) -> None:
        rep = self.rep
        rep.link_state = "sync"
        started = time.monotonic()
        line = b""
        while not line:  # empty lines are the master's keepalives while it prepares the snapshot
            line = (await _read_line(reader, timeout)).strip()
        if not line.startswith(b"$"):
            raise ReplError(f"expected the snapshot bulk, got {line[:40]!r}")
        size = int(line[1:])
        loop = asyncio.get_running_loop()
        tar_path = os.path.join(self.cfg.dir, repl_snapshot.INCOMING_TAR)
        new_dir = os.path.join(self.cfg.dir, repl_snapshot.INCOMING_DIR)
        with open(tar_path, "wb") as fh:
            left = size
            while left:
                want = min(repl_snapshot.CHUNK_BYTES, left)
                chunk = await asyncio.wait_for(reader.read(want), timeout)
                if not chunk:
                    raise ReplError("master closed the link during the snapshot")
                fh.write(chunk)  # into the page cache: short
                left -= len(chunk)
                rep.last_io = time.monotonic()
        await loop.run_in_executor(None, repl_snapshot.extract_tar, tar_path, new_dir)
        await self.server.engine.wait_idle()
        self._install(new_dir)
        rep.synced_to(replid, offset)  # no await since the swap: data, replid and offset agree
        await loop.run_in_executor(None, repl_snapshot.remove_leftovers, self.cfg.dir,
                                   (repl_snapshot.OLD_DB,))
        log.info(
            "event=full_sync_done master=%s:%s replid=%s offset=%s bytes=%s seconds=%.3f",
            self.host,
            self.port,
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
        repl_snapshot.swap_in(self.cfg.dir, old.path, new_dir)
        server.engine = repl_snapshot.reopen(server.cfg)
        server.collector.engine = server.engine
        server.touch_all()  # WATCHed keys may all have changed

    async def _stream(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float
    ) -> None:
        rep = self.rep
        mc = self.server.new_client()
        mc.kind = "master"
        mc.authenticated = True
        mc.db = rep.applied_db
        self._held = []  # a transaction left open by the last link is resent whole
        mc.transport = writer.transport  # CLIENT KILL TYPE master closes the link
        peer = writer.get_extra_info("peername") or (self.host, self.port)
        sock = writer.get_extra_info("sockname") or ("?", 0)
        mc.addr, mc.laddr = f"{peer[0]}:{peer[1]}", f"{sock[0]}:{sock[1]}"
        self.server.next_client_id += 1
        mc.id = self.server.next_client_id
        self.server.clients[mc.id] = mc
        self._master_client = mc
        rep.link_state = "connected"
        rep.link_down_since = None
        rep.last_io = time.monotonic()
        rep.read_offset = rep.offset  # bytes read but not applied before are sent again
        acks = asyncio.ensure_future(self._ack_loop(writer))
        parser = hiredis.Reader()
        try:
            while not self.stopped:
                data = await asyncio.wait_for(reader.read(65536), timeout)
                if not data:
                    raise ReplError("master closed the link")
                rep.last_io = time.monotonic()
                rep.read_offset += len(data)
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
        server, rep = self.server, self.rep
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
                    writer.write(encode_command(b"REPLCONF", b"ACK", b"%d" % rep.offset))
                continue
            start = i
            saved = (mc.db, None if mc.multi is None else list(mc.multi), mc.multi_error)
            suspended = None
            lane = lane_open(server, mc)  # the lean lane (fastpath.py), asked again after others
            while i < n:
                cmd = cmds[i]
                entry = LEAN.get(cmd[0]) if lane else None
                reply = NOT_FAST if entry is None else serve_lean(server, mc, cmd, entry, group)
                if reply is NOT_FAST:
                    name = cmd[0].lower()
                    if name == b"replconf" and len(cmd) > 1 and cmd[1].lower() == b"getack":
                        break
                    if name in (b"ping", b"replconf"):
                        i += 1
                        continue
                    reply = server.execute(mc, cmd)
                    lane = lane_open(server, mc)
                i += 1
                if type(reply) is Suspend:
                    suspended = reply  # runs once the group is written
                    break
                if isinstance(reply, Error):
                    log.warning("event=replica_apply_error cmd=%s error=%s",
                                cmd[0].lower().decode(errors="replace"), reply.message)
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
                    rep.applied_db = mc.db
                    self._forward(mc, cmds[start:i - 1])
                    if mc.closing:  # the last one was not applied: the next PSYNC resends it
                        raise ReplError("master client killed")
                    await self._apply(mc, cmds[i - 1])  # not applied: again, until it is
                    if mc.closing:
                        raise ReplError("master client killed")
                    continue
            rep.applied_db = mc.db
            # Forward exactly what we applied: our offset and backlog mirror the master's stream.
            self._forward(mc, cmds[start:i])
            if mc.closing:
                raise ReplError("master client killed")

    async def _apply(self, mc: Client, argv: list[bytes]) -> None:
        """Run one command of the stream; a stalled write is retried until it succeeds."""
        rep = self.rep
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
                            rep.offset,
                        )
                    continue
                if isinstance(reply, Error) and self.server.engine.disk.full and name != b"exec":
                    continue  # the disk refused it (nothing applied): wait for the heal, retry
                if stalled_since is not None:
                    log.info(
                        "event=replica_apply_resumed offset=%s stalled_seconds=%.3f",
                        rep.offset,
                        time.monotonic() - stalled_since,
                    )
                if isinstance(reply, Error):
                    log.warning(
                        "event=replica_apply_error cmd=%s error=%s",
                        name.decode(errors="replace"),
                        reply.message,
                    )
                break
            rep.applied_db = mc.db
        # Forward exactly what we applied: our offset and backlog mirror the master's stream.
        self._forward(mc, [argv])

    def _forward(self, mc: Client, cmds: list) -> None:
        """Feed what was applied on to our stream (offset, backlog, sub-replicas). A transaction
        still open (its MULTI applied, not yet its EXEC) is held back: our offset never points
        inside one (Redis's reploff), so a new link resends it whole, and what sub-replicas get is
        the stream verbatim, a block at once."""
        data = [encode_command(*cmd) for cmd in cmds]
        if mc.multi is None:
            if self._held:
                data, self._held = self._held + data, []
            if data:
                self.rep.feed(b"".join(data))
            return
        for j in range(len(cmds) - 1, -1, -1):
            if cmds[j][0].lower() == b"multi":
                break
        else:
            self._held += data
            return
        out, self._held = self._held + data[:j], data[j:]
        if out:
            self.rep.feed(b"".join(out))

    async def _ack_loop(self, writer: asyncio.StreamWriter) -> None:
        while not self.stopped:
            writer.write(encode_command(b"REPLCONF", b"ACK", b"%d" % self.rep.offset))
            await asyncio.sleep(ACK_PERIOD_S)

    def _close_master_client(self) -> None:
        mc, self._master_client = self._master_client, None
        if mc is not None:
            mc.closing = True
            self.server.clients.pop(mc.id, None)
            self.server.forget_client(mc)
            if mc.transport is not None:
                mc.transport.abort()


async def _read_line(reader: asyncio.StreamReader, timeout: float) -> bytes:
    line = await asyncio.wait_for(reader.readline(), timeout)
    if not line:
        raise ReplError("master closed the link")
    return line.rstrip(b"\r\n")
