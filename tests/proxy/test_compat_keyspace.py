"""Whole-keyspace and server commands through the proxy: SCAN/DBSIZE/KEYS/INFO/CONFIG... over
two redis-server groups (and xcache server groups), and the tools that read them."""

from __future__ import annotations

import subprocess

import pytest
import redis

from tests.procs import start_xcache_server
from tests.proxy.conftest import direct
from tests.proxy.test_proxy import keys_in


@pytest.mark.parametrize("protocol", [2, 3])
def test_scan_dbsize_randomkey_across_groups(proxy, protocol):
    c = redis.Redis(port=proxy.port, socket_timeout=10, protocol=protocol)
    ks = set(keys_in(1, 30, "s") + keys_in(2, 30, "s"))
    for k in ks:
        c.set(k, b"1")
    c.hset("s-hash", "f", "v")
    assert c.dbsize() == 61
    assert set(c.scan_iter(count=7)) == ks | {b"s-hash"}
    assert set(c.scan_iter(match="s1*")) == {k for k in ks if k.startswith(b"s1")}
    assert set(c.scan_iter(_type="hash")) == {b"s-hash"}
    # a group that is done hands over to the next within one call while under COUNT keys
    cursor, page = c.scan(0, count=1000)
    assert cursor == 0 and sorted(page) == sorted(ks | {b"s-hash"})
    cursor, page = c.scan(0, count=1)
    assert cursor != 0 and len(page) <= 10
    assert c.randomkey() in ks | {b"s-hash"}
    with pytest.raises(redis.ResponseError, match="invalid cursor"):
        c.scan("nope")
    for bad in ("1_0", " 1", "1 "):  # Redis's strtoul refuses them; Python's int() does not
        with pytest.raises(redis.ResponseError, match="invalid cursor"):
            c.scan(bad)
    assert c.execute_command("SCAN", "+0", "COUNT", "1000")[0] == 0  # a sign and leading zeros are
    assert c.execute_command("SCAN", "00", "COUNT", "1000")[0] == 0  # taken, as by strtoul
    for bad in ("0_0", " 0", "+0"):
        with pytest.raises(redis.ResponseError, match="not an integer or out of range"):
            c.execute_command("SELECT", bad)
    with pytest.raises(redis.ResponseError, match="not an integer or out of range"):
        c.execute_command("CLIENT", "UNBLOCK", "1_0")
    with pytest.raises(redis.ResponseError, match="Protocol version is not an integer"):
        c.execute_command("HELLO", "3_0")


def test_keys_and_flush_behind_settings(backends, start_proxy):
    a, b = backends
    p = start_proxy(f"1=127.0.0.1:{a.port},2=127.0.0.1:{b.port}", allow_keys="true", allow_flush="true")
    c = p.client()
    ks = keys_in(1, 3, "f") + keys_in(2, 3, "f")
    for k in ks:
        c.set(k, b"1")
    assert sorted(c.keys("f*")) == sorted(ks)
    assert c.flushall() is True
    assert c.dbsize() == 0 and direct(a).dbsize() == 0 and direct(b).dbsize() == 0
    assert c.randomkey() is None


def test_info_config_and_server_commands(proxy, backends):
    c = proxy.client()
    for k in keys_in(1, 4, "i") + keys_in(2, 5, "i"):
        c.set(k, b"v", ex=100)
    info = c.info()
    assert info["redis_version"] and info["xcache_mode"] == "proxy" and info["tcp_port"] == proxy.port
    assert info["db0"]["keys"] == 9 and info["db0"]["expires"] == 9
    assert info["connected_clients"] >= 1 and "slots_epoch" in info
    per_node = sum(direct(n).info("memory")["used_memory"] for n in backends)
    used = c.info("memory")["used_memory"]
    assert per_node * 0.5 < used < per_node * 2  # the groups' sum (they move a little meanwhile)
    keyspace = c.info("keyspace")  # read once: avg_ttl moves between two reads
    assert set(keyspace) == {"db0"} and set(keyspace["db0"]) == {"keys", "expires", "avg_ttl"}
    assert (keyspace["db0"]["keys"], keyspace["db0"]["expires"]) == (9, 9)
    assert c.info("replication")["role"] == "master"
    assert c.config_get("save") == direct(backends[0]).config_get("save")
    assert "maxmemory" in c.config_get("max*")
    assert c.config_set("slowlog-max-len", 77)  # every group runs the same configuration
    assert all(direct(n).config_get("slowlog-max-len") == {"slowlog-max-len": "77"} for n in backends)
    with pytest.raises(redis.ResponseError, match="CONFIG SET requirepass is not supported"):
        c.config_set("requirepass", "x")  # it would lock the proxy out of its nodes
    assert c.config_set("requirepass", "")  # the nodes' value: nothing changes, as on Redis
    assert c.execute_command("CONFIG", "SET", "bind-source-addr", "", "unixsocketperm", "0") == b"OK"
    with pytest.raises(redis.ResponseError, match="CONFIG SET bind-source-addr is not supported"):
        c.execute_command("CONFIG", "SET", "bind-source-addr", "", "slowlog-max-len", "78")
    assert c.slowlog_reset() and c.slowlog_len() >= 0 and isinstance(c.slowlog_get(), list)
    assert c.command_count() == direct(backends[0]).command_count()
    assert c.execute_command("COMMAND", "INFO", "get")
    assert c.execute_command("ROLE") == [b"master", 0, []]
    assert len(c.time()) == 2 and b"Redis ver." in c.lolwut()
    assert c.execute_command("SELECT", 0) is True
    assert c.client_setname("x") and c.client_getname() == "x"
    assert c.execute_command("CLIENT", "SETINFO", "LIB-NAME", "mylib") == b"OK"
    mine = c.client_info()
    assert mine["name"] == "x" and mine["lib-name"] == "mylib" and mine["id"] == c.client_id()
    assert any(int(cl["id"]) == mine["id"] for cl in c.client_list())
    assert c.memory_usage(keys_in(2, 1, "i")[0]) > 0


def test_tools_show_no_warning(proxy):
    bench = subprocess.run(["redis-benchmark", "-p", str(proxy.port), "-n", "1000", "-t", "get,set", "-q"],
                           capture_output=True, text=True, timeout=120)
    out = bench.stdout + bench.stderr
    assert bench.returncode == 0 and "SET:" in out and "GET:" in out
    assert "WARNING" not in out.upper() and "Could not fetch" not in out
    for args in (["set", "cli", "v"], ["get", "cli"], ["dbsize"], ["--scan"], ["info", "keyspace"]):
        cli = subprocess.run(["redis-cli", "-p", str(proxy.port), *args], capture_output=True,
                             text=True, timeout=30)
        assert cli.returncode == 0 and not cli.stderr and "ERR" not in cli.stdout, (args, cli)
    cli = subprocess.run(["redis-cli", "-3", "-p", str(proxy.port), "hgetall", "nohash"],
                         capture_output=True, text=True, timeout=30)
    assert cli.returncode == 0 and not cli.stderr


@pytest.mark.parametrize("protocol", [2, 3])
def test_over_xcache_server_groups(tmp_path, start_proxy, protocol):
    nodes = [start_xcache_server(tmp_path), start_xcache_server(tmp_path)]
    try:
        p = start_proxy(f"1=127.0.0.1:{nodes[0].port},2=127.0.0.1:{nodes[1].port}")
        c = redis.Redis(port=p.port, socket_timeout=10, protocol=protocol)
        ks = keys_in(1, 10, "x") + keys_in(2, 10, "x")
        assert c.mset({k: k for k in ks}) and c.mget(ks) == ks
        assert c.dbsize() == 20 and set(c.scan_iter(count=3)) == set(ks)
        assert c.pipeline().set("{t}a", 1).incr("{t}a").execute() == [True, 2]
        assert c.info("server")["xcache_mode"] == "proxy"
        k1, k2 = keys_in(1, 2, "y")
        assert c.rpush(k1, "a") == 1 and c.rpoplpush(k1, k2) == b"a"  # two slots, one group
    finally:
        for n in nodes:
            n.stop()


def test_config_timeout_is_the_proxys_own(backends, start_proxy):
    """CONFIG SET timeout sets how long a session may sit idle in every worker (on the nodes it
    would close the proxy's pooled connections); CONFIG GET shows it; other parameters in the
    same command still reach the nodes."""
    import socket

    from tests.procs import read_reply, wait_until

    a, b = backends
    p = start_proxy(f"1=127.0.0.1:{a.port},2=127.0.0.1:{b.port}", workers=2)
    c = redis.Redis(port=p.port, socket_timeout=10, protocol=2)
    assert c.config_set("timeout", 70)
    wait_until(lambda: all(redis.Redis(port=p.port, socket_timeout=10).config_get("timeout") == {"timeout": "70"}
                           for _ in range(8)), what="every worker at 70")  # new connections: both workers
    assert direct(a).config_get("timeout") == {"timeout": "0"}
    assert c.execute_command("CONFIG", "SET", "timeout", "0", "maxmemory-policy", "allkeys-lru") == b"OK"
    assert direct(b).config_get("maxmemory-policy") == {"maxmemory-policy": "allkeys-lru"}
    assert c.config_get("timeout") == {"timeout": "0"}
    c3 = redis.Redis(port=p.port, socket_timeout=10, protocol=3)
    assert c3.config_get("time*")["timeout"] == "0"
    for bad, why in (("abc", "couldn't be parsed into an integer"), ("-1", "must be between 0 and 2147483647"),
                     ("1_0", "couldn't be parsed into an integer")):
        with pytest.raises(redis.ResponseError, match=f"argument 'timeout'.*{why}"):
            c.config_set("timeout", bad)
    with pytest.raises(redis.ResponseError, match="duplicate parameter"):
        c.execute_command("CONFIG", "SET", "timeout", "1", "timeout", "2")
    c.config_set("timeout", 1)
    with socket.create_connection(("127.0.0.1", p.port), timeout=10) as idle:
        assert read_reply(idle, closed_ok=True) == "closed"  # closed by the proxy, idle for 1 s
    c.config_set("timeout", 0)
    c.config_set("maxmemory-policy", "noeviction")
