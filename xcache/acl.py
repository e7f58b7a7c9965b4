"""Redis 6+/7.0 ACL users, sans-IO: rules (ACL SETUSER), their description (ACL LIST/GETUSER),
authentication (SHA-256 passwords) and permission checks (commands, keys, channels), plus the
ACL LOG. The storage node serves it (xcache/store/acl.py); the proxy and the sentinel can reuse it.

Commands are known by Redis 7.0's table of ACL categories (xcache/aclcategories.py) plus the
extra commands a server registers (`extra_commands`), so `ACL LIST` describes a user exactly as
redis-server 7.0 does (+@all/-@all, then the categories where the user is mostly allowed (or
denied), then per-command differences), with selectors `(...)`. key_allowed() gives read
(`%R~`) for read-only commands and write (`%W~`) for the others; key_permitted() takes what a key
spec needs (the storage node uses it); first-arg rules (`+select|0`) are accepted but
not enforced beyond the command itself.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from xcache.aclcategories import CATEGORIES, COMMAND_CATEGORIES
from xcache.numbers import string2ll

ACL_LOG_MAX_LEN = 128
ACL_LOG_GROUPING_MS = 60_000


_USER_ONLY = {"on", "off", "nopass", "resetpass", "reset", "clearselectors", "sanitize-payload",
              "skip-sanitize-payload"}


def merge_selectors(rules: list[str]) -> list[str]:
    """ACLMergeSelectorArguments: arguments from one starting with '(' to one ending with ')'
    make one selector rule (`(+get` `~k*)` -> `(+get ~k*)`)."""
    out: list[str] = []
    start = None
    for i, rule in enumerate(rules):
        if start is None and rule[:1] == "(" and rule[-1:] != ")":
            start, parts = i, [rule]
        elif start is not None:
            parts.append(rule)
            if rule[-1:] == ")":
                out.append(" ".join(parts))
                start = None
        else:
            out.append(rule)
    if start is not None:
        raise ACLError(f"Unmatched parenthesis in acl selector starting at '{rules[start]}'.")
    return out


class ACLError(Exception):
    """A rule of ACL SETUSER is wrong; str() is Redis's reason text."""


def sha256_hex(password: bytes) -> str:
    return hashlib.sha256(password).hexdigest()


def _is_hash(text: str) -> bool:
    return len(text) == 64 and all(ch in "0123456789abcdef" for ch in text)


class CommandTable:
    """Every command (and `container|subcommand`) name with its ACL categories."""

    def __init__(self, extra: dict[str, Iterable[str]] | None = None,
                 base: dict[str, tuple[str, ...]] | None = None):
        self.categories: dict[str, tuple[str, ...]] = dict(COMMAND_CATEGORIES if base is None else base)
        for name, cats in (extra or {}).items():
            self.categories.setdefault(name, tuple(cats))
        self.subcommands: dict[str, list[str]] = {}
        for name in self.categories:
            if "|" in name:
                self.subcommands.setdefault(name.split("|", 1)[0], []).append(name)
        self.names = sorted(self.categories)  # describe()'s per-command order

    def in_category(self, cat: str) -> list[str]:
        return [n for n in self.names if cat in self.categories[n]]


@dataclass
class User:
    name: str
    enabled: bool = False
    nopass: bool = False
    passwords: list[str] = field(default_factory=list)  # SHA-256 hex, in order added
    allowed: set[str] = field(default_factory=set)  # command and container|sub names
    future: bool = False  # set by +@all, cleared by -@all only: describe() starts from +@all
    firstargs: dict[str, list[str]] = field(default_factory=dict)
    allkeys: bool = False
    keys: list[tuple[str, str]] = field(default_factory=list)  # ("R"|"W"|"RW", pattern)
    allchannels: bool = False
    channels: list[str] = field(default_factory=list)
    unrestricted: bool = False  # every command, key and channel: the server skips the checks
    sanitize: str = ""  # "", "sanitize-payload" or "skip-sanitize-payload" (RESTORE; a flag only)
    # the selectors `(...)` after the root one (self): each a User of which only the command,
    # key and channel fields count; a command runs if the root or any selector allows it all
    selectors: list[User] = field(default_factory=list)

    def copy(self) -> User:
        return User(self.name, self.enabled, self.nopass, list(self.passwords), set(self.allowed),
                    self.future, {k: list(v) for k, v in self.firstargs.items()}, self.allkeys,
                    list(self.keys), self.allchannels, list(self.channels), self.unrestricted,
                    self.sanitize, [sel.copy() for sel in self.selectors])


class ACL:
    """The users of one server and its ACL LOG."""

    def __init__(self, table: CommandTable | None = None, matcher: Callable[[bytes, bytes], bool] | None = None,
                 clock: Callable[[], float] = time.time):
        self.table = table or CommandTable()
        self.matcher = matcher or _fnmatch
        self.clock = clock
        self.users: dict[str, User] = {}
        self.log: list[dict] = []  # newest first
        self.log_max_len = ACL_LOG_MAX_LEN  # Redis's acllog-max-len (the node's CONFIG SET)
        self.denied = {"auth": 0, "command": 0, "key": 0, "channel": 0}  # INFO acl_access_denied_*
        default = User("default")
        self.set_user(default, ["on", "nopass", "allkeys", "allchannels", "allcommands"])
        self.users["default"] = default
        self._requirepass: str | None = None

    # --- users ------------------------------------------------------------------------------

    def default_user(self) -> User:
        return self.users["default"]

    def sync_requirepass(self, requirepass: str) -> None:
        """`requirepass` sets the default user's only password (empty: nopass), as in Redis."""
        if requirepass == self._requirepass:
            return
        self._requirepass = requirepass
        rules = ["resetpass", ">" + requirepass] if requirepass else ["nopass"]
        self.set_user(self.default_user(), rules)

    def setuser(self, name: str, rules: list[str]) -> None:
        """ACL SETUSER: all rules or none (raises ACLError with Redis's message)."""
        rules = merge_selectors(rules)
        user = self.users.get(name)
        tmp = user.copy() if user is not None else User(name)
        self.set_user(tmp, rules)
        if user is None:
            self.users[name] = tmp
        else:
            user.__dict__.update(tmp.__dict__)  # connected clients hold `user`: update in place

    def set_user(self, u: User, rules: list[str]) -> None:
        for rule in rules:
            try:
                self._apply(u, rule)
            except ACLError as exc:
                raise ACLError(f"Error in ACL SETUSER modifier '{rule}': {exc}") from None
        u.unrestricted = (u.future and u.allkeys and u.allchannels
                          and len(u.allowed) == len(self.table.names))

    def _apply(self, u: User, rule: str) -> None:
        low = rule.lower()
        if low == "on":
            u.enabled = True
        elif low == "off":
            u.enabled = False
        elif low == "nopass":
            u.nopass, u.passwords = True, []
        elif low == "resetpass":
            u.nopass, u.passwords = False, []
        elif low in ("allkeys", "~*"):
            u.allkeys, u.keys = True, []
        elif low == "resetkeys":
            u.allkeys, u.keys = False, []
        elif low in ("allchannels", "&*"):
            u.allchannels, u.channels = True, []
        elif low == "resetchannels":
            u.allchannels, u.channels = False, []
        elif low in ("allcommands", "+@all"):
            u.allowed, u.future, u.firstargs = set(self.table.names), True, {}
        elif low in ("nocommands", "-@all"):
            u.allowed, u.future, u.firstargs = set(), False, {}
        elif low in ("sanitize-payload", "skip-sanitize-payload"):
            u.sanitize = low
        elif low == "reset":
            for r in ("resetpass", "resetkeys", "resetchannels", "nocommands", "off", "sanitize-payload",
                      "clearselectors"):
                self._apply(u, r)
        elif low == "clearselectors":
            u.selectors = []
        elif rule[:1] == "(" and rule[-1:] == ")":
            u.selectors.append(self._selector(rule[1:-1]))
        elif rule[:1] == ">":
            h = sha256_hex(rule[1:].encode())
            if h not in u.passwords:
                u.passwords.append(h)
            u.nopass = False
        elif rule[:1] == "#":
            if not _is_hash(rule[1:]):
                raise ACLError("The password hash must be exactly 64 characters and contain only "
                               "lowercase hexadecimal characters")
            if rule[1:] not in u.passwords:
                u.passwords.append(rule[1:])
            u.nopass = False
        elif rule[:1] in ("<", "!"):
            h = sha256_hex(rule[1:].encode()) if rule[0] == "<" else rule[1:]
            if rule[0] == "!" and not _is_hash(h):
                raise ACLError("The password hash must be exactly 64 characters and contain only "
                               "lowercase hexadecimal characters")
            if h not in u.passwords:
                raise ACLError("The password you are trying to remove from the user does not exist")
            u.passwords.remove(h)
        elif rule[:1] == "~" or rule[:1] == "%":
            self._key_pattern(u, rule)
        elif rule[:1] == "&":
            if u.allchannels:
                raise ACLError("Adding a pattern after the * pattern (or the 'allchannels' flag) is "
                               "not valid and does not have any effect. Try 'resetchannels' to start "
                               "with an empty list of channels")
            if rule[1:] not in u.channels:
                u.channels.append(rule[1:])
        elif rule[:1] in ("+", "-") and len(rule) > 1:
            self._command_rule(u, rule[0] == "+", low[1:])
        else:
            raise ACLError("Syntax error")

    def _selector(self, ops: str) -> User:
        """aclCreateSelectorFromOpSet: a selector starts with no commands, keys or channels, and
        takes only command, key and channel rules."""
        sel = User("")
        for op in ops.split():
            if op.lower() in _USER_ONLY or op[:1] in (">", "<", "#", "!", "("):
                raise ACLError("Syntax error")
            self._apply(sel, op)
        return sel

    def _key_pattern(self, u: User, rule: str) -> None:
        if rule[0] == "%":
            perm, sep, pattern = rule[1:].partition("~")
            perm = perm.upper()
            if not sep or not perm or set(perm) - {"R", "W"}:
                raise ACLError("Syntax error")
            perm = "RW" if set(perm) == {"R", "W"} else perm
        else:
            perm, pattern = "RW", rule[1:]
        if u.allkeys:
            raise ACLError("Adding a pattern after the * pattern (or the 'allkeys' flag) is not "
                           "valid and does not have any effect. Try 'resetkeys' to start with an "
                           "empty list of patterns")
        if perm == "RW" and pattern == "*":
            u.allkeys, u.keys = True, []
            return
        for i, (p, pat) in enumerate(u.keys):
            if pat == pattern:
                u.keys[i] = ("RW" if p != perm else p, pat)
                return
        u.keys.append((perm, pattern))

    def _command_rule(self, u: User, allow: bool, what: str) -> None:
        table = self.table
        if what.startswith("@"):
            cat = what[1:]
            if cat not in CATEGORIES:
                raise ACLError("Unknown command or category name in ACL")
            for name in table.in_category(cat):
                self._set_command(u, name, allow)
            return
        if "|" in what:
            container, sub = what.split("|", 1)
            if allow and "|" in sub and what.rsplit("|", 1)[0] in table.categories:
                # +config|get|x: Redis splits at the last '|', finds a subcommand (ECHILD)
                raise ACLError("Allowing first-arg of a subcommand is not supported")
            if allow and not sub and container in table.categories:
                raise ACLError("Syntax error")  # +config| (EINVAL)
            if container not in table.categories or not sub or "|" in sub:
                raise ACLError("Unknown command or category name in ACL")
            if what in table.categories:
                self._set(u, what, allow)
                return
            if container in table.subcommands or not allow:
                raise ACLError("Unknown command or category name in ACL")
            if container not in u.allowed:  # a first-arg rule (+select|0)
                args = u.firstargs.setdefault(container, [])
                if sub not in args:
                    args.append(sub)
            return
        if what not in table.categories:
            raise ACLError("Unknown command or category name in ACL")
        self._set_command(u, what, allow)

    def _set_command(self, u: User, name: str, allow: bool) -> None:
        """A command and, for a container (CONFIG), all its subcommands (ACLChangeSelectorPerm)."""
        self._set(u, name, allow)
        for sub in self.table.subcommands.get(name, ()):
            self._set(u, sub, allow)

    @staticmethod
    def _set(u: User, name: str, allow: bool) -> None:
        u.firstargs.pop(name, None)
        if allow:
            u.allowed.add(name)
        else:
            u.allowed.discard(name)  # `future` stays: only -@all clears it (Redis's reserved bit)

    def deluser(self, names: list[str]) -> list[str]:
        """-> the names deleted ("default" is refused by the caller)."""
        return [n for n in names if self.users.pop(n, None) is not None]

    # --- description --------------------------------------------------------------------------

    def describe_commands(self, u: User) -> str:
        """Redis 7.0's ACLDescribeSelectorCommandRules: +@all/-@all, then greedily the category
        closest to the user's commands, then the single-command differences."""
        table = self.table
        fake = User("fake")
        additive = not u.future
        rules = ["-@all" if additive else "+@all"]
        self._apply(fake, rules[0])
        temp = User("temp", allowed=set(u.allowed))
        applied: set[str] = set()
        while True:
            best, mindiff, maxsame = None, None, 0
            for cat in CATEGORIES:
                if cat in applied:
                    continue
                names = table.in_category(cat)
                on = sum(1 for n in names if n in temp.allowed)
                off = len(names) - on
                diff, same = (off, on) if additive else (on, off)
                if same > diff and (mindiff is None or diff < mindiff or (diff == mindiff and same > maxsame)):
                    best, mindiff, maxsame = cat, diff, same
            if best is None:
                break
            self._apply(fake, ("+@" if additive else "-@") + best)
            self._apply(temp, ("-@" if additive else "+@") + best)
            rules.append(("+@" if additive else "-@") + best)
            applied.add(best)
        for name in table.names:
            if "|" in name:
                continue
            mine = name in u.allowed
            if mine != (name in fake.allowed):
                rules.append(("+" if mine else "-") + name)
                self._set_command(fake, name, mine)
            for sub in table.subcommands.get(name, ()):
                if (sub in u.allowed) != (sub in fake.allowed):
                    rules.append(("+" if sub in u.allowed else "-") + sub)
                    self._set(fake, sub, sub in u.allowed)
            if not mine:
                rules += [f"+{name}|{arg}" for arg in u.firstargs.get(name, ())]
        return " ".join(rules)

    @staticmethod
    def describe_keys(u: User) -> str:
        if u.allkeys:
            return "~*"
        return " ".join(("~" if p == "RW" else f"%{p}~") + pat for p, pat in u.keys)

    @staticmethod
    def describe_channels(u: User, with_reset: bool) -> str:
        if u.allchannels:
            return "&*"
        pats = " ".join("&" + c for c in u.channels)
        return ("resetchannels " + pats).strip() if with_reset else pats

    def describe(self, u: User) -> str:
        parts = ["user", u.name, "on" if u.enabled else "off"]
        if u.nopass:
            parts.append("nopass")
        if u.sanitize:
            parts.append(u.sanitize)
        parts += ["#" + h for h in u.passwords]
        parts.append(self.describe_selector(u))
        parts += ["(" + self.describe_selector(sel) + ")" for sel in u.selectors]
        return " ".join(parts)

    def describe_selector(self, u: User) -> str:
        """ACLDescribeSelector: keys, channels, commands."""
        keys = self.describe_keys(u)
        return " ".join(([keys] if keys else []) + [self.describe_channels(u, True),
                                                    self.describe_commands(u)])

    def getuser(self, u: User) -> list:
        flags = [b"on" if u.enabled else b"off"] + ([b"nopass"] if u.nopass else []) + \
            ([u.sanitize.encode()] if u.sanitize else [])
        return [b"flags", flags, b"passwords", [h.encode() for h in u.passwords],
                b"commands", self.describe_commands(u).encode(),
                b"keys", self.describe_keys(u).encode(),
                b"channels", self.describe_channels(u, False).encode(),
                b"selectors", [[b"commands", self.describe_commands(sel).encode(),
                                b"keys", self.describe_keys(sel).encode(),
                                b"channels", self.describe_channels(sel, False).encode()]
                               for sel in u.selectors]]

    # --- authentication and permissions -----------------------------------------------------

    def authenticate(self, name: str, password: bytes) -> User | None:
        """The user if name/password log in (enabled, nopass or a matching hash), else None."""
        u = self.users.get(name)
        if u is None or not u.enabled:
            return None
        if u.nopass:
            return u
        h = sha256_hex(password)
        ok = False
        for stored in u.passwords:  # every hash compared: no early exit on a match
            ok |= hmac.compare_digest(stored, h)
        return u if ok else None

    def command_allowed(self, u: User, name: str, args: list[bytes]) -> str | None:
        """None, or the full name Redis reports (`config|set`) of a command u may not run."""
        table = self.table
        if name in table.subcommands and args:
            full = f"{name}|{args[0].decode(errors='replace').lower()}"
            if full in table.categories:
                return None if full in u.allowed or (u.future and full not in table.categories) else full
        if name in u.allowed:
            return None
        if name not in table.categories and u.future:
            return None  # a command Redis does not have: +@all covers it ("future commands")
        firsts = u.firstargs.get(name)
        if firsts and args and args[0].decode(errors="replace").lower() in firsts:
            return None
        return name

    def key_allowed(self, u: User, key: bytes, write: bool) -> bool:
        if u.allkeys:
            return True
        need = "W" if write else "R"
        return any(need in perm and self.matcher(pat.encode(), key) for perm, pat in u.keys)

    def key_permitted(self, u: User, key: bytes, read: bool, write: bool) -> bool:
        """ACLSelectorCheckKey: a pattern with every permission the key spec needs (none: any
        pattern; a spec that neither reads nor writes, EXISTS's, needs no permission)."""
        if u.allkeys:
            return True
        need = ("R" if read else "") + ("W" if write else "")
        return any(all(p in perm for p in need) and self.matcher(pat.encode(), key)
                   for perm, pat in u.keys)

    def channel_allowed(self, u: User, channel: bytes, is_pattern: bool) -> bool:
        if u.allchannels:
            return True
        if is_pattern:
            return any(pat.encode() == channel for pat in u.channels)
        return any(self.matcher(pat.encode(), channel) for pat in u.channels)

    # --- ACL LOG --------------------------------------------------------------------------------

    def log_denied(self, reason: str, context: str, obj: str, username: str, client_info: str) -> None:
        self.denied[reason] = self.denied.get(reason, 0) + 1
        now = self.clock()
        for e in self.log:
            if (e["reason"], e["context"], e["object"], e["username"]) == (reason, context, obj, username) \
                    and (now - e["created"]) * 1000 < ACL_LOG_GROUPING_MS:
                e["count"] += 1
                e["created"] = now
                e["client_info"] = client_info
                self.log.remove(e)
                self.log.insert(0, e)
                return
        self.log.insert(0, {"count": 1, "reason": reason, "context": context, "object": obj,
                            "username": username, "created": now, "client_info": client_info})
        del self.log[self.log_max_len:]

    def log_reply(self, count: int | None = None) -> list:
        out = []
        for e in self.log[:count] if count is not None else self.log:
            age = self.clock() - e["created"]
            out.append([b"count", e["count"], b"reason", e["reason"].encode(), b"context",
                        e["context"].encode(), b"object", e["object"].encode(), b"username",
                        e["username"].encode(), b"age-seconds", b"%.17g" % round(age, 3),
                        b"client-info", e["client_info"].encode()])
        return out


def subcommand(acl: ACL, user: User, args: list[bytes], changes: bool = True):
    """ACL <sub> ... shared by components without a command table of their own (the sentinel):
    WHOAMI USERS LIST GETUSER CAT LOG GENPASS and, if `changes`, SETUSER DELUSER.
    -> a reply value (bytes, list, int, None), or raises ACLReplyError(message)."""
    sub = args[0].decode(errors="replace").lower() if args else ""
    rest = [a.decode(errors="surrogateescape") for a in args[1:]]
    if sub == "whoami" and not rest:
        return user.name.encode()
    if sub == "users" and not rest:
        return [n.encode() for n in sorted(acl.users)]
    if sub == "list" and not rest:
        return [acl.describe(acl.users[n]).encode() for n in sorted(acl.users)]
    if sub == "getuser" and len(rest) == 1:
        u = acl.users.get(rest[0])
        return None if u is None else acl.getuser(u)
    if sub == "cat" and len(rest) <= 1:
        if not rest:
            return [c.encode() for c in CATEGORIES]
        if rest[0].lower() not in CATEGORIES:
            raise ACLReplyError(f"ERR Unknown category '{rest[0]}'")
        return [n.encode() for n in acl.table.in_category(rest[0].lower())]
    if sub == "log" and len(rest) <= 1:
        if rest and rest[0].lower() == "reset":
            acl.log.clear()
            return b"OK"
        try:
            count = int(rest[0]) if rest else None
        except ValueError:
            raise ACLReplyError("ERR value is not an integer or out of range") from None
        return [] if count is not None and count < 0 else acl.log_reply(count)
    if sub == "genpass" and len(rest) <= 1:
        bits = int(rest[0]) if rest and rest[0].isdigit() else (256 if not rest else 0)
        if not 0 < bits <= 4096:
            raise ACLReplyError("ERR ACL GENPASS argument must be the number of bits for the output "
                                "password, a positive number up to 4096")
        return genpass(bits).encode()
    if changes and sub == "setuser" and rest:
        try:
            acl.setuser(rest[0], rest[1:])
        except ACLError as exc:
            raise ACLReplyError(f"ERR {exc}") from None
        return b"OK"
    if changes and sub == "deluser" and rest:
        if "default" in rest:
            raise ACLReplyError("ERR The 'default' user cannot be removed")
        return len(acl.deluser(rest))
    if sub in ("whoami", "users", "list", "getuser", "cat", "log", "genpass", "setuser", "deluser"):
        raise ACLReplyError(f"ERR wrong number of arguments for 'acl|{sub}' command")
    raise ACLReplyError(f"ERR unknown subcommand '{sub}'. Try ACL HELP.")


class ACLReplyError(Exception):
    """An error reply of an ACL subcommand (str() is the full message, 'ERR ...')."""


def genpass(bits: int = 256) -> str:
    """ACL GENPASS: `bits` random bits as hex (rounded up to a nibble)."""
    return os.urandom((bits + 7) // 8).hex()[: (bits + 3) // 4]


def apply_change(acl: ACL, cmd: list[str]) -> tuple[str | None, list[str]]:
    """ACL SETUSER (["setuser", name, rules...]) or DELUSER (["deluser", names...]) with Redis's
    checks: (error text or None, the names deleted). The node's and every proxy worker's."""
    if cmd[0] == "setuser":
        if any(ch in " \t\n\v\f\r\0" for ch in cmd[1]):  # ACLStringHasSpaces: isspace or NUL
            return "ERR Usernames can't contain spaces or null characters", []
        try:
            acl.setuser(cmd[1], cmd[2:])
        except ACLError as exc:
            return f"ERR {exc}", []
        return None, []
    if "default" in cmd[1:]:
        return "ERR The 'default' user cannot be removed", []
    return None, acl.deluser(cmd[1:])


def genpass_command(arg: bytes | None) -> str:
    """ACL GENPASS [bits] with Redis's checks (node and proxy): raises ACLError with the whole
    error text."""
    bits = 256
    if arg is not None:
        bits = string2ll(arg)
        if bits is None:
            raise ACLError("ERR value is not an integer or out of range")
        if bits <= 0 or bits > 4096:
            raise ACLError("ERR ACL GENPASS argument must be the number of bits for the output "
                           "password, a positive number up to 4096")
    return genpass(bits)


def _fnmatch(pattern: bytes, subject: bytes) -> bool:
    import fnmatch

    return fnmatch.fnmatchcase(subject.decode("latin-1"), pattern.decode("latin-1"))
