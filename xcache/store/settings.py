"""CONFIG GET / CONFIG SET as Redis 7 answers them, over the node's own config.

Three kinds of parameters:
- the node's own keys (`write-stall-timeout-ms`, ...: xcache.config.ServerConfig, '-' for '_'),
  and the Redis names that map onto them (port, dir, maxclients, timeout, appendfsync, ...);
- Redis parameters with a real effect here, kept per node in `Settings`: the slow log and
  latency monitor thresholds, and the encoding thresholds (`*-max-listpack-*`,
  `set-max-intset-entries`, ...), which only change what OBJECT ENCODING reports (values are
  not stored in listpacks here, so CONFIG SET of them is otherwise a no-op);
- every other parameter Redis 7 lists: answered with Redis 7's default (data/redis7_config.json,
  taken from redis-server 7.0), read-only: CONFIG SET answers Redis's "can't set immutable
  config" error.
"""

from __future__ import annotations

import dataclasses
import json
import os
from functools import cache
from pathlib import Path

from xcache.config import ConfigError, ServerConfig, coerce
from xcache.resp import Error, Map
from xcache.store import notify, rocksopts
from xcache.store.glob import glob_match

DATA = Path(__file__).resolve().parent / "data"

# Redis's alias names (CONFIG GET * lists both) -> the canonical name.
ALIASES = {
    "hash-max-ziplist-entries": "hash-max-listpack-entries",
    "hash-max-ziplist-value": "hash-max-listpack-value",
    "zset-max-ziplist-entries": "zset-max-listpack-entries",
    "zset-max-ziplist-value": "zset-max-listpack-value",
    "list-max-ziplist-size": "list-max-listpack-size",
    "slave-priority": "replica-priority", "slaveof": "replicaof",
    "slave-read-only": "replica-read-only", "slave-serve-stale-data": "replica-serve-stale-data",
    "slave-lazy-flush": "replica-lazy-flush", "slave-ignore-maxmemory": "replica-ignore-maxmemory",
    "slave-announce-ip": "replica-announce-ip", "slave-announce-port": "replica-announce-port",
    "repl-ping-slave-period": "repl-ping-replica-period",
    "min-slaves-to-write": "min-replicas-to-write", "min-slaves-max-lag": "min-replicas-max-lag",
    "cluster-slave-no-failover": "cluster-replica-no-failover",
    "cluster-slave-validity-factor": "cluster-replica-validity-factor",
    "lua-time-limit": "busy-reply-threshold",
}

# Integer Redis parameters kept per node (name -> minimum).
LIVE_INT = {
    "slowlog-log-slower-than": -1, "slowlog-max-len": 0, "latency-monitor-threshold": 0,
    "hash-max-listpack-entries": 0, "hash-max-listpack-value": 0, "set-max-intset-entries": 0,
    "zset-max-listpack-entries": 0, "zset-max-listpack-value": 0,
    "list-max-listpack-size": -5, "list-compress-depth": 0, "hll-sparse-max-bytes": 0,
    "stream-node-max-bytes": 0, "stream-node-max-entries": 0, "tracking-table-max-keys": 0,
    "acllog-max-len": 0,
}
LIVE_BOOL = {"latency-tracking", "activerehashing"}
LIVE_TEXT = {"latency-tracking-info-percentiles"}

# Redis names served by a ServerConfig key: name -> (key, to Redis text, from Redis text).
_ms_as_s = (lambda v: str(v // 1000), lambda t: str(int(t) * 1000))
_same = (str, str)
MAPPED = {
    "port": ("port", *_same), "bind": ("bind", *_same), "requirepass": ("requirepass", *_same),
    "masterauth": ("masterauth", *_same), "maxclients": ("maxclients", *_same),
    "databases": ("databases", *_same), "timeout": ("timeout_ms", *_ms_as_s),
    "proto-max-bulk-len": ("proto_max_bulk_len_bytes", *_same),
    "replica-priority": ("replica_priority", *_same), "appendfsync": ("wal_sync", *_same),
    "repl-timeout": ("repl_timeout_ms", *_ms_as_s),
    "repl-backlog-size": ("repl_backlog_bytes", *_same),
    "busy-reply-threshold": ("busy_reply_threshold_ms", *_same),
    "min-replicas-to-write": ("min_replicas_to_write", *_same),
    "min-replicas-max-lag": ("min_replicas_max_lag", *_same),
    "maxmemory": ("max_memory_bytes", str, lambda t: str(memtoull(t))),
}
# Keys of ServerConfig that CONFIG SET may change at runtime.
RUNTIME = {"requirepass", "maxclients", "timeout_ms", "write_stall_timeout_ms",
           "write_stall_backoff_ms", "client_output_buffer_limit_bytes",
           "proto_max_bulk_len_bytes", "proto_max_multibulk_len", "replica_priority",
           "masterauth", "wal_sync", "expire_collector_interval_ms", "expire_collector_batch",
           "repl_timeout_ms", "busy_reply_threshold_ms", "min_replicas_to_write", "min_replicas_max_lag",
           "write_ack_replicas", "write_ack_timeout_ms", *rocksopts.RUNTIME_KEYS}
_OWN_KEYS = {f.name for f in dataclasses.fields(ServerConfig)}


@cache
def redis_defaults() -> dict[str, str]:
    """Redis 7.0's CONFIG GET * (instance-specific values are overlaid by `_items`)."""
    return json.loads((DATA / "redis7_config.json").read_text())["config"]


class Settings:
    """The Redis parameters a node keeps at runtime (the LIVE_* ones)."""

    def __init__(self):
        defaults = redis_defaults()
        self.values: dict[str, str] = {name: defaults.get(name, "0")
                                       for name in (*LIVE_INT, *LIVE_BOOL, *LIVE_TEXT)}

    def int(self, name: str) -> int:
        return int(self.values[name])


def _items(server) -> dict[str, str]:
    cfg = server.cfg
    items = dict(redis_defaults())
    items.update(server.settings.values)
    for name, (key, to_text, _) in MAPPED.items():
        items[name] = to_text(getattr(cfg, key))
    items.update({
        "dir": os.path.abspath(cfg.dir), "save": "", "appendonly": "no", "io-threads": "1",
        "replicaof": cfg.replicaof or "", "daemonize": "no", "pidfile": "", "logfile": "",
        "client-output-buffer-limit": (f"normal {cfg.client_output_buffer_limit_bytes} "
                                       f"{cfg.client_output_buffer_limit_bytes} 0 slave "
                                       "268435456 67108864 60 pubsub 33554432 8388608 60"),
    })
    items["notify-keyspace-events"] = notify.flags_text(server.notify_flags)
    for alias, name in ALIASES.items():
        items[alias] = items.get(name, "")
    for f in dataclasses.fields(cfg):
        own = f.name.replace("_", "-")
        items.setdefault(own, str(getattr(cfg, f.name)))
    return items


def config_get(server, patterns: list[bytes]) -> Map:
    items = _items(server)
    found: dict[str, str] = {}
    for raw in patterns:
        pattern = raw.lower()
        if b"*" not in pattern and b"?" not in pattern and b"[" not in pattern:
            name = pattern.decode(errors="replace")
            if name in items:
                found[name] = items[name]
            continue
        for name, value in items.items():
            if glob_match(pattern, name.encode()):
                found[name] = value
    out = Map()
    for name, value in found.items():
        out += [name.encode(), value.encode()]
    return out


_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000 ** 2, "mb": 1024 ** 2,
          "g": 1000 ** 3, "gb": 1024 ** 3}


def memtoull(text: str) -> int:
    """Redis's memory amounts: '100mb', '1gb', '5k', '1024' (util.c memtoull)."""
    t = text.strip().lower()
    digits = t.rstrip("bkmg")
    unit = t[len(digits):]
    if not digits.isdigit() or unit not in _UNITS:
        raise ValueError(text)
    return int(digits) * _UNITS[unit]


def _failed(name: str, why: str) -> Error:
    return Error(f"ERR CONFIG SET failed (possibly related to argument '{name}') - {why}")


def config_set(server, args: list[bytes]) -> None:
    """CONFIG SET name value [name value ...]: all applied, or none (as Redis 7)."""
    cfg = server.cfg
    own: dict[str, object] = {}
    live: dict[str, str] = {}
    events: int | None = None
    seen = set()
    for i in range(0, len(args), 2):
        given = args[i].decode(errors="replace")
        name = ALIASES.get(given.lower(), given.lower())
        raw = args[i + 1].decode(errors="replace")
        if name in seen:
            raise _failed(given, "duplicate parameter")
        seen.add(name)
        if name == "notify-keyspace-events":
            try:
                events = notify.parse_flags(raw)
            except ValueError as exc:
                raise _failed(given, str(exc)) from None
            continue
        if name in LIVE_INT:
            try:
                value = int(raw)
            except ValueError:
                raise _failed(given, "argument couldn't be parsed into an integer") from None
            if value < LIVE_INT[name]:
                raise _failed(given, "argument must be between "
                              f"{LIVE_INT[name]} and 9223372036854775807 inclusive")
            live[name] = str(value)
            continue
        if name in LIVE_BOOL:
            if raw.lower() not in ("yes", "no"):
                raise _failed(given, "argument must be 'yes' or 'no'")
            live[name] = raw.lower()
            continue
        if name in LIVE_TEXT:
            try:
                if not all(0 <= float(p) <= 100 for p in raw.split()):
                    raise ValueError
            except ValueError:
                raise _failed(given, "latency-tracking-info-percentiles: Invalid argument") from None
            live[name] = raw
            continue
        if name in MAPPED:
            key, _, from_text = MAPPED[name]
            try:
                raw = from_text(raw)
            except ValueError:
                why = ("argument must be a memory value" if name == "maxmemory"
                       else "argument couldn't be parsed into an integer")
                raise _failed(given, why) from None
        elif name.replace("-", "_") in _OWN_KEYS:
            key = name.replace("-", "_")
        elif name in redis_defaults():
            raise _failed(given, "can't set immutable config")
        else:
            raise Error(f"ERR Unknown option or number of arguments for CONFIG SET - '{given}'")
        if key not in RUNTIME:
            raise _failed(given, "can't set immutable config")
        try:
            own[key] = coerce(ServerConfig, key, raw, "CONFIG SET")
        except ConfigError as exc:
            raise _failed(given, str(exc)) from None
    if own.keys() & rocksopts.RUNTIME_KEYS:  # sizes checked together, then resized live
        try:
            server.engine.rocks.check_runtime(dataclasses.replace(cfg, **own))
        except ConfigError as exc:
            name = next(iter(own.keys() & rocksopts.RUNTIME_KEYS)).replace("_", "-")
            raise _failed("maxmemory" if name == "max-memory-bytes" else name, str(exc)) from None
    for key, value in own.items():
        setattr(cfg, key, value)
    if own.keys() & rocksopts.RUNTIME_KEYS:
        server.engine.rocks.apply(cfg)
    server.settings.values.update(live)
    if events is not None:
        server.notify_flags = events
    if "tracking-table-max-keys" in live and server.tracking is not None:
        server.tracking.schedule_limit(server)
    server.diagnostics.refresh()
