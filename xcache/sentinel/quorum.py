"""Sans-IO health and agreement: SDOWN/stalled per node, ODOWN by quorum, epochs, leader votes,
replica selection. Plain classes; time is passed in (milliseconds, monotonic); no sockets.

The rules follow Redis Sentinel (sentinel.c) so that the behaviour is familiar, with one change
from the incident: a node whose INFO reports a write stall and that still answers is `stalled`,
not down; it gets the longer `stalled_down_after_ms` bound before it is declared SDOWN.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

# A peer's "master is down" answer counts for ODOWN this long after it was received.
PEER_DOWN_VALIDITY_MS = 5000


@dataclass
class Health:
    """Liveness of one node as seen by this sentinel: pings, replies, stall reports."""

    created: float
    last_avail: float = 0.0  # last valid PING reply (or link creation)
    last_ping_sent: float = 0.0
    last_pong: float = 0.0  # last reply of any kind
    ping_pending_since: float | None = None  # oldest unanswered PING
    connected: bool = False
    stalled: bool = False
    stall_seconds: float = 0.0
    sdown: bool = False
    sdown_since: float = 0.0
    probe_latency_ms: float = 0.0

    def __post_init__(self) -> None:
        self.last_avail = self.created

    def on_connected(self, now: float) -> None:
        self.connected = True

    def on_disconnected(self, now: float) -> None:
        # An unanswered PING stays pending across reconnects (a hung node accepts connections).
        self.connected = False

    def on_ping_sent(self, now: float) -> None:
        self.last_ping_sent = now
        if self.ping_pending_since is None:
            self.ping_pending_since = now

    def on_ping_reply(self, now: float, sent_at: float, valid: bool) -> None:
        """valid: +PONG or -LOADING / -MASTERDOWN (as Redis counts them)."""
        self.last_pong = now
        if valid:
            self.last_avail = now
            self.ping_pending_since = None
            self.probe_latency_ms = now - sent_at

    def on_stall_report(self, stalled: bool, seconds: float = 0.0) -> str | None:
        """From INFO: returns '+stalled' / '-stalled' on a change, else None."""
        self.stall_seconds = seconds
        if stalled == self.stalled:
            return None
        self.stalled = stalled
        return "+stalled" if stalled else "-stalled"

    def unavailable_ms(self, now: float) -> float:
        """How long the node has failed to answer (Redis's 'elapsed' in sentinelCheckSubjectivelyDown)."""
        if self.ping_pending_since is not None:
            return now - self.ping_pending_since
        if not self.connected:
            return now - self.last_avail
        return 0.0

    def bound(self, down_after_ms: float, stalled_down_after_ms: float) -> float:
        """How long the node may stay unanswered before SDOWN: longer while it reports a stall."""
        return max(down_after_ms, stalled_down_after_ms) if self.stalled else down_after_ms

    def check(self, now: float, down_after_ms: float, stalled_down_after_ms: float,
              wrong_role_ms: float = 0.0, wrong_role_bound_ms: float = 0.0) -> str | None:
        """Update SDOWN; returns '+sdown' / '-sdown' on a change, else None. A master that has
        reported role slave for longer than wrong_role_bound_ms is down too (as in Redis)."""
        down = self.unavailable_ms(now) > self.bound(down_after_ms, stalled_down_after_ms) or (
            wrong_role_bound_ms > 0 and wrong_role_ms > wrong_role_bound_ms)
        if down == self.sdown:
            return None
        self.sdown = down
        self.sdown_since = now if down else 0.0
        return "+sdown" if down else "-sdown"


def is_valid_ping_reply(reply) -> bool:
    """Redis counts +PONG, -LOADING and -MASTERDOWN as 'available'."""
    if isinstance(reply, bytes):
        return reply.upper() == b"PONG"
    text = str(reply)
    return text.startswith("LOADING") or text.startswith("MASTERDOWN")


@dataclass
class PeerOpinion:
    """What another sentinel last told us about a master (reply to is-master-down-by-addr)."""

    master_down: bool = False
    reply_time: float = 0.0
    leader: str = ""
    leader_epoch: int = 0


def odown_votes(own_sdown: bool, peers: list[PeerOpinion], now: float) -> int:
    """Sentinels (us included) that currently consider the master down."""
    if not own_sdown:
        return 0
    return 1 + sum(1 for p in peers if p.master_down and now - p.reply_time < PEER_DOWN_VALIDITY_MS)


def is_odown(own_sdown: bool, peers: list[PeerOpinion], now: float, quorum: int) -> bool:
    return own_sdown and odown_votes(own_sdown, peers, now) >= quorum


@dataclass
class Epochs:
    """The sentinel's current epoch and its vote per master and epoch (sentinelVoteLeader)."""

    current: int = 0
    votes: dict[str, tuple[str, int]] = field(default_factory=dict)  # master -> (leader, epoch)

    def observe(self, epoch: int) -> bool:
        """A higher epoch seen anywhere becomes ours; True if it changed."""
        if epoch > self.current:
            self.current = epoch
            return True
        return False

    def vote(self, master: str, candidate: str, req_epoch: int) -> tuple[str, int]:
        """Vote for candidate in req_epoch if we have not voted in that epoch; return our vote."""
        self.observe(req_epoch)
        leader, leader_epoch = self.votes.get(master, ("", 0))
        if leader_epoch < req_epoch and self.current <= req_epoch:
            self.votes[master] = (candidate, self.current)
        return self.votes.get(master, ("", 0))

    def new_epoch(self) -> int:
        self.current += 1
        return self.current


def elect_leader(epochs: Epochs, master: str, my_id: str, epoch: int, peers: list[PeerOpinion],
                 quorum: int) -> str | None:
    """sentinelGetLeader: the leader of `epoch` if it has a majority of the known sentinels (and at
    least `quorum` votes), else None. Casts our own vote on the way, for the peers' favourite or
    ourselves."""
    counts: dict[str, int] = {}
    for p in peers:
        if p.leader and p.leader_epoch == epoch:
            counts[p.leader] = counts.get(p.leader, 0) + 1
    favourite = _winner(counts)
    leader, leader_epoch = epochs.vote(master, favourite or my_id, epoch)
    if leader and leader_epoch == epoch:
        counts[leader] = counts.get(leader, 0) + 1
    winner = _winner(counts)
    voters = len(peers) + 1
    if winner is None or counts[winner] < max(voters // 2 + 1, quorum):
        return None
    return winner


def _winner(counts: dict[str, int]) -> str | None:
    if not counts:
        return None
    # Most votes; ties broken by the lexicographically greater run id, as Redis does.
    return max(counts, key=lambda runid: (counts[runid], runid))


@dataclass
class Candidate:
    """A replica as the selection sees it (from INFO and health)."""

    addr: str
    runid: str = ""
    priority: int = 100
    offset: int = 0
    sdown: bool = False
    connected: bool = True
    stalled: bool = False
    last_avail_age_ms: float = 0.0
    info_age_ms: float = 0.0
    link_down_ms: float = 0.0


def select_replica(candidates: list[Candidate], master_down_ms: float, down_after_ms: float,
                   ping_period_ms: float, info_validity_ms: float) -> Candidate | None:
    """sentinelSelectSlave: drop unusable replicas, then lowest priority, highest offset, smallest
    run id. Priority 0 is never promoted. Stalled replicas are used only if nothing else is."""
    max_link_down = master_down_ms + down_after_ms * 10
    usable = [
        c for c in candidates
        if not c.sdown and c.connected and c.priority != 0
        and c.last_avail_age_ms <= ping_period_ms * 5
        and c.info_age_ms <= info_validity_ms
        and c.link_down_ms <= max_link_down
    ]
    if not usable:
        return None
    usable.sort(key=lambda c: (c.stalled, c.priority, -c.offset, c.runid == "", c.runid))
    return usable[0]


def jitter_ms(max_ms: float) -> float:
    """A random desynchronisation delay (SENTINEL_MAX_DESYNC)."""
    return random.random() * max_ms
