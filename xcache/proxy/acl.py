"""ACL users on the proxy (Redis 7.0 rules, xcache/acl.py): defined in the config (`users`, one
ACL-file style line per user, e.g. "alice on >pw ~app:* +@read"), the same in every worker.
`session_password` is the default user's password. Sessions log in with AUTH [user] pass; a
restricted user's commands and keys are checked (NOPERM as Redis 7.0). ACL WHOAMI, LIST, USERS,
GETUSER, CAT, DRYRUN and LOG answer from the worker's table.

ACL SETUSER and DELUSER change the users at run time, as on a Redis without an ACL file (a
restart goes back to the config): the worker that gets one applies it, then asks the supervisor
(uplink.py) to apply it in every other worker and to replay it to workers started later, and
answers once they all have it, so a client's next connection finds the user whichever worker
takes it. ACL LOAD and SAVE are refused: there is no ACL file."""

from __future__ import annotations

from xcache.acl import ACL, ACLError, CommandTable, User, apply_change, genpass_command
from xcache.aclcategories import CATEGORIES
from xcache.config import ConfigError
from xcache.numbers import string2ll
from xcache.proxy import commands as C
from xcache.proxy.replies import error_line
from xcache.resp import Error, Map, Set, encode
from xcache.resp.help import ACL_HELP as _REDIS_ACL_HELP
from xcache.resp.help import help_reply, pick

# ACL HELP: Redis 7.0's entries of what the proxy serves (no ACL file: LOAD and SAVE are
# refused): left out
ACL_HELP = encode(help_reply("ACL", pick(_REDIS_ACL_HELP, (
    "CAT", "DELUSER", "DRYRUN", "GENPASS", "GETUSER", "LIST", "LOG", "SETUSER", "USERS", "WHOAMI"))))


def build_acl(session_password: str, users: str) -> ACL:
    acl = ACL(CommandTable())
    acl.sync_requirepass(session_password)
    for line in users.replace(";", "\n").splitlines():
        words = line.split()
        if words and words[0] == "user":
            words = words[1:]
        if not words:
            continue
        try:
            acl.setuser(words[0], words[1:])
        except ACLError as exc:
            raise ConfigError(f"users: {words[0]}: {exc}") from None
    return acl


def request_keys(spec, argv: list[bytes]) -> list[bytes]:
    if spec.kind == C.KEY:
        return argv[1:2]
    if spec.kind == C.SPLIT:
        return argv[1::2] if spec.name == "MSET" else argv[1:]
    if spec.kind == C.SAME_SLOT:
        try:
            return C.same_slot_keys(spec, argv)
        except ValueError:
            return []
    return []


def denied(acl: ACL, user: User, spec, argv: list[bytes], client_info: str) -> bytes | None:
    """The NOPERM error line for user running argv, or None (ACL LOG entry when denied)."""
    if spec.lname in ("auth", "hello", "quit", "reset"):
        return None  # open to every user, as in Redis
    name = acl.command_allowed(user, spec.lname, argv[1:])
    if name is not None:
        acl.log_denied("command", "toplevel", name, user.name, client_info)
        return error_line(f"NOPERM this user has no permissions to run the '{name}' command")
    if not user.allkeys:
        for key in request_keys(spec, argv):
            if not acl.key_allowed(user, key, not spec.readonly):
                acl.log_denied("key", "toplevel", key.decode(errors="replace"), user.name, client_info)
                return error_line("NOPERM this user has no permissions to access one of the keys used as arguments")
    return None


def _getuser(acl: ACL, u: User) -> Map:
    """ACL GETUSER's reply: a map whose flags are a set (RESP3), flat arrays in RESP2."""
    reply = acl.getuser(u)
    reply[1] = Set(reply[1])
    return Map(reply)


def acl_command(acl: ACL, user: User, argv: list[bytes], resp: int = 2) -> bytes:
    """ACL's reply, encoded in the session's protocol (maps and nulls in RESP3, as Redis)."""
    sub = argv[1].decode(errors="replace").lower() if len(argv) > 1 else ""
    args = [a.decode(errors="replace") for a in argv[2:]]
    if sub == "help" and not args:
        return ACL_HELP
    if sub == "whoami":
        return encode(user.name.encode(), resp)
    if sub == "users":
        return encode([n.encode() for n in sorted(acl.users)], resp)
    if sub == "list":
        return encode([acl.describe(acl.users[n]).encode() for n in sorted(acl.users)], resp)
    if sub == "getuser" and len(args) == 1:
        u = acl.users.get(args[0])
        return encode(None if u is None else _getuser(acl, u), resp)
    if sub == "cat" and len(args) <= 1:
        if not args:
            return encode([c.encode() for c in CATEGORIES], resp)
        if args[0].lower() not in CATEGORIES:
            return error_line(f"ERR Unknown category '{args[0]}'")
        return encode([n.encode() for n in acl.table.in_category(args[0].lower())], resp)
    if sub == "log" and len(args) <= 1:
        if args and args[0].lower() == "reset":
            acl.log.clear()
            return b"+OK\r\n"
        count = string2ll(args[0].encode(errors="surrogateescape")) if args else None
        if args and count is None:
            return error_line("ERR value is not an integer or out of range")
        return encode([Map(e) for e in acl.log_reply(max(count, 0) if args else None)], resp)
    if sub == "genpass" and len(args) <= 1:
        try:
            return encode(genpass_command(argv[2] if args else None).encode(), resp)
        except ACLError as exc:
            return error_line(str(exc))
    if sub == "dryrun" and len(args) >= 2:
        u = acl.users.get(args[0])
        if u is None:
            return error_line(f"ERR User '{args[0]}' not found")
        spec = C.lookup(args[1].encode())
        if spec is None:
            return error_line(f"ERR Command '{args[1]}' not found")
        name = acl.command_allowed(u, spec.lname, argv[4:])
        if name is not None:
            return encode(f"This user has no permissions to run the '{name}' command".encode(), resp)
        for key in request_keys(spec, argv[3:]):
            if not acl.key_allowed(u, key, not spec.readonly):
                return encode(f"This user has no permissions to access the '{key.decode(errors='replace')}' key".encode(), resp)
        return b"+OK\r\n"
    if sub in ("save", "load"):
        return error_line(f"ERR xcache: ACL {sub.upper()} is not supported through the proxy: "
                          "it has no ACL file (users come from its config and ACL SETUSER)")
    typed = argv[1].decode(errors="replace") if len(argv) > 1 else ""
    return encode(Error(f"ERR unknown subcommand or wrong number of arguments for '{typed}'. "
                        "Try ACL HELP."), resp)


# --- changes at run time ------------------------------------------------------------------------

def is_change(argv: list[bytes]) -> bool:
    """ACL SETUSER name [rule ...] / ACL DELUSER name [name ...] (with Redis's arities)."""
    return len(argv) >= 3 and argv[1].lower() in (b"setuser", b"deluser")


def after_change(worker, cmd: list[str], deleted: list[str]) -> None:
    """What Redis does to connected clients: those of a deleted user are closed
    (ACLFreeUserAndKillClients), and a user's subscribers to channels it may no longer use too
    (ACLKillPubsubClientsIfNeeded)."""
    acl = worker.acl
    for s in list(worker.sessions):
        u = s.user
        if u.name in deleted and acl.users.get(u.name) is not u:
            s.close()
        elif cmd[0] == "setuser" and u.name == cmd[1] and s.subs is not None and not u.allchannels:
            subs = s.subs
            if any(not acl.channel_allowed(u, ch, False) for ch in (*subs.channels, *subs.shard)) or any(
                    not acl.channel_allowed(u, p, True) for p in subs.patterns):
                s.close()


def change(session, spec, argv: list[bytes], t0: float) -> None:
    """ACL SETUSER / DELUSER: applied here, then in every other worker before the reply."""
    from xcache.proxy.pending import Request

    worker = session.ctx
    cmd = [argv[1].decode(errors="replace").lower(), *(a.decode(errors="surrogateescape") for a in argv[2:])]
    error, deleted = apply_change(worker.acl, cmd)
    if error is not None:
        session.answer(spec, error_line(error), t0)
        return
    reply = b"+OK\r\n" if cmd[0] == "setuser" else b":%d\r\n" % len(deleted)
    after_change(worker, cmd, deleted)
    uplink = worker.uplink
    if uplink is None:  # a worker on its own (tests): nobody else to tell
        session.answer(spec, reply, t0)
        return
    session.drain_routed()
    req = Request(session, spec, None, 0, t0, argv)
    session.pending.append(req)

    def told(_fut) -> None:
        if not session.closed:
            req.complete(reply)

    uplink.tell({"op": "acl", "cmd": cmd}).add_done_callback(told)
