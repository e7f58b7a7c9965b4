"""CONFIG GET / CONFIG SET as Redis 7 answers them, over the node's own config.

Three kinds of parameters:
- the node's own keys (`write-stall-timeout-ms`, ...: xcache.config.ServerConfig, '-' for '_'),
  and the Redis names that map onto them (port, dir, maxclients, timeout, appendfsync, ...);
- every other parameter of Redis 7.0 (redisconfig.TABLE, from src/config.c): CONFIG SET checks
  the value as Redis does and keeps it per node in `Settings`; CONFIG GET answers it in Redis's
  form. Some have a real effect here: the slow log and latency monitor thresholds, the encoding
  thresholds (`*-max-listpack-*`, ...: what OBJECT ENCODING reports), the percentiles of INFO
  latencystats, `client-output-buffer-limit normal` (client_output_buffer_limit_bytes).
  The rest (maxmemory-policy, save, appendonly, lazyfree-*, ...) is kept and shown only: a RocksDB
  node has no eviction, RDB schedule or AOF (docs/compatibility.md);
- Redis's IMMUTABLE (and PROTECTED) parameters: CONFIG SET answers Redis's error.
"""

from __future__ import annotations

import dataclasses
import logging
import os

from xcache.config import ConfigError, ServerConfig, coerce
from xcache.resp import Error, Map
from xcache.store import maxmemory, notify, redisconfig, rocksopts
from xcache.store.acl import acl_of
from xcache.store.glob import glob_match
from xcache.store.redisconfig import ALIASES, TABLE

log = logging.getLogger("xcache.server")

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
    # resizeReplicationBacklog: a backlog is at least 16 KiB
    "repl-backlog-size": ("repl_backlog_bytes", str, lambda t: str(max(16384, int(t)))),
    "busy-reply-threshold": ("busy_reply_threshold_ms", *_same),
    "min-replicas-to-write": ("min_replicas_to_write", *_same),
    "min-replicas-max-lag": ("min_replicas_max_lag", *_same),
    "maxmemory": ("max_memory_bytes", *_same), "dir": ("dir", *_same),
    "replicaof": ("replicaof", *_same),
}
# Keys of ServerConfig that CONFIG SET may change at runtime.
RUNTIME = {"port", "requirepass", "maxclients", "timeout_ms", "write_stall_timeout_ms",
           "write_stall_backoff_ms", "client_output_buffer_limit_bytes",
           "proto_max_bulk_len_bytes", "proto_max_multibulk_len", "replica_priority",
           "masterauth", "wal_sync", "expire_collector_interval_ms", "expire_collector_batch",
           "repl_timeout_ms", "busy_reply_threshold_ms", "min_replicas_to_write", "min_replicas_max_lag",
           "write_ack_replicas", "write_ack_timeout_ms", "repl_backlog_bytes",
           *rocksopts.RUNTIME_KEYS}
_OWN_KEYS = {f.name for f in dataclasses.fields(ServerConfig)}
# Redis names that are also node keys (tls-port, tls-cert-file, ...): the node's value answers.
OWN_REDIS_NAMES = {n for n in TABLE if n.replace("-", "_") in _OWN_KEYS and n not in MAPPED}
# Redis parameters that always show the node's own state (one thread, ...; a replica is never
# written by clients: its keyspace is the master's stream). CONFIG SET to another value fails.
FIXED = {"io-threads": "1", "daemonize": "no", "pidfile": "", "logfile": "",
         "replica-read-only": "yes"}
# Parameters the node starts with other than Redis's defaults: what it does (no RDB snapshots;
# DEBUG is served, so that test suites run without a flag of ours).
NODE_DEFAULTS = {"save": "", "appendonly": "no", "enable-debug-command": "yes"}


def _hidden(name: str) -> bool:
    """HIDDEN_CONFIG parameters answer an exact CONFIG GET, never a pattern."""
    p = TABLE.get(ALIASES.get(name, name))
    return p is not None and "HIDDEN" in p["flags"]


class Settings:
    """The Redis parameters a node keeps itself (not served by its config), in CONFIG GET form."""

    def __init__(self):
        self.values: dict[str, str] = {
            name: NODE_DEFAULTS.get(name, p["default"]) for name, p in TABLE.items()
            if name not in MAPPED and name not in FIXED and name not in OWN_REDIS_NAMES}

    def int(self, name: str) -> int:
        return int(self.values[name])


def _obuf_limits(server) -> str:
    """client-output-buffer-limit with the normal class's hard limit from the node's config."""
    parts = server.settings.values["client-output-buffer-limit"].split()
    parts[1] = str(server.cfg.client_output_buffer_limit_bytes)
    return " ".join(parts)


def _items(server) -> dict[str, str]:
    cfg = server.cfg
    items = dict(server.settings.values)
    for name, (key, to_text, _) in MAPPED.items():
        items[name] = to_text(getattr(cfg, key))
    items.update(FIXED)
    items["dir"] = os.path.abspath(cfg.dir)
    items["client-output-buffer-limit"] = _obuf_limits(server)
    for alias, name in ALIASES.items():
        items[alias] = items.get(name, "")
    for f in dataclasses.fields(cfg):
        own = f.name.replace("_", "-")
        value = getattr(cfg, f.name)
        if own in OWN_REDIS_NAMES and isinstance(value, bool):
            value = "yes" if value else "no"  # as Redis shows its bool parameters
        items.setdefault(own, str(value))
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
            if not _hidden(name) and glob_match(pattern, name.encode()):
                found[name] = value
    out = Map()
    for name, value in found.items():
        out += [name.encode(), value.encode(errors="surrogateescape")]
    return out


def memtoull(text: str) -> int:
    """A memory amount as Redis writes them ('100mb', '1gb', '5k', '1024'); digits required."""
    value = redisconfig.memtoull(text.strip().encode())
    if value is None or not text.strip()[:1].isdigit():
        raise ValueError(text)
    return value


def _failed(name: str, why: str) -> Error:
    return Error(f"ERR CONFIG SET failed (possibly related to argument '{name}') - {why}")


def _lookup(lname: str) -> tuple[str, str] | None:
    """(kind, name) of a lower-case CONFIG SET name: 'mapped' (a Redis name served by a node key),
    'own' (a node key, also where Redis has the same name: tls-port, ...) or 'redis'."""
    if ALIASES.get(lname, lname) in MAPPED:
        return "mapped", ALIASES.get(lname, lname)
    if lname.replace("-", "_") in _OWN_KEYS:
        return "own", lname
    if lname in TABLE or lname in ALIASES:
        return "redis", ALIASES.get(lname, lname)
    return None


def _refusal(kind: str, name: str) -> str | None:
    """Redis's refusal of a parameter whatever the value (checked before any value)."""
    p = TABLE.get(name) if kind != "own" else None
    if p is not None and "IMMUTABLE" in p["flags"]:
        return "can't set immutable config"
    if p is not None and "PROTECTED" in p["flags"]:  # enable-protected-configs is always no
        return "can't set protected config"
    return None


def _fixed_here(kind: str, name: str) -> bool:
    """A parameter the node cannot change while running (port, bind, rocksdb-bloom-bits-per-key
    ...): setting it to the value it has is a no-op, as in Redis; another value is refused."""
    if kind == "mapped":
        return MAPPED[name][0] not in RUNTIME
    return kind == "own" and name.replace("-", "_") not in RUNTIME


def config_set(server, args: list[bytes]) -> None:
    """CONFIG SET name value [name value ...]: all applied, or none (as Redis 7).

    As config.c: first every name is looked up (unknown, immutable and duplicate names fail with
    the name as given), then every value is checked in order (failing with the name as Redis
    registers it, alias or not)."""
    cfg = server.cfg
    targets: list[tuple[str, str, str, bytes]] = []  # (registered name, kind, canonical, value)
    seen: set[str] = set()
    for i in range(0, len(args), 2):
        given = args[i].decode("utf-8", "surrogateescape")
        lname = given.lower()
        found = _lookup(lname)
        if found is None:
            raise Error(f"ERR Unknown option or number of arguments for CONFIG SET - '{given}'")
        kind, name = found
        why = _refusal(kind, name)
        if why:
            raise _failed(given, why)
        if lname in seen:
            raise _failed(given, "duplicate parameter")
        seen.add(lname)
        targets.append((lname, kind, name, args[i + 1]))
    own: dict[str, object] = {}
    live: dict[str, str] = {}
    for lname, kind, name, raw in targets:
        if kind != "own":
            current = live.get(name) or (_obuf_limits(server) if name == "client-output-buffer-limit"
                                         else "")
            try:
                text = redisconfig.parse(name, raw, current)
            except redisconfig.Invalid as exc:
                raise _failed(lname, str(exc)) from None
            if name in FIXED:
                if text != FIXED[name]:
                    raise _failed(lname, "can't set immutable config")
                continue
            if kind == "redis":
                live[name] = text
                if name == "client-output-buffer-limit":
                    key, text = "client_output_buffer_limit_bytes", text.split()[1]
                else:
                    continue
            else:
                key, _, from_text = MAPPED[name]
                text = from_text(text)
        else:
            key, text = name.replace("-", "_"), raw.decode("utf-8", "surrogateescape")
        try:
            value = coerce(ServerConfig, key, text, "CONFIG SET")
        except ConfigError as exc:
            raise _failed(lname, str(exc)) from None
        if _fixed_here(kind, name):
            if value != getattr(cfg, key):
                raise _failed(lname, "can't set immutable config")
            continue
        own[key] = value
    port_sock = None
    if own.get("port", cfg.port) != cfg.port:  # applied first: nothing is set if it fails
        try:
            if not own["port"]:
                raise OSError("the node always listens on a TCP port")
            port_sock = server.listen_socket(own["port"])
        except OSError as exc:
            raise _failed("port", f"Unable to listen on this port: {exc.strerror or exc}") from None
    if own.keys() & rocksopts.RUNTIME_KEYS:  # sizes checked together, then resized live
        try:
            server.engine.rocks.check_runtime(dataclasses.replace(cfg, **own))
        except ConfigError as exc:
            name = next(iter(own.keys() & rocksopts.RUNTIME_KEYS)).replace("_", "-")
            if port_sock is not None:
                port_sock.close()
            raise _failed("maxmemory" if name == "max-memory-bytes" else name, str(exc)) from None
    for key, value in own.items():
        setattr(cfg, key, value)
    if port_sock is not None:
        server.change_port(port_sock)
    if own.keys() & rocksopts.RUNTIME_KEYS:
        server.engine.rocks.apply(cfg)
        maxmemory.update(server)
        if server.over_maxmemory:
            maxmemory.out_of_memory(server)  # updateMaxmemory evicts at once (performEvictions)
        if "max_memory_bytes" in own and server.engine.rocks.pending(cfg):
            log.warning("event=maxmemory_at_restart maxmemory=%d message=a budget is turned on or "
                        "off when RocksDB opens: the sizes stay until a restart",
                        cfg.max_memory_bytes)
    if "repl_backlog_bytes" in own:
        server.replication.resize_backlog()
    server.settings.values.update(live)
    if "acllog-max-len" in live:
        acl_of(server).log_max_len = int(live["acllog-max-len"])
    if "notify-keyspace-events" in live:
        server.notify_flags = notify.parse_flags(live["notify-keyspace-events"])
    if live.keys() & {"maxmemory-policy", "lfu-log-factor", "lfu-decay-time"}:
        server.access.configure(server.settings.values)
    if "tracking-table-max-keys" in live and server.tracking is not None:
        server.tracking.schedule_limit(server)
    server.diagnostics.refresh()
