"""ACL on the storage node, differential: every command runs on an `xcache server` and on a real
redis-server 7.0 and must get the same reply (ACL LIST/GETUSER descriptions, SETUSER errors,
NOPERM errors, DRYRUN, AUTH user pass, ACL LOG fields)."""

from __future__ import annotations

import socket

import pytest
import redis

from tests.procs import read_until, start_redis, start_xcache_server


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    x = start_xcache_server(tmp_path_factory.mktemp("x"), "--set", "metrics_port=0")
    r = start_redis(tmp_path_factory.mktemp("r"))
    yield x, r
    x.stop()
    r.stop()


@pytest.fixture
def both(servers):
    clients = [redis.Redis(port=p.port, protocol=2, socket_timeout=10) for p in servers]
    yield clients
    for c in clients:
        for name in c.execute_command("ACL", "USERS"):
            if name != b"default":
                c.execute_command("ACL", "DELUSER", name)
        c.execute_command("ACL", "SETUSER", "default", "resetpass", "on", "nopass", "allkeys",
                          "allchannels", "allcommands")
        c.execute_command("ACL", "LOG", "RESET")
        c.flushall()
        c.close()


def same(both, *cmd):
    """Run cmd on both servers; the replies (or error texts) must be equal; -> the reply."""
    out = []
    for c in both:
        try:
            out.append(c.execute_command(*cmd))
        except redis.ResponseError as exc:
            out.append(("error", str(exc)))
    assert out[0] == out[1], cmd
    return out[0]


def raw(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data + b"PING\r\n")
        return read_until(s, b"+PONG\r\n")


RULES = [
    ["on", ">pw1", "~k*", "+get", "+@string", "-set", "&ch*"],
    [],
    ["on", "nopass", "allcommands", "allkeys"],
    ["on", ">x", "+@all", "-@dangerous", "+config|get", "resetkeys", "%R~r*", "%W~w*"],
    ["+@all", "-get", "+get"],
    ["-@all", "+@string", "-set", "+set"],
    ["+@read", "-@write", "~a", "~b", "&c", "&d"],
    ["on", "#" + "a" * 64, ">p", "<p", "+client|id", "-client|kill"],
    ["+select|0"],
    ["+@all", "-@keyspace", "-flushall", "+del"],
    ["reset", "on", "+@hash", "+@list", "-lpop"],
]


@pytest.mark.parametrize("rules", RULES, ids=lambda r: " ".join(r)[:40] or "empty")
def test_setuser_list_getuser_like_redis(both, rules):
    assert same(both, "ACL", "SETUSER", "u", *rules) == b"OK"
    same(both, "ACL", "LIST")
    same(both, "ACL", "GETUSER", "u")
    same(both, "ACL", "USERS")


@pytest.mark.parametrize("rules", [
    ["badrule"], ["+nocmd"], ["+@nocat"], ["#abc"], ["<nope"], ["allkeys", "~x"],
    ["allchannels", "&x"], ["-select|0"], ["!" + "b" * 64], ["%X~k"], ["on", ">ok", "bad"],
])
def test_setuser_errors_like_redis(both, rules):
    same(both, "ACL", "SETUSER", "u", *rules)
    same(both, "ACL", "GETUSER", "u")  # nothing applied: the user does not exist


def test_acl_subcommands_like_redis(both):
    for cmd in (["ACL", "WHOAMI"], ["ACL", "CAT"], ["ACL", "GETUSER", "nobody"],
                ["ACL", "DELUSER", "default"], ["ACL", "LOG", "foo"], ["ACL", "LOG", "-1"],
                ["ACL", "GENPASS", "0"], ["ACL", "GENPASS", "5000"], ["ACL", "FOO"],
                ["ACL", "DELUSER"], ["ACL", "SETUSER"], ["ACL", "DRYRUN", "u"], ["ACL", "CAT", "nocat"]):
        same(both, *cmd)
    cats = [set(c.execute_command("ACL", "CAT", "string")) for c in both]
    assert cats[0] == cats[1]  # Redis lists them in its hash table's order
    same(both, "ACL", "SETUSER", "a", "on")
    same(both, "ACL", "SETUSER", "b", "on")
    assert same(both, "ACL", "DELUSER", "a", "nobody", "b") == 2
    for c in both:
        assert len(c.execute_command("ACL", "GENPASS")) == 64
        assert len(c.execute_command("ACL", "GENPASS", "10")) == 3


def test_dryrun_like_redis(both):
    same(both, "ACL", "SETUSER", "eve", "on", ">pw", "~k*", "&ch", "-@all", "+get", "+set",
         "+subscribe", "+config|get")
    for cmd in (["get", "x"], ["get", "k1"], ["del", "k1"], ["set", "k1", "v"], ["config", "set", "a", "b"],
                ["config", "get", "maxmemory"], ["subscribe", "ch"], ["subscribe", "other"], ["foo"], ["get"]):
        same(both, "ACL", "DRYRUN", "eve", *cmd)
    same(both, "ACL", "DRYRUN", "nobody", "get", "x")


def test_noperm_and_auth_like_redis(both, servers):
    same(both, "ACL", "SETUSER", "eve", "on", ">pw", "~k*", "&ch", "-@all", "+get", "+set",
         "+subscribe", "+config|get", "+multi", "+exec")
    session = (b"AUTH eve pw\r\nGET k1\r\nGET x\r\nSET x 1\r\nDEL k1\r\nCONFIG SET a b\r\n"
               b"MULTI\r\nDEL k1\r\nGET k1\r\nEXEC\r\nAUTH eve bad\r\nACL WHOAMI\r\n"
               b"HELLO 2 AUTH nobody x\r\nAUTH default x\r\n")
    replies = [raw(p.port, session) for p in servers]
    assert replies[0] == replies[1]
    assert b"-NOPERM this user has no permissions to run the 'del' command\r\n" in replies[0]
    assert b"-NOPERM this user has no permissions to access one of the keys used as arguments\r\n" in replies[0]
    sub = [raw(p.port, b"AUTH eve pw\r\nSUBSCRIBE other\r\nAUTH default x\r\n") for p in servers]
    assert sub[0] == sub[1] == (b"+OK\r\n-NOPERM this user has no permissions to access one of the "
                                b"channels used as arguments\r\n+OK\r\n+PONG\r\n")
    # ACL LOG: the same entries (reason, context, object, username), newest first
    logs = []
    for c in both:
        logs.append([{k: v for k, v in zip(e[::2], e[1::2], strict=True)
                      if k not in (b"age-seconds", b"client-info")}
                     for e in c.execute_command("ACL", "LOG")])
    assert logs[0] == logs[1]
    assert {e[b"reason"] for e in logs[0]} == {b"auth", b"command", b"key", b"channel"}
    stats = both[0].info("stats")  # Redis 7.2's counters (7.0 has none)
    for field in ("acl_access_denied_auth", "acl_access_denied_cmd", "acl_access_denied_key",
                  "acl_access_denied_channel"):
        assert stats[field] > 0, field


def test_auth_as_user_and_deluser_closes_its_clients(both, servers):
    for c, p in zip(both, servers, strict=True):
        c.execute_command("ACL", "SETUSER", "bob", "on", ">secret", "~*", "+@all")
        bob = redis.Redis(port=p.port, username="bob", password="secret", protocol=2)
        assert bob.execute_command("ACL", "WHOAMI") == b"bob"
        assert bob.set("k", "v")
        c.execute_command("ACL", "DELUSER", "bob")
        with pytest.raises(redis.ConnectionError):
            bob.execute_command("PING")
        bob.close()


def test_client_kill_user_closes_only_that_users_clients(both, servers):
    same(both, "CLIENT", "KILL", "USER", "nosuch")  # Redis's "No such user" error
    for c, p in zip(both, servers, strict=True):
        c.execute_command("ACL", "SETUSER", "eve", "on", "nopass", "~*", "+@all")
        eve = redis.Redis(port=p.port, username="eve", password="x", protocol=2)
        other = redis.Redis(port=p.port, protocol=2)
        eve_id, other_id = eve.client_id(), other.client_id()
        assert c.execute_command("CLIENT", "KILL", "USER", "eve") == 1
        listed = c.execute_command("CLIENT", "LIST").decode()
        assert f"id={eve_id} " not in listed and f"id={other_id} " in listed
        eve.close()
        other.close()


def test_requirepass_is_the_default_users_password(both):
    for c in both:
        c.config_set("requirepass", "pw")
    same(both, "ACL", "GETUSER", "default")
    same(both, "ACL", "LIST")
    for c in both:
        c.config_set("requirepass", "")
    same(both, "ACL", "LIST")
