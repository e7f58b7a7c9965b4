"""The command table of the storage node: each data-type module registers its commands here.

A handler is `fn(c, args) -> reply`: c is the calling Client (c.db, c.engine, c.server), args the
arguments after the command name. It returns a reply value (see xcache.resp.encode), raises
xcache.resp.Error for an error reply, and may raise engine.WriteStall from engine.commit(), in
which case nothing was written and the server retries the whole command later.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from xcache.numbers import MAX_INT as MAX_INT  # re-exported to the data-type modules
from xcache.numbers import MIN_INT as MIN_INT
from xcache.numbers import string2ll
from xcache.resp import Error
from xcache.store.access import NOTOUCH_COMMANDS


@dataclass(slots=True)
class Command:
    name: str
    handler: Callable
    arity: int  # Redis convention: counts the name; -N means at least N
    flags: frozenset
    first_key: int
    last_key: int
    step: int
    write: bool
    notouch: bool = False  # looks at keys without using them (access.py)
    # INFO commandstats / latencystats (reset by CONFIG RESETSTAT)
    calls: int = 0
    nsec: int = 0
    failed_calls: int = 0
    rejected_calls: int = 0
    histogram: dict = field(default_factory=dict)  # latency.bucket(nsec) -> calls
    # a container's subcommands (client|list...): their own stats and names (cmdstats.py)
    subs: dict | None = None

    def keys(self, argv: list[bytes]) -> list[bytes]:
        """The key arguments of argv (argv includes the command name)."""
        if self.first_key <= 0:
            return []
        last = self.last_key if self.last_key >= 0 else len(argv) + self.last_key
        return argv[self.first_key : last + 1 : self.step]


COMMANDS: dict[bytes, Command] = {}


def command(name: str, arity: int, flags: str = "", first: int = 1, last: int = 1, step: int = 1):
    """Register a handler under name (case-insensitive)."""
    flagset = frozenset(flags.split())

    def register(fn: Callable) -> Callable:
        COMMANDS[name.lower().encode()] = Command(name.lower(), fn, arity, flagset, first, last, step,
                                                  "write" in flagset, name.lower() in NOTOUCH_COMMANDS)
        return fn

    return register


# --- argument helpers shared by the data-type modules ---------------------------------------

SYNTAX_ERROR = Error("ERR syntax error")
NOT_INTEGER = Error("ERR value is not an integer or out of range")
NOT_FLOAT = Error("ERR value is not a valid float")
NOT_POSITIVE = Error("ERR value is out of range, must be positive")
OVERFLOW = Error("ERR increment or decrement would overflow")
NO_SUCH_KEY = Error("ERR no such key")


def parse_int(raw: bytes, error: Error = NOT_INTEGER) -> int:
    """Parse a 64-bit signed integer the way Redis's string2ll does (no spaces, '+' or '_')."""
    value = string2ll(raw)
    if value is None:
        raise error
    return value


def parse_int_at_least(raw: bytes, minimum: int, error: Error) -> int:
    """parse_int, refusing a value below minimum with the same error (Redis's "ERR numkeys
    should be greater than 0", "ERR LIMIT can't be negative"... answer both)."""
    value = parse_int(raw, error)
    if value < minimum:
        raise error
    return value


def parse_c_int(raw: bytes) -> int:
    """Like Redis's getIntFromObjectOrReply: a 64-bit integer that must also fit a C int."""
    value = parse_int(raw)
    if not -(1 << 31) <= value < 1 << 31:
        raise Error("ERR value is out of range, value must between -2147483648 and 2147483647")
    return value


def parse_positive_int(raw: bytes, what: str) -> int:
    value = parse_int(raw)
    if value < 0:
        raise Error(f"ERR {what} is out of range, must be positive")
    return value


def wrong_arity(name: str) -> Error:
    return Error(f"ERR wrong number of arguments for '{name}' command")
