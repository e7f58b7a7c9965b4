"""Pub/Sub: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH, PUBSUB, and the shard
channels (SSUBSCRIBE, SUNSUBSCRIBE, SPUBLISH: on a standalone node, a separate namespace).

Messages and confirmations are Push replies: arrays in RESP2, '>' pushes in RESP3 (where a
subscribed connection may run any command meanwhile).
"""

from __future__ import annotations

from functools import partial

from xcache.resp import Many, Push, encode
from xcache.store.commands import command
from xcache.store.glob import glob_match
from xcache.store.subcommands import help_reply, subcommands, unknown_subcommand


def _count(c) -> int:
    return len(c.channels) + len(c.patterns)


def _shard_count(c) -> int:
    return len(c.shard_channels)


def subscribed(c) -> bool:
    return bool(c.channels or c.patterns or c.shard_channels)


# The three namespaces: (subscribe command, unsubscribe command, the name of the set of its
# channels or patterns on the client and on the server, key spec of both commands).
_NAMESPACES = (
    ("subscribe", "unsubscribe", "channels", (0, 0, 0)),
    ("psubscribe", "punsubscribe", "patterns", (0, 0, 0)),
    ("ssubscribe", "sunsubscribe", "shard_channels", (1, -1, 1)),
)


def _subscribe(c, names: list[bytes], kind: bytes, space: str) -> Many:
    own, registry = getattr(c, space), getattr(c.server, space)
    count = _shard_count if space == "shard_channels" else _count
    out = Many()
    for name in names:
        if name not in own:
            own.add(name)
            registry.setdefault(name, set()).add(c)
        out.append(Push([kind, name, count(c)]))
    c.kind = "pubsub"
    return out


def _unsubscribe(c, names: list[bytes], kind: bytes, space: str) -> Many:
    own, registry = getattr(c, space), getattr(c.server, space)
    count = _shard_count if space == "shard_channels" else _count
    targets = names or sorted(own)
    if not targets:
        return Many([Push([kind, None, count(c)])])
    out = Many()
    for name in targets:
        if name in own:
            own.discard(name)
            subs = registry.get(name)
            if subs is not None:
                subs.discard(c)
                if not subs:
                    del registry[name]
        out.append(Push([kind, name, count(c)]))
    if not subscribed(c):
        c.kind = "normal"
    return out


for _sub, _unsub, _space, _keys in _NAMESPACES:
    command(_sub, -2, "pubsub noscript loading stale", *_keys)(
        partial(_subscribe, kind=_sub.encode(), space=_space))
    command(_unsub, -1, "pubsub noscript loading stale", *_keys)(
        partial(_unsubscribe, kind=_unsub.encode(), space=_space))


def _deliver(subs, message: Push) -> int:
    encoded = {}  # one encoding per protocol
    for sub in list(subs):
        data = encoded.get(sub.resp)
        if data is None:
            data = encoded[sub.resp] = encode(message, sub.resp)
        sub.send_raw(data)
    return len(subs)


def publish_message(server, channel: bytes, message: bytes) -> int:
    receivers = 0
    subs = server.channels.get(channel)
    if subs:
        receivers += _deliver(subs, Push([b"message", channel, message]))
    for pattern, subs in list(server.patterns.items()):
        if glob_match(pattern, channel):
            receivers += _deliver(subs, Push([b"pmessage", pattern, channel, message]))
    return receivers


def _replicate(c, name: bytes, args: list[bytes]) -> None:
    """As Redis outside cluster mode (forceCommandPropagation): a master's replicas get the
    message too, for their own subscribers. Not the sentinels' hellos: sentinels publish them
    on every node themselves, and a hello replicated from a master about to be demoted would
    carry its offset past the promoted replica's history (a full resync instead of a partial)."""
    rep = c.server.replication
    if rep.backlog is not None and not rep.is_replica and args[0] != b"__sentinel__:hello":
        typed = c.typed_cmd  # the client's spelling; inside EXEC or a script it names those
        rep.propagate(c, [typed if typed.lower() == name else name, *args])


@command("spublish", 3, "pubsub loading stale fast", 1, 1, 1)
def spublish(c, args):
    _replicate(c, b"spublish", args)
    subs = c.server.shard_channels.get(args[0])
    return _deliver(subs, Push([b"smessage", args[0], args[1]])) if subs else 0


@command("publish", 3, "pubsub loading stale fast", 0, 0, 0)
def publish(c, args):
    _replicate(c, b"publish", args)
    return publish_message(c.server, args[0], args[1])


# Redis 7.0's PUBSUB help[] (src/pubsub.c): every subcommand is served
PUBSUB_HELP = (
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
)


@command("pubsub", -2, "pubsub random loading stale", 0, 0, 0)
@subcommands("pubsub")
def pubsub_(c, args):
    sub = args[0].upper()
    server = c.server
    if sub == b"CHANNELS" and len(args) <= 2:
        pattern = args[1] if len(args) == 2 else None
        return [ch for ch in server.channels if pattern is None or glob_match(pattern, ch)]
    if sub == b"NUMSUB":
        out = []  # a flat array in RESP3 too (Redis 7.0)
        for ch in args[1:]:
            out += [ch, len(server.channels.get(ch, ()))]
        return out
    if sub == b"SHARDCHANNELS" and len(args) <= 2:
        pattern = args[1] if len(args) == 2 else None
        return [ch for ch in server.shard_channels if pattern is None or glob_match(pattern, ch)]
    if sub == b"SHARDNUMSUB":
        out = []
        for ch in args[1:]:
            out += [ch, len(server.shard_channels.get(ch, ()))]
        return out
    if sub == b"NUMPAT" and len(args) == 1:
        return len(server.patterns)  # unique patterns, as Redis 7.0
    if sub == b"HELP" and len(args) == 1:
        return help_reply("PUBSUB", PUBSUB_HELP)
    raise unknown_subcommand("pubsub", args[0])


def unsubscribe_all(c) -> None:
    for _, unsub, space, _ in _NAMESPACES:
        _unsubscribe(c, [], unsub.encode(), space)
