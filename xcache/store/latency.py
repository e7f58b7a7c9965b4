"""Per-command latency: histograms (INFO latencystats, LATENCY HISTOGRAM), the latency monitor
(LATENCY LATEST/HISTORY/RESET/DOCTOR, `latency-monitor-threshold`) and the slow log (SLOWLOG,
`slowlog-log-slower-than`, `slowlog-max-len`). Server.call() feeds `record()` once per command.
"""

from __future__ import annotations

import time
from collections import deque

from xcache.observability.slowlog import redacted, shown_args
from xcache.resp import Error, Map, SimpleString, Verbatim
from xcache.store import cmdstats
from xcache.store.commands import command, parse_int_at_least
from xcache.store.subcommands import help_reply, subcommands, unknown_subcommand

LATENCY_HISTORY_LEN = 160  # samples kept per event, as Redis


def bucket(nsec: int) -> int:
    """A log-linear bucket of a duration: powers of two split in 4 (about 19% wide)."""
    b = nsec.bit_length()
    return (b << 2) | ((nsec >> (b - 3)) & 3) if b > 3 else b << 2


def bucket_upper_ns(key: int) -> int:
    b, sub = key >> 2, key & 3
    if b <= 3:
        return 1 << b
    return ((4 | sub) + 1) << (b - 3)


def percentiles(histogram: dict[int, int], wanted: list[float]) -> list[float]:
    """The given percentiles (in microseconds) of a bucket histogram."""
    total = sum(histogram.values())
    keys = sorted(histogram)
    out = []
    for p in wanted:
        target = max(1, -(-total * p // 100))
        seen = 0
        value = 0
        for k in keys:
            seen += histogram[k]
            if seen >= target:
                value = bucket_upper_ns(k)
                break
        out.append(value / 1000)
    return out


class Diagnostics:
    """The slow log and the latency monitor of one server."""

    def __init__(self, settings):
        self.settings = settings
        self.slowlog: deque = deque()
        self.slowlog_next_id = 0
        self.events: dict[str, deque] = {}  # event -> (unix time, ms) samples
        self.event_max: dict[str, int] = {}
        self.refresh()

    def refresh(self) -> None:
        """Re-read the thresholds (after CONFIG SET)."""
        self.tracking = self.settings.values["latency-tracking"] == "yes"  # per-command histograms
        slower = self.settings.int("slowlog-log-slower-than")
        threshold = self.settings.int("latency-monitor-threshold")
        self.slowlog_ns = slower * 1000 if slower >= 0 else None
        self.latency_ms = threshold
        candidates = [x for x in (self.slowlog_ns, threshold * 1_000_000 if threshold else None)
                      if x is not None]
        self.min_ns = min(candidates) if candidates else 1 << 62  # below it, record() is not called

    def record(self, c, cmd, argv: list[bytes], nsec: int) -> None:
        usec = nsec // 1000
        if (self.slowlog_ns is not None and nsec >= self.slowlog_ns
                and "skip_slowlog" not in cmd.flags):
            self._slowlog_add(c, cmd, argv, usec)
        if self.latency_ms and usec // 1000 >= self.latency_ms:
            self.add_event("fast-command" if "fast" in cmd.flags else "command", usec // 1000)

    def _slowlog_add(self, c, cmd, argv: list[bytes], usec: int) -> None:
        limit = int(self.settings.values["slowlog-max-len"])
        shown = shown_args(redacted(argv))
        entry = [self.slowlog_next_id, int(time.time()), usec, shown, c.addr.encode(), c.name]
        self.slowlog_next_id += 1
        self.slowlog.appendleft(entry)
        while len(self.slowlog) > limit:
            self.slowlog.pop()

    def add_event(self, event: str, ms: int) -> None:
        samples = self.events.setdefault(event, deque(maxlen=LATENCY_HISTORY_LEN))
        now = int(time.time())
        if samples and samples[-1][0] == now:
            samples[-1] = (now, max(ms, samples[-1][1]))
        else:
            samples.append((now, ms))
        self.event_max[event] = max(ms, self.event_max.get(event, 0))


# Redis 7.0's SLOWLOG help[] (src/slowlog.c): every subcommand is served
SLOWLOG_HELP = (
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
)
# Redis 7.0's LATENCY help[] (src/latency.c): every subcommand is served
LATENCY_HELP = (
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "GRAPH <event>",
    "    Return an ASCII latency graph for the <event> class.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HISTOGRAM [COMMAND ...]",
    "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
    "    If no commands are specified then all histograms are replied.",
)


@command("slowlog", -2, "admin random loading stale", 0, 0, 0)
@subcommands("slowlog")
def slowlog(c, args):
    d = c.server.diagnostics
    sub = args[0].upper()
    if sub == b"GET" and len(args) <= 2:
        count = 10
        if len(args) == 2:
            count = parse_int_at_least(args[1], -1, Error("ERR count should be greater than or equal to -1"))
            if count == -1:
                count = len(d.slowlog)
        return [list(e) for e in list(d.slowlog)[:count]]
    if sub == b"LEN" and len(args) == 1:
        return len(d.slowlog)
    if sub == b"RESET" and len(args) == 1:
        d.slowlog.clear()
        return SimpleString(b"OK")
    if sub == b"HELP" and len(args) == 1:
        return help_reply("SLOWLOG", SLOWLOG_HELP)
    raise unknown_subcommand("SLOWLOG", args[0])


@command("latency", -2, "admin noscript loading stale", 0, 0, 0)
@subcommands("latency")
def latency(c, args):
    server = c.server
    d = server.diagnostics
    sub = args[0].upper()
    if sub == b"LATEST" and len(args) == 1:
        return [[e.encode(), s[-1][0], s[-1][1], d.event_max.get(e, 0)]
                for e, s in d.events.items() if s]
    if sub == b"HISTORY" and len(args) == 2:
        samples = d.events.get(args[1].decode(errors="replace"), ())
        return [[t, ms] for t, ms in samples]
    if sub == b"RESET":
        names = [a.decode(errors="replace") for a in args[1:]] or list(d.events)
        n = 0
        for name in names:
            if d.events.pop(name, None) is not None:
                n += 1
            d.event_max.pop(name, None)
        return n
    if sub == b"DOCTOR" and len(args) == 1:
        if not d.events:
            text = ("Dave, no latency spike was observed during the lifetime of this Redis "
                    "instance, not in the slightest bit. I honestly think you ought to sleep "
                    "better. (xcache)\n")
        else:
            text = "".join(f"{e}: {len(s)} latency spikes (max {d.event_max.get(e, 0)} ms)\n"
                           for e, s in d.events.items())
        return Verbatim(text.encode())
    if sub == b"HISTOGRAM":
        if len(args) > 1:  # a container brings its subcommands (latencySpecificCommandsFillCDF)
            chosen = []
            for a in args[1:]:
                cmd = cmdstats.by_name(a.decode(errors="replace"))
                if cmd is not None:
                    chosen += [cmd, *(cmd.subs or {}).values()] if "|" not in cmd.name else [cmd]
        else:
            chosen = cmdstats.every()
        out = Map()
        for cmd in chosen:
            if cmd is None or not cmd.calls:
                continue
            hist = Map()
            seen = 0
            for k in sorted(cmd.histogram):
                seen += cmd.histogram[k]
                hist += [max(1, bucket_upper_ns(k) // 1000), seen]
            out += [cmd.name.encode(), Map([b"calls", cmd.calls, b"histogram_usec", hist])]
        return out
    if sub == b"GRAPH" and len(args) == 2:
        event = args[1].decode(errors="replace")
        if event not in d.events:
            raise Error(f"ERR No samples available for event '{event}'")
        return Verbatim(f"{event} - high {d.event_max[event]} ms\n".encode())
    if sub == b"HELP" and len(args) == 1:
        return help_reply("LATENCY", LATENCY_HELP)
    raise unknown_subcommand("LATENCY", args[0])
