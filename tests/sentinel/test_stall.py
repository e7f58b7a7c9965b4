"""Stall-aware health against a tiny real RESP server written here (asyncio): a node that answers
PING but reports a write stall in INFO is `stalled`, not down; it is declared down only when it
stays unresponsive past `stalled_down_after_ms`. A node without a stall that answers too late is
down after `down_after_ms`, as in Redis Sentinel."""

from __future__ import annotations

import asyncio
import contextlib

from prometheus_client import generate_latest

from xcache.resp import RequestParser, encode
from xcache.sentinel.config import SentinelConfig
from xcache.sentinel.metrics import Metrics
from xcache.sentinel.node import SentinelNode

STORAGE_INFO = ("# Server\r\nrun_id:{runid}\r\n# Replication\r\nrole:master\r\nconnected_slaves:0\r\n"
                "master_repl_offset:0\r\n# Storage\r\nwrite_stall_active:{stall}\r\n"
                "write_stall_seconds:{seconds}\r\nrocksdb_write_stopped:{stall}\r\n"
                "rocksdb_delayed_write_rate:0\r\n")


class FakeStorageNode:
    """Answers PING, INFO (with a # Storage section), SUBSCRIBE and PUBLISH. Every reply can be
    delayed (a node slowed by a stall) or withheld (a hung node)."""

    def __init__(self, stalled: bool):
        self.stalled = stalled
        self.delay = 0.0
        self.silent = False
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []
        self._last_reply = 0.0

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        parser = RequestParser()
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                for cmd in parser.feed(data):
                    if self.silent:
                        continue
                    # Replies leave `delay` seconds late, in order (latency, not a queue).
                    loop = asyncio.get_running_loop()
                    self._last_reply = max(self._last_reply, loop.time() + self.delay)
                    loop.call_at(self._last_reply, self._write, writer, self._reply(cmd))

    @staticmethod
    def _write(writer: asyncio.StreamWriter, data: bytes) -> None:
        if not writer.is_closing():
            writer.write(data)

    def _reply(self, cmd: list[bytes]) -> bytes:
        name = cmd[0].upper()
        if name == b"PING":
            return b"+PONG\r\n"
        if name == b"INFO":
            text = STORAGE_INFO.format(runid="f" * 40, stall=int(self.stalled),
                                       seconds=3.5 if self.stalled else 0)
            return encode(text.encode())
        if name == b"SUBSCRIBE":
            return encode([b"subscribe", cmd[1], 1])
        if name == b"PUBLISH":
            return b":0\r\n"
        return b"+OK\r\n"

    async def close(self) -> None:
        for w in self.writers:
            w.close()
        self.server.close()


class Watch:
    """An in-process sentinel monitoring one node, with its events in a queue."""

    def __init__(self, port: int, **settings):
        cfg = SentinelConfig(port=0, ping_period_ms=100, info_period_ms=100, hello_period_ms=1000,
                             **settings)
        self.node = SentinelNode(cfg)
        self.metrics = Metrics(self.node)
        self.events: asyncio.Queue = asyncio.Queue()
        self.texts: dict[str, str] = {}
        self.node.listeners.append(self._on_event)
        self.master = self.node.monitor("m", "127.0.0.1", port, 1)
        self.task = asyncio.create_task(self.node.run())
        self.seen: list[str] = []

    def _on_event(self, event: str, master: str, text: str) -> None:
        self.texts[event] = text
        self.events.put_nowait(event)

    async def wait_event(self, name: str, timeout: float = 20.0) -> None:
        async with asyncio.timeout(timeout):
            while True:
                ev = await self.events.get()
                self.seen.append(ev)
                if ev == name:
                    return

    async def wait(self, cond, timeout: float = 20.0) -> None:
        async with asyncio.timeout(timeout):
            while not cond():
                await asyncio.sleep(0.02)

    async def close(self) -> None:
        self.task.cancel()
        for inst in (self.master, *self.master.replicas.values()):
            inst.close()


@contextlib.asynccontextmanager
async def watched(stalled: bool):
    """A tiny storage node (in a write stall or not) and an in-process sentinel watching it:
    (node, port, watch); both closed when the block ends."""
    node = FakeStorageNode(stalled=stalled)
    port = await node.start()
    w = Watch(port, down_after_ms=300, stalled_down_after_ms=3000)
    try:
        yield node, port, w
    finally:
        await w.close()
        await node.close()


async def test_stalled_node_answering_slowly_is_not_failed():
    async with watched(stalled=True) as (node, port, w):
        await w.wait_event("+stalled")
        assert w.master.status() == "stalled"
        node.delay = 0.6  # PING answered twice as late as down_after_ms
        await w.wait(lambda: w.master.health.probe_latency_ms >= 600 and w.master.info_time > 0)
        assert "+sdown" not in w.seen and not w.master.health.sdown
        assert w.master.status() == "stalled"
        text = generate_latest(w.metrics.registry).decode()
        assert 'xcache_sentinel_master_state{master="m",state="stalled"} 1.0' in text
        assert 'xcache_sentinel_events_total{event="+stalled",master="m"} 1.0' in text

        node.silent = True  # now it hangs: failed over after stalled_down_after_ms
        await w.wait_event("+sdown")
        assert w.texts["+sdown"] == f"master m 127.0.0.1 {port} #stalled"
        assert w.master.status() == "odown"  # quorum 1: this sentinel alone agrees


async def test_stall_clearing_publishes_minus_stalled():
    async with watched(stalled=True) as (node, _, w):
        await w.wait_event("+stalled")
        node.stalled = False
        await w.wait_event("-stalled")
        assert w.master.status() == "ok"


async def test_slow_node_without_stall_is_down():
    async with watched(stalled=False) as (node, port, w):
        await w.wait(lambda: w.master.info_time > 0)
        node.delay = 0.6
        await w.wait_event("+sdown")
        assert "+stalled" not in w.seen and w.texts["+sdown"] == f"master m 127.0.0.1 {port}"
