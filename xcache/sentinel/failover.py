"""Sans-IO failover state machine (sentinelFailoverStateMachine in Redis).

The caller gives a `View` of the world each tick (who won the election, which replica to pick,
what the nodes report) and performs the returned actions (send REPLICAOF, publish events, switch
the master address). No sockets, no clocks: `now` is passed in (ms).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

ELECTION_TIMEOUT_MS = 10000


class State(enum.Enum):
    WAIT_START = "wait_start"
    SELECT_REPLICA = "select_slave"
    SEND_PROMOTE = "send_slaveof_noone"
    WAIT_PROMOTION = "wait_promotion"
    RECONF_REPLICAS = "reconf_slaves"
    DONE = "update_config"
    ABORTED = "aborted"


@dataclass
class ReplicaStatus:
    """A replica of the failing master (not the promoted one), as seen in its latest INFO."""

    sdown: bool = False
    master_addr: str = ""  # 'host:port' it replicates from, per INFO
    link_up: bool = False
    info_time: float = 0.0  # when that INFO was received


@dataclass
class View:
    my_id: str
    leader: str | None = None  # elected leader of the failover epoch
    candidate: str | None = None  # replica chosen by select_replica
    promoted_connected: bool = False
    promoted_role: str = ""  # role the promoted replica reported after PROMOTE was sent
    replicas: dict[str, ReplicaStatus] = field(default_factory=dict)


# Actions (what the shell must do)
@dataclass
class Event:
    name: str
    addr: str | None = None  # instance the event is about; None = the master


@dataclass
class Promote:
    addr: str  # send REPLICAOF NO ONE


@dataclass
class Reconfigure:
    addr: str  # send REPLICAOF <promoted>
    to: str


@dataclass
class SwitchMaster:
    new_addr: str


@dataclass
class Abort:
    reason: str  # event name, e.g. -failover-abort-not-elected


Action = Event | Promote | Reconfigure | SwitchMaster | Abort


class Failover:
    """One failover attempt of one master in one epoch."""

    def __init__(self, epoch: int, now: float, timeout_ms: float, parallel_syncs: int,
                 forced: bool = False):
        self.epoch = epoch
        self.started = now
        self.state = State.WAIT_START
        self.state_time = now
        self.timeout_ms = timeout_ms
        self.parallel_syncs = parallel_syncs
        self.forced = forced
        self.promoted: str | None = None
        self.promote_sent_time = 0.0
        self.reconf: dict[str, tuple[str, float]] = {}  # addr -> (sent|inprog|done, time)

    @property
    def active(self) -> bool:
        return self.state not in (State.DONE, State.ABORTED)

    def _goto(self, state: State, now: float) -> None:
        self.state = state
        self.state_time = now

    def _abort(self, reason: str) -> list[Action]:
        self.state = State.ABORTED
        return [Abort(reason)]

    def step(self, now: float, view: View) -> list[Action]:
        out: list[Action] = []
        if self.state is State.WAIT_START:
            if not (self.forced or view.leader == view.my_id):
                if now - self.started > min(ELECTION_TIMEOUT_MS, self.timeout_ms):
                    return self._abort("-failover-abort-not-elected")
                return out
            out.append(Event("+elected-leader"))
            out.append(Event("+failover-state-select-slave"))
            self._goto(State.SELECT_REPLICA, now)
        if self.state is State.SELECT_REPLICA:
            if view.candidate is None:
                return out + self._abort("-failover-abort-no-good-slave")
            self.promoted = view.candidate
            out.append(Event("+selected-slave", self.promoted))
            out.append(Event("+failover-state-send-slaveof-noone", self.promoted))
            self._goto(State.SEND_PROMOTE, now)
        if self.state is State.SEND_PROMOTE:
            if not view.promoted_connected:
                if now - self.state_time > self.timeout_ms:
                    return out + self._abort("-failover-abort-slave-timeout")
                return out
            out.append(Promote(self.promoted))
            out.append(Event("+failover-state-wait-promotion", self.promoted))
            self.promote_sent_time = now
            self._goto(State.WAIT_PROMOTION, now)
            return out
        if self.state is State.WAIT_PROMOTION:
            if view.promoted_role != "master":
                if now - self.state_time > self.timeout_ms:
                    return out + self._abort("-failover-abort-slave-timeout")
                return out
            out.append(Event("+promoted-slave", self.promoted))
            out.append(Event("+failover-state-reconf-slaves", self.promoted))
            self._goto(State.RECONF_REPLICAS, now)
        if self.state is State.RECONF_REPLICAS:
            out.extend(self._reconfigure(now, view))
        return out

    def _reconfigure(self, now: float, view: View) -> list[Action]:
        out: list[Action] = []
        promoted = self.promoted or ""
        for addr, st in view.replicas.items():
            state, since = self.reconf.get(addr, ("", 0.0))
            if state == "sent" and st.master_addr == promoted and st.info_time > since:
                self.reconf[addr] = state_since = ("inprog", now)
                state, since = state_since
                out.append(Event("+slave-reconf-inprog", addr))
            if state == "inprog" and st.link_up:
                self.reconf[addr] = ("done", now)
                out.append(Event("+slave-reconf-done", addr))
            elif state == "sent" and now - since > self.timeout_ms:
                self.reconf[addr] = ("done", now)  # Redis: a timed-out replica counts as done
        pending = [a for a, st in view.replicas.items()
                   if not st.sdown and self.reconf.get(a, ("",))[0] != "done"]
        timed_out = now - self.state_time > self.timeout_ms
        if pending and not timed_out:
            in_flight = sum(1 for a in pending if self.reconf.get(a, ("",))[0] in ("sent", "inprog"))
            for addr in pending:
                if in_flight >= self.parallel_syncs:
                    break
                if addr not in self.reconf:
                    self.reconf[addr] = ("sent", now)
                    in_flight += 1
                    out.append(Reconfigure(addr, promoted))
                    out.append(Event("+slave-reconf-sent", addr))
            return out
        if timed_out:
            out.append(Event("+failover-end-for-timeout"))
            for addr in pending:
                if addr not in self.reconf:
                    out.append(Reconfigure(addr, promoted))
                    out.append(Event("+slave-reconf-sent-be", addr))
        out.append(Event("+failover-end"))
        out.append(SwitchMaster(promoted))
        self._goto(State.DONE, now)
        return out
