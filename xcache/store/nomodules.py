"""MODULE as a Redis 7 with its default `enable-module-command no` answers it: no module is
loaded (MODULE LIST is empty) and loading one is not allowed. Tools and client libraries call
MODULE LIST to discover features; the proxy forwards it to a node.
"""

from __future__ import annotations

from xcache.resp import Error
from xcache.store.commands import command
from xcache.store.subcommands import help_reply, subcommands

NOT_ALLOWED = Error(
    'ERR MODULE command not allowed. If the enable-module-command option is set to "local", you '
    "can run it from a local connection, otherwise you need to set this option in the "
    "configuration file, and then restart the server.")

# Redis 7.0's MODULE help[] (src/module.c) without LOAD, LOADEX and UNLOAD: refused here (with
# Redis's own error for them when module loading is off)
MODULE_HELP = (
    "LIST",
    "    Return a list of loaded modules.",
)


@command("module", -2, "noscript", 0, 0, 0)
@subcommands("module")
def module(c, args):
    sub = args[0].upper()
    if sub == b"LIST":
        return []
    if sub == b"HELP":
        return help_reply("MODULE", MODULE_HELP)
    raise NOT_ALLOWED  # LOAD, LOADEX, UNLOAD (the lookup already refused anything else)
