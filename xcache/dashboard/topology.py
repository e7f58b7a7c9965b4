"""The cluster topology (sans-IO): groups, 1024 slot owners, proxies, sentinels, epochs.

Every change is a pure function `f(topology, ...) -> new topology` that validates its input
(raising TopologyError with a message meant for the operator) and bumps the global epoch. The
controller persists the result in a coordinator and pushes `slot_table(t)` to the proxies; the
proxies refuse a table whose epoch is not higher than the one they hold, so the global epoch is
the version of everything a proxy sees.

Group ids are positive integers (the proxy's slot table keys); the sentinel master name of group
N is `group-N`. Slot owner 0 means "unassigned".

Online migration (Codis's slot actions): `pending` holds slots queued to move (slot -> target
group), `migrating` the slots moving now (slot -> source group; `slots` already names the
target). A migrating slot is served migrate-first by the proxies: each key is moved from the
source before it is served by the target. The migrator (migration.py) starts waves of pending
slots, moves their keys in the background and finishes them once the source holds none.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

NSLOTS = 1024
NAME_PREFIX = "group-"


class TopologyError(ValueError):
    """A change is not allowed; the message says why."""


@dataclass
class Group:
    id: int
    servers: list[str] = field(default_factory=list)  # "host:port", master included
    master: str = ""  # "" while the group has no server
    epoch: int = 0  # bumped at every master change (promote, failover)

    @property
    def name(self) -> str:
        return group_name(self.id)

    @property
    def replicas(self) -> list[str]:
        return [s for s in self.servers if s != self.master]


@dataclass
class Proxy:
    addr: str  # RESP address clients use, "host:port"; also the proxy's id
    admin_addr: str  # admin HTTP API, "host:port"


@dataclass
class Topology:
    epoch: int = 0
    groups: dict[int, Group] = field(default_factory=dict)
    slots: list[int] = field(default_factory=lambda: [0] * NSLOTS)
    proxies: dict[str, Proxy] = field(default_factory=dict)
    sentinels: list[str] = field(default_factory=list)
    pending: dict[int, int] = field(default_factory=dict)  # slot -> target group, not started
    migrating: dict[int, int] = field(default_factory=dict)  # slot -> source group, moving now
    migration_paused: bool = False
    migration_keys_per_second: int = 0  # throttle; 0 = unlimited

    # --- serialisation -------------------------------------------------------------------------
    def to_json(self) -> dict:
        return {
            "epoch": self.epoch,
            "groups": {str(g.id): {"servers": list(g.servers), "master": g.master, "epoch": g.epoch}
                       for g in sorted(self.groups.values(), key=lambda g: g.id)},
            "slots": list(self.slots),
            "proxies": {p.addr: {"admin_addr": p.admin_addr} for p in self.proxies.values()},
            "sentinels": list(self.sentinels),
            "migration": {"pending": slot_map_json(self.pending), "migrating": slot_map_json(self.migrating),
                          "paused": self.migration_paused, "keys_per_second": self.migration_keys_per_second},
        }

    @classmethod
    def from_json(cls, data: dict) -> Topology:
        try:
            groups = {}
            for gid, g in (data.get("groups") or {}).items():
                groups[int(gid)] = Group(int(gid), [str(s) for s in g.get("servers", [])],
                                         str(g.get("master", "")), int(g.get("epoch", 0)))
            slots = [int(s) for s in data.get("slots") or [0] * NSLOTS]
            if len(slots) != NSLOTS:
                raise TopologyError(f"topology: 'slots' must have {NSLOTS} entries")
            proxies = {a: Proxy(a, str(p["admin_addr"])) for a, p in (data.get("proxies") or {}).items()}
            mig = data.get("migration") or {}
            return cls(int(data.get("epoch", 0)), groups, slots, proxies,
                       [str(s) for s in data.get("sentinels") or []],
                       slot_map_parse(mig.get("pending")), slot_map_parse(mig.get("migrating")),
                       bool(mig.get("paused", False)), int(mig.get("keys_per_second", 0) or 0))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, TopologyError):
                raise
            raise TopologyError(f"topology: malformed document ({exc})") from None

    def copy(self) -> Topology:
        return copy.deepcopy(self)

    # --- queries -------------------------------------------------------------------------------
    def group_of_server(self, addr: str) -> Group | None:
        for g in self.groups.values():
            if addr in g.servers:
                return g
        return None

    def slot_counts(self) -> dict[int, int]:
        counts = {gid: 0 for gid in self.groups}
        counts[0] = 0
        for owner in self.slots:
            counts[owner] = counts.get(owner, 0) + 1
        return counts

    def summary(self) -> dict:
        """Compact form for overviews: slot ranges instead of 1024 entries."""
        out = self.to_json()
        out["slot_ranges"] = [{"first": a, "last": b, "group": gid} for a, b, gid in ranges(self.slots)]
        out["slot_counts"] = {str(k): v for k, v in self.slot_counts().items()}
        return out


def group_name(gid: int) -> str:
    return f"{NAME_PREFIX}{gid}"


def group_id_of_name(name: str) -> int | None:
    if not name.startswith(NAME_PREFIX):
        return None
    rest = name[len(NAME_PREFIX):]
    return int(rest) if rest.isdigit() else None


# --- address and slot-range helpers ------------------------------------------------------------
def check_addr(addr: str) -> str:
    host, sep, port = str(addr).strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise TopologyError(f"bad address {addr!r}, expected host:port")
    return f"{host}:{int(port)}"


def parse_slots(text: str) -> list[int]:
    """'0-511,600,700-710' -> sorted slot numbers."""
    out: set[int] = set()
    for item in (i.strip() for i in str(text).split(",")):
        if not item:
            continue
        first, _, last = item.partition("-")
        try:
            a = int(first)
            b = int(last) if last.strip() else a
        except ValueError:
            raise TopologyError(f"bad slot range {item!r}, expected 'first-last' or 'slot'") from None
        if not 0 <= a <= b < NSLOTS:
            raise TopologyError(f"bad slot range {item!r}: slots are 0-{NSLOTS - 1}")
        out.update(range(a, b + 1))
    if not out:
        raise TopologyError("no slots given")
    return sorted(out)


def ranges(slots: list[int]) -> list[tuple[int, int, int]]:
    """Owner-per-slot list -> (first, last, owner) runs."""
    out: list[tuple[int, int, int]] = []
    for s, gid in enumerate(slots):
        if out and out[-1][2] == gid:
            out[-1] = (out[-1][0], s, gid)
        else:
            out.append((s, s, gid))
    return out


def map_ranges(m: dict[int, int]) -> list[tuple[int, int, int]]:
    """{slot: group} (some slots; group ids are > 0) -> (first, last, group) runs."""
    return [r for r in ranges([m.get(s, 0) for s in range(NSLOTS)]) if r[2]]


def slot_map_json(m: dict[int, int]) -> dict[str, int]:
    return {f"{a}-{b}": gid for a, b, gid in map_ranges(m)}


def slot_map_parse(data) -> dict[int, int]:
    return {s: int(gid) for rng, gid in (data or {}).items() for s in parse_slots(str(rng))}


# --- changes (pure: copy, validate, bump the epoch) ----------------------------------------------
def _next(t: Topology) -> Topology:
    n = t.copy()
    n.epoch = t.epoch + 1
    return n


def _group(t: Topology, gid: int) -> Group:
    g = t.groups.get(int(gid))
    if g is None:
        raise TopologyError(f"no group {gid}")
    return g


def add_group(t: Topology, gid: int | None = None) -> tuple[Topology, int]:
    if gid is None:
        gid = max(t.groups, default=0) + 1
    gid = int(gid)
    if gid < 1:
        raise TopologyError("group ids are positive integers")
    if gid in t.groups:
        raise TopologyError(f"group {gid} already exists")
    n = _next(t)
    n.groups[gid] = Group(gid)
    return n, gid


def remove_group(t: Topology, gid: int) -> Topology:
    g = _group(t, gid)
    owned = sum(1 for s in t.slots if s == g.id)
    if owned:
        raise TopologyError(f"group {gid} still owns {owned} slots: assign them elsewhere first")
    if g.id in t.migrating.values() or g.id in t.pending.values():
        raise TopologyError(f"group {gid} takes part in a slot migration: let it finish first")
    n = _next(t)
    del n.groups[g.id]
    return n


def add_server(t: Topology, gid: int, addr: str) -> Topology:
    addr = check_addr(addr)
    _group(t, gid)
    other = t.group_of_server(addr)
    if other is not None:
        raise TopologyError(f"server {addr} is already in group {other.id}")
    n = _next(t)
    g = n.groups[int(gid)]
    g.servers.append(addr)
    if not g.master:
        g.master = addr
        g.epoch += 1
    return n


def _server_of(t: Topology, gid: int, addr: str) -> tuple[str, Group]:
    """addr (checked) and its group gid, of which it must be a server."""
    addr = check_addr(addr)
    g = _group(t, gid)
    if addr not in g.servers:
        raise TopologyError(f"server {addr} is not in group {gid}")
    return addr, g


def remove_server(t: Topology, gid: int, addr: str) -> Topology:
    addr, g = _server_of(t, gid, addr)
    if addr == g.master and len(g.servers) > 1:
        raise TopologyError(f"{addr} is the master of group {gid}: promote another server first")
    if addr == g.master and (any(s == g.id for s in t.slots) or g.id in t.migrating.values()):
        raise TopologyError(f"{addr} is the last server of group {gid}, which owns slots")
    n = _next(t)
    ng = n.groups[g.id]
    ng.servers.remove(addr)
    if ng.master == addr:
        ng.master = ""
        ng.epoch += 1
    return n


def promote(t: Topology, gid: int, addr: str) -> Topology:
    """Make addr (a server of the group) its master."""
    addr, g = _server_of(t, gid, addr)
    if addr == g.master:
        raise TopologyError(f"{addr} is already the master of group {gid}")
    n = _next(t)
    ng = n.groups[g.id]
    ng.master = addr
    ng.epoch += 1
    return n


def switch_master(t: Topology, gid: int, addr: str) -> Topology:
    """A failover done by the sentinels: like promote, but the new master may be a server the
    dashboard did not know yet (a sentinel only promotes replicas it saw), which is added."""
    addr = check_addr(addr)
    g = _group(t, gid)
    if addr == g.master:
        raise TopologyError(f"{addr} is already the master of group {gid}")
    other = t.group_of_server(addr)
    if other is not None and other.id != g.id:
        raise TopologyError(f"{addr} belongs to group {other.id}, not {gid}")
    n = _next(t)
    ng = n.groups[g.id]
    if addr not in ng.servers:
        ng.servers.append(addr)
    ng.master = addr
    ng.epoch += 1
    return n


def _check_unmoving(t: Topology, s: int, moving: str) -> None:
    """Slot s exists and is neither pending nor migrating (else the error ends with `moving`)."""
    if not 0 <= s < NSLOTS:
        raise TopologyError(f"slot {s} out of range 0-{NSLOTS - 1}")
    if s in t.pending or s in t.migrating:
        raise TopologyError(f"slot {s} {moving}")


def assign_slots(t: Topology, slots: list[int], gid: int) -> Topology:
    """Give the slots to group gid (0 = unassign)."""
    gid = int(gid)
    if gid != 0:
        g = _group(t, gid)
        if not g.master:
            raise TopologyError(f"group {gid} has no server yet: add one before assigning slots")
    for s in slots:
        _check_unmoving(t, s, "is being migrated: let the migration finish or cancel it first")
    n = _next(t)
    for s in slots:
        n.slots[s] = gid
    return n


def balanced(t: Topology) -> list[int]:
    """The owner per slot that spreads all slots evenly over the groups that have a master,
    moving as few as possible.

    Target: 1024 // k each, the first 1024 % k groups (by id) one more. A group keeps its lowest
    slots up to its target; freed and unassigned slots go to the groups below target in order.
    """
    ids = sorted(g.id for g in t.groups.values() if g.master)
    if not ids:
        raise TopologyError("no group has a server: nothing to rebalance onto")
    k = len(ids)
    target = {gid: NSLOTS // k + (1 if i < NSLOTS % k else 0) for i, gid in enumerate(ids)}
    kept = {gid: 0 for gid in ids}
    slots = list(t.slots)
    free = []
    for s, owner in enumerate(slots):
        if owner in kept and kept[owner] < target[owner]:
            kept[owner] += 1
        else:
            free.append(s)
    for gid in ids:
        while kept[gid] < target[gid]:
            slots[free.pop(0)] = gid
            kept[gid] += 1
    return slots


def rebalance(t: Topology) -> Topology:
    """Plan the balanced layout: unassigned slots are given at once (they hold no data), owned
    slots that change group are queued for online migration."""
    if t.pending or t.migrating:
        raise TopologyError("a slot migration is in progress: wait for it (or cancel it) before rebalancing")
    slots = balanced(t)
    moves = {s: gid for s, gid in enumerate(slots) if gid != t.slots[s] and t.slots[s] != 0}
    if slots == t.slots:
        return t
    n = _next(t)
    n.slots = [t.slots[s] if s in moves else gid for s, gid in enumerate(slots)]
    n.pending = moves
    return n


# --- online migration ------------------------------------------------------------------------------
def plan_migration(t: Topology, slots: list[int], source: int, target: int) -> Topology:
    """Queue slots owned by group `source` to move to group `target`."""
    src, dst = _group(t, source), _group(t, target)
    if src.id == dst.id:
        raise TopologyError("source and target are the same group")
    if not dst.master:
        raise TopologyError(f"group {target} has no server yet: add one before migrating slots to it")
    for s in slots:
        _check_unmoving(t, s, "is already being migrated")
        if t.slots[s] != src.id:
            raise TopologyError(f"slot {s} is owned by group {t.slots[s] or 'none'}, not {source}")
    n = _next(t)
    for s in slots:
        n.pending[s] = dst.id
    return n


def _require(slots: list[int], where: dict[int, int], state: str) -> None:
    """TopologyError naming the first slot that is not in `where` (t.pending or t.migrating)."""
    for s in slots:
        if s not in where:
            raise TopologyError(f"slot {s} is not {state}")


def start_wave(t: Topology, slots: list[int]) -> Topology:
    """Pending slots start moving: the target owns them, served migrate-first from the source."""
    _require(slots, t.pending, "pending")
    n = _next(t)
    for s in slots:
        n.migrating[s] = t.slots[s]
        n.slots[s] = n.pending.pop(s)
    return n


def finish_slots(t: Topology, slots: list[int]) -> Topology:
    """The sources hold no key of these slots any more: the target serves them alone."""
    _require(slots, t.migrating, "migrating")
    n = _next(t)
    for s in slots:
        del n.migrating[s]
    return n


def cancel_pending(t: Topology) -> Topology:
    """Drop the slots that have not started moving (the ones moving now finish)."""
    if not t.pending:
        return t
    n = _next(t)
    n.pending = {}
    return n


def set_migration(t: Topology, paused: bool | None = None, keys_per_second: int | None = None) -> Topology:
    if keys_per_second is not None and keys_per_second < 0:
        raise TopologyError("keys_per_second must be >= 0 (0 = unlimited)")
    n = _next(t)
    if paused is not None:
        n.migration_paused = paused
    if keys_per_second is not None:
        n.migration_keys_per_second = keys_per_second
    return n


def _member_change(t: Topology, what: str, addr: str, members, adding: bool) -> tuple[str, Topology]:
    """The checked address and the next topology, for adding (not yet a member) or removing (a
    member) a proxy or sentinel."""
    addr = check_addr(addr)
    if adding and addr in members:
        raise TopologyError(f"{what} {addr} already exists")
    if not adding and addr not in members:
        raise TopologyError(f"no {what} {addr}")
    return addr, _next(t)


def add_proxy(t: Topology, addr: str, admin_addr: str) -> Topology:
    addr, admin_addr = check_addr(addr), check_addr(admin_addr)  # addr is checked first
    addr, n = _member_change(t, "proxy", addr, t.proxies, True)
    n.proxies[addr] = Proxy(addr, admin_addr)
    return n


def remove_proxy(t: Topology, addr: str) -> Topology:
    addr, n = _member_change(t, "proxy", addr, t.proxies, False)
    del n.proxies[addr]
    return n


def add_sentinel(t: Topology, addr: str) -> Topology:
    addr, n = _member_change(t, "sentinel", addr, t.sentinels, True)
    n.sentinels.append(addr)
    return n


def remove_sentinel(t: Topology, addr: str) -> Topology:
    addr, n = _member_change(t, "sentinel", addr, t.sentinels, False)
    n.sentinels.remove(addr)
    return n


def bump(t: Topology, at_least: int) -> Topology:
    """Raise the epoch above at_least (a proxy holds a table of a higher epoch than ours)."""
    n = t.copy()
    n.epoch = max(t.epoch, at_least) + 1
    return n


# --- what the proxies get ------------------------------------------------------------------------
def slot_table(t: Topology) -> dict:
    """The proxy's PUT /slots document; TopologyError while the topology cannot serve every slot."""
    missing = [s for s, gid in enumerate(t.slots) if gid == 0]
    if missing:
        raise TopologyError(f"{len(missing)} slots are not assigned (first: {missing[0]})")
    used = sorted(set(t.slots) | set(t.migrating.values()))
    groups = {}
    for gid in used:
        g = t.groups.get(gid)
        if g is None or not g.master:
            raise TopologyError(f"group {gid} owns slots but has no master")
        groups[str(gid)] = {"master": g.master, "replicas": g.replicas}
    table = {"epoch": t.epoch, "groups": groups, "slots": {f"{a}-{b}": gid for a, b, gid in ranges(t.slots)}}
    if t.migrating:
        table["migrating"] = slot_map_json(t.migrating)
    return table


def same_table(a: dict, b: dict) -> bool:
    """Do two slot tables route identically (epochs aside)?"""
    def norm(d: dict):
        groups = {str(k): (v["master"], sorted(v.get("replicas") or [])) for k, v in (d.get("groups") or {}).items()}
        migrating = dict(d.get("migrating") or {})
        used = {str(g) for g in (d.get("slots") or {}).values()} | {str(g) for g in migrating.values()}
        return {k: v for k, v in groups.items() if k in used}, dict(d.get("slots") or {}), migrating
    return norm(a) == norm(b)

