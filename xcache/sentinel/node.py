"""The sentinel process: monitored masters, their replicas and peer sentinels, and the 100 ms timer
that probes them, decides (through quorum.py and failover.py) and acts.

All decisions are made by the sans-IO modules; this module sends commands, reads replies and
turns them into calls on those modules. Links are per instance: a command link (PING, INFO,
PUBLISH hello, REPLICAOF) and, for data nodes, a SUBSCRIBE link on `__sentinel__:hello`.

Reconfiguration never sends CLIENT KILL: Redis Sentinel kills every normal client of a promoted
or demoted node at once, which turns a failover into a reconnect storm (the incident). Clients of a
demoted master get -READONLY on their next write and re-discover the master; the proxy follows
+switch-master and replays held requests.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable

from xcache.observability.logs import log_event
from xcache.sentinel import failover as fo
from xcache.sentinel import state
from xcache.sentinel.config import SentinelConfig
from xcache.sentinel.instances import NEVER, Instance, Master
from xcache.sentinel.monitor import HELLO_CHANNEL, Link, NodeInfo, Subscriber, node_info, parse_info
from xcache.sentinel.quorum import (
    Candidate,
    Epochs,
    Health,
    PeerOpinion,
    elect_leader,
    is_odown,
    is_valid_ping_reply,
    jitter_ms,
    odown_votes,
    select_replica,
)

TICK_S = 0.1
ASK_PERIOD_MS = 1000.0
FAST_INFO_MS = 1000.0
PROMOTION_INFO_MS = 100.0  # INFO period of a replica being promoted (Redis: 1000)


def now_ms() -> float:
    return time.monotonic() * 1000.0


def log(event: str, **fields) -> None:
    log_event("sentinel", event, **fields)


def split_addr(addr: str) -> tuple[str, int]:
    host, port = addr.rsplit(":", 1)
    return host, int(port)


class SentinelNode:
    """State and timer of one sentinel. `publish(channel, message)` feeds client subscriptions."""

    def __init__(self, cfg: SentinelConfig, publish: Callable[[str, str], None] | None = None,
                 run_id: str | None = None):
        self.cfg = cfg
        self.run_id = run_id or os.urandom(20).hex()
        self.epochs = Epochs()
        self.masters: dict[str, Master] = {}
        self.publish = publish or (lambda channel, message: None)
        self.listeners: list[Callable[[str, str, str], None]] = []  # (event, master, text) -> None
        self._saved: dict | None = None
        self._tasks: set[asyncio.Task] = set()  # connects in flight (kept referenced)

    # ---- configuration -------------------------------------------------------------------
    def monitor(self, name: str, host: str, port: int, quorum: int) -> Master:
        now = now_ms()
        c = self.cfg
        m = Master("master", host, port, Health(created=now), name_=name, quorum=quorum,
                   down_after_ms=c.down_after_ms, stalled_down_after_ms=c.stalled_down_after_ms,
                   failover_timeout_ms=c.failover_timeout_ms, parallel_syncs=c.parallel_syncs,
                   auth_pass=c.auth_pass)
        self.masters[name] = m
        self.event("+monitor", m, m, f" quorum {quorum}")
        return m

    def restore(self, doc: dict) -> None:
        """Reload what state.snapshot saved (run id excepted: pass it to the constructor)."""
        self.epochs.current = int(doc.get("current_epoch", 0))
        self.epochs.votes = {name: (v[0], int(v[1])) for name, v in doc.get("votes", {}).items()}
        now = now_ms()
        for name, d in doc.get("masters", {}).items():
            m = self.monitor(name, d["host"], int(d["port"]), int(d["quorum"]))
            for k in state.SETTINGS:
                if k in d:
                    setattr(m, k, d[k])
            m.config_epoch = int(d.get("config_epoch", 0))
            for addr in d.get("replicas", []):
                host, port = split_addr(addr)
                m.replicas[addr] = Instance("slave", host, port, Health(created=now))
            for runid, host, port in d.get("sentinels", []):
                m.sentinels[runid] = Instance("sentinel", host, int(port), Health(created=now), runid=runid)
        self._saved = state.snapshot(self)

    def save_state(self) -> None:
        """Write the state file if anything persistent changed (called every tick)."""
        if not self.cfg.state_file:
            return
        doc = state.snapshot(self)
        if doc != self._saved:
            state.save(self.cfg.state_file, doc)
            self._saved = doc

    def remove(self, name: str) -> None:
        m = self.masters.pop(name)
        for inst in (m, *m.replicas.values(), *m.sentinels.values()):
            inst.close()
        self.event("-monitor", m, m)

    def reset(self, m: Master) -> None:
        for inst in (m, *m.replicas.values(), *m.sentinels.values()):
            inst.close()
        m.replicas.clear()
        m.sentinels.clear()
        m.failover = None
        m.odown = False
        m.health = Health(created=now_ms())
        m.info = None
        m.role = ""
        self.event("+reset-master", m, m)

    # ---- events ----------------------------------------------------------------------------
    def describe(self, inst: Instance, m: Master) -> str:
        text = f"{inst.kind} {inst.name} {inst.host} {inst.port}"
        if inst is not m:
            text += f" @ {m.name} {m.host} {m.port}"
        return text

    def event(self, name: str, m: Master, inst: Instance | None = None, extra: str = "",
              raw: str | None = None) -> None:
        text = raw if raw is not None else self.describe(inst or m, m) + extra
        log("sentinel", type=name, master=m.name, detail=text)
        self.publish(name, text)
        for listener in self.listeners:
            listener(name, m.name, text)

    # ---- timer -----------------------------------------------------------------------------
    async def run(self) -> None:
        while True:
            try:
                self.tick(now_ms())
            except Exception as exc:  # one bad tick must not stop monitoring
                log("tick-error", error=repr(exc))
            await asyncio.sleep(TICK_S)

    def tick(self, now: float) -> None:
        for m in list(self.masters.values()):
            self._probe(m, m, now)
            for r in list(m.replicas.values()):
                self._probe(r, m, now)
            for s in list(m.sentinels.values()):
                self._probe(s, m, now)
            self._check(m, now)
        self.save_state()

    def _ping_period(self, m: Master) -> float:
        return float(min(self.cfg.ping_period_ms, m.down_after_ms))

    def _info_period(self, inst: Instance, m: Master) -> float:
        if inst.promoted and m.failover and m.failover.state is fo.State.WAIT_PROMOTION:
            return PROMOTION_INFO_MS
        if inst.kind == "slave" and (m.health.sdown or m.odown or (m.failover and m.failover.active)):
            return FAST_INFO_MS
        if inst.kind == "slave" and inst.role == "master":
            return FAST_INFO_MS  # misconfigured: a replica that thinks it is a master
        if inst.health.stalled or inst.health.probe_latency_ms > m.down_after_ms / 10:
            return FAST_INFO_MS  # stalled or slowing down: learn about (the end of) a stall early
        return float(self.cfg.info_period_ms)

    def _probe(self, inst: Instance, m: Master, now: float) -> None:
        h = inst.health
        period = self._ping_period(m)
        if inst.link is None or not inst.link.connected:
            if not inst.connecting and now - inst.last_connect >= period:
                inst.last_connect = now
                inst.connecting = True
                task = asyncio.create_task(self._connect(inst, m))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            return
        data_node = inst.kind != "sentinel"
        if data_node and (inst.sub is None or not inst.sub.running) and now - inst.last_connect >= period:
            inst.last_connect = now
            inst.sub = Subscriber(inst.host, inst.port, HELLO_CHANNEL,
                                  lambda ch, msg: self._on_hello(msg))
            inst.sub.start(period / 1000.0 + 1.0, m.auth_pass, f"sentinel-{self.run_id[:8]}-pubsub")
        # A link with a PING unanswered for half of the SDOWN bound is reopened (as Redis does).
        half = h.bound(m.down_after_ms, m.stalled_down_after_ms) / 2
        if h.ping_pending_since is not None and now - h.ping_pending_since > half \
                and now - inst.last_connect > half:
            inst.link.close()
            return
        if now - h.last_pong > period and now - h.last_ping_sent > period / 2:
            h.on_ping_sent(now)
            sent = now
            self._request(inst.link, ("PING",), lambda r: h.on_ping_reply(now_ms(), sent, is_valid_ping_reply(r)))
        if data_node:
            if not inst.info_pending and now - inst.info_sent >= self._info_period(inst, m):
                self._send_info(inst, m, now)
            if now - inst.last_hello_sent >= self.cfg.hello_period_ms:
                inst.last_hello_sent = now
                self._send_hello(inst, m)

    async def _connect(self, inst: Instance, m: Master) -> None:
        link = Link(inst.host, inst.port, on_close=lambda: inst.health.on_disconnected(now_ms()))
        try:
            auth = m.auth_pass if inst.kind != "sentinel" else (self.cfg.sentinel_pass or self.cfg.requirepass)
            await link.open(max(self._ping_period(m) / 1000.0, 0.5), auth,
                            f"sentinel-{self.run_id[:8]}-cmd")
        except (TimeoutError, OSError):
            link.close()
            return
        finally:
            inst.connecting = False
        if (inst.host, inst.port) != (link.host, link.port) or not self._live(inst, m):
            link.close()  # the instance moved (switch-master) or was dropped while we connected
            return
        if inst.link is not None:
            inst.link.close()
        inst.link = link
        inst.health.on_connected(now_ms())
        if inst.kind != "sentinel":
            self._send_info(inst, m, now_ms())

    def _live(self, inst: Instance, m: Master) -> bool:
        if self.masters.get(m.name) is not m:
            return False
        return inst is m or m.replicas.get(inst.addr) is inst or m.sentinels.get(inst.runid) is inst

    def _request(self, link: Link, args: tuple, on_reply: Callable[[object], None]) -> None:
        fut = link.send(*args)

        def done(f: asyncio.Future) -> None:
            if f.cancelled() or f.exception() is not None:
                return
            try:
                on_reply(f.result())
            except Exception as exc:
                log("reply-error", command=args[0], error=repr(exc))

        fut.add_done_callback(done)

    # ---- INFO ------------------------------------------------------------------------------
    def _send_info(self, inst: Instance, m: Master, now: float) -> None:
        if inst.link is None:
            return
        inst.info_sent = now
        inst.info_pending = True

        def done(f: asyncio.Future) -> None:
            inst.info_pending = False
            if not f.cancelled() and f.exception() is None and isinstance(f.result(), bytes):
                self._on_info(inst, m, f.result(), now_ms())

        inst.link.send("INFO").add_done_callback(done)

    def _on_info(self, inst: Instance, m: Master, text: bytes, now: float) -> None:
        if self.masters.get(m.name) is not m:
            return
        info = node_info(parse_info(text))
        inst.info = info
        inst.info_time = now
        if info.run_id and inst.runid and info.run_id != inst.runid:
            self.event("+reboot", m, inst)
        inst.runid = info.run_id or inst.runid
        if info.role != inst.role:
            if inst.role:
                self.event("+role-change", m, inst,
                           f" new reported role is {info.role}")
            inst.role = info.role
            inst.role_time = now
        change = inst.health.on_stall_report(info.stalled, info.stall_seconds)
        if change:
            self.event(change, m, inst, f" write_stall_seconds {info.stall_seconds:g}")
        if inst is m and info.role == "master":
            for host, port in info.replicas:
                addr = f"{host}:{port}"
                if addr not in m.replicas and addr != m.addr:
                    r = Instance("slave", host, port, Health(created=now))
                    m.replicas[addr] = r
                    self.event("+slave", m, r)
        if inst.kind == "slave":
            self._fix_replica(inst, m, info, now)

    def _master_looks_sane(self, m: Master, now: float) -> bool:
        return (not m.health.sdown and m.role == "master"
                and now - m.info_time < self.cfg.info_period_ms * 2)

    def _fix_replica(self, r: Instance, m: Master, info: NodeInfo, now: float) -> None:
        """Point a replica that reports the wrong role or master back at our master."""
        if m.failover is not None and m.failover.active:
            return
        wait = self.cfg.hello_period_ms * 4
        if not self._master_looks_sane(m, now) or now - r.role_time <= wait or r.health.sdown:
            return
        if now - r.last_fix < wait:
            return
        if info.role == "master":
            r.last_fix = now
            self._replicaof(r, m.host, m.port)
            self.event("+convert-to-slave", m, r)
        elif info.role == "slave" and (info.master_host, info.master_port) != (m.host, m.port):
            r.last_fix = now
            self._replicaof(r, m.host, m.port)
            self.event("+fix-slave-config", m, r)

    def _replicaof(self, inst: Instance, host: str, port: int | None) -> None:
        if inst.link is None:
            return
        args = ("REPLICAOF", "NO", "ONE") if port is None else ("REPLICAOF", host, str(port))

        def on_reply(reply) -> None:
            if not isinstance(reply, bytes) and "unknown command" in str(reply).lower():
                self._request(inst.link, ("SLAVEOF", *args[1:]), lambda r: None)

        self._request(inst.link, args, on_reply)
        # CONFIG REWRITE persists the role on nodes that have a config file; errors are ignored.
        self._request(inst.link, ("CONFIG", "REWRITE"), lambda r: None)

    # ---- hello -----------------------------------------------------------------------------
    def _send_hello(self, inst: Instance, m: Master) -> None:
        if inst.link is None:
            return
        ip = self.cfg.announce_ip or inst.link.local_ip or self.cfg.bind
        port = self.cfg.announce_port or self.cfg.port
        mhost, mport = m.current_addr()
        payload = (f"{ip},{port},{self.run_id},{self.epochs.current},{m.name},{mhost},{mport},"
                   f"{m.config_epoch}")
        self._request(inst.link, ("PUBLISH", HELLO_CHANNEL, payload), lambda r: None)

    def _on_hello(self, msg: bytes) -> None:
        parts = msg.decode(errors="replace").split(",")
        if len(parts) != 8:
            return
        ip, port_s, runid, epoch_s, name, mhost, mport_s, mepoch_s = parts
        try:
            port, epoch, mport, mepoch = int(port_s), int(epoch_s), int(mport_s), int(mepoch_s)
        except ValueError:
            return
        m = self.masters.get(name)
        if m is None or runid == self.run_id:
            return
        now = now_ms()
        peer = m.sentinels.get(runid)
        if peer is None:
            for old_id, old in list(m.sentinels.items()):
                if (old.host, old.port) == (ip, port):  # same address, new run id: restarted
                    old.close()
                    del m.sentinels[old_id]
            peer = Instance("sentinel", ip, port, Health(created=now), runid=runid)
            m.sentinels[runid] = peer
            self.event("+sentinel", m, peer)
        peer.last_hello = now
        if self.epochs.observe(epoch):
            self.event("+new-epoch", m, raw=str(epoch))
        if m.config_epoch < mepoch:
            m.config_epoch = mepoch
            if (mhost, mport) != (m.host, m.port):
                self.event("+config-update-from", m, peer)
                self._switch(m, mhost, mport)

    # ---- agreement and failover ------------------------------------------------------------
    def _check(self, m: Master, now: float) -> None:
        for inst in (m, *m.replicas.values(), *m.sentinels.values()):
            wrong_role = now - inst.role_time if inst is m and inst.role == "slave" else 0.0
            change = inst.health.check(now, m.down_after_ms, m.stalled_down_after_ms, wrong_role,
                                       m.down_after_ms + self.cfg.info_period_ms * 2)
            if change:
                # A stalled node that went silent past stalled_down_after_ms says so (like #quorum).
                stalled = change == "+sdown" and inst.health.stalled
                self.event(change, m, inst, " #stalled" if stalled else "")
        peers = [s.opinion for s in m.sentinels.values()]
        odown = is_odown(m.health.sdown, peers, now, m.quorum)
        if odown != m.odown:
            m.odown = odown
            m.odown_since = now if odown else 0.0
            votes = odown_votes(m.health.sdown, peers, now)
            self.event("+odown" if odown else "-odown", m, m,
                       f" #quorum {votes}/{m.quorum}" if odown else "")
        if m.health.sdown:
            self._ask_peers(m, now, forced=False)
        if m.odown and (m.failover is None or not m.failover.active) \
                and now - m.failover_start >= m.failover_timeout_ms * 2:
            self._start_failover(m, now, forced=False)
        if m.failover is not None and m.failover.active:
            self._step_failover(m, now)

    def _ask_peers(self, m: Master, now: float, forced: bool) -> None:
        f = m.failover
        candidate = self.run_id if f is not None and f.active and f.state is fo.State.WAIT_START else "*"
        for peer in m.sentinels.values():
            if peer.link is None or not peer.link.connected:
                continue
            if not forced and now - peer.last_ask < ASK_PERIOD_MS:
                continue
            peer.last_ask = now
            op = peer.opinion

            def on_reply(reply, op=op, candidate=candidate) -> None:
                if not isinstance(reply, list) or len(reply) != 3:
                    return
                op.master_down = reply[0] == 1
                op.reply_time = now_ms()
                if candidate != "*" and isinstance(reply[1], bytes) and reply[1] != b"*":
                    op.leader = reply[1].decode()
                    op.leader_epoch = int(reply[2])

            self._request(peer.link, ("SENTINEL", "is-master-down-by-addr", m.host, str(m.port),
                                      str(self.epochs.current), candidate), on_reply)

    def _start_failover(self, m: Master, now: float, forced: bool) -> None:
        epoch = self.epochs.new_epoch()
        self.event("+new-epoch", m, raw=str(epoch))
        m.failover = fo.Failover(epoch, now, m.failover_timeout_ms, m.parallel_syncs, forced)
        m.failover_start = now + jitter_ms(1000.0)
        m.failovers += 1
        self.event("+try-failover", m, m)
        if not forced:
            self._ask_peers(m, now, forced=True)

    def vote(self, m: Master, candidate: str, epoch: int) -> tuple[str, int]:
        """A vote request from a peer (or from ourselves); returns our vote for that master."""
        before_epoch, before_vote = self.epochs.current, self.epochs.votes.get(m.name)
        leader, leader_epoch = self.epochs.vote(m.name, candidate, epoch)
        if self.epochs.current != before_epoch:
            self.event("+new-epoch", m, raw=str(self.epochs.current))
        if (leader, leader_epoch) != before_vote:
            self.event("+vote-for-leader", m, raw=f"{leader} {leader_epoch}")
            if leader != self.run_id:
                # Do not start our own failover of this master while the one we voted for runs.
                m.failover_start = now_ms() + jitter_ms(1000.0)
        return leader, leader_epoch

    def _view(self, m: Master, f: fo.Failover, now: float) -> fo.View:
        view = fo.View(my_id=self.run_id)
        if f.state is fo.State.WAIT_START:
            peers = [s.opinion for s in m.sentinels.values()]
            view.leader = elect_leader(self.epochs, m.name, self.run_id, f.epoch, peers, m.quorum)
        if f.state is fo.State.SELECT_REPLICA or f.state is fo.State.WAIT_START:
            view.candidate = self._select(m, now)
        promoted = m.replicas.get(f.promoted or "")
        if promoted is not None:
            view.promoted_connected = promoted.link is not None and promoted.link.connected
            if promoted.info_time > f.promote_sent_time:
                view.promoted_role = promoted.role
        for addr, r in m.replicas.items():
            if addr == f.promoted:
                continue
            info = r.info
            view.replicas[addr] = fo.ReplicaStatus(
                sdown=r.health.sdown,
                master_addr=f"{info.master_host}:{info.master_port}" if info else "",
                link_up=bool(info and info.master_link_up), info_time=r.info_time)
        return view

    def _select(self, m: Master, now: float) -> str | None:
        cands = []
        for addr, r in m.replicas.items():
            info = r.info
            if info is None or r.role != "slave":
                continue
            cands.append(Candidate(
                addr=addr, runid=r.runid, priority=info.priority, offset=info.repl_offset,
                sdown=r.health.sdown, connected=bool(r.link and r.link.connected),
                stalled=r.health.stalled, last_avail_age_ms=now - r.health.last_avail,
                info_age_ms=now - r.info_time, link_down_ms=info.master_link_down_ms))
        master_down_ms = now - m.health.sdown_since if m.health.sdown else 0.0
        # Redis: INFO must be fresher than 5 ping periods while the master is down, else 3 INFO periods.
        validity = FAST_INFO_MS * 5 if m.health.sdown else self.cfg.info_period_ms * 3.0
        choice = select_replica(cands, master_down_ms, m.down_after_ms, self._ping_period(m), validity)
        return choice.addr if choice else None

    def _step_failover(self, m: Master, now: float) -> None:
        f = m.failover
        for action in f.step(now, self._view(m, f, now)):
            if isinstance(action, fo.Event):
                inst = m.replicas.get(action.addr or "", m)
                if action.name == "+elected-leader":
                    self.event(action.name, m, m, f" #epoch {f.epoch}")
                else:
                    self.event(action.name, m, inst)
                if action.name == "+promoted-slave":
                    m.config_epoch = f.epoch  # the new configuration is now what hellos announce
                    for inst2 in (m, *m.replicas.values()):
                        inst2.last_hello_sent = NEVER
            elif isinstance(action, fo.Promote):
                r = m.replicas[action.addr]
                r.promoted = True
                self._replicaof(r, "", None)
                self._send_info(r, m, now)  # pipelined after REPLICAOF: reports the new role at once
            elif isinstance(action, fo.Reconfigure):
                host, port = split_addr(action.to)
                self._replicaof(m.replicas[action.addr], host, port)
            elif isinstance(action, fo.SwitchMaster):
                host, port = split_addr(action.new_addr)
                m.failovers_done += 1
                self._switch(m, host, port)
            elif isinstance(action, fo.Abort):
                self.event(action.reason, m, m)
                for r in m.replicas.values():
                    r.promoted = False

    def start_forced_failover(self, m: Master) -> str | None:
        """SENTINEL FAILOVER: None if started, else the error."""
        if m.failover is not None and m.failover.active:
            return "INPROG Failover already in progress"
        if self._select(m, now_ms()) is None:
            return "NOGOODSLAVE No suitable replica to promote"
        self._start_failover(m, now_ms(), forced=True)
        return None

    def _switch(self, m: Master, host: str, port: int) -> None:
        """Make host:port the master; the old master and the other replicas become its replicas."""
        old_host, old_port = m.host, m.port
        self.event("+switch-master", m, raw=f"{m.name} {old_host} {old_port} {host} {port}")
        m.switches += 1
        keep = [a for a in m.replicas if a != f"{host}:{port}"]
        if (old_host, old_port) != (host, port):
            keep.append(f"{old_host}:{old_port}")
        for inst in (m, *m.replicas.values()):
            inst.close()
        now = now_ms()
        m.host, m.port = host, port
        m.health = Health(created=now)
        m.info, m.info_time, m.role, m.runid = None, 0.0, "", ""
        m.info_sent = m.last_hello_sent = m.last_connect = NEVER
        m.odown = False
        m.failover = None
        m.failover_start = NEVER  # the new master may be failed over at once (Redis resets it too)
        m.replicas = {}
        for addr in keep:
            h, p = split_addr(addr)
            m.replicas[addr] = Instance("slave", h, p, Health(created=now))
        for addr in keep:
            self.event("+slave", m, m.replicas[addr])
        for peer in m.sentinels.values():
            peer.opinion = PeerOpinion()

    # ---- queries ---------------------------------------------------------------------------
    def master_by_addr(self, host: str, port: int) -> Master | None:
        for m in self.masters.values():
            if (m.host, m.port) == (host, port):
                return m
        return None
