"""Durable mode on a storage node: min-replicas-to-write (against redis-server too) and the
write_ack_replicas hold (xcache)."""

from __future__ import annotations

import signal

import pytest
import redis

from tests.procs import assert_reply_held, start_redis, start_xcache_server, wait_until

NOREPLICAS = "NOREPLICAS Not enough good replicas to write."


def start(kind: str, tmp, *extra: str):
    if kind == "redis":
        return start_redis(tmp, *extra)
    return start_xcache_server(tmp, *extra)


def client(node) -> redis.Redis:
    return redis.Redis(port=node.port, socket_timeout=10, decode_responses=True, protocol=2)


@pytest.fixture
def pair(request, tmp_path):
    """(kind, master, replica-starter) with every started process stopped afterwards."""
    procs = []

    def node(*extra):
        p = start(request.param, tmp_path, *extra)
        procs.append(p)
        return p

    yield request.param, node
    for p in reversed(procs):
        p.stop()


def linked(master) -> bool:
    info = client(master).info("replication")
    return info.get("connected_slaves", 0) >= 1 and info.get("slave0", {}).get("state") == "online"


@pytest.mark.parametrize("pair", ["xcache", "redis"], indirect=True)
def test_min_replicas_to_write_refuses_writes_without_good_replicas(pair):
    kind, node = pair
    m = node()
    r = client(m)
    assert r.config_get("min-replicas-to-write") == {"min-replicas-to-write": "0"}
    assert r.config_get("min-replicas-max-lag") == {"min-replicas-max-lag": "10"}
    assert r.config_set("min-replicas-to-write", 1)
    with pytest.raises(redis.ResponseError) as err:
        r.set("k", "v")
    assert str(err.value) == NOREPLICAS
    assert r.get("k") is None  # refused before it ran; reads still served
    pipe = r.pipeline(transaction=True)
    pipe.set("k", "v")
    with pytest.raises(redis.ResponseError) as err:
        pipe.execute()
    assert "EXECABORT" in str(err.value) or NOREPLICAS in str(err.value)
    node("--replicaof", f"127.0.0.1 {m.port}")
    wait_until(lambda: linked(m), what="replica online")
    assert r.set("k", "v") is True
    assert r.config_set("min-replicas-to-write", 0)


def test_write_ack_replicas_holds_the_reply_until_a_replica_has_the_write(tmp_path):
    m = start_xcache_server(tmp_path, "--set", "write_ack_replicas=1", "--set", "write_ack_timeout_ms=300")
    rep = None
    try:
        r = client(m)
        with pytest.raises(redis.ResponseError) as err:
            r.set("alone", "1")
        assert str(err.value).startswith("NOACK ")
        assert r.get("alone") == "1"  # applied on the master, in doubt for the client
        assert r.config_get("write-ack-replicas") == {"write-ack-replicas": "1"}
        rep = start_xcache_server(tmp_path, "--replicaof", f"127.0.0.1 {m.port}")
        wait_until(lambda: linked(m), what="replica online")
        for i in range(20):
            assert r.set(f"k{i}", str(i)) is True
            assert client(rep).get(f"k{i}") == str(i)  # acknowledged => the replica has it
        assert r.incr("n") == 1 and client(rep).get("n") == "1"
        assert r.config_set("write-ack-replicas", 0)
        assert r.set("fast", "1") is True
    finally:
        if rep is not None:
            rep.stop()
        m.stop()


SET_SCRIPT = "redis.call('SET', KEYS[1], ARGV[1]) return 'done'"
LIBRARY = ("#!lua name=durlib\nredis.register_function('put', function(keys, args) "
           "return redis.call('SET', keys[1], args[1]) end)")


@pytest.fixture
def acked_pair(tmp_path):
    """An xcache master with write_ack_replicas=1 and its linked replica (SIGCONT at the end)."""
    procs = []

    def start_pair(timeout_ms: int):
        m = start_xcache_server(tmp_path, "--set", "write_ack_replicas=1",
                                "--set", f"write_ack_timeout_ms={timeout_ms}")
        procs.append(m)
        rep = start_xcache_server(tmp_path, "--replicaof", f"127.0.0.1 {m.port}")
        procs.append(rep)
        wait_until(lambda: linked(m), what="replica online")
        return m, rep

    yield start_pair
    for p in reversed(procs):
        p.stop()


def test_script_and_transaction_writes_time_out_like_a_plain_write(acked_pair):
    m, rep = acked_pair(300)
    r = client(m)
    r.function_load(LIBRARY)
    rep.signal(signal.SIGSTOP)
    try:
        with pytest.raises(redis.ResponseError) as plain:
            r.set("plain", "1")
        assert str(plain.value).startswith("NOACK ")
        for name, call in (("eval", lambda: r.eval(SET_SCRIPT, 1, "s:eval", "1")),
                           ("evalsha", lambda: r.evalsha(r.script_load(SET_SCRIPT), 1, "s:sha", "1")),
                           ("fcall", lambda: r.fcall("put", 1, "s:fcall", "1"))):
            with pytest.raises(redis.ResponseError) as err:
                call()
            assert str(err.value) == str(plain.value), name  # the same in-doubt error
        pipe = r.pipeline(transaction=True)
        pipe.set("s:multi", "1")
        with pytest.raises(redis.ResponseError) as err:
            pipe.execute()
        assert str(err.value) == str(plain.value)
        assert r.mget("s:eval", "s:sha", "s:fcall", "s:multi") == ["1"] * 4  # applied on the master
        # a script that wrote nothing is not held, even with the replica still stopped
        assert r.eval("return redis.call('GET', KEYS[1])", 1, "s:eval") == "1"
    finally:
        rep.signal(signal.SIGCONT)
    assert r.eval(SET_SCRIPT, 1, "s:after", "2") == "done"
    assert client(rep).get("s:after") == "2"  # acknowledged => the replica has it


def test_script_write_reply_waits_for_the_stopped_replica(acked_pair):
    m, rep = acked_pair(120_000)
    r = client(m)
    request = (b"*5\r\n$4\r\nEVAL\r\n$%d\r\n%s\r\n$1\r\n1\r\n$4\r\nheld\r\n$1\r\n7\r\n"
               % (len(SET_SCRIPT), SET_SCRIPT.encode()))
    assert_reply_held(m.port, request, lambda: r.get("held") == "7", rep, b"$4\r\ndone\r\n")
    assert client(rep).get("held") == "7"
