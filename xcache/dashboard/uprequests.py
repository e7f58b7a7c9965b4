"""Requests the dashboard relays to `xcache up` (grow or shrink the cluster with supervised nodes).

The control channel is `up`'s own report: every second `up` PUTs its children's states to
/api/supervisor (bearer token, like every API call) and the reply carries the requests waiting
for it; the next report carries their results. Nothing listens on a new port and no file is
shared: `up` can only be asked what the dashboard's token allows anyway.

Pure and in memory (a request is short-lived: the CLI waits for its result); plain unit tests.
"""

from __future__ import annotations

import itertools
import time

OPS = ("add_group", "remove_group", "restart_child")
UP_STALE_S = 10.0  # an `up` that has not reported for this long is not there


class UpRequests:
    def __init__(self):
        self.items: dict[int, dict] = {}
        self._ids = itertools.count(1)

    def add(self, op: str, params: dict, reported_at: float | None, now: float | None = None) -> dict:
        now = time.time() if now is None else now
        if op not in OPS:
            raise ValueError(f"unknown op {op!r}: one of {', '.join(OPS)}")
        if reported_at is None or now - reported_at > UP_STALE_S:
            raise ValueError("no `xcache up` reports to this dashboard: supervised nodes can only be "
                             "added to a cluster started with `xcache up`")
        rid = next(self._ids)
        self.items[rid] = {"id": rid, "op": op, "params": params, "status": "queued", "at": now}
        for old in [k for k, v in self.items.items() if now - v["at"] > 3600]:
            del self.items[old]
        return self.items[rid]

    def take(self) -> list[dict]:
        """The queued requests, now handed to `up`."""
        out = []
        for r in self.items.values():
            if r["status"] == "queued":
                r["status"] = "running"
                out.append({k: r[k] for k in ("id", "op", "params")})
        return out

    def finish(self, results: dict) -> None:
        """results: {id: {"ok": bool, ...}} from `up`'s report."""
        for rid, res in (results or {}).items():
            r = self.items.get(int(rid))
            if r is not None and r["status"] == "running":
                r["status"] = "done" if res.get("ok") else "failed"
                r["result"] = res

    def get(self, rid: int) -> dict | None:
        return self.items.get(rid)
