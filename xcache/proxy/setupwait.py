"""How long a socket admitted now would wait for its first reply (sans-IO; time is passed in).

The admission gate drops a queued socket whose client will have given up before it is answered.
A fixed margin (admit_margin_ms) guesses that wait; under a reconnect storm the real wait is the
work already admitted ahead of it: sessions admitted and not yet answered, divided by the rate at
which this worker answers new sessions when it is busy. The gate adds that to the margin, so it
admits greedily while the worker keeps up and stops handing sessions to clients that will not be
there for the reply when it falls behind (the dead sessions of `xcache drill incident`).

Counts live in buckets of one tick: a session admitted and never answered (an idle client, a
pool's spare connection) leaves the count when its bucket is older than the window.
"""

from __future__ import annotations

from collections import deque

# The measured rate follows the latest busy ticks quickly but not one noisy tick alone.
_RATE_WEIGHT = 0.3


class SetupWait:
    def __init__(self, window_s: float, tick_s: float):
        self.buckets: deque[int] = deque([0] * max(1, round(window_s / tick_s)))
        self.first = 0  # bucket number of buckets[0]
        self.pending = 0  # admitted, not yet answered, within the window
        self.rate = 0.0  # new sessions answered per second while busy; 0 = not measured yet
        self._answered = 0  # in the current tick
        self._busy = False  # pending > 0 when the current tick began

    def admitted(self) -> int:
        """A session was admitted: its bucket number, to pass back when it is answered."""
        self.buckets[-1] += 1
        self.pending += 1
        return self.first + len(self.buckets) - 1

    def answered(self, bucket: int) -> None:
        self._answered += 1
        self.gone(bucket)

    def gone(self, bucket: int) -> None:
        """The session ended or was answered; nothing if its bucket already left the window."""
        i = bucket - self.first
        if i >= 0:
            self.buckets[i] -= 1
            self.pending -= 1

    def tick(self, elapsed_s: float) -> None:
        # Only a tick with work waiting all along measures what the worker can do (capacity);
        # an idle one only measures the demand.
        if self._busy and self.pending > 0 and self._answered and elapsed_s > 0:
            r = self._answered / elapsed_s
            self.rate = r if not self.rate else self.rate + _RATE_WEIGHT * (r - self.rate)
        self._answered = 0
        self.pending -= self.buckets.popleft()
        self.buckets.append(0)
        self.first += 1
        self._busy = self.pending > 0

    def ms_per_session(self) -> float:
        """Expected wait added by each session already admitted and unanswered (0 = unknown)."""
        return 1000.0 / self.rate if self.rate else 0.0
