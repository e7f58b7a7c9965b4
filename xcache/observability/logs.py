"""One line per event, key=value, to stderr: the log format every component shares."""

from __future__ import annotations

import sys
import time


def format_event(component: str, event: str, level: str = "info", **fields) -> str:
    parts = [time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()), f"level={level}",
             f"component={component}", f"event={event}"]
    for k, v in fields.items():
        v = str(v)
        if not v or " " in v or "=" in v:
            v = '"' + v.replace('"', "'") + '"'
        parts.append(f"{k}={v}")
    return " ".join(parts)


def log_event(component: str, event: str, level: str = "info", **fields) -> None:
    sys.stderr.write(format_event(component, event, level, **fields) + "\n")
    sys.stderr.flush()
