"""`xcache dashboard` and `xcache up` configuration, defined like ServerConfig in xcache/config.py."""

from __future__ import annotations

from dataclasses import dataclass

from xcache.config import key


@dataclass
class DashboardConfig:
    """`xcache dashboard`: controller + HTTP API + web UI."""

    bind: str = key("127.0.0.1", "address of the HTTP API and web UI")
    port: int = key(18080, "HTTP port of the API and web UI", minimum=0)
    coordinator: str = key("file://./xcache-dashboard", "where the topology lives: file:///dir or etcd://host:port[/prefix]")
    standby: bool = key(False, "the coordinator is owned by another dashboard: wait and take over when its ownership ends (etcd: its lease expires) instead of exiting")
    product: str = key("xcache", "cluster name (etcd key prefix xcache/<product> when the URL has none)")
    admin_token: str = key("", "bearer token the HTTP API requires (GET /health and /metrics excepted); empty = no auth (local use only)")
    proxy_admin_token: str = key("", "token the dashboard sends to the proxies' admin API (their admin_token)")
    server_password: str = key("", "password the dashboard AUTHs with on storage nodes (REPLICAOF, ROLE, INFO)")
    sentinel_password: str = key("", "password the dashboard AUTHs with on the sentinels (their requirepass)")
    sentinel_quorum: int = key(0, "quorum given to sentinels in SENTINEL MONITOR; 0 = majority of the sentinels", minimum=0)
    reconcile_interval_ms: int = key(1000, "period of the reconcile loop: proxies' tables, sentinels' monitors, server roles, stats", minimum=50)
    request_timeout_ms: int = key(2000, "timeout of one call to a proxy, server or sentinel", minimum=10)
    # Online slot migration (xcache/dashboard/migration.py).
    migration_wave_slots: int = key(64, "slots moved together: marked migrating at once, then swept with one SCAN of their source per pass", minimum=1)
    migration_batch_keys: int = key(100, "keys per MIGRATE call (the source blocks, or an xcache node locks the keys, for one batch)", minimum=1)
    migration_scan_count: int = key(1000, "COUNT of each SCAN of a source node while sweeping", minimum=1)
    migration_timeout_ms: int = key(5000, "MIGRATE's timeout: one network operation between source and target", minimum=1)
    # Alerts (the conditions of deploy/prometheus/alerts.yml, evaluated every reconcile period).
    alert_webhook_url: str = key("", "POST alerts here when they fire or resolve (and again every alert_resend_interval_ms while active); empty = UI only")
    alert_webhook_format: str = key("webhook", "'webhook': Alertmanager's webhook-receiver body (version 4); 'alertmanager': the alert list of an Alertmanager's POST /api/v2/alerts", choices=("webhook", "alertmanager"))
    alert_resend_interval_ms: int = key(60000, "re-post active alerts this often (Alertmanager resolves alerts not re-sent)", minimum=1000)
    # The console's history (xcache/dashboard/history.py).
    history_resolution_ms: int = key(5000, "one sample of every proxy's and node's key figures this often (charts in the web UI, GET /api/history)", minimum=100)
    history_keep_ms: int = key(3600000, "how long the history is kept (in memory)", minimum=1000)
    replica_lag_warn_bytes: int = key(1048576, "the UI warns about a replica this many bytes behind its master (or with its link down)", minimum=0)
    # Automatic proxy scale-out (xcache/dashboard/scale.py).
    scale_mode: str = key("off", "'off'; 'local': add workers to the running proxies (their PUT /workers), same addresses; 'local-proxy': start extra `xcache proxy` processes on this machine on new ports and add them to the topology; 'hook': run scale_hook_command / POST scale_hook_url", choices=("off", "local", "local-proxy", "hook"))
    scale_queue_fill_pct: int = key(50, "scale out when a proxy's listen queue stays above this percentage of its backlog", minimum=1)
    scale_loop_lag_ms: int = key(100, "... or when a proxy's event-loop lag stays above this", minimum=1)
    scale_up_after_ms: int = key(5000, "how long a threshold must be exceeded before scaling out", minimum=0)
    scale_down_after_ms: int = key(60000, "how long all proxies must be calm (queue < 5%, lag < 20 ms) before an added proxy is removed", minimum=0)
    scale_cooldown_ms: int = key(15000, "minimum time between two scale actions", minimum=0)
    scale_max_extra: int = key(2, "most scale-ups in a row: workers added per proxy (local), proxies added (local-proxy), hook calls (hook)", minimum=0)
    scale_proxy_bind: str = key("127.0.0.1", "local-proxy mode: address the added proxies listen on")
    scale_proxy_config: str = key("", "local-proxy mode: TOML config file of the added proxies (e.g. holding session_password and backend_password); the dashboard adds admin_token in a private copy")
    scale_proxy_set: str = key("", "local-proxy mode: extra settings of added proxies ('key=value' separated by spaces)")
    scale_hook_command: str = key("", "hook mode: shell command run with XCACHE_SCALE (up or down), XCACHE_SCALE_FILL, XCACHE_SCALE_LAG_S in its environment")
    scale_hook_url: str = key("", "hook mode: URL POSTed {action, fill, lag_s, proxies} on each scale action")


@dataclass
class UpConfig:
    """`xcache up`: a whole local cluster in one command."""

    dir: str = key("./xcache-data", "data directory: node data, logs, the coordinator, up.json")
    groups: int = key(2, "groups (shards) to create on the first run", minimum=1)
    replicas: int = key(1, "replicas per group", minimum=0)
    proxies: int = key(1, "proxies", minimum=1)
    sentinels: int = key(3, "sentinels", minimum=0)
    base_port: int = key(0, "0 = the standard ports (servers 6380+, sentinels 26379+, proxy 19000/admin 11080, dashboard 18080); N = everything packed from N (servers N.., sentinels N+100.., proxies N+200.., proxy admin N+300.., dashboard N+400)", minimum=0)
    proxy_workers: int = key(1, "worker processes per proxy", minimum=1)
    down_after_ms: int = key(3000, "sentinels' down_after_ms: how fast a dead master is failed over", minimum=1)
    failover_timeout_ms: int = key(10000, "sentinels' failover_timeout_ms", minimum=100)
    hold_timeout_ms: int = key(8000, "proxies' hold_timeout_ms: how long a request waits for a failing-over group", minimum=1)
    server_set: str = key("", "extra settings for every storage node: 'key=value' pairs separated by spaces, e.g. 'wal_sync=always'")
    sentinel_set: str = key("", "extra settings for every sentinel ('key=value' separated by spaces)")
    proxy_set: str = key("", "extra settings for every proxy ('key=value' separated by spaces)")
    dashboard_set: str = key("", "extra settings for the dashboard ('key=value' separated by spaces)")
    start_timeout_ms: int = key(30000, "how long to wait for every process to listen", minimum=100)
    passwords: bool = key(True, "generate a password for the storage nodes, the sentinels and the proxies' clients on the first run and wire them (backend_password, masterauth, sentinel auth_pass, the dashboard's clients); secrets reach the processes through 0600 config files, never command lines")
    # Supervision (xcache/dashboard/supervisor.py).
    restart_backoff_max_ms: int = key(5000, "a child that died is restarted after 200 ms, doubled after each fast crash up to this", minimum=10)
    fast_crash_ms: int = key(10000, "a child that ran less than this before dying counts as a fast crash", minimum=100)
    crash_loop_after: int = key(5, "fast crashes in a row after which a child is left down (XcacheChildCrashLoop; `xcache admin restart-child` starts it again)", minimum=1)
