"""Authentication of storage-node clients: AUTH, the AUTH part of HELLO, the failed-AUTH brake.

Passwords are compared in constant time; each failure is counted, logged (rate-limited) and
slows that source address down (xcache/authbrake.py): past `auth_fail_burst` failures, AUTH from
the address is refused unchecked until its budget refills at `auth_fail_rate_per_sec`.
"""

from __future__ import annotations

import hmac
import logging

from xcache.authbrake import BRAKE_ERROR, AuthBrake
from xcache.resp import OK, Error
from xcache.store.acl import acl_of, client_info
from xcache.store.commands import SYNTAX_ERROR, command

log = logging.getLogger("xcache.server")

WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled."
NO_PASSWORD = ("ERR AUTH <password> called without any password configured for the default "
               "user. Are you sure your configuration is correct?")


def brake_of(server) -> AuthBrake:
    brake = getattr(server, "auth_brake", None)
    if brake is None:
        cfg = server.cfg
        brake = server.auth_brake = AuthBrake(log, cfg.auth_fail_rate_per_sec, cfg.auth_fail_burst)
    return brake


def check_password(c, password: bytes) -> bool:
    expected = c.server.cfg.requirepass
    return bool(expected) and hmac.compare_digest(password, expected.encode())


def connection_user(server):
    """(user, authenticated) of a new connection: the default user, logged in if it needs no
    password (Redis: `nopass`)."""
    default = acl_of(server).default_user()
    return default, default.enabled and default.nopass


def authenticate(c, user: bytes, password: bytes, via: str = "AUTH") -> None:
    """Log c in as user (ACL users, SHA-256 passwords; requirepass is the default user's), or
    raise the error Redis answers (WRONGPASS) or the brake's."""
    brake = brake_of(c.server)
    host = c.addr.rpartition(":")[0]  # "host:port", the port last (IPv6 hosts hold colons)
    if not brake.allowed(host):
        raise Error(BRAKE_ERROR)
    acl = acl_of(c.server)
    name = user.decode(errors="replace")
    found = acl.authenticate(name, password)
    if found is not None:
        c.user, c.authenticated = found, True
        return
    brake.failed(host, name)
    acl.log_denied("auth", "toplevel", via, name, client_info(c))
    raise Error(WRONGPASS)


@command("auth", -2, "noauth noscript loading stale fast", 0, 0, 0)
def auth(c, args):
    if len(args) > 2:
        raise SYNTAX_ERROR
    if len(args) == 1 and acl_of(c.server).default_user().nopass:
        raise Error(NO_PASSWORD)
    # A failed AUTH leaves the client logged in as before, as in Redis 6+.
    authenticate(c, args[0] if len(args) == 2 else b"default", args[-1])
    return OK
