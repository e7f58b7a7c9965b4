"""CLIENT PAUSE / CLIENT UNPAUSE state, with Redis 7.0's semantics.

While a pause is active, the commands it covers wait (their client is suspended, the event loop
is not) and run when it ends, by its timeout or CLIENT UNPAUSE:
  WRITE  what may replicate: write commands, PUBLISH, PFCOUNT, EVAL/FCALL of a script not
         declared no-writes, and EXEC of a transaction holding one of those (queueing one inside
         MULTI waits too); reads, PING, INFO, ROLE, CLIENT, ... are served.
  ALL    every command of every client.
Replicas and the link to our master are never paused: the replication stream and the replicas'
ACKs go on, so replicas of a paused master catch up with it (what a failover waits for).
A new pause replaces the mode and keeps the later of the two end times, as Redis does.
"""

from __future__ import annotations

import asyncio

from xcache.store.commands import Command
from xcache.store.scriptflags import command_flags

WRITE, ALL = "write", "all"
_NEVER_PAUSED = ("replica", "master")  # Client.kind of replication links


class ClientPause:
    def __init__(self) -> None:
        self.mode = ""  # "" (not paused), WRITE or ALL
        self.end = 0.0  # loop.time() at which the pause ends by itself
        self.waiting = 0  # suspended clients (counted in INFO blocked_clients, as Redis)
        self._timer: asyncio.TimerHandle | None = None
        self._changed: asyncio.Event | None = None

    def pause(self, timeout_ms: int, mode: str) -> None:
        loop = asyncio.get_running_loop()
        self.end = max(self.end if self.mode else 0.0, loop.time() + timeout_ms / 1000)
        self.mode = mode
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(self.end, self.unpause)
        self._wake()  # ALL -> WRITE lets readers go

    def unpause(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.mode = ""
        self.end = 0.0
        self._wake()

    def blocks(self, c, cmd: Command, name: bytes, argv: list[bytes] | None = None) -> bool:
        """Whether client c must wait before running cmd (called only while self.mode is set):
        under WRITE, what may replicate (getCommandFlags: a script's declared flags count)."""
        if c.kind in _NEVER_PAUSED:
            return False
        if self.mode == ALL:
            return True
        if name == b"exec":
            return bool(c.multi) and any(command_flags(c.server, q, a)[1] for q, a in c.multi)
        return command_flags(c.server, cmd, argv)[1]

    async def changed(self) -> None:
        """Return at the next pause, unpause or timeout."""
        if self._changed is None:
            self._changed = asyncio.Event()
        self.waiting += 1
        try:
            await self._changed.wait()
        finally:
            self.waiting -= 1

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    def info(self) -> dict:
        """INFO clients fields (the names newer Redis versions report)."""
        if not self.mode:
            return {
                "paused_reason": "none",
                "paused_actions": "none",
                "paused_timeout_milliseconds": 0,
            }
        left_ms = max(0, int((self.end - asyncio.get_running_loop().time()) * 1000))
        return {
            "paused_reason": "client_pause",
            "paused_actions": self.mode,
            "paused_timeout_milliseconds": left_ms,
        }


__all__ = ["ALL", "WRITE", "ClientPause"]
