"""Pub/sub through the proxy: channels routed by slot, patterns on every group.

PUBLISH/SPUBLISH go to the group owning the channel name's slot (as a key would). A session that
subscribes gets a Pinned connection per group it listens on (in its protocol), with a sink: the
nodes' confirmations are counted and swallowed, messages are forwarded as the node sent them
(an array in RESP2, a push in RESP3). A channel is subscribed on its group; a pattern on every
group (a message is published on exactly one group, so it arrives once). The client's
confirmations are built by the proxy, once the nodes confirmed (so a PUBLISH sent after the
client saw its confirmation is delivered, and one sent after an unsubscribe confirmation is not,
nor counted by PUBSUB NUMPAT/NUMSUB), with the session's own subscription counts.
"""

from __future__ import annotations

from xcache.proxy.backend import Group
from xcache.proxy.pending import Request
from xcache.proxy.pinned import Pinned
from xcache.proxy.protocol import Push, encode, items, text
from xcache.proxy.router import slot_of

# command -> (subscription set, confirmation kind)
_SUB = {"SUBSCRIBE": ("channels", b"subscribe"), "PSUBSCRIBE": ("patterns", b"psubscribe"),
        "SSUBSCRIBE": ("shard", b"ssubscribe")}
_UNSUB = {"UNSUBSCRIBE": ("channels", b"unsubscribe"), "PUNSUBSCRIBE": ("patterns", b"punsubscribe"),
          "SUNSUBSCRIBE": ("shard", b"sunsubscribe")}
_ACKS = {b"subscribe", b"psubscribe", b"ssubscribe", b"unsubscribe", b"punsubscribe",
         b"sunsubscribe"}
_MESSAGES = {b"message": "channels", b"pmessage": "patterns", b"smessage": "shard"}
# Their replies are pushes: CLIENT REPLY OFF/SKIP does not silence them (Redis's CLIENT_PUSHING).
PUSH_REPLIES = {"SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE"}
RESP2_ALLOWED = {"SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE",
                 "SUNSUBSCRIBE", "PING", "QUIT", "RESET"}


class Subs:
    """One session's subscriptions and its per-group connections."""

    __slots__ = ("channels", "patterns", "shard", "conns", "acks")

    def __init__(self):
        self.channels: dict[bytes, None] = {}
        self.patterns: dict[bytes, None] = {}
        self.shard: dict[bytes, None] = {}
        self.conns: dict[int, Pinned] = {}
        self.acks: dict[Pinned, list] = {}  # per connection: [request, confirmations left] FIFO

    def count(self, which: str) -> int:
        return len(self.shard) if which == "shard" else len(self.channels) + len(self.patterns)

    def total(self) -> int:
        return len(self.channels) + len(self.patterns) + len(self.shard)


class Subscribe(Request):
    """Answered with the proxy's confirmations once every node confirmed."""

    __slots__ = ("left", "ready")

    def ack(self) -> None:
        self.left -= 1
        if self.left == 0:
            self.complete(self.ready)


def groups_of(ctx) -> list[Group]:
    """Every group owning a slot, in id order."""
    seen: dict[int, Group] = {}
    for r in ctx.slots:
        g = r if r.__class__ is Group else getattr(r, "target", None)
        if g is not None and g.id not in seen:
            seen[g.id] = g
    return [seen[i] for i in sorted(seen)]


def _group(ctx, channel: bytes) -> Group | None:
    r = ctx.slots[slot_of(channel)]
    return r if r.__class__ is Group else getattr(r, "target", None)


def handle(session, spec, argv: list[bytes], t0: float) -> None:
    name = spec.name
    if name == "PUBSUB":
        from xcache.proxy import keyspace

        keyspace.pubsub_command(session, spec, argv, t0)
        return
    subs = session.subs
    if subs is None:
        if name not in _SUB:  # nothing to leave: one confirmation with a null channel
            which, kind = _UNSUB[name]
            chans = argv[1:] or [None]
            session.answer(spec, b"".join(encode(Push([kind, ch, 0]), session.resp3) for ch in chans), t0)
            return
        ctx = session.ctx
        if session.refused_over(spec, t0, ctx.subscribers, "max_pubsub_sessions", "max_pubsub",
                                "subscribed"):
            return
        ctx.subscribers += 1
        subs = session.subs = Subs()
    if name in _SUB:
        _subscribe(session, subs, spec, argv, t0)
    else:
        _unsubscribe(session, subs, spec, argv, t0)


def _conn(session, subs: Subs, group: Group) -> Pinned:
    conn = subs.conns.get(group.id)
    if conn is None or conn.closed:
        conn = subs.conns[group.id] = Pinned(session, group, sink=lambda c, r: _received(session, c, r))
        subs.acks[conn] = []
    return conn


def _subscribe(session, subs: Subs, spec, argv: list[bytes], t0: float) -> None:
    which, kind = _SUB[spec.name]
    have = getattr(subs, which)
    ctx = session.ctx
    per_group: dict[int, tuple[Group, list[bytes]]] = {}
    replies = []
    for ch in argv[1:]:
        if ch not in have:
            have[ch] = None
            targets = groups_of(ctx) if which == "patterns" else [_group(ctx, ch)]
            for g in targets:
                if g is not None:
                    per_group.setdefault(g.id, (g, []))[1].append(ch)
        replies.append(Push([kind, ch, subs.count(which)]))
    session.special = session.subscribed_resp2()
    ready = b"".join(encode(r, session.resp3) for r in replies)
    if not per_group:
        session.answer(spec, ready, t0)
        return
    _confirmed_by_nodes(session, subs, spec, argv, t0, ready,
                        [(_conn(session, subs, g), chans) for g, chans in per_group.values()])


def _confirmed_by_nodes(session, subs: Subs, spec, argv: list[bytes], t0: float, ready: bytes,
                        sends: list) -> None:
    """Send the (un)subscriptions to their nodes; the client's confirmation (ready) is released
    once every node has confirmed its share."""
    session.drain_routed()
    req = Subscribe(session, spec, None, 0, t0, argv)
    req.ready = ready
    req.left = 0
    session.pending.append(req)
    for conn, chans in sends:
        conn.command([spec.name.encode(), *chans])
        subs.acks[conn].append([req, len(chans)])
        req.left += 1


def _unsubscribe(session, subs: Subs, spec, argv: list[bytes], t0: float) -> None:
    which, kind = _UNSUB[spec.name]
    have = getattr(subs, which)
    ctx = session.ctx
    chans = argv[1:] or list(have)
    replies = []
    per_group: dict[int, list[bytes]] = {}
    for ch in chans:
        if ch in have:
            del have[ch]
            targets = subs.conns if which == "patterns" else [getattr(_group(ctx, ch), "id", None)]
            for gid in targets:
                if gid in subs.conns:
                    per_group.setdefault(gid, []).append(ch)
        replies.append(Push([kind, ch, subs.count(which)]))
    if not replies:  # nothing to leave: one confirmation with a null channel, like Redis
        replies.append(Push([kind, None, subs.count(which)]))
    session.special = session.subscribed_resp2()
    ready = b"".join(encode(r, session.resp3) for r in replies)
    if not per_group:
        session.answer(spec, ready, t0)
        _release_if_idle(session, subs)
        return
    # Confirmed once the nodes confirmed, as subscriptions are: a PUBLISH the client sends next
    # must not reach it, and PUBSUB NUMPAT/NUMSUB must not count it any more.
    _confirmed_by_nodes(session, subs, spec, argv, t0, ready,
                        [(subs.conns[gid], cs) for gid, cs in per_group.items()])


def _release_if_idle(session, subs: Subs) -> None:
    if session.subs is subs and subs.total() == 0 and not any(subs.acks.values()):
        release(session)


def _received(session, conn: Pinned, reply: bytes) -> None:
    subs = session.subs
    if subs is None:
        return
    parts = items(reply)
    if not parts:
        return
    kind = (text(parts[0]) or b"").lower()
    if kind in _ACKS:
        fifo = subs.acks.get(conn)
        if fifo:
            head = fifo[0]
            head[1] -= 1
            if head[1] == 0:
                fifo.pop(0)
                head[0].ack()
                # not from inside this connection's read: release closes it
                session.ctx.loop.call_soon(_release_if_idle, session, subs)
        return
    which = _MESSAGES.get(kind)
    if which is None or len(parts) < 3:
        return  # unsubscribe confirmations, pongs: ours, not the client's
    if text(parts[1]) not in getattr(subs, which):
        return  # left already
    session.push(reply)


def release(session) -> None:
    """Close the session's pub/sub connections (no subscription left, RESET, or it closed)."""
    subs = session.subs
    if subs is None:
        return
    session.subs = None
    session.ctx.subscribers -= 1
    for conn in list(subs.conns.values()):
        conn.fail("subscriptions released")
    session.special = session.multi is not None


def lost(session, conn: Pinned) -> None:
    """A pub/sub connection failed (failover): its subscriptions are gone; say so and resubscribe
    them on the group's new master."""
    subs = session.subs
    if subs is None:
        return
    fifo = subs.acks.pop(conn, [])
    for req, _ in fifo:
        req.ack()
    for gid, c in list(subs.conns.items()):
        if c is conn:
            del subs.conns[gid]
    ctx = session.ctx
    ctx.loop.call_later(ctx.cfg.hold_retry_interval_ms / 1000, _resubscribe, session, subs, conn.group)


def _resubscribe(session, subs: Subs, lost_group: Group) -> None:
    if session.closed or session.subs is not subs:
        return
    ctx = session.ctx
    for which, name in (("channels", b"SUBSCRIBE"), ("patterns", b"PSUBSCRIBE"),
                        ("shard", b"SSUBSCRIBE")):
        for ch in getattr(subs, which):
            g = _group(ctx, ch) if which != "patterns" else None
            if which == "patterns" or (g is not None and g.id == lost_group.id):
                group = g or lost_group
                if group.removed or (g is None and ctx.groups.get(group.id) is not group):
                    continue
                new = _conn(session, subs, group)
                new.command([name, ch])
                subs.acks[new].append([_NoAck, 1])


class _NoAckType:
    def ack(self) -> None:
        pass


_NoAck = _NoAckType()
