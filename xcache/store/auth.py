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


def authenticate(c, user: bytes, password: bytes) -> None:
    """Log c in as user, or raise the error Redis answers (WRONGPASS) or the brake's."""
    brake = brake_of(c.server)
    host = c.addr.rpartition(":")[0]  # "host:port", the port last (IPv6 hosts hold colons)
    if not brake.allowed(host):
        raise Error(BRAKE_ERROR)
    if user == b"default" and (not c.server.cfg.requirepass or check_password(c, password)):
        c.authenticated = True  # a default user without password (nopass) takes any password
        return
    brake.failed(host, user.decode(errors="replace"))
    raise Error(WRONGPASS)


@command("auth", -2, "noauth noscript loading stale fast", 0, 0, 0)
def auth(c, args):
    if len(args) > 2:
        raise SYNTAX_ERROR
    if len(args) == 1 and not c.server.cfg.requirepass:
        raise Error(NO_PASSWORD)
    # A failed AUTH leaves the client logged in as before, as in Redis 6+.
    authenticate(c, args[0] if len(args) == 2 else b"default", args[-1])
    return OK
