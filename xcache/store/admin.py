"""Connection and server commands: PING, SELECT, HELLO, RESET, FLUSHDB, SAVE, CONFIG, COMMAND,
DEBUG, ... INFO lives in info.py and CLIENT in client_command.py (imported here, which registers
them)."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time

from xcache.config import to_toml
from xcache.resp import OK, PONG, Error, Map, Raw, SimpleString, Verbatim
from xcache.resp.samples import debug_protocol
from xcache.store import info, nocluster, nomodules  # noqa: F401 - register INFO, CLUSTER, MODULE
from xcache.store.client_command import set_client_name  # and registers CLIENT
from xcache.store.commands import SYNTAX_ERROR, command, parse_c_int, parse_int
from xcache.store.dbmap import db_byte
from xcache.store.engine import STREAM
from xcache.store.subcommands import help_reply, subcommands, unknown_subcommand
from xcache.store.version import REDIS_VERSION

log = logging.getLogger("xcache.server")



# --- connection -------------------------------------------------------------------------------

def check_password(c, password: bytes) -> bool:
    from xcache.store.auth import check_password as check

    return check(c, password)


@command("ping", -1, "stale fast loading", 0, 0, 0)
def ping(c, args):
    if len(args) > 1:
        raise Error("ERR wrong number of arguments for 'ping' command")
    if (c.channels or c.patterns or c.shard_channels) and c.resp == 2:
        return [b"pong", args[0] if args else b""]
    return args[0] if args else PONG


@command("echo", 2, "fast loading stale", 0, 0, 0)
def echo(c, args):
    return args[0]


@command("quit", -1, "noauth loading stale fast", 0, 0, 0)
def quit_(c, args):
    c.close_after_reply = True  # the replies before it in the pipeline are sent first
    return OK


@command("reset", 1, "noauth noscript loading stale fast", 0, 0, 0)
def reset(c, args):
    """Redis's clearClientConnectionState: MONITOR, tracking, db, protocol, user, MULTI,
    subscriptions, name and CLIENT REPLY mode go back to a new connection's."""
    from xcache.store import monitor, pubsub, transactions

    if c.kind == "monitor":
        monitor.forget(c.server, c)
        c.kind = "normal"
    if c.tracking is not None:
        if c.server.tracking is not None:
            c.server.tracking.forget(c.id)
        c.tracking = None
    transactions.reset_multi(c)
    pubsub.unsubscribe_all(c)
    c.db = 0
    c.name = b""
    c.set_protocol(2)
    from xcache.store.auth import connection_user

    c.user, c.authenticated = connection_user(c.server)
    return SimpleString(b"RESET")


@command("select", 2, "loading stale fast", 0, 0, 0)
def select(c, args):
    db = parse_c_int(args[0])
    if db < 0 or db >= c.server.cfg.databases:
        raise Error("ERR DB index is out of range")
    c.db = db
    return OK


@command("hello", -1, "noauth noscript loading stale fast", 0, 0, 0)
def hello(c, args):
    i = 0
    if args:
        try:
            version = parse_int(args[0])
        except Error:
            raise Error("ERR Protocol version is not an integer or out of range") from None
        if version not in (2, 3):
            raise Error("NOPROTO unsupported protocol version")
        i = 1
    else:
        version = 0
    name = None
    while i < len(args):
        opt = args[i].upper()
        if opt == b"AUTH" and i + 2 < len(args):
            from xcache.store.auth import authenticate

            authenticate(c, args[i + 1], args[i + 2], "HELLO")
            i += 3
        elif opt == b"SETNAME" and i + 1 < len(args):
            name = args[i + 1]
            i += 2
        else:
            raise Error(f"ERR Syntax error in HELLO option '{args[i].decode(errors='replace')}'")
    if not c.authenticated:
        raise Error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
    if name is not None:
        set_client_name(c, name)
    if version:
        c.set_protocol(version)
    role = b"replica" if c.server.replication.is_replica else b"master"
    return Map([b"server", b"redis", b"version", REDIS_VERSION.encode(), b"proto", c.resp,
                b"id", c.id, b"mode", b"standalone", b"role", role, b"modules", []])


# --- keyspace-wide ----------------------------------------------------------------------------

@command("dbsize", 1, "readonly fast", 0, 0, 0)
def dbsize(c, args):
    # Counts keys that expired and are not deleted yet, as Redis's DBSIZE (the size of its dict)
    engine = c.engine
    return sum(1 for _ in engine.scan(engine.meta, db_byte(c.db)))


def flush_db(c, db: int | None) -> None:
    """Delete all keys of db (None: every db). Range deletes: O(1) regardless of size."""
    engine = c.engine
    # WATCHed keys that exist are touched; a watched key that was absent is not (Redis 7.0's
    # touchAllWatchedKeysInDb)
    for (wdb, key), clients in list(c.server.watchers.items()):
        if (db is None or wdb == db) and engine.get_raw_meta(db_byte(wdb) + key) is not None:
            for other in clients:
                if (wdb, key) in other.watched_expired:  # a stale key deleted: no change
                    other.watched_expired.discard((wdb, key))
                else:
                    other.dirty_cas = True
    # XREADGROUP clients blocked on a stream that goes are answered at once (Redis 7.0's
    # signalFlushedDb -> scanDatabaseForDeletedStreams); others stay blocked
    streams = [(wdb, key) for (wdb, key) in c.server.key_waiters
               if (db is None or wdb == db) and _is_stream(engine.get_meta(wdb, key))]
    b = engine.batch()
    dbs = range(c.server.cfg.databases) if db is None else [db]
    for d in dbs:
        p = db_byte(d)[0]  # the db's key prefix (SWAPDB)
        lo, hi = bytes((p,)), bytes((p + 1,)) if p < 255 else b"\xff" * 9
        for cfi in range(3):  # meta, data, score
            b.delete_range(lo, hi, cfi)
    engine.commit(b)
    for wdb, key in streams:
        c.server.signal_key(wdb, key)


def _is_stream(meta) -> bool:
    return meta is not None and meta.type == STREAM


def _flush_args(args) -> None:
    if len(args) > 1 or (args and args[0].upper() not in (b"ASYNC", b"SYNC")):
        raise SYNTAX_ERROR


@command("flushdb", -1, "write", 0, 0, 0)
def flushdb(c, args):
    _flush_args(args)
    flush_db(c, c.db)
    return OK


@command("flushall", -1, "write", 0, 0, 0)
def flushall(c, args):
    _flush_args(args)
    flush_db(c, None)
    return OK


@command("time", 1, "loading stale fast", 0, 0, 0)
def time_(c, args):
    now = time.time_ns() // 1000
    return [b"%d" % (now // 1_000_000), b"%d" % (now % 1_000_000)]


@command("lastsave", 1, "loading stale fast", 0, 0, 0)
def lastsave(c, args):
    return c.server.stats.get("last_save", int(c.server.started))


def _save(c):
    # Data is durable through the WAL; SAVE flushes memtables to SST files as a checkpoint.
    c.engine.flush_wal()
    for cf in (c.engine.meta, c.engine.data, c.engine.score):
        cf.flush()
    c.server.stats["last_save"] = int(time.time())


@command("save", 1, "admin noscript nomulti", 0, 0, 0)
def save(c, args):
    _save(c)
    return OK


@command("bgsave", -1, "admin noscript", 0, 0, 0)
def bgsave(c, args):
    asyncio.get_running_loop().run_in_executor(None, _save, c)
    return SimpleString(b"Background saving started")


@command("bgrewriteaof", 1, "admin noscript no_async_loading", 0, 0, 0)
def bgrewriteaof(c, args):
    """The WAL is the node's append-only log: rewriting it is flushing the memtables to SST
    files, so the log restarts short (as BGSAVE here); answered at once, as Redis does."""
    asyncio.get_running_loop().run_in_executor(None, _save, c)
    return SimpleString(b"Background append only file rewriting started")


@command("compact", -1, "admin noscript", 0, 0, 0)
def compact(c, args):
    """Pika's COMPACT: in the background, collect stale data (in small steps on the loop), then
    compact RocksDB fully in a thread. Answers at once, as Pika does."""
    asyncio.ensure_future(_compact(c.server))
    return OK


async def _compact(server) -> None:
    await server.collector.run_full_pass()
    await asyncio.get_running_loop().run_in_executor(None, server.engine.compact)


@command("shutdown", -1, "admin noscript loading stale nomulti", 0, 0, 0)
def shutdown(c, args):
    for a in args:
        if a.upper() not in (b"NOSAVE", b"SAVE", b"NOW", b"FORCE", b"ABORT"):
            raise SYNTAX_ERROR
    if any(a.upper() == b"ABORT" for a in args):
        raise Error("ERR No shutdown in progress.")
    c.server.shutdown_event.set()
    c.close()
    return Raw(b"")


# --- CONFIG -----------------------------------------------------------------------------------

@command("config", -2, "admin noscript loading stale", 0, 0, 0)
@subcommands("config")
def config(c, args):
    """CONFIG GET/SET over the node's config and Redis 7's parameters (xcache/store/settings.py)."""
    from xcache.store.settings import config_get, config_set

    sub = args[0].upper()
    cfg = c.server.cfg
    if sub == b"GET" and len(args) >= 2:
        return config_get(c.server, args[1:])
    if sub == b"SET" and len(args) >= 3:
        if len(args) % 2 == 0:  # a name without its value (config.c: "syntax error")
            raise SYNTAX_ERROR
        config_set(c.server, args[1:])
        return OK
    if sub == b"REWRITE" and len(args) == 1:
        if not c.server.config_path:
            raise Error("ERR The server is running without a config file")
        tmp = c.server.config_path + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(to_toml(cfg))
        os.replace(tmp, c.server.config_path)
        return OK
    if sub == b"RESETSTAT" and len(args) == 1:
        c.server.reset_stats()
        return OK
    if sub == b"HELP" and len(args) == 1:
        return help_reply("CONFIG", CONFIG_HELP)
    raise unknown_subcommand("config", args[0])


# Redis 7.0's CONFIG help[] (src/config.c): every subcommand is served
CONFIG_HELP = (
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
)


# --- COMMAND ----------------------------------------------------------------------------------

@command("command", -1, "loading stale", 0, 0, 0)
@subcommands("command")
def command_(c, args):
    from xcache.store.cmdtable import command_reply

    return command_reply(args)


# Redis 7.0's DEBUG help[] (src/debug.c) for the subcommands served here (some accepted as
# no-ops: the node has no AOF, quicklists or reply buffers to tune). Left out: the crash, leak
# and allocator tools, DIGEST*, HTSTATS*, PROTOCOL, ERROR, SDSLEN, STRUCTSIZE, RESTART,
# the cluster ones, and LISTPACK / QUICKLIST, which answer +OK here instead of their report.
DEBUG_HELP = (
    "CHANGE-REPL-ID",
    "    Change the replication IDs of the instance.",
    "    Dangerous: should be used only for testing the replication subsystem.",
    "DIGEST",
    "    Output a hex signature representing the current DB content.",
    "DIGEST-VALUE <key> [<key> ...]",
    "    Output a hex signature of the values of all the specified keys.",
    "ERROR <string>",
    "    Return a Redis protocol error with <string> as message. Useful for clients",
    "    unit tests to simulate Redis errors.",
    "LOG <message>",
    "    Write <message> to the server log.",
    "HTSTATS <dbid>",
    "    Return hash table statistics of the specified Redis database.",
    "HTSTATS-KEY <key>",
    "    Like HTSTATS but for the hash table stored at <key>'s value.",
    "LOADAOF",
    "    Flush the AOF buffers on disk and reload the AOF in memory.",
    "OBJECT <key>",
    "    Show low level info about `key` and associated value.",
    "POPULATE <count> [<prefix>] [<size>]",
    "    Create <count> string keys named key:<num>. If <prefix> is specified then",
    "    it is used instead of the 'key' prefix. These are not propagated to",
    "    replicas. Cluster slots are not respected so keys not belonging to the",
    "    current node can be created in cluster mode.",
    "PROTOCOL <type>",
    "    Reply with a test value of the specified type. <type> can be: string,",
    "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
    "    true, false.",
    "RELOAD [option ...]",
    "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
    "    * MERGE: conflicting keys will be loaded from RDB.",
    "    * NOFLUSH: the existing database will not be removed before load, but",
    "      conflicting keys will generate an exception and kill the server.",
    "    * NOSAVE: the database will be loaded from an existing RDB file.",
    "    Examples:",
    "    * DEBUG RELOAD: verify that the server is able to persist, flush and reload",
    "      the database.",
    "    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an",
    "      existing RDB file.",
    "    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB",
    "      file to the database.",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Setting it to 0 disables expiring keys in background when they are not",
    "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
    "    default.",
    "QUICKLIST-PACKED-THRESHOLD <size>",
    "    Sets the threshold for elements to be inserted as plain vs packed nodes",
    "    Default value is 1GB, allows values up to 4GB. Setting to 0 restores to default.",
    "SET-SKIP-CHECKSUM-VALIDATION <0|1>",
    "    Enables or disables checksum checks for RDB files and RESTORE's payload.",
    "SLEEP <seconds>",
    "    Stop the server for <seconds>. Decimals allowed.",
    "PAUSE-CRON <0|1>",
    "    Stop periodic cron job processing.",
    "REPLYBUFFER PEAK-RESET-TIME <NEVER||RESET|time>",
    "    Sets the time (in milliseconds) to wait between client reply buffer peak resets.",
    "    In case NEVER is provided the last observed peak will never be reset",
    "    In case RESET is provided the peak reset time will be restored to the default value",
    "REPLYBUFFER RESIZING <0|1>",
    "    Enable or disable the reply buffer resize cron job",
)


@command("debug", -2, "admin noscript loading stale", 0, 0, 0)
def debug(c, args):
    """DEBUG subcommands test harnesses use. SLEEP blocks the node, as in Redis: tests use it to
    simulate a hung node."""
    c.engine.lookup_stats = None  # DEBUG OBJECT... find keys without a counted lookup
    sub = args[0].upper()
    if sub == b"SLEEP" and len(args) == 2:
        time.sleep(float(args[1]))
        return OK
    if sub == b"SET-ACTIVE-EXPIRE" and len(args) == 2:
        # 0: the collector expires no key (it still reclaims deleted data); expired keys stay
        # invisible to reads and go when a command finds them (lazyexpire.py), as in Redis
        c.server.active_expire = args[1] != b"0"
        return OK
    if sub == b"RELOAD":
        return _reload(c, args[1:])
    if sub == b"LOADAOF":
        _save(c)  # the data is already durable: checkpoints it and keeps serving
        return OK
    if sub == b"CHANGE-REPL-ID" and len(args) == 1:
        from xcache.store.replication import NO_REPLID

        rep = c.server.replication  # as Redis: a new replid, and no replid2
        rep.replid, rep.replid2, rep.second_offset = os.urandom(20).hex(), NO_REPLID, -1
        return OK
    if sub == b"OBJECT" and len(args) == 2:
        from xcache.store.engine import decode_meta
        from xcache.store.introspect import encoding_of, usage
        from xcache.store.keys import ENCODINGS

        raw = c.engine.get_raw_meta(db_byte(c.db) + args[1])  # found even if expired, as Redis
        if raw is None:
            raise Error("ERR no such key")
        meta = decode_meta(raw)
        enc = encoding_of(c, args[1], meta, ENCODINGS).decode()
        size = usage(c, args[1], meta, 0)
        access, mkey = c.server.access, db_byte(c.db) + args[1]
        lru = access.stamp(mkey) & 0xFFFFFF  # the object's lru field
        idle = 0 if access.lfu else access.idle_seconds(mkey)
        return SimpleString(f"Value at:0x0 refcount:1 encoding:{enc} serializedlength:{size} "
                            f"lru:{lru} lru_seconds_idle:{idle}".encode())
    if sub == b"POPULATE" and 2 <= len(args) <= 4:
        return _populate(c, args[1:])
    if sub == b"DIGEST" and len(args) == 1:
        from xcache.store.digest import dataset_digest

        return SimpleString(dataset_digest(c.engine, c.server.cfg.databases).hex().encode())
    if sub == b"DIGEST-VALUE":
        from xcache.store.digest import ZERO, value_digest

        metas = [(k, c.engine.get_meta(c.db, k)) for k in args[1:]]
        return [SimpleString((ZERO if m is None else value_digest(c.engine, c.db, k, m)).hex().encode())
                for k, m in metas]
    if sub in (b"HTSTATS", b"HTSTATS-KEY") and len(args) == 2:
        # Redis's text describes its in-memory hash tables; a node keeps keys and members as
        # RocksDB keys, so the reply says so (a text, as Redis's: harnesses read it, not fail)
        if sub == b"HTSTATS-KEY" and c.engine.get_meta(c.db, args[1]) is None:
            raise Error("ERR no such key")
        return Verbatim(b"[xcache] stored as RocksDB keys, not in a hash table: no hash table "
                        b"stats\n")
    if sub == b"ERROR" and len(args) == 2:  # as given, for clients' tests (no error stats)
        return Raw(b"-" + args[1].replace(b"\n", b" ").replace(b"\r", b" ") + b"\r\n")
    if sub == b"PROTOCOL" and len(args) == 2:
        return debug_protocol(args[1].lower(), c.resp == 3)
    if sub == b"LOG" and len(args) == 2:
        log.warning("event=debug_log message=%s", args[1].decode(errors="replace"))
        return OK
    if sub == b"SET-DISABLE-DENY-SCRIPTS" and len(args) == 2:
        # scripts may call noscript commands (DEBUG, CLIENT...): test harnesses use it
        c.server.script_disable_deny_script = _atoi(args[1]) != 0
        return OK
    if sub == b"REPLYBUFFER" and len(args) == 3:
        return _replybuffer(c, args)
    if sub in (b"QUICKLIST-PACKED-THRESHOLD", b"LISTPACK", b"QUICKLIST", b"SET-SKIP-CHECKSUM-VALIDATION", b"PAUSE-CRON", b"DICT-RESIZING"):
        return OK
    if sub == b"HELP" and len(args) == 1:
        return help_reply("DEBUG", DEBUG_HELP)
    # DEBUG has no subcommand table in Redis: its handler's fallback (addReplySubcommandSyntaxError)
    raise Error(f"ERR unknown subcommand or wrong number of arguments for "
                f"'{args[0].decode(errors='replace')[:128]}'. Try DEBUG HELP.")


def _replybuffer(c, args: list[bytes]):
    """DEBUG REPLYBUFFER PEAK-RESET-TIME <NEVER|RESET|ms> | RESIZING <0|1> (xcache/replybuf.py)."""
    from xcache.replybuf import DEFAULT_PEAK_RESET_MS

    settings, what, value = c.server.replybuf, args[1].upper(), args[2]
    if what == b"PEAK-RESET-TIME":
        word = value.upper()
        settings.peak_reset_ms = (-1 if word == b"NEVER" else DEFAULT_PEAK_RESET_MS
                                  if word == b"RESET" else parse_int(value))
    elif what == b"RESIZING":
        settings.resizing = _atoi(value) != 0
    else:
        raise Error(f"ERR unknown subcommand or wrong number of arguments for "
                    f"'{args[0].decode(errors='replace')[:128]}'. Try DEBUG HELP.")
    return OK


def _atoi(raw: bytes) -> int:
    """C's atoi: the leading integer, 0 when there is none."""
    m = re.match(rb"\s*([+-]?\d+)", raw)
    return int(m.group(1)) if m else 0


def _positive(raw: bytes) -> int:
    """getPositiveLongFromObjectOrReply: one error for a negative number and for no number."""
    error = Error("ERR value is out of range, must be positive")
    value = parse_int(raw, error)
    if value < 0:
        raise error
    return value


def _reload(c, args: list[bytes]):
    """DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE] (rdb_load.py). Without NOSAVE the dataset is saved
    to dir/dbfilename; flushing and loading that file back would give the node the data it has
    (its data is durable already), so the node keeps serving it as it is. With NOFLUSH the file
    is loaded over the data, as Redis: every key meets itself (MERGE, or an error)."""
    from xcache.store import rdb_load

    save = flush = True
    merge = False
    for opt in args:
        opt = opt.upper()
        if opt == b"MERGE":
            merge = True
        elif opt == b"NOFLUSH":
            flush = False
        elif opt == b"NOSAVE":
            save = False
        else:
            raise Error("ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.")
    if save:
        try:
            rdb_load.save(c)
        except Exception as exc:  # disk full, a checkpoint RocksDB refused...
            raise Error(f"ERR Error saving the RDB file: {exc}") from None
        _save(c)
        if flush:
            return OK  # flushing and loading what was just saved would give the same data
    # NOFLUSH: the file's keys meet the node's (MERGE or an error)
    rdb_load.load(c, flush_db if flush else None, merge)
    return OK


def _populate(c, args: list[bytes]):
    """DEBUG POPULATE <count> [<prefix>] [<size>]: keys <prefix>:0.. (prefix `key`) holding
    `value:N`, zero-padded or cut to size when given; a key that exists is left alone. Like
    Redis, it is not replicated. Written in batches, so a large count stays one pass."""
    from xcache.store.strings import exists, put_string

    count = _positive(args[0])
    size = _positive(args[2]) if len(args) == 3 else 0
    prefix = args[1] if len(args) >= 2 else b"key"
    server, engine = c.server, c.engine
    for first in range(0, count, 1000):
        b = engine.batch()
        written = []
        for j in range(first, min(count, first + 1000)):
            key = (b"%s:%d" % (prefix, j))[:127]  # Redis formats it into a 128-byte buffer
            if exists(c, key):
                continue
            value = b"value:%d" % j
            if size:
                value = value[:size].ljust(size, b"\0")
            put_string(b, c.db, key, value)
            written.append(key)
        engine.commit(b)
        for key in written:  # signalModifiedKey
            server.touch(c.db, key)
        if server.tracking is not None and written:
            server.tracking.invalidate(server, c, written)
    return OK


