"""When each key was last used (OBJECT IDLETIME) and, under an LFU maxmemory-policy, how often
(OBJECT FREQ): what Redis keeps in every object's 24-bit lru field (evict.c), kept here for the
keys used lately.

Redis stores the field in every value. Here it lives beside the meta cache in two generations of
at most GENERATION_KEYS keys each: when the young one is full it becomes the old one, and the old
one is dropped, so the table stays within a few MiB whatever the keyspace. A key in neither
generation has not been used since the old generation began: its idle time is counted from then
(a lower bound) and its frequency is Redis's initial counter decayed since then.

Reads and writes of a key's meta (Engine) stamp it while `touching` is on; Server.call turns it
off for the commands Redis runs with LOOKUP_NOTOUCH (TYPE, TTL, EXISTS, OBJECT...) and for a
client in CLIENT NO-TOUCH mode. Stamps are Redis's: the LRU clock in seconds, or under LFU
(minutes << 8) | counter with Redis's logarithmic increment and decay. A policy switch between
LRU and LFU starts the table afresh (Redis's stamps take "some time to adjust" then).
"""

from __future__ import annotations

import asyncio
import random
import time

GENERATION_KEYS = 1 << 13  # a table this size stays in the CPU caches: 65,536 cost 2x per read
LFU_INIT_VAL = 5
# Commands that look at a key without using it (Redis's LOOKUP_NOTOUCH callers)
NOTOUCH_COMMANDS = frozenset({"type", "ttl", "pttl", "expiretime", "pexpiretime", "exists",
                              "object", "memory", "debug"})


class AccessTable:
    __slots__ = ("young", "old", "clock", "touching", "lfu", "log_factor", "decay_time", "since")

    def __init__(self):
        self.young: dict[bytes, int] = {}
        self.old: dict[bytes, int] = {}
        self.clock = int(time.time())  # Redis's LRU clock: seconds, refreshed by run_clock()
        self.touching = True
        self.lfu = False
        self.log_factor = 10
        self.decay_time = 1
        self.since = self.clock  # when the old generation began

    async def run_clock(self) -> None:
        while True:
            await asyncio.sleep(1.0)  # LRU_CLOCK_RESOLUTION
            self.clock = int(time.time())

    def configure(self, settings: dict[str, str]) -> None:
        """maxmemory-policy, lfu-log-factor and lfu-decay-time (at start and after CONFIG SET)."""
        lfu = settings["maxmemory-policy"].endswith("-lfu")
        if lfu != self.lfu:
            self.young, self.old = {}, {}
            self.since = self.clock
        self.lfu = lfu
        self.log_factor = int(settings["lfu-log-factor"])
        self.decay_time = int(settings["lfu-decay-time"])

    def touch(self, mkey: bytes) -> None:
        """mkey was used now (the engine inlines the LRU case of this)."""
        young = self.young
        young[mkey] = self._lfu_used(self.stamp(mkey)) if self.lfu else self.clock
        if len(young) > GENERATION_KEYS:
            self.turn()

    def turn(self) -> None:
        self.old, self.young = self.young, {}
        self.since = self.clock

    def set(self, mkey: bytes, idle_s: int | None, freq: int | None) -> None:
        """RESTORE's IDLETIME (LRU policies) or FREQ (LFU policies), as objectSetLRUOrLFU."""
        if self.lfu and freq is not None:
            self.young[mkey] = (self._minutes() << 8) | freq
        elif not self.lfu and idle_s is not None:
            self.young[mkey] = self.clock - idle_s
        else:
            return
        self.old.pop(mkey, None)
        if len(self.young) > GENERATION_KEYS:
            self.turn()

    def idle_seconds(self, mkey: bytes) -> int:
        """OBJECT IDLETIME (LRU policies), on the same clock as the stamps (as Redis's LRU_CLOCK)."""
        return max(0, self.clock - self.stamp(mkey))

    def frequency(self, mkey: bytes) -> int:
        """OBJECT FREQ (LFU policies): the counter after its decay (LFUDecrAndReturn)."""
        return self._decayed(self.stamp(mkey))

    def stamp(self, mkey: bytes) -> int:
        stamp = self.young.get(mkey)
        if stamp is None:
            stamp = self.old.get(mkey)
        if stamp is None:  # unused since the old generation began
            since = self.since
            return ((since // 60) & 0xFFFF) << 8 | LFU_INIT_VAL if self.lfu else since
        return stamp

    def _minutes(self) -> int:
        return (self.clock // 60) & 0xFFFF  # LFUGetTimeInMinutes

    def _decayed(self, stamp: int) -> int:
        counter = stamp & 0xFF
        if self.decay_time:
            elapsed = (self._minutes() - (stamp >> 8)) & 0xFFFF  # LFUTimeElapsed, with its wrap
            counter = max(0, counter - elapsed // self.decay_time)
        return counter

    def _lfu_used(self, stamp: int) -> int:
        """updateLFU: decay, then the logarithmic increment (LFULogIncr)."""
        counter = self._decayed(stamp)
        if counter < 255:
            base = max(0, counter - LFU_INIT_VAL)
            if random.random() < 1.0 / (base * self.log_factor + 1):
                counter += 1
        return (self._minutes() << 8) | counter
