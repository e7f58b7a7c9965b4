"""FUNCTION and SCRIPT as a node without scripting answers them: an empty library set.

Harnesses (Redis's test suite, client libraries' fixtures) run FUNCTION FLUSH / SCRIPT FLUSH
before each test; those succeed. Loading code is refused with a clear error. FUNCTION and SCRIPT
are registered here only if no scripting module registered them first (a real scripting module
imported later overrides them too), so this module can stay when one is added.
"""

from __future__ import annotations

from xcache.resp import OK, Error, Map
from xcache.store.subcommands import help_reply, unknown_subcommand

# Redis 7.0's help[] lines (src/functions.c, src/eval.c) of the subcommands served here; LOAD,
# DUMP, RESTORE (and SCRIPT DEBUG) are left out: this node refuses them
FUNCTION_HELP = (
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries:",
    "    * Library name",
    "    * The engine used to run the Library",
    "    * Library description",
    "    * Functions list",
    "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
    "STATS",
    "    Return information about the current function running:",
    "    * Function name",
    "    * Command used to run the function",
    "    * Duration in MS that the function is running",
    "    If no function is running, return nil",
    "    In addition, returns a list of available engines.",
    "KILL",
    "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.",
    "    * SYNC: Synchronously flush the libraries.",
)
SCRIPT_HELP = (
    "EXISTS <sha1> [<sha1> ...]",
    "    Return information about the existence of the scripts in the script cache.",
    "FLUSH [ASYNC|SYNC]",
    "    Flush the Lua scripts cache. Very dangerous on replicas.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the scripts cache.",
    "    * SYNC: Synchronously flush the scripts cache.",
    "KILL",
    "    Kill the currently executing Lua script.",
)

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
