"""ACL as redis-server 7.0 enforces it where a client can tell: commands run by scripts (checked
against the caller's user, logged with context lua), shard channels (checked as channels, not
keys), subscribers losing a channel permission, DELUSER of one's own user, acllog-max-len, and
the errors of malformed ACL commands."""

from __future__ import annotations

import socket

import pytest
import redis

from tests.procs import read_until
from tests.store.crosscheck import both_fixture, same  # noqa: F401 (fixture)


@pytest.fixture
def users(both):
    """Both servers, with the users a test makes removed and the ACL LOG settings restored."""
    yield both
    for client in both:
        for name in client.acl_users():
            if name not in ("default", b"default"):
                client.acl_deluser(name)
        client.config_set("acllog-max-len", 128)
        client.acl_log_reset()


def _as(client, user: str, password: str) -> redis.Redis:
    port = client.connection_pool.connection_kwargs["port"]
    return redis.Redis(port=port, username=user, password=password, socket_timeout=10)


def _log(client, n: int = 1) -> list:
    """The newest ACL LOG entries without their times and client details, nor the refusal of
    the CLIENT SETINFO redis-py sends on connect (Redis 7.0 does not know it: nothing logged)."""
    return [{k: v for k, v in e.items() if k not in ("age-seconds", "client-info")}
            for e in client.acl_log(n) if e["object"] not in ("client", b"client")]


@pytest.mark.parametrize("args", [
    ("ACL", "SETUSER", "bad user"), ("ACL", "SETUSER", "bad\tuser", "on"),
    ("ACL", "SETUSER", "u1", "+config|get|appendonly"), ("ACL", "SETUSER", "u1", "-config|get|x"),
    ("ACL", "SETUSER", "u1", "+select|0"), ("ACL", "SETUSER", "u1", "+config|"),
    ("ACL", "CAT", "NON_EXISTS"), ("ACL", "CAT", "a", "b"), ("ACL", "GENPASS", "1", "2"),
    ("ACL", "LOG", "1", "2"), ("CONFIG", "SET", "acllog-max-len", "-1"),
])
def test_malformed_acl_commands(users, args):
    same(users, *args)


def test_script_commands_use_the_callers_acl(users):
    results = []
    for client in users:
        client.acl_setuser("scripter", enabled=True, passwords=["+pw"], keys=["~*"],
                           commands=["+eval", "+get", "+evalsha"])
        client.acl_log_reset()
        with _as(client, "scripter", "pw") as conn:
            outcome = []
            for body in ("return redis.call('incr', KEYS[1])", "return redis.call('get', 'k')",
                         "return redis.pcall('set', KEYS[1], 'v')"):
                try:
                    outcome.append(conn.eval(body, 1, "k"))
                except redis.ResponseError as exc:
                    outcome.append(str(exc))
        results.append((outcome, _log(client, 5)))
    assert results[0] == results[1]
    assert results[0][1][0]["context"] == "lua"


def test_script_key_and_channel_denials(users):
    results = []
    for client in users:
        client.acl_setuser("scripter", enabled=True, passwords=["+pw"], keys=["allowed"],
                           channels=["&news"], commands=["+@all"])
        client.acl_log_reset()
        with _as(client, "scripter", "pw") as conn:
            outcome = []
            for args in (("set", "denied", "1"), ("publish", "other", "x"), ("set", "allowed", "1")):
                try:
                    outcome.append(conn.eval("return redis.call(unpack(ARGV))", 0, *args))
                except redis.ResponseError as exc:
                    outcome.append(str(exc))
        results.append((outcome, _log(client, 5)))
    assert results[0] == results[1]


def test_shard_channels_are_checked_as_channels(users):
    for client in users:
        client.acl_setuser("sharder", enabled=True, passwords=["+pw"], keys=[], channels=["&foo"],
                           commands=["+@all"])
    clients = [_as(client, "sharder", "pw") for client in users]
    try:
        for args in (("SPUBLISH", "foo", "x"), ("SPUBLISH", "bar", "x"), ("PUBLISH", "foo", "x"),
                     ("SSUBSCRIBE", "bar"), ("SET", "k", "v")):
            same(clients, *args)
    finally:
        for conn in clients:
            conn.close()


@pytest.mark.parametrize("subscribe,rules", [
    ("SUBSCRIBE foo:1", ["resetchannels", "&foo:1"]), ("SSUBSCRIBE foo:1", ["resetchannels", "&foo:1"]),
    ("PSUBSCRIBE bar:*", ["resetchannels", "&bar:*"]), ("SUBSCRIBE foo:1", ["allchannels"]),
])
def test_subscribers_are_disconnected_when_their_channels_are_revoked(users, subscribe, rules):
    for client in users:
        client.acl_setuser("sub", enabled=True, passwords=["+pw"], commands=["+@all"])
        client.execute_command("ACL", "SETUSER", "sub", *rules)
        port = client.connection_pool.connection_kwargs["port"]
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"AUTH sub pw\r\n" + subscribe.encode() + b"\r\n")
            read_until(s, b":1\r\n")
            client.execute_command("ACL", "SETUSER", "sub", "resetchannels", "&other")  # kept
            client.execute_command("ACL", "SETUSER", "sub", "resetchannels")  # revoked
            assert s.recv(100) == b"", client


def test_deleting_ones_own_user_answers_then_closes(users):
    for client in users:
        client.acl_setuser("using", enabled=True, passwords=["+pw"], commands=["+acl"])
        port = client.connection_pool.connection_kwargs["port"]
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"AUTH using pw\r\nACL DELUSER using\r\n")
            assert read_until(s, b":1\r\n") == b"+OK\r\n:1\r\n"
            assert s.recv(100) == b""


def test_acllog_max_len(users):
    lengths = []
    for client in users:
        client.acl_setuser("limited", enabled=True, passwords=["+pw"], commands=["+set"])
        client.acl_log_reset()
        client.config_set("acllog-max-len", 5)
        with _as(client, "limited", "pw") as conn:
            for j in range(10):
                with pytest.raises(redis.exceptions.NoPermissionError):
                    conn.set(f"obj:{j}", 1)
        lengths.append((len(client.acl_log()), client.config_get("acllog-max-len")))
    assert lengths[0] == lengths[1] == (5, {"acllog-max-len": "5"})


@pytest.mark.parametrize("call", [
    "redis.acl_check_cmd('set', 'xx', 1)", "redis.acl_check_cmd('hset', 'xx', 'f', 1)",
    "redis.acl_check_cmd('set', 'yy', 1)", "redis.acl_check_cmd('invalid-cmd', 'arg')",
    "redis.acl_check_cmd()", "redis.acl_check_cmd('set', {}, 1)",
])
def test_acl_check_cmd_in_scripts(users, call):
    results = []
    for client in users:
        client.execute_command("ACL", "SETUSER", "bob", "on", ">123", "+@scripting", "+set", "~x*")
        with _as(client, "bob", "123") as conn:
            try:
                results.append(conn.eval(f"return {call}", 1, "xx"))
            except redis.ResponseError as exc:
                results.append(str(exc))
        results.append(_log(client, 3))
    assert results[:2] == results[2:]


KEY_SPEC_COMMANDS = [
    ("GET", "{k}"), ("SET", "{k}", "v"), ("SET", "{k}", "v", "GET"), ("EXISTS", "{k}"),
    ("APPEND", "{k}", "v"), ("DEL", "{k}"), ("LMOVE", "{k}", "{k}2", "LEFT", "LEFT"),
    ("LMOVE", "read:x", "{k}", "LEFT", "LEFT"), ("SUNIONSTORE", "{k}", "read:a"),
    ("SINTERCARD", "1", "{k}"), ("BITFIELD", "{k}", "GET", "u8", "0"),
    ("BITFIELD", "{k}", "SET", "u8", "0", "1"), ("SORT", "read:l", "STORE", "{k}"),
    ("HEXISTS", "{k}", "f"), ("STRLEN", "{k}"), ("TYPE", "{k}"), ("COPY", "read:a", "{k}"),
    ("LMPOP", "1", "{k}", "LEFT"), ("EVAL", "return 1", "1", "{k}"), ("RENAME", "{k}", "read:x"),
    ("MEMORY", "USAGE", "{k}"), ("OBJECT", "ENCODING", "{k}"), ("XINFO", "STREAM", "{k}"),
    ("MIGRATE", "h", "1", "", "0", "5000", "KEYS", "{k}"), ("TOUCH", "{k}"),
    ("SORT", "{k}", "BY", "w*"), ("SORT_RO", "{k}", "GET", "#"),
]


@pytest.mark.parametrize("prefix", ["read:", "write:", "rw:", "none:"])
@pytest.mark.parametrize("command", KEY_SPEC_COMMANDS, ids=lambda c: " ".join(c))
def test_key_permissions_follow_key_specs(users, prefix, command):
    """%R~ / %W~ patterns against what each key spec needs (access: read; insert, update,
    delete: write), as ACL DRYRUN and the command itself see it."""
    args = [a.replace("{k}", prefix + "k") for a in command]
    for client in users:
        client.execute_command("ACL", "SETUSER", "keyspec", "on", ">pw", "+@all", "%R~read:*",
                               "%W~write:*", "~rw:*")
    same(users, "ACL", "DRYRUN", "keyspec", *args)


SELECTOR_RULES = [
    ("on", "nopass", "(+get ~k*)", "(%R~r* &ch* +@read)"),
    ("on", "nopass", "(+set", "~w*)", "+get", "~r*"),
    ("on", "(~a", "~b", "+get)", "clearselectors", "(+del ~d*)"),
    ("()", "reset", "(+ping)"),
    ("(on)",), ("(+get", "~x"), ("(>pw)",), ("(+nosuchcommand)",), ("(~x", "+get", ")"),
]


@pytest.mark.parametrize("rules", SELECTOR_RULES, ids=lambda r: " ".join(r))
def test_selectors_like_redis(users, rules):
    """ACL SETUSER with selectors: the same errors, ACL LIST and GETUSER (RESP2 and RESP3)."""
    same(users, "ACL", "SETUSER", "sel", *rules)
    same(users, "ACL", "LIST")
    same(users, "ACL", "GETUSER", "sel")
    port = [client.connection_pool.connection_kwargs["port"] for client in users]
    got = []
    for p in port:
        with socket.create_connection(("127.0.0.1", p), timeout=10) as s:
            s.sendall(b"HELLO 3\r\n")
            read_until(s, b"*0\r\n")
            s.sendall(b"ACL GETUSER sel\r\nPING\r\n")
            got.append(read_until(s, b"+PONG\r\n"))
    assert got[0] == got[1]


@pytest.mark.parametrize("command", [
    ("SET", "w1", "1"), ("SET", "r1", "1"), ("GET", "w1"), ("GET", "r1"), ("LPUSH", "r1", "1"),
    ("PUBLISH", "ch1", "x"), ("PUBLISH", "other", "x"), ("MGET", "r1", "w1"), ("DEL", "d1"),
])
def test_commands_pass_if_any_selector_allows_them(users, command):
    for client in users:
        client.execute_command("ACL", "SETUSER", "sel", "on", "nopass", "+get", "~r*", "&ch*",
                               "(+set ~w*)", "(+@all %W~d* &other)")
    same(users, "ACL", "DRYRUN", "sel", *command)
    clients = [_as(client, "sel", "x") for client in users]
    try:
        same(clients, *command)
    finally:
        for conn in clients:
            conn.close()
    assert _log(users[0], 2) == _log(users[1], 2)


@pytest.mark.parametrize("rules", [("~mylist",), ("~mylist", "~v*"), ("~mylist", "%W~*"),
                                   ("~mylist", "%R~*"), ("allkeys",)])
def test_sort_by_and_get_need_read_access_to_every_key(users, rules):
    for client in users:
        client.set("v1", 1)
        client.lpush("mylist", 1)
        client.execute_command("ACL", "SETUSER", "sorter", "on", "nopass",
                               "(+sort +sort_ro " + " ".join(rules) + ")")
    clients = [_as(client, "sorter", "x") for client in users]
    try:
        for args in (("SORT", "mylist", "BY", "v*"), ("SORT", "mylist", "GET", "v*"),
                     ("SORT_RO", "mylist", "GET", "#"), ("SORT", "mylist", "BY", "const")):
            same(clients, *args)
    finally:
        for conn in clients:
            conn.close()
