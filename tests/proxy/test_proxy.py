"""The proxy in front of two real redis-server groups: routing, splitting, order, auth, limits."""

from __future__ import annotations

import socket

import pytest
import redis

from tests.proxy.conftest import direct, exchange
from xcache.proxy.router import slot_of
from xcache.resp import encode_command


def owner(key: bytes) -> int:
    """Group that owns a key with the default two-group table (slots 0-511 -> 1, 512-1023 -> 2)."""
    return 1 if slot_of(key) < 512 else 2


def keys_in(group: int, n: int, prefix: str = "k") -> list[bytes]:
    out, i = [], 0
    while len(out) < n:
        k = f"{prefix}{i}".encode()
        if owner(k) == group:
            out.append(k)
        i += 1
    return out


def _burst(client, n: int) -> tuple[list, list]:
    """n pipelined GETs in one write: (all results, the refused ones)."""
    pipe = client.pipeline(transaction=False)
    for _ in range(n):
        pipe.get("q")
    results = pipe.execute(raise_on_error=False)
    return results, [r for r in results if isinstance(r, redis.ResponseError)]


def test_routing_by_slot_and_hashtag(proxy, backends):
    c = proxy.client()
    nodes = {1: direct(backends[0]), 2: direct(backends[1])}
    for k in keys_in(1, 5) + keys_in(2, 5):
        assert c.set(k, b"v" + k)
        assert nodes[owner(k)].get(k) == b"v" + k
        assert nodes[3 - owner(k)].get(k) is None
        assert c.get(k) == b"v" + k
    tagged = [b"{user7}.a", b"{user7}.b", b"x{user7}y"]
    for k in tagged:
        c.set(k, b"1")
    assert all(nodes[owner(b"user7")].get(k) == b"1" for k in tagged)
    assert c.msetnx({b"{t}1": b"a", b"{t}2": b"b"})
    assert c.rename(b"{t}1", b"{t}3")
    assert c.get(b"{t}3") == b"a"
    k2 = keys_in(2, 1)[0]  # OBJECT routes by its second argument, the key
    assert c.object("encoding", k2) in (b"embstr", b"raw", b"int")


def test_multikey_split_and_merge(proxy):
    c = proxy.client()
    ks = keys_in(1, 3, "m") + keys_in(2, 3, "m")
    ks = [ks[0], ks[3], ks[1], ks[4], ks[2], ks[5]]  # interleave groups
    assert c.mset({k: b"val-" + k for k in ks})
    missing = b"never-set"
    assert c.mget(ks + [missing]) == [b"val-" + k for k in ks] + [None]
    assert c.exists(*ks, missing) == 6
    assert c.touch(*ks) == 6
    assert c.delete(ks[0], ks[1], missing) == 2
    assert c.unlink(*ks) == 4
    assert c.mget(ks) == [None] * 6
    with pytest.raises(redis.exceptions.ClusterCrossSlotError, match="MSETNX.*one group.*groups 1 and 2"):
        c.msetnx({ks[0]: b"1", ks[1]: b"2"})
    assert c.msetnx({ks[0]: b"1", ks[2]: b"2"})  # two slots of one group: one command there


def test_pipeline_order_across_groups(proxy):
    """Raw pipelining: 300 commands in one write, replies in request order."""
    ks = keys_in(1, 10, "p") + keys_in(2, 10, "p")
    cmds, expect = [], []
    for i in range(15):
        for k in ks:
            v = f"{k.decode()}-{i}".encode()
            cmds.append(encode_command(b"SET", k, v))
            expect.append(b"OK")
            cmds.append(encode_command(b"GET", k))
            expect.append(v)
    cmds.append(encode_command(b"MGET", *ks))
    expect.append([f"{k.decode()}-14".encode() for k in ks])
    cmds.append(encode_command(b"PING"))
    expect.append(b"PONG")
    assert exchange(proxy.port, b"".join(cmds), len(expect)) == expect


def test_local_and_refused_commands(proxy):
    c = proxy.client()
    assert c.ping()
    assert c.echo(b"hi") == b"hi"
    assert c.execute_command("SELECT", 0) is True
    with pytest.raises(redis.ResponseError, match="database 0"):
        c.execute_command("SELECT", 1)
    assert c.info()["xcache_mode"] == "proxy"
    for cmd, args in (("SHUTDOWN", []), ("WAIT", ["0", "0"])):
        with pytest.raises(redis.ResponseError, match=f"'{cmd}' is not supported through the proxy"):
            c.execute_command(cmd, *args)
    with pytest.raises(redis.ResponseError, match="KEYS is off through the proxy"):
        c.execute_command("KEYS", "*")
    with pytest.raises(redis.ResponseError, match="FLUSHALL is off through the proxy"):
        c.execute_command("FLUSHALL")
    with pytest.raises(redis.ResponseError, match="unknown command 'NOSUCH'"):
        c.execute_command("NOSUCH")
    with pytest.raises(redis.ResponseError, match="wrong number of arguments"):
        c.execute_command("GET")
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
        s.sendall(b"PING\r\nQUIT\r\nPING\r\n")  # inline commands too; nothing after QUIT
        data = b""
        while chunk := s.recv(100):
            data += chunk
    assert data == b"+PONG\r\n+OK\r\n"


def test_auth(backends, start_proxy):
    a, b = backends
    p = start_proxy(f"1=127.0.0.1:{a.port},2=127.0.0.1:{b.port}", session_password="s3cret")
    c = p.client()
    with pytest.raises(redis.AuthenticationError):
        c.get("x")
    with pytest.raises(redis.AuthenticationError):
        p.client(password="wrong").ping()
    good = p.client(password="s3cret")
    assert good.set("x", "1") and good.get("x") == b"1"
    assert p.client(username="default", password="s3cret").ping()
    assert p.metric("xcache_proxy_rejected_total", reason="auth_failed") >= 1


def test_auth_deadline_and_idle_timeout(backends, start_proxy):
    a, b = backends
    p = start_proxy(f"1=127.0.0.1:{a.port},2=127.0.0.1:{b.port}", session_password="pw",
                    auth_timeout_ms=200, idle_timeout_ms=1000)
    with socket.create_connection(("127.0.0.1", p.port), timeout=10) as s:
        s.sendall(b"PING\r\n")
        data = b""
        while chunk := s.recv(1000):
            data += chunk
    assert data.startswith(b"-NOAUTH") and b"authentication deadline" in data
    c = p.client(password="pw")
    assert c.ping()
    # An authenticated but idle session is closed by the idle sweeper; the client reconnects.
    p.wait_until(lambda: p.metric("xcache_proxy_rejected_total", reason="idle_timeout") >= 1, what="idle close")
    assert p.metric("xcache_proxy_rejected_total", reason="auth_timeout") == 1


def test_max_clients_refuses_at_once(backends, start_proxy):
    """Past max_clients a client is told so at once (Redis's error) instead of waiting in the
    kernel queue until its timeout: fail fast, and the listener never stops draining."""
    a, b = backends
    p = start_proxy(f"1=127.0.0.1:{a.port},2=127.0.0.1:{b.port}", max_clients=2)
    c1, c2 = p.client(), p.client()
    assert c1.ping() and c2.ping()
    s = socket.create_connection(("127.0.0.1", p.port), timeout=10)
    s.sendall(b"PING\r\n")
    assert s.recv(100) == b"-ERR max number of clients reached\r\n"
    try:  # and closed (a reset: its PING was never read)
        assert s.recv(100) == b""
    except ConnectionResetError:
        pass
    s.close()
    assert p.metric("xcache_proxy_rejected_total", reason="max_clients") == 1
    assert p.metric("xcache_proxy_listener_paused") == 0
    assert p.stats()["sessions"] == 2
    c1.close()  # a session ends: the next client gets in
    p.wait_until(lambda: p.stats()["sessions"] == 1, what="session closed")
    s = socket.create_connection(("127.0.0.1", p.port), timeout=10)
    s.sendall(b"PING\r\n")
    assert s.recv(100) == b"+PONG\r\n"
    s.close()
    c2.close()


def test_per_ip_limit_and_qps(backends, start_proxy):
    a, b = backends
    p = start_proxy(f"1=127.0.0.1:{a.port},2=127.0.0.1:{b.port}", max_clients_per_ip=2, session_qps_limit=5)
    c1, c2 = p.client(), p.client()
    assert c1.ping() and c2.ping()
    with socket.create_connection(("127.0.0.1", p.port), timeout=10) as s:
        s.sendall(b"PING\r\n")
        assert s.recv(200).startswith(b"-ERR xcache: too many connections from your address")
    assert p.metric("xcache_proxy_rejected_total", reason="ip_concurrency") == 1
    c2.close()
    results, refused = _burst(c1, 50)
    assert refused and all("session QPS limit" in str(r) for r in refused)
    assert len(results) - len(refused) >= 5
    assert p.metric("xcache_proxy_rejected_total", reason="qps_session") == len(refused)


def test_circuit_breaker_and_admin_auth(proxy):
    c = proxy.client()
    c.hset("user:1", "a", "1")
    status, _ = proxy.admin("PUT", "/breaker", {"commands": ["HGETALL"]}, token="wrong")
    assert status == 401
    status, _ = proxy.admin("PUT", "/breaker", {"commands": ["HGETALL"]}, token=None)
    assert status == 401
    status, body = proxy.admin("PUT", "/breaker", {"commands": ["hgetall"], "write_prefixes": ["user:"]})
    assert status == 200 and body == {"commands": ["hgetall"], "write_prefixes": ["user:"]}
    with pytest.raises(redis.ResponseError, match="'HGETALL' is blocked by the circuit breaker"):
        c.hgetall("user:1")
    with pytest.raises(redis.ResponseError, match="prefix 'user:' are blocked"):
        c.set("user:2", "x")
    with pytest.raises(redis.ResponseError, match="prefix 'user:' are blocked"):
        c.delete("other", "user:1")
    assert c.hget("user:1", "a") == b"1"  # reads of the prefix still work
    assert c.set("other", "x")
    assert proxy.metric("xcache_proxy_rejected_total", reason="breaker") == 3
    assert proxy.admin("PUT", "/breaker", {"commands": [], "write_prefixes": []})[0] == 200
    assert c.hgetall("user:1") == {b"a": b"1"}


def test_slot_push_epochs(proxy, backends):
    a, b = backends
    status, table = proxy.admin("GET", "/slots")
    assert status == 200 and table["epoch"] == 0 and table["slots"] == {"0-511": 1, "512-1023": 2}
    flipped = {"epoch": 1, "groups": table["groups"], "slots": {"0-511": 2, "512-1023": 1}}
    assert proxy.admin("PUT", "/slots", flipped, token=None)[0] == 401
    status, body = proxy.admin("PUT", "/slots", flipped)
    assert status == 200 and body == {"epoch": 1, "workers_applied": 1, "drained": True}
    k = keys_in(1, 1)[0]  # slot < 512: now owned by group 2
    proxy.client().set(k, "moved")
    assert direct(b).get(k) == b"moved" and direct(a).get(k) is None
    status, body = proxy.admin("PUT", "/slots", {**flipped, "epoch": 1})
    assert status == 409 and "stale epoch" in body["error"]
    assert proxy.admin("PUT", "/slots", {"epoch": 5, "groups": {}})[0] == 400
    assert proxy.admin("GET", "/slots")[1]["epoch"] == 1
    assert proxy.metric("xcache_proxy_slots_epoch") == 1


def test_workers_share_port_and_aggregate(backends, start_proxy):
    a, b = backends
    p = start_proxy(f"1=127.0.0.1:{a.port},2=127.0.0.1:{b.port}", workers=2)
    clients = [p.client() for _ in range(24)]
    pids = set()
    for i, c in enumerate(clients):
        c.set(f"w{i}", i)
        pids.add(c.info()["process_id"])
    stats = p.stats()
    assert len(stats["workers"]) == 2 and stats["sessions"] == 24
    assert stats["ops"]["SET"] == 24
    assert len(pids) == 2  # SO_REUSEPORT spread 24 connections over both workers
    assert len(stats["listen_queues"]) == 2
    status, body = p.admin("PUT", "/slots", {**p.admin("GET", "/slots")[1], "epoch": 9})
    assert status == 200 and body["workers_applied"] == 2
    assert p.metric("xcache_proxy_sessions") == 24
    for c in clients:
        c.close()


def test_protocol_error_answers_then_closes(proxy):
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
        s.sendall(b"*1\r\n$4\r\nPING\r\n*1\r\n$x\r\n")
        data = b""
        while chunk := s.recv(1000):
            data += chunk
    assert data.startswith(b"+PONG\r\n-ERR Protocol error:")
    assert proxy.client().ping()  # the proxy itself is fine


def test_pipeline_to_one_group_is_forwarded_as_a_batch(proxy, backends):
    """A chunk whose commands all go to one connection travels as is; replies come back in order,
    backend errors inside it included."""
    ks = keys_in(1, 20, "b")
    direct(backends[0]).lpush(ks[5], b"x")  # GET on a list: -WRONGTYPE in the middle of the batch
    cmds, expect = [], []
    for i, k in enumerate(ks):
        if i != 5:
            cmds.append(encode_command(b"SET", k, b"%d" % i))
            expect.append(b"OK")
        cmds.append(encode_command(b"GET", k))
        expect.append(b"%d" % i if i != 5 else "WRONGTYPE")
    got = exchange(proxy.port, b"".join(cmds), len(expect))
    got = [("WRONGTYPE" if str(g).startswith("WRONGTYPE") else g) for g in got]
    assert got == expect
    stats = proxy.stats()
    assert stats["ops"]["GET"] == 20 and stats["ops"]["SET"] == 19 and stats["errors"]["GET"] == 1


def test_ip_connection_rate_and_runtime_qps_limit(backends, start_proxy):
    a, b = backends
    p = start_proxy(f"1=127.0.0.1:{a.port},2=127.0.0.1:{b.port}", conn_rate_per_ip=2)
    c1, c2 = p.client(), p.client()
    assert c1.ping() and c2.ping()
    with socket.create_connection(("127.0.0.1", p.port), timeout=10) as s:
        s.sendall(b"PING\r\n")
        reply = s.recv(200)
    # The bucket may have refilled one token meanwhile; a burst of connections always trips it.
    if reply == b"+PONG\r\n":
        with socket.create_connection(("127.0.0.1", p.port), timeout=10) as s:
            s.sendall(b"PING\r\n")
            reply = s.recv(200)
    assert reply.startswith(b"-ERR xcache: connection rate limit")
    assert p.metric("xcache_proxy_rejected_total", reason="ip_rate") >= 1
    assert p.admin("PUT", "/limits", {"qps_limit": 5}, token=None)[0] == 401
    status, body = p.admin("PUT", "/limits", {"qps_limit": 5})
    assert status == 200 and body == {"qps_limit": 5, "session_qps_limit": 0}
    _, refused = _burst(c1, 50)
    assert refused and all("proxy QPS limit" in str(r) for r in refused)
    assert p.metric("xcache_proxy_rejected_total", reason="qps_global") == len(refused)
    assert p.admin("PUT", "/limits", {"qps_limit": 0})[0] == 200
    assert c1.get("q") is None


def test_dead_worker_is_restarted_on_the_same_socket(proxy):
    import os
    import signal

    worker_pid = proxy.stats()["workers"][0]["pid"]
    os.kill(worker_pid, signal.SIGKILL)
    proxy.wait_until(lambda: [w["pid"] for w in proxy.stats()["workers"]] not in ([], [worker_pid]),
                     what="worker respawned")
    proxy.wait_healthy()
    assert proxy.client().ping()


def test_large_values_and_replies_span_many_reads(proxy):
    c = proxy.client()
    big = bytes(range(256)) * 8192  # 2 MiB
    ks = keys_in(1, 3, "big")
    pipe = c.pipeline(transaction=False)
    for k in ks:
        pipe.set(k, big)
        pipe.get(k)
    pipe.mget(ks)
    res = pipe.execute()
    assert res[:6] == [True, big] * 3
    assert res[6] == [big] * 3
    assert c.lrange("nolist", 0, -1) == []
    c.rpush("list", *[b"%d" % i for i in range(5000)])
    assert c.lrange("list", 0, -1) == [b"%d" % i for i in range(5000)]


def test_chunk_mixing_routed_local_and_split_commands(proxy):
    """Routed requests before and after local answers and splits in one chunk keep their order."""
    k1, k2 = keys_in(1, 1, "mx")[0], keys_in(2, 1, "mx")[0]
    chunk = b"".join(encode_command(*c) for c in (
        (b"SET", k1, b"a"), (b"PING",), (b"SET", k2, b"b"), (b"MGET", k1, k2), (b"GET", k1),
        (b"ECHO", b"e"), (b"GET", k2), (b"NOSUCH",), (b"GET", k1)))
    got = exchange(proxy.port, chunk, 9)
    got[7] = str(got[7])
    assert got == [b"OK", b"PONG", b"OK", [b"a", b"b"], b"a", b"e", b"b", "ERR unknown command 'NOSUCH', with args beginning with: ", b"a"]


def test_deep_pipeline_with_small_pending_limit(backends, start_proxy):
    """Reading pauses at max_pending_per_session and resumes as replies drain; nothing is lost."""
    a, b = backends
    p = start_proxy(f"1=127.0.0.1:{a.port},2=127.0.0.1:{b.port}", max_pending_per_session=16)
    n = 5000
    chunk = b"".join(encode_command(b"INCR", b"ctr{%d}" % (i % 7)) for i in range(n))
    assert exchange(p.port, chunk, n) == [i // 7 + 1 for i in range(n)]
