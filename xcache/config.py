"""Typed configuration: dataclasses loaded from a TOML file, then overridden by flags.

Every key has a default, a unit in its name where it has one, and a doc string (the `doc`
metadata) from which docs/reference/config.md is generated (scripts/gen_docs.py). Unknown keys
and wrong types are errors with a clear message naming the file and key.
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar


class ConfigError(ValueError):
    """A config file or flag is wrong; the message says which key and why."""


def key(default, doc: str, choices: tuple | None = None, minimum: float | None = None):
    return field(default=default, metadata={"doc": doc, "choices": choices, "min": minimum})


# --- keys that several components declare alike -------------------------------------------------
# The node, the proxy and the sentinel each declare these fields; their definition (default,
# description, checks) is here, once. Functions, not a base dataclass: a base class's fields come
# first, and a component's field order is the order of its reference table (docs), of CONFIG GET's
# reply and of the file CONFIG REWRITE writes. Each call makes a new field, as dataclass() needs.


def tls_port_key():
    return key(0, "TLS port (clients connect with redis-cli --tls); 0 = no TLS listener", minimum=0)


def tls_cert_file_key(listener: str = "the TLS listener"):
    return key("", f"PEM certificate (chain) of {listener}")


def tls_key_file_key():
    return key("", "PEM private key of tls_cert_file (keep it 0600)")


def tls_ca_cert_file_key():
    return key("", "PEM CA certificates that client certificates must chain to")


def tls_auth_clients_key():
    return key("yes", "client certificates: yes = required (Redis's default), optional = checked if sent, no = not asked", choices=("yes", "optional", "no"))


def auth_fail_burst_key(per_worker: bool = False):
    """per_worker: each of the component's processes keeps its own budgets (the proxy's workers)."""
    at_once = "at once (per worker)" if per_worker else "at once"
    return key(10, f"failed AUTHs a source address may make {at_once}; then its AUTHs are refused unchecked until its budget refills", minimum=1)


def auth_fail_rate_per_sec_key(per_worker: bool = False):
    per = "per address and worker" if per_worker else "per address"
    return key(10.0, f"refill rate of that budget: the most password guesses per second {per}", minimum=0.001)


def proto_max_bulk_len_key():
    return key(512 * 1024 * 1024, "largest bulk string (value) a client may send", minimum=1)


def proto_max_multibulk_len_key():
    return key(1024 * 1024, "most arguments in one command", minimum=1)


@dataclass
class ServerConfig:
    """`xcache server`: one storage node."""

    bind: str = key("127.0.0.1", "address to listen on")
    port: int = key(6380, "RESP port", minimum=0)
    dir: str = key("./data/6380", "data directory (RocksDB files)")
    requirepass: str = key("", "password clients must AUTH with; empty = no password")
    databases: int = key(16, "number of logical databases (SELECT 0..N-1)", minimum=1)
    maxclients: int = key(10000, "connections beyond this are refused with -ERR max number of clients reached", minimum=1)
    timeout_ms: int = key(0, "close a client idle this long; 0 = never", minimum=0)
    proto_max_bulk_len_bytes: int = proto_max_bulk_len_key()
    proto_max_multibulk_len: int = proto_max_multibulk_len_key()
    client_output_buffer_limit_bytes: int = key(256 * 1024 * 1024, "close a normal client whose unsent replies exceed this; 0 = no limit", minimum=0)
    wal_sync: str = key("everysec", "fsync policy of the write-ahead log: always, everysec or no", choices=("always", "everysec", "no"))
    group_commit_across_clients: bool = key(True, "group commit spans the clients read in one event-loop iteration: their writes go to RocksDB as one batch (one WAL append), their replies are sent after it; off = one batch per client's chunk")
    write_stall_timeout_ms: int = key(5000, "a write held back by a RocksDB stall is answered -BUSY after this long", minimum=1)
    write_stall_backoff_ms: int = key(5, "first retry delay of a stalled write (doubles up to 100 ms)", minimum=1)
    rocksdb_write_buffer_bytes: int = key(64 * 1024 * 1024, "memtable size", minimum=4096)
    rocksdb_max_write_buffer_number: int = key(6, "memtables kept before writes stop; more than 3 avoids the stall cliff", minimum=2)
    rocksdb_max_background_jobs: int = key(4, "flush + compaction threads", minimum=1)
    rocksdb_level0_slowdown_writes_trigger: int = key(20, "L0 files at which RocksDB slows writes", minimum=1)
    rocksdb_level0_stop_writes_trigger: int = key(36, "L0 files at which RocksDB stops writes", minimum=1)
    rocksdb_block_cache_bytes: int = key(256 * 1024 * 1024, "block cache size", minimum=0)
    rocksdb_rate_limit_bytes_per_sec: int = key(0, "cap on flush/compaction IO; 0 = none (tests use it to force a stall)", minimum=0)
    max_memory_bytes: int = key(0, "memory budget of RocksDB (Redis's maxmemory): one block cache of this size holds data, index and filter blocks and is charged for the memtables (a quarter of it), so memory stays flat as data grows beyond it; 0 = no budget (rocksdb_block_cache_bytes and the memtable keys apply). Below 32 MiB (RocksDB's floor) RocksDB is sized at 32 MiB and the node is over maxmemory: it refuses what Redis refuses when it has nothing to evict (-OOM). Data never gets evicted: it stays on disk (docs/operations/memory.md)", minimum=0)
    meta_cache_bytes: int = key(64 * 1024 * 1024, "the meta entries (a string's whole value included) of recently used keys, kept in Python in front of RocksDB: a hit costs a dict lookup instead of a memtable or block seek; under max_memory_bytes at most an eighth of the budget, taken from the block cache; 0 = off", minimum=0)
    rocksdb_bloom_bits_per_key: int = key(10, "bloom filter bits per key of every column family (whole-key: GET of a missing key skips the SST); 0 = no filter", minimum=0)
    rocksdb_cache_index_and_filter_blocks: bool = key(False, "index and filter blocks live in the block cache (bounded by it; L0's pinned) instead of outside it in every open table; always on with max_memory_bytes")
    rocksdb_partitioned_index_filters: bool = key(False, "two-level (partitioned) index and filters: only the partitions a read needs are cached; for data much larger than the cache (needs rocksdb_cache_index_and_filter_blocks or max_memory_bytes)")
    rocksdb_memtable_bloom_ratio: float = key(0.0, "share of write_buffer size for a whole-key bloom filter in each memtable (0 = none, at most 0.25)", minimum=0.0)
    rocksdb_compression_per_level: str = key("", "compression of each LSM level, comma-separated (none, snappy, lz4, lz4hc, zstd, zlib, bz2), e.g. 'none,none,lz4,lz4,lz4,zstd,zstd'; empty = snappy everywhere (RocksDB's default)")
    rocksdb_enable_pipelined_write: bool = key(False, "RocksDB pipelined writes (WAL and memtable stages overlap between concurrent writers)")
    rocksdb_bytes_per_sync: int = key(0, "sync SST files in the background every this many bytes written (smooths flush IO); 0 = off", minimum=0)
    rocksdb_max_open_files: int = key(-1, "SST files kept open (their table readers); -1 = all", minimum=-1)
    rocksdb_statistics: bool = key(False, "RocksDB ticker statistics (block cache hits/misses and hit rate in INFO memory)")
    expire_collector_interval_ms: int = key(100, "period of the background collector of expired keys and stale versions", minimum=1)
    expire_collector_batch: int = key(500, "keys the collector examines per run (bounds its time on the event loop)", minimum=1)
    replica_priority: int = key(100, "sentinel promotion priority; lower wins, 0 = never promote", minimum=0)
    masterauth: str = key("", "password used to authenticate to the master when replicating")
    replicaof: str = key("", "'host port' of a master to replicate from at start; empty = master")
    repl_backlog_bytes: int = key(64 * 1024 * 1024, "write log kept for partial resync of replicas", minimum=1024)
    metrics_port: int = key(-1, "HTTP port of /metrics and /health; -1 = port + 10000, 0 = off", minimum=-1)
    repl_timeout_ms: int = key(60000, "replication link considered down after this long without data", minimum=100)
    busy_reply_threshold_ms: int = key(5000, "a Lua script running longer than this makes other clients get -BUSY and can be killed by SCRIPT KILL (Redis's lua-time-limit)", minimum=0)
    auth_fail_burst: int = auth_fail_burst_key()
    auth_fail_rate_per_sec: float = auth_fail_rate_per_sec_key()
    tls_port: int = tls_port_key()
    tls_cert_file: str = tls_cert_file_key()
    tls_key_file: str = tls_key_file_key()
    tls_ca_cert_file: str = tls_ca_cert_file_key()
    tls_auth_clients: str = tls_auth_clients_key()
    tls_replication: bool = key(False, "a replica links to its master over TLS (replicaof names the master's tls_port; tls_cert_file is presented, tls_ca_cert_file checks the master)")
    disk_resume_free_bytes: int = key(64 * 1024 * 1024, "after a disk-full (or I/O) write error, RocksDB is reopened and writes resume once the data dir has this much free space", minimum=0)
    disk_check_interval_ms: int = key(1000, "how often a node refusing writes after a disk error checks its free space", minimum=10)
    min_replicas_to_write: int = key(0, "a master with fewer good replicas refuses writes with -NOREPLICAS (Redis's min-replicas-to-write); 0 = off", minimum=0)
    min_replicas_max_lag: int = key(10, "seconds since a replica's last ACK for it to count as good (Redis's min-replicas-max-lag); 0 = off", minimum=0)
    write_ack_replicas: int = key(0, "hold each write's reply until this many replicas acknowledged it (like WAIT after every write); 0 = off", minimum=0)
    write_ack_timeout_ms: int = key(1000, "write_ack_replicas: answer -NOACK (write in doubt) when not acknowledged this fast", minimum=1)
    migrate_chunk_items: int = key(1000, "MIGRATE sends a bigger hash/list/set/zset in commands of this many members, one awaited at a time", minimum=1)


T = TypeVar("T")


def fields_of(cls) -> list[dataclasses.Field]:
    return list(dataclasses.fields(cls))


def coerce(cls, key: str, value: Any, source: str) -> Any:
    """Convert and validate one value for cls.key; raise ConfigError with a clear message."""
    by_name = {f.name: f for f in dataclasses.fields(cls)}
    if key not in by_name:
        hint = difflib.get_close_matches(key, by_name, n=1)
        more = f" (did you mean '{hint[0]}'?)" if hint else ""
        raise ConfigError(f"{source}: unknown key '{key}'{more}")
    f = by_name[key]
    kind = type(f.default)
    try:
        if kind is bool:
            if isinstance(value, str):
                if value.lower() not in ("yes", "no", "true", "false", "1", "0"):
                    raise ValueError
                value = value.lower() in ("yes", "true", "1")
            elif not isinstance(value, bool):
                raise ValueError
        elif kind is int:
            if isinstance(value, bool) or isinstance(value, float):
                raise ValueError
            value = int(value)
        elif kind is float:
            if isinstance(value, bool):
                raise ValueError
            value = float(value)
        elif kind is str:
            if not isinstance(value, str):
                raise ValueError
        elif kind is list:
            if isinstance(value, str):
                value = [v for v in value.split(",") if v]
            if not isinstance(value, list):
                raise ValueError
    except (TypeError, ValueError):
        raise ConfigError(f"{source}: '{key}' must be {kind.__name__}, got {value!r}") from None
    meta = f.metadata
    if meta.get("choices") and value not in meta["choices"]:
        raise ConfigError(f"{source}: '{key}' must be one of {', '.join(meta['choices'])}, got {value!r}")
    if meta.get("min") is not None and value < meta["min"]:
        raise ConfigError(f"{source}: '{key}' must be >= {meta['min']}, got {value!r}")
    return value


def load(cls: type[T], path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> T:
    """Build cls from defaults, then the TOML file at path, then overrides (flags)."""
    values: dict[str, Any] = {}
    if path:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"config file {path} not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        for key, value in data.items():
            values[key] = coerce(cls, key, value, str(path))
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = coerce(cls, key, value, "command line")
    return cls(**values)


def parse_assignments(items: tuple[str, ...] | list[str]) -> dict[str, str]:
    """Parse repeated `--set key=value` flags."""
    out = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"command line: --set expects key=value, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip().replace("-", "_")] = v.strip()
    return out


def flag_overrides(assignments: tuple[str, ...] | list[str], flags: dict[str, Any]) -> dict[str, Any]:
    """A command's overrides for load(): its `--set key=value` assignments, then the flags it was
    given (None = not given), which win over --set."""
    overrides: dict[str, Any] = parse_assignments(assignments)
    overrides.update({k: v for k, v in flags.items() if v is not None})
    return overrides


def to_toml(obj) -> str:
    """Render a config object as TOML (used by CONFIG REWRITE and `xcache up`)."""
    lines = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        lines.append(f"# {f.metadata.get('doc', '')}")
        lines.append(f"{f.name} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    s = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{s}"'


def markdown_table(cls) -> str:
    """A markdown table of a config class (key, default, meaning)."""
    rows = ["| key | default | meaning |", "| --- | --- | --- |"]
    for f in dataclasses.fields(cls):
        rows.append(f"| `{f.name}` | `{_toml_value(f.default)}` | {f.metadata.get('doc', '')} |")
    return "\n".join(rows)
