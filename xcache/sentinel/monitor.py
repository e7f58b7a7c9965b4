"""Probes: RESP links to monitored nodes and peer sentinels, and INFO parsing.

`Link` is a pipelined command connection (replies matched to requests in order); `Subscriber`
holds a SUBSCRIBE connection. Both speak only the Redis protocol, so any RESP node works
(redis-server, xcache server, Pika). `parse_info` / `NodeInfo` are sans-IO.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import hiredis

from xcache.resp import ReplyParser, encode_command

HELLO_CHANNEL = b"__sentinel__:hello"


class LinkClosed(ConnectionError):
    """The link dropped while a reply was awaited."""


class Link:
    """One command connection: send() pipelines, replies resolve futures in FIFO order."""

    def __init__(self, host: str, port: int, on_close: Callable[[], None] | None = None):
        self.host = host
        self.port = port
        self._on_close = on_close
        self._writer: asyncio.StreamWriter | None = None
        self._pending: deque[asyncio.Future] = deque()
        self._reader_task: asyncio.Task | None = None
        self.connected = False
        self.local_ip = ""

    async def open(self, timeout: float, auth: str = "", name: str = "") -> None:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), timeout)
        self._writer = writer
        self.local_ip = writer.get_extra_info("sockname")[0]
        self.connected = True
        self._reader_task = asyncio.create_task(self._read_loop(reader))
        if auth:
            self.send("AUTH", auth)
        if name:
            self.send("CLIENT", "SETNAME", name)  # errors ignored (not every node has CLIENT)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def send(self, *args) -> asyncio.Future:
        fut = asyncio.get_running_loop().create_future()
        fut.add_done_callback(_consume)  # fire-and-forget commands must not warn when the link drops
        if not self.connected or self._writer is None:
            fut.set_exception(LinkClosed("not connected"))
            return fut
        self._pending.append(fut)
        self._writer.write(encode_command(*args))
        return fut

    async def call(self, *args, timeout: float = 5.0):
        return await asyncio.wait_for(self.send(*args), timeout)

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        parser = ReplyParser()
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                for reply in parser.feed(data):
                    if self._pending:
                        fut = self._pending.popleft()
                        if not fut.done():
                            fut.set_result(reply)
        except (OSError, hiredis.ProtocolError):
            pass
        finally:
            self.close()

    def close(self) -> None:
        if not self.connected and self._writer is None:
            return
        self.connected = False
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        while self._pending:
            fut = self._pending.popleft()
            if not fut.done():
                fut.set_exception(LinkClosed("link closed"))
        task, self._reader_task = self._reader_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        if self._on_close:
            self._on_close()


def _consume(fut: asyncio.Future) -> None:
    if not fut.cancelled():
        fut.exception()


class Subscriber:
    """A SUBSCRIBE connection delivering (channel, message) to a callback."""

    def __init__(self, host: str, port: int, channel: bytes,
                 on_message: Callable[[bytes, bytes], None]):
        self.host = host
        self.port = port
        self.channel = channel
        self.on_message = on_message
        self.task: asyncio.Task | None = None

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def start(self, timeout: float, auth: str = "", name: str = "") -> None:
        if not self.running:
            self.task = asyncio.create_task(self._run(timeout, auth, name))
            self.task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _run(self, timeout: float, auth: str, name: str) -> None:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), timeout)
        try:
            if auth:
                writer.write(encode_command("AUTH", auth))
            if name:
                writer.write(encode_command("CLIENT", "SETNAME", name))
            writer.write(encode_command("SUBSCRIBE", self.channel))
            parser = ReplyParser()
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                for reply in parser.feed(data):
                    if isinstance(reply, list) and len(reply) == 3 and reply[0] == b"message":
                        self.on_message(reply[1], reply[2])
        finally:
            writer.close()

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.task = None


def parse_info(text: bytes | str) -> dict[str, str]:
    """INFO reply -> {field: value} over all sections."""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    out: dict[str, str] = {}
    for line in text.splitlines():
        if not line or line.startswith("#") or ":" not in line:
            continue
        k, v = line.split(":", 1)
        out[k.strip()] = v.strip()
    return out


@dataclass
class NodeInfo:
    """What the sentinel needs from a node's INFO (replication + server + storage sections)."""

    run_id: str = ""
    role: str = ""  # master | slave
    replicas: list[tuple[str, int]] = field(default_factory=list)  # from a master's slaveN lines
    master_host: str = ""
    master_port: int = 0
    master_link_up: bool = False
    master_link_down_ms: float = 0.0
    priority: int = 100
    repl_offset: int = 0
    stalled: bool = False
    stall_seconds: float = 0.0


def node_info(fields: dict[str, str]) -> NodeInfo:
    info = NodeInfo(run_id=fields.get("run_id", ""), role=fields.get("role", ""))
    for k, v in fields.items():
        if k.startswith("slave") and k[5:].isdigit():
            kv = dict(p.split("=", 1) for p in v.split(",") if "=" in p)
            if "ip" in kv and "port" in kv:
                info.replicas.append((kv["ip"], int(kv["port"])))
    info.master_host = fields.get("master_host", "")
    info.master_port = _int(fields.get("master_port"))
    info.master_link_up = fields.get("master_link_status") == "up"
    down_s = _int(fields.get("master_link_down_since_seconds"), -1)
    info.master_link_down_ms = max(down_s, 0) * 1000.0
    info.priority = _int(fields.get("slave_priority", fields.get("replica_priority")), 100)
    info.repl_offset = _int(fields.get("slave_repl_offset", fields.get("master_repl_offset")))
    info.stalled = fields.get("write_stall_active") == "1" or fields.get("rocksdb_write_stopped") == "1"
    try:
        info.stall_seconds = float(fields.get("write_stall_seconds", 0) or 0)
    except ValueError:
        info.stall_seconds = 0.0
    return info


def _int(value, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
