"""Merge the workers' results and the probes into the drill report: JSON, terminal summary, PNG chart.

Figures:
  time_to_99_served_s   seconds from the event start until 99% of the clients were served again
                        for good (each client's first success after its last failure); null if
                        fewer than 99% ever were within the observation window
  failed_requests       requests that failed (error reply, timeout, connection closed mid-request)
                        from the event start on; failed_requests_total counts the whole run
  attempts_per_client   connection attempts per client from the event start on (mean, p99, max)
"""

from __future__ import annotations

import json
import math
from collections import defaultdict


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, max(0, math.ceil(q * len(v)) - 1))]


def _sum_series(results: list[dict], key: str) -> dict[int, int]:
    out: dict[int, int] = defaultdict(int)
    for r in results:
        for sec, v in r[key].items():
            out[int(sec)] += v
    return out


def build(opts, options: dict, results: list[dict], samples: list[dict], started: float,
          t0: float | None, event_end: float | None, what: dict) -> dict:
    ok = _sum_series(results, "ok")
    failed = _sum_series(results, "failed")
    attempts = _sum_series(results, "attempts")
    connected = _sum_series(results, "connected")
    errors: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for r in results:
        for kind, series in r["errors"].items():
            for sec, v in series.items():
                errors[kind][int(sec)] += v
    base = t0 if t0 is not None else started
    secs = sorted(set(ok) | set(failed) | set(attempts) | set(connected))
    series = {
        "t": [s - base for s in secs],
        "connected": [connected.get(s, 0) for s in secs],
        "ok_per_s": [ok.get(s, 0) for s in secs],
        "failed_per_s": [failed.get(s, 0) for s in secs],
        "attempts_per_s": [attempts.get(s, 0) for s in secs],
        "errors_per_s": {k: [v.get(s, 0) for s in secs] for k, v in sorted(errors.items())},
    }
    probe = {"t": [p["t"] - base for p in samples],
             "listen_queue": [p.get("queued") for p in samples],
             "listen_backlog": [p.get("backlog") for p in samples],
             "listen_overflows": [p["overflows"] - samples[0]["overflows"] for p in samples] if samples else [],
             "dead_sockets_dropped": [p.get("dropped") for p in samples],
             "proxy_sessions": [p.get("sessions") for p in samples],
             "proxy_loop_lag_s": [p.get("loop_lag_s") for p in samples]}
    recovery = [x for r in results for x in r["recovery"]]
    n = len(recovery)
    served = sorted(x for x in recovery if x is not None)
    need = math.ceil(0.99 * n) if n else 0
    t99 = served[need - 1] if n and len(served) >= need else None
    after = [a for r in results for a in r["client_attempts_after"]]
    total_attempts = [a for r in results for a in r["client_attempts"]]
    fail_after = sum(v for s, v in failed.items() if t0 is not None and s >= int(t0))
    err_after = {k: sum(c for s, c in v.items() if t0 is not None and s >= int(t0)) for k, v in errors.items()}
    drops = [p["dropped"] for p in samples if p.get("dropped") is not None]
    cpu = _generator_cpu(results, t0)
    figures = {
        "clients": n,
        "event_duration_s": round(event_end - t0, 3) if t0 and event_end else None,
        "time_to_99_served_s": round(t99, 3) if t99 is not None else None,
        "time_to_99_served_after_event_end_s": round(max(0.0, t99 - (event_end - t0)), 3)
        if t99 is not None and event_end else None,
        "time_to_all_served_s": round(served[-1], 3) if served and len(served) == n else None,
        "served_again_pct": round(100.0 * len(served) / n, 2) if n else None,
        "failed_requests": fail_after,
        "failed_requests_total": sum(failed.values()),
        "ok_requests_total": sum(ok.values()),
        "errors_after_event": dict(sorted(err_after.items())),
        "attempts_per_client": {"mean": round(sum(after) / len(after), 2) if after else None,
                                "p99": _pct(after, 0.99), "max": max(after) if after else None},
        "connection_attempts_total": sum(total_attempts),
        "listen_overflows": probe["listen_overflows"][-1] if probe["listen_overflows"] else None,
        "listen_queue_max": max([q for q in probe["listen_queue"] if q is not None] or [0]),
        "dead_sockets_dropped": (drops[-1] - drops[0]) if drops else None,
        "dead_sessions": _last_delta(samples, "dead_sessions"),
        "client_processes": len(results),
        "client_cpu_pct": cpu,
    }
    return {"target": f"{opts.host}:{opts.port}", "scenario": opts.scenario, "options": options,
            "event": what, "t0": t0, "figures": figures, "series": series, "probes": probe}


def _last_delta(samples: list[dict], key: str) -> int | None:
    vals = [p[key] for p in samples if p.get(key) is not None]
    return vals[-1] - vals[0] if vals else None


def _generator_cpu(results: list[dict], t0: float | None) -> dict:
    """How busy the client processes were (percent of one core each): mean over the run, and the
    busiest second from the event on. Near 100% the drill measures itself, not the proxy."""
    mean = [100.0 * r["cpu_s"] / r["wall_s"] for r in results if r.get("wall_s")]
    peak = 0.0
    for r in results:
        pts = sorted((int(sec), v) for sec, v in r.get("cpu", {}).items())
        for (s0, c0), (s1, c1) in zip(pts, pts[1:], strict=False):
            if t0 is None or s0 >= int(t0):
                peak = max(peak, 100.0 * (c1 - c0) / max(1, s1 - s0))
    return {"mean": round(sum(mean) / len(mean), 1) if mean else None, "peak_after_event": round(peak, 1)}


def summary(rep: dict) -> str:
    f = rep["figures"]
    o = rep["options"]

    def fmt(v, unit=""):
        return "never (within the window)" if v is None else f"{v}{unit}"

    a = f["attempts_per_client"]
    lines = [
        f"xcache drill storm: scenario {rep['scenario']} against {rep['target']}",
        f"  clients {f['clients']} (auth timeout {o['auth_timeout_s']}s, op timeout {o['op_timeout_s']}s, "
        f"{'jittered backoff' if o['backoff'] else 'immediate reconnect'})",
        f"  event lasted                 {fmt(f['event_duration_s'], ' s')}",
        f"  time to 99% served again     {fmt(f['time_to_99_served_s'], ' s')} after the event start "
        f"({fmt(f['time_to_99_served_after_event_end_s'], ' s')} after its end)",
        f"  time to all served again     {fmt(f['time_to_all_served_s'], ' s')}",
        f"  served again                 {fmt(f['served_again_pct'], ' %')}",
        f"  failed requests              {f['failed_requests']} since the event ({f['failed_requests_total']} in the run,"
        f" {f['ok_requests_total']} succeeded)",
        "  client errors since event    " + (", ".join(f"{k}={v}" for k, v in f["errors_after_event"].items() if v)
                                            or "none"),
        f"  attempts per client          mean {a['mean']}, p99 {a['p99']}, max {a['max']} (since the event)",
        f"  accept queue max             {f['listen_queue_max']}",
        f"  ListenOverflows (host)       +{fmt(f['listen_overflows'])}",
        "  dead sockets dropped (gate)  " + ("n/a (no --proxy-admin)" if f["dead_sockets_dropped"] is None
                                            else str(f["dead_sockets_dropped"])),
        "  dead sockets given sessions  " + ("n/a (no --proxy-admin)" if f.get("dead_sessions") is None
                                            else str(f["dead_sessions"])),
    ]
    cpu = f.get("client_cpu_pct") or {}
    if cpu.get("mean") is not None:
        lines.append(f"  client generator CPU         {f.get('client_processes')} processes, mean {cpu['mean']}% "
                     f"of a core each, busiest second after the event {cpu['peak_after_event']}%"
                     + ("  (saturated: the drill may be measuring itself)" if cpu["peak_after_event"] >= 95 else ""))
    return "\n".join(lines)


def write_json(rep: dict, path: str) -> None:
    with open(path, "w") as fh:
        json.dump(rep, fh, indent=1)


def chart(rep: dict, path: str, title: str = "") -> bool:
    """The PNG: one panel per series, time 0 = event start. False if matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    s, p, f = rep["series"], rep["probes"], rep["figures"]
    fig, axes = plt.subplots(3, 2, figsize=(12, 9), sharex=True)
    ax = axes.ravel()
    ax[0].plot(s["t"], s["connected"], color="tab:blue")
    ax[0].set_title("connected clients")
    ax[1].plot(s["t"], s["ok_per_s"], color="tab:green", label="ok")
    ax[1].plot(s["t"], s["failed_per_s"], color="tab:red", label="failed")
    ax[1].set_title("requests/s")
    ax[1].legend(fontsize=8)
    for kind, vals in s["errors_per_s"].items():
        ax[2].plot(s["t"], vals, label=kind)
    ax[2].set_title("client errors/s by kind")
    if s["errors_per_s"]:
        ax[2].legend(fontsize=8)
    ax[3].plot(s["t"], s["attempts_per_s"], color="tab:purple")
    ax[3].set_title("connection attempts/s")
    q = [(t, v) for t, v in zip(p["t"], p["listen_queue"], strict=False) if v is not None]
    b = [(t, v) for t, v in zip(p["t"], p["listen_backlog"], strict=False) if v is not None]
    if q:
        ax[4].plot(*zip(*q, strict=False), color="tab:orange", label="queued")
    if b:
        ax[4].plot(*zip(*b, strict=False), color="grey", linestyle="--", label="backlog")
    ax[4].set_title("accept queue")
    ax[4].legend(fontsize=8)
    ax[5].plot(p["t"], p["listen_overflows"], color="tab:red", label="ListenOverflows (host)")
    d = [(t, v) for t, v in zip(p["t"], p["dead_sockets_dropped"], strict=False) if v is not None]
    if d:
        first = d[0][1]
        ax[5].plot([t for t, _ in d], [v - first for _, v in d], color="tab:cyan", label="dead sockets dropped")
    ax[5].set_title("cumulative since start")
    ax[5].legend(fontsize=8)
    dur = f["event_duration_s"] or 0
    for a in ax:
        a.axvspan(0, max(dur, 0.05), color="red", alpha=0.08)
        if f["time_to_99_served_s"] is not None:
            a.axvline(f["time_to_99_served_s"], color="green", linestyle=":", linewidth=1)
        a.grid(alpha=0.3)
    for a in axes[-1]:
        a.set_xlabel("seconds since the event")
    fig.suptitle(title or f"{rep['scenario']} vs {rep['target']}: 99% served again after "
                 f"{f['time_to_99_served_s']} s, {f['failed_requests']} failed requests")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True
