"""INFO: sections and field names as Redis 7.0's INFO (fields without a meaning here answer
Redis's idle values), plus xcache's own sections (storage, migrate)."""

from __future__ import annotations

import os
import platform
import resource
import sys
import time

from xcache.resp import Verbatim
from xcache.store import cmdstats, diskfull
from xcache.store.commands import command
from xcache.store.dbmap import logical_db
from xcache.store.version import REDIS_VERSION, XCACHE_VERSION
from xcache.store.version import rss_bytes as _rss


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
            # the allocator's view (jemalloc's in Redis): here all of the process, no fragmentation
            "allocator_allocated": rss, "allocator_active": rss, "allocator_resident": rss,
            "total_system_memory": total, "total_system_memory_human": _human(total),
            "used_memory_lua": 31744, "used_memory_vm_eval": 31744,
            "used_memory_lua_human": "31.00K", "used_memory_scripts_eval": 0,
            **_script_counts(s),
            "used_memory_vm_functions": 32768, "used_memory_vm_total": 64512,
            "used_memory_vm_total_human": "63.00K", "used_memory_functions": 184,
            "used_memory_scripts": 184, "used_memory_scripts_human": "184B",
            "maxmemory": s.cfg.max_memory_bytes, "maxmemory_human": _human(s.cfg.max_memory_bytes),
            "maxmemory_policy": s.settings.values["maxmemory-policy"],
            "allocator_frag_ratio": "1.00", "allocator_frag_bytes": 0, "allocator_rss_ratio": "1.00",
            "allocator_rss_bytes": 0, "rss_overhead_ratio": "1.00", "rss_overhead_bytes": 0,
            "mem_fragmentation_ratio": "1.00", "mem_fragmentation_bytes": 0,
            "mem_not_counted_for_evict": 0, "mem_replication_backlog": 0,
            "mem_total_replication_buffers": 0, "mem_clients_slaves": 0,
            "mem_clients_normal": 0, "mem_cluster_links": 0, "mem_aof_buffer": 0,
            "mem_allocator": "libc", "active_defrag_running": 0,
            "lazyfree_pending_objects": 0, "lazyfreed_objects": s.stats["lazyfreed_objects"],
            "rocksdb_memtable_bytes": props["memtable_bytes"],
            "rocksdb_sst_bytes": props["sst_bytes"],
            **s.engine.rocks.info(s.engine.db)}  # budget, block cache, memtable charge


def _script_counts(s) -> dict:
    """EVAL's script cache and the function libraries (INFO memory)."""
    from xcache.store.functions import registry_of

    scripts = getattr(s, "scripts", None)
    reg = registry_of(s)
    return {"number_of_cached_scripts": len(scripts.functions) if scripts is not None else 0,
            "number_of_functions": len(reg.by_function), "number_of_libraries": len(reg.libraries)}


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
            "evicted_keys": st["evicted_keys"], "evicted_clients": 0, "total_eviction_exceeded_time": 0,
            "current_eviction_exceeded_time": 0,
            "keyspace_hits": st["keyspace_hits"], "keyspace_misses": st["keyspace_misses"],
            "pubsub_channels": len(s.channels), "pubsub_patterns": len(s.patterns),
            "pubsubshard_channels": len(s.shard_channels), "latest_fork_usec": 0, "total_forks": 0,
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
            "reply_buffer_shrinks": s.replybuf.shrinks, "reply_buffer_expands": s.replybuf.expands,
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
            "group_commits_total": e.groups_written,  # group commit: batches, operations in them
            "group_commit_ops_total": e.group_ops_written,
            "group_commit_shared_total": s.shared_groups,  # groups of several clients (rounds.py)
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
    for cmd in cmdstats.every():
        if cmd.calls or cmd.rejected_calls or cmd.failed_calls:
            usec = cmd.nsec // 1000
            per = usec / cmd.calls if cmd.calls else 0
            out.append(f"cmdstat_{cmd.name}:calls={cmd.calls},usec={usec},"
                       f"usec_per_call={per:.2f},rejected_calls={cmd.rejected_calls},"
                       f"failed_calls={cmd.failed_calls}\r\n")
    return "".join(out)


def _latencystats(s) -> str:
    from xcache.store.latency import percentiles
    from xcache.store.redisconfig import percent_text

    if s.settings.values["latency-tracking"] == "no":
        return ""  # the section header only, as Redis with latency tracking off
    wanted = [float(p) for p in s.settings.values["latency-tracking-info-percentiles"].split()]
    out = []
    for cmd in cmdstats.every():
        if cmd.histogram:
            values = percentiles(cmd.histogram, wanted)
            fields = ",".join(f"p{percent_text(p)}={v:.3f}"
                              for p, v in zip(wanted, values, strict=True))
            out.append(f"latency_percentiles_usec_{cmd.name}:{fields}\r\n")
    return "".join(out)


def _keyspace(s) -> str:
    counts = {logical_db(p): ne for p, ne in s.collector.keyspace.items()}  # by key prefix
    return "".join(f"db{db}:keys={n},expires={e},avg_ttl=0\r\n"
                   for db, (n, e) in sorted(counts.items()) if n)


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
