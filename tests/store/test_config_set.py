"""CONFIG SET of Redis 7's parameters, checked as config.c checks them: for a table covering every
parameter type (bool, string, enum, multi-arg enum, each numeric kind with its memory, percent and
bound checks, and the special parsers), the raw replies of CONFIG SET, good values and bad, and of
the CONFIG GET that follows equal redis-server's byte for byte."""

from __future__ import annotations

import socket

import pytest
import redis

from tests.procs import free_port, start_xcache_server, wait_until
from tests.store.crosscheck import both_fixture, raw, same  # noqa: F401 - fixture
from xcache.store import redisconfig

CASES = {
    # bool
    "lazyfree-lazy-user-del": ["yes", "NO", "Yes", "1", "", "yes\0x", "no"],
    "activedefrag": ["yes", "no", "maybe"],
    "replica-lazy-flush": ["yes", "nope", "no"],
    # string (EMPTY_STRING_IS_NULL, validated hostnames and process title templates)
    "replica-announce-ip": ["10.0.0.1", "", "x y"],
    "cluster-announce-hostname": ["node-1.example", "bad_host", "a" * 256, "a" * 255, ""],
    "proc-title-template": ["{title} {port}", "{nosuch}", "{title", "{title}", "{{x}}", "}",
                            "{title} {listen-addr} {server-mode}"],
    "ignore-warnings": ["ARM64-COW-BUG", ""],
    # enum, and a multi-argument (bit flags) enum
    "maxmemory-policy": ["allkeys-lru", "ALLKEYS-LFU", "volatile-ttl", "lru", "", "noeviction"],
    "oom-score-adj": ["relative", "bogus", "no"],
    "loglevel": ["warning", "debug notice", "notice"],
    "acl-pubsub-default": ["allchannels", "resetchannels"],
    "shutdown-on-sigint": ["now save", "save nosave", "force  now", "", "bogus", "nosave force",
                           "default"],
    # int / uint / ulong / long long / unsigned long long / size_t / ssize_t / time_t / off_t
    "list-max-listpack-size": ["-5", "0", "2147483648", "-2147483649", "+5", "05", "1.5",
                               "  5", "-2"],
    "hz": ["0", "1000", "-1", "50", "10"],
    "maxclients": ["0", "4294967296", "-1", "1k", "10000"],
    "slowlog-max-len": ["9223372036854775808", "-1", "200", "128"],
    "slowlog-log-slower-than": ["-2", "-1", "99999999999999999999", "10000"],
    "proto-max-bulk-len": ["1mb", "1048575", "2gb", "-1", "1tb", "1MB", "512mb"],
    "hash-max-listpack-value": ["1kb", "kb", "", "-5", "18446744073709551615", "64"],
    "set-max-intset-entries": ["x", "-1", "9223372036854775808", "1k", "512"],
    "cluster-link-sendbuf-limit": ["18446744073709551615", "18446744073709551616", "1g", "0"],
    "maxmemory-clients": ["10%", "100%", "101%", "-5", "0%", "1mb", "-1%", "%", "0"],
    "repl-backlog-ttl": ["-1", "7200", "3600"],
    "auto-aof-rewrite-min-size": ["1gb", "-1", "64mb"],
    "repl-backlog-size": ["100", "0", "-1", "1x", "16385", "2mb"],
    "active-defrag-cycle-min": ["0", "100", "5", "1"],
    # special parsers
    "save": ["3600 1 300 100", "", "1 2 3", "0 1", "1 -1", "1  2", "x 1", "60 4294967297",
             "+5 -0", " 5 1"],
    "client-output-buffer-limit": ["normal 0 0 0", "pubsub 1mb 2kb 3", "replica 1gb 1gb 100", "master 1 1 1",
                                   "normal 1 1", "slave 1x 1 1", "normal 0 0 -1",
                                   "normal 0 0 4294967295", "NORMAL 10mb 5mb 10 pubsub 0 0 0",
                                   "normal 0 0 0 slave 268435456 67108864 60 "
                                   "pubsub 33554432 8388608 60"],
    "oom-score-adj-values": ["0 200 800 1", "0 200", "0 2001 0", "0 x 800", "100 200 300",
                             "0 200 800"],
    "notify-keyspace-events": ["KEA", "Exl$", "AKEm", "x?", "g$lshzxetdn", "KA", "ntd", ""],
    "latency-tracking-info-percentiles": ["50 99 99.9", "", "101", "x", "0x10 -0 1e1", "nan",
                                          " 5", "1e-400", "50 99 99.9"],
}

# Whole-command cases: immutable/protected/unknown names, aliases, duplicates, all-or-nothing.
COMMANDS = [
    ("daemonize", "yes"), ("DaemonIZE", "no"), ("dir", "/tmp"), ("dbfilename", "x.rdb"),
    ("nosuch", "1"), ("replicaof", "no one"), ("slaveof", "127.0.0.1 1"),
    ("maxmemory-policy", "bad", "daemonize", "yes"), ("nosuch", "1", "daemonize", "yes"),
    ("daemonize", "yes", "nosuch", "1"),
    ("slave-priority", "abc"), ("SLAVE-PRIORITY", "abc"), ("Hash-Max-Ziplist-Entries", "x"),
    ("slave-priority", "7", "replica-priority", "8"),
    ("Slave-Priority", "1", "SLAVE-priority", "2"),
    ("maxmemory-policy", "allkeys-lru", "maxmemory-policy", "noeviction"),
    ("maxmemory-policy", "allkeys-lru", "hz", "x"),
    ("lua-time-limit", "x"), ("replica-priority", "100"),
    ("use-exit-on-panic", "maybe"),
    ("hz", "10", "maxmemory-policy"), ("hz",), (),
]


def _get(both, name):
    return same(both, "CONFIG", "GET", name)


@pytest.mark.parametrize("name", sorted(CASES))
def test_config_set_then_get_like_redis(both, name):
    before = [raw(cl, "CONFIG", "GET", name) for cl in both]
    try:
        for value in CASES[name]:
            same(both, "CONFIG", "SET", name, value)
            _get(both, name)
    finally:
        for cl, old in zip(both, before, strict=True):
            raw(cl, "CONFIG", "SET", *old)


def test_config_set_names_like_redis(both):
    watched = ("maxmemory-policy", "hz", "replica-priority", "slave-priority")
    before = [raw(cl, "CONFIG", "GET", "replica-priority") for cl in both]
    try:
        for args in COMMANDS:
            same(both, "CONFIG", "SET", *args)
            for name in watched:
                _get(both, name)
    finally:
        for cl, old in zip(both, before, strict=True):
            raw(cl, "CONFIG", "SET", *old, "maxmemory-policy", "noeviction", "hz", "10")


def test_hidden_parameters_answer_only_an_exact_get(both):
    for name in ("use-exit-on-panic", "key-load-delay", "watchdog-period",
                 "loading-process-events-interval-bytes"):
        _get(both, name)
        assert same(both, "CONFIG", "GET", name[:-1] + "*") == []


def test_config_set_everything_config_get_lists_with_its_own_value(both):
    """Every modifiable parameter without a side effect takes back the value it shows."""
    skip = {"port", "bind", "dir", "dbfilename", "requirepass", "masterauth", "masteruser",
            "maxmemory", "appendonly", "proc-title-template", "oom-score-adj", "maxclients",
            "replica-announce-ip", "unixsocket", "save", "client-output-buffer-limit",
            "timeout", "repl-timeout", "tls-port", "tls-cert-file",
            "tls-key-file", "tls-ca-cert-file", "tls-auth-clients", "tls-replication"}
    names = raw(both[1], "CONFIG", "GET", "*")[0::2]
    for name in sorted(n.decode() for n in names):
        if name in skip:
            continue
        value = raw(both[1], "CONFIG", "GET", name)[1]
        reply = same(both, "CONFIG", "SET", name, value)
        if reply == b"OK":
            _get(both, name)


def test_what_the_node_cannot_change_live_takes_its_own_value_only(xcache_node):
    """port, bind, the node's own start-time keys: CONFIG SET to the value CONFIG GET shows is a
    no-op (as in Redis, Redis's CONFIG sanity test does it for every parameter); others refused."""
    with redis.Redis(port=xcache_node.port, decode_responses=True) as cl:
        for name in ("port", "bind", "rocksdb-bloom-bits-per-key", "rocksdb-statistics",
                     "rocksdb-memtable-bloom-ratio", "repl-backlog-size", "tls-replication",
                     "replica-read-only", "slave-read-only"):
            value = cl.config_get(name)[name]
            assert cl.config_set(name, value) is True
            assert cl.config_get(name) == {name: value}
        for name, value in (("bind", "127.0.0.2"), ("slave-read-only", "no")):
            with pytest.raises(redis.ResponseError) as exc:
                cl.config_set(name, value)
            assert str(exc.value) == (f"CONFIG SET failed (possibly related to argument "
                                      f"'{name}') - can't set immutable config")
        with pytest.raises(redis.ResponseError, match="argument must be 'yes' or 'no'"):
            cl.config_set("replica-read-only", "maybe")
        everything = cl.config_get("*")
        for name, value in everything.items():
            if name not in ("dir", "dbfilename", "requirepass", "masterauth") and \
                    not any(f in redisconfig.TABLE.get(name, {}).get("flags", ())
                            for f in ("IMMUTABLE", "PROTECTED")) and \
                    redisconfig.ALIASES.get(name, name) not in ("replicaof", "databases"):
                cl.config_set(name, value)
        assert cl.config_get("*") == everything


def test_config_set_port_moves_the_listener_or_changes_nothing(tmp_path):
    """CONFIG SET port listens on the new port and closes the old one (connected clients stay);
    a port it cannot listen on fails with Redis's error and leaves every parameter of the same
    CONFIG SET as it was (introspection's "CONFIG SET rollback on apply error")."""
    node = start_xcache_server(tmp_path)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        cl = redis.Redis(port=node.port, decode_responses=True, single_connection_client=True)
        before = cl.config_get("maxmemory")
        with pytest.raises(redis.ResponseError, match="^CONFIG SET failed \\(possibly related to "
                           "argument 'port'\\) - Unable to listen on this port"):
            cl.execute_command("CONFIG", "SET", "maxmemory", "10000001", "port", taken.getsockname()[1])
        assert cl.config_get("maxmemory") == before
        assert cl.config_get("port") == {"port": str(node.port)}
        new_port = free_port()
        cl.execute_command("CONFIG", "SET", "port", new_port)
        assert cl.ping() is True  # this connection stays
        assert cl.config_get("port") == {"port": str(new_port)}
        with redis.Redis(port=new_port) as moved:
            assert moved.ping() is True
        with pytest.raises(redis.ConnectionError), redis.Redis(port=node.port) as old:
            old.ping()
        cl.close()
    finally:
        taken.close()
        node.stop()


def test_repl_backlog_size_resizes_the_backlog(tmp_path):
    """A master's backlog shrinks to a new repl-backlog-size at once, and keeps that much."""
    from tests.procs import start_xcache_server
    node = start_xcache_server(tmp_path)
    try:
        with redis.Redis(port=node.port) as cl:
            # a backlog exists once a replica has attached: a PSYNC from a raw socket
            with socket.create_connection(("127.0.0.1", node.port), timeout=10) as s:
                s.sendall(b"PSYNC ? -1\r\n")
                wait_until(lambda: cl.info("replication")["repl_backlog_active"] == 1)
                for i in range(200):
                    cl.set(f"k{i}", "v" * 200)
                wait_until(lambda: cl.info("replication")["repl_backlog_histlen"] > 40000)
                assert cl.config_set("repl-backlog-size", "100") is True
                info = cl.info("replication")
                assert info["repl_backlog_size"] == 16384
                assert info["repl_backlog_histlen"] == 16384
    finally:
        node.stop()


def test_redis_names_of_node_keys_answer_the_nodes_values(tmp_path):
    """tls-auth-clients, tls-port...: the node's own settings, in Redis's form (bool: yes/no)."""
    from tests.procs import start_xcache_server
    node = start_xcache_server(tmp_path, "--set", "tls_auth_clients=optional")
    try:
        with redis.Redis(port=node.port, decode_responses=True) as cl:
            assert cl.config_get("tls-auth-clients", "tls-replication", "tls-port") == {
                "tls-auth-clients": "optional", "tls-replication": "no", "tls-port": "0"}
            assert cl.config_set("tls-auth-clients", "optional") is True  # its value: a no-op
            with pytest.raises(redis.ResponseError, match="can't set immutable config"):
                cl.config_set("tls-auth-clients", "yes")
    finally:
        node.stop()


def test_client_output_buffer_limit_normal_is_the_nodes_limit(xcache_node):
    with redis.Redis(port=xcache_node.port) as cl:
        before = cl.config_get("client-output-buffer-limit")["client-output-buffer-limit"]
        old = cl.config_get("client-output-buffer-limit-bytes")
        try:
            cl.config_set("client-output-buffer-limit", "normal 1mb 0 0")
            assert cl.config_get("client-output-buffer-limit-bytes") == {
                "client-output-buffer-limit-bytes": "1048576"}
            cl.config_set("client-output-buffer-limit-bytes", "2097152")
            got = cl.config_get("client-output-buffer-limit")["client-output-buffer-limit"]
            assert got.startswith("normal 2097152 0 0 slave ")
        finally:
            cl.config_set("client-output-buffer-limit", before)
            assert cl.config_get("client-output-buffer-limit-bytes") == old


def test_slowlog_hides_sensitive_config_values_like_redis(both):
    shown = []
    for cl in both:
        raw(cl, "CONFIG", "SET", "slowlog-log-slower-than", "0")
        raw(cl, "SLOWLOG", "RESET")
        try:
            raw(cl, "CONFIG", "SET", "masterauth", "", "MASTERUSER", "u", "hz", "10")
            raw(cl, "CONFIG", "SET", "masteruser", "")
        finally:
            raw(cl, "CONFIG", "SET", "slowlog-log-slower-than", "10000")
        shown.append([entry[3] for entry in raw(cl, "SLOWLOG", "GET")])
        raw(cl, "SLOWLOG", "RESET")
    assert shown[0] == shown[1]
    assert [b"CONFIG", b"SET", b"masterauth", b"(redacted)", b"MASTERUSER", b"(redacted)",
            b"hz", b"10"] in shown[0]


def test_object_idletime_under_an_lfu_policy_like_redis(both):
    for cl in both:
        raw(cl, "SET", "k", "v")
    try:
        same(both, "CONFIG", "SET", "maxmemory-policy", "allkeys-lfu")
        same(both, "OBJECT", "IDLETIME", "k")
        same(both, "OBJECT", "IDLETIME", "nosuchkey")
        same(both, "CONFIG", "SET", "maxmemory-policy", "volatile-lru")
        assert all(isinstance(raw(cl, "OBJECT", "IDLETIME", "k"), int) for cl in both)
    finally:
        for cl in both:
            raw(cl, "CONFIG", "SET", "maxmemory-policy", "noeviction")


def test_latency_tracking_off_empties_info_latencystats_like_redis(both):
    try:
        same(both, "CONFIG", "SET", "latency-tracking", "no")
        assert same(both, "INFO", "latencystats") == b"# Latencystats\r\n"
    finally:
        for cl in both:
            raw(cl, "CONFIG", "SET", "latency-tracking", "yes")
    assert all(b"latency_percentiles_usec_" in raw(cl, "INFO", "latencystats") for cl in both)


def _failed_auth(both, user: str) -> None:
    for cl in both:
        with pytest.raises(redis.AuthenticationError):
            raw(cl, "AUTH", user, "wrong")  # a new ACL LOG entry


def test_acllog_max_len_bounds_the_acl_log_like_redis(both):
    try:
        same(both, "CONFIG", "SET", "acllog-max-len", "2")
        for cl in both:
            raw(cl, "ACL", "LOG", "RESET")
        for user in ("u1", "u2", "u3"):
            _failed_auth(both, user)
        assert [len(raw(cl, "ACL", "LOG")) for cl in both] == [2, 2]
        same(both, "CONFIG", "SET", "acllog-max-len", "0")
        _failed_auth(both, "u4")
        assert [len(raw(cl, "ACL", "LOG")) for cl in both] == [0, 0]
    finally:
        for cl in both:
            raw(cl, "CONFIG", "SET", "acllog-max-len", "128")
            raw(cl, "ACL", "LOG", "RESET")


def test_slowlog_redacts_secrets_like_redis(both):
    """slowlog.tcl: ACL SETUSER (even one refused), AUTH, HELLO's AUTH and MIGRATE's AUTH/AUTH2
    keep their command and options in SLOWLOG, their secrets shown as (redacted)."""
    import socket

    from tests.procs import read_reply
    from xcache.resp import encode_command

    shown = []
    for cl in both:
        port = cl.connection_pool.connection_kwargs["port"]
        raw(cl, "CONFIG", "SET", "slowlog-log-slower-than", "0")
        raw(cl, "SLOWLOG", "RESET")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                for argv in (("ACL", "SETUSER", "slow user", "+get"),
                             ("ACL", "SETUSER", "slowu", "+get"),
                             ("AUTH", "nobody", "pw"), ("HELLO", "2", "AUTH", "nobody", "pw"),
                             ("MIGRATE", "127.0.0.1", port, "key", "9", "5000"),
                             ("MIGRATE", "127.0.0.1", port, "key", "9", "5000", "AUTH", "pw"),
                             ("MIGRATE", "127.0.0.1", port, "key", "9", "5000", "AUTH2", "u",
                              "pw")):
                    s.sendall(encode_command(*[str(a).encode() for a in argv]))
                    read_reply(s)
        finally:
            raw(cl, "CONFIG", "SET", "slowlog-log-slower-than", "10000")
            raw(cl, "ACL", "DELUSER", "slowu")
        got = [entry[3] for entry in raw(cl, "SLOWLOG", "GET", "-1")][::-1]
        shown.append([[b"PORT" if a == str(port).encode() else a for a in e] for e in got])
        raw(cl, "SLOWLOG", "RESET")
    assert shown[0] == shown[1]
    assert [b"ACL", b"SETUSER", b"(redacted)", b"(redacted)"] in shown[0]
    assert [b"HELLO", b"2", b"AUTH", b"(redacted)", b"(redacted)"] in shown[0]
    assert [b"MIGRATE", b"127.0.0.1", b"PORT", b"key", b"9", b"5000", b"AUTH2", b"(redacted)",
            b"(redacted)"] in shown[0]
