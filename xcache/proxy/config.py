"""`xcache proxy` configuration: one flat dataclass, loaded like every other component's config."""

from __future__ import annotations

import os
from dataclasses import dataclass

from xcache.config import key


@dataclass
class ProxyConfig:
    """`xcache proxy`: slot-routing proxy with an admission gate."""

    bind: str = key("127.0.0.1", "address of the RESP port")
    port: int = key(19000, "RESP port clients connect to", minimum=0)
    admin_bind: str = key("127.0.0.1", "address of the admin HTTP API (slots, stats, metrics)")
    admin_port: int = key(11080, "admin HTTP port", minimum=0)
    admin_token: str = key("", "token required by state-changing admin endpoints (PUT); empty = those endpoints are refused")
    workers: int = key(0, "worker processes sharing the port with SO_REUSEPORT; 0 = number of cores", minimum=0)
    max_workers: int = key(0, "most workers PUT /workers may resize to; 0 = twice the number of cores", minimum=0)
    worker_drain_timeout_ms: int = key(30000, "shrinking: how long a retiring worker may drain its accept queue and let its sessions finish before it is stopped", minimum=1)
    session_password: str = key("", "password clients must AUTH with; empty = no AUTH needed")
    # Topology. Strings so they work the same in TOML and in --set.
    groups: str = key("", "backend groups: 'id=master[/replica...]' comma separated, e.g. '1=127.0.0.1:6380/127.0.0.1:6390, 2=127.0.0.1:6381'")
    slots: str = key("", "slot ranges 'first-last=group' comma separated; empty = the 1024 slots spread evenly over the groups")
    slots_epoch: int = key(0, "epoch of the slot table above; a pushed table must carry a higher one", minimum=0)
    read_from_replicas: bool = key(False, "send read-only commands to a group's replicas (falls back to the master)")
    backend_password: str = key("", "password the proxy AUTHs with on backend connections")
    # Backends.
    backend_connections: int = key(1, "pipelined connections per backend node (requests pick one by slot, so per-key order holds)", minimum=1)
    backend_connect_timeout_ms: int = key(1000, "connect timeout to a backend", minimum=1)
    backend_timeout_ms: int = key(1500, "a backend that leaves a request unanswered this long is considered hung: the connection is closed (reads replayed, writes failed); keep it below client timeouts (2 s in the incident) so the proxy notices a hung master before its clients give up", minimum=1)
    backend_ping_interval_ms: int = key(2000, "PING each backend connection this often", minimum=1)
    migrate_timeout_ms: int = key(10000, "migrating slots: timeout of the MIGRATE that moves a request's keys from the source group to the owner (also how long a source connection may wait for it before it counts as hung)", minimum=1)
    hold_timeout_ms: int = key(1500, "how long requests of a failing-over group are held before an error (keep below client timeouts)", minimum=1)
    hold_queue_max: int = key(10000, "held requests per group beyond which new ones fail at once", minimum=1)
    hold_retry_interval_ms: int = key(100, "retry period of a held group (reconnect, replay)", minimum=1)
    # Admission gate.
    admission_gate: bool = key(True, "check TCP_INFO of each accepted socket and drop it before any session exists if the client already left or it waited longer than client_timeout_ms")
    client_timeout_ms: int = key(2000, "typical client connect/AUTH timeout: a socket queued longer is dropped at accept; sizes the auto backlog", minimum=1)
    accept_rate_per_sec: int = key(2000, "sustained accepts/s one worker manages; auto backlog = this x client_timeout_ms", minimum=1)
    listen_backlog: int = key(0, "listen backlog per worker; 0 = auto (accept_rate_per_sec x client_timeout_ms / 1000, capped by net.core.somaxconn)", minimum=0)
    defer_accept_ms: int = key(1000, "TCP_DEFER_ACCEPT: wake the proxy only once a client sent data (clients speak first in RESP); 0 = off", minimum=0)
    accept_batch: int = key(64, "sockets accepted per listener wake-up before yielding to sessions", minimum=1)
    max_clients: int = key(10000, "sessions per worker; at the limit the listener pauses (no accept-then-error)", minimum=1)
    resume_clients_pct: int = key(90, "a paused listener resumes when sessions fall to this percentage of max_clients", minimum=1)
    max_clients_per_ip: int = key(0, "concurrent sessions per source IP and worker; 0 = unlimited", minimum=0)
    conn_rate_per_ip: int = key(0, "new connections per second per source IP and worker (burst = one second's worth); 0 = unlimited", minimum=0)
    auth_timeout_ms: int = key(5000, "close a session that has not authenticated this long after admission (only with session_password)", minimum=1)
    idle_timeout_ms: int = key(0, "close a session idle this long; 0 = never", minimum=0)
    # Traffic limits.
    qps_limit: int = key(0, "requests/s for the whole proxy (split evenly over workers); 0 = unlimited", minimum=0)
    session_qps_limit: int = key(0, "requests/s per session; 0 = unlimited", minimum=0)
    max_pending_per_session: int = key(1024, "unanswered pipelined requests after which a session stops being read", minimum=1)
    proto_max_bulk_len_bytes: int = key(512 * 1024 * 1024, "largest bulk string a client may send", minimum=1)
    proto_max_multibulk_len: int = key(1024 * 1024, "most arguments in one command", minimum=1)
    # Whole-keyspace and stateful commands (docs/proxy-compatibility.md).
    allow_keys: bool = key(False, "serve KEYS by scanning every group (it blocks each group's node while it runs); off = KEYS is refused, use SCAN")
    allow_flush: bool = key(False, "serve FLUSHDB/FLUSHALL by flushing every group; off = refused")
    max_blocked_sessions: int = key(1000, "sessions per worker that may wait in a blocking command (BLPOP, XREAD BLOCK...) at once, each on a backend connection of its own; past it such commands fail at once", minimum=0)
    max_pubsub_sessions: int = key(1000, "sessions per worker that may be subscribed at once (each holds a backend connection per group it listens on); past it SUBSCRIBE fails", minimum=0)
    blocked_commands: str = key("", "circuit breaker at start: commands refused, comma separated (also settable at runtime: PUT /breaker)")
    blocked_write_prefixes: str = key("", "circuit breaker at start: key prefixes whose writes are refused, comma separated")

    def worker_count(self) -> int:
        return self.workers or os.cpu_count() or 1

    def max_worker_count(self) -> int:
        return self.max_workers or 2 * (os.cpu_count() or 1)

    def effective_backlog(self) -> int:
        """The documented rule: what one worker can drain within the client timeout, no more."""
        if self.listen_backlog:
            return self.listen_backlog
        want = self.accept_rate_per_sec * self.client_timeout_ms // 1000
        try:
            with open("/proc/sys/net/core/somaxconn") as fh:
                cap = int(fh.read())
        except (OSError, ValueError):
            cap = 4096
        return max(16, min(want, cap))


def split_list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]
