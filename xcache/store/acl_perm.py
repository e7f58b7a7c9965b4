"""Whether a user may run a command, as Redis 7.0's ACLCheckAllUserCommandPerm decides: the
command, then each key with what its key spec needs (read for access; write for insert, update,
delete), then the channels; in the root permissions or any selector. Sans-IO over xcache/acl.py;
xcache/store/acl.py logs and answers the denials."""

from __future__ import annotations

from xcache.acl import ACL, User
from xcache.resp import Error
from xcache.store.commands import Command

CHANNEL_COMMANDS = {"subscribe": False, "psubscribe": True, "publish": False, "ssubscribe": False,
                    "spublish": False}
# Their key specs name shard channels (Redis flags them not_key): checked as channels, not keys.
NOT_KEYS = {"ssubscribe", "sunsubscribe", "spublish"}


_RANK = {"command": 1, "key": 2, "channel": 4}  # ACL_DENIED_CMD, _KEY, _CHANNEL


def _selector_verdict(acl: ACL, s: User, cmd: Command, argv: list[bytes], needs):
    """ACLSelectorCheckCmd: None, or (reason, position, object) of the first denial."""
    denied = acl.command_allowed(s, cmd.name, argv[1:])
    if denied is not None:
        return ("command", 0, denied)
    if not s.allkeys and cmd.name not in NOT_KEYS:
        for i, (key, read, write) in enumerate(needs()):
            if not acl.key_permitted(s, key, read, write):
                return ("key", i + 1, key)
    if not s.allchannels and cmd.name in CHANNEL_COMMANDS:
        chans = argv[1:2] if cmd.name in ("publish", "spublish") else argv[1:]
        for i, ch in enumerate(chans):
            if not acl.channel_allowed(s, ch, CHANNEL_COMMANDS[cmd.name]):
                return ("channel", i + 1, ch)
    return None


def verdict(acl: ACL, u: User, cmd: Command, argv: list[bytes]):
    """ACLCheckAllUserCommandPerm: None if the root selector or any other allows the command,
    else the most relevant denial (a channel over a key over the command; then the later
    argument)."""
    cache: list = []

    def needs():
        if not cache:
            cache.append(_key_needs(cmd, argv))
        return cache[0]

    best = None
    for s in (u, *u.selectors):
        v = _selector_verdict(acl, s, cmd, argv, needs)
        if v is None:
            return None
        if best is None or (_RANK[v[0]], v[1]) > (_RANK[best[0]], best[1]):
            best = v
    return best


_WRITES = {"insert", "delete", "update"}
# Subcommands with a key at argv[2]: (needs read, needs write) from their key spec
_KEYED_SUBCOMMANDS = {
    "memory": {b"usage": (False, False)},
    "object": {b"encoding": (False, False), b"freq": (False, False),
               b"idletime": (False, False), b"refcount": (False, False)},
    "xinfo": {b"stream": (True, False), b"groups": (True, False), b"consumers": (True, False)},
}


def _key_needs(cmd: Command, argv: list[bytes]) -> list[tuple[bytes, bool, bool]]:
    """(key, needs read, needs write) per Redis 7's key specs (access: read; insert, delete,
    update: write); read for read-only commands and write for the others where the specs do
    not place the keys."""
    from xcache.store.cmdtable import keys_with_flags

    try:
        specs = keys_with_flags(argv, procs=False)
    except Error:
        specs = None
    if specs is None or (not specs and cmd.keys(argv)):
        return [(k, not cmd.write, cmd.write) for k in cmd.keys(argv)]
    if cmd.name == "migrate" and len(argv) > 3 and argv[3] == b"":  # the KEYS form (migrateGetKeys)
        specs = specs[1:]
    if cmd.name in _KEYED_SUBCOMMANDS and len(argv) > 2:
        spec = _KEYED_SUBCOMMANDS[cmd.name].get(argv[1].lower())
        if spec is not None:  # a container's key specs are its subcommands'
            return [(argv[2], *spec)]
    if cmd.name in ("set", "bitfield") and len(argv) > 1:  # VARIABLE_FLAGS: their getkeys_proc
        return [(argv[1], cmd.name == "bitfield" or any(a.lower() == b"get" for a in argv[3:]),
                 cmd.name == "set" or not _bitfield_reads_only(argv))]
    out = [(k, "access" in f, bool(_WRITES.intersection(f))) for k, f in specs]
    if cmd.name == "sort":  # SORT ... STORE dst: its spec is incomplete (no key position)
        from xcache.store.notify_events import store_keys  # (a command-level table)

        out += [(k, False, True) for k in store_keys(b"sort", argv)]
    return out


def _bitfield_reads_only(argv: list[bytes]) -> bool:
    """bitfieldGetKeys: only GET (and OVERFLOW) operations."""
    i = 2
    while i < len(argv):
        left, op = len(argv) - i - 1, argv[i].lower()
        if op == b"get" and left >= 2:
            i += 3
        elif op == b"overflow" and left >= 1:
            i += 2
        else:
            return False
    return True


def full_key_access(acl: ACL, u: User, cmd: Command, argv: list[bytes]) -> bool:
    """ACLUserCheckCmdWithUnrestrictedKeyAccess: a selector that allows the command may also
    read every key (allkeys, or a `*` pattern with read permission): SORT BY/GET need it."""
    if u.unrestricted:
        return True
    cache: list = []

    def needs():
        if not cache:
            cache.append(_key_needs(cmd, argv))
        return cache[0]

    return any(_selector_verdict(acl, s, cmd, argv, needs) is None
               and (s.allkeys or any("R" in p and pat == "*" for p, pat in s.keys))
               for s in (u, *u.selectors))


def permitted(acl: ACL, u: User, cmd: Command, argv: list[bytes]) -> bool:
    """ACLCheckAllUserCommandPerm without a log entry (redis.acl_check_cmd)."""
    return u.unrestricted or verdict(acl, u, cmd, argv) is None
