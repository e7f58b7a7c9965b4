"""The incident, bounded: a reconnect storm hits a proxy that is not accepting.

The proxy is frozen (SIGSTOP) while 2,000 clients connect, send AUTH and give up after 2 s, as
the incident's clients did; their sockets pile up in the accept queue. Then 50 patient clients
connect and the proxy resumes. With the admission gate, the dead sockets are dropped before any
session exists (counted in xcache_proxy_accept_dropped_total) and every live client is served.
With the gate disabled by config, the same storm creates a session for every corpse.
"""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import socket
import time

import pytest
import redis

STORM = 2000
LIVE = 50
GIVE_UP_S = 2.0


async def _impatient(port: int) -> bool:
    """Connect, AUTH, give up after 2 s. True if the connection was established at all."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.write(b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n")
    try:
        await asyncio.wait_for(reader.read(100), GIVE_UP_S)
    except TimeoutError:
        pass
    writer.close()
    return True


async def _patient_connect(port: int):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n*1\r\n$4\r\nPING\r\n")
    return reader, writer


async def _patient_finish(reader, writer) -> bytes:
    data = b""
    while len(data) < len(b"+OK\r\n+PONG\r\n"):
        chunk = await asyncio.wait_for(reader.read(100), 60)
        if not chunk:
            break
        data += chunk
    writer.close()
    return data


async def _storm(proxy) -> tuple[int, list[bytes]]:
    pgid = os.getpgid(proxy.pid)
    os.killpg(pgid, signal.SIGSTOP)
    try:
        connected = sum(await asyncio.gather(*(_impatient(proxy.port) for _ in range(STORM))))
        live = await asyncio.gather(*(_patient_connect(proxy.port) for _ in range(LIVE)))
    finally:
        os.killpg(pgid, signal.SIGCONT)
    replies = await asyncio.gather(*(_patient_finish(r, w) for r, w in live))
    return connected, replies


@pytest.fixture(autouse=True)
def _enough_fds():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 3 * (STORM + LIVE) + 1000)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    yield


def _run(backends, start_proxy, gate: bool):
    a, b = backends
    p = start_proxy(f"1=127.0.0.1:{a.port},2=127.0.0.1:{b.port}", session_password="pw",
                    client_timeout_ms=int(GIVE_UP_S * 1000), listen_backlog=4096,
                    admission_gate="true" if gate else "false")
    connected, replies = asyncio.run(_storm(p))
    assert connected >= STORM * 0.95
    assert replies == [b"+OK\r\n+PONG\r\n"] * LIVE  # every live client served
    stats = p.stats()
    return p, connected, stats


def test_storm_with_gate_drops_dead_sockets(backends, start_proxy):
    p, connected, stats = _run(backends, start_proxy, gate=True)
    dropped = p.metric("xcache_proxy_accept_dropped_total")
    # The corpses never became sessions: dropped at accept, by TCP state or queue age.
    assert dropped >= connected * 0.95
    assert stats["sessions_total"] <= LIVE + (connected - dropped)
    assert p.metric("xcache_proxy_accept_dropped_total", reason="client_closed") > 0


def test_storm_without_gate_wastes_sessions(backends, start_proxy):
    p, connected, stats = _run(backends, start_proxy, gate=False)
    assert p.metric("xcache_proxy_accept_dropped_total") == 0
    # Every dead socket got a session (and a parse, and a reply written to nobody).
    assert stats["sessions_total"] >= connected + LIVE


def test_sessions_of_clients_that_left_during_a_stall_are_not_served(backends, start_proxy):
    """The gate's check, one step later: sessions that existed before the worker froze. Their
    clients sent a request and gave up while the proxy was stopped; after it resumes, those
    requests must not reach a backend (their replies would go to nobody), while a client that
    is still there gets its answer."""
    a, b = backends
    p = start_proxy(f"1=127.0.0.1:{a.port}", client_timeout_ms=2000, admit_margin_ms=500)
    gone = [socket.create_connection(("127.0.0.1", p.port), timeout=10) for _ in range(20)]
    live = socket.create_connection(("127.0.0.1", p.port), timeout=10)
    for s in [*gone, live]:
        s.sendall(b"PING\r\n")
        assert s.recv(100) == b"+PONG\r\n"
    gets_before = redis.Redis(port=a.port).info("commandstats").get("cmdstat_get", {}).get("calls", 0)
    pgid = os.getpgid(p.pid)
    os.killpg(pgid, signal.SIGSTOP)
    try:
        for s in gone:
            s.sendall(b"GET k\r\n")
            s.close()  # gave up
        live.sendall(b"GET k\r\n")
        # Frozen for longer than half the queue budget (1.5 s): the worker rechecks on waking.
        time.sleep(1.0)
    finally:
        os.killpg(pgid, signal.SIGCONT)
    assert live.recv(100) == b"$-1\r\n"
    live.close()
    p.wait_until(lambda: p.metric("xcache_proxy_rejected_total", reason="after_stall_client_closed") == 20,
                 what="dead sessions reset")
    gets_after = redis.Redis(port=a.port).info("commandstats")["cmdstat_get"]["calls"]
    assert gets_after - gets_before == 1  # only the live client's GET reached the backend
