"""One line per event, key=value, to stderr."""

from __future__ import annotations

import os
import sys
import time

_worker = os.environ.get("XCACHE_PROXY_WORKER_INDEX", "")


def log(event: str, level: str = "info", **fields) -> None:
    parts = [time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()), f"level={level}",
             "component=proxy", f"event={event}"]
    if _worker:
        parts.append(f"worker={_worker}")
    for k, v in fields.items():
        v = str(v)
        if not v or " " in v or "=" in v:
            v = '"' + v.replace('"', "'") + '"'
        parts.append(f"{k}={v}")
    sys.stderr.write(" ".join(parts) + "\n")
    sys.stderr.flush()
