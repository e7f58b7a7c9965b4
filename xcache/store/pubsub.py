"""Pub/Sub: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH, PUBSUB, and the shard
channels (SSUBSCRIBE, SUNSUBSCRIBE, SPUBLISH: on a standalone node, a separate namespace).

Messages and confirmations are Push replies: arrays in RESP2, '>' pushes in RESP3 (where a
subscribed connection may run any command meanwhile).
"""

from __future__ import annotations

from xcache.resp import Many, Push, encode
from xcache.store.commands import command
from xcache.store.glob import glob_match
from xcache.store.subcommands import subcommands, unknown_subcommand


def _count(c) -> int:
    return len(c.channels) + len(c.patterns)


def _shard_count(c) -> int:
    return len(c.shard_channels)


def subscribed(c) -> bool:
    return bool(c.channels or c.patterns or c.shard_channels)


def _subscribe(c, names: list[bytes], kind: bytes, own: set, registry: dict) -> Many:
    count = _shard_count if kind == b"ssubscribe" else _count
    out = Many()
    for name in names:
        if name not in own:
            own.add(name)
            registry.setdefault(name, set()).add(c)
        out.append(Push([kind, name, count(c)]))
    c.kind = "pubsub"
    return out


def _unsubscribe(c, names: list[bytes], kind: bytes, own: set, registry: dict) -> Many:
    count = _shard_count if kind == b"sunsubscribe" else _count
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


@command("subscribe", -2, "pubsub noscript loading stale", 0, 0, 0)
def subscribe(c, args):
    return _subscribe(c, args, b"subscribe", c.channels, c.server.channels)


@command("psubscribe", -2, "pubsub noscript loading stale", 0, 0, 0)
def psubscribe(c, args):
    return _subscribe(c, args, b"psubscribe", c.patterns, c.server.patterns)


@command("unsubscribe", -1, "pubsub noscript loading stale", 0, 0, 0)
def unsubscribe(c, args):
    return _unsubscribe(c, args, b"unsubscribe", c.channels, c.server.channels)


@command("punsubscribe", -1, "pubsub noscript loading stale", 0, 0, 0)
def punsubscribe(c, args):
    return _unsubscribe(c, args, b"punsubscribe", c.patterns, c.server.patterns)


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


@command("ssubscribe", -2, "pubsub noscript loading stale", 1, -1, 1)
def ssubscribe(c, args):
    return _subscribe(c, args, b"ssubscribe", c.shard_channels, c.server.shard_channels)


@command("sunsubscribe", -1, "pubsub noscript loading stale", 1, -1, 1)
def sunsubscribe(c, args):
    return _unsubscribe(c, args, b"sunsubscribe", c.shard_channels, c.server.shard_channels)


@command("spublish", 3, "pubsub loading stale fast", 1, 1, 1)
def spublish(c, args):
    subs = c.server.shard_channels.get(args[0])
    return _deliver(subs, Push([b"smessage", args[0], args[1]])) if subs else 0


@command("publish", 3, "pubsub loading stale fast", 0, 0, 0)
def publish(c, args):
    return publish_message(c.server, args[0], args[1])


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
        return sum(len(s) for s in server.patterns.values())
    raise unknown_subcommand("pubsub", args[0])


def unsubscribe_all(c) -> None:
    _unsubscribe(c, [], b"unsubscribe", c.channels, c.server.channels)
    _unsubscribe(c, [], b"punsubscribe", c.patterns, c.server.patterns)
    _unsubscribe(c, [], b"sunsubscribe", c.shard_channels, c.server.shard_channels)
