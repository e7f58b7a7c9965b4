"""AUTH on a storage node: Redis's answers (side by side with redis-server) and the failed-AUTH
brake (xcache only): a source address guessing passwords is slowed to auth_fail_rate_per_sec,
each failure is counted and logged at a bounded rate."""

from __future__ import annotations

import pytest
import redis

from tests.procs import start_redis, start_xcache_server, talk, wait_until

WRONGPASS = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
BRAKE = b"-ERR too many failed AUTH attempts from your address, retry later\r\n"


@pytest.fixture(params=["xcache", "redis"])
def node(request, tmp_path):
    if request.param == "xcache":
        proc = start_xcache_server(tmp_path, "--requirepass", "s3cret")
    else:
        proc = start_redis(tmp_path, "--requirepass", "s3cret")
    yield proc
    proc.stop()


@pytest.fixture(params=["xcache", "redis"])
def open_node(request, tmp_path):
    proc = start_xcache_server(tmp_path) if request.param == "xcache" else start_redis(tmp_path)
    yield proc
    proc.stop()


def test_auth_answers_like_redis(node):
    out = talk(node.port, b"AUTH wrong\r\nAUTH nobody s3cret\r\nAUTH default s3cret\r\n"
                          b"AUTH wrong\r\nPING\r\nHELLO 2 AUTH default wrong\r\nAUTH a b c\r\n", 7)
    assert out == [WRONGPASS, WRONGPASS, b"+OK\r\n", WRONGPASS,
                   b"+PONG\r\n",  # a failed AUTH keeps the client logged in
                   WRONGPASS, b"-ERR syntax error\r\n"]


def test_auth_without_password_like_redis(open_node):
    out = talk(open_node.port, b"AUTH x\r\nAUTH default anything\r\nAUTH bob x\r\n", 3)
    assert out == [b"-ERR AUTH <password> called without any password configured for the default "
                   b"user. Are you sure your configuration is correct?\r\n", b"+OK\r\n", WRONGPASS]


@pytest.fixture
def braked(tmp_path):
    proc = start_xcache_server(tmp_path, "--requirepass", "s3cret", "--set", "auth_fail_burst=5",
                               "--set", "auth_fail_rate_per_sec=2")
    yield proc, tmp_path / f"xcache-{proc.port}" / "server.log"
    proc.stop()


def test_failed_auth_brake(braked):
    proc, log = braked
    # 50 pipelined guesses: 5 are checked, the rest refused unchecked; even the right password
    out = talk(proc.port, b"AUTH guess\r\n" * 50 + b"AUTH s3cret\r\n", 51)
    assert out[:5] == [WRONGPASS] * 5
    assert out[5:] == [BRAKE] * 46
    # another connection from the same address is braked too (per address, not per connection)
    assert talk(proc.port, b"AUTH s3cret\r\n", 1) == [BRAKE]
    # the budget refills (2/s): the right password works again, the node was never slowed
    wait_until(lambda: talk(proc.port, b"AUTH s3cret\r\n", 1) == [b"+OK\r\n"], timeout=10,
               what="the brake to release")
    r = redis.Redis(port=proc.port, password="s3cret", protocol=2)
    stats = r.info("stats")
    assert stats["acl_access_denied_auth"] == 5
    assert stats["auth_brake_refused"] >= 47
    # each failure counted, but logged at a bounded rate: not 50 lines
    lines = [x for x in log.read_text().splitlines() if "event=auth_failed" in x]
    assert 1 <= len(lines) <= 3 and "addr=127.0.0.1" in lines[0]
    r.close()


def test_arity_is_checked_before_auth_like_redis(node):
    out = talk(node.port, b"GET\r\nSUBSCRIBE\r\nGET k\r\n", 3)
    assert out == [b"-ERR wrong number of arguments for 'get' command\r\n",
                   b"-ERR wrong number of arguments for 'subscribe' command\r\n",
                   b"-NOAUTH Authentication required.\r\n"]
