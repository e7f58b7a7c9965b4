"""Slots (sans-IO): key -> slot -> group, and the epoch-versioned slot table.

The key -> slot hash (Codis's crc32 with {hashtags}) lives in xcache.keyslot: the store
(SLOTSHASHKEY) and the dashboard (migration sweeps) must agree with it to the bit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xcache.keyslot import NSLOTS, slot_of

__all__ = ["NSLOTS", "slot_of", "SlotTable", "TableError"]


class TableError(ValueError):
    """A slot table is invalid; the message says why."""


@dataclass
class GroupSpec:
    id: int
    master: str
    replicas: list[str] = field(default_factory=list)


@dataclass
class SlotTable:
    """Which group owns each slot, plus each group's master and replicas, at an epoch.

    A migrating slot is owned by its target group; `migrating` names its source group, from which
    the proxy moves a request's keys (MIGRATE) before sending the request to the owner.
    """

    epoch: int
    groups: dict[int, GroupSpec]
    slots: list[int]  # NSLOTS group ids
    migrating: dict[int, int] = field(default_factory=dict)  # slot -> source group id

    def to_json(self) -> dict:
        out = {
            "epoch": self.epoch,
            "groups": {str(g.id): {"master": g.master, "replicas": list(g.replicas)}
                       for g in sorted(self.groups.values(), key=lambda g: g.id)},
            "slots": {f"{a}-{b}": gid for a, b, gid in ranges(self.slots)},
        }
        if self.migrating:
            per_slot = [self.migrating.get(s, 0) for s in range(NSLOTS)]
            out["migrating"] = {f"{a}-{b}": gid for a, b, gid in ranges(per_slot) if gid}
        return out

    @classmethod
    def from_json(cls, data: dict) -> SlotTable:
        if not isinstance(data, dict):
            raise TableError("slot table must be a JSON object")
        epoch = data.get("epoch")
        if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
            raise TableError("'epoch' must be a non-negative integer")
        raw_groups = data.get("groups")
        if not isinstance(raw_groups, dict) or not raw_groups:
            raise TableError("'groups' must be a non-empty object {id: {master, replicas}}")
        groups = {}
        for gid, spec in raw_groups.items():
            gid = _int(gid, "group id")
            if isinstance(spec, str):
                spec = {"master": spec}
            if not isinstance(spec, dict) or not isinstance(spec.get("master"), str):
                raise TableError(f"group {gid}: needs 'master': 'host:port'")
            replicas = spec.get("replicas") or []
            if not isinstance(replicas, list):
                raise TableError(f"group {gid}: 'replicas' must be a list")
            for addr in [spec["master"], *replicas]:
                parse_addr(addr)
            groups[gid] = GroupSpec(gid, spec["master"], [str(r) for r in replicas])
        raw_slots = data.get("slots")
        if raw_slots is None or raw_slots == {} or raw_slots == "":
            slots = spread(sorted(groups))
        elif isinstance(raw_slots, list):
            if len(raw_slots) != NSLOTS:
                raise TableError(f"'slots' as a list must have {NSLOTS} group ids")
            slots = [_int(g, "slot owner") for g in raw_slots]
        elif isinstance(raw_slots, dict):
            slots = parse_ranges(",".join(f"{k}={v}" for k, v in raw_slots.items()))
        elif isinstance(raw_slots, str):
            slots = parse_ranges(raw_slots)
        else:
            raise TableError("'slots' must be a list of 1024 group ids or {'first-last': group}")
        for s, gid in enumerate(slots):
            if gid not in groups:
                raise TableError(f"slot {s} is owned by unknown group {gid}")
        migrating = _parse_migrating(data.get("migrating"))
        for s, src in migrating.items():
            if src not in groups:
                raise TableError(f"migrating: slot {s} migrates from unknown group {src}")
            if src == slots[s]:
                raise TableError(f"migrating: slot {s} migrates from group {src}, which already owns it")
        return cls(epoch, groups, slots, migrating)

    @classmethod
    def from_config(cls, groups: str, slots: str, epoch: int) -> SlotTable | None:
        """Build the table from the config strings; None when no group is configured."""
        if not groups.strip():
            return None
        parsed = {}
        for item in (g.strip() for g in groups.split(",")):
            if not item:
                continue
            if "=" not in item:
                raise TableError(f"groups: expected 'id=host:port', got {item!r}")
            gid, addrs = item.split("=", 1)
            nodes = [a.strip() for a in addrs.replace("|", "/").split("/") if a.strip()]
            if not nodes:
                raise TableError(f"groups: group {gid} has no master")
            parsed[gid.strip()] = {"master": nodes[0], "replicas": nodes[1:]}
        return cls.from_json({"epoch": epoch, "groups": parsed, "slots": slots})


def _parse_migrating(raw) -> dict[int, int]:
    """{'first-last': source} or a list of NSLOTS source ids (0 = not migrating) -> {slot: source}."""
    if raw is None or raw == {} or raw == []:
        return {}
    if isinstance(raw, list):
        if len(raw) != NSLOTS:
            raise TableError(f"'migrating' as a list must have {NSLOTS} entries (0 = not migrating)")
        return {s: g for s, g in enumerate(_int(g, "migrating source") for g in raw) if g}
    if not isinstance(raw, dict):
        raise TableError("'migrating' must be {'first-last': source group} or a list of 1024 entries")
    out: dict[int, int] = {}
    for rng, gid in raw.items():
        a, b = _range(str(rng), "migrating")
        src = _int(gid, "migrating source")
        for s in range(a, b + 1):
            if s in out:
                raise TableError(f"migrating: slot {s} listed twice")
            out[s] = src
    return out


def _range(rng: str, what: str) -> tuple[int, int]:
    first, _, last = rng.partition("-")
    a = _int(first.strip(), f"{what}: slot")
    b = _int(last.strip(), f"{what}: slot") if last.strip() else a
    if not 0 <= a <= b < NSLOTS:
        raise TableError(f"{what}: bad range {rng.strip()!r} (slots are 0-{NSLOTS - 1})")
    return a, b


def _int(value, what: str) -> int:
    try:
        if isinstance(value, bool):
            raise ValueError
        return int(value)
    except (TypeError, ValueError):
        raise TableError(f"{what} must be an integer, got {value!r}") from None


def parse_addr(addr: str) -> tuple[str, int]:
    host, sep, port = str(addr).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise TableError(f"bad address {addr!r}, expected host:port")
    return host, int(port)


def spread(group_ids: list[int]) -> list[int]:
    """Split the slots evenly over the groups in contiguous ranges."""
    n = len(group_ids)
    return [group_ids[s * n // NSLOTS] for s in range(NSLOTS)]


def parse_ranges(text: str) -> list[int]:
    """'0-511=1, 512-1023=2' -> owner per slot; every slot must be covered exactly once."""
    slots: list[int | None] = [None] * NSLOTS
    for item in (i.strip() for i in text.split(",")):
        if not item:
            continue
        rng, sep, gid = item.partition("=")
        if not sep:
            raise TableError(f"slots: expected 'first-last=group', got {item!r}")
        a, b = _range(rng, "slots")
        for s in range(a, b + 1):
            if slots[s] is not None:
                raise TableError(f"slots: slot {s} assigned twice")
            slots[s] = _int(gid.strip(), "group id")
    missing = [s for s, g in enumerate(slots) if g is None]
    if missing:
        raise TableError(f"slots: {len(missing)} slots have no group (first: {missing[0]})")
    return slots  # type: ignore[return-value]


def ranges(slots: list[int]) -> list[tuple[int, int, int]]:
    """Compress an owner-per-slot list to (first, last, group) runs."""
    out: list[tuple[int, int, int]] = []
    for s, gid in enumerate(slots):
        if out and out[-1][2] == gid and out[-1][1] == s - 1:
            out[-1] = (out[-1][0], s, gid)
        else:
            out.append((s, s, gid))
    return out
