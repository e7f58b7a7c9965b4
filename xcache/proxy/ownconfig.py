"""CONFIG parameters the proxy keeps for itself. `timeout` closes a client connection idle that
many seconds: through the proxy that is the proxy's session (`idle_timeout_ms`), while on a
node it would close the proxy's own pooled connections. So CONFIG SET timeout sets the proxy's
value in every worker (uplink.py) and CONFIG GET shows it; the other parameters go to the
nodes as before."""

from __future__ import annotations

from xcache.numbers import string2ll
from xcache.proxy.protocol import items, text
from xcache.proxy.replies import error_line

OWN = frozenset({b"timeout"})
INT_MAX = (1 << 31) - 1


def split_set(argv: list[bytes]) -> tuple[bytes | None, dict, list[bytes] | None]:
    """CONFIG SET's own parameters: (error line, {"idle_timeout_ms": ...}, the CONFIG SET the
    nodes still get, or None when nothing is left for them)."""
    own: dict = {}
    rest = [argv[0], argv[1]]
    for name, value in zip(argv[2::2], argv[3::2], strict=True):
        if name.lower() not in OWN:
            rest += [name, value]
            continue
        if "idle_timeout_ms" in own:
            return _failed(name, "duplicate parameter"), {}, None
        seconds = string2ll(value)
        if seconds is None:
            return _failed(name, "argument couldn't be parsed into an integer"), {}, None
        if not 0 <= seconds <= INT_MAX:
            return _failed(name, f"argument must be between 0 and {INT_MAX} inclusive"), {}, None
        own["idle_timeout_ms"] = seconds * 1000
    return None, own, rest if len(rest) > 2 else None


def _failed(name: bytes, why: str) -> bytes:
    return error_line(f"ERR CONFIG SET failed (possibly related to argument "
                      f"'{name.decode(errors='replace')}') - {why}")


def apply(cfg, own: dict) -> None:
    for key, value in own.items():
        setattr(cfg, key, value)


def patch_get(reply: bytes, cfg, resp3: bool) -> bytes:
    """A node's CONFIG GET reply with the proxy's own values in place of the node's."""
    parts = items(reply)
    if not parts:
        return reply
    value = b"%d" % (cfg.idle_timeout_ms // 1000)
    for i in range(0, len(parts) - 1, 2):
        if text(parts[i]) == b"timeout":
            parts[i + 1] = b"$%d\r\n%b\r\n" % (len(value), value)
    head = b"%%%d\r\n" % (len(parts) // 2) if resp3 and reply[:1] == b"%" else b"*%d\r\n" % len(parts)
    return head + b"".join(parts)
