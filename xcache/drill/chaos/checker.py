"""The checker: a history of operations and the final state in, a verdict out. Pure (no I/O).

Operations (`Op`) are unique-value writes and reads, as a Jepsen-style checker wants them:

    set    key value    a fresh key written once with a value never used elsewhere
    incr   key          +1 on a shared counter
    rpush  key value    a unique element appended to a shared list
    get    key -> value a read of a `set` key

Each has an outcome: `ok` (acknowledged), `fail` (known not applied: refused before it ran, e.g.
-NOREPLICAS, -READONLY, a refused connection) or `info` (in doubt: a timeout, a reset, an error
whose effect is unknown). After the fault is healed the harness reads every key back (`Final`).

Rules:
- every acknowledged set/rpush must be in the final state, else it is counted as lost;
- an acknowledged increment is lost when the final counter is below the acknowledged count
  (lost = acknowledged - final, a lower bound); a counter above acknowledged + in-doubt
  increments is a violation (it counted something never sent);
- no read (during the run or at the end) may return a value that was never written: a phantom.

Latency: `write_p50_ms` / `write_p99_ms` of acknowledged writes (the price of durable mode).

Availability: `unavailable_s` sums the gaps of at least `gap_s` in the stream of acknowledged
operations inside [fault start, end of run]; `recover_s` is from the fault's start to the end of
the last such gap (0 when nothing stalled).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field

OK, FAIL, INFO = "ok", "fail", "info"
WRITES = ("set", "incr", "rpush")


@dataclass
class Op:
    kind: str  # set | incr | rpush | get
    key: str
    value: str | None = None  # written value (set, rpush) or value read (get)
    outcome: str = OK
    t0: float = 0.0
    t1: float = 0.0
    error: str = ""


@dataclass
class Final:
    strings: dict[str, str | None] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    lists: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Verdict:
    acknowledged: int = 0
    lost: int = 0
    in_doubt: int = 0
    failed: int = 0
    reads: int = 0
    phantoms: int = 0
    counter_violations: int = 0
    duplicates: int = 0
    unavailable_s: float = 0.0
    recover_s: float = 0.0
    write_p50_ms: float = 0.0
    write_p99_ms: float = 0.0
    lost_examples: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        """No phantom, no counter above its bound, no duplicate element (loss is reported apart)."""
        return not (self.phantoms or self.counter_violations or self.duplicates)

    def to_json(self) -> dict:
        return {**asdict(self), "valid": self.valid}


def check(ops: list[Op], final: Final, fault_start: float | None = None, end: float | None = None,
          gap_s: float = 1.0, examples: int = 5) -> Verdict:
    v = Verdict()
    written: dict[str, set[str]] = defaultdict(set)  # key -> every value ever attempted
    incr_ok: Counter = Counter()
    incr_doubt: Counter = Counter()
    for op in ops:
        if op.kind in WRITES:
            if op.outcome == OK:
                v.acknowledged += 1
            elif op.outcome == INFO:
                v.in_doubt += 1
            else:
                v.failed += 1
            if op.kind == "incr" and op.outcome == OK:
                incr_ok[op.key] += 1
            elif op.kind == "incr" and op.outcome == INFO:
                incr_doubt[op.key] += 1
            elif op.kind != "incr" and op.value is not None:
                written[op.key].add(op.value)

    def lost(what: str) -> None:
        v.lost += 1
        if len(v.lost_examples) < examples:
            v.lost_examples.append(what)

    for op in ops:
        if op.outcome != OK:
            continue
        if op.kind == "set" and final.strings.get(op.key) != op.value:
            lost(f"set {op.key}={op.value}")
        elif op.kind == "rpush" and op.value not in set(final.lists.get(op.key, ())):
            lost(f"rpush {op.key} {op.value}")
        elif op.kind == "get":
            v.reads += 1
            if op.value is not None and op.value not in written[op.key]:
                v.phantoms += 1
                v.problems.append(f"read {op.key} -> {op.value!r}, never written")
    for key, value in final.strings.items():
        if value is not None and value not in written[key]:
            v.phantoms += 1
            v.problems.append(f"final {key} = {value!r}, never written")
    for key, elements in final.lists.items():
        counts = Counter(elements)
        for e, n in counts.items():
            if e not in written[key]:
                v.phantoms += 1
                v.problems.append(f"final list {key} holds {e!r}, never pushed")
            elif n > 1:
                v.duplicates += n - 1
                v.problems.append(f"final list {key} holds {e!r} {n} times")
    for key in set(incr_ok) | set(incr_doubt) | set(final.counters):
        got = final.counters.get(key, 0)
        if got < incr_ok[key]:
            for _ in range(incr_ok[key] - got):
                lost(f"incr {key}")
        if got > incr_ok[key] + incr_doubt[key]:
            v.counter_violations += 1
            v.problems.append(f"counter {key} = {got} > {incr_ok[key]} acknowledged + "
                              f"{incr_doubt[key]} in doubt")
    v.unavailable_s, v.recover_s = availability(ops, fault_start, end, gap_s)
    v.write_p50_ms, v.write_p99_ms = latency(ops)
    return v


def latency(ops: list[Op]) -> tuple[float, float]:
    """Median and 99th percentile of acknowledged writes' latency, in ms."""
    ms = sorted((op.t1 - op.t0) * 1000 for op in ops if op.kind in WRITES and op.outcome == OK)
    if not ms:
        return 0.0, 0.0
    return round(ms[len(ms) // 2], 2), round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 2)


def availability(ops: list[Op], start: float | None, end: float | None, gap_s: float) -> tuple[float, float]:
    """(seconds without any acknowledged operation, seconds from start to the last gap's end)."""
    if start is None:
        return 0.0, 0.0
    done = sorted(op.t1 for op in ops if op.outcome == OK and op.t1 >= start)
    stop = end if end is not None else (done[-1] if done else start)
    unavailable, last_end, prev = 0.0, start, start
    for t in [*done, stop]:
        if t - prev >= gap_s:
            unavailable += t - prev
            last_end = t
        prev = max(prev, t)
    return round(unavailable, 2), round(last_end - start, 2)
