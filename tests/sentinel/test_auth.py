"""Sentinel authentication as Redis Sentinel has it: `requirepass` (answers compared with a real
redis-server --sentinel), sentinels AUTHing to each other with it, `auth_pass` /
`SENTINEL SET <master> auth-pass` for password-protected nodes, a failover of such a group, and
the failed-AUTH brake."""

from __future__ import annotations

import sys

import pytest
import redis

from tests.procs import Proc, free_port, start_redis, talk, wait_until
from tests.sentinel.conftest import FAST, GROUP

SPW, NPW = "sentinel-pw", "node-pw"


def start_sentinel(tmp, master_port: int, quorum: int = 2, **settings) -> Proc:
    port = free_port()
    args = [sys.executable, "-m", "xcache.cli", "sentinel", "--port", str(port),
            "--monitor", f"{GROUP} 127.0.0.1 {master_port} {quorum}"]
    for k, v in {**FAST, **settings}.items():
        args += ["--set", f"{k}={v}"]
    return Proc(args, port, stderr_path=str(tmp / f"sentinel-{port}.log")).wait_ready()


def start_redis_sentinel(tmp, master_port: int) -> Proc:
    port = free_port()
    conf = tmp / f"redis-sentinel-{port}.conf"
    conf.write_text(f"port {port}\nbind 127.0.0.1\nrequirepass {SPW}\n"
                    f"sentinel monitor {GROUP} 127.0.0.1 {master_port} 1\n")
    return Proc(["redis-server", str(conf), "--sentinel"], port,
                stderr_path=str(tmp / f"redis-sentinel-{port}.log")).wait_ready()


@pytest.fixture(params=["xcache", "redis"])
def protected_sentinel(request, tmp_path):
    node = start_redis(tmp_path)
    if request.param == "xcache":
        s = start_sentinel(tmp_path, node.port, quorum=1, requirepass=SPW)
    else:
        s = start_redis_sentinel(tmp_path, node.port)
    yield s
    s.stop()
    node.stop()


def test_requirepass_answers_like_redis_sentinel(protected_sentinel):
    out = talk(protected_sentinel.port,
               b"PING\r\nAUTH x\r\nAUTH a b c\r\nHELLO 2\r\nHELLO 2 AUTH default bad\r\n"
               b"SENTINEL MASTERS\r\nAUTH " + SPW.encode() + b"\r\nPING\r\n"
               b"AUTH default " + SPW.encode() + b"\r\nAUTH wrong\r\nPING\r\n", 11)
    assert out == [
        b"-NOAUTH Authentication required.\r\n",
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n",
        b"-ERR syntax error\r\n",
        b"-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO "
        b"AUTH <user> <pass> option can be used to authenticate the client and select the RESP "
        b"protocol version at the same time\r\n",
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n",
        b"-NOAUTH Authentication required.\r\n",
        b"+OK\r\n", b"+PONG\r\n", b"+OK\r\n",
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n",
        b"+PONG\r\n",  # a failed AUTH keeps the session logged in
    ]
    c = redis.Redis(port=protected_sentinel.port, password=SPW, protocol=2, decode_responses=True)
    assert c.sentinel_master(GROUP)["name"] == GROUP
    c.close()


def test_password_protected_group_fails_over(tmp_path):
    master = start_redis(tmp_path, "--requirepass", NPW, "--masterauth", NPW)
    replica = start_redis(tmp_path, "--requirepass", NPW, "--masterauth", NPW,
                          "--replicaof", "127.0.0.1", str(master.port))
    sentinels = []
    try:
        for i in range(3):
            # one learns the node password at run time, as `sentinel auth-pass` does in Redis
            extra = {"auth_pass": NPW} if i else {}
            sentinels.append(start_sentinel(tmp_path, master.port, requirepass=SPW, **extra))
        c0 = redis.Redis(port=sentinels[0].port, password=SPW, protocol=2, decode_responses=True)
        assert c0.execute_command("SENTINEL", "SET", GROUP, "auth-pass", NPW) == "OK"
        clients = [redis.Redis(port=s.port, password=SPW, protocol=2, decode_responses=True)
                   for s in sentinels]

        def discovered():
            return all(c.sentinel_master(GROUP)["num-slaves"] == 1
                       and c.sentinel_master(GROUP)["num-other-sentinels"] == 2 for c in clients)
        wait_until(discovered, what="sentinels authenticating to the nodes and to each other")
        master.kill9()

        def switched():
            addrs = {tuple(c.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", GROUP))
                     for c in clients}
            return addrs == {("127.0.0.1", str(replica.port))}
        wait_until(switched, timeout=40, what="failover to the replica")
        r = redis.Redis(port=replica.port, password=NPW, protocol=2)
        assert r.execute_command("ROLE")[0] == b"master"
        r.close()
        for c in clients:
            c.close()
    finally:
        for s in sentinels:
            s.stop()
        master.stop()
        replica.stop()


def test_sentinel_failed_auth_brake(tmp_path):
    node = start_redis(tmp_path)
    s = start_sentinel(tmp_path, node.port, quorum=1, requirepass=SPW, auth_fail_burst=3,
                       auth_fail_rate_per_sec=2)
    try:
        out = talk(s.port, b"AUTH guess\r\n" * 20 + b"AUTH " + SPW.encode() + b"\r\n", 21)
        assert out[:3] == [b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"] * 3
        assert out[3:] == [b"-ERR too many failed AUTH attempts from your address, retry later\r\n"] * 18
        wait_until(lambda: talk(s.port, b"AUTH " + SPW.encode() + b"\r\n", 1) == [b"+OK\r\n"],
                   timeout=10, what="the brake to release")
        log = (tmp_path / f"sentinel-{s.port}.log").read_text()
        assert 1 <= log.count("auth_failed") <= 3
    finally:
        s.stop()
        node.stop()


MON = ["on", ">m", "+@all", "-@dangerous", "+sentinel|get-master-addr-by-name"]
ACL_SESSION = (b"AUTH mon m\r\nSENTINEL MASTERS\r\nSENTINEL GET-MASTER-ADDR-BY-NAME " + GROUP.encode() + b"\r\n"
               b"INFO\r\nSUBSCRIBE +switch-master\r\nAUTH mon bad\r\nACL WHOAMI\r\nPING\r\n")


def test_sentinel_acl_users_like_redis_sentinel(tmp_path):
    node = start_redis(tmp_path)
    ours = start_sentinel(tmp_path, node.port, quorum=1, requirepass=SPW,
                          users="mon " + " ".join(MON))
    ref = start_redis_sentinel(tmp_path, node.port)
    try:
        admin = redis.Redis(port=ref.port, password=SPW, protocol=2)
        admin.execute_command("ACL", "SETUSER", "mon", *MON)
        got, want = (talk(s.port, ACL_SESSION, 13) for s in (ours, ref))
        assert got[-1] == b"+PONG\r\n"
        assert got == want
        assert b"-NOPERM this user has no permissions to run the 'sentinel|masters' command\r\n" in got
        mine = redis.Redis(port=ours.port, password=SPW, protocol=2)
        assert [x for x in mine.execute_command("ACL", "LIST") if x.startswith(b"user mon")] == \
            [x for x in admin.execute_command("ACL", "LIST") if x.startswith(b"user mon")]
        # users change at run time; a deleted user's sessions are closed
        assert mine.execute_command("ACL", "SETUSER", "tmp", "on", ">t", "+@all") == b"OK"
        tmp = redis.Redis(port=ours.port, username="tmp", password="t", protocol=2)
        assert tmp.execute_command("ACL", "WHOAMI") == b"tmp"
        assert mine.execute_command("ACL", "DELUSER", "tmp") == 1
        with pytest.raises(redis.ConnectionError):
            tmp.ping()
        log = mine.execute_command("ACL", "LOG")
        assert {dict(zip(e[::2], e[1::2], strict=True))[b"reason"] for e in log} == {b"auth", b"command", b"channel"}
        for c in (admin, mine, tmp):
            c.close()
    finally:
        ours.stop()
        ref.stop()
        node.stop()


def test_sentinel_tls_port(tmp_path):
    import shutil

    if shutil.which("openssl") is None:
        pytest.skip("openssl missing")
    from tests.tlscerts import make_certs

    certs = make_certs(tmp_path)
    node = start_redis(tmp_path)
    tls_port = free_port()
    s = start_sentinel(tmp_path, node.port, quorum=1, requirepass=SPW, tls_port=tls_port,
                       tls_cert_file=certs["server_crt"], tls_key_file=certs["server_key"],
                       tls_ca_cert_file=certs["ca_crt"])
    try:
        c = redis.Redis(port=tls_port, password=SPW, ssl=True, ssl_ca_certs=certs["ca_crt"],
                        ssl_certfile=certs["client_crt"], ssl_keyfile=certs["client_key"], protocol=2,
                        decode_responses=True)
        assert c.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", GROUP) == ["127.0.0.1", str(node.port)]
        c.close()
    finally:
        s.stop()
        node.stop()
