"""Pub/sub through the proxy over two redis-server groups, in RESP2 and RESP3."""

from __future__ import annotations

import pytest
import redis

from tests.procs import start_redis
from tests.proxy.conftest import direct, exchange
from tests.proxy.test_failover import _push_master
from tests.proxy.test_proxy import keys_in, owner


def _next(ps, timeout: float = 5.0):
    msg = ps.get_message(timeout=timeout)
    assert msg is not None, "no message"
    return msg


@pytest.mark.parametrize("protocol", [2, 3])
def test_channels_on_both_groups_and_patterns(proxy, backends, protocol):
    c = redis.Redis(port=proxy.port, socket_timeout=10, protocol=protocol)
    ch1, ch2 = keys_in(1, 1, "ch")[0], keys_in(2, 1, "ch")[0]
    ps = c.pubsub()
    ps.subscribe(ch1, ch2)
    assert [(m["channel"], m["data"]) for m in (_next(ps), _next(ps))] == [(ch1, 1), (ch2, 2)]
    ps.psubscribe("ch*")
    assert _next(ps) == {"type": "psubscribe", "pattern": None, "channel": b"ch*", "data": 3}
    # each channel lives on its group's master; the proxy routes PUBLISH there
    assert direct(backends[owner(ch1) - 1]).pubsub_channels() == [ch1]
    assert c.publish(ch2, "two") == 2  # the channel subscriber and the pattern subscriber
    got = [_next(ps), _next(ps)]
    assert {(m["type"], m["data"]) for m in got} == {("message", b"two"), ("pmessage", b"two")}
    ps.unsubscribe(ch2)
    assert _next(ps)["data"] == 2
    assert c.publish(ch2, "again") == 1  # the pattern only
    assert _next(ps)["type"] == "pmessage"
    assert ps.get_message(timeout=0.2) is None
    assert sorted(c.pubsub_channels()) == [ch1]
    assert c.pubsub_numsub(ch1, ch2) == [(ch1, 1), (ch2, 0)]
    assert c.pubsub_numpat() == 1
    ps.punsubscribe()
    ps.unsubscribe()
    ps.close()


def _drain_confirmations(ps, n: int) -> list:
    return [_next(ps) for _ in range(n)]


@pytest.mark.parametrize("protocol", [2, 3])
def test_subscribe_confirmations_and_resp2_context(proxy, protocol):
    c = redis.Redis(port=proxy.port, socket_timeout=10, protocol=protocol)
    ps = c.pubsub()
    ps.subscribe("a", "b")
    assert [(m["type"], m["channel"], m["data"]) for m in _drain_confirmations(ps, 2)] == [
        ("subscribe", b"a", 1), ("subscribe", b"b", 2)]
    conn = ps.connection
    if protocol == 2:
        conn.send_command("GET", "x")
        with pytest.raises(redis.ResponseError, match="only \\(P\\|S\\)SUBSCRIBE"):
            conn.read_response()
    ps.ping()
    assert _next(ps)["type"] == "pong"
    assert c.publish("a", "m") == 1 and _next(ps)["data"] == b"m"
    ps.unsubscribe()
    assert {m["channel"] for m in _drain_confirmations(ps, 2)} == {b"a", b"b"}
    ps.close()


def test_sharded_pubsub(proxy):
    c = redis.Redis(port=proxy.port, socket_timeout=10)
    ps = c.pubsub()
    ps.ssubscribe("{s}x")
    assert _next(ps)["type"] == "ssubscribe"
    assert c.spublish("{s}x", "hi") == 1
    msg = _next(ps)
    assert msg["type"] == "smessage" and msg["data"] == b"hi"
    ps.close()


def test_subscriber_leaving_frees_backend_connections(proxy, backends):
    c = proxy.client()
    ps = c.pubsub()
    ps.psubscribe("p*")
    _next(ps)
    assert all(direct(n).pubsub_numpat() == 1 for n in backends)
    ps.close()
    proxy.wait_until(lambda: all(direct(n).pubsub_numpat() == 0 for n in backends), what="released")


def test_subscriptions_follow_a_failover(tmp_path, backends, start_proxy):
    a, b = backends
    p = start_proxy(f"1=127.0.0.1:{a.port},2=127.0.0.1:{b.port}")
    ch = keys_in(1, 1, "fch")[0]
    c = redis.Redis(port=p.port, socket_timeout=10)
    ps = c.pubsub()
    ps.subscribe(ch)
    _next(ps)
    new = start_redis(tmp_path)
    try:
        _push_master(p, 1, new.port)
        # renewed on the new master: a PUBLISH there reaches the subscriber
        p.wait_until(lambda: direct(new).pubsub_numsub(ch) == [(ch, 1)], what="resubscribed")
        assert c.publish(ch, "after") == 1
        assert _next(ps)["data"] == b"after"
    finally:
        ps.close()
        new.stop()


def test_subscriber_limit_and_unsubscribe_without_subscription(backends, start_proxy):
    a, b = backends
    p = start_proxy(f"1=127.0.0.1:{a.port},2=127.0.0.1:{b.port}", max_pubsub_sessions=1)
    c = p.client()
    assert exchange(p.port, b"UNSUBSCRIBE\r\nPUNSUBSCRIBE x\r\n", 2) == [
        [b"unsubscribe", None, 0], [b"punsubscribe", b"x", 0]]
    first = c.pubsub()
    first.subscribe("one")
    _next(first)
    refused = c.pubsub()
    refused.subscribe("two")
    with pytest.raises(redis.ResponseError, match="max_pubsub_sessions=1"):
        _next(refused)
    refused.close()
    first.unsubscribe("one")  # leaving frees the place
    _next(first)
    second = c.pubsub()
    second.subscribe("two")
    assert _next(second)["type"] == "subscribe"
    assert p.metric("xcache_proxy_rejected_total", reason="max_pubsub") == 1
    first.close()
    second.close()
