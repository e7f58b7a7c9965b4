"""The chaos checker on hand-made histories (pure: no processes)."""

from xcache.drill.chaos.checker import FAIL, INFO, OK, Final, Op, check


def test_everything_acknowledged_is_present():
    ops = [Op("set", "k1", "a", OK, 0, 0.1), Op("rpush", "l", "e1", OK, 0.1, 0.2),
           Op("incr", "c", None, OK, 0.2, 0.3), Op("get", "k1", "a", OK, 0.3, 0.4)]
    v = check(ops, Final({"k1": "a"}, {"c": 1}, {"l": ["e1"]}))
    assert (v.acknowledged, v.lost, v.in_doubt, v.failed, v.reads) == (3, 0, 0, 0, 1)
    assert v.valid


def test_acknowledged_writes_missing_after_heal_are_lost():
    ops = [Op("set", "k1", "a", OK), Op("set", "k2", "b", OK), Op("rpush", "l", "e1", OK),
           Op("rpush", "l", "e2", OK), Op("incr", "c", None, OK), Op("incr", "c", None, OK)]
    v = check(ops, Final({"k1": "a", "k2": None}, {"c": 1}, {"l": ["e1"]}))
    assert v.lost == 3  # k2, e2, one increment
    assert v.valid  # loss is not an anomaly of the history itself
    assert "set k2=b" in v.lost_examples


def test_in_doubt_and_failed_writes_may_be_absent_or_present():
    ops = [Op("set", "k1", "a", INFO), Op("set", "k2", "b", FAIL), Op("incr", "c", None, INFO),
           Op("rpush", "l", "e1", INFO)]
    v = check(ops, Final({"k1": "a", "k2": None}, {"c": 1}, {"l": []}))
    assert (v.acknowledged, v.lost, v.in_doubt, v.failed) == (0, 0, 3, 1)
    assert v.valid


def test_read_of_a_value_never_written_is_a_phantom():
    ops = [Op("set", "k1", "a", OK), Op("get", "k1", "zzz", OK), Op("get", "k2", None, OK)]
    v = check(ops, Final({"k1": "a"}))
    assert v.phantoms == 1 and not v.valid


def test_final_value_never_written_is_a_phantom():
    v = check([Op("rpush", "l", "e1", OK)], Final({"k9": "x"}, {}, {"l": ["e1", "bogus"]}))
    assert v.phantoms == 2


def test_counter_above_acknowledged_plus_in_doubt_is_a_violation():
    ops = [Op("incr", "c", None, OK), Op("incr", "c", None, INFO), Op("incr", "c", None, FAIL)]
    assert check(ops, Final(counters={"c": 2})).valid
    v = check(ops, Final(counters={"c": 3}))
    assert v.counter_violations == 1 and not v.valid


def test_duplicate_list_element_is_reported():
    v = check([Op("rpush", "l", "e1", INFO)], Final(lists={"l": ["e1", "e1"]}))
    assert v.duplicates == 1 and not v.valid


def test_unavailable_seconds_and_time_to_recover():
    # acknowledged ops every 0.1 s, except none between 10.0 and 13.0; the fault starts at 9.5
    times = [t / 10 for t in range(90, 100)] + [t / 10 for t in range(130, 150)]
    ops = [Op("incr", "c", None, OK, t - 0.01, t) for t in times]
    ops.append(Op("incr", "c", None, FAIL, 11.0, 11.5))
    v = check(ops, Final(counters={"c": len(times)}), fault_start=9.5, end=15.0)
    assert v.unavailable_s == 3.1
    assert v.recover_s == 3.5


def test_no_fault_means_no_unavailability():
    ops = [Op("incr", "c", None, OK, 0, 0.1)]
    v = check(ops, Final(counters={"c": 1}))
    assert (v.unavailable_s, v.recover_s) == (0.0, 0.0)


def test_write_latency_percentiles_of_acknowledged_writes():
    ops = [Op("set", f"k{i}", "v", OK, 0.0, (i + 1) / 1000) for i in range(100)]
    ops.append(Op("set", "slow", "v", INFO, 0.0, 5.0))  # not acknowledged: not counted
    ops.append(Op("get", "k1", "v", OK, 0.0, 9.0))  # a read: not counted
    v = check(ops, Final({f"k{i}": "v" for i in range(100)} | {"slow": None}))
    assert (v.write_p50_ms, v.write_p99_ms) == (51.0, 100.0)
