"""A consumer group's pending entries and consumers as the group commands change them (XREADGROUP,
XACK, XCLAIM, XAUTOCLAIM), and the commands that carry those changes to replicas."""

from __future__ import annotations

from xcache.store.engine import now_ms
from xcache.store.stream_model import Group, Nack, Stream, fmt_id


class Consumers:
    """Consumer records of one group touched by a command: loaded once, saved at the end."""

    def __init__(self, s: Stream, group: Group):
        self.s = s
        self.group = group
        self.cache: dict[bytes, list[int]] = {}
        self.created: list[bytes] = []

    def get(self, name: bytes, create: bool = True, refresh: bool = True) -> list[int] | None:
        rec = self.cache.get(name)
        if rec is None:
            found = self.s.get_consumer(self.group.name, name)
            if found is None:
                if not create:
                    return None
                self.created.append(name)
                found = (now_ms(), 0)
            rec = self.cache[name] = list(found)
        if refresh:
            rec[0] = now_ms()
        return rec

    def save(self, b) -> None:
        for name, (seen, pel) in self.cache.items():
            self.s.put_consumer(b, self.group.name, name, seen, pel)


def _take(s: Stream, b, cons: Consumers, nack: Nack, new_owner: bytes) -> None:
    """Move a PEL entry to new_owner (or attach it, if it had no owner yet)."""
    g = cons.group.name
    if nack.consumer != new_owner:
        if nack.consumer:
            b.delete_data(s.qkey(g, nack.consumer, nack.id))
            old = cons.get(nack.consumer, create=False, refresh=False)
            if old is not None:
                old[1] -= 1
        b.put_data(s.qkey(g, new_owner, nack.id), b"")
        cons.get(new_owner, refresh=False)[1] += 1
        nack.consumer = new_owner
    s.put_nack(b, g, nack)


def _drop_nack(s: Stream, b, cons: Consumers, nack: Nack) -> None:
    g = cons.group.name
    b.delete_data(s.pkey(g, nack.id))
    b.delete_data(s.qkey(g, nack.consumer, nack.id))
    rec = cons.get(nack.consumer, create=False, refresh=False)
    if rec is not None:
        rec[1] -= 1
    cons.group.pel_count -= 1


def _created(cmds: list, key: bytes, group: bytes, cons: Consumers) -> None:
    for name in cons.created:
        cmds.append([b"XGROUP", b"CREATECONSUMER", key, group, name])
    cons.created = []


def _xclaim_cmd(key: bytes, g: Group, nack: Nack) -> list[bytes]:
    """streamPropagateXCLAIM: how a PEL change reaches replicas."""
    return [b"XCLAIM", key, g.name, nack.consumer, b"0", fmt_id(nack.id), b"TIME",
            b"%d" % nack.delivery_ms, b"RETRYCOUNT", b"%d" % nack.count, b"FORCE", b"JUSTID",
            b"LASTID", fmt_id(g.last_id)]
