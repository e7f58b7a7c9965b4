"""The dashboard's own alert evaluation: the conditions of deploy/prometheus/alerts.yml (same alert
names, same thresholds), for users without Prometheus. Sans-IO: `AlertEvaluator.evaluate(snapshot,
now)` takes what the controller already polls (proxies' /stats, storage nodes' INFO, sentinels'
SENTINEL MASTERS) as plain dicts and returns the active alerts plus what changed; the controller
posts the changes in Alertmanager format (payload()) to alert_webhook_url. snapshot() builds the
snapshot from the controller's polled state, should_post() decides when the webhook is called;
the Alerting class at the end is the thin shell that evaluates each reconcile and posts.

Snapshot:
  {"proxies":   {addr: summary | None},   # summary = proxies.summary(/stats); None = unreachable
   "servers":   {addr: {"up": bool, "write_stall_active": 0|1, "write_stall_seconds": float,
                         "disk_full": 0|1, "disk_error_seconds": float}},
   "sentinels": {"total": int, "up": int, "masters": {group_name: "flags,string"}},
   "switches":  {group_name: count},     # failovers the dashboard followed
   "migration": {"waiting": slots pending + migrating, "paused": bool, "moved": keys + slots moved},
   "supervised": {child name: {"state": "running"|"backoff"|"crash_loop"|..., "fast_crashes": n}}}
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from xcache.dashboard.topology import group_id_of_name

if TYPE_CHECKING:
    from xcache.dashboard.controller import Controller
    from xcache.dashboard.topology import Topology

# name: (severity, summary template); the same names as deploy/prometheus/alerts.yml
RULES = {
    "XcacheAcceptQueueOverflow": ("critical", "Accept queue overflow on {instance}"),
    "XcacheListenQueueHalfFull": ("warning", "Listen queue on {instance} above half its backlog"),
    "XcacheDeadSocketDrops": ("warning", "Proxy {instance} drops dead sockets at accept"),
    "XcacheSessionsNearMax": ("warning", "Proxy {instance} sessions near max_clients"),
    "XcacheClientsRefused": ("critical", "Proxy {instance} refuses new clients at max_clients"),
    "XcacheQpsLimitHit": ("warning", "Proxy {instance} refuses requests over its QPS limit"),
    "XcacheEventLoopLag": ("warning", "Proxy {instance} event loop lagging"),
    "XcacheHeldRequestsTimingOut": ("critical", "Held requests of group {group} time out on {instance}"),
    "XcacheFailoverStarted": ("critical", "Failover of {master} in progress"),
    "XcacheFailoverFinished": ("warning", "{master} got a new master"),
    "XcacheNodeWriteStall": ("warning", "Storage node {instance} is stalling writes"),
    "XcacheNodeDiskFull": ("critical", "Storage node {instance} refuses writes: disk full or failing"),
    "XcacheSentinelQuorumLost": ("critical", "Sentinel quorum lost"),
    "XcacheMigrationStalled": ("warning", "Slot migration on {instance} makes no progress"),
    "XcacheServerDown": ("critical", "Storage node {server} of group {group} is down"),
    "XcacheChildCrashLoop": ("critical", "{child} is crash-looping and left down by xcache up"),
}


@dataclass
class Thresholds:
    """Thresholds and `for` durations; defaults equal the Prometheus rules."""

    counter_window_s: float = 60.0
    listen_queue_fill: float = 0.5
    listen_queue_for_s: float = 5.0
    sessions_fill: float = 0.9
    sessions_for_s: float = 60.0
    loop_lag_s: float = 0.1
    loop_lag_for_s: float = 30.0
    write_stall_for_s: float = 10.0
    quorum_for_s: float = 10.0
    failover_finished_window_s: float = 300.0
    migration_stalled_for_s: float = 300.0
    server_down_for_s: float = 5.0


class _Counter:
    """Samples of one counter: increase over a window, reset-aware (like PromQL increase())."""

    def __init__(self):
        self.samples: deque[tuple[float, float]] = deque()

    def add(self, now: float, value: float, window: float) -> float:
        self.samples.append((now, value))
        while self.samples and self.samples[0][0] < now - window:
            self.samples.popleft()
        inc, prev = 0.0, None
        for _, v in self.samples:
            if prev is not None:
                inc += v - prev if v >= prev else v
            prev = v
        return inc


class AlertEvaluator:
    def __init__(self, thresholds: Thresholds | None = None):
        self.t = thresholds or Thresholds()
        self.counters: dict[tuple, _Counter] = {}
        self.pending: dict[tuple, float] = {}  # condition key -> since (for `for:` durations)
        self.active: dict[tuple, dict] = {}     # alert key -> alert
        self.fired_total: dict[str, int] = {n: 0 for n in RULES}

    def _increase(self, key: tuple, value: float, now: float, window: float | None = None) -> float:
        c = self.counters.setdefault(key, _Counter())
        return c.add(now, float(value), window or self.t.counter_window_s)

    def _held(self, key: tuple, cond: bool, now: float, for_s: float) -> bool:
        if not cond:
            self.pending.pop(key, None)
            return False
        since = self.pending.setdefault(key, now)
        return now - since >= for_s

    def conditions(self, snap: dict, now: float) -> list[tuple[str, dict, str]]:
        """(alertname, labels, description) for every condition true now."""
        t = self.t
        out: list[tuple[str, dict, str]] = []
        for addr, s in sorted((snap.get("proxies") or {}).items()):
            if not s:
                continue
            lab = {"instance": addr}
            inc = self._increase(("overflows", addr), s.get("listen_overflows", 0), now)
            if inc > 0:
                out.append(("XcacheAcceptQueueOverflow", lab,
                            f"TcpExt ListenOverflows rose by {inc:g} in {t.counter_window_s:g}s: the kernel is "
                            "dropping new connections. Add proxy capacity and check for a reconnect storm."))
            fill = s.get("listen_queue_fill", 0.0)
            if self._held(("lq", addr), fill > t.listen_queue_fill, now, t.listen_queue_for_s):
                out.append(("XcacheListenQueueHalfFull", lab,
                            f"{fill:.0%} of the backlog is queued: the proxy does not accept as fast as clients connect."))
            inc = self._increase(("dropped", addr), s.get("accept_dropped", 0), now)
            if inc > 0:
                out.append(("XcacheDeadSocketDrops", lab,
                            f"{inc:g} queued connections were already abandoned by their clients in the last "
                            f"{t.counter_window_s:g}s (reconnect storm or a stalled proxy)."))
            smax = s.get("sessions_max") or 0
            sfill = s.get("sessions", 0) / smax if smax else 0.0
            if self._held(("sess", addr), sfill > t.sessions_fill, now, t.sessions_for_s):
                out.append(("XcacheSessionsNearMax", lab, f"{sfill:.0%} of max_clients in use."))
            rej = s.get("rejected_by_reason") or {}
            inc = self._increase(("maxclients", addr), rej.get("max_clients", 0), now)
            if inc > 0:
                out.append(("XcacheClientsRefused", lab,
                            f"{inc:g} connections refused in {t.counter_window_s:g}s at max_clients: add workers "
                            "or proxies (scale out), or raise max_clients if the host has room."))
            inc = self._increase(("qps", addr), rej.get("qps_global", 0) + rej.get("qps_session", 0), now)
            if inc > 0:
                out.append(("XcacheQpsLimitHit", lab, f"{inc:g} requests refused by the QPS limit."))
            lag = s.get("loop_lag_s", 0.0)
            if self._held(("lag", addr), lag > t.loop_lag_s, now, t.loop_lag_for_s):
                out.append(("XcacheEventLoopLag", lab, f"Worst worker loop lag {lag:.3f}s: scale out."))
            for gid, n in sorted((s.get("hold_timeouts") or {}).items()):
                inc = self._increase(("hold", addr, gid), n, now)
                if inc > 0:
                    out.append(("XcacheHeldRequestsTimingOut", {**lab, "group": str(gid)},
                                f"{inc:g} held requests expired: the failover takes longer than hold_timeout_ms."))
        for addr, s in sorted((snap.get("servers") or {}).items()):
            stalled = bool(s.get("up") and s.get("write_stall_active"))
            if self._held(("stall", addr), stalled, now, t.write_stall_for_s):
                out.append(("XcacheNodeWriteStall", {"instance": addr},
                            f"RocksDB write stall for {float(s.get('write_stall_seconds', 0)):.0f}s."))
            if s.get("up") and s.get("disk_full"):
                out.append(("XcacheNodeDiskFull", {"instance": addr},
                            f"Writes are answered -MISCONF since {float(s.get('disk_error_seconds', 0)):.0f}s "
                            "ago: free space in the node's data dir; writes resume by themselves."))
            if s.get("group") is not None and self._held(("down", addr), not s.get("up"), now,
                                                          t.server_down_for_s):
                out.append(("XcacheServerDown", {"server": addr, "group": str(s["group"])},
                            f"The dashboard gets no INFO from it ({s.get('expected_role', '?')} in the "
                            "topology): restart it; an old master comes back fenced and rejoins as a replica."))
        for child, st in sorted((snap.get("supervised") or {}).items()):
            if st.get("state") == "crash_loop":
                out.append(("XcacheChildCrashLoop", {"child": child},
                            f"It exited {st.get('fast_crashes')} times in a row soon after starting: "
                            "see its log in the up data dir, fix the cause, then `xcache admin restart-child`."))
        sen = snap.get("sentinels") or {}
        for name, flags in sorted((sen.get("masters") or {}).items()):
            if "o_down" in flags or "failover" in flags:
                out.append(("XcacheFailoverStarted", {"master": name},
                            f"The sentinels consider the master of {name} objectively down ({flags})."))
        for name, n in sorted((snap.get("switches") or {}).items()):
            if self._increase(("switch", name), n, now, t.failover_finished_window_s) > 0:
                out.append(("XcacheFailoverFinished", {"master": name},
                            f"The master of {name} was switched in the last {t.failover_finished_window_s:g}s."))
        total = sen.get("total", 0)
        lost = bool(total) and sen.get("up", 0) < total // 2 + 1
        if self._held(("quorum",), lost, now, t.quorum_for_s):
            out.append(("XcacheSentinelQuorumLost", {},
                        f"Only {sen.get('up', 0)} of {total} sentinels answer: no failover can be authorized."))
        mig = snap.get("migration") or {}
        moving = self._increase(("migration",), mig.get("moved", 0), now, t.migration_stalled_for_s) > 0
        stalled = bool(mig.get("waiting")) and not mig.get("paused") and not moving
        if self._held(("migration",), stalled, now, t.migration_stalled_for_s):
            out.append(("XcacheMigrationStalled", {"instance": snap.get("instance", "dashboard")},
                        f"{mig['waiting']} slots wait to move and nothing moved in "
                        f"{t.migration_stalled_for_s / 60:g} minutes: see GET /api/migration (state, last_error); "
                        "remove a dead proxy from the topology, fix or fail over a node refusing MIGRATE."))
        return out

    def evaluate(self, snap: dict, now: float | None = None) -> tuple[list[dict], list[dict]]:
        """(active alerts, changes): changes are alerts that started firing or resolved now."""
        now = time.time() if now is None else now
        seen: dict[tuple, dict] = {}
        for name, labels, desc in self.conditions(snap, now):
            severity, summary = RULES[name]
            full = {"alertname": name, "severity": severity, **labels}
            key = tuple(sorted(full.items()))
            prev = self.active.get(key)
            seen[key] = {"labels": full, "annotations": {"summary": summary.format(**labels), "description": desc},
                         "startsAt": prev["startsAt"] if prev else now, "endsAt": None, "status": "firing"}
        changes = []
        for key, a in seen.items():
            if key not in self.active:
                self.fired_total[a["labels"]["alertname"]] += 1
                changes.append(a)
        for key, a in self.active.items():
            if key not in seen:
                changes.append({**a, "status": "resolved", "endsAt": now})
        self.active = seen
        return list(seen.values()), changes


def _iso(ts: float | None) -> str:
    if ts is None:
        return "0001-01-01T00:00:00Z"
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"


def payload(alerts: list[dict], fmt: str, external_url: str = "") -> object:
    """Alertmanager JSON. fmt 'webhook': the body Alertmanager sends to webhook receivers
    (version 4); fmt 'alertmanager': the list POSTed to an Alertmanager's /api/v2/alerts."""
    items = [{"status": a["status"], "labels": a["labels"], "annotations": a["annotations"],
              "startsAt": _iso(a["startsAt"]), "endsAt": _iso(a["endsAt"]),
              "generatorURL": f"{external_url}/ui/"} for a in alerts]
    if fmt == "alertmanager":
        return [{k: v for k, v in i.items() if k != "status"} for i in items]
    firing = any(a["status"] == "firing" for a in alerts)
    common = dict(items[0]["labels"]) if items else {}
    for i in items[1:]:
        common = {k: v for k, v in common.items() if i["labels"].get(k) == v}
    return {"version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0,
            "status": "firing" if firing else "resolved", "receiver": "xcache-dashboard",
            "groupLabels": {}, "commonLabels": common, "commonAnnotations": {},
            "externalURL": external_url, "alerts": items}


# --- the snapshot and the webhook decision -------------------------------------------------------
ODOWN_EVENT_TTL_S = 60.0


def snapshot(topo: Topology, proxy_state: dict[str, dict], server_state: dict[str, dict],
             sentinel_state: dict[str, dict], odown_seen: dict[str, float],
             switch_counts: dict[str, int], migration: dict, instance: str,
             supervised: dict | None = None) -> dict:
    """The evaluator's snapshot from what the controller polled. odown_seen: group name -> when a
    sentinel published +odown (a failover is often over within one reconcile period: a +odown
    seen since the last evaluation counts even if the sentinels' flags are already clear)."""
    proxies = {a: (st.get("stats") if st.get("up") else None) for a, st in proxy_state.items()
               if a in topo.proxies}
    masters: dict[str, str] = {}
    up = 0
    for s in topo.sentinels:
        st = sentinel_state.get(s, {})
        if st.get("up"):
            up += 1
            for name, flags in (st.get("flags") or {}).items():
                if group_id_of_name(name) is not None and ("o_down" in flags or "failover" in flags):
                    masters[name] = flags
    for name in odown_seen:
        masters.setdefault(name, "o_down (event)")
    switches = {g.name: switch_counts.get(g.name, 0) for g in topo.groups.values()}
    waiting = {"waiting": migration["slots_pending"] + migration["slots_migrating"],
               "paused": migration["paused"], "moved": migration["keys_moved"] + migration["slots_done"]}
    return {"proxies": proxies, "servers": dict(server_state), "switches": switches,
            "migration": waiting, "instance": instance, "supervised": supervised or {},
            "sentinels": {"total": len(topo.sentinels), "up": up, "masters": masters}}


def odowns_done(odown_seen: dict[str, float], switched_at: dict[str, float], now: float) -> list[str]:
    """+odown events that no longer count: the group switched since, or it is a minute old."""
    return [name for name, since in odown_seen.items()
            if switched_at.get(name, 0) >= since or now - since > ODOWN_EVENT_TTL_S]


def should_post(changes: list[dict], active: list[dict], now: float, posted_at: float,
                resend_s: float) -> bool:
    """Post on any change, and resend the active alerts every resend_s."""
    return bool(changes) or (now - posted_at >= resend_s and bool(active))


def event_of(alert: dict) -> tuple[str, str, dict]:
    """(event kind, level, fields) of an alert that fired or resolved, for the event log."""
    lab = {k: v for k, v in alert["labels"].items() if k not in ("alertname", "severity")}
    firing = alert["status"] == "firing"
    level = ("error" if alert["labels"]["severity"] == "critical" else "warning") if firing else "info"
    return "alert_" + alert["status"], level, {"alert": alert["labels"]["alertname"], **lab}


# --- shell -------------------------------------------------------------------------------------
class Alerting:
    def __init__(self, ctl: Controller):
        self.ctl = ctl
        self.evaluator = AlertEvaluator()
        self.active: list[dict] = []
        self.posted_at = 0.0

    def snapshot(self) -> dict:
        ctl = self.ctl
        return snapshot(ctl.topo, ctl.proxy_state, ctl.server_state, ctl.sentinel_state,
                        ctl.odown_seen, ctl.failover.switch_counts, ctl.migrator.status(),
                        ctl.api_addr or "dashboard", ctl.supervised.get("children"))

    async def evaluate(self, now: float | None = None) -> None:
        ctl = self.ctl
        now = time.time() if now is None else now
        snap = self.snapshot()
        for name in odowns_done(ctl.odown_seen, ctl.failover.switched_at, time.time()):
            del ctl.odown_seen[name]
        self.active, changes = self.evaluator.evaluate(snap, now)
        for a in changes:
            kind, level, fields = event_of(a)
            ctl.event(kind, level, **fields)
        url = ctl.cfg.alert_webhook_url
        if not url or not should_post(changes, self.active, now, self.posted_at,
                                      ctl.cfg.alert_resend_interval_ms / 1000):
            return
        # active alerts plus the ones that resolved now; posted off the reconcile path
        body = payload(self.active + [c for c in changes if c["status"] == "resolved"],
                       ctl.cfg.alert_webhook_format, f"http://{ctl.api_addr}" if ctl.api_addr else "")
        self.posted_at = now
        ctl.spawn(self.post(url, body))

    async def post(self, url: str, body) -> None:
        ctl = self.ctl
        assert ctl._http is not None
        try:
            r = await ctl._http.post(url, json=body)
            key = "alert_posts_ok" if r.status_code < 300 else "alert_posts_failed"
            ctl.counters[key] = ctl.counters.get(key, 0) + 1
            if r.status_code >= 300:
                ctl.log("alert_post_failed", "warning", url=url, status=r.status_code)
        except httpx.HTTPError as exc:
            ctl.counters["alert_posts_failed"] = ctl.counters.get("alert_posts_failed", 0) + 1
            ctl.log("alert_post_failed", "warning", url=url, error=repr(exc))

