"""Redis 7.0's getkeys procedures (db.c) for the commands whose key specs cannot answer COMMAND
GETKEYS / GETKEYSANDFLAGS: a spec of unknown position (SORT's STORE), an incomplete one (MIGRATE's
KEYS) or one whose flags depend on the arguments (SET ... GET, BITFIELD GET-only). Redis falls
back to these procedures then (getKeysFromCommandWithSpecs); so does cmdtable.keys_with_flags.

Each takes argv (the command name first) and returns [(key, flags)].
"""

from __future__ import annotations

RO_ACCESS = ["RO", "access"]
RW_ACCESS_UPDATE = ["RW", "access", "update"]
OW_UPDATE = ["OW", "update"]


def _sort(argv: list[bytes]) -> list:
    """sortGetKeys: the sort key, and the key of the last STORE (options' arguments skipped)."""
    skip = {b"limit": 2, b"get": 1, b"by": 1}
    out = [(argv[1], RO_ACCESS)]
    store = None
    i = 2
    while i < len(argv):
        opt = argv[i].lower()
        if opt in skip:
            i += skip[opt]
        elif opt == b"store" and i + 1 < len(argv):
            store = argv[i + 1]
        i += 1
    return out + ([(store, OW_UPDATE)] if store is not None else [])


def _sort_ro(argv: list[bytes]) -> list:
    return [(argv[1], RO_ACCESS)]


def _migrate(argv: list[bytes]) -> list:
    """migrateGetKeys: the key argument, or the keys after KEYS when the key argument is ""."""
    first, num = 3, 1
    skip = {b"copy": 0, b"replace": 0, b"auth": 1, b"auth2": 2}
    i = 6
    while i < len(argv):
        opt = argv[i].lower()
        if opt == b"keys":
            if argv[3]:
                num = 0  # a syntax error MIGRATE itself reports
            else:
                first, num = i + 1, len(argv) - i - 1
            break
        i += skip.get(opt, 0) + 1
    return [(k, ["RW", "access", "delete"]) for k in argv[first:first + num]]


def _set(argv: list[bytes]) -> list:
    """setGetKeys: with GET the key is read too."""
    if any(a.lower() == b"get" for a in argv[3:]):
        return [(argv[1], RW_ACCESS_UPDATE)]
    return [(argv[1], OW_UPDATE)]


def _bitfield(argv: list[bytes]) -> list:
    """bitfieldGetKeys: read-only while only GET (and OVERFLOW) subcommands come first."""
    readonly = True
    i = 2
    while i < len(argv):
        remaining = len(argv) - i - 1
        sub = argv[i].lower()
        if sub == b"get" and remaining >= 2:
            i += 3
        elif sub in (b"set", b"incrby") and remaining >= 3:
            readonly = False
            break
        elif sub == b"overflow" and remaining >= 1:
            i += 2
        else:
            readonly = False  # a syntax error: assumed to write
            break
    return [(argv[1], RO_ACCESS if readonly else RW_ACCESS_UPDATE)]


PROCS = {b"sort": _sort, b"sort_ro": _sort_ro, b"migrate": _migrate, b"set": _set,
         b"bitfield": _bitfield}
