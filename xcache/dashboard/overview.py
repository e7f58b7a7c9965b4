"""The overview the API and the web UI show: the topology joined with what the controller
observed. Pure: every function takes the topology and the polled state as plain values."""

from __future__ import annotations

from xcache.dashboard.topology import Topology


def groups_view(topo: Topology, server_state: dict[str, dict]) -> list[dict]:
    """Each group with its slot count and its servers' expected role and observed state."""
    return [{"id": g.id, "name": g.name, "master": g.master, "epoch": g.epoch,
             "slots": sum(1 for s in topo.slots if s == g.id),
             "servers": [{"addr": s, "role": "master" if s == g.master else "replica",
                          **server_state.get(s, {})} for s in g.servers]}
            for g in sorted(topo.groups.values(), key=lambda g: g.id)]


def proxies_view(topo: Topology, proxy_state: dict[str, dict]) -> list[dict]:
    return [{"addr": p.addr, "admin_addr": p.admin_addr, **proxy_state.get(p.addr, {})}
            for p in topo.proxies.values()]


def totals(proxies: list[dict]) -> dict[str, int]:
    out = {"sessions": 0, "ops_total": 0, "accept_dropped": 0, "rejected": 0}
    for p in proxies:
        s = p.get("stats") or {}
        for k in out:
            out[k] += s.get(k, 0)
    return out


def conditions(proxies: list[dict], groups: list[dict], now: float) -> list[dict]:
    """Current conditions worth a line in the UI's alert list (not events): proxies down,
    dropping at accept, paused, with a backend group not up; servers down, links down."""
    out = []
    for p in proxies:
        s = p.get("stats") or {}
        if p.get("up") is False:
            out.append({"kind": "proxy_down", "level": "error", "proxy": p["addr"], "time": now})
        if s.get("accept_dropped"):
            out.append({"kind": "accept_dropped", "level": "warning", "proxy": p["addr"],
                        "count": s["accept_dropped"], "time": p.get("dropped_changed_at")})
        if s.get("listener_paused"):
            out.append({"kind": "listener_paused", "level": "warning", "proxy": p["addr"], "time": now})
        for gid, state in (s.get("groups") or {}).items():
            if state != "up":
                out.append({"kind": f"backend_{state}", "level": "warning", "proxy": p["addr"],
                            "group": gid, "time": now})
    for g in groups:
        for srv in g["servers"]:
            if srv.get("up") is False:
                out.append({"kind": "server_down", "level": "error", "group": g["id"],
                            "server": srv["addr"], "time": now})
            elif srv.get("link") == "down":
                out.append({"kind": "replication_link_down", "level": "warning", "group": g["id"],
                            "server": srv["addr"], "time": now})
    return out


def warnings(groups: list[dict], lag_warn_bytes: int) -> list[dict]:
    """What an operator should fix soon (the UI's warnings): a group without a replica (one
    failure from losing its slots), a replica lagging or with its link down, a stalled node."""
    out = []
    for g in groups:
        replicas = [s for s in g["servers"] if s["addr"] != g["master"]]
        if g["master"] and not replicas:
            out.append({"kind": "no_replica", "group": g["id"],
                        "text": f"group {g['id']} has no replica: a failure of {g['master']} loses its slots"})
        for s in replicas:
            if s.get("up") is False:
                continue
            if s.get("link") == "down":
                out.append({"kind": "replica_link_down", "group": g["id"], "server": s["addr"],
                            "text": f"replica {s['addr']} of group {g['id']} has its link down"})
            elif (s.get("lag_bytes") or 0) > lag_warn_bytes:
                out.append({"kind": "replica_lagging", "group": g["id"], "server": s["addr"],
                            "text": f"replica {s['addr']} of group {g['id']} is {s['lag_bytes']} bytes behind"})
        for s in g["servers"]:
            if s.get("up") and s.get("write_stall_active"):
                out.append({"kind": "node_stalled", "group": g["id"], "server": s["addr"],
                            "text": f"{s['addr']} of group {g['id']} is stalling writes (RocksDB write stall)"})
    return out


def alert_lines(active_alerts: list[dict]) -> list[dict]:
    """The evaluated rules (same names as deploy/prometheus/alerts.yml) as UI alert lines."""
    out = []
    for a in active_alerts:
        lab = {k: v for k, v in a["labels"].items() if k not in ("alertname", "severity")}
        out.append({"kind": a["labels"]["alertname"],
                    "level": "error" if a["labels"]["severity"] == "critical" else "warning",
                    "time": a["startsAt"], **lab, "summary": a["annotations"]["summary"]})
    return out


def active_alerts_view(active_alerts: list[dict]) -> list[dict]:
    return [{"name": a["labels"]["alertname"], "severity": a["labels"]["severity"],
             "labels": a["labels"], "annotations": a["annotations"], "since": a["startsAt"]}
            for a in active_alerts]
