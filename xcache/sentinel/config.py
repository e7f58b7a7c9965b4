"""`xcache sentinel` configuration (TOML + flags), defined like ServerConfig in xcache/config.py."""

from __future__ import annotations

from dataclasses import dataclass

from xcache import config as shared
from xcache.config import ConfigError, key


@dataclass
class SentinelConfig:
    """`xcache sentinel`: monitors groups (master + replicas) and fails them over by quorum."""

    bind: str = key("127.0.0.1", "address to listen on")
    port: int = key(26379, "RESP port (Redis Sentinel protocol)", minimum=0)
    announce_ip: str = key("", "address other sentinels use to reach this one; empty = the local address of the link")
    announce_port: int = key(0, "port announced to other sentinels; 0 = `port`", minimum=0)
    monitor: str = key("", "masters to monitor at start: 'name host port quorum', several separated by ','")
    auth_pass: str = key("", "password sent with AUTH to monitored nodes; empty = none")
    requirepass: str = key("", "password clients (and the other sentinels) must AUTH with; empty = none")
    users: str = key("", "ACL users (Redis 7.0 rules), one per line or separated by ';', e.g. 'monitor on >pw +@all -@dangerous'; requirepass is the default user's password; ACL SETUSER/DELUSER change them at run time (not saved)")
    sentinel_pass: str = key("", "password sent with AUTH to the other sentinels; empty = requirepass (all sentinels share it, as in Redis Sentinel)")
    auth_fail_burst: int = shared.auth_fail_burst_key()
    auth_fail_rate_per_sec: float = shared.auth_fail_rate_per_sec_key()
    down_after_ms: int = key(30000, "a node not answering PING this long is subjectively down (SDOWN)", minimum=1)
    stalled_down_after_ms: int = key(60000, "the SDOWN bound for a node whose INFO reports a write stall (it is `stalled`, not down, while it answers)", minimum=1)
    failover_timeout_ms: int = key(180000, "bounds each failover step; a failed attempt is retried after twice this", minimum=100)
    parallel_syncs: int = key(1, "replicas reconfigured at the same time after a failover", minimum=1)
    ping_period_ms: int = key(1000, "PING period per node (capped at down_after_ms)", minimum=10)
    info_period_ms: int = key(10000, "INFO period per data node (1 s while its master is down or failing over)", minimum=10)
    hello_period_ms: int = key(2000, "period of the hello message published on `__sentinel__:hello` through each node", minimum=10)
    state_file: str = key("", "JSON file keeping the run id, epochs and each group's current master across restarts; empty = memory only")
    tls_port: int = shared.tls_port_key()
    tls_cert_file: str = shared.tls_cert_file_key()
    tls_key_file: str = shared.tls_key_file_key()
    tls_ca_cert_file: str = shared.tls_ca_cert_file_key()
    tls_auth_clients: str = shared.tls_auth_clients_key()
    metrics_bind: str = key("127.0.0.1", "address of the HTTP server for /metrics and /health")
    metrics_port: int = key(0, "HTTP port for /metrics and /health; 0 = disabled", minimum=0)


def parse_monitors(value: str) -> list[tuple[str, str, int, int]]:
    """The `monitor` key -> [(name, host, port, quorum)]; ConfigError when malformed."""
    return [parse_monitor(item) for item in value.split(",") if item.strip()]


def parse_monitor(item: str) -> tuple[str, str, int, int]:
    """'name host port quorum' -> (name, host, port, quorum); ConfigError when malformed."""
    parts = item.split()
    if len(parts) != 4:
        raise ConfigError(f"monitor: expected 'name host port quorum', got {item!r}")
    name, host, port, quorum = parts
    try:
        port_i, quorum_i = int(port), int(quorum)
    except ValueError:
        raise ConfigError(f"monitor: port and quorum must be integers in {item!r}") from None
    if quorum_i < 1:
        raise ConfigError(f"monitor: quorum must be >= 1 in {item!r}")
    return name, host, port_i, quorum_i
