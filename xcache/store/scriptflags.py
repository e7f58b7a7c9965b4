"""A command's write / may-replicate flags as Redis 7.0 computes them for one invocation
(getCommandFlags): EVAL*, EVALSHA* and FCALL* take them from the script's declared flags
(evalGetCommandFlags, fcallGetCommandFlags, scriptFlagsToCmdFlags). CLIENT PAUSE WRITE pauses
what may replicate; a read-only script may run neither."""

from __future__ import annotations

from xcache.store import scripting
from xcache.store.commands import Command

_EVALS = {"eval", "eval_ro", "evalsha", "evalsha_ro"}
_FCALLS = {"fcall", "fcall_ro"}


def _script_flags(server, name: str, argv: list[bytes]) -> set | None:
    """The flags a script declared (None: no shebang / unknown script, the command's own)."""
    if len(argv) < 2:
        return None
    if name in _FCALLS:
        from xcache.store.functions import registry_of

        found = registry_of(server).by_function.get(argv[1].lower())
        return None if found is None else set(found[1].flags)
    scripts = scripting.scripts_of(server)
    if name.startswith("evalsha"):
        return scripts.flags.get(argv[1].decode(errors="replace").lower())
    flags = scripts.flags.get(scripting.sha1hex(argv[1]), False)
    if flags is not False:
        return flags
    try:
        return scripting._shebang_flags(argv[1])
    except Exception:  # noqa: BLE001 - a bad shebang is refused when the command runs
        return None


def command_flags(server, cmd: Command, argv: list[bytes] | None) -> tuple[bool, bool]:
    """(write, may_replicate) of running argv."""
    write = bool(cmd.write)
    may = scripting.may_replicate(cmd)
    if argv is not None and (cmd.name in _EVALS or cmd.name in _FCALLS):
        flags = _script_flags(server, cmd.name, argv)
        if flags is not None:  # scriptFlagsToCmdFlags: the declared flags replace the command's
            write = b"no-writes" not in flags
            may = write
    return write, may
