"""Sans-IO: the failed-AUTH brake (xcache/authbrake.py) with a fake clock."""

from __future__ import annotations

from xcache.authbrake import AuthBrake


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_burst_then_rate_per_address():
    clock, logged = Clock(), []
    b = AuthBrake(logged.append, rate_per_s=2, burst=3, log_every_s=10, clock=clock)
    for _ in range(3):
        assert b.allowed("1.2.3.4")
        b.failed("1.2.3.4")
    assert not b.allowed("1.2.3.4")  # budget spent: refused unchecked
    assert b.allowed("5.6.7.8")  # another address is not slowed
    clock.t += 0.5  # one token back at 2/s
    assert b.allowed("1.2.3.4")
    b.failed("1.2.3.4")
    assert not b.allowed("1.2.3.4")
    assert b.failures == 4 and b.refused == 2


def test_success_costs_nothing_and_logs_are_rate_limited():
    clock, logged = Clock(), []
    b = AuthBrake(logged.append, rate_per_s=1, burst=100, log_every_s=10, clock=clock)
    for _ in range(50):
        assert b.allowed("10.0.0.1")  # a client that logs in never consumes its budget
    for _ in range(50):
        b.failed("10.0.0.1", "bob")
    assert logged == [{"addr": "10.0.0.1", "user": "bob"}]  # the first failure
    clock.t += 10
    b.failed("10.0.0.1")
    assert len(logged) == 2 and logged[1]["attempts"] == 50  # then one summary per window


def test_address_table_is_bounded():
    b = AuthBrake(lambda f: None, burst=1, max_addresses=100, clock=Clock())
    for i in range(1000):
        b.failed(f"10.0.{i // 256}.{i % 256}")
    assert len(b._table) <= 100
