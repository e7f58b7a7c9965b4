"""DEBUG through the proxy: settings reach every group, a key's report comes from its group, and
what covers a whole dataset (DIGEST, RELOAD, POPULATE...) works when the proxy has one group
(that node is the whole server, as Redis's own suite expects of a server)."""

from __future__ import annotations

import pytest
import redis

from tests.procs import start_xcache_server
from tests.proxy.conftest import ProxyProc


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("debug-nodes")
    started = [start_xcache_server(tmp), start_xcache_server(tmp)]
    proxies = []
    try:
        for spec in (f"1=127.0.0.1:{started[0].port}",
                     f"1=127.0.0.1:{started[0].port},2=127.0.0.1:{started[1].port}"):
            proxies.append(ProxyProc(tmp, spec, allow_flush="true").wait_healthy())
        yield started, proxies[0].port, proxies[1].port
    finally:
        for p in proxies + started:
            p.stop()


def test_debug_settings_reach_every_group(nodes):
    started, _, two = nodes
    c = redis.Redis(port=two)
    c.flushall()
    assert c.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "0") == b"OK"
    try:
        keys = [f"k{i}" for i in range(20)]  # spread over both groups
        for k in keys:
            c.set(k, "v", px=1)
        import time
        time.sleep(0.01)  # the ms must pass on the clock; no event marks it
        # nothing expired them in the background on either node: DBSIZE counts them all
        assert sum(redis.Redis(port=n.port).dbsize() for n in started) == 20
        assert b"encoding:" in c.execute_command("DEBUG", "OBJECT", keys[0])
    finally:
        assert c.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "1") == b"OK"


def test_whole_dataset_debug_needs_one_group(nodes):
    started, one, two = nodes
    c1, c2 = redis.Redis(port=one), redis.Redis(port=two)
    c1.flushall()
    assert c1.execute_command("DEBUG", "POPULATE", "10") == b"OK"
    assert c1.execute_command("DEBUG", "DIGEST") == \
        redis.Redis(port=started[0].port).execute_command("DEBUG", "DIGEST")
    with pytest.raises(redis.ResponseError, match="only when it has one group"):
        c2.execute_command("DEBUG", "DIGEST")
    r3 = redis.Redis(port=one, protocol=3)
    assert int(r3.execute_command("DEBUG", "PROTOCOL", "bignum")) == 1234567999999999999999999999999999999
    assert float(c2.execute_command("DEBUG", "PROTOCOL", "double")) == 3.141
    assert c2.ping()  # the pooled links still in step


@pytest.mark.parametrize("resp", [2, 3])
def test_debug_protocol_answers_as_a_node(nodes, resp):
    """DEBUG PROTOCOL <type> through the proxy: the node's bytes, attributes and pushes too."""
    import socket

    started, one, two = nodes

    def replies(port: int) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"HELLO %d\r\nPING\r\n" % resp)
            got = b""
            while not got.endswith(b"+PONG\r\n"):
                got += s.recv(65536)
            kinds = b"string integer double bignum null array set map attrib push verbatim true nope"
            s.sendall(b"".join(b"DEBUG PROTOCOL %b\r\n" % k for k in kinds.split()) + b"PING\r\n")
            got = b""
            while not got.endswith(b"+PONG\r\n"):
                got += s.recv(65536)
            return got

    assert replies(two) == replies(started[0].port)
