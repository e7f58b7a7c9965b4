"""The commands the proxy answers itself (PING, ECHO, CLIENT ..., HELLO, SELECT, TIME...) in
SLOWLOG and LATENCY HISTOGRAM, as one Redis would show them.

They never reach a node, so the nodes' slow logs and histograms cannot hold them: each worker
keeps a slow log and per-command histograms of its own for them, merged into the nodes' replies
(SLOWLOG GET newest first - in one second the proxy's own first -, SLOWLOG LEN, both capped at
slowlog-max-len; LATENCY HISTOGRAM). The thresholds are the nodes': Redis's defaults until a
CONFIG SET through this proxy changes them.
A node's own entries for those names (the proxy's health PINGs, its HELLO 3) are not a client's:
they are left out of the merged histogram. AUTH, HELLO and ACL carry secrets: not slow-logged.
"""

from __future__ import annotations

import time
from collections import deque
from time import perf_counter

from xcache.observability.slowlog import redacted, shown_args
from xcache.proxy import scriptkill
from xcache.proxy.protocol import integer, items, text

_SUBCOMMANDS = {"CLIENT", "ACL"}  # containers: recorded as client|id, as Redis names them


class LocalStats:
    def __init__(self):
        self.slower_s: float = 0.01  # slowlog-log-slower-than (off: inf)
        self.max_len = 128  # slowlog-max-len
        self.tracking = True  # latency-tracking
        self.busy_ms = 5000  # busy-reply-threshold (scriptkill.py)
        self.off = False  # neither tracked nor slow-logged: served() does not time them
        self.slowlog: deque = deque()
        self.next_id = 0
        self.hist: dict[str, list[int]] = {}  # name -> counts per log2(ns) bucket
        self.by_spec: dict = {}  # spec -> its hist list (commands without subcommands)

    def buckets(self, spec, argv: list[bytes]) -> list[int] | None:
        """The histogram a command is counted in (None: the nodes count it)."""
        name = spec.lname
        if spec.name in _SUBCOMMANDS and len(argv) > 1:
            sub = argv[1].lower()
            if spec.name == "CLIENT" and sub in (b"pause", b"unpause"):
                return None  # sent on to the nodes, which record it
            name += "|" + sub.decode(errors="replace")
        elif spec in self.by_spec:
            return self.by_spec[spec]
        h = self.hist.get(name)
        if h is None:
            h = self.hist[name] = [0] * 64
            if spec.name not in _SUBCOMMANDS:
                self.by_spec[spec] = h
        return h

    def slowlog_add(self, session, argv: list[bytes], usec: int) -> None:
        shown = shown_args(redacted(argv))
        tr = session.transport
        peer = tr.get_extra_info("peername") if tr is not None else None
        addr = f"{peer[0]}:{peer[1]}" if peer else f"{session.ip}:0"
        self.slowlog.appendleft((self.next_id, int(time.time()), usec, shown, addr.encode(),
                                 session.name))
        self.next_id += 1
        while len(self.slowlog) > self.max_len:
            self.slowlog.pop()

    # -- configuration the nodes were given -------------------------------------------------------
    def configured(self, argv: list[bytes]) -> None:
        """CONFIG SET ... went through and the nodes accepted it: follow what concerns us."""
        for i in range(2, len(argv) - 1, 2):
            param, value = argv[i].lower(), argv[i + 1]
            try:
                if param == b"slowlog-log-slower-than":
                    us = int(value)
                    self.slower_s = us / 1e6 if us >= 0 else float("inf")
                elif param == b"slowlog-max-len":
                    self.max_len = int(value)
                    while len(self.slowlog) > self.max_len:
                        self.slowlog.pop()
                elif param in (b"busy-reply-threshold", b"lua-time-limit"):
                    self.busy_ms = int(value)
                elif param == b"latency-tracking":
                    self.tracking = value.lower() == b"yes"
                    if not self.tracking:
                        self.by_spec.clear()  # served() counts what is in it
            except ValueError:
                pass
        self.off = not self.tracking and self.slower_s == float("inf")

    # -- merging into the nodes' replies ----------------------------------------------------------
    def slowlog_entries(self, replies: list[bytes]) -> list[bytes]:
        """Every entry, newest first, at most slowlog-max-len."""
        from xcache.proxy.protocol import encode

        # Entries carry seconds: within one second the proxy's own come first (newer), as it
        # cannot tell; each group's own order stays (a stable sort).
        timed = [(e[1], encode(list(e), False)) for e in self.slowlog]
        for r in replies:
            for e in items(r) or []:
                f = items(e) or []
                timed.append((integer(f[1]) if len(f) > 1 else 0, e))
        timed.sort(key=lambda t: -(t[0] or 0))
        return [e for _, e in timed[: self.max_len]]

    def histogram(self, replies: list[bytes], argv: list[bytes], resp3: bool) -> bytes:
        """The first group's LATENCY HISTOGRAM [cmd...] with this worker's local commands."""
        node = items(replies[0]) or []
        names = {n.decode(errors="replace").lower() for n in argv[2:]}
        mine = {k: v for k, v in self.hist.items()
                if not names or k in names or k.split("|", 1)[0] in names}
        pairs = [(node[i], node[i + 1]) for i in range(0, len(node) - 1, 2)
                 if (text(node[i]) or b"").decode(errors="replace").split("|", 1)[0].upper()
                 not in _LOCAL_NAMES]
        out = [k + v for k, v in pairs]
        for name, buckets in sorted(mine.items()):
            calls = sum(buckets)
            if not calls:
                continue
            seen, cdf = 0, []
            for b, count in enumerate(buckets):
                if count:
                    seen += count
                    cdf += [max(1, (1 << b) // 1000), seen]
            n = name.encode()
            body = b"$5\r\ncalls\r\n:%d\r\n$14\r\nhistogram_usec\r\n%b%b" % (
                calls, _map_head(len(cdf) // 2, resp3), b"".join(b":%d\r\n" % x for x in cdf))
            out.append(b"$%d\r\n%b\r\n%b%b" % (len(n), n, _map_head(2, resp3), body))
        return _map_head(len(out), resp3) + b"".join(out)

    def reset_histograms(self) -> None:
        self.hist.clear()
        self.by_spec.clear()


def _map_head(n: int, resp3: bool) -> bytes:
    return b"%%%d\r\n" % n if resp3 else b"*%d\r\n" % (2 * n)


def _local_names() -> set[str]:
    from xcache.proxy import commands as C

    return {s.name for s in C.COMMANDS.values() if s.kind == C.LOCAL}


_LOCAL_NAMES = _local_names()


def served(session, spec, argv: list[bytes], t0: float) -> None:
    """Answer a command the proxy serves itself, and record it as a node would (hot: PING)."""
    ctx = session.ctx
    if ctx.busy_groups and spec.name == "PING" and scriptkill.ping(session, spec, argv, t0):
        return
    st = ctx.local_stats
    if st.off:  # latency-tracking no, slowlog-log-slower-than -1: nothing to time
        session.local(spec, argv, t0)
        return
    start = perf_counter()
    session.local(spec, argv, t0)
    sec = perf_counter() - start
    h = st.by_spec.get(spec)
    if h is not None:  # a command without subcommands, tracked before: the common case
        h[int(sec * 1e9).bit_length()] += 1
    elif st.tracking:
        h = st.buckets(spec, argv)
        if h is None:
            return
        h[int(sec * 1e9).bit_length()] += 1
    if sec >= st.slower_s and st.buckets(spec, argv) is not None:
        st.slowlog_add(session, argv, int(sec * 1e6))
