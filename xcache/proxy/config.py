"""`xcache proxy` configuration: one flat dataclass, loaded like every other component's config."""

from __future__ import annotations

import os
from dataclasses import dataclass

from xcache import config as shared
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
    users: str = key("", "ACL users (Redis 7.0 rules), one per line or separated by ';', e.g. 'alice on >pw ~app:* +@read'; session_password is the default user's password")
    # Topology. Strings so they work the same in TOML and in --set.
    groups: str = key("", "backend groups: 'id=master[/replica...]' comma separated, e.g. '1=127.0.0.1:6380/127.0.0.1:6390, 2=127.0.0.1:6381'")
    slots: str = key("", "slot ranges 'first-last=group' comma separated; empty = the 1024 slots spread evenly over the groups")
    slots_epoch: int = key(0, "epoch of the slot table above; a pushed table must carry a higher one", minimum=0)
    read_from_replicas: bool = key(False, "send read-only commands to a group's replicas (falls back to the master)")
    backend_password: str = key("", "password the proxy AUTHs with on backend connections")
    backend_tls: bool = key(False, "connect to the backend nodes over TLS (the groups name their tls_port)")
    backend_tls_ca_cert_file: str = key("", "PEM CA certificates the backends' certificates must chain to (empty: not verified)")
    backend_tls_cert_file: str = key("", "PEM client certificate presented to backends that require one")
    backend_tls_key_file: str = key("", "PEM private key of backend_tls_cert_file")
    # Backends.
    backend_connections: int = key(1, "pipelined connections per backend node (requests pick one by slot, so per-key order holds)", minimum=1)
    backend_connect_timeout_ms: int = key(1000, "connect timeout to a backend", minimum=1)
    backend_timeout_ms: int = key(1500, "a request a backend leaves unanswered this long is slow: logged (backend_slow) and counted (backend_timeouts), never re-sent", minimum=1)
    backend_ping_interval_ms: int = key(2000, "PING each backend connection this often", minimum=1)
    migrate_timeout_ms: int = key(10000, "migrating slots: timeout of the MIGRATE that moves a request's keys from the source group to the owner (also how long a source connection may wait for it before it counts as hung)", minimum=1)
    backend_dead_after_ms: int = key(30000, "a backend connection silent this long with requests in flight, while the node answers on none of its other connections (hung, not just busy with a long script), is closed; those requests fail with an error (they may have executed) and are never re-sent", minimum=1)
    backend_wait_replicas: int = key(0, "acknowledged writes for nodes that cannot hold a reply themselves (redis-server groups): every write to a master is followed by `WAIT <this> backend_wait_timeout_ms` on its connection and the client is answered only after it; fewer replicas acknowledging turn the reply into `-NOACK ...` (in doubt). Costs a replica round trip per write and serialises each backend connection behind it (raise backend_connections). 0 = off; xcache nodes have write_ack_replicas instead", minimum=0)
    backend_wait_timeout_ms: int = key(1000, "WAIT timeout of backend_wait_replicas: how long a write's reply waits for its replicas before -NOACK (keep below backend_dead_after_ms and client timeouts)", minimum=1)
    hold_while_master_down: bool = key(False, "hold requests while a group's master is unreachable, expecting a sentinel failover to push a new master within hold_timeout_ms (`xcache up` turns it on); off: such requests fail at once with the reason")
    hold_timeout_ms: int = key(1500, "how long requests of a failing-over group are held before an error (keep below client timeouts)", minimum=1)
    hold_queue_max: int = key(10000, "held requests per group beyond which new ones fail at once", minimum=1)
    hold_retry_interval_ms: int = key(100, "retry period of a held group (reconnect, replay)", minimum=1)
    # Admission gate.
    admission_gate: bool = key(True, "check TCP_INFO of each accepted socket and drop it before any session exists if the client already left or it waited longer than client_timeout_ms minus admit_margin_ms")
    client_timeout_ms: int = key(2000, "typical client connect/AUTH timeout (2 s in the incident): a socket that waited in the accept queue longer than this minus admit_margin_ms is dropped with an RST at accept, before any session exists", minimum=1)
    admit_margin_ms: int = key(500, "time a freshly admitted session may need to be answered, on top of the measured wait for the sessions admitted ahead of it: a socket queued longer than client_timeout_ms minus both is stale (its client would give up before the reply). Measured at 16,000 clients (xcache drill incident): 500 recovers fastest (2.1 s, twemproxy 2.4 s) but up to ~1,000 sessions go to clients that give up before their reply; 1000 leaves almost none and recovers in 2.8 s", minimum=0)
    listen_backlog: int = key(0, "listen backlog per worker; 0 = net.core.somaxconn. Keep it deep: the gate drops dead sockets for microseconds each, while a full queue makes the kernel drop SYNs and clients retry in synchronized waves of 1-3 s timeouts", minimum=0)
    defer_accept_ms: int = key(0, "TCP_DEFER_ACCEPT (0 = off): queue a connection only once its client sent data. Off by default: under a reconnect storm the deferred handshakes filled the SYN queue and cost clients SYN-ACK retransmit timeouts (measured by `xcache drill incident`)", minimum=0)
    accept_batch: int = key(512, "sessions admitted per listener wake-up before the loop serves sessions again (dropped dead sockets do not count; a wake-up also ends after 10 ms)", minimum=1)
    max_clients: int = key(10000, "sessions per worker; past it a new connection is refused at once with Redis's '-ERR max number of clients reached' (not left waiting in the queue)", minimum=1)
    max_clients_per_ip: int = key(0, "concurrent sessions per source IP and worker; 0 = unlimited", minimum=0)
    conn_rate_per_ip: int = key(0, "new connections per second per source IP and worker (burst = one second's worth); 0 = unlimited", minimum=0)
    tls: bool = key(False, "serve the client port over TLS (Python's ssl; clients: redis-cli --tls)")
    tls_cert_file: str = shared.tls_cert_file_key("the client port when tls = true")
    tls_key_file: str = shared.tls_key_file_key()
    tls_ca_cert_file: str = shared.tls_ca_cert_file_key()
    tls_auth_clients: str = shared.tls_auth_clients_key()
    auth_fail_burst: int = shared.auth_fail_burst_key(per_worker=True)
    auth_fail_rate_per_sec: float = shared.auth_fail_rate_per_sec_key(per_worker=True)
    auth_timeout_ms: int = key(5000, "close a session that has not authenticated this long after admission (only with session_password)", minimum=1)
    idle_timeout_ms: int = key(0, "close a session idle this long; 0 = never", minimum=0)
    tracking_table_max_keys: int = key(1000000, "CLIENT TRACKING: keys a worker remembers for its sessions in default mode (Redis's tracking-table-max-keys, CONFIG SET through the proxy sets it); past it the oldest are invalidated; 0 = no limit", minimum=0)
    # Traffic limits.
    qps_limit: int = key(0, "requests/s for the whole proxy (split evenly over workers); 0 = unlimited", minimum=0)
    session_qps_limit: int = key(0, "requests/s per session; 0 = unlimited", minimum=0)
    max_pending_per_session: int = key(1024, "unanswered pipelined requests after which a session stops being read", minimum=1)
    proto_max_bulk_len_bytes: int = shared.proto_max_bulk_len_key()
    proto_max_multibulk_len: int = shared.proto_max_multibulk_len_key()
    # Whole-keyspace and stateful commands (docs/proxy-compatibility.md).
    allow_keys: bool = key(False, "serve KEYS by scanning every group (it blocks each group's node while it runs); off = KEYS is refused, use SCAN")
    allow_flush: bool = key(False, "serve FLUSHDB/FLUSHALL by flushing every group; off = refused")
    allow_replicaof: bool = key(False, "with one group, serve REPLICAOF/SLAVEOF on its master (it changes role: sentinels and the dashboard may act on that), for test suites that demote the server, such as Redis's own; off = refused")
    max_blocked_sessions: int = key(1000, "sessions per worker that may wait in a blocking command (BLPOP, XREAD BLOCK...) at once, each on a backend connection of its own; past it such commands fail at once. Also bounds the connections of their own sessions get during a CLIENT PAUSE or while a script holds a pooled connection (past it, requests share the pooled ones)", minimum=0)
    max_pubsub_sessions: int = key(1000, "sessions per worker that may be subscribed at once (each holds a backend connection per group it listens on); past it SUBSCRIBE fails", minimum=0)
    blocked_commands: str = key("", "circuit breaker at start: commands refused, comma separated (also settable at runtime: PUT /breaker)")
    blocked_write_prefixes: str = key("", "circuit breaker at start: key prefixes whose writes are refused, comma separated")
    # Registration with a dashboard (xcache/proxy/register.py).
    dashboard: str = key("", "dashboard URL to register with (e.g. http://127.0.0.1:18080): the proxy joins the topology on start, renews a lease and leaves on stop; token from $XCACHE_DASHBOARD_TOKEN or dashboard_token_file; empty = not registered")
    dashboard_token_file: str = key("", "file holding the dashboard's admin_token (mode 0600); empty = $XCACHE_DASHBOARD_TOKEN")
    register_ttl_ms: int = key(10000, "registration lease: renewed every third of it; a proxy that stops renewing leaves the topology when it ends", minimum=1000)
    announce_addr: str = key("", "RESP address registered (host:port) as clients reach it; empty = bind:port")
    announce_admin_addr: str = key("", "admin address registered (host:port) as the dashboard reaches it; empty = admin_bind:admin_port")

    def worker_count(self) -> int:
        return self.workers or os.cpu_count() or 1

    def max_worker_count(self) -> int:
        return self.max_workers or 2 * (os.cpu_count() or 1)

    def effective_backlog(self) -> int:
        """listen_backlog, or the deepest queue the kernel allows (net.core.somaxconn)."""
        if self.listen_backlog:
            return self.listen_backlog
        try:
            with open("/proc/sys/net/core/somaxconn") as fh:
                return max(16, int(fh.read()))
        except (OSError, ValueError):
            return 4096

    def stale_after_ms(self) -> int:
        """How long a socket may have waited in the accept queue and still be admitted."""
        return max(1, self.client_timeout_ms - self.admit_margin_ms)


def split_list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]
