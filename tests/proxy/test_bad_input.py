"""Bad input to `xcache proxy` (issue 12): announced lengths are checked before anything is
reserved, and running out of file descriptors is logged once per episode."""

from __future__ import annotations

import shutil
import socket
import threading

import pytest
import redis

from tests.bad_lengths import ANNOUNCED_LENGTHS
from tests.procs import Proc, send_until_close, start_redis, wait_until
from tests.proxy.conftest import ProxyProc, direct, exchange
from tests.proxy.test_proxy import keys_in
from tests.unknown_commands import UNKNOWN_COMMANDS


@pytest.mark.parametrize("data,reply", ANNOUNCED_LENGTHS)
def test_announced_lengths_checked_before_use(proxy, data, reply):
    # After a complete request in the same chunk: the chunk parser's fast path must not take it.
    assert send_until_close(proxy.port, b"*1\r\n$4\r\nPING\r\n" + data) == b"+PONG\r\n" + reply


def test_many_huge_headers_leave_the_proxy_answering(proxy):
    for _ in range(30):
        assert send_until_close(proxy.port, b"*2147483648\r\n") == \
            b"-ERR Protocol error: invalid multibulk length\r\n"
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
        s.sendall(b"PING\r\n")
        assert s.recv(100) == b"+PONG\r\n"


class _Limited(Proc):
    """Runs the process under `prlimit --nofile=200`."""

    def __init__(self, args, port, **kw):
        super().__init__(["prlimit", "--nofile=200:200", *args], port, **kw)


class LimitedProxy(ProxyProc, _Limited):
    pass


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="needs prlimit (util-linux)")
def test_out_of_fds_logged_once_per_episode(tmp_path, backends):
    a, b = backends
    proxy = LimitedProxy(tmp_path, f"1=127.0.0.1:{a.port},2=127.0.0.1:{b.port}").wait_healthy()
    socks = []
    try:
        for _ in range(400):
            try:
                socks.append(socket.create_connection(("127.0.0.1", proxy.port), timeout=5))
            except OSError:
                break

        def log() -> str:
            with open(proxy.log_path) as f:
                return f.read()

        # Retried 10 times a second, each retry counted: wait for several, then one log line.
        wait_until(lambda: proxy.metric("xcache_proxy_rejected_total", reason="fd_exhausted") >= 5,
                   what="several accept retries out of descriptors")
        assert log().count("event=fd_exhausted") == 1
        assert log().count("event=listener_paused") == 0
        for s in socks:
            s.close()
        socks = []
        wait_until(lambda: "event=fd_exhaustion_ended" in log(), what="end of the episode logged")
    finally:
        for s in socks:
            s.close()
        proxy.stop()


# --- backends (issue 12) --------------------------------------------------------------------

def test_dead_backend_without_failover_answers_at_once(backends, start_proxy):
    a, b = backends
    p = start_proxy(f"1=127.0.0.1:{a.port},2=127.0.0.1:{b.port}", hold_timeout_ms=60000)
    k1, k2 = keys_in(1, 1, "d")[0], keys_in(2, 1, "d")[0]
    c = p.client(single_connection_client=True)
    b.kill9()
    # hold_timeout_ms is a minute: an answer at all proves nothing was held
    with pytest.raises(redis.ResponseError, match=r"group 2 master 127\.0\.0\.1:\d+ is down \(Connection refused\)"):
        c.get(k2)
    assert c.set(k1, b"fine")  # other groups unaffected, same connection
    assert p.metric("xcache_proxy_backend_state", group="2", state="down") == 1
    assert p.metric("xcache_proxy_hold_timeouts_total") == 0
    assert "state=down" in open(p.log_path).read()


def test_backend_back_from_down_serves_again(tmp_path, backends, start_proxy):
    a, b = backends
    p = start_proxy(f"1=127.0.0.1:{a.port},2=127.0.0.1:{b.port}")
    k2 = keys_in(2, 1, "back")[0]
    c = p.client()
    port = b.port
    b.kill9()
    p.wait_until(lambda: p.stats()["groups"]["2"]["state"] == "down", what="group 2 down")
    with start_redis(tmp_path, port=port):
        p.wait_until(lambda: p.stats()["groups"]["2"]["state"] == "up", what="group 2 up again")
        assert c.set(k2, b"v") and c.get(k2) == b"v"


def test_backend_password_missing_shows_auth_failed(tmp_path, backends):
    a, _ = backends
    with (start_redis(tmp_path, "--requirepass", "s3cret") as b,
          ProxyProc(tmp_path, f"1=127.0.0.1:{a.port},2=127.0.0.1:{b.port}", hold_timeout_ms=60000) as p):
        wait_until(lambda: p.stats()["groups"]["2"]["state"] == "auth_failed", what="auth_failed")
        c = p.client()
        with pytest.raises(redis.ResponseError, match="group 2 master .* refused the proxy's credentials "
                                                      r"\(NOAUTH Authentication required\.\); set backend_password"):
            c.get(keys_in(2, 1, "pw")[0])
        assert c.set(keys_in(1, 1, "pw")[0], b"ok")
        assert p.metric("xcache_proxy_backend_state", group="2", state="auth_failed") == 1
        assert open(p.log_path).read().count("event=backend_auth_failed") == 1


def test_slow_read_is_not_resent(backends, start_proxy):
    """A read slower than backend_timeout_ms is just slow: answered once, executed once."""
    a, b = backends
    p = start_proxy(f"1=127.0.0.1:{a.port},2=127.0.0.1:{b.port}", backend_timeout_ms=100)
    k = keys_in(2, 1, "slow")[0]
    c = p.client()
    c.set(k, b"v")
    d = direct(b)
    before = d.info("commandstats").get("cmdstat_get", {}).get("calls", 0)
    d.execute_command("CLIENT", "PAUSE", 800, "ALL")
    assert c.get(k) == b"v"
    assert d.info("commandstats")["cmdstat_get"]["calls"] == before + 1
    assert p.metric("xcache_proxy_backend_timeouts_total", group="2") >= 1
    assert "event=backend_slow" in open(p.log_path).read()
    assert "event=backend_hung" not in open(p.log_path).read()


@pytest.mark.parametrize("data,reply", [
    (b"*11\r\n", b"-ERR Protocol error: unauthenticated multibulk length\r\n"),
    (b"*1\r\n$16385\r\n", b"-ERR Protocol error: unauthenticated bulk length\r\n"),
])
def test_unauthenticated_requests_are_small(backends, start_proxy, data, reply):
    a, b = backends
    p = start_proxy(f"1=127.0.0.1:{a.port},2=127.0.0.1:{b.port}", session_password="pw")
    assert send_until_close(p.port, data) == reply


def test_auth_lifts_the_limits_for_the_rest_of_the_pipeline(backends, start_proxy):
    a, b = backends
    p = start_proxy(f"1=127.0.0.1:{a.port},2=127.0.0.1:{b.port}", session_password="pw")
    k = keys_in(1, 1, "unauth")[0]
    mset = b"*11\r\n$4\r\nMSET\r\n" + b"$%d\r\n%b\r\n$1\r\nv\r\n" % (len(k), k) * 4 + \
        b"$%d\r\n%b\r\n$5\r\nlast!\r\n" % (len(k), k)
    get = b"*2\r\n$3\r\nGET\r\n$%d\r\n%b\r\n" % (len(k), k)
    with socket.create_connection(("127.0.0.1", p.port), timeout=10) as s:
        s.sendall(b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n" + mset + get)
        got = b""
        while not got.endswith(b"last!\r\n"):
            chunk = s.recv(65536)
            assert chunk, got
            got += chunk
    assert got == b"+OK\r\n+OK\r\n$5\r\nlast!\r\n"


def test_no_slot_table_yet_requests_wait_for_it_then_fail_clearly(tmp_path):
    """A proxy started (or restarted by `xcache up`) before the dashboard pushed its table:
    requests, alone or pipelined in one chunk, wait at most hold_timeout_ms for it, then each
    gets a clear error."""
    with ProxyProc(tmp_path, "", hold_timeout_ms=200) as proxy:
        proxy.wait_ready()
        expected = "ERR xcache: no slot table (configure groups or PUT /slots)"
        got = exchange(proxy.port, b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n", 1)
        assert [str(g) for g in got] == [expected]
        got = exchange(proxy.port, b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n" * 3, 3)
        assert [str(g) for g in got] == [expected] * 3
        assert proxy.client().ping()


def test_requests_held_until_the_first_table_are_served_by_it(tmp_path, backends):
    a, _ = backends
    direct(a).set("k", "v")
    with ProxyProc(tmp_path, "", hold_timeout_ms=60000) as proxy:
        proxy.wait_ready()
        replies: list = []
        chunk = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n" + b"*3\r\n$3\r\nSET\r\n$1\r\nw\r\n$1\r\n1\r\n"
        t = threading.Thread(target=lambda: replies.extend(exchange(proxy.port, chunk, 2)))
        t.start()
        wait_until(lambda: proxy.stats()["held_no_table"] == 2, what="requests held")
        table = {"epoch": 1, "groups": {"1": {"master": f"127.0.0.1:{a.port}", "replicas": []}},
                 "slots": {"0-1023": 1}}
        status, body = proxy.admin("PUT", "/slots", table)
        assert status == 200, body
        t.join(30)
        assert replies == [b"v", b"OK"]
        assert direct(a).get("w") == b"1"


# Malformed key lists: the proxy cannot route them, so a node answers with Redis's own error.
MALFORMED_KEY_LISTS = [
    ["ZMPOP", "0", "z", "MIN"], ["ZMPOP", "-1", "z", "MIN"], ["ZMPOP", "x", "z", "MIN"],
    ["ZMPOP", "3", "z", "MIN"], ["BZMPOP", "0", "0", "z", "MIN"], ["BZMPOP", "0", "x", "z", "MIN"],
    ["BZMPOP", "0", "-1", "z", "MIN"], ["BLMPOP", "0", "0", "l", "LEFT"],
    ["LMPOP", "2", "l", "LEFT"], ["SINTERCARD", "0", "s"], ["ZINTERCARD", "x", "z"],
    ["ZUNION", "0", "z"], ["ZUNIONSTORE", "d", "-2", "z"], ["EVAL", "return 1", "-1"],
    ["EVAL", "return 1", "2", "k"], ["FCALL", "f", "x"],
    ["XREAD", "STREAMS", "s"], ["XREAD", "BLOCK", "0", "STREAMS", "s1", "s2", "0"],
    ["XREAD", "COUNT", "1", "s", "0"],
]


def assert_answers_as_redis(proxy, backends, argv: list[str]) -> None:
    """The proxy's reply to argv is the backend redis-server's (its type and text)."""
    chunk = "".join(f"${len(a)}\r\n{a}\r\n" for a in argv)
    request = f"*{len(argv)}\r\n{chunk}".encode()

    def reply(port: int) -> list:
        return [(type(r), str(r)) for r in exchange(port, request, 1)]

    assert reply(proxy.port) == reply(backends[0].port)


@pytest.mark.parametrize("argv", MALFORMED_KEY_LISTS, ids=" ".join)
def test_malformed_key_lists_answer_as_redis(proxy, backends, argv):
    assert_answers_as_redis(proxy, backends, argv)


@pytest.mark.parametrize("argv,reply", UNKNOWN_COMMANDS)
def test_unknown_command_error_text(proxy, argv, reply):
    request = b"*%d\r\n" % len(argv) + b"".join(b"$%d\r\n%b\r\n" % (len(a), a) for a in argv)
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as s:
        s.sendall(request + b"*1\r\n$4\r\nPING\r\n")
        got = b""
        while not got.endswith(b"+PONG\r\n"):
            got += s.recv(65536)
    assert got == reply + b"+PONG\r\n"


# Commands the proxy answers itself (or refuses), with arguments Redis rejects at lookup or in
# its handler; found by sending every command with the same argument patterns to redis-server
# and to the proxy.
REJECTED_AS_REDIS = [
    ["TIME", "x"], ["ROLE", "x"], ["UNWATCH", "x"], ["MULTI", "x"], ["ECHO"], ["SELECT"],
    ["ACL"], ["ACL", "WHOAMI", "x"], ["ACL", "USERS", "x"], ["ACL", "CAT", "a", "b"],
    ["ACL", "LOG", "x"], ["ACL", "LOG", "1", "2"], ["ACL", "NOPE"], ["PUBSUB", "HELP", "x"],
    ["PUBSUB", "NOPE"], ["SCRIPT", "NOPE"], ["SCRIPT", "KILL", "x"], ["FUNCTION", "KILL", "x"],
    ["MODULE", "NOPE"], ["MODULE", "LOAD"], ["CONFIG"], ["CONFIG", "GET"], ["MIGRATE"], ["WAIT"],
    ["MEMORY", "USAGE"], ["CLIENT", "NOPE"], ["INFO", "a", "b"], ["RESTORE-ASKING", "k", "0"],
]


@pytest.mark.parametrize("argv", REJECTED_AS_REDIS, ids=" ".join)
def test_lookup_and_arity_errors_as_redis(proxy, backends, argv):
    assert_answers_as_redis(proxy, backends, argv)


def test_arity_is_checked_before_auth_and_numsub_answers_each_argument(backends, start_proxy):
    a, b = backends
    secured = start_proxy(f"1=127.0.0.1:{a.port},2=127.0.0.1:{b.port}", session_password="pw")
    assert [str(r) for r in exchange(secured.port, b"*2\r\n$4\r\nTIME\r\n$1\r\nx\r\n*1\r\n$3\r\nGET\r\n"
                                     b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", 3)] == [
        "ERR wrong number of arguments for 'time' command",
        "ERR wrong number of arguments for 'get' command", "NOAUTH Authentication required."]
    proxy = start_proxy(f"1=127.0.0.1:{a.port},2=127.0.0.1:{b.port}")
    with redis.Redis(port=proxy.port) as r:
        assert r.execute_command("PUBSUB", "NUMSUB", "c", "c", "d") == [b"c", 0, b"c", 0, b"d", 0]
