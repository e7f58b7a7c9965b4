"""What a sentinel knows of each monitored master, its replicas and its peer sentinels: the links,
the last INFO, health and opinions of one instance, and a master's failover settings and state."""

from __future__ import annotations

from dataclasses import dataclass, field

from xcache.sentinel import failover as fo
from xcache.sentinel.monitor import Link, NodeInfo, Subscriber
from xcache.sentinel.quorum import Health, PeerOpinion

NEVER = -1e18


@dataclass
class Instance:
    """A monitored node (master or slave) or a peer sentinel."""

    kind: str  # master | slave | sentinel
    host: str
    port: int
    health: Health
    runid: str = ""
    link: Link | None = None
    sub: Subscriber | None = None
    connecting: bool = False
    last_connect: float = NEVER
    info: NodeInfo | None = None
    info_time: float = 0.0
    info_sent: float = NEVER
    info_pending: bool = False
    last_hello_sent: float = NEVER
    role: str = ""
    role_time: float = 0.0
    promoted: bool = False
    last_fix: float = NEVER
    # peer sentinels
    last_hello: float = 0.0
    opinion: PeerOpinion = field(default_factory=PeerOpinion)
    last_ask: float = NEVER

    @property
    def addr(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def name(self) -> str:
        return self.runid if self.kind == "sentinel" else self.addr

    def close(self) -> None:
        if self.link is not None:
            self.link.close()
            self.link = None
        if self.sub is not None:
            self.sub.stop()
            self.sub = None


@dataclass
class Master(Instance):
    name_: str = ""
    quorum: int = 2
    down_after_ms: int = 30000
    stalled_down_after_ms: int = 60000
    failover_timeout_ms: int = 180000
    parallel_syncs: int = 1
    auth_pass: str = ""
    replicas: dict[str, Instance] = field(default_factory=dict)
    sentinels: dict[str, Instance] = field(default_factory=dict)  # runid -> peer
    config_epoch: int = 0
    odown: bool = False
    odown_since: float = 0.0
    failover: fo.Failover | None = None
    failover_start: float = NEVER
    failovers: int = 0  # attempts started by this sentinel
    failovers_done: int = 0  # completed with this sentinel as leader
    switches: int = 0  # +switch-master seen (as leader or from a peer's hello)

    @property
    def name(self) -> str:
        return self.name_

    def usable_sentinels(self) -> int:
        """Sentinels that can vote now: this one plus the connected peers not subjectively down."""
        return 1 + sum(1 for p in self.sentinels.values() if not p.health.sdown and p.health.connected)

    def current_addr(self) -> tuple[str, int]:
        """The address clients should use: the promoted replica once it is reconfiguring others."""
        f = self.failover
        if f and f.active and f.promoted and f.state in (fo.State.RECONF_REPLICAS, fo.State.DONE):
            host, port = f.promoted.rsplit(":", 1)
            return host, int(port)
        return self.host, self.port

    def status(self) -> str:
        if self.failover and self.failover.active:
            return "failover"
        if self.odown:
            return "odown"
        if self.health.sdown:
            return "sdown"
        if self.health.stalled:
            return "stalled"
        return "ok"
