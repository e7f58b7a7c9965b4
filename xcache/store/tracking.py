"""CLIENT TRACKING: server-assisted client-side caching, as Redis 7.

Default mode remembers which keys each tracking client read; a write to such a key sends that
client an invalidation once (RESP3: a `>2 invalidate [key]` push on its own connection; with
REDIRECT, or in RESP2, a message on `__redis__:invalidate` to the redirect client). BCAST mode
sends invalidations for every written key under the client's prefixes. OPTIN/OPTOUT with
CLIENT CACHING yes/no, and NOLOOP, behave as in Redis. FLUSHDB/FLUSHALL invalidate everything
(a null key list). Keys removed by expiry are not announced (a limitation).
"""

from __future__ import annotations

from xcache.resp import OK, Error, Push, encode
from xcache.store.commands import parse_int

INVALIDATE_CHANNEL = b"__redis__:invalidate"


class ClientTracking:
    __slots__ = ("redirect", "bcast", "prefixes", "optin", "optout", "noloop", "caching")

    def __init__(self):
        self.redirect = 0
        self.bcast = False
        self.prefixes: list[bytes] = []
        self.optin = self.optout = self.noloop = False
        self.caching: bool | None = None  # CLIENT CACHING yes/no for the next command

    def read(self, c, cmd, argv: list[bytes]) -> None:
        """A read command ran: remember its keys (default mode, subject to OPTIN/OPTOUT)."""
        if cmd.name == "client":
            return  # CLIENT CACHING applies to the command after it
        caching, self.caching = self.caching, None
        if self.bcast or "readonly" not in cmd.flags:
            return
        if (self.optin and not caching) or (self.optout and caching is False):
            return
        table = c.server.tracking
        for key in cmd.keys(argv):
            table.keys.setdefault(key, set()).add(c.id)


class TrackingTable:
    """The server's side: which clients to tell when a key changes."""

    def __init__(self):
        self.keys: dict[bytes, set[int]] = {}
        self.bcast: dict[bytes, set[int]] = {}  # prefix -> client ids

    def total_keys(self) -> int:
        return len(self.keys)

    def total_items(self) -> int:
        return sum(len(ids) for ids in self.keys.values())

    def total_prefixes(self) -> int:
        return len(self.bcast)

    def forget(self, client_id: int) -> None:
        for table in (self.keys, self.bcast):
            for key in [k for k, ids in table.items() if client_id in ids]:
                ids = table[key]
                ids.discard(client_id)
                if not ids:
                    del table[key]

    def invalidate(self, server, origin, keys: list[bytes]) -> None:
        for key in keys:
            ids = self.keys.pop(key, None)
            if ids:
                for cid in ids:
                    _notify(server, cid, origin, [key])
            if self.bcast:
                for prefix, pids in self.bcast.items():
                    if key.startswith(prefix):
                        for cid in pids:
                            _notify(server, cid, origin, [key])

    def invalidate_all(self, server, origin) -> None:
        ids = set().union(*self.keys.values(), *self.bcast.values()) if (self.keys or self.bcast) else set()
        self.keys.clear()
        for cid in ids:
            _notify(server, cid, origin, None)


def _notify(server, cid: int, origin, keys: list[bytes] | None) -> None:
    client = server.clients.get(cid)
    if client is None or client.tracking is None:
        return
    if client.tracking.noloop and client is origin:
        return
    target = client
    if client.tracking.redirect:
        target = server.clients.get(client.tracking.redirect)
        if target is None:
            return
    if target.resp == 3:
        target.send_raw(encode(Push([b"invalidate", keys]), 3))
    elif INVALIDATE_CHANNEL in target.channels:
        target.send_raw(encode(Push([b"message", INVALIDATE_CHANNEL, keys]), 2))


def after_write(server, c, cmd, argv: list[bytes]) -> None:
    table = server.tracking
    if cmd.name in ("flushall", "flushdb"):
        table.invalidate_all(server, c)
    else:
        table.invalidate(server, c, cmd.keys(argv))


def tracking_command(c, args: list[bytes]):
    """CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]."""
    server = c.server
    mode = args[0].upper()
    if mode not in (b"ON", b"OFF"):
        raise Error("ERR syntax error")
    new = ClientTracking()
    i = 1
    while i < len(args):
        opt = args[i].upper()
        if opt == b"REDIRECT" and i + 1 < len(args):
            if new.redirect:
                raise Error("ERR A client can only redirect to a single other client")
            new.redirect = parse_int(args[i + 1])
            i += 2
        elif opt == b"PREFIX" and i + 1 < len(args):
            new.prefixes.append(args[i + 1])
            i += 2
        elif opt in (b"BCAST", b"OPTIN", b"OPTOUT", b"NOLOOP"):
            setattr(new, opt.decode().lower(), True)
            i += 1
        else:
            raise Error("ERR syntax error")
    if mode == b"OFF":
        if c.tracking is not None and server.tracking is not None:
            server.tracking.forget(c.id)
        c.tracking = None
        return OK
    if new.redirect and new.redirect != c.id and new.redirect not in server.clients:
        raise Error("ERR The client ID you want redirect to does not exist")
    if new.prefixes and not new.bcast:
        raise Error("ERR PREFIX option requires BCAST mode to be enabled")
    if new.optin and new.optout:
        raise Error("ERR You can't specify both OPTIN mode and OPTOUT mode")
    if (new.optin or new.optout) and new.bcast:
        raise Error("ERR OPTIN and OPTOUT are not compatible with BCAST")
    for a in new.prefixes:
        for b in new.prefixes:
            if a is not b and a != b and (a.startswith(b) or b.startswith(a)):
                short, long_ = (a, b) if len(a) <= len(b) else (b, a)
                raise Error(f"ERR Prefix '{short.decode(errors='replace')}' overlaps with another provided prefix '{long_.decode(errors='replace')}'. Prefixes for a single client must not overlap.")
    if c.tracking is not None and (c.tracking.optin != new.optin or c.tracking.optout != new.optout
                                   or c.tracking.bcast != new.bcast):
        raise Error("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.")
    if server.tracking is None:
        server.tracking = TrackingTable()
    if c.tracking is not None:
        server.tracking.forget(c.id)
    c.tracking = new
    if new.bcast:
        for prefix in new.prefixes or [b""]:
            server.tracking.bcast.setdefault(prefix, set()).add(c.id)
    return OK


def caching_command(c, args: list[bytes]):
    t = c.tracking
    if t is None or not (t.optin or t.optout):
        raise Error("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled")
    value = args[0].upper()
    if value == b"YES" and t.optin:
        t.caching = True
    elif value == b"NO" and t.optout:
        t.caching = False
    elif value in (b"YES", b"NO"):
        mode = "OPTIN" if value == b"YES" else "OPTOUT"
        raise Error(f"ERR CLIENT CACHING {value.decode().upper()} is only valid when tracking is enabled in {mode} mode.")
    else:
        raise Error("ERR syntax error")
    return OK


def tracking_info(c):
    from xcache.resp import Map, Set

    t = c.tracking
    if t is None:
        return Map([b"flags", Set([b"off"]), b"redirect", -1, b"prefixes", []])
    flags = [b"on"] + [f.encode() for f in ("bcast", "optin", "optout", "noloop") if getattr(t, f)]
    if t.caching is True:
        flags.append(b"caching-yes")
    elif t.caching is False:
        flags.append(b"caching-no")
    if t.redirect and t.redirect not in c.server.clients:
        flags.append(b"broken_redirect")
    return Map([b"flags", Set(flags), b"redirect", t.redirect or -1, b"prefixes", list(t.prefixes)])
