"""Prometheus metrics and health endpoint of a storage node (HTTP, `metrics_port`)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from xcache.store.auth import brake_of

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class NodeCollector:
    def __init__(self, server):
        self.server = server

    def collect(self):
        s = self.server
        st = s.stats
        e = s.engine
        props = e.properties()
        mem = e.rocks.info(e.db)
        counters = {
            "commands_processed": (st["total_commands_processed"], "Commands executed"),
            "connections_received": (st["total_connections_received"], "Connections accepted"),
            "rejected_connections": (st["rejected_connections"], "Connections refused at maxclients"),
            "protocol_errors": (st["protocol_errors"], "Clients closed for protocol errors"),
            "rejected_connections_fd": (st["rejected_connections_fd"],
                                        "Connections refused because the node ran out of file descriptors"),
            "internal_errors": (st["internal_errors"], "Commands that failed with an unexpected exception (answered -ERR)"),
            "expired_keys": (st["expired_keys"], "Keys removed by the collector after expiry"),
            "keyspace_hits": (st["keyspace_hits"], "Read lookups that found their key (as Redis counts them)"),
            "keyspace_misses": (st["keyspace_misses"], "Read lookups that found no live key"),
            "stalled_writes": (e.stall.stalled_writes, "Writes refused by a RocksDB stall (then retried)"),
            "stall_rejected_writes": (st["stall_rejected_writes"], "Writes answered -BUSY after the stall deadline"),
            "meta_cache_hits": (mem["meta_cache_hits"], "Meta lookups answered by the node's meta cache"),
            "meta_cache_misses": (mem["meta_cache_misses"], "Meta lookups the meta cache sent to RocksDB"),
            "group_commits": (e.groups_written, "Batches written by group commit (a loop iteration's writes)"),
            "group_commit_ops": (e.group_ops_written, "RocksDB operations written by group commits"),
            "group_commit_shared": (s.shared_groups, "Group commits that held the replies of several clients"),
            "auth_failures": (brake_of(s).failures, "Failed AUTHs (wrong password or user)"),
            "auth_brake_refused": (brake_of(s).refused, "AUTHs refused unchecked by the failed-AUTH brake"),
            "disk_rejected_writes": (e.disk.rejected_writes, "Writes answered -MISCONF while the disk refused writes"),
            "disk_error_episodes": (e.disk.episodes, "Times the disk started refusing writes (full or I/O error)"),
            "disk_recoveries": (e.disk.recoveries, "Times writes resumed after a disk error, without a restart"),
            "client_output_limit_disconnections": (st["client_output_limit_disconnections"],
                                                   "Clients closed for exceeding the output buffer limit"),
        }
        for name, (value, doc) in counters.items():
            yield CounterMetricFamily(f"xcache_server_{name}", doc, value=value)
        gauges = {
            "connected_clients": (len(s.clients), "Open client connections"),
            "maxclients": (s.cfg.maxclients, "Configured maxclients"),
            "write_stall_active": (int(e.stall.active or bool(props["write_stopped"])),
                                   "1 while RocksDB is stalling writes"),
            "write_stall_seconds": (e.stall.current_seconds(), "Length of the current write stall"),
            "disk_full": (int(e.disk.full), "1 while writes are refused because the disk is full or failing"),
            "disk_error_seconds": (e.disk.seconds(), "Length of the current disk-error episode"),
            "rocksdb_l0_files": (props["l0_files"], "SST files in level 0"),
            "rocksdb_pending_compaction_bytes": (props["pending_compaction_bytes"], "Estimated compaction debt"),
            "rocksdb_memtable_bytes": (props["memtable_bytes"], "Memtable memory"),
            "rocksdb_delayed_write_rate": (props["delayed_write_rate"], "RocksDB delayed write rate"),
            "max_memory_bytes": (mem["max_memory_bytes"], "Memory budget of RocksDB (maxmemory); 0 = none"),
            "rocksdb_block_cache_capacity_bytes": (mem["rocksdb_block_cache_capacity"], "Block cache capacity"),
            "rocksdb_block_cache_usage_bytes": (mem["rocksdb_block_cache_usage"],
                                                "Block cache usage, memtable charges included"),
            "rocksdb_memtable_charged_bytes": (mem["rocksdb_memtable_charged"],
                                               "Memtable memory charged to the block cache under a budget"),
            "meta_cache_capacity_bytes": (mem["meta_cache_capacity"], "Meta cache capacity (meta_cache_bytes)"),
            "meta_cache_used_bytes": (mem["meta_cache_used"], "Meta cache size (estimated)"),
            "meta_cache_keys": (mem["meta_cache_keys"], "Keys in the meta cache"),
            "is_replica": (int(s.replication.is_replica), "1 if this node replicates a master"),
            "repl_offset": (s.replication.offset, "Replication offset"),
        }
        for name, (value, doc) in gauges.items():
            yield GaugeMetricFamily(f"xcache_server_{name}", doc, value=value)
        yield CounterMetricFamily("xcache_server_migrate_keys", "Keys sent by MIGRATE and acknowledged by the target",
                                  value=st["migrate_keys_total"])
        yield CounterMetricFamily("xcache_server_migrate_bytes", "Bytes MIGRATE sent to targets",
                                  value=st["migrate_bytes_total"])
        yield GaugeMetricFamily("xcache_server_migrate_in_progress", "Keys being migrated now", value=len(s.migrating))


def build_app(server) -> Starlette:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(NodeCollector(server))

    async def metrics(request):
        return Response(generate_latest(registry), media_type=CONTENT_TYPE)

    async def health(request):
        stalled = server.engine.stall.active
        disk = server.engine.disk
        status = "degraded" if disk.full else "stalled" if stalled else "ok"
        return JSONResponse({"status": status, "role":
                             "replica" if server.replication.is_replica else "master",
                             "write_stall_seconds": round(server.engine.stall.current_seconds(), 3),
                             "disk_full": disk.full, "disk_error_reason": disk.reason,
                             "disk_error": disk.error or None})

    return Starlette(routes=[Route("/metrics", metrics), Route("/health", health)])
