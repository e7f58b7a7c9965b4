"""Redis 7's checks on a container command's subcommand (OBJECT ENCODING, CONFIG GET...), and
its HELP reply (help_reply, from xcache/resp/help.py so the proxy can share it).

Redis looks subcommands up before running the handler: a known one with the wrong number of
arguments gets "wrong number of arguments for 'object|encoding' command", an unknown one
"unknown subcommand 'x'. Try OBJECT HELP."; arguments a handler refuses after that get
"unknown subcommand or wrong number of arguments for 'x'". The arities are Redis's own (data/redis7_commands.json,
the COMMAND INFO table); a subcommand Redis does not have is left to the handler.
"""

from __future__ import annotations

import functools
import json
from functools import cache
from pathlib import Path

from xcache.resp import Error
from xcache.resp.help import help_reply as help_reply  # re-exported for the store's commands

DATA = Path(__file__).resolve().parent / "data"


@cache
def _arities() -> dict[str, dict[bytes, int]]:
    out: dict[str, dict[bytes, int]] = {}
    for entry in json.loads((DATA / "redis7_commands.json").read_text())["info"]:
        subs = entry[9] if len(entry) > 9 and isinstance(entry[9], list) else []
        for sub in subs:
            container, name = sub[0].split("|", 1)
            out.setdefault(container, {})[name.encode()] = sub[1]
    return out


def unknown_subcommand(container: str, sub: bytes) -> Error:
    """A handler's reply to a subcommand it does not serve: Redis's lookup text for one Redis
    does not have, its handler's fallback (the name as typed) for one whose arguments it refused."""
    text = sub.decode(errors="replace")
    if sub.lower() in _arities().get(container.lower(), {}):
        return Error(f"ERR unknown subcommand or wrong number of arguments for '{text[:128]}'. "
                     f"Try {container.upper()} HELP.")
    return Error(f"ERR unknown subcommand '{text[:128]}'. Try {container.upper()} HELP.")


# container -> subcommands the node serves beyond Redis 7.0's (filled by @subcommands)
EXTRAS: dict[str, frozenset[bytes]] = {}


def lookup_error(container: str, args: list[bytes]) -> Error | None:
    """Redis's command-lookup error for a subcommand of a container registered with
    @subcommands: unknown, or known with the wrong number of arguments. Redis gives it before
    running (or queueing, in MULTI) the command; the server may call this at queueing time."""
    extras = EXTRAS.get(container)
    if extras is None or not args:
        return None
    sub = args[0].lower()
    arity = _arities().get(container, {}).get(sub)
    if arity is None:
        return None if sub in extras else unknown_subcommand(container, args[0])
    n = len(args) + 1
    if n != arity if arity > 0 else n < -arity:
        return Error(f"ERR wrong number of arguments for '{container}|"
                     f"{sub.decode(errors='replace')}' command")
    return None


def subcommands(container: str, extra: tuple[str, ...] = ()):
    """Decorate a container command's handler (below @command) with Redis's subcommand lookup;
    extra: subcommands it serves that Redis 7.0 does not have."""
    EXTRAS[container] = frozenset(e.encode() for e in extra)

    def wrap(fn):
        @functools.wraps(fn)
        def handler(c, args):
            error = lookup_error(container, args)
            if error is not None:
                raise error
            return fn(c, args)
        return handler
    return wrap


def parse_subcommand(cmd: str, arity: dict[bytes, int], args: list[bytes]) -> bytes:
    """The upper-cased subcommand in args[0] of a command with its own table (FUNCTION, XINFO,
    XGROUP...), checked against its arity (Redis's convention: n is exactly n words with the
    command's own, -n at least n)."""
    sub = args[0].upper()
    want = arity.get(sub)
    if want is None:
        raise Error(f"ERR unknown subcommand '{args[0].decode(errors='replace')[:128]}'. "
                    f"Try {cmd.upper()} HELP.")
    n = len(args) + 1
    if (want > 0 and n != want) or n < -want:
        raise Error(f"ERR wrong number of arguments for '{cmd}|{sub.decode().lower()}' command")
    return sub
