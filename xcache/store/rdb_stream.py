"""Streams in DUMP/RESTORE: RDB_TYPE_STREAM_LISTPACKS_2 (Redis 7.0's) written with nodes of 100
entries built as t_stream.c builds them; STREAM_LISTPACKS and _2 read, consumer groups included."""

from __future__ import annotations

import struct

from xcache.store.engine import STREAM, DbView, Meta
from xcache.store.rdb import T_STREAM_2, _len, _listpack, _Reader, _string
from xcache.store.stream_model import MAX_ID, ZERO_ID, Group, Nack, Stream, encode_fields

NODE_ENTRIES = 100
FLAG_DELETED, FLAG_SAMEFIELDS = 1, 2
_U64 = (1 << 64) - 1


def _lp_int(v: int) -> bytes:
    if 0 <= v <= 127:
        return bytes((v,))
    if -4096 <= v <= 4095:
        u = v & 0x1FFF
        return bytes((0xC0 | (u >> 8), u & 0xFF))
    for tag, width in ((0xF1, 2), (0xF2, 3), (0xF3, 4), (0xF4, 8)):
        if -(1 << (8 * width - 1)) <= v < (1 << (8 * width - 1)):
            return bytes((tag,)) + v.to_bytes(width, "little", signed=True)
    raise ValueError("integer out of range")


def _lp_entry(value: bytes | int) -> bytes:
    """One listpack entry (encoding, data, backlen), integers encoded as listpack.c does."""
    if isinstance(value, int):
        body = _lp_int(value)
    else:
        as_int = None
        if 0 < len(value) <= 20:
            try:
                n = int(value)
            except ValueError:
                n = None
            if n is not None and b"%d" % n == value and -(1 << 63) <= n < (1 << 63):
                as_int = n
        if as_int is not None:
            body = _lp_int(as_int)
        elif len(value) < 64:
            body = bytes((0x80 | len(value),)) + value
        elif len(value) < 4096:
            body = bytes((0xE0 | (len(value) >> 8), len(value) & 0xFF)) + value
        else:
            body = b"\xf0" + struct.pack("<I", len(value)) + value
    n = len(body)
    if n <= 127:
        back = bytes((n,))
    else:
        parts = []
        while n:
            parts.append(n & 127)
            n >>= 7
        parts.reverse()
        back = bytes([parts[0]] + [p | 128 for p in parts[1:]])
    return body + back


def _listpack_of(values: list) -> bytes:
    entries = b"".join(_lp_entry(v) for v in values)
    total = 6 + len(entries) + 1
    return struct.pack("<IH", total, min(len(values), 65535)) + entries + b"\xff"


def _node(entries: list[tuple[tuple[int, int], list[bytes]]]) -> tuple[bytes, bytes]:
    """A stream node: its master id (16 bytes) and listpack, as t_stream.c builds them."""
    master_id = entries[0][0]
    master_fields = entries[0][1][0::2]
    values: list = [len(entries), 0, len(master_fields), *master_fields, 0]
    for (ms, seq), fv in entries:
        fields = fv[0::2]
        same = fields == master_fields
        values += [FLAG_SAMEFIELDS if same else 0, ms - master_id[0], seq - master_id[1]]
        if same:
            values += fv[1::2]
            values.append(len(master_fields) + 3)
        else:
            values.append(len(fields))
            values += fv
            values.append(len(fv) + 4)
    return struct.pack(">QQ", *master_id), _listpack_of(values)


def _ms_time(v: int) -> bytes:
    return struct.pack("<q", v)


def serialize_stream(engine, db: int, key: bytes, meta: Meta) -> bytes:
    view = DbView(engine, db)
    s = Stream(view, key, meta)
    entries = list(s.range(ZERO_ID, MAX_ID))
    nodes = [_node(entries[i:i + NODE_ENTRIES]) for i in range(0, len(entries), NODE_ENTRIES)]
    out = [bytes((T_STREAM_2,)), _len(len(nodes))]
    for master, lp in nodes:
        out += [_len(16) + master, _len(len(lp)) + lp]
    out += [_len(s.length), _len(s.last_id[0]), _len(s.last_id[1]), _len(s.first_id[0]),
            _len(s.first_id[1]), _len(s.max_deleted[0]), _len(s.max_deleted[1]),
            _len(s.entries_added)]
    groups = s.all_groups()
    out.append(_len(len(groups)))
    for g in groups:
        out += [_string(g.name), _len(g.last_id[0]), _len(g.last_id[1]),
                _len(g.entries_read & _U64)]
        pel = list(s.group_pel(g.name))
        out.append(_len(len(pel)))
        for n in pel:
            out += [struct.pack(">QQ", *n.id), _ms_time(n.delivery_ms), _len(n.count)]
        consumers = s.consumers(g.name)
        out.append(_len(len(consumers)))
        for name, seen, _ in consumers:
            ids = list(s.consumer_pel(g.name, name))
            out += [_string(name), _ms_time(seen), _len(len(ids))]
            out += [struct.pack(">QQ", *i) for i in ids]
    return b"".join(out)


def _stream_entries(r: _Reader) -> list:
    out = []
    for _ in range(r.count()):
        master = r.string()
        if len(master) != 16:
            raise ValueError("bad stream node key")
        mms, mseq = struct.unpack(">QQ", master)
        items = _listpack(r.string())
        if not items:
            raise ValueError("empty stream node")
        nfields = int(items[2])
        master_fields = items[3:3 + nfields]
        i = 3 + nfields + 1
        while i < len(items):
            flags, dms, dseq = int(items[i]), int(items[i + 1]), int(items[i + 2])
            i += 3
            if flags & FLAG_SAMEFIELDS:
                vals = items[i:i + nfields]
                fv = [x for pair in zip(master_fields, vals, strict=True) for x in pair]
                i += nfields
            else:
                n = int(items[i])
                fv = items[i + 1:i + 1 + 2 * n]
                i += 1 + 2 * n
            i += 1  # lp-count
            if not flags & FLAG_DELETED:
                out.append(((mms + dms, mseq + dseq), fv))
    return out


def deserialize_stream(r: _Reader, t: int) -> dict:
    st: dict = {"entries": _stream_entries(r)}
    st["length"] = r.count()
    st["last_id"] = (r.count(), r.count())
    if t == T_STREAM_2:
        st["first_id"] = (r.count(), r.count())
        st["max_deleted"] = (r.count(), r.count())
        st["entries_added"] = r.count()
    else:
        st["first_id"] = st["entries"][0][0] if st["entries"] else (0, 0)
        st["max_deleted"] = (0, 0)
        st["entries_added"] = st["length"]
    groups = []
    for _ in range(r.count()):
        name = r.string()
        last = (r.count(), r.count())
        entries_read = None  # legacy RDB: estimated once the stream is known (store_stream)
        if t == T_STREAM_2:
            entries_read = r.count()
            if entries_read >= 1 << 63:
                entries_read -= 1 << 64
        pel = {}
        for _ in range(r.count()):
            id_ = struct.unpack(">QQ", r.take(16))
            delivery = struct.unpack("<q", r.take(8))[0]
            pel[id_] = [delivery, r.count(), b""]
        consumers = []
        for _ in range(r.count()):
            cname = r.string()
            seen = struct.unpack("<q", r.take(8))[0]
            ids = [struct.unpack(">QQ", r.take(16)) for _ in range(r.count())]
            for id_ in ids:
                if id_ not in pel:
                    raise ValueError("consumer PEL entry not in the group PEL")
                pel[id_][2] = cname
            consumers.append((cname, seen, len(ids)))
        if any(not owner for _, _, owner in pel.values()):
            raise ValueError("PEL entry without consumer")
        groups.append((name, last, entries_read, pel, consumers))
    st["groups"] = groups
    if len(st["entries"]) != st["length"]:
        raise ValueError("stream length mismatch")
    return st


def store_stream(c, b, key: bytes, st: dict, expire_ms: int) -> None:
    meta = c.engine.new_collection(STREAM)
    meta.expire_ms = expire_ms
    s = Stream(c, key, meta)
    for id_, fv in st["entries"]:
        b.put_data(s.ekey(id_), encode_fields(fv))
    meta.count = st["length"]
    s.last_id, s.first_id, s.max_deleted = st["last_id"], st["first_id"], st["max_deleted"]
    s.entries_added = st["entries_added"]
    s.groups = len(st["groups"])
    for name, last, entries_read, pel, consumers in st["groups"]:
        if entries_read is None:  # rdbLoadObject of a STREAM_LISTPACKS (Redis <= 6.2) payload
            entries_read = s.estimate_distance(last)
        s.put_group(b, Group(name, last, entries_read, len(pel)))
        for id_, (delivery, count, owner) in pel.items():
            s.put_nack(b, name, Nack(id_, delivery, count, owner))
            b.put_data(s.qkey(name, owner, id_), b"")
        for cname, seen, npel in consumers:
            s.put_consumer(b, name, cname, seen, npel)
    s.save(b)
