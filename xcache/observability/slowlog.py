"""The arguments a SLOWLOG entry keeps, as Redis's slowlogCreateEntry (slowlog.c) trims them;
shared by the node's slow log and the proxy's log of the commands it answers itself."""

from __future__ import annotations

MAX_ARGS = 32
MAX_ARG_BYTES = 128


def shown_args(argv: list[bytes]) -> list[bytes]:
    """At most 32 arguments (the 32nd says how many more there were), each cut at 128 bytes."""
    shown = []
    for i, arg in enumerate(argv[:MAX_ARGS]):
        if i == MAX_ARGS - 1 and len(argv) > MAX_ARGS:
            shown.append(b"... (%d more arguments)" % (len(argv) - MAX_ARGS + 1))
            break
        if len(arg) > MAX_ARG_BYTES:
            arg = arg[:MAX_ARG_BYTES] + b"... (%d more bytes)" % (len(arg) - MAX_ARG_BYTES)
        shown.append(arg)
    return shown
