"""ACL on the storage node: the ACL command, the per-command permission check and the ACL LOG,
over the sans-IO users of xcache/acl.py. `requirepass` is the default user's password, as in
Redis; AUTH/HELLO AUTH log in through authenticate() (xcache/store/auth.py)."""

from __future__ import annotations

import time

from xcache.acl import ACL, ACLError, CommandTable, User, apply_change, genpass_command
from xcache.aclcategories import CATEGORIES
from xcache.resp import OK, Error, Map, Set
from xcache.resp.help import ACL_HELP, pick
from xcache.store.acl_perm import verdict
from xcache.store.commands import COMMANDS, Command, command, parse_int
from xcache.store.glob import glob_match
from xcache.store.subcommands import help_reply


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

    return client_line(c, time.monotonic(), c)


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
    before = acl.users.get(args[0])
    was = (before.allchannels, list(before.channels)) if before is not None else None
    error, _ = apply_change(acl, ["setuser", *args])
    if error is not None:
        raise Error(error)
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
    error, deleted = apply_change(acl, ["deluser", *args])
    if error is not None:
        raise Error(error)
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
        count = parse_int(args[0].encode(errors="surrogateescape"))
        if count < 0:
            return []
    return acl.log_reply(count)


def _genpass(c, acl: ACL, args):
    try:
        return genpass_command(args[0].encode(errors="surrogateescape") if args else None).encode()
    except ACLError as exc:
        raise Error(str(exc)) from None


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
