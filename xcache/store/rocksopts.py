"""RocksDB options of a storage node and its memory budget.

One block cache is shared by the three column families (meta, data, score): the same
BlockBasedOptions (and so the same Cache) is given to each. With a memory budget
(`max_memory_bytes`, Redis's `maxmemory`), that cache is sized to the budget and everything
RocksDB holds in memory is charged to it: data blocks, index and filter blocks
(cache_index_and_filter_blocks) and the memtables (a WriteBufferManager costed to the cache).
So RocksDB's memory stays near the budget however large the data grows; the rest of the
process is a constant (the interpreter and its modules: docs/operations/memory.md). The node's
meta cache (metacache.py) is sized here too: under a budget it is a share of it (at most an
eighth), taken from the block cache.

memory_plan() is the pure sizing function; RocksResources builds the objects and resizes them
when CONFIG SET changes the budget. A budget below RocksDB's floor (MIN_BUDGET_BYTES) cannot be
met: RocksDB is sized at the floor and the node is over maxmemory (oom.py refuses what Redis
refuses then).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from rocksdict import (
    BlockBasedIndexType,
    BlockBasedOptions,
    Cache,
    DBCompressionType,
    Options,
    WriteBufferManager,
)

from xcache.config import ConfigError, ServerConfig
from xcache.store.metacache import MetaCache

MiB = 1024 * 1024
MIN_BUDGET_BYTES = 32 * MiB
MEMTABLE_SHARE = 4  # a quarter of the budget for memtables, the rest for blocks
MIN_WRITE_BUFFER_BYTES = 1 * MiB
COMPRESSIONS = ("none", "snappy", "lz4", "lz4hc", "zstd", "zlib", "bz2")
# Keys CONFIG SET may change at runtime (applied by RocksResources.apply).
RUNTIME_KEYS = frozenset({"max_memory_bytes", "rocksdb_block_cache_bytes", "meta_cache_bytes"})
META_CACHE_SHARE = 8  # under a budget the meta cache takes at most an eighth of it


@dataclass(frozen=True)
class MemoryPlan:
    budget_bytes: int            # 0 = no budget: the rocksdb_* sizes as configured
    block_cache_bytes: int       # capacity of the one cache of the 3 column families
    memtable_budget_bytes: int   # WriteBufferManager limit, charged to the cache; 0 = none
    write_buffer_bytes: int      # one memtable of one column family
    max_write_buffer_number: int
    meta_cache_bytes: int = 0    # the node's meta cache in Python (metacache.py)


def memory_plan(cfg: ServerConfig) -> MemoryPlan:
    """The RocksDB memory sizes that cfg asks for (pure)."""
    budget = cfg.max_memory_bytes
    if budget == 0:
        return MemoryPlan(0, cfg.rocksdb_block_cache_bytes, 0, cfg.rocksdb_write_buffer_bytes,
                          cfg.rocksdb_max_write_buffer_number, cfg.meta_cache_bytes)
    budget = max(budget, MIN_BUDGET_BYTES)  # below the floor: sized at it (over_maxmemory)
    memtables = budget // MEMTABLE_SHARE
    # Two memtables of a written column family fit the memtable share before a flush is forced.
    write_buffer = max(MIN_WRITE_BUFFER_BYTES, min(cfg.rocksdb_write_buffer_bytes, memtables // 2))
    meta_cache = min(cfg.meta_cache_bytes, budget // META_CACHE_SHARE)
    return MemoryPlan(budget, budget - meta_cache, memtables, write_buffer,
                      cfg.rocksdb_max_write_buffer_number, meta_cache)


def over_maxmemory(max_memory_bytes: int) -> bool:
    """A maxmemory RocksDB cannot be held to: the node is over it while it stands."""
    return 0 < max_memory_bytes < MIN_BUDGET_BYTES


def compression_per_level(text: str) -> list[str]:
    """'none,none,lz4,zstd' -> the names (validated); '' -> [] (RocksDB's default: snappy)."""
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    for n in names:
        if n not in COMPRESSIONS:
            raise ConfigError(f"'rocksdb_compression_per_level': unknown compression {n!r} "
                              f"(one of {', '.join(COMPRESSIONS)})")
    if len(names) > 7:
        raise ConfigError("'rocksdb_compression_per_level': at most 7 levels, got "
                          f"{len(names)}")
    return names


def check(cfg: ServerConfig) -> MemoryPlan:
    """Validate the keys that depend on each other; ConfigError names the key."""
    compression_per_level(cfg.rocksdb_compression_per_level)
    if (cfg.rocksdb_partitioned_index_filters and not cfg.rocksdb_cache_index_and_filter_blocks
            and not cfg.max_memory_bytes):
        raise ConfigError("'rocksdb_partitioned_index_filters' needs "
                          "'rocksdb_cache_index_and_filter_blocks' = true")
    return memory_plan(cfg)


class RocksResources:
    """The Options, the shared block cache and the write buffer manager of one Engine."""

    def __init__(self, cfg: ServerConfig):
        self.plan = plan = check(cfg)
        self.cache = Cache(plan.block_cache_bytes) if plan.block_cache_bytes else None
        self.wbm = None
        if plan.memtable_budget_bytes and self.cache is not None:
            # allow_stall=False: the node never blocks its event loop; the WBM flushes instead.
            self.wbm = WriteBufferManager.new_write_buffer_manager_with_cache(
                plan.memtable_budget_bytes, False, self.cache)
        self.statistics = cfg.rocksdb_statistics
        self.options = self._build(cfg)
        self.meta_cache = MetaCache(plan.meta_cache_bytes)

    def _build(self, cfg: ServerConfig) -> Options:
        plan = self.plan
        opts = Options(raw_mode=True)
        opts.create_if_missing(True)
        opts.create_missing_column_families(True)
        opts.set_write_buffer_size(plan.write_buffer_bytes)
        opts.set_max_write_buffer_number(plan.max_write_buffer_number)
        opts.set_min_write_buffer_number_to_merge(1)
        if self.wbm is not None:
            opts.set_write_buffer_manager(self.wbm)
        opts.set_max_background_jobs(cfg.rocksdb_max_background_jobs)
        opts.set_level_zero_slowdown_writes_trigger(cfg.rocksdb_level0_slowdown_writes_trigger)
        opts.set_level_zero_stop_writes_trigger(cfg.rocksdb_level0_stop_writes_trigger)
        opts.set_level_zero_file_num_compaction_trigger(min(4, cfg.rocksdb_level0_slowdown_writes_trigger))
        opts.set_keep_log_file_num(4)
        opts.set_max_open_files(cfg.rocksdb_max_open_files)
        opts.set_bytes_per_sync(cfg.rocksdb_bytes_per_sync)
        opts.set_enable_pipelined_write(cfg.rocksdb_enable_pipelined_write)
        if cfg.rocksdb_memtable_bloom_ratio > 0:
            # Whole-key bloom in the memtable: a GET of a key not in it skips the skiplist walk.
            opts.set_memtable_prefix_bloom_ratio(cfg.rocksdb_memtable_bloom_ratio)
            opts.set_memtable_whole_key_filtering(True)
        levels = compression_per_level(cfg.rocksdb_compression_per_level)
        if levels:
            opts.set_compression_per_level([getattr(DBCompressionType, n)() for n in levels])
        if cfg.rocksdb_rate_limit_bytes_per_sec:
            opts.set_ratelimiter(cfg.rocksdb_rate_limit_bytes_per_sec, 100_000, 10)
        if self.statistics:
            opts.enable_statistics()
        table = BlockBasedOptions()
        if self.cache is not None:
            table.set_block_cache(self.cache)
        else:
            table.disable_cache()
        if cfg.rocksdb_bloom_bits_per_key:
            table.set_bloom_filter(cfg.rocksdb_bloom_bits_per_key, False)  # full (not block) filter
        # Under a budget, index and filter blocks are always charged to the cache (bounded).
        if (cfg.rocksdb_cache_index_and_filter_blocks or plan.budget_bytes) and self.cache is not None:
            table.set_cache_index_and_filter_blocks(True)
            table.set_pin_l0_filter_and_index_blocks_in_cache(True)
            if cfg.rocksdb_partitioned_index_filters:
                table.set_index_type(BlockBasedIndexType.two_level_index_search())
                table.set_partition_filters(True)
                table.set_metadata_block_size(4096)
                table.set_pin_top_level_index_and_filter(True)
        opts.set_block_based_table_factory(table)
        return opts

    def apply(self, cfg: ServerConfig) -> None:
        """Resize to cfg's budget at runtime (CONFIG SET maxmemory / rocksdb-block-cache-bytes).
        The caller has run check_runtime(cfg) first."""
        plan = self._live_plan(cfg)
        if self.cache is not None and plan.block_cache_bytes:
            self.cache.set_capacity(plan.block_cache_bytes)
        if self.wbm is not None:
            self.wbm.set_buffer_size(plan.memtable_budget_bytes)
        self.meta_cache.resize(plan.meta_cache_bytes)
        self.plan = dataclasses.replace(plan, write_buffer_bytes=self.plan.write_buffer_bytes,
                                        max_write_buffer_number=self.plan.max_write_buffer_number)

    def check_runtime(self, cfg: ServerConfig) -> None:
        """Raise ConfigError if cfg's sizes cannot be reached without reopening RocksDB."""
        plan = self._live_plan(cfg)
        if (self.cache is None) != (plan.block_cache_bytes == 0):
            raise ConfigError("the block cache can only be turned on or off with a restart")

    def pending(self, cfg: ServerConfig) -> bool:
        """Whether cfg's maxmemory turns the budget on or off: that waits for a restart."""
        return (self.wbm is None) != (cfg.max_memory_bytes == 0)

    def _live_plan(self, cfg: ServerConfig) -> MemoryPlan:
        """The sizes a running RocksDB moves to. A budget is turned on or off only when RocksDB
        opens (the write buffer manager is set then): until a restart, a node opened without
        one keeps its sizes, and one opened with a budget keeps the budget in force when
        maxmemory is set to 0. A value below the floor is the floor (over_maxmemory)."""
        if self.wbm is None:
            return memory_plan(dataclasses.replace(cfg, max_memory_bytes=0))
        if cfg.max_memory_bytes == 0:
            return memory_plan(dataclasses.replace(cfg, max_memory_bytes=self.plan.budget_bytes))
        return memory_plan(cfg)

    def info(self, db) -> dict:
        """INFO memory fields: the budget, the cache and the memtables."""
        plan = self.plan
        usage = self.cache.get_usage() if self.cache is not None else 0
        out = {"max_memory_bytes": plan.budget_bytes,
               "rocksdb_block_cache_capacity": _int_prop(db, "rocksdb.block-cache-capacity"),
               "rocksdb_block_cache_usage": usage,
               "rocksdb_block_cache_pinned_usage":
                   self.cache.get_pinned_usage() if self.cache is not None else 0,
               "rocksdb_memtable_budget": plan.memtable_budget_bytes,
               "rocksdb_memtable_charged": self.wbm.get_usage() if self.wbm is not None else 0,
               **self.meta_cache.info()}
        if self.statistics:
            hits, misses = self.cache_hits()
            out["rocksdb_block_cache_hits"] = hits
            out["rocksdb_block_cache_misses"] = misses
            out["rocksdb_block_cache_hit_rate"] = f"{hits / (hits + misses):.4f}" if hits + misses else "0.0000"
        return out

    def cache_hits(self) -> tuple[int, int]:
        """(hits, misses) of the block cache since start (needs rocksdb_statistics)."""
        text = self.options.get_statistics() or ""
        return (_ticker(text, "rocksdb.block.cache.hit"), _ticker(text, "rocksdb.block.cache.miss"))


def _ticker(text: str, name: str) -> int:
    m = re.search(rf"^{re.escape(name)} COUNT : (\d+)$", text, re.M)
    return int(m.group(1)) if m else 0


def _int_prop(db, name: str) -> int:
    try:
        return int(db.property_int_value(name) or 0)
    except Exception:  # noqa: BLE001 - a property the build lacks reads as 0
        return 0
