"""One line per event, key=value, to stderr."""

from __future__ import annotations

import os

from xcache.observability.logs import log_event

_worker = os.environ.get("XCACHE_PROXY_WORKER_INDEX", "")


def log(event: str, level: str = "info", **fields) -> None:
    if _worker:
        fields = {"worker": _worker, **fields}
    log_event("proxy", event, level, **fields)
