"""Connection and server commands: AUTH, PING, SELECT, HELLO, INFO, CONFIG, CLIENT, COMMAND, ..."""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import os
import platform
import resource
import sys
import time

from xcache.config import ConfigError, ServerConfig, coerce, to_toml
from xcache.resp import OK, PONG, Error, Raw, SimpleString
from xcache.store.commands import COMMANDS, SYNTAX_ERROR, command, parse_int
from xcache.store.glob import glob_match
from xcache.store.pause import ALL, WRITE

REDIS_VERSION = "7.0.15"  # the Redis feature level the command set follows


# --- connection -------------------------------------------------------------------------------

def check_password(c, password: bytes) -> bool:
    expected = c.server.cfg.requirepass
    return bool(expected) and hmac.compare_digest(password, expected.encode())


@command("auth", -2, "noauth noscript loading stale fast", 0, 0, 0)
def auth(c, args):
    if len(args) > 2:
        raise SYNTAX_ERROR
    if len(args) == 2 and args[0] != b"default":
        raise Error("WRONGPASS invalid username-password pair or user is disabled.")
    if not c.server.cfg.requirepass:
        if len(args) == 1:
            raise Error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
        raise Error("WRONGPASS invalid username-password pair or user is disabled.")
    if not check_password(c, args[-1]):
        c.authenticated = False
        raise Error("WRONGPASS invalid username-password pair or user is disabled.")
    c.authenticated = True
    return OK


@command("ping", -1, "stale fast loading", 0, 0, 0)
def ping(c, args):
    if len(args) > 1:
        raise Error("ERR wrong number of arguments for 'ping' command")
    if c.channels or c.patterns:
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
    from xcache.store import pubsub, transactions

    transactions.reset_multi(c)
    pubsub.unsubscribe_all(c)
    c.db = 0
    c.name = b""
    c.authenticated = not c.server.cfg.requirepass
    return SimpleString(b"RESET")


@command("select", 2, "loading stale fast", 0, 0, 0)
def select(c, args):
    try:
        db = parse_int(args[0])
    except Error:
        raise Error("ERR value is not an integer or out of range") from None
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
        if version != 2:
            raise Error("NOPROTO unsupported protocol version")
        i = 1
    name = None
    while i < len(args):
        opt = args[i].upper()
        if opt == b"AUTH" and i + 2 < len(args):
            if args[i + 1] != b"default" or not check_password(c, args[i + 2]):
                raise Error("WRONGPASS invalid username-password pair or user is disabled.")
            c.authenticated = True
            i += 3
        elif opt == b"SETNAME" and i + 1 < len(args):
            name = args[i + 1]
            i += 2
        else:
            raise Error(f"ERR Syntax error in HELLO option '{args[i].decode(errors='replace')}'")
    if not c.authenticated:
        raise Error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
    if name is not None:
        set_client_name(c, name)
    role = b"replica" if c.server.replication.is_replica else b"master"
    return [b"server", b"redis", b"version", REDIS_VERSION.encode(), b"proto", 2, b"id", c.id,
            b"mode", b"standalone", b"role", role, b"modules", []]


# --- keyspace-wide ----------------------------------------------------------------------------

def count_keys(c, db: int) -> int:
    from xcache.store.keys import iter_live_keys

    saved = c.db
    c.db = db
    try:
        return sum(1 for _ in iter_live_keys(c))
    finally:
        c.db = saved


@command("dbsize", 1, "readonly fast", 0, 0, 0)
def dbsize(c, args):
    return count_keys(c, c.db)


def flush_db(c, db: int | None) -> None:
    """Delete all keys of db (None: every db). Range deletes: O(1) regardless of size."""
    engine = c.engine
    b = engine.batch()
    dbs = range(c.server.cfg.databases) if db is None else [db]
    for d in dbs:
        lo, hi = bytes((d,)), bytes((d + 1,)) if d < 255 else b"\xff" * 9
        for cf in (engine.meta_cf, engine.data_cf, engine.score_cf):
            b.wb.delete_range(lo, hi, cf)
            b.size += 1
    engine.commit(b)
    c.server.touch_all(db)


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


@command("save", 1, "admin noscript", 0, 0, 0)
def save(c, args):
    _save(c)
    return OK


@command("bgsave", -1, "admin noscript", 0, 0, 0)
def bgsave(c, args):
    asyncio.get_running_loop().run_in_executor(None, _save, c)
    return SimpleString(b"Background saving started")


@command("compact", -1, "admin noscript", 0, 0, 0)
def compact(c, args):
    """Pika's COMPACT: in the background, collect stale data (in small steps on the loop), then
    compact RocksDB fully in a thread. Answers at once, as Pika does."""
    asyncio.ensure_future(_compact(c.server))
    return OK


async def _compact(server) -> None:
    await server.collector.run_full_pass()
    await asyncio.get_running_loop().run_in_executor(None, server.engine.compact)


@command("shutdown", -1, "admin noscript loading stale", 0, 0, 0)
def shutdown(c, args):
    for a in args:
        if a.upper() not in (b"NOSAVE", b"SAVE", b"NOW", b"FORCE", b"ABORT"):
            raise SYNTAX_ERROR
    if any(a.upper() == b"ABORT" for a in args):
        raise Error("ERR No shutdown in progress.")
    c.server.shutdown_event.set()
    c.close()
    return Raw(b"")


# --- INFO -------------------------------------------------------------------------------------

def _section_server(s) -> dict:
    cfg = s.cfg
    return {"redis_version": REDIS_VERSION, "xcache_version": "0.1.0", "redis_mode": "standalone",
            "os": f"{platform.system()} {platform.release()} {platform.machine()}",
            "arch_bits": 64, "multiplexing_api": "epoll", "process_id": os.getpid(),
            "run_id": s.run_id, "tcp_port": cfg.port,
            "server_time_usec": time.time_ns() // 1000,
            "uptime_in_seconds": int(time.time() - s.started),
            "uptime_in_days": int((time.time() - s.started) // 86400),
            "executable": sys.argv[0], "config_file": s.config_path or ""}


def _section_clients(s) -> dict:
    clients = s.clients.values()
    return {"connected_clients": sum(1 for c in clients if c.kind != "replica"),
            "maxclients": s.cfg.maxclients,
            "blocked_clients": len({id(f) for w in s.key_waiters.values() for f in w}) + s.pause.waiting,
            "pubsub_clients": sum(1 for c in clients if c.channels or c.patterns),
            "watching_clients": len({c for cs in s.watchers.values() for c in cs}),
            "clients_in_timeout_table": 0, **s.pause.info()}


def _section_memory(s) -> dict:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    props = s.engine.properties()
    return {"used_memory": rss, "used_memory_human": f"{rss / 1048576:.2f}M",
            "used_memory_rss": rss, "maxmemory": 0, "maxmemory_policy": "noeviction",
            "rocksdb_memtable_bytes": props["memtable_bytes"]}


def _section_persistence(s) -> dict:
    return {"loading": 0, "async_loading": 0, "rdb_changes_since_last_save": s.stats["dirty"],
            "rdb_bgsave_in_progress": 0, "rdb_last_save_time": s.stats.get("last_save", int(s.started)),
            "aof_enabled": 0, "wal_enabled": 1, "wal_sync": s.cfg.wal_sync,
            "storage_engine": "rocksdb", "data_dir": s.cfg.dir}


def _section_stats(s) -> dict:
    st = s.stats
    return {"total_connections_received": st["total_connections_received"],
            "total_commands_processed": st["total_commands_processed"],
            "total_net_input_bytes": st["total_net_input_bytes"],
            "total_net_output_bytes": st["total_net_output_bytes"],
            "rejected_connections": st["rejected_connections"],
            "expired_keys": st["expired_keys"], "evicted_keys": 0,
            "keyspace_hits": st["keyspace_hits"], "keyspace_misses": st["keyspace_misses"],
            "pubsub_channels": len(s.channels), "pubsub_patterns": len(s.patterns),
            "total_error_replies": 0, "unexpected_error_replies": 0,
            "protocol_errors": st["protocol_errors"],
            "client_output_limit_disconnections": st["client_output_limit_disconnections"],
            **s.replication.stats_fields(),  # sync_full, sync_partial_ok, sync_partial_err
            "collector_removed_entries": s.collector.removed_entries,
            "collector_passes": s.collector.passes}


def _section_cpu(s) -> dict:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return {"used_cpu_sys": f"{ru.ru_stime:.6f}", "used_cpu_user": f"{ru.ru_utime:.6f}"}


def _section_storage(s) -> dict:
    """RocksDB write-stall state: what tells a stalled-but-alive node from a dead one."""
    e = s.engine
    props = e.properties()
    return {"write_stall_active": int(e.stall.active or bool(props["write_stopped"])),
            "write_stall_seconds": f"{e.stall.current_seconds():.3f}",
            "write_stall_seconds_total": f"{e.stall.total_seconds + e.stall.current_seconds():.3f}",
            "stalled_writes_total": e.stall.stalled_writes,
            "stall_rejected_writes_total": s.stats["stall_rejected_writes"],
            "write_stall_timeout_ms": s.cfg.write_stall_timeout_ms,
            "rocksdb_write_stopped": props["write_stopped"],
            "rocksdb_delayed_write_rate": props["delayed_write_rate"],
            "rocksdb_l0_files": props["l0_files"],
            "rocksdb_pending_compaction_bytes": props["pending_compaction_bytes"],
            "rocksdb_memtable_bytes": props["memtable_bytes"],
            "rocksdb_sst_bytes": props["sst_bytes"],
            "rocksdb_estimate_keys": props["estimate_keys"]}


def _format(values: dict) -> str:
    return "".join(f"{k}:{v}\r\n" for k, v in values.items())


SECTIONS = {
    "server": lambda s: _format(_section_server(s)),
    "clients": lambda s: _format(_section_clients(s)),
    "memory": lambda s: _format(_section_memory(s)),
    "persistence": lambda s: _format(_section_persistence(s)),
    "stats": lambda s: _format(_section_stats(s)),
    "replication": lambda s: s.replication.info_section(),
    "cpu": lambda s: _format(_section_cpu(s)),
    "storage": lambda s: _format(_section_storage(s)),
    "migrate": lambda s: _format({"migrate_keys_total": s.stats["migrate_keys_total"],
                                  "migrate_bytes_total": s.stats["migrate_bytes_total"],
                                  "migrate_in_progress": len(s.migrating)}),
    "keyspace": lambda s: "".join(
        f"db{db}:keys={n},expires={e},avg_ttl=0\r\n" for db, (n, e) in sorted(s.collector.keyspace.items()) if n),
}
DEFAULT_SECTIONS = list(SECTIONS)


def info_text(server, names: list[str]) -> str:
    wanted = []
    for name in names or ["default"]:
        name = name.lower()
        if name in ("default", "all", "everything"):
            wanted += DEFAULT_SECTIONS
        elif name in SECTIONS:
            wanted.append(name)
    out = []
    for name in dict.fromkeys(wanted):
        out.append(f"# {name.capitalize()}\r\n{SECTIONS[name](server)}")
    return "\r\n".join(out)


@command("info", -1, "loading stale", 0, 0, 0)
def info(c, args):
    return info_text(c.server, [a.decode(errors="replace") for a in args]).encode()


# --- CONFIG -----------------------------------------------------------------------------------

# Redis names that tools ask for, mapped onto our keys (or fixed answers).
ALIASES = {"appendfsync": "wal_sync", "replica-priority": "replica_priority",
           "slave-priority": "replica_priority", "proto-max-bulk-len": "proto_max_bulk_len_bytes",
           "maxclients": "maxclients", "requirepass": "requirepass", "masterauth": "masterauth",
           "min-slaves-to-write": "min_replicas_to_write", "min-slaves-max-lag": "min_replicas_max_lag"}
FIXED = {"save": "", "appendonly": "no", "maxmemory": "0", "maxmemory-policy": "noeviction",
         "databases": None, "timeout": None}
RUNTIME = {"requirepass", "maxclients", "timeout_ms", "write_stall_timeout_ms", "write_stall_backoff_ms",
           "client_output_buffer_limit_bytes", "proto_max_bulk_len_bytes", "proto_max_multibulk_len",
           "replica_priority", "masterauth", "wal_sync", "expire_collector_interval_ms",
           "expire_collector_batch", "repl_timeout_ms", "min_replicas_to_write", "min_replicas_max_lag",
           "write_ack_replicas", "write_ack_timeout_ms"}


def _config_items(cfg: ServerConfig) -> dict[str, str]:
    items = {f.name.replace("_", "-"): str(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    for alias, key in ALIASES.items():
        items[alias] = str(getattr(cfg, key))
    for name, value in FIXED.items():
        items[name] = value if value is not None else ""
    items["databases"] = str(cfg.databases)
    items["timeout"] = str(cfg.timeout_ms // 1000)
    return items


def _resolve(name: str) -> str | None:
    name = name.lower()
    if name in ALIASES:
        return ALIASES[name]
    if name == "timeout":
        return "timeout_ms"
    key = name.replace("-", "_")
    return key if key in {f.name for f in dataclasses.fields(ServerConfig)} else None


@command("config", -2, "admin noscript loading stale", 0, 0, 0)
def config(c, args):
    sub = args[0].upper()
    cfg = c.server.cfg
    if sub == b"GET" and len(args) >= 2:
        items = _config_items(cfg)
        out = []
        for pattern in args[1:]:
            for name, value in items.items():
                if glob_match(pattern.lower(), name.encode()):
                    out += [name.encode(), value.encode()]
        return out
    if sub == b"SET" and len(args) >= 3 and len(args) % 2 == 1:
        updates = {}
        for i in range(1, len(args), 2):
            name = args[i].decode(errors="replace")
            key = _resolve(name)
            if key is None:
                raise Error(f"ERR Unknown option or number of arguments for CONFIG SET - '{name}'")
            if key not in RUNTIME:
                raise Error(f"ERR CONFIG SET failed (possibly related to argument '{name}') - can't set immutable config")
            raw = args[i + 1].decode(errors="replace")
            if name.lower() == "timeout":
                raw = str(int(raw) * 1000) if raw.isdigit() else raw
            try:
                updates[key] = coerce(ServerConfig, key, raw, "CONFIG SET")
            except ConfigError as exc:
                raise Error(f"ERR CONFIG SET failed (possibly related to argument '{name}') - {exc}") from None
        for key, value in updates.items():
            setattr(cfg, key, value)
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
        for k in c.server.stats:
            if k != "last_save":
                c.server.stats[k] = 0
        return OK
    raise Error(f"ERR unknown subcommand or wrong number of arguments for '{args[0].decode(errors='replace')}'. Try CONFIG HELP.")


# --- CLIENT -----------------------------------------------------------------------------------

def set_client_name(c, name: bytes) -> None:
    if any(ch <= 32 or ch >= 127 for ch in name):
        raise Error("ERR Client names cannot contain spaces, newlines or special characters.")
    c.name = name


def client_line(c, now: float) -> str:
    flags = "S" if c.kind == "replica" else "M" if c.kind == "master" else "P" if (c.channels or c.patterns) else ""
    if c.multi is not None:
        flags += "x"
    return (f"id={c.id} addr={c.addr} laddr={c.laddr} fd=-1 name={c.name.decode(errors='replace')} "
            f"age={int(now - c.created)} idle={int(now - c.last_interaction)} flags={flags or 'N'} "
            f"db={c.db} sub={len(c.channels)} psub={len(c.patterns)} ssub=0 "
            f"multi={len(c.multi) if c.multi is not None else -1} qbuf=0 qbuf-free=0 argv-mem=0 "
            f"multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r "
            f"cmd={c.last_cmd.decode(errors='replace')} user=default redir=-1 resp=2")


CLIENT_TYPES = {b"normal": "normal", b"master": "master", b"replica": "replica", b"slave": "replica",
                b"pubsub": "pubsub"}


def _client_type(c) -> str:
    if c.channels or c.patterns:
        return "pubsub"
    return c.kind


@command("client", -2, "admin noscript loading stale", 0, 0, 0)
def client(c, args):
    sub = args[0].upper()
    server = c.server
    now = time.monotonic()
    if sub == b"LIST":
        chosen = list(server.clients.values())
        if len(args) >= 3 and args[1].upper() == b"TYPE":
            kind = CLIENT_TYPES.get(args[2].lower())
            if kind is None:
                raise Error(f"ERR Unknown client type '{args[2].decode(errors='replace')}'")
            chosen = [o for o in chosen if _client_type(o) == kind]
        elif len(args) >= 3 and args[1].upper() == b"ID":
            ids = {parse_int(a) for a in args[2:]}
            chosen = [o for o in chosen if o.id in ids]
        elif len(args) != 1:
            raise SYNTAX_ERROR
        return "".join(client_line(o, now) + "\n" for o in chosen).encode()
    if sub == b"INFO" and len(args) == 1:
        return (client_line(c, now) + "\n").encode()
    if sub == b"ID" and len(args) == 1:
        return c.id
    if sub == b"GETNAME" and len(args) == 1:
        return c.name or None
    if sub == b"SETNAME" and len(args) == 2:
        set_client_name(c, args[1])
        return OK
    if sub == b"KILL":
        return client_kill(c, args[1:])
    if sub == b"PAUSE" and 2 <= len(args) <= 3:
        return client_pause(c, args[1:])
    if sub == b"UNPAUSE" and len(args) == 1:
        server.pause.unpause()
        return OK
    if (sub == b"PAUSE" and len(args) == 1) or sub == b"UNPAUSE":  # as Redis's subcommand arity
        raise Error(f"ERR wrong number of arguments for 'client|{sub.lower().decode()}' command")
    if sub in (b"SETINFO", b"NO-EVICT", b"NO-TOUCH") and len(args) >= 2:
        return OK
    if sub == b"REPLY" and len(args) == 2:
        return OK
    raise Error(f"ERR unknown subcommand or wrong number of arguments for '{args[0].decode(errors='replace')}'. Try CLIENT HELP.")


def client_pause(c, args):
    """CLIENT PAUSE timeout [WRITE|ALL] (xcache/store/pause.py)."""
    timeout = parse_int(args[0], Error("ERR timeout is not an integer or out of range"))
    if timeout < 0:
        raise Error("ERR timeout is negative")
    mode = args[1].lower().decode(errors="replace") if len(args) > 1 else ALL
    if mode not in (WRITE, ALL):
        raise Error("ERR CLIENT PAUSE mode must be WRITE or ALL")
    c.server.pause.pause(timeout, mode)
    return OK


def client_kill(c, args):
    server = c.server
    if len(args) == 1:  # old form: CLIENT KILL addr:port
        for other in list(server.clients.values()):
            if other.addr == args[0].decode(errors="replace"):
                other.close()
                return OK
        raise Error("ERR No such client")
    if len(args) % 2:
        raise SYNTAX_ERROR
    filters = {}
    skipme = True
    for i in range(0, len(args), 2):
        opt, value = args[i].upper(), args[i + 1]
        if opt == b"ID":
            filters["id"] = parse_int(value, Error("ERR client-id should be greater than 0"))
        elif opt == b"TYPE":
            kind = CLIENT_TYPES.get(value.lower())
            if kind is None:
                raise Error(f"ERR Unknown client type '{value.decode(errors='replace')}'")
            filters["type"] = kind
        elif opt == b"ADDR":
            filters["addr"] = value.decode(errors="replace")
        elif opt == b"LADDR":
            filters["laddr"] = value.decode(errors="replace")
        elif opt == b"USER":
            filters["user"] = value
        elif opt == b"SKIPME":
            if value.lower() not in (b"yes", b"no"):
                raise SYNTAX_ERROR
            skipme = value.lower() == b"yes"
        elif opt == b"MAXAGE":
            filters["maxage"] = parse_int(value)
        else:
            raise SYNTAX_ERROR
    now = time.monotonic()
    killed = 0
    for other in list(server.clients.values()):
        if skipme and other is c:
            continue
        if "id" in filters and other.id != filters["id"]:
            continue
        if "type" in filters and _client_type(other) != filters["type"]:
            continue
        if "addr" in filters and other.addr != filters["addr"]:
            continue
        if "laddr" in filters and other.laddr != filters["laddr"]:
            continue
        if "user" in filters and filters["user"] != b"default":
            continue
        if "maxage" in filters and now - other.created < filters["maxage"]:
            continue
        other.close()
        killed += 1
    return killed


# --- COMMAND ----------------------------------------------------------------------------------

def _command_info(cmd) -> list:
    flags = [SimpleString(f.encode()) for f in sorted(cmd.flags) if f not in ("noauth",)]
    return [cmd.name.encode(), cmd.arity, flags, cmd.first_key, cmd.last_key, cmd.step, [], [], [], []]


@command("command", -1, "loading stale", 0, 0, 0)
def command_(c, args):
    if not args:
        return [_command_info(cmd) for cmd in COMMANDS.values()]
    sub = args[0].upper()
    if sub == b"COUNT" and len(args) == 1:
        return len(COMMANDS)
    if sub == b"INFO":
        names = args[1:] or list(COMMANDS)
        return [_command_info(COMMANDS[n.lower()]) if n.lower() in COMMANDS else None for n in names]
    if sub == b"DOCS":
        return []
    if sub == b"LIST":
        return [name for name in COMMANDS]
    if sub == b"GETKEYS" and len(args) >= 2:
        cmd = COMMANDS.get(args[1].lower())
        if cmd is None:
            raise Error("ERR Invalid command specified")
        keys = cmd.keys(args[1:])
        if not keys:
            raise Error("ERR The command has no key arguments")
        return keys
    raise Error(f"ERR unknown subcommand or wrong number of arguments for '{args[0].decode(errors='replace')}'. Try COMMAND HELP.")


@command("debug", -2, "admin noscript loading stale", 0, 0, 0)
def debug(c, args):
    """DEBUG SLEEP blocks the node, as in Redis: tests use it to simulate a hung node."""
    sub = args[0].upper()
    if sub == b"SLEEP" and len(args) == 2:
        time.sleep(float(args[1]))
        return OK
    raise Error("ERR unknown DEBUG subcommand")
