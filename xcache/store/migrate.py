"""MIGRATE (Redis 7 syntax and replies) and SLOTSHASHKEY (Codis), for online slot migration.

No DUMP/RESTORE payloads: a key travels as ordinary commands (SET, RPUSH, SADD, HSET, ZADD,
PEXPIRE), so the target may be an xcache server or a redis-server. A string goes in one
`SET ... PX`; a collection of at most `migrate_chunk_items` members in one MULTI/EXEC (atomic on
the target either way); several such keys share one pipeline. A bigger key goes one chunk per
command, read from RocksDB from the last member sent and awaited before the next, so the event
loop never works more than a chunk at a time. The MIGRATE client is suspended meanwhile; other clients are served.

While a key is being migrated it is locked: other clients' writes to it (and other MIGRATEs of
it) wait in Server.call until the migration ends. The source copy stays complete until the target
acknowledged the key, then it is deleted (unless COPY) and the DEL is replicated.
"""

from __future__ import annotations

import asyncio
import time

import hiredis

from xcache.keyslot import slot_of
from xcache.resp import OK, Error, SimpleString, encode_command
from xcache.store.commands import SYNTAX_ERROR, command, parse_int
from xcache.store.engine import (
    HASH,
    LIST,
    SET,
    STREAM,
    STRING,
    ZSET,
    Meta,
    WriteStall,
    data_prefix,
    now_ms,
    unpack_double,
)
from xcache.store.hashes import in_hash_order
from xcache.store.interfaces import Suspend

NOKEY = SimpleString(b"NOKEY")
IDLE_S = 10.0  # a cached target connection is closed after this long unused (as Redis)
CONNECT_ERR = "IOERR error or timeout connecting to the client"
READ_ERR = "IOERR error or timeout reading to target instance"
WRITE_ERR = "IOERR error or timeout writing to target instance"
WRITE_CMDS = {HASH: b"HSET", LIST: b"RPUSH", SET: b"SADD", ZSET: b"ZADD"}


class TargetError(Exception):
    """The target answered an error reply (the text after '-')."""


class IOErr(Exception):
    """The target could not be reached, or did not answer in time (message: the -IOERR text)."""


# --- the connection to a target ---------------------------------------------------------------

class Target:
    """One connection to a target server; pipelined calls, replies parsed by hiredis."""

    def __init__(self, key: tuple, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stats: dict):
        self.key = key
        self.reader = reader
        self.writer = writer
        self.stats = stats
        self.parser = hiredis.Reader()
        self.db = 0  # a new connection starts in db 0
        self.timeout_s = 1.0
        self.last_used = time.monotonic()

    async def call(self, cmds: list[list[bytes]]) -> list:
        """Send cmds in one write, return their replies (errors as hiredis.ReplyError)."""
        data = b"".join(encode_command(*cmd) for cmd in cmds)
        self.stats["migrate_bytes_total"] += len(data)
        try:
            self.writer.write(data)
            await asyncio.wait_for(self.writer.drain(), self.timeout_s)
        except (OSError, TimeoutError):
            raise IOErr(WRITE_ERR) from None
        replies: list = []
        while len(replies) < len(cmds):
            try:
                reply = self.parser.gets()
            except hiredis.ProtocolError:  # not a RESP server: nothing more to understand
                raise IOErr(READ_ERR) from None
            if reply is not False:
                replies.append(reply)
                continue
            try:
                chunk = await asyncio.wait_for(self.reader.read(65536), self.timeout_s)
            except (OSError, TimeoutError):
                raise IOErr(READ_ERR) from None
            if not chunk:
                raise IOErr(READ_ERR)
            self.parser.feed(chunk)
        return replies

    def usable(self) -> bool:
        return not (self.reader.at_eof() or self.writer.is_closing())

    def close(self) -> None:
        self.writer.close()


class TargetPool:
    """Idle target connections by (host, port, auth), closed after IDLE_S unused."""

    def __init__(self, stats: dict):
        self.stats = stats
        self.idle: dict[tuple, list[Target]] = {}

    async def get(self, host: str, port: int, auth: tuple, timeout_s: float) -> Target:
        key = (host, port, auth)
        idle = self.idle.get(key)
        while idle:
            t = idle.pop()
            if t.usable():
                t.timeout_s = timeout_s
                return t
            t.close()  # the target closed it meanwhile (restart, its own idle timeout)
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
        except ConnectionRefusedError:
            # Redis connects without waiting for the handshake and notices at the first write.
            raise IOErr(WRITE_ERR) from None
        except (OSError, TimeoutError, ValueError):
            raise IOErr(CONNECT_ERR) from None
        t = Target(key, reader, writer, self.stats)
        t.timeout_s = timeout_s
        if auth:
            (reply,) = await t.call([[b"AUTH", *auth]])
            if isinstance(reply, hiredis.ReplyError):
                t.close()
                raise TargetError(str(reply))
        return t

    def put(self, t: Target) -> None:
        t.last_used = time.monotonic()
        self.idle.setdefault(t.key, []).append(t)
        asyncio.get_running_loop().call_later(IDLE_S, self._reap)

    def _reap(self) -> None:
        cutoff = time.monotonic() - IDLE_S + 0.01
        for key, conns in list(self.idle.items()):
            for t in [t for t in conns if t.last_used <= cutoff]:
                conns.remove(t)
                t.close()
            if not conns:
                del self.idle[key]


# --- reading a key as commands ---------------------------------------------------------------

def format_score(score: float) -> bytes:
    """A score as text that parses back to the same double (repr is the shortest exact form)."""
    if score in (float("inf"), float("-inf")):
        return b"inf" if score > 0 else b"-inf"
    return repr(score).encode()


def read_chunk(engine, db: int, key: bytes, meta: Meta, after: bytes | None, n: int) -> list[tuple[bytes, bytes]]:
    """Up to n (subkey, value) of a collection, in subkey order, after subkey `after`.

    Subkeys are members (hash, set, zset) or 8-byte big-endian indexes (list: index order is list
    order), so seeking just past the last one sent resumes the walk without a cursor object."""
    prefix = data_prefix(db, key, meta.version)
    start = prefix + after + b"\x00" if after is not None else None
    out = []
    for k, v in engine.scan(engine.data, prefix, start=start):
        out.append((k[len(prefix):], v))
        if len(out) >= n:
            break
    return out


def write_command(type_: int, key: bytes, items: list[tuple[bytes, bytes]]) -> list[bytes]:
    cmd = [WRITE_CMDS[type_], key]
    for sub, value in items:
        if type_ == HASH:
            cmd += (sub, value)
        elif type_ == LIST:
            cmd.append(value)
        elif type_ == SET:
            cmd.append(sub)
        else:
            cmd += (format_score(unpack_double(value)), sub)
    return cmd


def expire_command(key: bytes, meta: Meta) -> list[bytes] | None:
    if not meta.expire_ms:
        return None
    return [b"PEXPIRE", key, b"%d" % max(meta.expire_ms - now_ms(), 1)]


def first_error(reply) -> str | None:
    """The first error in a reply (EXEC answers an array that may hold errors)."""
    if isinstance(reply, hiredis.ReplyError):
        return str(reply)
    if type(reply) is list:
        for r in reply:
            err = first_error(r)
            if err is not None:
                return err
    return None


# --- MIGRATE ----------------------------------------------------------------------------------

@command("migrate", -6, "write nomulti", 3, 3, 1)
def migrate(c, args):
    host, port_raw, key, db_raw, timeout_raw = args[:5]
    copy = replace = False
    auth: tuple = ()
    keys = [key]
    i = 5
    while i < len(args):
        opt, more = args[i].upper(), len(args) - 1 - i
        if opt == b"COPY":
            copy = True
        elif opt == b"REPLACE":
            replace = True
        elif opt == b"AUTH" and more >= 1:
            auth = (args[i + 1],)
            i += 1
        elif opt == b"AUTH2" and more >= 2:
            auth = (args[i + 1], args[i + 2])
            i += 2
        elif opt == b"KEYS":
            if key:
                raise Error("ERR When using MIGRATE KEYS option, the key argument must be set to the empty string")
            keys = args[i + 1:]
            break
        else:
            raise SYNTAX_ERROR
        i += 1
    timeout_ms = parse_int(timeout_raw)  # Redis checks the timeout, then the db
    db = parse_int(db_raw)
    c.propagate = []  # MIGRATE itself is not replicated: the DEL of the moved keys is
    keys = list(dict.fromkeys(keys))  # a key named twice would be sent twice (lists: doubled)
    now = now_ms()
    if not any(c.engine.get_meta(c.db, k, now) is not None for k in keys):
        return NOKEY  # checked before connecting, as Redis does
    try:
        port = int(port_raw)
    except ValueError:
        raise Error(CONNECT_ERR) from None
    timeout_s = (timeout_ms if timeout_ms > 0 else 1000) / 1000
    job = Migration(c, host.decode(errors="replace"), port, db, timeout_s, keys, copy, replace, auth)
    return Suspend(job.run())


class Migration:
    """One MIGRATE call: lock the keys, send them, delete the acknowledged ones."""

    def __init__(self, c, host: str, port: int, db: int, timeout_s: float, keys: list[bytes],
                 copy: bool, replace: bool, auth: tuple):
        self.c = c
        self.server = c.server
        self.src_db = c.db  # stable: the client is suspended until we answer
        self.host, self.port, self.db, self.timeout_s = host, port, db, timeout_s
        self.keys, self.copy, self.replace, self.auth = keys, copy, replace, auth
        self.chunk = c.server.cfg.migrate_chunk_items
        self.error: str | None = None  # first error the target answered
        self.moved = 0

    async def run(self):
        server = self.server
        slots = [(self.src_db, k) for k in self.keys]
        while True:  # another MIGRATE of one of our keys: wait for it, then look again
            busy = next((server.migrating[s] for s in slots if s in server.migrating), None)
            if busy is None:
                break
            await busy.wait()
        if self.c.closing:
            return None
        done = asyncio.Event()
        for s in slots:
            server.migrating[s] = done
        try:
            return await self._run()
        except TargetError as exc:
            return Error(f"ERR Target instance replied with error: {exc}")
        except IOErr as exc:
            return Error(str(exc))
        except Error as exc:  # the deletion outlasted a write stall
            return exc
        finally:
            for s in slots:
                del server.migrating[s]
            done.set()  # writers waiting for these keys run now (and see them gone if moved)

    async def _run(self):
        engine = self.c.engine
        present = [k for k in self.keys if engine.get_meta(self.src_db, k) is not None]
        if not present:
            return NOKEY  # moved or expired while we waited for another MIGRATE
        server = self.server
        if server.migrate_targets is None:
            server.migrate_targets = TargetPool(server.stats)
        pool = server.migrate_targets
        target = await pool.get(self.host, self.port, self.auth, self.timeout_s)
        try:
            if target.db != self.db:
                (reply,) = await target.call([[b"SELECT", b"%d" % self.db]])
                if isinstance(reply, hiredis.ReplyError):
                    raise TargetError(str(reply))
                target.db = self.db
            await self._send(target, present)
        except BaseException:
            target.close()  # unknown state (half-read replies, failed SELECT): never reuse
            raise
        pool.put(target)
        if self.error is not None:
            return Error(f"ERR Target instance replied with error: {self.error}")
        return OK if self.moved else NOKEY

    async def _send(self, target: Target, keys: list[bytes]) -> None:
        if not self.replace:
            replies = await target.call([[b"EXISTS", k] for k in keys])
            for r in replies:
                if r == 1 or isinstance(r, hiredis.ReplyError):
                    self.error = self.error or ("BUSYKEY Target key name already exists." if r == 1 else str(r))
            keys = [k for k, r in zip(keys, replies, strict=True) if r == 0]
        engine = self.c.engine
        pending: list[tuple[bytes, list]] = []  # small keys of the next pipeline: (key, commands)
        items = 0
        for key in keys:
            meta = engine.get_meta(self.src_db, key)  # again: it may have expired meanwhile
            if meta is None:
                continue
            if meta.type == STREAM:  # entries, then groups and PELs: its own sender
                await self._flush(target, pending)
                pending, items = [], 0
                await self._send_stream(target, key, meta)
                continue
            if meta.type != STRING and meta.count > self.chunk:
                await self._flush(target, pending)
                pending, items = [], 0
                await self._send_big(target, key, meta)
                continue
            pending.append((key, self._small_key(key, meta)))
            items += max(meta.count, 1)
            if items >= self.chunk:
                await self._flush(target, pending)
                pending, items = [], 0
        await self._flush(target, pending)

    def _small_key(self, key: bytes, meta: Meta) -> list:
        if meta.type == STRING:  # one SET replaces any key of any type, TTL included: atomic alone
            ttl = expire_command(key, meta)
            return [[b"SET", key, meta.value, b"PX", ttl[2]] if ttl else [b"SET", key, meta.value]]
        cmds = [[b"MULTI"]]
        if self.replace:
            cmds.append([b"DEL", key])
        items = read_chunk(self.c.engine, self.src_db, key, meta, None, meta.count)
        if meta.type == HASH:
            items = in_hash_order(meta, items)  # a small hash keeps its field order on the target
        cmds.append(write_command(meta.type, key, items))
        ttl = expire_command(key, meta)
        if ttl:
            cmds.append(ttl)
        cmds.append([b"EXEC"])
        return cmds

    async def _flush(self, target: Target, pending: list[tuple[bytes, list]]) -> None:
        """Send the MULTI/EXEC blocks of several small keys in one pipeline."""
        if not pending:
            return
        replies = await target.call([cmd for _, cmds in pending for cmd in cmds])
        acked = []
        at = 0
        for key, cmds in pending:
            err = first_error(replies[at:at + len(cmds)])
            at += len(cmds)
            if err is None:
                acked.append(key)
            else:
                self.error = self.error or err
        await self._acked(acked)

    async def _send_big(self, target: Target, key: bytes, meta: Meta) -> None:
        """A collection bigger than a chunk: one command per chunk, each awaited."""
        engine = self.c.engine
        first = [[b"DEL", key]] if self.replace else []
        after = None
        while True:
            items = read_chunk(engine, self.src_db, key, meta, after, self.chunk)
            if not items:
                break
            after = items[-1][0]
            if not await self._call(target, [*first, write_command(meta.type, key, items)]):
                return
            first = []
        now = engine.get_meta(self.src_db, key)
        if now is None or now.version != meta.version:
            await target.call([[b"DEL", key]])  # it expired meanwhile: absent, as if never sent
            return
        await self._finish(target, key, now)

    async def _send_stream(self, target: Target, key: bytes, meta: Meta) -> None:
        """A stream as XADD/XSETID/XGROUP/XCLAIM commands (streams.migrate_commands): one
        MULTI/EXEC when it fits in a chunk, else one awaited pipeline per chunk of commands."""
        from xcache.store.streams import migrate_commands

        c = _SourceView(self.c, self.src_db)
        parts = list(migrate_commands(c, key, meta, self.chunk)) if meta.count <= self.chunk else None
        if parts is not None and len(parts) == 1:
            ttl = expire_command(key, meta)
            cmds = [[b"MULTI"], *([[b"DEL", key]] if self.replace else []), *parts[0],
                    *([ttl] if ttl else []), [b"EXEC"]]
            await self._flush(target, [(key, cmds)])
            return
        first = [[b"DEL", key]] if self.replace else []
        for part in migrate_commands(c, key, meta, self.chunk):
            if not await self._call(target, [*first, *part]):
                return
            first = []
            await asyncio.sleep(0)
        await self._finish(target, key, meta)

    async def _call(self, target: Target, cmds: list) -> bool:
        """Send cmds; False if the target refused one (the first error of the run is kept)."""
        err = first_error(await target.call(cmds))
        if err is not None:
            self.error = self.error or err
            return False
        return True

    async def _finish(self, target: Target, key: bytes, meta: Meta) -> None:
        """The key's TTL after its last part, then the key counts as moved."""
        ttl = expire_command(key, meta)
        if ttl and not await self._call(target, [ttl]):
            return
        await self._acked([key])

    async def _acked(self, keys: list[bytes]) -> None:
        """The target holds keys: count them and, without COPY, delete them here (replicated)."""
        if not keys:
            return
        self.moved += len(keys)
        server = self.server
        server.stats["migrate_keys_total"] += len(keys)
        if self.copy:
            return
        cfg = server.cfg
        deadline = time.monotonic() + cfg.write_stall_timeout_ms / 1000
        delay = cfg.write_stall_backoff_ms / 1000
        while True:
            engine = self.c.engine
            b = engine.batch()
            for k in keys:
                if engine.get_meta(self.src_db, k) is not None:
                    b.delete_meta(self.src_db, k)
            try:
                engine.commit(b)
                break
            except WriteStall:
                # The target has them already; keep trying (without blocking) until the deadline.
                if time.monotonic() >= deadline:
                    raise Error("BUSY write stall, retry later") from None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.1)
        server.stats["dirty"] += len(keys)
        for k in keys:
            server.touch(self.src_db, k)
        c = self.c
        c.propagate = None
        server.replication.propagate(c, [b"DEL", *keys])


class _SourceView:
    """What streams.Stream needs of a client (engine, db) for reading the source's key."""

    def __init__(self, c, db: int):
        self.engine = c.engine
        self.db = db


def lock_of(server, c, cmd, argv: list[bytes]) -> asyncio.Event | None:
    """The migration a write must wait for (None: run now). Called only while keys are migrating."""
    migrating = server.migrating
    if cmd.name == "exec":
        for q, qargv in c.multi or ():
            if q.write and (ev := lock_of(server, c, q, qargv)) is not None:
                return ev
        return None
    if cmd.name in ("flushdb", "flushall"):  # would delete a key the target is still receiving
        return next((ev for (db, _), ev in migrating.items() if cmd.name == "flushall" or db == c.db), None)
    for key in cmd.keys(argv):
        ev = migrating.get((c.db, key))
        if ev is not None:
            return ev
    return None


# --- SLOTSHASHKEY (Codis) ---------------------------------------------------------------------

@command("slotshashkey", -1, "readonly fast", 1, -1, 1)
def slotshashkey(c, args):
    return [slot_of(k) for k in args]
