"""FUNCTION and SCRIPT as a node without scripting answers them: an empty library set.

Harnesses (Redis's test suite, client libraries' fixtures) run FUNCTION FLUSH / SCRIPT FLUSH
before each test; those succeed. Loading code is refused with a clear error. FUNCTION and SCRIPT
are registered here only if no scripting module registered them first (a real scripting module
imported later overrides them too), so this module can stay when one is added.
"""

from __future__ import annotations

from xcache.resp import OK, Error, Map
from xcache.resp import help as help_text
from xcache.resp.help import pick
from xcache.store.subcommands import help_reply, unknown_subcommand

# Redis 7.0's help[] entries of the subcommands served here; LOAD, DUMP, RESTORE (and SCRIPT
# DEBUG) are left out: this node refuses them
FUNCTION_HELP = pick(help_text.FUNCTION_HELP, ("DELETE", "LIST", "STATS", "KILL", "FLUSH"))
SCRIPT_HELP = pick(help_text.SCRIPT_HELP, ("EXISTS", "FLUSH", "KILL"))

NO_SCRIPTING = Error("ERR scripting is not supported by this xcache node")


def _flush_args(args: list[bytes]) -> None:
    if len(args) > 1 or (args and args[0].upper() not in (b"ASYNC", b"SYNC")):
        raise Error("ERR FUNCTION FLUSH only supports SYNC|ASYNC option")


def function(c, args):
    sub = args[0].upper()
    if sub == b"FLUSH":
        _flush_args(args[1:])
        return OK
    if sub == b"LIST":
        i = 1
        while i < len(args):
            opt = args[i].upper()
            if opt == b"WITHCODE":
                i += 1
            elif opt == b"LIBRARYNAME" and i + 1 < len(args):
                i += 2
            else:
                raise Error(f"ERR Unknown argument {args[i].decode(errors='replace')}")
        return []
    if sub == b"STATS" and len(args) == 1:
        engines = Map([b"LUA", Map([b"libraries_count", 0, b"functions_count", 0])])
        return Map([b"running_script", None, b"engines", engines])
    if sub == b"DELETE" and len(args) == 2:
        raise Error("ERR Library not found")
    if sub == b"KILL" and len(args) == 1:
        raise Error("NOTBUSY No scripts in execution right now.")
    if sub in (b"LOAD", b"RESTORE") and len(args) >= 2:
        raise NO_SCRIPTING
    if sub == b"DUMP" and len(args) == 1:
        raise NO_SCRIPTING
    if sub == b"HELP" and len(args) == 1:
        return help_reply("FUNCTION", FUNCTION_HELP)
    raise unknown_subcommand("FUNCTION", args[0])


def script(c, args):
    sub = args[0].upper()
    if sub == b"FLUSH":
        if len(args) > 2 or (len(args) == 2 and args[1].upper() not in (b"ASYNC", b"SYNC")):
            raise Error("ERR SCRIPT FLUSH only support SYNC|ASYNC option")
        return OK
    if sub == b"EXISTS" and len(args) >= 2:
        return [0] * (len(args) - 1)
    if sub == b"KILL" and len(args) == 1:
        raise Error("NOTBUSY No scripts in execution right now.")
    if sub == b"LOAD" and len(args) == 2:
        raise NO_SCRIPTING
    if sub == b"HELP" and len(args) == 1:
        return help_reply("SCRIPT", SCRIPT_HELP)
    raise unknown_subcommand("SCRIPT", args[0])


def register() -> None:
    """Register FUNCTION and SCRIPT unless a scripting module already did."""
    from xcache.store.commands import COMMANDS, command

    if b"function" not in COMMANDS:
        command("function", -2, "noscript", 0, 0, 0)(function)
    if b"script" not in COMMANDS:
        command("script", -2, "noscript", 0, 0, 0)(script)


register()
