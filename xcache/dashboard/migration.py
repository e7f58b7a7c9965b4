"""Online slot migration (Codis's slot actions), driven by the dashboard.

The topology holds the plan (`pending`: slot -> target) and the wave moving now (`migrating`:
slot -> source). One wave at a time, of up to migration_wave_slots slots of one source group:

1. start: the wave's slots go to the target in the slot table, marked migrating from the source,
   and the table is pushed. A proxy answers the push only once nothing it routed by the old
   table is still in flight, and from then on it serves those slots migrate-first (MIGRATE the
   keys of each request from the source, then send the request to the target).
2. move: only once every proxy holds the table. The source is SCANned and every key of the
   wave's slots is moved with `MIGRATE ... REPLACE KEYS ...` in batches, throttled, checking
   for a pause between batches. Keys a proxy moved first are simply absent (MIGRATE skips them).
3. finish: a SCAN that finds no key of the wave's slots on the source ends the wave; the slots
   are then served by the target alone.

Everything lives in the coordinator, so a restarted dashboard resumes where it stopped (moving
a key twice is harmless: the second MIGRATE finds nothing). Both xcache and redis-server nodes
speak MIGRATE, so one path serves both kinds of groups.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

import redis.asyncio as aredis

from xcache.dashboard import topology as T
from xcache.keyslot import slot_of


class Migrator:
    def __init__(self, ctl):
        self.ctl = ctl
        self.cfg = ctl.cfg
        self.state = "idle"  # idle | waiting_for_proxies | moving | paused | error
        self.keys_moved = 0
        self.bytes_moved = 0
        self.slots_done = 0
        self.batches = 0
        self.errors = 0
        self.last_error = ""
        self.wave: dict = {}
        self._samples: deque = deque(maxlen=20)  # (time, keys_moved, bytes_moved) for rates
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._next_batch_at = 0.0

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass

    def wake(self) -> None:
        self._wake.set()

    async def _sleep(self, seconds: float) -> None:
        """Wait for a wake-up (a new plan, resume, throttle change) or the period, whichever first."""
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except TimeoutError:
            pass
        self._wake.clear()

    async def _run(self) -> None:
        period = self.cfg.reconcile_interval_ms / 1000
        while True:
            t = self.ctl.topo
            busy = bool(t.pending or t.migrating)
            if not busy or t.migration_paused:
                self.state = "paused" if busy else "idle"
                self.wave = {} if not busy else self.wave
                await self._sleep(period)
                continue
            try:
                await self._step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a node down, a coordinator conflict: retry after a period
                self.errors += 1
                self.state = "error"
                self.last_error = f"{type(exc).__name__}: {exc}"
                self.ctl.event("migration_error", "warning", error=self.last_error)
                await self._sleep(max(period, 1.0))

    # --- one step: start a wave, or move what is left of it, or finish it -----------------------
    async def _step(self) -> None:
        ctl = self.ctl
        if not ctl.topo.migrating:
            async with ctl.lock:
                wave = next_wave(ctl.topo, self.cfg.migration_wave_slots)
                await ctl._change(T.start_wave, wave)
            t = ctl.topo
            ctl.event("migration_wave_started", source=t.migrating[wave[0]], target=t.slots[wave[0]],
                      slots=_ranges_text(wave))
        if not await self._proxies_ready():
            self.state = "waiting_for_proxies"
            await self._sleep(self.cfg.reconcile_interval_ms / 1000)
            return
        self.state = "moving"
        t = ctl.topo
        wave = sorted(t.migrating)
        self.wave = {"source": t.migrating[wave[0]], "target": t.slots[wave[0]], "slots": _ranges_text(wave)}
        found = 0
        for source in sorted(set(t.migrating.values())):
            slots = {s for s, g in t.migrating.items() if g == source}
            moved = await self._sweep(source, slots)
            if moved is None:  # paused mid-sweep
                return
            found += moved
        if found:
            return  # another pass proves the source has nothing left
        async with ctl.lock:
            done = sorted(s for s in wave if s in ctl.topo.migrating)
            await ctl._change(T.finish_slots, done)
        self.slots_done += len(done)
        ctl.event("migration_wave_done", slots=_ranges_text(done), pending=len(ctl.topo.pending))

    async def _proxies_ready(self) -> bool:
        """Every proxy took the current table and drained what it routed by the previous one;
        re-push to the ones that did not (a proxy that already holds the table answers 409 and
        counts as drained: it drained when it took it)."""
        ctl = self.ctl

        def ready(a: str) -> bool:
            st = ctl.proxy_state.get(a, {})
            return bool(st.get("in_sync") and st.get("drained") and st.get("epoch") == ctl.topo.epoch)
        stale = [a for a in ctl.topo.proxies if not ready(a)]
        if not stale:
            return True
        async with ctl.lock:
            await ctl.push_all(only=stale)
        return all(ready(a) for a in ctl.topo.proxies)

    async def _sweep(self, source: int, slots: set[int]) -> int | None:
        """SCAN the source's master once and MIGRATE every key of `slots` to its target.
        Returns the number of keys found, None if a pause stopped it."""
        ctl, cfg = self.ctl, self.cfg
        g = ctl.topo.groups[source]
        host, port = g.master.rsplit(":", 1)
        # MIGRATE of a big key takes a while: the socket timeout covers a whole batch
        conn = aredis.Redis(host=host, port=int(port), protocol=2, password=cfg.server_password or None,
                            socket_timeout=max(60.0, cfg.migration_timeout_ms / 1000 * 4),
                            socket_connect_timeout=ctl.timeout)
        try:
            # xcache nodes count the bytes MIGRATE sends (INFO migrate): read it once per batch
            sent = await _migrate_bytes(conn) if "xcache_version" in await conn.info("server") else None
            found, cursor = 0, 0
            while True:
                cursor, keys = await conn.scan(cursor, count=cfg.migration_scan_count)
                by_target: dict[int, list[bytes]] = {}
                for k in keys:
                    s = slot_of(k)
                    if s in slots:
                        by_target.setdefault(ctl.topo.slots[s], []).append(k)
                for target, ks in by_target.items():
                    found += len(ks)
                    for i in range(0, len(ks), cfg.migration_batch_keys):
                        await self._throttle()
                        if ctl.topo.migration_paused:
                            return None
                        sent = await self._migrate(conn, sent, target, ks[i:i + cfg.migration_batch_keys])
                if cursor == 0:
                    return found
        finally:
            await conn.aclose()

    async def _migrate(self, conn, sent: int | None, target: int, keys: list[bytes]) -> int | None:
        """MIGRATE one batch. `sent`: the source's migrate_bytes_total before it (None on
        redis-server); returns the new value (bytes a proxy's MIGRATE sent meanwhile count too:
        they are part of the migration)."""
        cfg = self.cfg
        dst = self.ctl.topo.groups[target].master
        host, port = dst.rsplit(":", 1)
        auth = ["AUTH", cfg.server_password] if cfg.server_password else []
        if sent is None:  # redis-server says nothing about bytes sent: its own estimate of the keys' size
            pipe = conn.pipeline(transaction=False)
            for k in keys:
                pipe.memory_usage(k)
            sizes = await pipe.execute(raise_on_error=False)
        reply = await conn.execute_command("MIGRATE", host, port, "", 0, cfg.migration_timeout_ms, "REPLACE",
                                           *auth, "KEYS", *keys)
        if reply in (b"NOKEY", "NOKEY"):
            return sent
        self.keys_moved += len(keys)
        if sent is None:
            self.bytes_moved += sum(s for s in sizes if isinstance(s, int))
        else:
            now = await _migrate_bytes(conn)
            self.bytes_moved += max(0, now - sent)  # max: CONFIG RESETSTAT resets the counter
            sent = now
        self.batches += 1
        self._samples.append((time.monotonic(), self.keys_moved, self.bytes_moved))
        return sent

    async def _throttle(self) -> None:
        """At most keys_per_second keys a second (set live with `slots throttle`): wait for this
        batch's turn; a pause or a new rate (which wake us) ends the wait early."""
        t = self.ctl.topo
        while t.migration_keys_per_second and not t.migration_paused:
            wait = self._next_batch_at - time.monotonic()
            if wait <= 0:
                break
            await self._sleep(min(wait, self.cfg.migration_batch_keys / t.migration_keys_per_second))
            t = self.ctl.topo
        rate = t.migration_keys_per_second
        now = time.monotonic()
        self._next_batch_at = max(now, self._next_batch_at) + self.cfg.migration_batch_keys / rate if rate else 0.0

    # --- views -----------------------------------------------------------------------------
    def status(self) -> dict:
        t = self.ctl.topo
        keys_rate = bytes_rate = 0.0
        if len(self._samples) >= 2 and time.monotonic() - self._samples[-1][0] < 5:
            (t0, k0, b0), (t1, k1, b1) = self._samples[0], self._samples[-1]
            if t1 > t0:
                keys_rate, bytes_rate = (k1 - k0) / (t1 - t0), (b1 - b0) / (t1 - t0)
        busy = bool(t.pending or t.migrating)  # (self.state follows at the runner's next turn)
        return {"state": self.state if busy else "idle", "paused": t.migration_paused,
                "keys_per_second_limit": t.migration_keys_per_second,
                "slots_pending": len(t.pending), "slots_migrating": len(t.migrating),
                "slots_done": self.slots_done, "keys_moved": self.keys_moved, "bytes_moved": self.bytes_moved,
                "keys_per_second": round(keys_rate, 1), "bytes_per_second": round(bytes_rate, 1),
                "batches": self.batches, "errors": self.errors, "last_error": self.last_error,
                "wave": self.wave if t.migrating else {},
                "pending": [{"first": a, "last": b, "target": g} for a, b, g in T.map_ranges(t.pending)],
                "migrating": [{"first": a, "last": b, "source": g} for a, b, g in T.map_ranges(t.migrating)]}


def next_wave(t: T.Topology, size: int) -> list[int]:
    """The first pending slots that share the lowest pending slot's source and target."""
    if not t.pending:
        raise T.TopologyError("no slot is pending")
    first = min(t.pending)
    pair = (t.slots[first], t.pending[first])
    return [s for s in sorted(t.pending) if (t.slots[s], t.pending[s]) == pair][:size]


async def _migrate_bytes(conn) -> int:
    info = await conn.info("migrate")
    return int(info.get("migrate_bytes_total", 0) or 0)


def _ranges_text(slots: list[int]) -> str:
    return ",".join(f"{a}-{b}" if a != b else str(a) for a, b, _ in T.map_ranges(dict.fromkeys(slots, 1)))
