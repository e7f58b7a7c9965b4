"""Client authentication on the sentinel, as Redis Sentinel has it: `requirepass` guards every
command but AUTH, HELLO, QUIT and RESET; `sentinel_pass` (default: requirepass) is what this
sentinel sends to the other sentinels; `sentinel auth-pass <master> <pass>` (SENTINEL SET) is what
it sends to the monitored nodes. Failed AUTHs are braked per source address (xcache/authbrake.py).
"""

from __future__ import annotations

import hmac

from xcache.authbrake import BRAKE_ERROR, AuthBrake
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

    def open_session(self) -> bool:
        """Is a new session authenticated from the start (no requirepass)?"""
        return not self.cfg.requirepass

    def login(self, host: str, user: bytes, password: bytes) -> None:
        """Raise the error to answer, or return if user/password log the session in."""
        if not self.brake.allowed(host):
            raise Error(BRAKE_ERROR)
        expected = self.cfg.requirepass
        if user == b"default" and (not expected or hmac.compare_digest(password, expected.encode())):
            return
        self.brake.failed(host, user.decode(errors="replace"))
        raise WRONGPASS

    def auth_command(self, host: str, args: list[bytes]):
        """AUTH [user] password -> the reply; logs the session in when it is OK."""
        if not args or len(args) > 2:
            raise Error("ERR wrong number of arguments for 'auth' command") if not args else \
                Error("ERR syntax error")
        if len(args) == 1 and not self.cfg.requirepass:
            raise NO_PASSWORD
        self.login(host, args[0] if len(args) == 2 else b"default", args[-1])
        return OK

    def peer_password(self) -> str:
        """What this sentinel AUTHs with on the other sentinels."""
        return self.cfg.sentinel_pass or self.cfg.requirepass
