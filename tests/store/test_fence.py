"""The fence (xcache/store/fence.py): a restarted old master refuses writes until its role is
confirmed; the decisions as plain functions, then real nodes killed and restarted by hand."""

from __future__ import annotations

import json

import pytest
import redis

from tests.procs import start_xcache_server, wait_until
from xcache.store import fence

READONLY = "You can't write against a read only replica."


def test_decide():
    assert not fence.decide(None, "")  # fresh node
    assert not fence.decide({"role": "master", "replicated": False}, "")  # standalone node
    assert fence.decide({"role": "master", "replicated": True}, "")
    assert not fence.decide({"role": "master", "replicated": True}, "127.0.0.1 6380")
    assert not fence.decide({"role": "replica", "replicated": True}, "")


def test_next_state_counts_changes_and_replicated_sticks():
    s1 = fence.next_state(None, "master", "", "a" * 40, 0)
    assert s1["epoch"] == 1 and not s1["replicated"]
    s2 = fence.next_state(s1, "replica", "h:1", "b" * 40, 5)
    assert s2["epoch"] == 2 and s2["replicated"] and s2["master"] == "h:1"
    s3 = fence.next_state(s2, "master", "", "c" * 40, 9)
    assert s3["epoch"] == 3 and s3["replicated"]


def test_save_load_atomic(tmp_path):
    assert fence.load(str(tmp_path)) is None
    fence.save(str(tmp_path), {"role": "master", "epoch": 4, "replicated": True})
    assert fence.load(str(tmp_path))["epoch"] == 4
    assert (tmp_path / fence.STATE_FILE).stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / f"{fence.STATE_FILE}.tmp").exists()
    (tmp_path / fence.STATE_FILE).write_text("{garbage")
    assert fence.decide(fence.load(str(tmp_path)) | {"replicated": True}, "")  # worst case assumed


@pytest.fixture
def procs():
    started = []
    yield started
    for p in started:
        p.stop()


def r(port: int) -> redis.Redis:
    return redis.Redis(port=port, protocol=2, decode_responses=True, socket_timeout=10)


def test_standalone_master_restarts_writable(tmp_path, procs):
    data = tmp_path / "solo"
    p = start_xcache_server(tmp_path, data_dir=data)
    procs.append(p)
    assert r(p.port).set("k", "1")
    p.kill9()
    p2 = start_xcache_server(tmp_path, port=p.port, data_dir=data)
    procs.append(p2)
    assert r(p2.port).set("k", "2")
    assert r(p2.port).info("replication")["fenced"] == 0


def start_pair(tmp_path, procs):
    mdata = tmp_path / "m"
    m = start_xcache_server(tmp_path, data_dir=mdata)
    s = start_xcache_server(tmp_path, "--replicaof", f"127.0.0.1 {m.port}")
    procs += [m, s]
    wait_until(lambda: r(s.port).info("replication")["master_link_status"] == "up", what="link up")
    assert r(m.port).set("before", "1")
    wait_until(lambda: r(s.port).get("before") == "1", what="replicated")
    assert json.loads((mdata / fence.STATE_FILE).read_text())["replicated"]
    return m, s, mdata


def test_old_master_restarted_by_hand_is_fenced_then_rejoins(tmp_path, procs):
    m, s, mdata = start_pair(tmp_path, procs)
    m.kill9()
    r(s.port).execute_command("REPLICAOF", "NO", "ONE")  # what a failover does
    assert r(s.port).set("after", "2")
    old = start_xcache_server(tmp_path, port=m.port, data_dir=mdata)  # plain `xcache server`
    procs.append(old)
    c = r(old.port)
    assert c.info("replication")["fenced"] == 1
    for cmd in (("SET", "x", "1"), ("DEL", "before"), ("INCR", "n")):
        with pytest.raises(redis.ReadOnlyError, match=READONLY):
            c.execute_command(*cmd)
    pipe = c.pipeline(transaction=True)
    pipe.set("x", "1")
    with pytest.raises(redis.ReadOnlyError):
        pipe.execute()
    assert c.get("before") == "1" and c.get("x") is None  # reads are served
    assert c.execute_command("REPLICAOF", "127.0.0.1", str(s.port)) == "OK"  # the dashboard's word
    wait_until(lambda: c.get("after") == "2", what="rejoined as a replica of the new master")
    info = c.info("replication")
    assert info["role"] == "slave" and info["master_port"] == s.port
    assert json.loads((mdata / fence.STATE_FILE).read_text())["role"] == "replica"
    with pytest.raises(redis.ReadOnlyError):
        c.set("x", "1")


def test_confirmed_master_is_unfenced(tmp_path, procs):
    m, s, mdata = start_pair(tmp_path, procs)
    m.kill9()
    old = start_xcache_server(tmp_path, port=m.port, data_dir=mdata)
    procs.append(old)
    c = r(old.port)
    with pytest.raises(redis.ReadOnlyError):
        c.set("x", "1")
    assert c.execute_command("REPLICAOF", "NO", "ONE") == "OK"
    assert c.set("x", "1") and c.info("replication")["fenced"] == 0
    assert json.loads((mdata / fence.STATE_FILE).read_text())["role"] == "master"


def test_replica_restarted_without_replicaof_follows_its_master(tmp_path, procs):
    m, s, _ = start_pair(tmp_path, procs)
    sdata = tmp_path / f"xcache-{s.port}"
    s.kill9()
    s2 = start_xcache_server(tmp_path, port=s.port, data_dir=sdata)
    procs.append(s2)
    info = r(s2.port).info("replication")
    assert info["role"] == "slave" and info["master_port"] == m.port
    with pytest.raises(redis.ReadOnlyError):
        r(s2.port).set("x", "1")
