"""A container command's subcommand (FUNCTION LOAD, XINFO STREAM, SLOWLOG GET...) checked the way
Redis 7 checks it, with its error strings byte for byte."""

from __future__ import annotations

from xcache.resp import Error


def parse_subcommand(cmd: str, arity: dict[bytes, int], args: list[bytes]) -> bytes:
    """The upper-cased subcommand in args[0], checked against its arity (Redis's convention: n is
    exactly n words with the command's own, -n at least n)."""
    sub = args[0].upper()
    want = arity.get(sub)
    if want is None:
        raise Error(f"ERR unknown subcommand '{args[0].decode(errors='replace')[:128]}'. "
                    f"Try {cmd.upper()} HELP.")
    n = len(args) + 1
    if (want > 0 and n != want) or n < -want:
        raise Error(f"ERR wrong number of arguments for '{cmd}|{sub.decode().lower()}' command")
    return sub


def unknown_subcommand(cmd: str, sub: bytes) -> Error:
    """The older combined error of commands without a subcommand table (SLOWLOG, CONFIG...)."""
    return Error(f"ERR unknown subcommand or wrong number of arguments for "
                 f"'{sub.decode(errors='replace')}'. Try {cmd} HELP.")
