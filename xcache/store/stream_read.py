"""XREAD and XREADGROUP (+BLOCK): reading streams, alone or as a consumer of a group.

Replication: a replica never re-decides a delivery. XREADGROUP replicates as one `XCLAIM ...
FORCE JUSTID LASTID` per delivered entry plus `XGROUP SETID ... ENTRIESREAD` (as Redis propagates
it), and a consumer created on the way as `XGROUP CREATECONSUMER`.
"""

from __future__ import annotations

from xcache.resp import NULL_ARRAY, Error, KeyedArrays
from xcache.store.commands import SYNTAX_ERROR, command, parse_int
from xcache.store.engine import now_ms
from xcache.store.notify import STREAM, notify
from xcache.store.stream_model import (
    INVALID_READ,
    MAX_ID,
    ZERO_ID,
    Nack,
    entry_reply,
    fmt_id,
    incr_id,
    lookup,
    parse_strict,
)
from xcache.store.stream_pel import Consumers, _created, _take, _xclaim_cmd


def _parse_block_ms(raw: bytes) -> int:
    value = parse_int(raw, Error("ERR timeout is not an integer or out of range"))
    if value < 0:
        raise Error("ERR timeout is negative")
    return value


def _xread(c, args, group_mode: bool):
    name = "xreadgroup" if group_mode else "xread"
    count = 0
    block_ms = None
    noack = False
    group = consumer = None
    streams_at = -1
    i = 0
    while i < len(args):
        more = len(args) - 1 - i
        opt = args[i].upper()
        if opt == b"COUNT" and more:
            count = max(parse_int(args[i + 1]), 0)
            i += 2
        elif opt == b"BLOCK" and more:
            block_ms = _parse_block_ms(args[i + 1])
            i += 2
        elif opt == b"STREAMS" and more:
            streams_at = i + 1
            break
        elif group_mode and opt == b"GROUP" and more >= 2:
            group, consumer = args[i + 1], args[i + 2]
            i += 3
        elif group_mode and opt == b"NOACK":
            noack = True
            i += 1
        else:
            raise SYNTAX_ERROR
    if streams_at < 0:
        raise SYNTAX_ERROR
    rest = args[streams_at:]
    if len(rest) % 2:
        raise Error(f"ERR Unbalanced {name.upper()} list of streams: for each stream key an ID "
                    "or '$' must be specified.")
    if group_mode and group is None:
        raise Error("ERR Missing GROUP option for XREADGROUP")
    half = len(rest) // 2
    keys, raw_ids = rest[:half], rest[half:]
    targets = []  # (key, start id or None for '>')
    for key, raw in zip(keys, raw_ids, strict=True):
        s = lookup(c, key)
        if group_mode:
            g = s.get_group(group) if s is not None else None
            if g is None:
                raise Error(f"NOGROUP No such key '{key.decode(errors='replace')}' or consumer "
                            f"group '{group.decode(errors='replace')}' in XREADGROUP with GROUP "
                            "option")
            if raw == b"$":
                raise Error("ERR The $ ID is meaningless in the context of XREADGROUP: you want "
                            "to read the history of this consumer by specifying a proper ID, or "
                            "use the > ID to get new messages. The $ ID would just return an "
                            "empty result set.")
            if raw == b">":
                targets.append((key, None))
                continue
        elif raw == b">":
            raise Error("ERR The > ID can be specified only when calling XREADGROUP using the "
                        "GROUP <group> <consumer> option.")
        elif raw == b"$":
            targets.append((key, s.last_id if s is not None else ZERO_ID))
            continue
        targets.append((key, parse_strict(raw)))

    def serve():
        if group_mode:
            return _serve_group(c, targets, group, consumer, count, noack)
        c.propagate = None
        out = []
        for key, after in targets:
            s = lookup(c, key)
            if s is None or not s.length or s.last_id <= after:
                continue
            start = incr_id(after)
            found = [entry_reply(i_, f) for i_, f in s.range(start, MAX_ID, count)]
            if found:  # Redis compares with the last entry still there, not the last id
                out += [key, found]
        return KeyedArrays(out) if out else None

    reply = serve()
    if reply is not None:
        return reply
    if block_ms is None or getattr(c, "in_exec", False):
        return NULL_ARRAY
    from xcache.store.interfaces import Block

    def retry():
        if group_mode:  # what Redis 7.0 answers a blocked XREADGROUP whose stream/group went
            for key, _ in targets:
                try:
                    s = lookup(c, key)
                except Error:
                    s = None
                if s is None:
                    raise Error("UNBLOCKED the stream key no longer exists")
                if s.get_group(group) is None:
                    raise Error("NOGROUP the consumer group this client was blocked on no "
                                "longer exists")
        try:
            return serve()
        except Error as exc:
            if exc.message.startswith("WRONGTYPE"):
                return None
            raise

    return Block(list(dict.fromkeys(keys)), block_ms / 1000, retry, NULL_ARRAY)


def _consumer_created(c, cmds: list | None, key: bytes, group: bytes, cons: Consumers) -> None:
    """The consumer this read created: its event, and its XGROUP CREATECONSUMER to replicas
    unless cmds is None (its XCLAIMs create it there)."""
    for _ in cons.created:
        notify(c.server, STREAM, b"xgroup-createconsumer", key, c.db)
    if cmds is None:
        cons.created = []
    else:
        _created(cmds, key, group, cons)


def _serve_group(c, targets, group: bytes, consumer: bytes, count: int, noack: bool):
    out = []
    cmds: list = []
    b = c.engine.batch()
    dirty = False
    now = now_ms()
    for key, after in targets:
        s = lookup(c, key)
        g = s.get_group(group) if s is not None else None
        if g is None:
            raise Error(f"NOGROUP No such key '{key.decode(errors='replace')}' or consumer group "
                        f"'{group.decode(errors='replace')}' in XREADGROUP with GROUP option")
        cons = Consumers(s, g)
        if after is not None:  # history: this consumer's PEL after the id
            cons.get(consumer)
            start = incr_id(after)
            entries = []
            if start is not None:
                for id_ in s.consumer_pel(group, consumer, start, MAX_ID, count):
                    fields = s.get_entry(id_)
                    if fields is None:
                        entries.append([fmt_id(id_), NULL_ARRAY])
                        continue
                    nack = s.get_nack(group, id_)
                    nack.delivery_ms = now
                    nack.count += 1
                    s.put_nack(b, group, nack)
                    entries.append(entry_reply(id_, fields))
            out += [key, entries]
            cons.save(b)
            dirty = True
            _consumer_created(c, cmds, key, group, cons)
            continue
        start = incr_id(g.last_id) if s.length else None
        new = list(s.range(start, MAX_ID, count)) if start is not None else []
        if not new:  # nothing after the group's last id: not served (no consumer is created)
            continue
        cons.get(consumer)
        entries = []
        for id_, fields in new:
            if g.entries_read != INVALID_READ and not s.has_tombstones(id_):
                g.entries_read += 1
            elif s.entries_added:
                g.entries_read = s.estimate_distance(id_)
            g.last_id = id_
            entries.append(entry_reply(id_, fields))
            if noack:
                continue
            nack = s.get_nack(group, id_)
            if nack is None:
                nack = Nack(id_, now, 1, b"")
                g.pel_count += 1
            else:
                nack.delivery_ms, nack.count = now, 1
            _take(s, b, cons, nack, consumer)
            cmds.append(_xclaim_cmd(key, g, nack))
        cons.save(b)
        s.put_group(b, g)
        dirty = True
        # As Redis 7.0: each XCLAIM carries the group's last id and creates its consumer on a
        # replica (which counts entries_read itself: stream_groups._advance_entries_read); with
        # NOACK there are none, so the consumer and the last id go on their own.
        _consumer_created(c, cmds if noack else None, key, group, cons)
        if noack:
            cmds.append([b"XGROUP", b"SETID", key, group, fmt_id(g.last_id), b"ENTRIESREAD",
                         b"%d" % g.entries_read])
        out += [key, entries]
    if dirty:
        c.engine.commit(b)
    c.propagate = cmds
    return KeyedArrays(out) if out else None


@command("xread", -4, "readonly blocking", 0, 0, 0)
def xread(c, args):
    return _xread(c, args, False)


@command("xreadgroup", -7, "write blocking", 0, 0, 0)
def xreadgroup(c, args):
    return _xread(c, args, True)
