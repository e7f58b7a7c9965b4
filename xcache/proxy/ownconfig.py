"""CONFIG parameters the proxy keeps for itself. `timeout` closes a client connection idle that
many seconds: through the proxy that is the proxy's session (`idle_timeout_ms`), while on a
node it would close the proxy's own pooled connections. `tracking-table-max-keys` bounds the
proxy's own CLIENT TRACKING table (tracking.py; the nodes track only the proxy's feeds). So
CONFIG SET of these sets the proxy's value in every worker (uplink.py) and CONFIG GET shows it;
the other parameters go to the nodes as before."""

from __future__ import annotations

from xcache.numbers import string2ll
from xcache.proxy.protocol import items, text
from xcache.proxy.replies import error_line

INT_MAX = (1 << 31) - 1
LONG_MAX = (1 << 63) - 1
# name -> (ProxyConfig field, its unit in the parameter's unit, largest value)
OWN = {b"timeout": ("idle_timeout_ms", 1000, INT_MAX),
       b"tracking-table-max-keys": ("tracking_table_max_keys", 1, LONG_MAX)}


def split_set(argv: list[bytes]) -> tuple[bytes | None, dict, list[bytes] | None]:
    """CONFIG SET's own parameters: (error line, {"idle_timeout_ms": ...}, the CONFIG SET the
    nodes still get, or None when nothing is left for them)."""
    own: dict = {}
    rest = [argv[0], argv[1]]
    for name, value in zip(argv[2::2], argv[3::2], strict=True):
        if name.lower() not in OWN:
            rest += [name, value]
            continue
        field, unit, largest = OWN[name.lower()]
        if field in own:
            return _failed(name, "duplicate parameter"), {}, None
        n = string2ll(value)
        if n is None:
            return _failed(name, "argument couldn't be parsed into an integer"), {}, None
        if not 0 <= n <= largest:
            return _failed(name, f"argument must be between 0 and {largest} inclusive"), {}, None
        own[field] = n * unit
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
    for i in range(0, len(parts) - 1, 2):
        own = OWN.get(text(parts[i]))
        if own is not None:
            field, unit, _ = own
            value = b"%d" % (getattr(cfg, field) // unit)
            parts[i + 1] = b"$%d\r\n%b\r\n" % (len(value), value)
    head = b"%%%d\r\n" % (len(parts) // 2) if resp3 and reply[:1] == b"%" else b"*%d\r\n" % len(parts)
    return head + b"".join(parts)
