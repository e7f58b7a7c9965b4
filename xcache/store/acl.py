"""ACL on the storage node: the ACL command, the per-command permission check and the ACL LOG,
over the sans-IO users of xcache/acl.py. `requirepass` is the default user's password, as in
Redis; AUTH/HELLO AUTH log in through authenticate() (xcache/store/auth.py)."""

from __future__ import annotations

import time

from xcache.acl import ACL, ACLError, CommandTable, User, genpass
from xcache.aclcategories import CATEGORIES
from xcache.resp import OK, Error, Map, Set
from xcache.resp.help import ACL_HELP, pick
from xcache.store.commands import COMMANDS, Command, command, parse_int
from xcache.store.glob import glob_match
from xcache.store.subcommands import help_reply

CHANNEL_COMMANDS = {"subscribe": False, "psubscribe": True, "publish": False, "ssubscribe": False,
                    "spublish": False}
# Their key specs name shard channels (Redis flags them not_key): checked as channels, not keys.
NOT_KEYS = {"ssubscribe", "sunsubscribe", "spublish"}


def _extra_commands() -> dict[str, tuple[str, ...]]:
    """Categories of node commands Redis does not have (from their flags)."""
    out = {}
    for cmd in COMMANDS.values():
        f = cmd.flags
        cats = ["write" if cmd.write else "read" if "readonly" in f else "",
                "admin" if "admin" in f else "", "dangerous" if "admin" in f else "",
                "fast" if "fast" in f else "slow", "pubsub" if "pubsub" in f else ""]
        out[cmd.name] = tuple(c for c in cats if c)
    return out


def acl_of(server) -> ACL:
    acl = getattr(server, "acl", None)
    if acl is None:
        acl = server.acl = ACL(CommandTable(_extra_commands()), glob_match)
    acl.sync_requirepass(server.cfg.requirepass)
    acl.log_max_len = server.settings.int("acllog-max-len")
    return acl


def default_user(server) -> User:
    return acl_of(server).default_user()


def client_info(c) -> str:
    from xcache.store.clientinfo import client_line

    return client_line(c, time.monotonic())


def check(c, cmd: Command, argv: list[bytes]) -> Error | None:
    """The NOPERM error for c running argv, or None (logged in the ACL LOG when denied)."""
    if c.kind == "master" or "noauth" in cmd.flags:
        return None  # the replication stream; AUTH, HELLO, QUIT, RESET are open to every user
    acl = acl_of(c.server)
    u = c.user
    if c.kind == "script":  # logged as the caller's (Redis's current_client), context lua
        context, c = "lua", getattr(c, "woff_owner", None) or c
    else:
        context = "multi" if c.multi is not None else "toplevel"
    v = verdict(acl, u, cmd, argv)
    if v is None:
        return None
    kind, obj = v[0], v[2]
    text = obj if isinstance(obj, str) else obj.decode(errors="replace")
    acl.log_denied(kind, context, text, u.name, client_info(c))
    if kind == "command":
        return Error(f"NOPERM this user has no permissions to run the '{obj}' command")
    if kind == "key":
        return Error("NOPERM this user has no permissions to access one of the keys used as arguments")
    return Error("NOPERM this user has no permissions to access one of the channels used as arguments")


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
        specs = keys_with_flags(argv)
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
        from xcache.store.notify_events import store_keys

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


def full_key_access(c, cmd: Command, argv: list[bytes]) -> bool:
    """ACLUserCheckCmdWithUnrestrictedKeyAccess: a selector that allows the command may also
    read every key (allkeys, or a `*` pattern with read permission): SORT BY/GET need it."""
    u = c.user
    if u.unrestricted:
        return True
    acl = acl_of(c.server)
    cache: list = []

    def needs():
        if not cache:
            cache.append(_key_needs(cmd, argv))
        return cache[0]

    return any(_selector_verdict(acl, s, cmd, argv, needs) is None
               and (s.allkeys or any("R" in p and pat == "*" for p, pat in s.keys))
               for s in (u, *u.selectors))


def permitted(u: User, cmd: Command, argv: list[bytes], server) -> bool:
    """ACLCheckAllUserCommandPerm without a log entry (redis.acl_check_cmd)."""
    return u.unrestricted or verdict(acl_of(server), u, cmd, argv) is None


# getAclErrorMessage, by the NOPERM error check() answers
_SCRIPT_DENIALS = (
    ("NOPERM this user has no permissions to run", "can't run this command or subcommand"),
    ("NOPERM this user has no permissions to access one of the keys",
     "can't access at least one of the keys mentioned in the command arguments"),
    ("NOPERM this user has no permissions to access one of the channels",
     "can't publish to the channel mentioned in the command"),
)


def script_acl_check(c, cmd: Command, argv: list[bytes]) -> Error | None:
    """check() for a command a script runs (c: the script's client, with its caller's user):
    logged with context lua, answered as Redis's scriptVerifyACL words it."""
    denied = check(c, cmd, argv)
    if denied is None:
        return None
    why = next((w for prefix, w in _SCRIPT_DENIALS if str(denied).startswith(prefix)),
               "lacking the permissions for the command")
    return Error(f"ERR The user executing the script {why}")


def _wrong(sub: str) -> Error:
    return Error(f"ERR wrong number of arguments for 'acl|{sub}' command")


@command("acl", -2, "noscript loading stale", 0, 0, 0)
def acl_command(c, args):
    acl = acl_of(c.server)
    sub = args[0].decode(errors="replace").lower()
    rest = [a.decode(errors="surrogateescape") for a in args[1:]]
    handler = SUBCOMMANDS.get(sub)
    if handler is None:
        raise Error(f"ERR unknown subcommand '{args[0].decode(errors='replace')}'. Try ACL HELP.")
    arity = ARITY[sub]
    if (arity >= 0 and len(args) != arity) or len(args) < -arity:
        raise _wrong(sub)
    if sub in ("cat", "genpass", "log") and len(args) > 2:  # aclCommand's own argc test
        raise Error("ERR unknown subcommand or wrong number of arguments for "
                    f"'{args[0].decode(errors='replace')}'. Try ACL HELP.")
    return handler(c, acl, rest)


def _setuser(c, acl: ACL, args):
    if any(ch in " \t\n\v\f\r\0" for ch in args[0]):  # ACLStringHasSpaces: C's isspace or NUL
        raise Error("ERR Usernames can't contain spaces or null characters")
    before = acl.users.get(args[0])
    was = (before.allchannels, list(before.channels)) if before is not None else None
    try:
        acl.setuser(args[0], args[1:])
    except ACLError as exc:
        raise Error(f"ERR {exc}") from None
    if was is not None:
        _kill_revoked_subscribers(c, acl, acl.users[args[0]], *was)
    return OK


def _kill_revoked_subscribers(c, acl: ACL, u: User, had_all: bool, had: list[str]) -> None:
    """ACLKillPubsubClientsIfNeeded: the user's subscribers to a channel or pattern it may no
    longer use are disconnected (nothing to do when the new channels include the old ones)."""
    if u.allchannels or (not had_all and all(ch in u.channels for ch in had)):
        return
    from xcache.store.pubsub import subscribed

    for other in list(c.server.clients.values()):
        if other.user is not u or not subscribed(other):
            continue
        if (any(not acl.channel_allowed(u, p, True) for p in other.patterns)
                or any(not acl.channel_allowed(u, ch, False)
                       for ch in (*other.channels, *other.shard_channels))):
            _disconnect(c, other)


def _disconnect(c, other) -> None:
    """Close other; the client running the command gets its reply first (freeClientAsync)."""
    if other is c:
        c.close_after_reply = True
    else:
        other.close()


def _getuser(c, acl: ACL, args):
    """A map (a flat array in RESP2), flags a set, each selector a map, as Redis 7.0."""
    u = acl.users.get(args[0])
    if u is None:
        return None
    fields = acl.getuser(u)
    fields[1] = Set(fields[1])
    fields[-1] = [Map(sel) for sel in fields[-1]]
    return Map(fields)


def _deluser(c, acl: ACL, args):
    if "default" in args:
        raise Error("ERR The 'default' user cannot be removed")
    deleted = acl.deluser(args)
    for other in list(c.server.clients.values()):  # clients of a deleted user are closed
        if other.user.name in deleted and acl.users.get(other.user.name) is None:
            _disconnect(c, other)
    return len(deleted)


def _list(c, acl: ACL, args):
    return [acl.describe(acl.users[n]).encode() for n in sorted(acl.users)]


def _users(c, acl: ACL, args):
    return [n.encode() for n in sorted(acl.users)]


def _whoami(c, acl: ACL, args):
    return c.user.name.encode()


def _cat(c, acl: ACL, args):
    if not args:
        return [cat.encode() for cat in CATEGORIES]
    cat = args[0].lower()
    if cat not in CATEGORIES:
        raise Error(f"ERR Unknown category '{args[0]}'")
    return [n.encode() for n in acl.table.in_category(cat)]


def _log(c, acl: ACL, args):
    if args and args[0].lower() == "reset":
        acl.log.clear()
        return OK
    count = None
    if args:
        count = parse_int(args[0].encode())
        if count < 0:
            return []
    return acl.log_reply(count)


def _genpass(c, acl: ACL, args):
    bits = 256
    if args:
        try:
            bits = int(args[0])
        except ValueError:
            bits = 0
        if bits <= 0 or bits > 4096:
            raise Error("ERR ACL GENPASS argument must be the number of bits for the output "
                        "password, a positive number up to 4096")
    return genpass(bits).encode()


def _dryrun(c, acl: ACL, args):
    u = acl.users.get(args[0])
    if u is None:
        raise Error(f"ERR User '{args[0]}' not found")
    cmd = COMMANDS.get(args[1].lower().encode())
    if cmd is None:
        raise Error(f"ERR Command '{args[1]}' not found")
    argv = [a.encode(errors="surrogateescape") for a in args[1:]]
    if (cmd.arity > 0 and len(argv) != cmd.arity) or len(argv) < -cmd.arity:
        raise Error(f"ERR wrong number of arguments for '{cmd.name}' command")
    v = None if u.unrestricted else verdict(acl, u, cmd, argv)
    if v is None:
        return OK
    kind, obj = v[0], v[2]
    if kind == "command":
        return f"This user has no permissions to run the '{obj}' command".encode()
    return f"This user has no permissions to access the '{obj.decode(errors='replace')}' {kind}".encode()


NO_ACL_FILE = Error(
    "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via "
    "the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration "
    "file set) in order to store users in the Redis configuration.")


def _no_acl_file(c, acl: ACL, args):
    """LOAD and SAVE: the node has no ACL file (users come from its config), and answers as a
    Redis started without `aclfile` does."""
    raise NO_ACL_FILE


HELP = pick(ACL_HELP, ("CAT", "DELUSER", "DRYRUN", "GETUSER", "GENPASS", "LIST", "LOAD", "LOG",
                      "SAVE", "SETUSER", "USERS", "WHOAMI"))  # all of Redis 7.0's ACL help[]

SUBCOMMANDS = {"setuser": _setuser, "getuser": _getuser, "deluser": _deluser, "list": _list,
               "users": _users, "whoami": _whoami, "cat": _cat, "log": _log, "genpass": _genpass,
               "dryrun": _dryrun, "load": _no_acl_file, "save": _no_acl_file,
               "help": lambda c, acl, args: help_reply("ACL", HELP)}
# Redis's arity of each subcommand, counting the subcommand itself
ARITY = {"setuser": -2, "getuser": 2, "deluser": -2, "list": 1, "users": 1, "whoami": 1,
         "cat": -1, "log": -1, "genpass": -1, "dryrun": -3, "load": 1, "save": 1, "help": 1}
