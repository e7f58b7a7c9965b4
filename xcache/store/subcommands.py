"""Redis 7's checks on a container command's subcommand (OBJECT ENCODING, CONFIG GET...).

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


def subcommands(container: str):
    """Decorate a container command's handler (below @command) with Redis's arity check."""
    def wrap(fn):
        @functools.wraps(fn)
        def handler(c, args):
            if args:
                sub = args[0].lower()
                arity = _arities().get(container, {}).get(sub)
                n = len(args) + 1
                if arity is not None and (n != arity if arity > 0 else n < -arity):
                    raise Error(f"ERR wrong number of arguments for '{container}|"
                                f"{sub.decode(errors='replace')}' command")
            return fn(c, args)
        return handler
    return wrap
