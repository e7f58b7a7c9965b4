"""Pub/Sub: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH, PUBSUB (RESP2)."""

from __future__ import annotations

from xcache.resp import Error, Raw, encode
from xcache.store.commands import command
from xcache.store.glob import glob_match


def _count(c) -> int:
    return len(c.channels) + len(c.patterns)


def _subscribe(c, names: list[bytes], kind: bytes, own: set, registry: dict) -> Raw:
    out = []
    for name in names:
        if name not in own:
            own.add(name)
            registry.setdefault(name, set()).add(c)
        out.append(encode([kind, name, _count(c)]))
    c.kind = "pubsub"
    return Raw(b"".join(out))


def _unsubscribe(c, names: list[bytes], kind: bytes, own: set, registry: dict) -> Raw:
    targets = names or sorted(own)
    if not targets:
        return Raw(encode([kind, None, _count(c)]))
    out = []
    for name in targets:
        if name in own:
            own.discard(name)
            subs = registry.get(name)
            if subs is not None:
                subs.discard(c)
                if not subs:
                    del registry[name]
        out.append(encode([kind, name, _count(c)]))
    if not _count(c):
        c.kind = "normal"
    return Raw(b"".join(out))


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


def publish_message(server, channel: bytes, message: bytes) -> int:
    receivers = 0
    subs = server.channels.get(channel)
    if subs:
        data = encode([b"message", channel, message])
        for sub in list(subs):
            sub.send_raw(data)
            receivers += 1
    for pattern, subs in list(server.patterns.items()):
        if glob_match(pattern, channel):
            data = encode([b"pmessage", pattern, channel, message])
            for sub in list(subs):
                sub.send_raw(data)
                receivers += 1
    return receivers


@command("publish", 3, "pubsub loading stale fast", 0, 0, 0)
def publish(c, args):
    return publish_message(c.server, args[0], args[1])


@command("pubsub", -2, "pubsub random loading stale", 0, 0, 0)
def pubsub_(c, args):
    sub = args[0].upper()
    server = c.server
    if sub == b"CHANNELS" and len(args) <= 2:
        pattern = args[1] if len(args) == 2 else None
        return [ch for ch in server.channels if pattern is None or glob_match(pattern, ch)]
    if sub == b"NUMSUB":
        out = []
        for ch in args[1:]:
            out += [ch, len(server.channels.get(ch, ()))]
        return out
    if sub == b"NUMPAT" and len(args) == 1:
        return sum(len(s) for s in server.patterns.values())
    raise Error(f"ERR unknown subcommand or wrong number of arguments for '{args[0].decode(errors='replace')}'. Try PUBSUB HELP.")


def unsubscribe_all(c) -> None:
    _unsubscribe(c, [], b"unsubscribe", c.channels, c.server.channels)
    _unsubscribe(c, [], b"punsubscribe", c.patterns, c.server.patterns)
