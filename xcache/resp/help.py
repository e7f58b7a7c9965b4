"""`<CMD> HELP` replies as Redis 7.0 builds them (addReplyHelp, src/networking.c).

Every line is a status reply: the header naming the command, the command's help[] lines, then
the HELP entry. Redis 7.0 words that last line "Prints this help." (7.2 changed it to "Print").
Sans-IO and shared: the storage node and the proxy both answer HELP with it.
"""

from __future__ import annotations

from collections.abc import Iterable

from xcache.resp.encode import SimpleString

FOOTER = ("HELP", "    Prints this help.")


def help_reply(command: str, lines: Iterable[str]) -> list[SimpleString]:
    """The reply of `<command> HELP`: lines are the command's entries, one per status line,
    without the header and the HELP entry (added here)."""
    head = f"{command.upper()} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    return [SimpleString(line.encode()) for line in (head, *lines, *FOOTER)]
