"""Client authentication on the sentinel, as Redis Sentinel has it: `requirepass` guards every
command but AUTH, HELLO, QUIT and RESET; `sentinel_pass` (default: requirepass) is what this
sentinel sends to the other sentinels; `sentinel auth-pass <master> <pass>` (SENTINEL SET) is what
it sends to the monitored nodes. Failed AUTHs are braked per source address (xcache/authbrake.py).
"""

from __future__ import annotations

from xcache.acl import ACL, ACLError, ACLReplyError, CommandTable, User, subcommand
from xcache.aclcategories import SENTINEL_COMMAND_CATEGORIES
from xcache.authbrake import BRAKE_ERROR, AuthBrake
from xcache.config import ConfigError
from xcache.observability.logs import log_event
from xcache.resp import OK, Error

NOAUTH = Error("NOAUTH Authentication required.")
WRONGPASS = Error("WRONGPASS invalid username-password pair or user is disabled.")
NO_PASSWORD = Error("ERR AUTH <password> called without any password configured for the default "
                    "user. Are you sure your configuration is correct?")
OPEN_COMMANDS = {b"AUTH", b"HELLO", b"QUIT", b"RESET"}


class SentinelAuth:
    def __init__(self, cfg):
        self.cfg = cfg
        self.brake = AuthBrake(lambda f: log_event("sentinel", "auth_failed", "warning", **f),
                               cfg.auth_fail_rate_per_sec, cfg.auth_fail_burst)
        self.acl = ACL(CommandTable(base=SENTINEL_COMMAND_CATEGORIES))
        self.acl.sync_requirepass(cfg.requirepass)
        for line in cfg.users.replace(";", "\n").splitlines():
            words = line.split()
            words = words[1:] if words[:1] == ["user"] else words
            if words:
                try:
                    self.acl.setuser(words[0], words[1:])
                except ACLError as exc:
                    raise ConfigError(f"users: {words[0]}: {exc}") from None

    def open_session(self) -> tuple[User, bool]:
        """(user, authenticated) of a new session: the default user, logged in if nopass."""
        default = self.acl.default_user()
        return default, default.enabled and default.nopass

    def login(self, host: str, user: bytes, password: bytes, via: str = "AUTH") -> User:
        """The user user/password log in as, or raise the error to answer."""
        if not self.brake.allowed(host):
            raise Error(BRAKE_ERROR)
        name = user.decode(errors="replace")
        found = self.acl.authenticate(name, password)
        if found is not None:
            return found
        self.brake.failed(host, name)
        self.acl.log_denied("auth", "toplevel", via, name, f"addr={host}")
        raise WRONGPASS

    def auth_command(self, host: str, args: list[bytes]) -> User:
        """AUTH [user] password -> the user logged in (the reply is OK)."""
        if not args or len(args) > 2:
            raise Error("ERR wrong number of arguments for 'auth' command") if not args else \
                Error("ERR syntax error")
        if len(args) == 1 and self.acl.default_user().nopass:
            raise NO_PASSWORD
        return self.login(host, args[0] if len(args) == 2 else b"default", args[-1])

    def denied(self, user: User, name: bytes, args: list[bytes], host: str) -> Error | None:
        """NOPERM for a restricted user's command (or channel), as Redis Sentinel 7.0."""
        lname = name.decode(errors="replace").lower()
        if lname in ("auth", "hello", "quit", "reset"):
            return None
        acl = self.acl
        full = acl.command_allowed(user, lname, args)
        if full is not None:
            acl.log_denied("command", "toplevel", full, user.name, f"addr={host}")
            return Error(f"NOPERM this user has no permissions to run the '{full}' command")
        if lname in ("subscribe", "psubscribe") and not user.allchannels:
            for ch in args:
                if not acl.channel_allowed(user, ch, lname == "psubscribe"):
                    acl.log_denied("channel", "toplevel", ch.decode(errors="replace"), user.name, f"addr={host}")
                    return Error("NOPERM this user has no permissions to access one of the channels used as arguments")
        return None

    def acl_command(self, user: User, args: list[bytes]):
        try:
            reply = subcommand(self.acl, user, args)
        except ACLReplyError as exc:
            return Error(str(exc))
        return OK if reply == b"OK" else reply

    def peer_password(self) -> str:
        """What this sentinel AUTHs with on the other sentinels."""
        return self.cfg.sentinel_pass or self.cfg.requirepass
