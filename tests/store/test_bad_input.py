"""Bad input over a raw socket: malformed RESP, limits, auth. Same answers as redis-server."""

import socket

import pytest
import redis

from tests.bad_lengths import ANNOUNCED_LENGTHS
from tests.procs import start_redis, start_xcache_server
from tests.store.cluster import client
from tests.unknown_commands import UNKNOWN_COMMANDS


def talk(port: int, data: bytes, expect_close: bool = False) -> bytes:
    """Send data, return everything the server answers until it pauses or closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        s.settimeout(1.0 if not expect_close else 5)
        chunks = []
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except TimeoutError:
            assert not expect_close, "server did not close the connection"
        return b"".join(chunks)


@pytest.fixture(params=["xcache", "redis"])
def port(request):
    node = request.getfixturevalue("xcache_node" if request.param == "xcache" else "redis_node")
    return node.port


@pytest.mark.parametrize("data,reply", [
    (b"*abc\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
    (b"*1\r\n$abc\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
    (b"*2\r\n$3\r\nGET\r\n:1\r\n", b"-ERR Protocol error: expected '$', got ':'\r\n"),
    (b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$999999999999\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
    (b'SET k "unterminated\r\n', b"-ERR Protocol error: unbalanced quotes in request\r\n"),
    *ANNOUNCED_LENGTHS,  # issue 12: announced lengths are checked before anything is reserved
])
def test_protocol_error_then_close(port, data, reply):
    assert talk(port, data, expect_close=True) == reply


NOT_AN_INTEGER = b"-ERR value is not an integer or out of range\r\n"


def resp(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%b\r\n" % (len(a), a) for a in args)


@pytest.mark.parametrize("raw", [b"1_0", b" 1", b"1 ", b"\t1", b"1\n", b"+1", b"01", b"-0", b"\xd9\xa3"])
@pytest.mark.parametrize("command", [
    (b"INCRBY", b"n", b"%"), (b"EXPIRE", b"n", b"%"), (b"LRANGE", b"n", b"0", b"%"),
    (b"ACL", b"GENPASS", b"%"), (b"HINCRBY", b"h", b"f", b"%"),
])
def test_integers_are_read_as_string2ll_reads_them(port, command, raw):
    """Python's int() takes "1_0", spaces, "+1" and "01"; Redis takes none of them."""
    args = [raw if a == b"%" else a for a in command]
    assert talk(port, resp(*args)) == NOT_AN_INTEGER


def test_a_stored_number_is_read_as_string2ll_reads_it(port):
    assert talk(port, resp(b"SET", b"u", b"1_0") + resp(b"INCR", b"u") + resp(b"SET", b"t", b"\t5")
                + resp(b"DECR", b"t")) == b"+OK\r\n" + NOT_AN_INTEGER + b"+OK\r\n" + NOT_AN_INTEGER


def test_replies_before_a_protocol_error_are_kept(port):
    assert talk(port, b"*1\r\n$4\r\nPING\r\n*x\r\n", expect_close=True) == \
        b"+PONG\r\n-ERR Protocol error: invalid multibulk length\r\n"


def test_inline_commands(port):
    assert talk(port, b"PING\r\nECHO hello\r\nECHO \"a b\"\r\n") == b"+PONG\r\n$5\r\nhello\r\n$3\r\na b\r\n"


def test_pipeline_answers_in_order(port):
    reqs = b"".join(b"*3\r\n$3\r\nSET\r\n$3\r\nk%d\r\n$1\r\n%d\r\n" % (i, i % 10) for i in range(10, 60))
    reqs += b"".join(b"*2\r\n$3\r\nGET\r\n$3\r\nk%d\r\n" % i for i in range(10, 60))
    out = talk(port, reqs)
    assert out == b"+OK\r\n" * 50 + b"".join(b"$1\r\n%d\r\n" % (i % 10) for i in range(10, 60))


def test_wrong_arity_and_unknown_keep_connection(port):
    out = talk(port, b"*1\r\n$3\r\nGET\r\n*1\r\n$3\r\nFOO\r\n*1\r\n$4\r\nPING\r\n")
    assert out == (b"-ERR wrong number of arguments for 'get' command\r\n"
                   b"-ERR unknown command 'FOO', with args beginning with: \r\n+PONG\r\n")


@pytest.mark.parametrize("argv,reply", UNKNOWN_COMMANDS)
def test_unknown_command_error_text(port, argv, reply):
    assert talk(port, b"*%d\r\n" % len(argv) + b"".join(b"$%d\r\n%b\r\n" % (len(a), a) for a in argv)) == reply


@pytest.fixture(params=["xcache", "redis"])
def secured(request, tmp_path):
    if request.param == "xcache":
        proc = start_xcache_server(tmp_path, "--requirepass", "s3cret", "--set", "maxclients=3")
    else:
        proc = start_redis(tmp_path, "--requirepass", "s3cret", "--maxclients", "3")
    yield proc
    proc.stop()


def test_auth(secured):
    r = redis.Redis(port=secured.port, protocol=2)
    with pytest.raises(redis.AuthenticationError):
        r.get("k")
    assert talk(secured.port, b"AUTH wrong\r\nGET k\r\nAUTH s3cret\r\nGET k\r\n") == (
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
        b"-NOAUTH Authentication required.\r\n+OK\r\n$-1\r\n")
    ok = redis.Redis(port=secured.port, password="s3cret", protocol=2)
    assert ok.set("k", "v") is True
    assert ok.get("k") == b"v"
    ok.close()
    r.close()


def test_maxclients(secured):
    """Connections beyond maxclients (3) get Redis's error and are closed."""
    clients = []
    reply = b""
    for _ in range(4):
        s = socket.create_connection(("127.0.0.1", secured.port), timeout=5)
        clients.append(s)
        s.settimeout(0.5)
        try:
            reply = s.recv(100)  # a refused connection is told at once, before any request
        except TimeoutError:
            s.settimeout(5)
            s.sendall(b"AUTH s3cret\r\n")
            reply = s.recv(100)
            assert reply == b"+OK\r\n"
            continue
        break
    assert reply == b"-ERR max number of clients reached\r\n"
    assert len(clients) >= 3  # redis-server may count an internal connection
    for s in clients:
        s.close()


def test_oversize_value_refused(tmp_path):
    with start_xcache_server(tmp_path, "--set", "proto_max_bulk_len_bytes=1000") as proc:
        r = client(proc)
        assert r.set("ok", "v" * 1000) is True
        with pytest.raises((redis.ConnectionError, redis.ResponseError), match="invalid bulk length|closed"):
            r.set("big", "v" * 1001)
        assert client(proc).get("big") is None
        r.set("s", "v" * 900)
        with pytest.raises(redis.ResponseError, match="string exceeds maximum allowed size"):
            r.append("s", "x" * 200)
        with pytest.raises(redis.ResponseError, match="string exceeds maximum allowed size"):
            r.setrange("s", 990, "x" * 20)


def test_client_output_buffer_limit_closes_slow_reader(tmp_path):
    with start_xcache_server(tmp_path, "--set", "client_output_buffer_limit_bytes=100000") as proc:
        r = client(proc)
        r.set("big", "x" * 50000)
        s = socket.create_connection(("127.0.0.1", proc.port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"GET big\r\n" * 200)  # never read: replies pile up on the server
        deadline_info = None
        for _ in range(200):
            deadline_info = r.info("stats")
            if deadline_info["client_output_limit_disconnections"]:
                break
            r.ping()
        assert deadline_info["client_output_limit_disconnections"] == 1
        s.close()


def test_quit_answers_the_pipeline_before_it(port):
    assert talk(port, b"SET a 1\r\nGET a\r\nQUIT\r\n", expect_close=True) == b"+OK\r\n$1\r\n1\r\n+OK\r\n"


@pytest.mark.parametrize("data,reply", [
    (b"*11\r\n", b"-ERR Protocol error: unauthenticated multibulk length\r\n"),
    (b"*1\r\n$16385\r\n", b"-ERR Protocol error: unauthenticated bulk length\r\n"),
])
def test_unauthenticated_requests_are_small(secured, data, reply):
    assert talk(secured.port, data, expect_close=True) == reply


def test_auth_lifts_the_limits_for_the_rest_of_the_pipeline(secured):
    big = b"*11\r\n$4\r\nMSET\r\n" + b"$1\r\nk\r\n$1\r\nv\r\n" * 4 + b"$1\r\nk\r\n$5\r\nlast!\r\n"
    assert talk(secured.port, b"AUTH s3cret\r\n" + big + b"GET k\r\n") == b"+OK\r\n+OK\r\n$5\r\nlast!\r\n"


def test_huge_announced_arrays_do_not_stall_the_node(port):
    """issue 12: 13 bytes used to reserve 16 GB and stall the loop in the next full GC."""
    for _ in range(30):
        assert talk(port, b"*2147483648\r\n", expect_close=True) == \
            b"-ERR Protocol error: invalid multibulk length\r\n"
    assert talk(port, b"PING\r\n") == b"+PONG\r\n"
