"""Acknowledged writes through the proxy for nodes that cannot hold a reply themselves (e.g. real
redis-server groups): with backend_wait_replicas = N, every write sent to a master travels with
`WAIT N backend_wait_timeout_ms` right behind it on the same pipelined connection, and the client
gets the write's reply only once WAIT answered. WAIT counting fewer than N replicas turns the
reply into xcache's in-doubt error (the same text a node with write_ack_replicas answers):
`-NOACK write applied on the master but acknowledged by 0 of 1 replica(s) within 1000 ms: ...`.

To a BackendConn the pair looks like a batch of (replies of the write) + 1: it is answered,
refused (-READONLY and the like) or lost like any batch, and `explode` keeps the rules of the
backend: a write not answered yet is the one refused or lost (retried or failed as usual, never
re-sent once it may have executed); a write answered whose WAIT was not is in doubt (-NOACK).
"""

from __future__ import annotations

from xcache.proxy.replies import error_line, pack, reply_end


def noack(got: int, wanted: int, timeout_ms: int, why: str = "") -> bytes:
    return error_line(f"NOACK write applied on the master but acknowledged by {got} of {wanted} "
                      f"replica(s) within {timeout_ms} ms: it may be lost in a failover{why}")


class WaitSink:
    """Absorbs the reply of a WAIT whose write was already dealt with (refused, lost)."""

    __slots__ = ()
    raw = b""
    spec = None
    batch = False
    internal = True

    def complete(self, reply: bytes) -> None:
        pass

    def lost(self) -> None:
        pass


class AckedWrite:
    """A write request (or a MULTI ... EXEC block) followed by WAIT on one backend connection."""

    __slots__ = ("inner", "k", "n", "got", "parts", "errs", "raw", "wanted", "timeout_ms", "stats")
    batch = True
    internal = False

    def __init__(self, inner, raw: bytes, wanted: int, timeout_ms: int, stats: dict):
        self.inner = inner
        self.stats = stats  # the group's counters: write_ack_timeouts
        self.k = inner.n if inner.batch else 1  # replies of the write itself
        self.n = self.k + 1
        self.got = 0
        self.parts: list[bytes] = []
        self.errs: list[int] = []
        self.wanted, self.timeout_ms = wanted, timeout_ms
        self.raw = raw + pack([b"WAIT", b"%d" % wanted, b"%d" % timeout_ms])

    @property
    def spec(self):
        return self.inner.spec

    @property
    def slot(self) -> int:
        return self.inner.slot

    def finish(self) -> None:
        buf = b"".join(self.parts)
        ends = [0]
        for _ in range(self.k):
            ends.append(reply_end(buf, ends[-1]))
        write, wait = buf[:ends[-1]], buf[ends[-1]:]
        if buf[ends[-2]:ends[-2] + 1] in (b"-", b"!"):  # the write (EXEC) failed: nothing to ack
            self._answer(write, ok=True)
            return
        if wait[:1] == b":" and int(wait[1:-2]) >= self.wanted:
            self._answer(write, ok=True)
            return
        got = int(wait[1:-2]) if wait[:1] == b":" else 0
        why = "" if wait[:1] == b":" else f" (WAIT: {wait[1:].strip().decode(errors='replace')[:200]})"
        self._answer(noack(got, self.wanted, self.timeout_ms, why), ok=False)

    def _answer(self, reply: bytes, ok: bool) -> None:
        inner = self.inner
        if not ok:
            self.stats["write_ack_timeouts"] += 1
        if inner.batch and ok:
            inner.parts, inner.got, inner.errs = [reply], inner.n, []
            inner.finish()
        else:
            inner.complete(reply)

    def explode(self) -> list:
        """The connection failed, or the node refused a reply (self.got replies arrived)."""
        if self.got < self.k:  # the write itself: the backend's usual rules apply to it
            inner = self.inner
            if inner.batch:
                inner.got = self.got
                rest = inner.explode()
            else:
                rest = [inner]
            return [*rest, WaitSink()]
        # the write was answered, its WAIT was not: applied here, not known to be on a replica
        self.stats["write_ack_timeouts"] += 1
        self.inner.complete(noack(0, self.wanted, self.timeout_ms, " (WAIT not answered)"))
        return [WaitSink()]
