"""SetupWait: the gate's estimate of how long a socket admitted now waits for its first reply."""

from __future__ import annotations

from xcache.proxy.setupwait import SetupWait


def test_unmeasured_rate_adds_nothing():
    w = SetupWait(2.0, 0.05)
    for _ in range(100):
        w.admitted()
    assert w.pending == 100 and w.ms_per_session() == 0.0


def test_rate_is_measured_over_busy_ticks_only():
    w = SetupWait(2.0, 0.1)
    b = w.admitted()
    w.answered(b)
    w.tick(0.1)  # idle at its start: the demand, not the capacity
    assert w.rate == 0.0
    buckets = [w.admitted() for _ in range(300)]
    w.tick(0.1)  # work waiting from here on
    for b in buckets[:100]:
        w.answered(b)
    w.tick(0.1)
    assert w.rate == 1000.0 and w.ms_per_session() == 1.0
    assert w.pending == 200


def test_unanswered_sessions_leave_the_count_with_their_window():
    w = SetupWait(0.3, 0.1)  # three buckets
    idle = w.admitted()
    w.tick(0.1)
    w.tick(0.1)
    assert w.pending == 1
    w.tick(0.1)
    assert w.pending == 0
    w.gone(idle)  # closing later changes nothing
    assert w.pending == 0


def test_a_frozen_tick_keeps_the_rate():
    w = SetupWait(2.0, 0.1)
    bs = [w.admitted() for _ in range(50)]
    w.tick(0.1)
    for b in bs[:20]:
        w.answered(b)
    w.tick(0.1)
    rate = w.rate
    w.tick(0.0)  # the worker passes 0 after a freeze
    assert w.rate == rate
