"""The node's over-maxmemory state, Redis's denyoom table and the scripting rules.

A RocksDB node never evicts and never refuses a write for memory (its data lives on disk), but
a maxmemory below the 32 MiB RocksDB needs (rocksopts.over_maxmemory) cannot be met: while it
stands, the node answers as Redis does when it is over maxmemory with nothing it may evict
(whatever maxmemory-policy says). oom.py refuses commands before they run (processCommand);
the rules here are shared with scripting.py (script.c):

- the state is taken once before a script runs (pre_command_oom_state, `Running.oom`);
- a script that declared flags without allow-oom or no-writes is refused before it runs
  (scriptPrepareForRun);
- inside any script without allow-oom, a denyoom command is refused until the script has
  written (scriptVerifyOOM).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from xcache.resp import Error
from xcache.store import rocksopts

log = logging.getLogger("xcache.server")

OOM = Error("OOM command not allowed when used memory > 'maxmemory'.")
SCRIPT_OOM = Error("OOM allow-oom flag is not set on the script, can not run it when used "
                   "memory > 'maxmemory'")
FREE_SCRIPT = frozenset({b"allow-oom", b"no-writes"})  # no-writes implies allow-oom


def _denyoom_subcommands() -> frozenset[str]:
    """'function|load', 'xgroup|create' ...: Redis's denyoom subcommands (its COMMAND INFO)."""
    data = json.loads((Path(__file__).resolve().parent / "data" / "redis7_commands.json")
                      .read_text())
    out = set()
    for entry in data["info"]:
        for sub in entry[9] if isinstance(entry[9], list) else []:
            if {"$status": "denyoom"} in sub[2]["$set"]:
                out.add(sub[0])
    return frozenset(out)


DENYOOM_SUBCOMMANDS = _denyoom_subcommands()


def update(server) -> None:
    """Recompute the node's state after maxmemory was set (start, CONFIG SET)."""
    value = server.cfg.max_memory_bytes
    over = rocksopts.over_maxmemory(value)
    if over and not server.over_maxmemory:
        log.warning("event=over_maxmemory maxmemory=%d floor=%d message=below RocksDB's floor: "
                    "sized at the floor; denyoom commands answer -OOM while this value stands",
                    value, rocksopts.MIN_BUDGET_BYTES)
    server.over_maxmemory = over


def out_of_memory(server) -> bool:
    """performEvictions() == EVICT_FAIL: over maxmemory, and safe to check then (not while
    clients are paused, not on a replica that ignores maxmemory: isSafeToPerformEvictions)."""
    if not server.over_maxmemory or server.pause.mode:
        return False
    if (server.replication.is_replica
            and server.settings.values["replica-ignore-maxmemory"] == "yes"):
        return False
    from xcache.store.evict import evict

    evict(server)  # what the policy allows, and still over the limit after it
    return True


def denyoom_command(cmd, argv: list[bytes]) -> bool:
    """The command's (or its subcommand's) own CMD_DENYOOM."""
    if "denyoom" in cmd.flags:
        return True
    return (cmd.subs is not None and len(argv) > 1
            and f"{cmd.name}|{argv[1].lower().decode(errors='replace')}" in DENYOOM_SUBCOMMANDS)


def script_refused(flags) -> bool:
    """scriptPrepareForRun, the node being out of memory: a script that declared flags without
    allow-oom / no-writes does not run (flags None: no shebang, checked per command)."""
    return flags is not None and not FREE_SCRIPT.intersection(flags)


def script_command_refused(run, cmd, argv: list[bytes]) -> bool:
    """scriptVerifyOOM, the script having started out of memory and written nothing yet: a
    denyoom command is refused unless the script declared allow-oom."""
    return not run.allow_oom and denyoom_command(cmd, argv)
