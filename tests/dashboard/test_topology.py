"""Unit tests of the sans-IO topology model."""

from __future__ import annotations

import pytest

from xcache.dashboard import topology as T
from xcache.proxy.router import SlotTable


def two_groups() -> T.Topology:
    t = T.Topology()
    t, g1 = T.add_group(t)
    t, g2 = T.add_group(t)
    t = T.add_server(t, g1, "127.0.0.1:6380")
    t = T.add_server(t, g1, "127.0.0.1:6381")
    t = T.add_server(t, g2, "127.0.0.1:6382")
    return t


def test_groups_and_servers():
    t = two_groups()
    assert sorted(t.groups) == [1, 2]
    g = t.groups[1]
    assert g.master == "127.0.0.1:6380" and g.replicas == ["127.0.0.1:6381"] and g.name == "group-1"
    assert t.epoch == 5
    with pytest.raises(T.TopologyError, match="already in group 1"):
        T.add_server(t, 2, "127.0.0.1:6381")
    with pytest.raises(T.TopologyError, match="already exists"):
        T.add_group(t, 1)
    with pytest.raises(T.TopologyError, match="bad address"):
        T.add_server(t, 1, "nope")
    with pytest.raises(T.TopologyError, match="no group 9"):
        T.add_server(t, 9, "127.0.0.1:1")


def test_changes_are_pure():
    t = two_groups()
    before = t.to_json()
    T.promote(t, 1, "127.0.0.1:6381")
    T.assign_slots(t, [1, 2], 2)
    assert t.to_json() == before


def test_promote_and_remove_server():
    t = two_groups()
    with pytest.raises(T.TopologyError, match="master of group 1: promote"):
        T.remove_server(t, 1, "127.0.0.1:6380")
    p = T.promote(t, 1, "127.0.0.1:6381")
    assert p.groups[1].master == "127.0.0.1:6381"
    assert p.groups[1].epoch == t.groups[1].epoch + 1
    assert p.epoch == t.epoch + 1
    with pytest.raises(T.TopologyError, match="already the master"):
        T.promote(p, 1, "127.0.0.1:6381")
    with pytest.raises(T.TopologyError, match="not in group"):
        T.promote(p, 1, "127.0.0.1:6382")
    r = T.remove_server(p, 1, "127.0.0.1:6380")
    assert r.groups[1].servers == ["127.0.0.1:6381"]


def test_switch_master_adds_unknown_replica():
    t = two_groups()
    s = T.switch_master(t, 2, "127.0.0.1:6390")
    assert s.groups[2].master == "127.0.0.1:6390" and "127.0.0.1:6382" in s.groups[2].servers
    with pytest.raises(T.TopologyError, match="belongs to group 1"):
        T.switch_master(t, 2, "127.0.0.1:6381")


def test_slots_assign_and_table():
    t = two_groups()
    with pytest.raises(T.TopologyError, match="not assigned"):
        T.slot_table(t)
    t = T.assign_slots(t, T.parse_slots("0-511"), 1)
    t = T.assign_slots(t, T.parse_slots("512-1023"), 2)
    table = T.slot_table(t)
    assert table["slots"] == {"0-511": 1, "512-1023": 2}
    assert table["groups"]["1"] == {"master": "127.0.0.1:6380", "replicas": ["127.0.0.1:6381"]}
    parsed = SlotTable.from_json(table)  # the proxy accepts it
    assert parsed.epoch == t.epoch and parsed.slots[600] == 2
    assert T.same_table(table, parsed.to_json())
    with pytest.raises(T.TopologyError, match="owns 512 slots"):
        T.remove_group(t, 2)
    t2, g3 = T.add_group(t)
    with pytest.raises(T.TopologyError, match="no server yet"):
        T.assign_slots(t2, [0], g3)


def test_parse_slots():
    assert T.parse_slots("0-2, 5") == [0, 1, 2, 5]
    for bad in ("", "x", "5-1", "0-1024", "-1"):
        with pytest.raises(T.TopologyError):
            T.parse_slots(bad)


def test_rebalance_even_and_minimal():
    t = two_groups()
    t = T.rebalance(t)
    counts = t.slot_counts()
    assert counts[1] == 512 and counts[2] == 512 and counts[0] == 0
    t, g3 = T.add_group(t)
    t = T.add_server(t, g3, "127.0.0.1:6383")
    r = T.rebalance(t)
    # owned slots are not reassigned on the spot: they are queued to migrate online
    assert r.slots == t.slots and set(r.pending.values()) == {3}
    with pytest.raises(T.TopologyError, match="in progress"):
        T.rebalance(r)
    wave = sorted(r.pending)
    r = T.finish_slots(T.start_wave(r, wave), wave)
    counts = r.slot_counts()
    assert sorted([counts[1], counts[2], counts[3]]) == [341, 341, 342]
    assert len(wave) == counts[3]  # only the new group's share moved
    assert T.rebalance(r) is r  # nothing to do: no new epoch


def test_rebalance_needs_a_group():
    with pytest.raises(T.TopologyError):
        T.rebalance(T.Topology())


def test_json_round_trip():
    t = T.rebalance(two_groups())
    t = T.add_proxy(t, "127.0.0.1:19000", "127.0.0.1:11080")
    t = T.add_sentinel(t, "127.0.0.1:26379")
    back = T.Topology.from_json(t.to_json())
    assert back == t
    assert back.to_json() == t.to_json()
    with pytest.raises(T.TopologyError):
        T.Topology.from_json({"slots": [1, 2]})
    with pytest.raises(T.TopologyError):
        T.Topology.from_json({"groups": {"x": {}}})


def test_proxies_and_sentinels():
    t = T.add_proxy(T.Topology(), "127.0.0.1:19000", "127.0.0.1:11080")
    with pytest.raises(T.TopologyError):
        T.add_proxy(t, "127.0.0.1:19000", "127.0.0.1:11080")
    assert T.remove_proxy(t, "127.0.0.1:19000").proxies == {}
    s = T.add_sentinel(t, "127.0.0.1:26379")
    assert T.remove_sentinel(s, "127.0.0.1:26379").sentinels == []
    with pytest.raises(T.TopologyError):
        T.remove_sentinel(t, "127.0.0.1:1")


def test_bump_and_names():
    t = two_groups()
    assert T.bump(t, 100).epoch == 101
    assert T.group_id_of_name("group-12") == 12 and T.group_id_of_name("mymaster") is None


def test_summary_ranges():
    t = T.rebalance(two_groups())
    s = t.summary()
    assert s["slot_ranges"] == [{"first": 0, "last": 511, "group": 1}, {"first": 512, "last": 1023, "group": 2}]


def three_groups() -> T.Topology:
    t = T.rebalance(two_groups())
    t, g3 = T.add_group(t)
    return T.add_server(t, g3, "127.0.0.1:6383")


def test_migration_lifecycle():
    t = three_groups()
    t = T.plan_migration(t, list(range(0, 100)), 1, 3)
    assert t.pending == dict.fromkeys(range(100), 3) and t.slots[0] == 1
    assert "migrating" not in T.slot_table(t)  # nothing routes differently yet
    wave = [s for s in range(64)]
    t = T.start_wave(t, wave)
    assert t.slots[0] == 3 and t.migrating[0] == 1 and 0 not in t.pending and len(t.pending) == 36
    table = T.slot_table(t)
    assert table["migrating"] == {"0-63": 1} and table["slots"]["0-63"] == 3
    assert set(table["groups"]) == {"1", "2", "3"}
    parsed = SlotTable.from_json(table)  # the proxy accepts what we push
    assert parsed.slots[0] == 3
    t = T.finish_slots(t, wave)
    assert t.migrating == {} and "migrating" not in T.slot_table(t)
    back = T.Topology.from_json(T.set_migration(t, paused=True, keys_per_second=50).to_json())
    assert back.pending == t.pending and back.migration_paused and back.migration_keys_per_second == 50
    assert T.cancel_pending(t).pending == {}


def test_migration_is_validated():
    t = three_groups()
    with pytest.raises(T.TopologyError, match="owned by group 2, not 1"):
        T.plan_migration(t, [600], 1, 3)
    with pytest.raises(T.TopologyError, match="same group"):
        T.plan_migration(t, [0], 1, 1)
    with pytest.raises(T.TopologyError, match="no group 9"):
        T.plan_migration(t, [0], 1, 9)
    t4, g4 = T.add_group(t)
    with pytest.raises(T.TopologyError, match="no server"):
        T.plan_migration(t4, [0], 1, g4)
    t = T.plan_migration(t, [0, 1], 1, 3)
    with pytest.raises(T.TopologyError, match="already being migrated"):
        T.plan_migration(t, [1], 1, 3)
    with pytest.raises(T.TopologyError, match="being migrated"):
        T.assign_slots(t, [0], 2)
    with pytest.raises(T.TopologyError, match="takes part in a slot migration"):
        T.remove_group(t, 3)
    with pytest.raises(T.TopologyError, match="not pending"):
        T.start_wave(t, [5])
    with pytest.raises(T.TopologyError, match="not migrating"):
        T.finish_slots(t, [0])
    with pytest.raises(T.TopologyError, match=">= 0"):
        T.set_migration(t, keys_per_second=-1)


def test_next_wave_keeps_one_source_and_target():
    from xcache.dashboard.migration import next_wave

    t = three_groups()
    t = T.plan_migration(t, [510, 511], 1, 3)
    t = T.plan_migration(t, [512, 513, 514], 2, 3)
    assert next_wave(t, 64) == [510, 511]
    assert next_wave(t, 1) == [510]
    t = T.start_wave(t, [510, 511])
    assert next_wave(t, 64) == [512, 513, 514]
