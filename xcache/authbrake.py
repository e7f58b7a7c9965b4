"""A brake on password guessing, shared by the storage node, the proxy and the sentinel (sans-IO).

Each source address has a bucket of `burst` failed AUTHs that refills at `rate_per_s`. While the
bucket of an address is empty, its AUTH attempts are refused at once with BRAKE_ERROR, without
the password being checked, so at most about `rate_per_s` guesses per second get through per
address, however fast or pipelined the attempts come. Successful AUTHs cost nothing.

Every failure is counted (`failures`, `refused`); log lines are rate-limited: the first failure
of an address is logged, then at most one summary line per address per `log_every_s`.
The table of addresses is bounded (`max_addresses`, oldest entries go first).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

BRAKE_ERROR = "ERR too many failed AUTH attempts from your address, retry later"


class AuthBrake:
    def __init__(self, log: logging.Logger | Callable[[dict], None], rate_per_s: float = 10.0, burst: int = 10,
                 log_every_s: float = 10.0, max_addresses: int = 10_000, clock=time.monotonic):
        self.log = log
        self.rate = rate_per_s
        self.burst = burst
        self.log_every_s = log_every_s
        self.max_addresses = max_addresses
        self.clock = clock
        self.failures = 0  # wrong passwords (and unknown or disabled users)
        self.refused = 0  # AUTHs refused unchecked by the brake
        # address -> [tokens, last refill, failures not yet logged, last log time]
        self._table: dict[str, list] = {}

    def _entry(self, host: str, now: float) -> list:
        e = self._table.get(host)
        if e is None:
            if len(self._table) >= self.max_addresses:
                self._table.pop(next(iter(self._table)))
            e = self._table[host] = [float(self.burst), now, 0, 0.0]
        else:
            e[0] = min(float(self.burst), e[0] + (now - e[1]) * self.rate)
            e[1] = now
        return e

    def allowed(self, host: str) -> bool:
        """May an AUTH from host (an address, no port) be checked now? False: answer BRAKE_ERROR
        (counted, logged)."""
        e = self._table.get(host)
        if e is None:
            return True
        now = self.clock()
        e = self._entry(host, now)
        if e[0] >= 1.0:
            return True
        self.refused += 1
        e[2] += 1
        self._maybe_log(host, e, now, braked=True)
        return False

    def failed(self, host: str, user: str = "default") -> None:
        """An AUTH from host failed: take a token, count it and log (rate-limited)."""
        now = self.clock()
        e = self._entry(host, now)
        e[0] = max(0.0, e[0] - 1.0)
        self.failures += 1
        e[2] += 1
        self._maybe_log(host, e, now, braked=False, user=user)

    def _maybe_log(self, host: str, e: list, now: float, braked: bool, user: str = "") -> None:
        if e[3] and now - e[3] < self.log_every_s:
            return
        first = not e[3]
        e[3] = now
        count, e[2] = e[2], 0
        if first and not braked:
            fields = {"addr": host, "user": user or "default"}
        else:
            fields = {"addr": host, "attempts": count, "braked": int(e[0] < 1.0),
                      "window_s": self.log_every_s}
        if isinstance(self.log, logging.Logger):
            self.log.warning("event=auth_failed %s", " ".join(f"{k}={v}" for k, v in fields.items()))
        else:
            self.log(fields)

    def forget_idle(self) -> None:
        """Drop addresses whose bucket is full again (optional housekeeping)."""
        now = self.clock()
        for host in [h for h, e in self._table.items()
                     if e[0] + (now - e[1]) * self.rate >= self.burst and now - e[3] >= self.log_every_s]:
            del self._table[host]
