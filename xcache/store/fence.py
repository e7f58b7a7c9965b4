"""The fence: a storage node that was a master comes back read-only until its role is confirmed.

A master that dies is replaced (the sentinels promote a replica, the dashboard publishes it). When
the old master restarts - supervised by `xcache up` or by hand with plain `xcache server` - it must
not accept a single write as a master: a client connected to it directly would write to the side
nobody reads any more. So every role change is written to `role.json` in the node's data dir
(atomically: temp file, fsync, rename, fsync of the directory), and a node whose file says it was
a master that had replicas, started without --replicaof, starts *fenced*: every write is refused with -READONLY (the
proxies hold and replay such writes, as during a switch) until

- REPLICAOF host port arrives (the dashboard or a sentinel repoints it at the group's current
  master: it rejoins as a replica), or
- REPLICAOF NO ONE arrives (the dashboard confirms it is still the group's master).

A fresh node (no role.json) or one started with --replicaof starts as before.

Pure: decide() (the starting role from the stored state and the config) and next_state() (the
state written on a role change). Shell: load() and save().
"""

from __future__ import annotations

import json
import logging
import os

log = logging.getLogger("xcache.server")

STATE_FILE = "role.json"


def decide(stored: dict | None, replicaof: str) -> bool:
    """Whether the node starts fenced: it was a replicated master (it had a replica, or was one,
    or was promoted: a group member another node may have replaced) and is not told to follow
    anyone. A standalone node that never replicated restarts writable, as before."""
    return (bool(stored) and stored.get("role") == "master" and bool(stored.get("replicated"))
            and not replicaof.strip())


def next_state(stored: dict | None, role: str, master: str, replid: str, offset: int,
               replicated: bool = False) -> dict:
    """The state after a role change; epoch counts the node's role changes (monotonic, kept
    across restarts), so a reader can tell which of two states is the newer. replicated sticks:
    once a node took part in replication it is a group member for good."""
    stored = stored or {}
    epoch = int(stored.get("epoch", 0)) + 1
    replicated = replicated or role == "replica" or bool(stored.get("replicated"))
    return {"role": role, "master": master, "epoch": epoch, "replid": replid, "offset": offset,
            "replicated": replicated}


def load(data_dir: str) -> dict | None:
    path = os.path.join(data_dir, STATE_FILE)
    try:
        with open(path) as fh:
            state = json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        # unreadable: assume the worst (it may have been a master), so the fence holds
        log.warning("event=role_state_unreadable path=%s error=%s", path, exc)
        return {"role": "master", "epoch": 0}
    return state if isinstance(state, dict) else {"role": "master", "epoch": 0}


def save(data_dir: str, state: dict) -> None:
    os.makedirs(data_dir, exist_ok=True)
    path = os.path.join(data_dir, STATE_FILE)
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, json.dumps(state).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(data_dir, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
