"""Error texts that the node and the proxy must word exactly as Redis does."""

from __future__ import annotations


def unknown_command(argv: list[bytes]) -> str:
    """Redis 7's `unknown command` text (server.c processCommand), without the "ERR " prefix.

    The name is cut at 128 bytes; the arguments are quoted, each followed by a space, until the
    list reaches 128 bytes (the last one cut to fit), as clients and tests match it to the byte.
    """
    shown = b""
    for arg in argv[1:]:
        if len(shown) >= 128:
            break
        shown += b"'" + arg[:128 - len(shown)] + b"' "
    text = b"unknown command '" + argv[0][:128] + b"', with args beginning with: " + shown
    return text.decode(errors="replace")
