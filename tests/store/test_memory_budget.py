"""The node's memory budget (max_memory_bytes = Redis's maxmemory) and RocksDB keys: the sizes
derived from the budget, validation with clear errors, INFO memory fields, CONFIG GET/SET."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest
import redis

from tests.procs import free_port, start_xcache_server, wait_until
from xcache.config import ConfigError, ServerConfig, load
from xcache.store.rocksopts import (
    MIN_BUDGET_BYTES,
    MemoryPlan,
    check,
    compression_per_level,
    memory_plan,
    over_maxmemory,
)
from xcache.store.settings import memtoull

MiB = 1024 * 1024


def test_no_budget_keeps_the_configured_sizes():
    cfg = ServerConfig(rocksdb_block_cache_bytes=7 * MiB, rocksdb_write_buffer_bytes=3 * MiB,
                       rocksdb_max_write_buffer_number=5, meta_cache_bytes=2 * MiB)
    assert memory_plan(cfg) == MemoryPlan(0, 7 * MiB, 0, 3 * MiB, 5, 2 * MiB)


def test_budget_sizes_cache_and_memtables():
    plan = memory_plan(ServerConfig(max_memory_bytes=128 * MiB))
    # memtables are charged to the block cache; the meta cache is an eighth of the budget at most
    assert (plan.budget_bytes, plan.block_cache_bytes, plan.meta_cache_bytes) == \
        (128 * MiB, 112 * MiB, 16 * MiB)
    assert memory_plan(ServerConfig(max_memory_bytes=128 * MiB, meta_cache_bytes=MiB)) \
        .block_cache_bytes == 127 * MiB
    assert plan.memtable_budget_bytes == 32 * MiB
    assert plan.write_buffer_bytes == 16 * MiB  # two memtables fit the memtable share
    # a smaller configured memtable is kept; a huge budget never raises it above the key
    small = memory_plan(ServerConfig(max_memory_bytes=128 * MiB, rocksdb_write_buffer_bytes=4 * MiB))
    assert small.write_buffer_bytes == 4 * MiB
    big = memory_plan(ServerConfig(max_memory_bytes=64 * 1024 * MiB))
    assert big.write_buffer_bytes == ServerConfig().rocksdb_write_buffer_bytes


def test_budget_below_the_floor_is_sized_at_it():
    """Any maxmemory is accepted; below the floor RocksDB gets the floor (the node is then over
    maxmemory: tests/store/test_oom.py)."""
    assert memory_plan(ServerConfig(max_memory_bytes=1)) == \
        memory_plan(ServerConfig(max_memory_bytes=MIN_BUDGET_BYTES))
    assert [over_maxmemory(v) for v in (0, 1, MIN_BUDGET_BYTES - 1, MIN_BUDGET_BYTES)] == \
        [False, True, True, False]
    with pytest.raises(ConfigError, match="'max_memory_bytes' must be >= 0"):
        load(ServerConfig, None, {"max_memory_bytes": "-1"})


def test_compression_and_index_keys_are_validated():
    assert compression_per_level("none, none,LZ4,zstd") == ["none", "none", "lz4", "zstd"]
    assert compression_per_level("") == []
    with pytest.raises(ConfigError, match="unknown compression 'brotli'"):
        check(ServerConfig(rocksdb_compression_per_level="none,brotli"))
    with pytest.raises(ConfigError, match="at most 7 levels"):
        compression_per_level(",".join(["lz4"] * 8))
    with pytest.raises(ConfigError, match="needs 'rocksdb_cache_index_and_filter_blocks'"):
        check(ServerConfig(rocksdb_partitioned_index_filters=True,
                           rocksdb_cache_index_and_filter_blocks=False))


def test_redis_memory_units():
    assert [memtoull(t) for t in ("1024", "5k", "5kb", "100mb", "1GB", "3b")] == \
        [1024, 5000, 5120, 100 * MiB, 1024 * MiB, 3]
    for bad in ("", "mb", "1tb", "-5", "1.5gb"):
        with pytest.raises(ValueError):
            memtoull(bad)


def test_server_refuses_a_bad_budget_at_start(tmp_path):
    out = subprocess.run([sys.executable, "-m", "xcache.cli", "server", "--port", "0",
                          "--dir", str(tmp_path / "d"), "--set", "max_memory_bytes=-1"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "'max_memory_bytes' must be >= 0" in out.stderr


@pytest.fixture
def budget_node(tmp_path):
    proc = start_xcache_server(tmp_path, "--set", f"max_memory_bytes={64 * MiB}",
                               "--set", "rocksdb_statistics=true",
                               "--set", "rocksdb_cache_index_and_filter_blocks=true",
                               "--set", "rocksdb_partitioned_index_filters=true")
    client = redis.Redis(port=proc.port)
    yield client
    client.close()
    proc.stop()


def test_info_memory_shows_the_budget_and_the_cache(budget_node):
    r = budget_node
    for i in range(200):
        r.set(f"k{i}", "v" * 100)
    assert r.get("k7") == b"v" * 100
    m = r.info("memory")
    assert m["maxmemory"] == m["max_memory_bytes"] == 64 * MiB
    assert (m["rocksdb_block_cache_capacity"], m["meta_cache_capacity"]) == (56 * MiB, 8 * MiB)
    assert m["rocksdb_memtable_budget"] == 16 * MiB
    assert m["meta_cache_keys"] > 0 and 0 < m["meta_cache_used"] <= m["meta_cache_capacity"]
    assert 0 < m["rocksdb_memtable_charged"] <= m["rocksdb_block_cache_usage"]
    assert m["rocksdb_block_cache_usage"] <= m["rocksdb_block_cache_capacity"]
    assert m["rocksdb_block_cache_hits"] >= 0 and m["rocksdb_block_cache_misses"] >= 0
    assert 0.0 <= float(m["rocksdb_block_cache_hit_rate"]) <= 1.0
    assert r.config_get("maxmemory") == {"maxmemory": str(64 * MiB)}


def test_config_set_maxmemory_resizes_at_runtime(budget_node):
    r = budget_node
    assert r.config_set("maxmemory", "100mb")
    assert r.config_get("maxmemory") == {"maxmemory": str(100 * MiB)}
    assert r.config_get("max-memory-bytes") == {"max-memory-bytes": str(100 * MiB)}
    m = r.info("memory")
    assert (m["maxmemory"], m["rocksdb_block_cache_capacity"] + m["meta_cache_capacity"],
            m["rocksdb_memtable_budget"], m["meta_cache_capacity"]) == \
        (100 * MiB, 100 * MiB, 25 * MiB, 100 * MiB // 8)
    with pytest.raises(redis.ResponseError) as err:
        r.config_set("maxmemory", "lots")
    assert str(err.value) == ("CONFIG SET failed (possibly related to argument 'maxmemory') - "
                              "argument must be a memory value")
    assert r.config_set("maxmemory", "1mb")  # below the floor: sized at it
    m = r.info("memory")
    assert (m["maxmemory"], m["max_memory_bytes"], m["rocksdb_block_cache_capacity"]) == \
        (MiB, 32 * MiB, 28 * MiB)
    # 0 turns the budget off at the next start: until then the budget in force stays
    assert r.config_set("maxmemory", "0")
    m = r.info("memory")
    assert (m["maxmemory"], m["max_memory_bytes"], m["rocksdb_block_cache_capacity"]) == \
        (0, 32 * MiB, 28 * MiB)
    assert r.config_set("maxmemory", "100mb")
    assert r.info("memory")["rocksdb_block_cache_capacity"] == 100 * MiB - 100 * MiB // 8
    # a smaller meta cache leaves the rest of the budget to the block cache
    assert r.config_set("meta-cache-bytes", str(MiB))
    m = r.info("memory")
    assert (m["meta_cache_capacity"], m["rocksdb_block_cache_capacity"]) == (MiB, 99 * MiB)


def test_without_budget_the_cache_is_the_configured_one(tmp_path):
    proc = start_xcache_server(tmp_path, "--set", f"rocksdb_block_cache_bytes={8 * MiB}")
    r = redis.Redis(port=proc.port)
    try:
        m = r.info("memory")
        assert (m["maxmemory"], m["rocksdb_block_cache_capacity"], m["rocksdb_memtable_budget"]) \
            == (0, 8 * MiB, 0)
        assert "rocksdb_block_cache_hit_rate" not in m  # statistics are off by default
        assert r.config_set("rocksdb-block-cache-bytes", str(16 * MiB))
        assert r.info("memory")["rocksdb_block_cache_capacity"] == 16 * MiB
        # a budget is turned on at the next start: until then RocksDB keeps its sizes (below
        # the floor, the node is over maxmemory at once)
        for value in ("1", "64mb"):
            assert r.config_set("maxmemory", value)
            m = r.info("memory")
            assert (m["max_memory_bytes"], m["rocksdb_block_cache_capacity"]) == (0, 16 * MiB)
        assert r.config_get("maxmemory") == {"maxmemory": str(64 * MiB)}
        assert r.config_set("maxmemory", "0")
        log = (tmp_path / f"xcache-{proc.port}" / "server.log").read_text()
        assert f"event=maxmemory_at_restart maxmemory={64 * MiB} " in log
        with pytest.raises(redis.ResponseError, match="can't set immutable config"):
            r.config_set("rocksdb-bloom-bits-per-key", "5")
    finally:
        r.close()
        proc.stop()


def test_metrics_show_the_budget_and_the_cache(tmp_path):
    metrics_port = free_port()
    proc = start_xcache_server(tmp_path, "--set", f"metrics_port={metrics_port}",
                               "--set", f"max_memory_bytes={48 * MiB}")
    try:
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        body = wait_until(lambda: httpx.get(url, timeout=5).text, what="metrics endpoint")
        values = {name: float(v) for name, _, v in
                  (line.partition(" ") for line in body.splitlines() if not line.startswith("#"))}
        assert values["xcache_server_max_memory_bytes"] == 48 * MiB
        assert values["xcache_server_rocksdb_block_cache_capacity_bytes"] == 42 * MiB
        assert values["xcache_server_meta_cache_capacity_bytes"] == 6 * MiB
        assert 0 < values["xcache_server_rocksdb_memtable_charged_bytes"] \
            <= values["xcache_server_rocksdb_block_cache_usage_bytes"] <= 42 * MiB
    finally:
        proc.stop()
