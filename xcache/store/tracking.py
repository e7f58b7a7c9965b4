"""CLIENT TRACKING: server-assisted client-side caching, as Redis 7.

Default mode remembers which keys each tracking client read; a write to such a key sends that
client an invalidation once (RESP3: a `>2 invalidate [key]` push on its own connection; with
REDIRECT, or in RESP2, a message on `__redis__:invalidate` to the redirect client). BCAST mode
sends invalidations for every written key under the client's prefixes. OPTIN/OPTOUT with
CLIENT CACHING yes/no, and NOLOOP, behave as in Redis. FLUSHDB/FLUSHALL invalidate everything
(a null key list). Keys removed by expiry are not announced (a limitation).
"""

from __future__ import annotations

import asyncio

from xcache import trackingopts
from xcache.resp import OK, Error, Many, Push, encode
from xcache.trackingopts import TrackingOptions

INVALIDATE_CHANNEL = b"__redis__:invalidate"


class ClientTracking(TrackingOptions):
    __slots__ = ()

    def read(self, c, cmd, argv: list[bytes]) -> None:
        """A read command ran: remember its keys (default mode, subject to OPTIN/OPTOUT)."""
        if cmd.name == "client":
            return  # CLIENT CACHING applies to the command after it
        caching, self.caching = self.caching, None
        if "readonly" in cmd.flags and self.wants(caching):
            self.remember(c, cmd.keys(argv))

    def remember(self, c, keys: list[bytes]) -> None:
        table = c.server.tracking
        for key in keys:
            table.keys.setdefault(key, set()).add(c.id)
        table.schedule_limit(c.server)


def script_read(c) -> None:
    """A script ran a read command: its caller caches every key the script declared (Redis 7.0;
    EVAL_RO and FCALL_RO themselves track nothing, only the reads they run)."""
    run = getattr(c, "script_run", None)  # c: the script's client
    caller = run.caller if run is not None else None
    t = caller.tracking if caller is not None else None
    if t is not None and t.wants(t.caching):
        t.remember(caller, run.keys)


class TrackingTable:
    """The server's side: which clients to tell when a key changes."""

    def __init__(self):
        self.keys: dict[bytes, set[int]] = {}
        self.bcast: dict[bytes, set[int]] = {}  # prefix -> client ids
        # prefix -> {key changed since the last broadcast: the client that changed it}
        self.changed: dict[bytes, dict[bytes, object]] = {}
        self.flush_scheduled = False
        self.limit_scheduled = False
        self.limit_runs = 0

    def schedule_limit(self, server) -> None:
        """Check tracking-table-max-keys once the commands at hand have run (beforeSleep)."""
        limit = server.settings.int("tracking-table-max-keys")
        if limit and len(self.keys) > limit and not self.limit_scheduled:
            self.limit_scheduled = True
            asyncio.get_running_loop().call_soon(self.limit, server)

    def limit(self, server) -> None:
        """trackingLimitUsedSlots: invalidate keys (their clients are told) until the table is
        within tracking-table-max-keys; the effort grows by 100 keys per run while it is not."""
        self.limit_scheduled = False
        limit = server.settings.int("tracking-table-max-keys")
        effort = 100 * (self.limit_runs + 1)
        while limit and len(self.keys) > limit and effort > 0:
            effort -= 1
            self.invalidate(server, None, [next(iter(self.keys))], bcast=False)
        if limit and len(self.keys) > limit:
            self.limit_runs += 1
            self.schedule_limit(server)
        else:
            self.limit_runs = 0

    def total_keys(self) -> int:
        return len(self.keys)

    def total_items(self) -> int:
        return sum(len(ids) for ids in self.keys.values())

    def total_prefixes(self) -> int:
        return len(self.bcast)

    def forget_prefixes(self, client_id: int) -> None:
        """disableTracking: the client leaves its BCAST prefixes."""
        for prefix in [p for p, ids in self.bcast.items() if client_id in ids]:
            ids = self.bcast[prefix]
            ids.discard(client_id)
            if not ids:
                del self.bcast[prefix]
                self.changed.pop(prefix, None)

    def forget(self, client_id: int) -> None:
        for table in (self.keys, self.bcast):
            for key in [k for k, ids in table.items() if client_id in ids]:
                ids = table[key]
                ids.discard(client_id)
                if not ids:
                    del table[key]
                    if table is self.bcast:
                        self.changed.pop(key, None)

    def invalidate(self, server, origin, keys: list[bytes], bcast: bool = True) -> None:
        """trackingInvalidateKey for each key (origin: the writing client, None for expiry)."""
        for key in keys:
            if bcast and self.bcast:
                self._remember(server, origin, key)
            ids = self.keys.pop(key, None)
            if not ids:
                continue
            for cid in ids:
                target = server.clients.get(cid)
                if target is None or target.tracking is None or target.tracking.bcast:
                    continue
                if target.tracking.noloop and target is origin:
                    continue
                _send(server, target, [key], origin)

    def _remember(self, server, origin, key: bytes) -> None:
        """BCAST: note the key under its prefixes; the clients hear of it once the event loop
        has run the commands at hand (Redis's beforeSleep), all keys of a prefix in one message."""
        for prefix in self.bcast:
            if key.startswith(prefix):
                self.changed.setdefault(prefix, {})[key] = origin
        if not self.flush_scheduled:
            self.flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.broadcast, server)

    def broadcast(self, server) -> None:
        """trackingBroadcastInvalidationMessages."""
        self.flush_scheduled = False
        changed, self.changed = self.changed, {}
        for prefix, keys in changed.items():
            ordered = sorted(keys)  # a radix tree's order
            for cid in list(self.bcast.get(prefix, ())):
                target = server.clients.get(cid)
                if target is None or target.tracking is None:
                    continue
                mine = [k for k in ordered if not (target.tracking.noloop and keys[k] is target)]
                if mine:
                    _send(server, target, mine, None)

    def invalidate_all(self, server, origin) -> None:
        """trackingInvalidateKeysOnFlush: every tracking client hears a null "all keys"."""
        for c in list(server.clients.values()):
            if c.tracking is not None:
                _send(server, c, None, origin)
        self.keys.clear()


def _send(server, c, keys: list[bytes] | None, origin) -> None:
    """sendTrackingMessage: to c, or to the client it redirects to. A message to the client
    running the command waits for that command's reply (Redis's tracking_pending_keys)."""
    if origin is None:  # expiry: a message to the client whose command met the key waits too
        origin = server.expiring_for
    redirect = c.tracking.redirect
    if redirect and redirect != c.id:
        target = server.clients.get(redirect)
        if target is None:
            c.tracking.broken = True
            if c.resp == 3:
                _push(c, Push([b"tracking-redir-broken", redirect]), origin)
            return
        if target.resp == 3:
            _push(target, Push([b"invalidate", keys]), origin)
        elif target.channels or target.patterns or target.shard_channels:
            _push(target, Push([b"message", INVALIDATE_CHANNEL, keys]), origin)
        return
    if c.resp == 3:
        _push(c, Push([b"invalidate", keys]), origin)


def _push(target, message: Push, origin) -> None:
    if target is origin:
        if target.tracking_pending is None:
            target.tracking_pending = []
        target.tracking_pending.append(message)
    else:
        target.send_raw(encode(message, target.resp))


def pending_after(c, reply):
    """The reply followed by the invalidations of the client's own command."""
    pending, c.tracking_pending = c.tracking_pending, None
    return Many([reply, *pending])


_READS_SOME: dict[str, bool] = {}  # command -> one of its key specs is read-only (RO)


def _written_keys(cmd, argv: list[bytes]) -> list[bytes]:
    """The keys a write command may modify: its keys but those of read-only key specs
    (SUNIONSTORE dst a b modifies dst only), as Redis signals modified keys."""
    from xcache.store.cmdtable import keys_with_flags
    from xcache.store.notify_events import store_keys

    reads = _READS_SOME.get(cmd.name)
    if reads is None:
        probe = [cmd.name.encode()] + [b"1"] * max(abs(cmd.arity) - 1, 3)
        try:
            reads = any("RO" in flags for _, flags in keys_with_flags(probe))
        except Error:
            reads = True  # keys it could not place: look at each call
        # numkeys commands (LMPOP...) have no fixed key range: their specs place the keys
        reads = _READS_SOME[cmd.name] = reads or cmd.first_key <= 0 or cmd.name in (
            "sort", "georadius", "georadiusbymember")
    if not reads:
        return cmd.keys(argv)
    try:
        keys = [k for k, flags in keys_with_flags(argv) if "RO" not in flags]
    except Error:
        return cmd.keys(argv)
    extra = store_keys(argv[0].lower(), argv)  # SORT ... STORE has no key spec for it
    return keys + [k for k in extra if k not in keys]


def after_write(server, c, cmd, argv: list[bytes]) -> None:
    table = server.tracking
    origin = getattr(c, "woff_owner", None) or c  # a script's writes are its caller's
    if cmd.name in ("flushall", "flushdb"):
        table.invalidate_all(server, origin)
    elif c.propagate is None:
        table.invalidate(server, origin, _written_keys(cmd, argv))
    elif c.propagate:  # what it replicates names the keys it wrote (LMPOP 2 a b -> LPOP b)
        after_served(server, origin, c.propagate)


def after_served(server, c, cmds: list) -> None:
    """Invalidate the keys of what a command replicates (cmds: one argv or several): a blocked
    command served later, or a command replicated in another form."""
    from xcache.store.commands import COMMANDS

    for argv in cmds if type(cmds[0]) is list else [cmds]:
        cmd = COMMANDS.get(argv[0].lower())
        if cmd is not None:
            server.tracking.invalidate(server, c, _written_keys(cmd, argv))


def tracking_command(c, args: list[bytes]):
    """CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]."""
    server = c.server
    try:
        new = trackingopts.parse(args, c.tracking, server.clients.__contains__, ClientTracking)
    except ValueError as exc:
        raise Error(str(exc)) from None
    if new is None:
        if c.tracking is not None and server.tracking is not None:
            server.tracking.forget_prefixes(c.id)  # its cached keys expire lazily, as Redis's
        c.tracking = None
        return OK
    if server.tracking is None:
        server.tracking = TrackingTable()
    for prefix in new.prefixes:
        server.tracking.bcast.setdefault(prefix, set()).add(c.id)
    c.tracking = new
    return OK


def caching_command(c, args: list[bytes]):
    try:
        trackingopts.set_caching(c.tracking, args[0])
    except ValueError as exc:
        raise Error(str(exc)) from None
    return OK


def tracking_info(c):
    """CLIENT TRACKINGINFO, in Redis's order of flags."""
    from xcache.resp import Map, Set

    t = c.tracking
    if t is None:
        return Map([b"flags", Set([b"off"]), b"redirect", -1, b"prefixes", []])
    return Map([b"flags", Set(t.info_flags()), b"redirect", t.redirect, b"prefixes", sorted(t.prefixes)])
