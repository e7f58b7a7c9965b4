"""The arguments a SLOWLOG entry keeps, as Redis's slowlogCreateEntry (slowlog.c) trims them
and its commands redact them; shared by the node's slow log and the proxy's log of the commands
it answers itself."""

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


REDACTED = b"(redacted)"
# Redis 7.0's SENSITIVE_CONFIG parameters (config.c): CONFIG SET shows their values redacted
SENSITIVE_CONFIGS = frozenset({b"masterauth", b"masteruser", b"requirepass", b"tls-key-file-pass",
                               b"tls-client-key-file-pass"})


def redacted(argv: list[bytes]) -> list[bytes]:
    """argv with the secrets Redis's commands hide with redactClientCommandArgument: AUTH's
    password (and user), HELLO's AUTH pair, MIGRATE's AUTH/AUTH2, everything ACL SETUSER is
    given, and the values of sensitive CONFIG SET parameters. (Redis leaves them in clear when
    the command fails its syntax check first; they are hidden here in any case.)"""
    name = argv[0].lower()
    n = len(argv)
    out = list(argv)
    if name == b"auth":
        out[1:3] = [REDACTED] * len(out[1:3])
    elif name == b"hello":
        j = 2
        while j < n:
            opt, more = argv[j].upper(), n - 1 - j
            if opt == b"AUTH" and more >= 2:
                out[j + 1] = out[j + 2] = REDACTED
                j += 3
            elif opt == b"SETNAME" and more >= 1:
                j += 2
            else:
                break
    elif name == b"migrate":
        j = 6
        while j < n and argv[j].upper() != b"KEYS":
            secrets = {b"AUTH": 1, b"AUTH2": 2}.get(argv[j].upper(), 0)
            out[j + 1:j + 1 + secrets] = [REDACTED] * len(out[j + 1:j + 1 + secrets])
            j += 1 + secrets
    elif name == b"acl" and n >= 3 and argv[1].lower() == b"setuser":
        out[2:] = [REDACTED] * (n - 2)
    elif name == b"config" and n >= 2 and argv[1].lower() == b"set":
        for i in range(2, n - 1, 2):
            if argv[i].lower() in SENSITIVE_CONFIGS:
                out[i + 1] = REDACTED
    return out
