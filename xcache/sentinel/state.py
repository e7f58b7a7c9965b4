"""What a sentinel must remember across restarts (Redis Sentinel rewrites its config file for the
same reason): its run id, the current epoch, its votes, and per master the address after the last
switch, the settings changed by SENTINEL MONITOR/SET, the config epoch, and the known replicas and
sentinels. Without it a sentinel restarted after a failover would watch the old, dead master.

Written atomically (temp file + fsync + rename) as JSON; plain functions, no sockets.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

SETTINGS = ("quorum", "down_after_ms", "stalled_down_after_ms", "failover_timeout_ms",
            "parallel_syncs", "auth_pass")


def snapshot(node) -> dict[str, Any]:
    """The persistent part of a SentinelNode as a JSON-able dict."""
    masters = {}
    for m in node.masters.values():
        masters[m.name] = {
            "host": m.host, "port": m.port, "config_epoch": m.config_epoch,
            **{k: getattr(m, k) for k in SETTINGS},
            "replicas": sorted(m.replicas),
            "sentinels": [[s.runid, s.host, s.port] for s in m.sentinels.values()],
        }
    votes = {name: list(v) for name, v in node.epochs.votes.items()}
    return {"run_id": node.run_id, "current_epoch": node.epochs.current, "votes": votes,
            "masters": masters}


def save(path: str | Path, doc: dict[str, Any]) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as fh:
        json.dump(doc, fh, indent=1, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load(path: str | Path) -> dict[str, Any] | None:
    """The saved state, or None when there is no state file yet."""
    try:
        with open(path) as fh:
            return json.load(fh)
    except FileNotFoundError:
        return None
