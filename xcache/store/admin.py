"""Connection and server commands: AUTH, PING, SELECT, HELLO, INFO, CONFIG, CLIENT, COMMAND, ..."""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import resource
import sys
import time

from xcache.config import to_toml
from xcache.resp import OK, PONG, Error, Map, Raw, SimpleString, Verbatim
from xcache.store import diskfull
from xcache.store.clientinfo import client_line
from xcache.store.commands import COMMANDS, SYNTAX_ERROR, command, parse_c_int, parse_int
from xcache.store.pause import ALL, WRITE
from xcache.store.subcommands import subcommands, unknown_subcommand
from xcache.store.version import REDIS_VERSION, XCACHE_VERSION
from xcache.store.version import rss_bytes as _rss

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
    from xcache.store import pubsub, transactions

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
# Sections and field names as Redis 7.0's INFO (fields without a meaning here answer Redis's
# idle values), plus xcache's own sections (storage, migrate).



def _human(n: int) -> str:
    for unit, size in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return f"{n}B"


def _section_server(s) -> dict:
    cfg = s.cfg
    uptime = int(time.time() - s.started)
    return {"redis_version": REDIS_VERSION, "xcache_version": XCACHE_VERSION,
            "redis_git_sha1": "00000000", "redis_git_dirty": 0, "redis_build_id": "0",
            "redis_mode": "standalone",
            "os": f"{platform.system()} {platform.release()} {platform.machine()}",
            "arch_bits": 64, "monotonic_clock": "POSIX clock_gettime",
            "multiplexing_api": "epoll", "atomicvar_api": "c11-builtin",
            "gcc_version": "0.0.0", "process_id": os.getpid(), "process_supervised": "no",
            "run_id": s.run_id, "tcp_port": cfg.port,
            "server_time_usec": time.time_ns() // 1000,
            "uptime_in_seconds": uptime, "uptime_in_days": uptime // 86400,
            "hz": 10, "configured_hz": 10, "lru_clock": int(time.time()) & ((1 << 24) - 1),
            "executable": os.path.abspath(sys.argv[0]),
            "config_file": os.path.abspath(s.config_path) if s.config_path else "",
            "io_threads_active": 0, "storage_engine": "rocksdb"}


def _section_clients(s) -> dict:
    clients = s.clients.values()
    return {"connected_clients": sum(1 for c in clients if c.kind != "replica"),
            "cluster_connections": 0, "maxclients": s.cfg.maxclients,
            "client_recent_max_input_buffer": 0, "client_recent_max_output_buffer": 0,
            "blocked_clients": len({id(f) for w in s.key_waiters.values() for f in w}) + s.pause.waiting,
            "tracking_clients": sum(1 for c in clients if c.tracking is not None),
            "clients_in_timeout_table": 0,
            "pubsub_clients": sum(1 for c in clients if c.channels or c.patterns),
            "watching_clients": len({c for cs in s.watchers.values() for c in cs}),
            **s.pause.info()}


def _section_memory(s) -> dict:
    rss = _rss()
    s.peak_memory = peak = max(getattr(s, "peak_memory", 0), rss)
    props = s.engine.properties()
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {"used_memory": rss, "used_memory_human": _human(rss),
            "used_memory_rss": rss, "used_memory_rss_human": _human(rss),
            "used_memory_peak": peak, "used_memory_peak_human": _human(peak),
            "used_memory_peak_perc": f"{100 * rss / peak:.2f}%",
            "used_memory_overhead": 0, "used_memory_startup": 0, "used_memory_dataset": rss,
            "used_memory_dataset_perc": "100.00%",
            "total_system_memory": total, "total_system_memory_human": _human(total),
            "used_memory_lua": 31744, "used_memory_vm_eval": 31744,
            "used_memory_lua_human": "31.00K", "used_memory_scripts_eval": 0,
            "number_of_cached_scripts": 0, "number_of_functions": 0, "number_of_libraries": 0,
            "used_memory_vm_functions": 32768, "used_memory_vm_total": 64512,
            "used_memory_vm_total_human": "63.00K", "used_memory_functions": 184,
            "used_memory_scripts": 184, "used_memory_scripts_human": "184B",
            "maxmemory": 0, "maxmemory_human": "0B", "maxmemory_policy": "noeviction",
            "mem_fragmentation_ratio": "1.00", "mem_fragmentation_bytes": 0,
            "mem_not_counted_for_evict": 0, "mem_replication_backlog": 0,
            "mem_total_replication_buffers": 0, "mem_clients_slaves": 0,
            "mem_clients_normal": 0, "mem_cluster_links": 0, "mem_aof_buffer": 0,
            "mem_allocator": "libc", "active_defrag_running": 0,
            "lazyfree_pending_objects": 0, "lazyfreed_objects": 0,
            "rocksdb_memtable_bytes": props["memtable_bytes"],
            "rocksdb_sst_bytes": props["sst_bytes"]}


def _section_persistence(s) -> dict:
    return {"loading": 0, "async_loading": 0, "current_cow_peak": 0, "current_cow_size": 0,
            "current_cow_size_age": 0, "current_fork_perc": "0.00",
            "current_save_keys_processed": 0, "current_save_keys_total": 0,
            "rdb_changes_since_last_save": s.stats["dirty"],
            "rdb_bgsave_in_progress": 0,
            "rdb_last_save_time": s.stats.get("last_save", int(s.started)),
            "rdb_last_bgsave_status": "ok", "rdb_last_bgsave_time_sec": -1,
            "rdb_current_bgsave_time_sec": -1, "rdb_saves": 0, "rdb_last_cow_size": 0,
            "rdb_last_load_keys_expired": 0, "rdb_last_load_keys_loaded": 0,
            "aof_enabled": 0, "aof_rewrite_in_progress": 0, "aof_rewrite_scheduled": 0,
            "aof_last_rewrite_time_sec": -1, "aof_current_rewrite_time_sec": -1,
            "aof_last_bgrewrite_status": "ok", "aof_rewrites": 0,
            "aof_rewrites_consecutive_failures": 0, "aof_last_write_status": "ok",
            "aof_last_cow_size": 0, "module_fork_in_progress": 0, "module_fork_last_cow_size": 0,
            "wal_enabled": 1, "wal_sync": s.cfg.wal_sync, "storage_engine": "rocksdb",
            "data_dir": s.cfg.dir, **_disk_fields(s)}  # live disk status replaces the fixed "ok"s


def _disk_fields(s) -> dict:
    """Redis's status fields (what monitoring reads to spot a MISCONF node) + the disk episode."""
    disk = s.engine.disk
    status = "err" if disk.full else "ok"
    try:
        free = diskfull.free_bytes(s.cfg.dir)
    except OSError:
        free = -1
    return {"rdb_last_bgsave_status": status, "aof_last_write_status": status,
            "disk_write_status": status, "disk_error_reason": disk.reason or "",
            "disk_error": disk.error.replace("\r", " ").replace("\n", " "),
            "disk_error_seconds": f"{disk.seconds():.1f}", "disk_read_only": int(disk.read_only),
            "disk_error_episodes": disk.episodes, "disk_rejected_writes": disk.rejected_writes,
            "disk_recoveries": disk.recoveries, "disk_free_bytes": free,
            "disk_resume_free_bytes": s.cfg.disk_resume_free_bytes}


def _section_stats(s) -> dict:
    st = s.stats
    return {"total_connections_received": st["total_connections_received"],
            "total_commands_processed": st["total_commands_processed"],
            "instantaneous_ops_per_sec": 0,
            "total_net_input_bytes": st["total_net_input_bytes"],
            "total_net_output_bytes": st["total_net_output_bytes"],
            "total_net_repl_input_bytes": 0, "total_net_repl_output_bytes": 0,
            "instantaneous_input_kbps": "0.00", "instantaneous_output_kbps": "0.00",
            "instantaneous_input_repl_kbps": "0.00", "instantaneous_output_repl_kbps": "0.00",
            "rejected_connections": st["rejected_connections"],
            **s.replication.stats_fields(),  # sync_full, sync_partial_ok, sync_partial_err
            "expired_keys": st["expired_keys"], "expired_stale_perc": "0.00",
            "expired_time_cap_reached_count": 0, "expire_cycle_cpu_milliseconds": 0,
            "evicted_keys": 0, "evicted_clients": 0, "total_eviction_exceeded_time": 0,
            "current_eviction_exceeded_time": 0,
            "keyspace_hits": st["keyspace_hits"], "keyspace_misses": st["keyspace_misses"],
            "pubsub_channels": len(s.channels), "pubsub_patterns": len(s.patterns),
            "pubsubshard_channels": 0, "latest_fork_usec": 0, "total_forks": 0,
            "migrate_cached_sockets": 0, "slave_expires_tracked_keys": 0,
            "active_defrag_hits": 0, "active_defrag_misses": 0, "active_defrag_key_hits": 0,
            "active_defrag_key_misses": 0, "total_active_defrag_time": 0,
            "current_active_defrag_time": 0,
            "tracking_total_keys": s.tracking.total_keys() if s.tracking else 0,
            "tracking_total_items": s.tracking.total_items() if s.tracking else 0,
            "tracking_total_prefixes": s.tracking.total_prefixes() if s.tracking else 0,
            "unexpected_error_replies": 0,
            "total_error_replies": sum(s.error_stats.values()),
            "dump_payload_sanitizations": 0,
            "total_reads_processed": st["total_commands_processed"],
            "total_writes_processed": st["total_commands_processed"],
            "io_threaded_reads_processed": 0, "io_threaded_writes_processed": 0,
            "reply_buffer_shrinks": 0, "reply_buffer_expands": 0,
            "protocol_errors": st["protocol_errors"],
            "rejected_connections_fd": st["rejected_connections_fd"],
            "internal_errors": st["internal_errors"],
            "client_output_limit_disconnections": st["client_output_limit_disconnections"],
            **_auth_fields(s),
            **s.replication.stats_fields(),  # sync_full, sync_partial_ok, sync_partial_err
            "collector_removed_entries": s.collector.removed_entries,
            "collector_passes": s.collector.passes}


def _auth_fields(s) -> dict:
    from xcache.store.acl import acl_of
    from xcache.store.auth import brake_of

    denied = acl_of(s).denied
    return {"acl_access_denied_auth": denied["auth"], "acl_access_denied_cmd": denied["command"],
            "acl_access_denied_key": denied["key"], "acl_access_denied_channel": denied["channel"],
            "auth_brake_refused": brake_of(s).refused}


def _section_cpu(s) -> dict:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"used_cpu_sys": f"{ru.ru_stime:.6f}", "used_cpu_user": f"{ru.ru_utime:.6f}",
            "used_cpu_sys_children": f"{ch.ru_stime:.6f}",
            "used_cpu_user_children": f"{ch.ru_utime:.6f}",
            "used_cpu_sys_main_thread": f"{ru.ru_stime:.6f}",
            "used_cpu_user_main_thread": f"{ru.ru_utime:.6f}"}


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


def _commandstats(s) -> str:

    out = []
    for cmd in sorted(COMMANDS.values(), key=lambda c: c.name):
        if cmd.calls or cmd.rejected_calls or cmd.failed_calls:
            usec = cmd.nsec // 1000
            per = usec / cmd.calls if cmd.calls else 0
            out.append(f"cmdstat_{cmd.name}:calls={cmd.calls},usec={usec},"
                       f"usec_per_call={per:.2f},rejected_calls={cmd.rejected_calls},"
                       f"failed_calls={cmd.failed_calls}\r\n")
    return "".join(out)


def _latencystats(s) -> str:
    from xcache.store.latency import percentiles

    wanted = [float(p) for p in s.settings.values["latency-tracking-info-percentiles"].split()]
    out = []
    for cmd in sorted(COMMANDS.values(), key=lambda c: c.name):
        if cmd.histogram:
            values = percentiles(cmd.histogram, wanted)
            fields = ",".join(f"p{p:g}={v:.3f}" for p, v in zip(wanted, values, strict=True))
            out.append(f"latency_percentiles_usec_{cmd.name}:{fields}\r\n")
    return "".join(out)


def _keyspace(s) -> str:
    return "".join(f"db{db}:keys={n},expires={e},avg_ttl=0\r\n"
                   for db, (n, e) in sorted(s.collector.keyspace.items()) if n)


SECTIONS = {
    "server": lambda s: _format(_section_server(s)),
    "clients": lambda s: _format(_section_clients(s)),
    "memory": lambda s: _format(_section_memory(s)),
    "persistence": lambda s: _format(_section_persistence(s)),
    "stats": lambda s: _format(_section_stats(s)),
    "replication": lambda s: s.replication.info_section(),
    "cpu": lambda s: _format(_section_cpu(s)),
    "modules": lambda s: "",
    "errorstats": lambda s: "".join(f"errorstat_{k}:count={v}\r\n"
                                    for k, v in sorted(s.error_stats.items())),
    "cluster": lambda s: "cluster_enabled:0\r\n",
    "keyspace": _keyspace,
    "storage": lambda s: _format(_section_storage(s)),
    "migrate": lambda s: _format({"migrate_keys_total": s.stats["migrate_keys_total"],
                                  "migrate_bytes_total": s.stats["migrate_bytes_total"],
                                  "migrate_in_progress": len(s.migrating)}),
    "commandstats": _commandstats,
    "latencystats": _latencystats,
}
TITLES = {"cpu": "CPU"}
ORDER = ["server", "clients", "memory", "persistence", "stats", "replication", "cpu", "modules",
         "commandstats", "errorstats", "latencystats", "cluster", "keyspace", "storage", "migrate"]
DEFAULT_SECTIONS = [n for n in ORDER if n not in ("commandstats", "latencystats")]


def info_text(server, names: list[str]) -> str:
    """INFO [section ...]: sections in Redis's order, whatever order they were asked in."""
    wanted = set()
    for name in names or ["default"]:
        name = name.lower()
        if name == "default":
            wanted.update(DEFAULT_SECTIONS)
        elif name in ("all", "everything"):
            wanted.update(ORDER)
        elif name in SECTIONS:
            wanted.add(name)
    return "\r\n".join(f"# {TITLES.get(name, name.capitalize())}\r\n{SECTIONS[name](server)}"
                        for name in ORDER if name in wanted)


@command("info", -1, "loading stale", 0, 0, 0)
def info(c, args):
    return Verbatim(info_text(c.server, [a.decode(errors="replace").lower() for a in args]).encode())


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
    if sub == b"SET" and len(args) >= 3 and len(args) % 2 == 1:
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
        return [SimpleString(line.encode()) for line in CONFIG_HELP]
    raise unknown_subcommand("config", args[0])


# --- CLIENT -----------------------------------------------------------------------------------

def set_client_name(c, name: bytes) -> None:
    if any(ch <= 32 or ch >= 127 for ch in name):
        raise Error("ERR Client names cannot contain spaces, newlines or special characters.")
    c.name = name


CLIENT_TYPES = {b"normal": "normal", b"master": "master", b"replica": "replica", b"slave": "replica",
                b"pubsub": "pubsub"}


def _client_type(c) -> str:
    if c.channels or c.patterns:
        return "pubsub"
    return c.kind


@command("client", -2, "admin noscript loading stale", 0, 0, 0)
@subcommands("client", extra=("setinfo", "no-touch"))  # Redis 7.2's, clients send them
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
        return Verbatim("".join(client_line(o, now) + "\n" for o in chosen).encode())
    if sub == b"INFO" and len(args) == 1:
        return Verbatim((client_line(c, now) + "\n").encode())
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
    return client_more(c, sub, args)


def _on_off(value: bytes) -> bool:
    value = value.upper()
    if value not in (b"ON", b"OFF"):
        raise SYNTAX_ERROR
    return value == b"ON"


def _discard(out: list, reply) -> None:
    """The reply encoder of CLIENT REPLY OFF."""


def client_more(c, sub: bytes, args: list[bytes]):
    """CLIENT SETINFO/NO-EVICT/NO-TOUCH/REPLY/UNBLOCK/TRACKING/TRACKINGINFO/CACHING/GETREDIR/HELP."""
    from xcache.store import tracking

    if sub == b"SETINFO" and len(args) == 3:
        attr = args[1].lower()
        if attr not in (b"lib-name", b"lib-ver"):
            raise Error(f"ERR Unrecognized option '{args[1].decode(errors='replace')}'")
        if any(ch < 33 or ch > 126 for ch in args[2]):
            raise Error(f"ERR {attr.decode()} cannot contain spaces, newlines or special characters.")
        if attr == b"lib-name":
            c.lib_name = args[2]
        else:
            c.lib_ver = args[2]
        return OK
    if sub == b"NO-EVICT" and len(args) == 2:
        c.no_evict = _on_off(args[1])
        return OK
    if sub == b"NO-TOUCH" and len(args) == 2:
        c.no_touch = _on_off(args[1])
        return OK
    if sub == b"REPLY" and len(args) == 2:
        mode = args[1].upper()
        if mode == b"ON":
            c.set_protocol(c.resp)  # back to the protocol's encoder
            return OK
        if mode == b"OFF":
            c.encode = _discard
            return None
        if mode == b"SKIP":
            c.encode = _skip_replies(c, 2)  # this command's reply and the next one
            return None
        raise SYNTAX_ERROR
    if sub == b"UNBLOCK" and len(args) in (2, 3):
        target = c.server.clients.get(parse_int(args[1]))
        how = args[2].upper() if len(args) == 3 else b"TIMEOUT"
        if how not in (b"TIMEOUT", b"ERROR"):
            raise Error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
        if target is None or target.blocked is None:
            return 0
        c.server.unblock(target, how == b"ERROR")
        return 1
    if sub == b"TRACKING" and len(args) >= 2:
        return tracking.tracking_command(c, args[1:])
    if sub == b"TRACKINGINFO" and len(args) == 1:
        return tracking.tracking_info(c)
    if sub == b"CACHING" and len(args) == 2:
        return tracking.caching_command(c, args[1:])
    if sub == b"GETREDIR" and len(args) == 1:
        return -1 if c.tracking is None else c.tracking.redirect
    if sub == b"HELP" and len(args) == 1:
        return [SimpleString(line.encode()) for line in CLIENT_HELP]
    raise unknown_subcommand("client", args[0])


def _skip_replies(c, n: int):
    def skip(out: list, reply) -> None:
        nonlocal n
        n -= 1
        if n <= 0:
            c.set_protocol(c.resp)

    return skip


CLIENT_HELP = [
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CACHING (YES|NO)", "GETNAME", "GETREDIR", "ID", "INFO",
    "KILL <ip:port> | <option> <value> [<option> <value> [...]]",
    "LIST [options ...]", "UNPAUSE", "PAUSE <timeout> [WRITE|ALL]", "REPLY (ON|OFF|SKIP)",
    "SETINFO <option> <value>", "SETNAME <name>",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]] [OPTIN] [OPTOUT] [NOLOOP]",
    "TRACKINGINFO", "UNBLOCK <clientid> [TIMEOUT|ERROR]", "NO-EVICT (ON|OFF)", "NO-TOUCH (ON|OFF)",
    "HELP",
]
CONFIG_HELP = [
    "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET <pattern>", "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>", "    Set the configuration <directive> to <value>.",
    "RESETSTAT", "    Reset statistics reported by the INFO command.",
    "REWRITE", "    Rewrite the configuration file.", "HELP", "    Print this help.",
]


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

@command("command", -1, "loading stale", 0, 0, 0)
@subcommands("command")
def command_(c, args):
    from xcache.store.cmdtable import command_reply

    return command_reply(args)


@command("debug", -2, "admin noscript loading stale", 0, 0, 0)
def debug(c, args):
    """DEBUG subcommands test harnesses use. SLEEP blocks the node, as in Redis: tests use it to
    simulate a hung node."""
    sub = args[0].upper()
    if sub == b"SLEEP" and len(args) == 2:
        time.sleep(float(args[1]))
        return OK
    if sub == b"SET-ACTIVE-EXPIRE" and len(args) == 2:
        # Accepted: expired keys are invisible to every read either way; the background
        # collector goes on reclaiming their space.
        return OK
    if sub in (b"RELOAD", b"LOADAOF"):
        _save(c)  # the data is already durable; RELOAD checkpoints it and keeps serving
        return OK
    if sub == b"CHANGE-REPL-ID" and len(args) == 1:
        from xcache.store.replication import NO_REPLID

        rep = c.server.replication  # as Redis: a new replid, and no replid2
        rep.replid, rep.replid2, rep.second_offset = os.urandom(20).hex(), NO_REPLID, -1
        return OK
    if sub == b"OBJECT" and len(args) == 2:
        from xcache.store.introspect import encoding_of, usage
        from xcache.store.keys import ENCODINGS

        meta = c.engine.get_meta(c.db, args[1])
        if meta is None:
            raise Error("ERR no such key")
        enc = encoding_of(c, args[1], meta, ENCODINGS).decode()
        size = usage(c, args[1], meta, 0)
        return SimpleString(f"Value at:0x0 refcount:1 encoding:{enc} serializedlength:{size} "
                            f"lru:0 lru_seconds_idle:0".encode())
    if sub == b"LOG" and len(args) == 2:
        log.warning("event=debug_log message=%s", args[1].decode(errors="replace"))
        return OK
    if sub in (b"QUICKLIST-PACKED-THRESHOLD", b"LISTPACK", b"QUICKLIST", b"SET-SKIP-CHECKSUM-VALIDATION",
               b"SET-DISABLE-DENY-SCRIPTS", b"REPLYBUFFER", b"PAUSE-CRON", b"DICT-RESIZING"):
        return OK
    if sub == b"HELP" and len(args) == 1:
        return [SimpleString(x) for x in (
            b"DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            b"CHANGE-REPL-ID", b"LOG <message>", b"OBJECT <key>", b"RELOAD",
            b"SET-ACTIVE-EXPIRE <0|1>", b"SLEEP <seconds>", b"HELP")]
    raise Error(f"ERR unknown subcommand '{args[0].decode(errors='replace')[:128]}'. Try DEBUG HELP.")
