"""The storage node's network shell: connections, command dispatch, transactions, suspension.

Commands run synchronously on the event loop (RocksDB reads take microseconds). A command can
suspend its client without blocking anyone else: a write refused by a RocksDB stall is retried
with backoff until `write_stall_timeout_ms` and then answered -BUSY; a blocking list pop waits
for a push. While a client is suspended its later pipelined commands wait, in order.

Why one module (~1,330 lines): Client.run (a chunk's commands, group commit, suspension) and
Server.execute/call (Redis's order of checks before a command runs) are the node's hot path and
the one place where every gate (auth, ACL, disk, pause, scripts, MULTI, durability, stall,
migration) meets; the gates' own logic lives in their modules (durability.py, pause.py,
scripting.gate, groupcommit.py, rounds.py...), what is left here is their order, and the
hooks after a command (statistics: cmdstats.py; keyspace events: notify_events.py; tracking).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Awaitable
from time import perf_counter_ns

from xcache import querybuf, replybuf
from xcache.config import ServerConfig
from xcache.resp import (
    Error,
    ProtocolError,
    Raw,
    RequestParser,
    encode,
    encode_into,
    encode_into3,
)
from xcache.resp.errors import unknown_command as unknown_command_text
from xcache.store import diskfull, maxmemory
from xcache.store.accept import Acceptor, fit_maxclients
from xcache.store.commands import COMMANDS, Command
from xcache.store.dbmap import db_byte
from xcache.store.engine import Engine, WriteStall
from xcache.store.interfaces import BUSY_STALL, READONLY, Block, Suspend  # noqa: F401 (re-exported)

log = logging.getLogger("xcache.server")
METRICS_BIND_RETRY_S = 5.0  # how long a busy metrics port is tried again before the node gives up

# Importing the command modules registers their commands.
COMMAND_MODULES = ("admin", "auth", "strings", "keys", "hashes", "lists", "sets", "zsets", "pubsub",
                   "hyperloglog", "geo", "bits", "lcs", "zsetops", "mpop", "sort",
                   "transactions", "replication", "migrate", "streams", "stream_groups", "scripting",
                   "dump", "functions", "acl", "latency", "introspect", "monitor", "swapdb",
                   "noscripting")  # last: it yields to the real scripting modules
for _module in COMMAND_MODULES:
    importlib.import_module(f"xcache.store.{_module}")

from xcache.store import cmdstats, durability, monitor, pubsub, scripting, tracking, transactions  # noqa: E402
from xcache.store.acl import check as acl_check  # noqa: E402
from xcache.store.auth import connection_user  # noqa: E402
from xcache.store.collector import Collector  # noqa: E402
from xcache.store.fastpath import LEAN, NOT_FAST, lane_open, lean_read, serve_lean  # noqa: E402
from xcache.store.latency import Diagnostics  # noqa: E402
from xcache.store.lazyexpire import expire_keys  # noqa: E402
from xcache.store.migrate import lock_of  # noqa: E402
from xcache.store.notify import KEY_MISS, notify  # noqa: E402
from xcache.store.notify_events import after as notify_after  # noqa: E402
from xcache.store.notify_events import before as notify_before  # noqa: E402
from xcache.store.notify_events import served as notify_served  # noqa: E402
from xcache.store.oom import refuse as refuse_oom  # noqa: E402
from xcache.store.pause import ClientPause  # noqa: E402
from xcache.store.replication import Replication  # noqa: E402
from xcache.store.rounds import Round  # noqa: E402
from xcache.store.settings import Settings  # noqa: E402
from xcache.store.subcommands import lookup_error  # noqa: E402

cmdstats.attach()

SUBSCRIBED_ALLOWED = {b"subscribe", b"unsubscribe", b"psubscribe", b"punsubscribe", b"ping",
                      b"quit", b"reset", b"ssubscribe", b"sunsubscribe"}
SCRIPT_RUNNERS = frozenset({"eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"})
MASTERDOWN = Error("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.")


def _denied_stale(cmd: Command, name: bytes) -> bool:
    return "stale" not in cmd.flags or name == b"ping"


MULTI_IMMEDIATE = {b"exec", b"discard", b"multi", b"watch", b"quit", b"reset"}
MAX_PENDING_COMMANDS = 10_000
WRITE_HIGH_WATER = 64 * 1024  # asyncio's and uvloop's default write-buffer high-water mark
# Commands that need the data written before they run: a chunk's group is written first.
GROUP_BARRIER = {b"save", b"bgsave", b"wait", b"waitaof", b"psync", b"sync", b"shutdown",
                 b"debug", b"replicaof", b"slaveof", b"failover", b"compact", b"bgrewriteaof"}
GROUP_MAX_OPS = 4096  # a chunk writes at most this many operations per batch


class Client(asyncio.Protocol):
    """One client connection."""

    def __init__(self, server: Server):
        self.server = server
        self.db = 0
        self.touched_keys: list[bytes] | None = None  # set by a write handler (after_write)
        self.id = 0
        self.name = b""
        self.resp = 2  # HELLO 3 switches to RESP3
        self.encode = encode_into  # the reply encoder of self.resp
        self.lib_name = b""
        self.lib_ver = b""
        self.tracking = None  # CLIENT TRACKING state (xcache/store/tracking.py)
        self.tracking_pending: list | None = None  # invalidations due after this command's reply
        self.no_evict = self.no_touch = False
        self.blocked: Block | None = None  # the blocking command waiting (CLIENT UNBLOCK)
        self.unblocked_with = None  # the reply CLIENT UNBLOCK chose
        self.block_waiter: asyncio.Future | None = None
        self.user, self.authenticated = connection_user(server)  # ACL user (store/acl.py)
        self.transport: asyncio.Transport | None = None
        self.addr = "?:0"
        self.laddr = "?:0"
        self.fd = -1
        self.qbuf_read = 0  # bytes of the read whose commands run now
        self.qbuf_alloc = self.qbuf_peak = 0  # Redis's query buffer size and peak (xcache/querybuf.py)
        # Redis's reply buffer size, its peak and when that was reset (xcache/replybuf.py)
        self.rbuf_size = self.rbuf_peak = replybuf.CHUNK
        self.rbuf_peak_reset = 0  # Redis starts it in seconds, so the first visit resets it
        self.parser = RequestParser(server.cfg.proto_max_bulk_len_bytes, server.cfg.proto_max_multibulk_len)
        self.parser.authenticated = self.authenticated  # Redis's limits on unauthenticated requests
        self.pending: deque | None = None  # commands waiting while the client is suspended
        self.inbox: list | None = None  # commands read, waiting for this iteration's round
        self.held_out: list | None = None  # replies held by a round: later sends queue behind
        self.closing = False
        self.created = time.monotonic()
        self.last_interaction = self.created
        self.last_cmd = b"NULL"
        self.last_full: Command | None = None  # its command or subcommand (CLIENT LIST cmd=)
        self.typed_cmd = b""  # argv[0] as the client spelled it (FUNCTION STATS)
        self.monitor_exec: list | None = None  # EXEC's argv, shown in MONITOR once it ran
        self.kind = "normal"  # normal | replica | pubsub (for CLIENT KILL TYPE)
        # transactions
        self.multi: list | None = None
        self.multi_error = False
        self.watched: set = set()
        self.watched_expired: set = set()  # watched keys that were stale already (transactions)
        self.dirty_cas = False
        self.exec_progress = None
        self.exec_unit = None  # a stalled EXEC's replication ops so far (transactions.py)
        # pub/sub
        self.channels: set[bytes] = set()
        self.patterns: set[bytes] = set()
        self.shard_channels: set[bytes] = set()
        self.propagate: list | None = None  # set by a handler to replicate something else
        self._writing_paused = False
        self.suspended_task: asyncio.Future | None = None
        self.close_after_reply = False  # QUIT: answer, then close

    @property
    def engine(self) -> Engine:
        # Not cached: a replica's full sync swaps the server's engine under live clients.
        return self.server.engine

    # --- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername") or ("?", 0)
        sock = transport.get_extra_info("sockname") or ("?", 0)
        self.addr = f"{peer[0]}:{peer[1]}"
        self.laddr = f"{sock[0]}:{sock[1]}"
        raw = transport.get_extra_info("socket")
        self.fd = raw.fileno() if raw is not None else -1
        server = self.server
        if len(server.clients) >= server.cfg.maxclients:
            server.stats["rejected_connections"] += 1
            transport.write(b"-ERR max number of clients reached\r\n")
            # Half-close and drain briefly: closing at once would answer the client's first
            # request with a reset, and the client would never read why it was refused.
            transport.write_eof()
            asyncio.get_running_loop().call_later(1.0, transport.close)
            self.closing = True
            return
        server.next_client_id += 1
        self.id = server.next_client_id
        server.clients[self.id] = self
        server.stats["total_connections_received"] += 1

    def connection_lost(self, exc) -> None:
        self.closing = True
        server = self.server
        server.clients.pop(self.id, None)
        server.forget_client(self)

    def pause_writing(self) -> None:
        # The client reads slower than we answer: stop reading its requests (backpressure).
        self._writing_paused = True
        if self.transport and self.pending is None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self._writing_paused = False
        if self.transport and self.pending is None and not self.closing:
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        self.last_interaction = time.monotonic()
        self.server.stats["total_net_input_bytes"] += len(data)
        before = self.parser.buffered()
        self.qbuf_read = after = before + len(data)  # CLIENT LIST qbuf (clientinfo.py)
        if after > self.qbuf_alloc or self.qbuf_alloc - before < querybuf.IOBUF:
            querybuf.grow(self, before, after)
        if after > self.qbuf_peak:
            self.qbuf_peak = after
        try:
            cmds = self.parser.feed(data)
        except Exception as exc:  # MemoryError: answer, log and close (never a silent drop)
            self.send([encode(self._internal_error([b"?"], exc))])
            self.close()
            return
        if self.pending is not None:
            self.pending.extend(cmds)
            if len(self.pending) > MAX_PENDING_COMMANDS:
                self.transport.pause_reading()  # backpressure on a client flooding a suspended session
            return
        server = self.server
        if self.inbox is None and not server.woken:
            entry = lean_read(cmds)
            if entry is not None:  # nothing to write, so no group to share: no deferral
                if not self._serve_read(cmds[0], entry):
                    self.run(cmds)
                return
            if len(server.clients) < 2 or not server.cfg.group_commit_across_clients:
                self.run(cmds)  # nobody to share a group with: no deferral
                return
        # Cross-client group commit (rounds.py): run with the other clients read in this
        # iteration, in one callback.
        if self.inbox is None:
            self.inbox = cmds
            server.ready.append(self)
            if not server.round_scheduled:
                server.round_scheduled = True
                asyncio.get_running_loop().call_soon(server.run_round)
        else:
            self.inbox.extend(cmds)

    # --- running commands -------------------------------------------------------------------

    def _serve_read(self, argv: list, entry: tuple) -> bool:
        """A chunk of one lean read (a P=1 GET, HGET, EXISTS...) through the lean lane, without
        run's round and group; False: it takes run (a gate is in force, or the command needs the
        full path)."""
        server = self.server
        if not lane_open(server, self):
            return False
        try:
            reply = serve_lean(server, self, argv, entry, None)
        except Exception as exc:  # a bug or MemoryError: answer it, never drop the client
            reply = self._internal_error(argv, exc)
        if reply is NOT_FAST:
            return False
        if type(reply) is Error:
            server.count_error(reply)
        out: list = []
        self.encode(out, reply)
        self.send(out)
        return True

    def run(self, cmds, rnd: Round | None = None) -> None:
        """Run a chunk of commands. Within a round (rnd) its replies may stay held until the
        round's group is written (rnd.commit); alone, they are sent before run returns."""
        own = rnd is None
        if own:
            rnd = Round(self.server, False)
        out: list = []
        server = self.server
        execute = server.execute
        queue = cmds if isinstance(cmds, deque) else deque(cmds)
        parser = self.parser
        # Group commit (groupcommit.py): the writes of a pipelined chunk (and of the round's
        # other clients) go to RocksDB as one batch, written before any of their replies is sent.
        group = rnd.open(len(queue))
        marks: list = []  # (start, end, n) in out of the replies of commands that wrote
        lane = None  # fastpath.lane_open(server, self), asked at the first command that may use it
        try:
            while queue or parser.has_more():
                if self.closing:
                    break
                if not queue:
                    # Unauthenticated, the parser returns one command at a time (see RequestParser).
                    parser.authenticated = self.authenticated
                    queue.extend(parser.feed(b""))
                    if not queue:
                        break
                    continue
                argv = queue.popleft()
                if type(argv) is ProtocolError:
                    self.server.stats["protocol_errors"] += 1
                    out.append(b"-ERR Protocol error: %s\r\n" % str(argv).encode())
                    log.info("event=protocol_error client=%s addr=%s error=%r", self.id, self.addr, str(argv))
                    group = None
                    self._send_and_close(rnd, out, marks)
                    return
                entry = LEAN.get(argv[0]) if lane is not False else None  # a lean command
                if entry is None and group is not None and argv[0].lower() in GROUP_BARRIER:
                    # It needs the data written (SAVE, WAIT, PSYNC...): write the group first and
                    # run the rest of the chunk command by command.
                    queue.appendleft(argv)
                    group = None
                    if not rnd.commit(self, out, marks, queue, None):
                        return
                    out, marks = [], []
                    continue
                size = group.size if group is not None else 0
                try:
                    reply = NOT_FAST
                    if entry is not None:
                        if lane is None:
                            lane = lane_open(server, self)
                        if lane:
                            reply = serve_lean(server, self, argv, entry, group)
                    if reply is NOT_FAST:
                        lane = None  # the command may open or close a gate: ask again
                        reply = execute(self, argv)
                except Exception as exc:  # a bug or MemoryError: answer it, never drop the client
                    reply = self._internal_error(argv, exc)
                parser.authenticated = self.authenticated
                if type(reply) is Error:
                    self.server.count_error(reply)
                if self.close_after_reply:
                    self.encode(out, reply)
                    group = None
                    self._send_and_close(rnd, out, marks)
                    return
                if type(reply) is Suspend:
                    if group is not None:
                        group = None
                        if not rnd.commit(self, out, marks, queue, reply.waiter):
                            return
                    elif out:
                        self.send(out)
                    # Reading goes on (to notice a client that leaves while blocked or stalled); the
                    # commands it sends meanwhile wait in self.pending, in order.
                    self.pending = queue
                    self.suspended_task = asyncio.ensure_future(self._resume(reply.waiter))
                    return
                if group is not None and group.size != size:
                    start = len(out)
                    self.encode(out, reply)
                    marks.append((start, len(out), len(reply) if type(reply) is list
                                  and argv[0].lower() == b"exec" else -1))
                    if group.size >= GROUP_MAX_OPS:  # bound the batch (and the held replies)
                        group = None
                        if not rnd.commit(self, out, marks, queue, None):
                            return
                        out, marks = [], []
                        group = rnd.open(len(queue))
                    continue
                self.encode(out, reply)
            if group is not None:
                group = None
                if own:
                    rnd.commit(self, out, marks, deque(), None)
                else:
                    rnd.hold(self, out, marks)  # sent once the round's group is written
            elif out:
                self.send(out)
        finally:
            if own and rnd.group is not None:  # left by an exception: write what the commands did
                g, rnd.group = rnd.group, None
                self.server.abandon_group(g)

    def _send_and_close(self, rnd: Round, out: list, marks: list) -> None:
        """The last replies before the connection closes, after their round's group is written."""
        if rnd.group is not None:
            if rnd.commit(self, out, marks, deque(), None, close=True):
                self.close()
            return
        self.send(out)
        self.close()

    def fail_writes(self, out: list, marks: list, error: Error) -> None:
        """The group was not written: each write's reply becomes the error a lone write gets."""
        for start, end, n in marks:
            enc: list = []
            self.encode(enc, error if n < 0 else [error] * n)
            out[start] = b"".join(enc)
            for i in range(start + 1, end):
                out[i] = b""
            self.server.count_error(error)

    async def held(self, retry: asyncio.Future, out: list, marks: list, waiter, close: bool) -> None:
        """The replies of a stalled group, sent once the shared retry (Server.hold_round) wrote it
        or gave up; then the client's own suspension or its commands that waited."""
        try:
            error = await asyncio.shield(retry)  # one leaving must not cancel the others' write
        finally:
            self.held_out = None
        if self.closing:
            if waiter is not None and hasattr(waiter, "close"):
                waiter.close()  # the suspended command never runs: its client left
            return
        if error is not None:
            self.fail_writes(out, marks, error)
        if out:
            self.send(out)
        if close:
            self.close()
        elif waiter is not None:
            await self._resume(waiter)
        else:
            self._continue()

    def _internal_error(self, argv: list, exc: BaseException) -> Error:
        self.server.stats["internal_errors"] += 1
        log.error("event=command_failed client=%s addr=%s cmd=%r error=%s: %s", self.id, self.addr,
                  argv[0][:64], type(exc).__name__, exc,
                  exc_info=not isinstance(exc, MemoryError))
        if isinstance(exc, MemoryError):
            return Error("ERR out of memory")
        return Error(f"ERR internal error: {type(exc).__name__}")

    async def _resume(self, waiter: Awaitable) -> None:
        try:
            reply = await waiter
        except Exception as exc:  # a bug must not kill the connection silently
            log.exception("event=command_failed client=%s", self.id)
            reply = Error(f"ERR internal error: {exc}")
        if self.closing:
            return
        if type(reply) is Error:
            self.server.count_error(reply)
        if self.tracking_pending is not None:  # e.g. a script's writes to keys this client caches
            reply = tracking.pending_after(self, reply)
        out: list = []
        self.encode(out, reply)
        self.send(out)
        self._continue()

    def _continue(self) -> None:
        """After a suspension: read again and run the commands that waited."""
        queue, self.pending = self.pending, None
        self.suspended_task = None
        if not self._writing_paused:
            self.transport.resume_reading()
        if queue:
            self.run(queue)

    def send(self, parts: list) -> None:
        if self.held_out is not None:  # e.g. a PUBLISH to a client whose replies a round holds
            self.held_out.extend(parts)
            return
        if self.closing or self.transport is None:
            return
        data = b"".join(parts)
        n = len(data)
        self.server.stats["total_net_output_bytes"] += n
        if n > self.rbuf_peak:  # replybuf.wrote, inlined: the hot path
            self.rbuf_peak = n if n < self.rbuf_size else self.rbuf_size
        self.transport.write(data)
        limit = self.server.cfg.client_output_buffer_limit_bytes
        # the transport calls pause_writing() once its buffer passes the high-water mark
        # (64 KiB): below that no limit can be exceeded, and this check stays off the hot path
        if limit and (self._writing_paused or limit < WRITE_HIGH_WATER) \
                and self.transport.get_write_buffer_size() > limit:
            log.warning("event=client_output_buffer_limit client=%s addr=%s", self.id, self.addr)
            self.server.stats["client_output_limit_disconnections"] += 1
            self.transport.abort()
            self.closing = True

    def send_raw(self, data: bytes) -> None:
        self.send([data])

    def set_protocol(self, resp: int) -> None:
        self.resp = resp
        self.encode = encode_into3 if resp == 3 else encode_into

    def close(self) -> None:
        """Close after the replies already written are flushed."""
        self.closing = True
        if self.transport is not None:
            self.transport.close()


class Server:
    """A storage node: an Engine plus clients, pub/sub, blocking waits and background jobs."""

    def __init__(self, cfg: ServerConfig, config_path: str | None = None):
        self.cfg = cfg
        self.config_path = config_path
        self.engine = Engine(cfg)
        self.run_id = os.urandom(20).hex()
        self.started = time.time()
        self.clients: dict[int, Client] = {}
        self.next_client_id = 0
        self.stats = dict.fromkeys(
            ("total_connections_received", "total_commands_processed", "rejected_connections",
             "total_net_input_bytes", "total_net_output_bytes", "expired_keys", "keyspace_hits",
             "keyspace_misses", "protocol_errors", "client_output_limit_disconnections",
             "stall_rejected_writes", "dirty", "migrate_keys_total", "migrate_bytes_total",
             "internal_errors", "rejected_connections_fd", "evicted_keys", "lazyfreed_objects"), 0)
        self.command_calls: dict[str, list] = {}
        self.error_stats: dict[str, int] = {}  # INFO errorstats: error prefix -> replies
        self.settings = Settings()  # the Redis parameters kept at runtime (settings.py)
        self.access = self.engine.access  # when keys were last used (access.py)
        self.access.configure(self.settings.values)
        self.diagnostics = Diagnostics(self.settings)  # SLOWLOG, LATENCY
        self.notify_flags = 0  # notify-keyspace-events classes (notify.py)
        self.over_maxmemory = False  # maxmemory is below RocksDB's floor (oom.py)
        maxmemory.update(self)
        self.tracking = None  # CLIENT TRACKING table (tracking.py), made on first use
        self.expiring_for = None  # the client whose command is deleting expired keys it met
        self.channels: dict[bytes, set[Client]] = {}
        self.patterns: dict[bytes, set[Client]] = {}
        self.shard_channels: dict[bytes, set[Client]] = {}
        self.monitors: list[Client] = []  # MONITOR clients
        self.watchers: dict[tuple[int, bytes], set[Client]] = {}
        self.script_disable_deny_script = False  # DEBUG SET-DISABLE-DENY-SCRIPTS
        self.replybuf = replybuf.Settings()  # DEBUG REPLYBUFFER, INFO reply_buffer_*
        self.key_waiters: dict[tuple[int, bytes], list[asyncio.Future]] = {}
        # Blocked clients woken by a write whose task has not run yet: commands read meanwhile
        # wait for them (Redis serves them before the next command, so a BRPOPLPUSH chain
        # completes before anyone reads its lists).
        self.woken: set[asyncio.Future] = set()
        self.exclusive: Client | None = None  # a suspended EXEC that others' writes wait for
        self.exclusive_released: asyncio.Event | None = None
        # (db, key) being MIGRATEd -> Event set when its migration ends; writes to it wait
        self.migrating: dict[tuple[int, bytes], asyncio.Event] = {}
        self.migrate_targets = None  # migrate.TargetPool, made by the first MIGRATE
        self.pause = ClientPause()  # CLIENT PAUSE
        self.running_script = None  # scripting.Running while a Lua script runs
        self.collector = Collector(self)
        self.replication = Replication(self)
        self.listener: Acceptor | None = None
        self.tls_listener: asyncio.base_events.Server | None = None
        self.shutdown_event: asyncio.Event | None = None
        self._tasks: list[asyncio.Task] = []
        self.http = None  # the metrics endpoint (EmbeddedServer)
        self.engine_swap: asyncio.Event | None = None  # set while RocksDB is reopened
        self.ready: list[Client] = []  # clients read in this loop iteration (rounds.py)
        self.round_scheduled = False
        self.shared_groups = 0  # groups written with the replies of several clients (INFO)

    # --- dispatch ---------------------------------------------------------------------------

    def execute(self, c: Client, argv: list[bytes]):
        name = argv[0].lower()
        cmd = COMMANDS.get(name)
        c.last_cmd = name
        c.last_full = cmd
        c.typed_cmd = argv[0]  # as the client spelled it (FUNCTION STATS shows it so)
        if cmd is None:
            if c.multi is not None:
                c.multi_error = True
            return unknown_command(argv)
        if cmd.subs is not None and len(argv) > 1:  # Redis looks the subcommand up first
            c.last_full = sub = cmd.subs.get(argv[1].lower())
            refused = lookup_error(cmd.name, argv[1:])
            if refused is not None:
                if c.multi is not None:
                    c.multi_error = True
                if sub is not None:
                    sub.rejected_calls += 1
                return refused
        arity = cmd.arity  # Redis's order: unknown, arity, NOAUTH, ACL, MISCONF
        if (arity > 0 and len(argv) != arity) or len(argv) < -arity:
            if c.multi is not None:
                c.multi_error = True
            cmd.rejected_calls += 1
            return Error(f"ERR wrong number of arguments for '{cmd.name}' command")
        # Rejected before running (processCommand's rejectCommand): counted as rejected_calls
        if not c.authenticated and "noauth" not in cmd.flags:
            cmdstats.target(cmd, argv).rejected_calls += 1
            return Error("NOAUTH Authentication required.")
        if not c.user.unrestricted and (denied := acl_check(c, cmd, argv)) is not None:
            if c.multi is not None:
                c.multi_error = True
            cmdstats.target(cmd, argv).rejected_calls += 1
            return denied
        if self.over_maxmemory:  # maxmemory below RocksDB's floor: Redis's -OOM
            refused = refuse_oom(self, c, cmd, name, argv)
            if refused is not None:
                return refused
        if self.engine_swap is not None:  # RocksDB is being reopened (diskfull.reopen)
            return Suspend(self._after_swap(c, argv))
        if (cmd.write or name == b"exec") and self.engine.disk.full:  # a property: writes only
            refused = self._refuse_disk_write(c, cmd, name, argv)
            if refused is not None:
                return refused
        if (c.channels or c.patterns or c.shard_channels) and c.resp == 2:
            if name not in SUBSCRIBED_ALLOWED:
                cmdstats.target(cmd, argv).rejected_calls += 1
                return Error(f"ERR Can't execute '{cmd.name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")
        if self.running_script is not None and c is not self.running_script.client:
            gated = scripting.gate(self, c, argv)  # wait for the script, or -BUSY
            if isinstance(gated, Error) and c.multi is not None:
                # rejectCommand: the transaction is flagged; an EXEC is aborted with the reason
                if name == b"exec":
                    transactions.reset_multi(c)
                    return Error(f"EXECABORT Transaction discarded because of: {gated.message}")
                c.multi_error = True
            if gated is not None:
                return gated
        if self.pause.mode and self.pause.blocks(c, cmd, name, argv):
            return Suspend(self._after_pause(c, argv))
        if self.replication.is_replica and self.replication.link_state != "connected":
            refused = self._refuse_stale(c, cmd, name, argv)
            if refused is not None:
                return refused
        if cmd.write and self.cfg.min_replicas_to_write:
            refused = durability.refuse(self, c, cmd)
            if refused is not None:
                if c.multi is not None:
                    c.multi_error = True
                cmdstats.target(cmd, argv).rejected_calls += 1
                return refused
        elif name == b"exec" and self.cfg.min_replicas_to_write and c.multi:
            # an EXEC with queued writes is refused as a whole when replicas went missing since
            for queued, _ in c.multi:
                if queued.write:
                    refused = durability.refuse(self, c, queued)
                    if refused is not None:
                        transactions.reset_multi(c)
                        return Error(f"EXECABORT Transaction discarded because of: {refused.message}")
                    break
        if c.multi is not None and name not in MULTI_IMMEDIATE:
            if cmd.write and self.replication.read_only and c.kind != "master":
                c.multi_error = True  # processCommand refuses it before queueing: EXECABORT
                cmdstats.target(cmd, argv).rejected_calls += 1
                return READONLY
            if "nomulti" in cmd.flags:
                c.multi_error = True
                cmdstats.target(cmd, argv).rejected_calls += 1
                return Error("ERR Command not allowed inside a transaction")
            if not (c.multi_error or c.dirty_cas):  # queueMultiCommand: an aborted one keeps none
                c.multi.append((cmd, argv))
            return Raw(b"+QUEUED\r\n")
        if self.cfg.write_ack_replicas and (cmd.write or cmd.name == "exec"):
            return durability.hold(self, c, self.call(c, cmd, argv))
        if self.cfg.write_ack_replicas and "may_replicate" in cmd.flags:  # EVAL, FCALL: if it wrote
            since = getattr(c, "repl_woff", 0)
            return durability.hold(self, c, self.call(c, cmd, argv), since)
        return self.call(c, cmd, argv)

    def _refuse_stale(self, c: Client, cmd: Command, name: bytes, argv: list[bytes]):
        """replica-serve-stale-data no, link down: -MASTERDOWN for what is not flagged stale
        (Redis's PING is not), EXECABORT for an EXEC with such a queued command."""
        if c.kind == "master" or self.settings.values.get("replica-serve-stale-data") != "no":
            return None
        if name == b"exec" and c.multi is not None:
            if not any(_denied_stale(q[0], q[1][0].lower()) for q in c.multi):
                return None
            transactions.reset_multi(c)
            return Error(f"EXECABORT Transaction discarded because of: {MASTERDOWN.message}")
        if not _denied_stale(cmd, name):
            return None
        if c.multi is not None:
            c.multi_error = True
        cmdstats.target(cmd, argv).rejected_calls += 1
        return MASTERDOWN

    def _refuse_disk_write(self, c: Client, cmd: Command, name: bytes, argv: list[bytes]):
        """The disk refuses writes: answer a write -MISCONF at once (as Redis does on a failed
        save), abort an EXEC with queued writes; the replication stream waits instead."""
        if c.kind == "master":
            return Suspend(self._after_disk(c, argv))
        disk = self.engine.disk
        if name == b"exec":
            if c.multi is None or not any(q[0].write for q in c.multi):
                return None
            transactions.reset_multi(c)
            return Error(f"EXECABORT Transaction discarded because of: {disk.refuse()}")
        if c.multi is not None:
            c.multi_error = True
        return disk.refuse()

    async def _after_disk(self, c: Client, argv: list[bytes]):
        # No event marks the end of the episode but a reopen, which heal_loop polls for too.
        while self.engine.disk.full and not c.closing:
            await asyncio.sleep(self.cfg.disk_check_interval_ms / 1000)
        return await self._after_swap(c, argv)

    async def _after_swap(self, c: Client, argv: list[bytes]):
        while self.engine_swap is not None:
            await self.engine_swap.wait()
        reply = self.execute(c, argv)
        if type(reply) is Suspend:
            reply = await reply.waiter
        return reply

    def call(self, c: Client, cmd: Command, argv: list[bytes]):
        """Run one command (also used by EXEC for each queued command)."""
        if cmd.write and self.replication.read_only and c.kind != "master":
            return READONLY
        # Writes (and other clients' EXECs) wait while a stalled EXEC holds `exclusive`.
        if self.exclusive is not None and self.exclusive is not c and (cmd.write or cmd.name == "exec"):
            return Suspend(self._after_exclusive(c, cmd, argv))
        if self.migrating and (cmd.write or cmd.name == "exec"):
            migration = lock_of(self, c, cmd, argv)
            if migration is not None:
                return Suspend(self._after_migration(c, cmd, argv, migration))
        if self.monitors:
            monitor.feed(self, c, cmd, argv)
        return self.invoke(c, cmd, argv)

    def invoke(self, c: Client, cmd: Command, argv: list[bytes]):
        """Run one command past its gates (call's; fastpath.serve_lean when none is in force):
        the handler, then statistics, SLOWLOG, replication, WATCH, tracking, passive expiry."""
        self.stats["total_commands_processed"] += 1
        c.propagate = None
        existed = notify_before(c, cmd, argv) if self.notify_flags and cmd.write else None
        # Redis's LOOKUP_NOTOUCH: TYPE, TTL, EXISTS, OBJECT... and a CLIENT NO-TOUCH client
        self.access.touching = not (cmd.notouch or c.no_touch) or cmd.name == "touch"
        engine = self.engine
        changes = engine.changes
        start = perf_counter_ns()
        st = cmd if cmd.subs is None else cmdstats.target(cmd, argv)  # counted per subcommand
        # keyspace hits/misses: a read command's lookups count (a write's own key does not)
        counting = engine.lookup_stats
        engine.lookup_stats = None if cmd.write else self.stats
        if self.notify_flags & KEY_MISS:
            engine.missed = []
        try:
            try:
                reply = cmd.handler(c, argv[1:])
            finally:
                engine.lookup_stats = counting  # a script's caller's, or None
                if engine.missed is not None:
                    missed, engine.missed = engine.missed, None
                    for db, key in missed:
                        notify(self, KEY_MISS, b"keymiss", key, db)
        except Error as exc:
            # A command that fails while running is a call and a failed call (server.c call()),
            # timed and slow-logged like any other
            nsec = perf_counter_ns() - start
            st.calls += 1
            st.nsec += nsec
            st.failed_calls += 1
            if self.diagnostics.tracking:
                cmdstats.add_sample(st, nsec)
            if nsec >= self.diagnostics.min_ns:
                self.diagnostics.record(c, st, argv, nsec)
            return exc
        except WriteStall:
            return Suspend(self._retry_stalled(c, cmd, argv))
        kind = type(reply)
        if kind is Suspend and cmd.name in SCRIPT_RUNNERS:  # a script still running
            return Suspend(self._script_then_log(c, st, argv, start, reply.waiter))
        if kind is Block:
            nsec = perf_counter_ns() - start
            st.calls += 1  # a call now; its latency and slow log entry once served (blocked.c)
            st.nsec += nsec
            return Suspend(self._block_then_log(c, st, argv, nsec, reply))
        # INFO commandstats/latencystats, SLOWLOG and the latency monitor (inlined: hot path)
        nsec = perf_counter_ns() - start
        st.calls += 1
        st.nsec += nsec
        if kind is Error:  # answered with an error: a failed call too
            st.failed_calls += 1
        diagnostics = self.diagnostics
        if diagnostics.tracking:  # CONFIG latency-tracking
            bits = nsec.bit_length()
            b = (bits << 2) | ((nsec >> (bits - 3)) & 3) if bits > 3 else bits << 2  # latency.bucket
            hist = st.histogram
            hist[b] = hist.get(b, 0) + 1
        if nsec >= diagnostics.min_ns:
            diagnostics.record(c, st, argv, nsec)
        if cmd.write:
            if c.propagate is None and self.engine.changes == changes:
                c.propagate = []  # it wrote nothing: as Redis, not replicated, no key touched
            self.after_write(c, cmd, argv)
            if existed is not None:
                notify_after(c, cmd, argv, reply, existed)
        elif c.tracking is not None:
            c.tracking.read(c, cmd, argv)
        elif self.tracking is not None and c.kind == "script" and "readonly" in cmd.flags:
            tracking.script_read(c)
        if self.engine.expired_hits:  # passive expiry: what the command met expired goes now
            hits, self.engine.expired_hits = self.engine.expired_hits, []
            if not self.pause.mode:  # Redis expires nothing while clients are paused
                self.expiring_for = c  # its invalidations follow its reply (tracking_pending_keys)
                for db, key in hits:
                    expire_keys(self, db, [key])
                self.expiring_for = None
        if c.tracking_pending is not None:
            return tracking.pending_after(c, reply)
        return reply

    # --- group commit (groupcommit.py) ----------------------------------------------------

    def open_group(self):
        """A group for a client's chunk, or None when commands must write one by one: a stall is
        going on (its per-command retry), replies wait for replicas' acks, RocksDB is reopened."""
        engine = self.engine
        if (engine.group is not None or engine.stall.since is not None or engine.disk.full
                or self.engine_swap is not None or self.cfg.write_ack_replicas):
            return None
        return engine.open_group()

    def group_written(self, group) -> None:
        """The group is in RocksDB: replicate its commands, in order."""
        if group.after:
            self.replication.emit_group(group.after)

    def abandon_group(self, group) -> None:
        """A run left by an exception: write the group as its commands would have been."""
        if group.engine.group is group:
            group.engine.close_group()
        try:
            group.engine.write_group(group)
        except (WriteStall, Error) as exc:
            log.error("event=group_write_failed error=%s", exc)
            return
        self.group_written(group)

    def run_round(self) -> None:
        """Once per loop iteration: run the chunks of the clients read in it as one round
        (rounds.py), then write its group and release their replies."""
        if self.woken:  # after the woken blocked clients (they were scheduled before this)
            asyncio.get_running_loop().call_soon(self.run_round)
            return
        ready, self.ready = self.ready, []
        self.round_scheduled = False
        rnd = Round(self, len(ready) > 1)
        try:
            for c in ready:
                cmds, c.inbox = c.inbox, None
                if c.closing:
                    continue
                if c.pending is not None:  # suspended meanwhile: its commands wait, in order
                    c.pending.extend(cmds)
                    continue
                try:
                    c.run(cmds, rnd)
                except Exception:  # a bug: the other clients of the round still get answered
                    log.exception("event=command_failed client=%s", c.id)
                    c.close()
        finally:
            if rnd.group is not None or rnd.held:
                rnd.commit()

    def hold_round(self, group, held: list, client, queue, waiter, close: bool) -> None:
        """A round's group was refused by a RocksDB stall: every client with replies in it waits
        (its later commands queue in pending) while one task writes the group again."""
        # `exclusive` now, not when the task starts: the round's later clients run before it
        token = object()
        self.set_exclusive(token)
        retry = asyncio.ensure_future(self.retry_group([c for c, _, _ in held], group, token))
        for c, out, marks in held:
            mine = c is client
            c.held_out = out
            c.pending = queue if mine else (c.pending if c.pending is not None else deque())
            c.suspended_task = asyncio.ensure_future(
                c.held(retry, out, marks, waiter if mine else None, close and mine))

    async def retry_group(self, clients: list, group, token) -> Error | None:
        """Write a group refused by a RocksDB stall again, with the backoff of a stalled write,
        until write_stall_timeout_ms. None: written; else the error its writes answer. Other
        clients' writes wait meanwhile (`exclusive`): the group's commands read the data as it
        was, a write slipping in between would be lost when the group lands."""
        cfg = self.cfg
        deadline = time.monotonic() + cfg.write_stall_timeout_ms / 1000
        delay = cfg.write_stall_backoff_ms / 1000
        try:  # `token` holds `exclusive` for the group's clients (all suspended meanwhile)
            while True:
                await asyncio.sleep(delay)
                if all(c.closing for c in clients):
                    return None  # nobody to answer: as a lone stalled write, it is dropped
                if self.engine is not group.engine:  # RocksDB was reopened (disk full)
                    return self.engine.disk.refuse() if self.engine.disk.full else BUSY_STALL
                try:
                    group.engine.write_group(group)
                except WriteStall:
                    if time.monotonic() >= deadline:
                        self.stats["stall_rejected_writes"] += 1
                        log.warning("event=write_rejected reason=stall clients=%s group_ops=%s",
                                    ",".join(str(c.id) for c in clients), group.size)
                        return BUSY_STALL
                    delay = min(delay * 2, 0.1)
                    continue
                except Error as exc:
                    return exc
                self.group_written(group)
                # Blocked pops woken by the group's pushes found nothing then: look again.
                for waiters in list(self.key_waiters.values()):
                    for fut in waiters:
                        if not fut.done():
                            fut.set_result(True)
                return None
        finally:
            if self.exclusive is token:
                self.set_exclusive(None)

    def count_error(self, error: Error) -> None:
        if getattr(error, "counted", False):  # counted where it was answered (a script's command)
            return
        prefix = error.message.split(" ", 1)[0]
        stats = self.error_stats
        if prefix in stats or len(stats) < 128:
            stats[prefix] = stats.get(prefix, 0) + 1

    def reset_stats(self) -> None:
        """CONFIG RESETSTAT."""
        for k in self.stats:
            if k not in ("last_save", "dirty"):
                self.stats[k] = 0
        self.error_stats.clear()
        cmdstats.reset()

    def after_write(self, c: Client, cmd: Command, argv: list[bytes]) -> None:
        touched = c.touched_keys  # a handler naming the keys it changed (SMOVE)
        if touched is not None:
            c.touched_keys = None
        if c.propagate is not None and not c.propagate:
            return  # the handler changed nothing: no dirty, no touched keys (Redis's call())
        self.stats["dirty"] += 1
        if self.watchers:
            for key in cmd.keys(argv) if touched is None else touched:
                self.touch(c.db, key)
        if self.key_waiters:  # a key overwritten (SET...): its blocked clients look again, as
            for key in cmd.keys(argv) if touched is None else touched:  # signalDeletedKeyAsReady
                if (c.db, key) in self.key_waiters:
                    self.signal_key(c.db, key)
        if self.tracking is not None:
            tracking.after_write(self, c, cmd, argv)
            if c.tracking is not None:
                c.tracking.caching = None
        rep = self.replication
        if rep.backlog is not None and not rep.is_replica:  # propagate's first test, without a call
            rep.propagate(c, argv)

    async def _retry_stalled(self, c: Client, cmd: Command, argv: list[bytes]):
        """Retry a write refused by a RocksDB stall, without blocking the loop, until the deadline."""
        cfg = self.cfg
        deadline = time.monotonic() + cfg.write_stall_timeout_ms / 1000
        delay = cfg.write_stall_backoff_ms / 1000
        while True:
            # RocksDB signals no event when a stall ends, so polling with backoff is the way.
            await asyncio.sleep(delay)
            if c.closing:
                if cmd.name == "exec":  # what it wrote before the stall still reaches replicas
                    transactions.reset_multi(c)
                return None
            refused = await self._wait_turn(c, cmd, argv)
            if refused is not None:
                return refused
            changes = self.engine.changes
            try:
                reply = cmd.handler(c, argv[1:])
            except Error as exc:
                return exc
            except WriteStall:
                # a replica's EXEC from its master waits the stall out: half of it ran already
                if time.monotonic() >= deadline and not (c.kind == "master" and cmd.name == "exec"):
                    self.stats["stall_rejected_writes"] += 1
                    log.warning("event=write_rejected reason=stall client=%s cmd=%s", c.id, cmd.name)
                    if cmd.name == "exec":
                        return transactions.finish_stalled_exec(c, BUSY_STALL)
                    return BUSY_STALL
                delay = min(delay * 2, 0.1)
                continue
            if type(reply) is Block:
                return await self._block(c, reply)
            if cmd.write:
                if c.propagate is None and self.engine.changes == changes:
                    c.propagate = []  # it wrote nothing (see call)
                self.after_write(c, cmd, argv)
            return reply

    async def _wait_turn(self, c: Client, cmd: Command, argv: list[bytes] | None = None) -> Error | None:
        """Before a suspended command runs again: wait while another client's stalled EXEC holds
        `exclusive`, CLIENT PAUSE covers it or (argv given) a MIGRATE holds one of its keys, then
        re-check the role (REPLICAOF may have come)."""
        name = cmd.name.encode()
        writes = cmd.write or cmd.name == "exec"
        while True:
            if self.exclusive is not None and self.exclusive is not c and writes:
                await self.exclusive_released.wait()
            elif self.pause.mode and self.pause.blocks(c, cmd, name, argv):
                await self.pause.changed()
            elif self.migrating and writes and argv is not None and (ev := lock_of(self, c, cmd, argv)):
                await ev.wait()
            elif self.running_script is not None and c is not self.running_script.client:
                await self.running_script.done.wait()  # a script runs atomically
            else:
                break
        if cmd.write and self.replication.read_only and c.kind != "master":
            return READONLY
        return None

    async def _after_exclusive(self, c: Client, cmd: Command, argv: list[bytes]):
        refused = await self._wait_turn(c, cmd, argv)
        if refused is not None:
            return refused
        reply = self.call(c, cmd, argv)
        if type(reply) is Suspend:
            reply = await reply.waiter
        return reply

    async def _after_migration(self, c: Client, cmd: Command, argv: list[bytes], migration: asyncio.Event):
        """Run a write to a key being migrated once that migration ended (through call() again:
        another migration of the key may have started, or the role changed)."""
        await migration.wait()
        if c.closing:
            return None
        return await self._after_exclusive(c, cmd, argv)

    async def _after_pause(self, c: Client, argv: list[bytes]):
        """Run argv once CLIENT PAUSE no longer covers it (dispatched again: the pause, the role
        or the transaction may have changed meanwhile)."""
        name = argv[0].lower()
        while self.pause.mode and self.pause.blocks(c, COMMANDS[name], name, argv):
            await self.pause.changed()
        reply = self.execute(c, argv)
        if type(reply) is Suspend:
            reply = await reply.waiter
        return reply

    def set_exclusive(self, c: Client | None) -> None:
        if c is self.exclusive:
            return  # an EXEC stalling again keeps its Event, so its waiters stay woken by it
        if self.exclusive_released is not None:
            self.exclusive_released.set()  # waiters wake and check again
        self.exclusive = c
        self.exclusive_released = asyncio.Event() if c is not None else None

    # --- blocking commands -----------------------------------------------------------------

    async def _script_then_log(self, c: Client, st: Command, argv: list[bytes], start: int,
                               waiter) -> object:
        """A script that went on running off the loop: a call of its whole run time (SLOWLOG,
        latency monitor, histogram), as Redis's call() measures a script it runs inline."""
        reply = await waiter
        nsec = perf_counter_ns() - start
        st.calls += 1
        st.nsec += nsec
        if type(reply) is Error:
            st.failed_calls += 1
        if self.diagnostics.tracking:
            cmdstats.add_sample(st, nsec)
        if nsec >= self.diagnostics.min_ns:
            self.diagnostics.record(c, st, argv, nsec)
        return reply

    async def _block_then_log(self, c: Client, st: Command, argv: list[bytes], nsec: int,
                              block: Block):
        """A blocking command, logged as itself (BLPOP, not the LPOP it is served as) when it is
        served or times out, as Redis's updateStatsOnUnblock."""
        reply = await self._block(c, block, st)  # its outcome's stats: _unblocked_stats
        if c.closing:
            return reply
        if nsec >= self.diagnostics.min_ns:
            self.diagnostics.record(c, st, argv, nsec)
        return reply

    async def _block(self, c: Client, block: Block, cmd: Command | None = None):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + block.timeout_s if block.timeout_s > 0 else None
        # A push may have run between the handler returning Block and this task starting: try
        # at once, unless a client blocked before this one was woken by it and has yet to run
        # (Redis serves a key's blocked clients in the order they blocked).
        if not self._woken_ahead(c.db, block.keys):
            reply = self._retry_block(c, block, cmd)
            if reply is not None:
                return reply
        while True:
            fut = loop.create_future()
            slots = [(c.db, k) for k in block.keys]
            for slot in slots:
                self.key_waiters.setdefault(slot, []).append(fut)
            c.blocked, c.block_waiter = block, fut
            try:
                timeout = None if deadline is None else max(0.0, deadline - loop.time())
                await asyncio.wait_for(fut, timeout)
            except TimeoutError:
                return block.timeout_reply
            except asyncio.CancelledError:  # the client left; if it was woken, wake the others
                if fut.done() and not fut.cancelled():
                    self._pass_wake(c.db, block.keys)  # (its own wait is done: not woken again)
                raise
            finally:
                self.woken.discard(fut)
                c.blocked = c.block_waiter = None
                for slot in slots:
                    waiters = self.key_waiters.get(slot)
                    if waiters is not None:
                        with contextlib.suppress(ValueError):
                            waiters.remove(fut)
                        if not waiters:
                            del self.key_waiters[slot]
            leaves = True  # woken: once it leaves the queue, the next client may be served
            try:
                if c.closing:
                    return None  # the client left: pop nothing for it
                if c.unblocked_with is not None:
                    reply, c.unblocked_with = c.unblocked_with, None
                    if cmd is not None:  # CLIENT UNBLOCK counts as failed even with a timeout reply
                        _unblocked_stats(cmd, 0, True)
                    return reply
                turn = COMMANDS.get(c.last_cmd)
                if turn is not None:
                    refused = await self._wait_turn(c, turn)
                    if refused is not None:
                        if cmd is not None:
                            _unblocked_stats(cmd, 0, True)
                        return refused
                reply = self._retry_block(c, block, cmd)
                if reply is not None:
                    return reply
                leaves = False  # nothing for it: blocked again, behind the others
            finally:
                if leaves:
                    self._pass_wake(c.db, block.keys)
            if self.engine.stall.active:
                await asyncio.sleep(self.cfg.write_stall_backoff_ms / 1000)

    def _retry_block(self, c: Client, block: Block, cmd: Command | None = None):
        """One attempt to serve a blocked command; a pop served here is replicated as a plain pop.
        cmd: the blocked command, whose stats get the outcome (updateStatsOnUnblock)."""
        c.propagate = None
        # a key that expired meanwhile is deleted now and replicas get its DEL (lookupKeyWrite)
        expire_keys(self, c.db, block.keys)
        existed = ({k: self.engine.get_meta(c.db, k) is not None for k in block.keys}
                   if self.notify_flags else None)
        start = perf_counter_ns()
        try:
            reply = block.retry()
        except Error as exc:
            if cmd is not None:
                _unblocked_stats(cmd, perf_counter_ns() - start, True)
            return exc
        except WriteStall:
            return None  # try again at the next push or after a short pause
        if reply is not None:
            if c.propagate is not None:
                self.replication.propagate(c, c.propagate)
                if self.tracking is not None and c.propagate:  # the keys it wrote, as a write would
                    tracking.after_served(self, c, c.propagate)
                if existed is not None and c.propagate:
                    notify_served(c, c.propagate, existed)
            if cmd is not None:
                _unblocked_stats(cmd, perf_counter_ns() - start, False)
        return reply

    def unblock(self, c: Client, error: bool) -> None:
        """CLIENT UNBLOCK: end c's blocking command now, as a timeout or with an error."""
        c.unblocked_with = (Error("UNBLOCKED client unblocked via CLIENT UNBLOCK") if error
                            else c.blocked.timeout_reply)
        if c.block_waiter is not None and not c.block_waiter.done():
            c.block_waiter.set_result(True)

    def _woken_ahead(self, db: int, keys: list[bytes]) -> bool:
        """Whether a client blocked on one of keys was woken and has not run yet."""
        return any(f.done() for k in keys for f in self.key_waiters.get((db, k), ()))

    def _pass_wake(self, db: int, keys: list[bytes]) -> None:
        """A woken client left the queue (served, refused, gone): the clients still blocked on
        its keys look again, as Redis goes on serving a ready key's clients while it has data
        (one served with an error, e.g. BLMOVE to a key of another type, leaves it there)."""
        for key in keys:
            if (db, key) in self.key_waiters:
                self.signal_key(db, key)

    def signal_key(self, db: int, key: bytes) -> None:
        """A list got elements: wake the clients blocked on it (in the order they blocked)."""
        waiters = self.key_waiters.get((db, key))
        if waiters:
            for fut in waiters:
                if not fut.done():
                    fut.set_result(True)
                    self.woken.add(fut)

    # --- WATCH ------------------------------------------------------------------------------

    def touch(self, db: int, key: bytes) -> None:
        """The key was written (or deleted): its watchers' transactions fail (touchWatchedKey).
        A key already stale when watched and now gone is no change."""
        slot = (db, key)
        clients = self.watchers.get(slot)
        if clients:
            for other in clients:
                if slot in other.watched_expired:
                    if self.engine.get_raw_meta(db_byte(db) + key) is None:
                        other.watched_expired.discard(slot)
                        continue
                other.dirty_cas = True

    def touch_all(self, db: int | None = None) -> None:
        for (wdb, _key), clients in self.watchers.items():
            if db is None or wdb == db:
                for other in clients:
                    other.dirty_cas = True

    def new_client(self) -> Client:
        """A client with no connection (replication's link to its master)."""
        return Client(self)

    def forget_client(self, c: Client) -> None:
        if c.suspended_task is not None and not c.suspended_task.done():
            c.suspended_task.cancel()  # e.g. a BLPOP of a client that left: drop its waiter now
        transactions.unwatch_all(c)
        pubsub.unsubscribe_all(c)
        if self.tracking is not None and c.tracking is not None:
            self.tracking.forget(c.id)
        if self.monitors:
            monitor.forget(self, c)
        self.replication.forget_client(c)
        if self.exclusive is c:
            self.set_exclusive(None)

    # --- lifecycle --------------------------------------------------------------------------

    def listen_socket(self, port: int) -> socket.socket:
        """A socket listening on bind:port (raises OSError)."""
        sock = socket.socket(socket.AF_INET6 if ":" in self.cfg.bind else socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.cfg.bind, port))
            sock.listen(511)
        except OSError:
            sock.close()
            raise
        return sock

    def change_port(self, sock: socket.socket) -> None:
        """CONFIG SET port (changeListenPort): accept on the new socket, close the old one;
        the clients already connected stay."""
        old, self.listener = self.listener, Acceptor(sock, lambda: Client(self), self.stats)
        self.listener.start()
        old.close()
        log.info("event=listening addr=%s:%s reason=config_set", self.cfg.bind, self.cfg.port)

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        self.shutdown_event = asyncio.Event()
        if self.cfg.tls_port:  # first: once the plain port accepts, the TLS port does too
            self.tls_listener = await self._listen_tls(loop)
        sock = self.listen_socket(self.cfg.port)
        self.cfg.maxclients = fit_maxclients(self.cfg.maxclients)
        self.listener = Acceptor(sock, lambda: Client(self), self.stats)
        self.listener.start()
        log.info("event=listening addr=%s:%s dir=%s run_id=%s pid=%s", self.cfg.bind,
                 self.cfg.port, self.cfg.dir, self.run_id, os.getpid())
        self._tasks = [asyncio.ensure_future(self.collector.run()),
                       asyncio.ensure_future(self._wal_sync_loop()),
                       asyncio.ensure_future(self._idle_clients_loop()),
                       asyncio.ensure_future(self._clients_cron()),
                       asyncio.ensure_future(diskfull.heal_loop(self)),
                       asyncio.ensure_future(self.access.run_clock())]
        self.replication.start()
        metrics_port = self.cfg.metrics_port if self.cfg.metrics_port >= 0 else self.cfg.port + 10000
        if 0 < metrics_port <= 65535:
            from xcache.observability.http import serve_http
            from xcache.store.metrics import build_app

            try:
                # A node without /health is invisible to its operators: retry, then refuse to run.
                self.http = await serve_http(build_app(self), self.cfg.bind, metrics_port, "metrics",
                                             required=True, retry_s=METRICS_BIND_RETRY_S)
            except OSError:
                log.error("event=metrics_port_unavailable addr=%s:%s action=exit hint=%s",
                          self.cfg.bind, metrics_port, "set metrics_port to a free port, or 0 for none")
                await self.close()
                raise SystemExit(2) from None
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.shutdown_event.set)
        await self.shutdown_event.wait()
        await self.close()

    async def _listen_tls(self, loop):
        """The TLS listener (tls_port): the same clients, over Python's ssl."""
        from xcache.tlsconfig import server_context

        cfg = self.cfg
        ctx = server_context(cfg.tls_cert_file, cfg.tls_key_file, cfg.tls_ca_cert_file, cfg.tls_auth_clients)
        tls_sock = socket.socket(socket.AF_INET6 if ":" in cfg.bind else socket.AF_INET, socket.SOCK_STREAM)
        tls_sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tls_sock.bind((cfg.bind, cfg.tls_port))
        tls_sock.listen(511)
        tls_sock.setblocking(False)
        listener = await loop.create_server(lambda: Client(self), sock=tls_sock, ssl=ctx,
                                            ssl_handshake_timeout=10)
        log.info("event=listening_tls addr=%s:%s auth_clients=%s", cfg.bind, cfg.tls_port, cfg.tls_auth_clients)
        return listener

    async def close(self) -> None:
        log.info("event=shutdown")
        if self.tls_listener is not None:
            self.tls_listener.close()
        if self.listener is not None:
            self.listener.close()
        if self.http is not None:
            await self.http.stop()
        for task in self._tasks:
            task.cancel()
        await self.replication.stop()
        for c in list(self.clients.values()):
            c.close()
        self.engine.close()

    async def _wal_sync_loop(self) -> None:
        """wal_sync=everysec: fsync the RocksDB WAL once a second, off the event loop."""
        if self.cfg.wal_sync != "everysec":
            return
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(1)
            if self.engine.disk.full or self.engine_swap is not None:
                continue  # heal_loop reopens the database; nothing to sync meanwhile
            try:
                await loop.run_in_executor(None, self.engine.flush_wal)
            except diskfull.DiskFullError:
                pass  # recorded in engine.disk (logged once per episode)
            except Exception:
                log.exception("event=wal_sync_failed")

    async def _clients_cron(self) -> None:
        """Redis's clientsCron, for what clients see of it (xcache/querybuf.py, replybuf.py):
        every 100 ms a tenth of the clients (at least 5), so each about once a second, every one
        when there are few."""
        batch: list = []
        while True:
            await asyncio.sleep(0.1)
            if not batch:
                batch = list(self.clients.values())
            n = max(5, len(self.clients) // 10)
            visit, batch = batch[:n], batch[n:]
            now = time.monotonic()
            now_ms = int(time.time() * 1000)
            for c in visit:
                if not c.closing:
                    querybuf.cron(c, c.parser.buffered(), now - c.last_interaction)
                    replybuf.cron(c, self.replybuf, now_ms)

    async def _idle_clients_loop(self) -> None:
        """Close clients idle longer than timeout_ms (as Redis's `timeout`)."""
        while True:
            await asyncio.sleep(1)
            limit = self.cfg.timeout_ms / 1000
            if not limit:
                continue
            now = time.monotonic()
            for c in list(self.clients.values()):
                if (c.kind == "normal" and not c.channels and not c.patterns and c.pending is None
                        and now - c.last_interaction > limit):
                    c.close()


def _unblocked_stats(cmd: Command, nsec: int, failed: bool) -> None:
    """updateStatsOnUnblock: a blocked command was served (its call was counted when it blocked);
    a timeout adds nothing, as in Redis."""
    cmd.nsec += nsec
    if failed:
        cmd.failed_calls += 1
    bits = nsec.bit_length()
    b = (bits << 2) | ((nsec >> (bits - 3)) & 3) if bits > 3 else bits << 2  # latency.bucket
    cmd.histogram[b] = cmd.histogram.get(b, 0) + 1


def unknown_command(argv: list[bytes]) -> Error:
    return Error("ERR " + unknown_command_text(argv))


def run(cfg: ServerConfig, config_path: str | None = None) -> None:
    """Entry point of `xcache server`."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s level=%(levelname)s component=server %(message)s")
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    server = Server(cfg, config_path)
    asyncio.run(server.serve())


__all__ = ["Block", "Client", "Server", "Suspend", "run", "encode"]
