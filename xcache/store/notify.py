"""Keyspace notifications (`notify-keyspace-events`, Redis's notify.c): the event classes, their
CONFIG text, and publishing `__keyspace@<db>__:<key> <event>` / `__keyevent@<db>__:<event> <key>`.

Which events a write command raises is notify_events.py's; server.call asks it only while some
class is enabled, so a node with notifications off pays one integer test per write.
"""

from __future__ import annotations

KEYSPACE, KEYEVENT, GENERIC, STRING, LIST, SET, HASH, ZSET = (1 << i for i in range(8))
EXPIRED, EVICTED, STREAM, KEY_MISS = 1 << 8, 1 << 9, 1 << 10, 1 << 11
MODULE, NEW = 1 << 13, 1 << 14
ALL = GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE

_CLASSES = {"A": ALL, "g": GENERIC, "$": STRING, "l": LIST, "s": SET, "h": HASH, "z": ZSET,
            "x": EXPIRED, "e": EVICTED, "K": KEYSPACE, "E": KEYEVENT, "t": STREAM,
            "m": KEY_MISS, "d": MODULE, "n": NEW}
# keyspaceEventsFlagsToString's order
_ORDER = "g$lshzxetdn"
_TAIL = "KEm"

INVALID = "Invalid event class character. Use 'Ag$lshzxeKEtmdn'."


def parse_flags(text: str) -> int:
    """keyspaceEventsStringToFlags; ValueError on a character that names no class."""
    flags = 0
    for ch in text:
        if ch not in _CLASSES:
            raise ValueError(INVALID)
        flags |= _CLASSES[ch]
    return flags


def flags_text(flags: int) -> str:
    """keyspaceEventsFlagsToString: what CONFIG GET answers ('KA' reads back as 'AK')."""
    out = "A" if flags & ALL == ALL else "".join(ch for ch in _ORDER if flags & _CLASSES[ch])
    return out + "".join(ch for ch in _TAIL if flags & _CLASSES[ch])


def notify(server, cls: int, event: bytes, key: bytes, db: int) -> None:
    """notifyKeyspaceEvent: publish one event if its class is enabled."""
    flags = server.notify_flags
    if not flags & cls:
        return
    from xcache.store.pubsub import publish_message

    if flags & KEYSPACE:
        publish_message(server, b"__keyspace@%d__:%b" % (db, key), event)
    if flags & KEYEVENT:
        publish_message(server, b"__keyevent@%d__:%b" % (db, event), key)
