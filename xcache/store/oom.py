"""processCommand's maxmemory step: what a node over maxmemory refuses before it runs.

While maxmemory is below RocksDB's floor (maxmemory.py), as Redis 7.0's processCommand
(server.c) with nothing it may evict: a `denyoom` command (with a script's declared flags,
getCommandFlags), an EXEC with a queued denyoom command, and any command queued in MULTI but
EXEC / DISCARD / QUIT / RESET is refused with -OOM (the transaction is flagged, so its EXEC
answers EXECABORT). The master link is never refused (its stream is applied as it comes), nor
is anyone while a busy script runs or when maxmemory.out_of_memory says it is not safe to check.

Server.execute tests one attribute (`over_maxmemory`) per command; nothing here runs otherwise.
"""

from __future__ import annotations

from xcache.resp import Error
from xcache.store import cmdstats
from xcache.store.maxmemory import FREE_SCRIPT, OOM, denyoom_command, out_of_memory
from xcache.store.scriptflags import _script_flags as script_flags

EXECABORT_OOM = f"EXECABORT Transaction discarded because of: {OOM.message}"
# Commands never refused for memory inside a transaction
_MULTI_PASS = frozenset({b"exec", b"discard", b"quit", b"reset"})
_SCRIPTS = frozenset({"eval", "eval_ro", "evalsha", "evalsha_ro", "fcall", "fcall_ro"})


def denyoom(server, cmd, argv: list[bytes]) -> bool:
    """getCommandFlags' CMD_DENYOOM of running argv: a script's declared flags replace the
    command's (scriptFlagsToCmdFlags); EVAL and FCALL themselves are not denyoom."""
    if cmd.name in _SCRIPTS:
        flags = script_flags(server, cmd.name, argv)
        return flags is not None and not flags & FREE_SCRIPT
    return denyoom_command(cmd, argv)


def refuse(server, c, cmd, name: bytes, argv: list[bytes]) -> Error | None:
    """The -OOM (or EXECABORT) for client c running argv, or None (called while over_maxmemory)."""
    if c.kind == "master" or server.running_script is not None or not out_of_memory(server):
        return None
    if c.multi is not None:
        if name == b"exec":
            if not any(denyoom(server, q[0], q[1]) for q in c.multi):
                return None
            from xcache.store import transactions

            transactions.reset_multi(c)
            cmd.rejected_calls += 1
            return Error(EXECABORT_OOM)
        if name in _MULTI_PASS or "nomulti" in cmd.flags:  # nomulti: its own error comes first
            return None
        c.multi_error = True  # flagTransaction: its EXEC answers EXECABORT
    elif not denyoom(server, cmd, argv):
        return None
    cmdstats.target(cmd, argv).rejected_calls += 1
    return OOM
