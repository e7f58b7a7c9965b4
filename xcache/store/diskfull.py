"""A storage node whose disk is full (or fails writes): refuse writes at once, keep serving reads,
heal without a restart.

RocksDB turns a failed WAL append (ENOSPC) into a sticky background error: every later write
fails ("Writer has previous error") even after space is freed, and rocksdict exposes no
DB::Resume(). So the node:
  1. classifies the write error (`classify`), records it (`DiskState`) and answers that write and
     every later write command at once with `-MISCONF Errors writing to disk (...)`;
  2. keeps answering reads from the open database (its memtables and SST files are intact);
  3. checks the free space of the data directory every `disk_check_interval_ms`; once at least
     `disk_resume_free_bytes` are free it reopens RocksDB in place (`reopen`): commands arriving
     meanwhile wait; the open runs on the loop's executor; RocksDB replays the WAL, so every
     acknowledged write (its WAL record was written before the OK) is kept, and a write that
     failed half-way is dropped by point-in-time recovery.
If the writable open fails (space short again), the database is opened read-only so reads go on,
and the next check tries again.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import os
import time

from xcache.resp import Error

log = logging.getLogger("xcache.server")

DISK_FULL = "disk full"
IO_ERROR = "I/O error"


def classify(text: str) -> str | None:
    """Reason a RocksDB status text means the disk refuses writes, or None (another error)."""
    low = text.lower()
    if "no space left" in low or "enospc" in low or os.strerror(errno.ENOSPC).lower() in low:
        return DISK_FULL
    if "io error" in low or "writer has previous error" in low or "background error" in low:
        return IO_ERROR
    return None


class DiskFullError(Error):
    """A write refused because the node cannot write to its disk (a RESP error reply)."""


def misconf(reason: str) -> DiskFullError:
    until = "space is free" if reason == DISK_FULL else "the disk accepts writes again"
    return DiskFullError(f"MISCONF Errors writing to disk ({reason}): writes are refused until {until}")


class DiskState:
    """What the node knows of its disk, for the write gate, INFO, /health and metrics."""

    def __init__(self):
        self.reason: str | None = None  # None = writes work
        self.error = ""  # RocksDB's text of the first failure of this episode
        self.since: float | None = None  # time.time() the episode began
        self.episodes = 0
        self.rejected_writes = 0
        self.recoveries = 0
        self.last_attempt_error = ""
        self.read_only = False  # the database is open read-only (a reopen failed)

    @property
    def full(self) -> bool:
        return self.reason is not None

    def on_error(self, reason: str, text: str) -> None:
        if self.reason is None:
            self.reason, self.error, self.since = reason, text, time.time()
            self.episodes += 1
            log.error("event=disk_write_failed reason=%r error=%r: writes are refused until it heals",
                      reason, text)

    def refuse(self) -> DiskFullError:
        self.rejected_writes += 1
        return misconf(self.reason or IO_ERROR)

    def on_recovered(self) -> None:
        seconds = time.time() - (self.since or time.time())
        log.info("event=disk_write_recovered reason=%r seconds=%.1f rejected_writes=%s",
                 self.reason, seconds, self.rejected_writes)
        self.reason, self.error, self.since = None, "", None
        self.recoveries += 1
        self.last_attempt_error = ""
        self.read_only = False

    def seconds(self) -> float:
        return 0.0 if self.since is None else time.time() - self.since


def free_bytes(path: str) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


async def heal_loop(server) -> None:
    """While writes are refused, reopen the database once enough space is free."""
    while True:
        await asyncio.sleep(server.cfg.disk_check_interval_ms / 1000)
        disk = server.engine.disk
        if not disk.full or server.engine_swap is not None:
            continue
        try:
            free = free_bytes(server.cfg.dir)
        except OSError as exc:
            disk.last_attempt_error = str(exc)
            continue
        if free < server.cfg.disk_resume_free_bytes:
            continue
        try:
            await reopen(server)
        except Exception:
            log.exception("event=disk_reopen_failed")


async def reopen(server) -> None:
    """Close and reopen RocksDB in place; commands wait meanwhile (server.engine_swap)."""
    loop = asyncio.get_running_loop()
    gate = server.engine_swap = asyncio.Event()
    try:
        old = server.engine
        Engine = type(old)  # noqa: N806 - the class, taken from the instance (engine.py imports us)
        disk = old.disk
        await old.wait_idle()  # no thread (WAL fsync, BGSAVE, COMPACT) inside it
        try:
            old.close()
        except Exception as exc:  # "Writer has previous error": the files are closed anyway
            log.info("event=disk_reopen_close error=%r", str(exc))
        del old
        gc.collect()  # rocksdict releases the LOCK when the last handle goes
        try:
            new = await loop.run_in_executor(None, Engine, server.cfg)
        except Exception as exc:
            disk.last_attempt_error = str(exc)
            log.warning("event=disk_reopen_refused error=%r: serving reads read-only", str(exc))
            try:
                new = await loop.run_in_executor(None, lambda: Engine(server.cfg, read_only=True))
            except Exception as exc2:
                log.critical("event=engine_reopen_failed error=%r", str(exc2))
                os._exit(1)  # no usable store: a supervisor restarts us
            new.disk = disk
            disk.read_only = True
        else:
            new.disk = disk
            disk.on_recovered()
        server.engine = new
        server.collector.engine = new
    finally:
        server.engine_swap = None
        gate.set()
