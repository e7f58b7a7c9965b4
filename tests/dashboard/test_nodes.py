"""Sans-IO: what the dashboard reads from a storage node's INFO (dashboard/nodes.py)."""

from __future__ import annotations

from xcache.dashboard import nodes as N
from xcache.dashboard import topology as T

M, R = "127.0.0.1:7001", "127.0.0.1:7002"

MASTER = "# Replication\r\nrole:master\r\nmaster_repl_offset:500\r\n# Stall\r\nwrite_stall_active:1\r\n" \
         "write_stall_seconds:2.5\r\n"
REPLICA = "role:slave\r\nmaster_host:127.0.0.1\r\nmaster_port:7001\r\nmaster_link_status:up\r\n" \
          "slave_repl_offset:420\r\nmaster_repl_offset:420\r\n"


def test_parse_info_text_and_dict():
    assert N.parse_info(MASTER)["master_repl_offset"] == "500"
    assert N.parse_info({"role": "master", "connected_slaves": 1}) == {"role": "master", "connected_slaves": "1"}
    assert N.split_addr("::1:6380") == ("::1", 6380)


def test_server_state_and_lag():
    m = N.server_state(N.parse_info(MASTER), "master", 1)
    assert m == {"group": 1, "expected_role": "master", "up": True, "role": "master", "offset": 500,
                 "write_stall_active": 1, "write_stall_seconds": 2.5, "fenced": False,
                 "disk_full": 0, "disk_error_seconds": 0.0,
                 "memory_bytes": 0, "keys": 0, "commands_total": 0}
    r = N.server_state(N.parse_info(REPLICA), "replica", 1)
    assert r["role"] == "replica" and r["master"] == M and r["link"] == "up" and r["offset"] == 420
    t, _ = T.add_group(T.Topology(), 1)
    t = T.add_server(T.add_server(t, 1, M), 1, R)
    assert N.replica_lags(t, {M: m, R: r}) == {R: 80}
    assert N.replica_lags(t, {M: {**m, "up": False}, R: r}) == {}  # no master: no lag figure


def test_fence_actions():
    """A fenced node rejoins as a replica of its group's master, or is confirmed as the master
    when the topology and the sentinels' majority name it."""
    t, _ = T.add_group(T.Topology(), 1)
    t = T.add_server(T.add_server(t, 1, M), 1, R)
    fenced = N.server_state(N.parse_info("role:master\r\nfenced:1\r\n"), "master", 1)
    assert fenced["fenced"]
    assert N.fence_actions(t, {M: {"up": True}, R: fenced}, {}) == [(R, ("REPLICAOF", "127.0.0.1", "7001"))]
    assert N.fence_actions(t, {M: fenced, R: {"up": True}}, {}) == [(M, ("REPLICAOF", "NO", "ONE"))]
    assert N.fence_actions(t, {M: fenced}, {1: M}) == [(M, ("REPLICAOF", "NO", "ONE"))]
    assert N.fence_actions(t, {M: fenced}, {1: R}) == []  # sentinels name another: wait
    assert N.fence_actions(t, {M: fenced}, {1: None}) == []  # no majority: wait
    assert N.fence_actions(t, {M: {"up": True}, R: {"up": True}}, {}) == []


def test_memory_keys_and_commands_for_the_console():
    text = "role:master\r\nused_memory:2048\r\ntotal_commands_processed:77\r\n# Keyspace\r\n" \
           "db0:keys=10,expires=0,avg_ttl=0\r\ndb3:keys=5,expires=1,avg_ttl=0\r\n"
    st = N.server_state(N.parse_info(text), "master", 1)
    assert (st["memory_bytes"], st["keys"], st["commands_total"]) == (2048, 15, 77)
    parsed = {"role": "master", "db0": {"keys": 4, "expires": 0, "avg_ttl": 0}}  # redis-py's INFO
    assert N.server_state(N.parse_info(parsed), "master", 1)["keys"] == 4
