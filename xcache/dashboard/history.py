"""The console's rolling history: every proxy's and storage node's key figures, one sample per
`resolution_s` (5 s) for `keep_s` (1 hour), in memory (720 points per series).

Pure (plain unit tests): record() takes what the controller already polled (proxies' /stats
summaries, nodes' INFO states) and derives rates from counters (ops/s, accept drops/s, node
QPS) and latency percentiles from the proxy's histogram between two samples; view() is what
GET /api/history returns and the UI charts.

Series are named `<kind>/<addr>/<figure>`:
  proxy/<addr>/ops_per_s, p50_ms, p99_ms, sessions, listen_queue, listen_backlog, drops_per_s
  server/<addr>/memory_bytes, keys, qps, lag_bytes, write_stall
"""

from __future__ import annotations

from collections import deque

PROXY_FIGURES = ("ops_per_s", "p50_ms", "p99_ms", "sessions", "listen_queue", "listen_backlog",
                 "drops_per_s")
SERVER_FIGURES = ("memory_bytes", "keys", "qps", "lag_bytes", "write_stall")


def percentile(bounds: list[float], counts: list[int], q: float) -> float | None:
    """The upper bound (seconds) of the histogram bucket holding quantile q; None if empty.
    counts has one more bucket than bounds (the overflow, reported as the last bound)."""
    total = sum(counts)
    if total <= 0 or not bounds:
        return None
    need, acc = q * total, 0
    for i, n in enumerate(counts):
        acc += n
        if acc >= need:
            return bounds[min(i, len(bounds) - 1)]
    return bounds[-1]


class History:
    def __init__(self, resolution_s: float = 5.0, keep_s: float = 3600.0):
        self.resolution_s = resolution_s
        self.points = max(1, int(keep_s / resolution_s))
        self.t: deque[float] = deque(maxlen=self.points)
        self.series: dict[str, deque] = {}
        self._prev: dict[str, tuple[float, object]] = {}

    def due(self, now: float) -> bool:
        return not self.t or now - self.t[-1] >= self.resolution_s * 0.98

    def _rate(self, key: str, value: float, now: float) -> float | None:
        prev = self._prev.get(key)
        self._prev[key] = (now, value)
        if prev is None or now <= prev[0] or value < prev[1]:  # first sample or a restart
            return None
        return (value - prev[1]) / (now - prev[0])

    def _latency(self, key: str, lat: dict | None, now: float) -> tuple[float | None, float | None]:
        if not lat or not lat.get("counts"):
            return None, None
        counts = list(lat["counts"])
        prev = self._prev.get(key)
        self._prev[key] = (now, counts)
        if prev is None or len(prev[1]) != len(counts) or any(a < b for a, b in zip(counts, prev[1], strict=True)):
            return None, None
        delta = [a - b for a, b in zip(counts, prev[1], strict=True)]
        p50, p99 = percentile(lat["bounds"], delta, 0.5), percentile(lat["bounds"], delta, 0.99)
        return (None if p50 is None else p50 * 1000, None if p99 is None else p99 * 1000)

    def sample(self, now: float, proxies: dict[str, dict | None], servers: dict[str, dict]) -> dict:
        """One row: series name -> value (None = no figure now)."""
        row: dict[str, float | None] = {}
        for addr, s in proxies.items():
            k = f"proxy/{addr}/"
            if not s:
                row.update({k + f: None for f in PROXY_FIGURES})
                continue
            p50, p99 = self._latency(k + "latency", s.get("latency"), now)
            row.update({k + "ops_per_s": self._rate(k + "ops", s.get("ops_total", 0), now),
                        k + "p50_ms": p50, k + "p99_ms": p99, k + "sessions": s.get("sessions", 0),
                        k + "listen_queue": s.get("listen_queue", 0),
                        k + "listen_backlog": s.get("listen_backlog", 0),
                        k + "drops_per_s": self._rate(k + "drops", s.get("accept_dropped", 0), now)})
        for addr, st in servers.items():
            k = f"server/{addr}/"
            if not st.get("up"):
                row.update({k + f: None for f in SERVER_FIGURES})
                continue
            row.update({k + "memory_bytes": st.get("memory_bytes"), k + "keys": st.get("keys"),
                        k + "qps": self._rate(k + "cmds", st.get("commands_total", 0), now),
                        k + "lag_bytes": st.get("lag_bytes"),
                        k + "write_stall": st.get("write_stall_active", 0)})
        return row

    def record(self, now: float, proxies: dict[str, dict | None], servers: dict[str, dict]) -> None:
        row = self.sample(now, proxies, servers)
        n = len(self.t)
        self.t.append(now)
        for name, value in row.items():
            if name not in self.series:
                self.series[name] = deque([None] * n, maxlen=self.points)
            self.series[name].append(value)
        for name, values in list(self.series.items()):
            if name not in row:
                values.append(None)
                if all(v is None for v in values):  # a proxy/node gone for the whole window
                    del self.series[name]

    def view(self, since: float = 0.0) -> dict:
        start = next((i for i, t in enumerate(self.t) if t > since), len(self.t))
        return {"resolution_s": self.resolution_s, "t": list(self.t)[start:],
                "series": {k: list(v)[start:] for k, v in sorted(self.series.items())}}
