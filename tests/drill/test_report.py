"""Sans-IO: the report's figures from synthetic worker results."""

from __future__ import annotations

from xcache.drill import report as R
from xcache.drill.runner import DrillOptions


def worker(recovery, attempts_after, failed=None, ok=None):
    n = len(recovery)
    return {"ok": ok or {"100": 5, "101": 7}, "failed": failed or {}, "attempts": {"99": n},
            "connected": {"99": n, "100": n}, "errors": {"op_timeout": failed or {}},
            "client_attempts": [a + 1 for a in attempts_after], "client_attempts_after": attempts_after,
            "recovery": recovery}


def test_figures():
    opts = DrillOptions(clients=200)
    rec = [0.1 * i for i in range(1, 101)]  # 0.1 .. 10.0
    w1 = worker(rec, [1] * 100, failed={"100": 30, "98": 4})
    w2 = worker([0.05] * 99 + [None], [2] * 99 + [9])
    samples = [{"t": 99.0, "overflows": 10, "queued": 0, "backlog": 128, "dropped": 3},
               {"t": 100.5, "overflows": 25, "queued": 90, "backlog": 128, "dropped": 40}]
    rep = R.build(opts, {"auth_timeout_s": 2, "op_timeout_s": 2, "backoff": False}, [w1, w2], samples,
                  started=95.0, t0=100.0, event_end=102.0, what={"scenario": "proxy-stall"})
    f = rep["figures"]
    assert f["clients"] == 200 and f["served_again_pct"] == 99.5
    assert f["time_to_99_served_s"] == 9.9  # 99% of 200 = the 198th fastest recovery
    assert f["time_to_99_served_after_event_end_s"] == 7.9
    assert f["time_to_all_served_s"] is None
    assert f["failed_requests"] == 30 and f["failed_requests_total"] == 34
    assert f["attempts_per_client"]["p99"] == 2 and f["attempts_per_client"]["max"] == 9
    assert abs(f["attempts_per_client"]["mean"] - 307 / 200) < 0.006
    assert f["listen_overflows"] == 15 and f["listen_queue_max"] == 90 and f["dead_sockets_dropped"] == 37
    assert rep["series"]["t"][0] == -2  # seconds relative to the event (first bucket: 98)
    text = R.summary(rep)
    assert "9.9 s after the event start" in text and "never" in text  # not all served


def test_too_few_served_means_no_t99():
    rep = R.build(DrillOptions(clients=10), {"auth_timeout_s": 2, "op_timeout_s": 2, "backoff": True},
                  [worker([1.0] * 9 + [None], [1] * 10)], [], 0.0, 1.0, 1.0, {})
    assert rep["figures"]["time_to_99_served_s"] is None
    assert "never" in R.summary(rep)
