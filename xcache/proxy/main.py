"""The proxy supervisor: listening sockets, worker processes, and the admin API.

It creates one SO_REUSEPORT listening socket per worker and keeps a copy of each, so it can report
every worker's accept queue even while that worker is stuck, and can restart a dead worker on the
same socket without losing the queue. Slot tables, breaker and limits are pushed to all workers;
stats are gathered from all and summed.

resize() changes the worker count at run time (PUT /workers): growing adds a socket to the
SO_REUSEPORT group and a worker on it; shrinking retires the last worker gracefully: new
connections are steered away from its socket (steering.py), it accepts what is still queued, stops
listening, and is stopped once its sessions finished or worker_drain_timeout_ms passed.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from collections import defaultdict

from xcache.observability import tcpinfo
from xcache.proxy import register, uplink
from xcache.proxy.acl import build_acl
from xcache.proxy.admin import AdminServer, ResizeError
from xcache.proxy.admission import make_listen_socket
from xcache.proxy.backend import STATES
from xcache.proxy.config import ProxyConfig, split_list
from xcache.proxy.logs import log
from xcache.proxy.router import SlotTable
from xcache.proxy.steering import steer
from xcache.proxy.worker import launch_spec, run_loop

CALL_TIMEOUT_S = 1.0  # a control request's own work; a table push adds its barrier wait (push_table)
READY_TIMEOUT_S = 15.0
POLL_S = 0.05


class WorkerHandle:
    def __init__(self, index: int, lsock: socket.socket):
        self.index = index
        self.lsock: socket.socket | None = lsock
        self.retiring = False
        self.proc: subprocess.Popen | None = None
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.lock = asyncio.Lock()
        self.seq = 0
        self.uplink_task: asyncio.Task | None = None

    async def call(self, msg: dict, timeout: float = CALL_TIMEOUT_S) -> dict | None:
        """One request/response on the control channel; None if the worker does not answer in time.

        Requests carry an id; a late answer to an earlier, timed-out request is skipped. The
        channel is never closed on a timeout: a worker exits when its channel closes.
        """
        if self.writer is None:
            return None
        async with self.lock:
            self.seq += 1
            try:
                self.writer.write(json.dumps({**msg, "id": self.seq}).encode() + b"\n")
                async with asyncio.timeout(timeout):
                    while True:
                        line = await self.reader.readline()
                        if not line:  # the worker is gone; spawn() opens a new channel
                            self.writer = None
                            return None
                        reply = json.loads(line)
                        if reply.get("id") == self.seq:
                            return reply
            except (TimeoutError, ConnectionError, OSError, ValueError, RuntimeError):
                return None


class Supervisor:
    def __init__(self, cfg: ProxyConfig, table: SlotTable | None):
        self.cfg = cfg
        self.table = table
        self.breaker = {"commands": split_list(cfg.blocked_commands),
                        "write_prefixes": split_list(cfg.blocked_write_prefixes)}
        self.limits = {"qps_limit": cfg.qps_limit, "session_qps_limit": cfg.session_qps_limit}
        self.workers: list[WorkerHandle] = []  # running ones first, then any retiring ones
        self.stopping = False
        self.backlog = cfg.effective_backlog()
        self.drain_task: asyncio.Task | None = None
        self.resize_lock = asyncio.Lock()
        # the users as ACL SETUSER/DELUSER left them in every worker (uplink.py), for new workers
        self.acl = build_acl(cfg.session_password, cfg.users)
        self.configured_users = set(self.acl.users)
        self.acl_changed = False

    def _listen(self) -> socket.socket:
        lsock = make_listen_socket(self.cfg.bind, self.cfg.port, self.backlog, self.cfg.defer_accept_ms)
        if self.cfg.port == 0:  # ephemeral: all workers share the first socket's port
            self.cfg.port = lsock.getsockname()[1]
        return lsock

    @property
    def active(self) -> list[WorkerHandle]:
        return [w for w in self.workers if not w.retiring]

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        n = self.cfg.worker_count()
        self.cfg.workers = n
        for i in range(n):
            self.workers.append(WorkerHandle(i, self._listen()))
        admin = AdminServer(self)
        await admin.start()
        registration = register.start(self.cfg)  # joins the dashboard's topology (a lease)
        for w in self.workers:
            await self.spawn(w)
        log("proxy_started", port=self.cfg.port, admin_port=self.cfg.admin_port, workers=n,
            backlog=self.backlog, gate=self.cfg.admission_gate,
            epoch=self.table.epoch if self.table else "none")
        stop = loop.create_future()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
        while not stop.done():
            await asyncio.wait([stop], timeout=0.5)
            for w in list(self.workers):
                if w.proc is not None and w.proc.poll() is not None and not stop.done() and not w.retiring:
                    log("worker_died", level="error", worker=w.index, rc=w.proc.returncode)
                    await self.spawn(w)
        self.stopping = True
        if registration is not None:
            await registration.stop()  # leave the topology before the port closes
        if self.drain_task is not None:
            self.drain_task.cancel()
        await admin.stop()
        for w in self.workers:
            if w.proc and w.proc.poll() is None:
                w.proc.send_signal(signal.SIGCONT)
                w.proc.terminate()
        for w in self.workers:
            if w.proc:
                try:
                    await asyncio.get_running_loop().run_in_executor(None, w.proc.wait, 5)
                except subprocess.TimeoutExpired:
                    w.proc.kill()
        log("proxy_stopped")

    async def spawn(self, w: WorkerHandle) -> None:
        ours, theirs = socket.socketpair()
        up_ours, up_theirs = socket.socketpair()  # the worker's requests (uplink.py)
        env = {**os.environ, "XCACHE_PROXY_WORKER_INDEX": str(w.index),
               "XCACHE_PROXY_WORKER": launch_spec(self.cfg, w.index, w.lsock.fileno(), theirs.fileno(),
                                                  self.table, self.breaker, up_theirs.fileno(),
                                                  uplink.replay(self.acl, self.configured_users)
                                                  if self.acl_changed else [])}
        w.proc = subprocess.Popen([sys.executable, "-m", "xcache.proxy.worker"], env=env,
                                  pass_fds=(w.lsock.fileno(), theirs.fileno(), up_theirs.fileno()))
        theirs.close()
        up_theirs.close()
        w.reader, w.writer = await asyncio.open_connection(sock=ours)
        w.uplink_task = asyncio.ensure_future(uplink.serve(self, w, up_ours))
        if self.limits != {"qps_limit": self.cfg.qps_limit, "session_qps_limit": self.cfg.session_qps_limit}:
            await w.call({"op": "limits", **self.limits})

    # -- resizing ---------------------------------------------------------------------------------
    def workers_info(self) -> dict:
        return {"count": len(self.active), "max_workers": self.cfg.max_worker_count(),
                "resizing": self.drain_task is not None and not self.drain_task.done(),
                "workers": [{"index": w.index, "pid": w.proc.pid if w.proc else None,
                             "state": "retiring" if w.retiring else "running"} for w in self.workers]}

    async def resize(self, n: int) -> dict:
        """Grow to or shrink towards n workers; a shrink goes on in the background (drain)."""
        async with self.resize_lock:
            return await self._resize(n)

    async def _resize(self, n: int) -> dict:
        top = self.cfg.max_worker_count()
        if not 1 <= n <= top:
            raise ResizeError(400, f"count must be between 1 and max_workers ({top})")
        if self.drain_task is not None and not self.drain_task.done():
            raise ResizeError(409, "a shrink is in progress: a worker is still draining")
        current = len(self.workers)
        while len(self.workers) < n:
            w = WorkerHandle(len(self.workers), self._listen())
            self.workers.append(w)
            await self.spawn(w)
            await self._wait_ready(w)
        retiring = self.workers[n:]
        for w in retiring:
            w.retiring = True
        self.cfg.workers = n  # new workers' config, and the per-worker share of qps_limit
        if not steer(self.workers[0].lsock, n):
            log("steering_unavailable", level="warning", note="retiring sockets may still get connections")
        await self.broadcast({"op": "limits", **self.limits, "workers": n})
        if retiring:
            self.drain_task = asyncio.get_running_loop().create_task(self._retire(retiring))
        log("workers_resized", before=current, after=n, retiring=len(retiring))
        return self.workers_info()

    async def _wait_ready(self, w: WorkerHandle) -> None:
        deadline = asyncio.get_running_loop().time() + READY_TIMEOUT_S
        while asyncio.get_running_loop().time() < deadline:
            reply = await w.call({"op": "ping"})
            if reply and reply.get("ok"):
                return
            if w.proc is not None and w.proc.poll() is not None:
                break
            await asyncio.sleep(POLL_S)
        raise ResizeError(500, f"worker {w.index} did not start")

    async def _retire(self, retiring: list[WorkerHandle]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.cfg.worker_drain_timeout_ms / 1000
        # A connection picked its socket at SYN time; with TCP_DEFER_ACCEPT it joins the accept
        # queue only once the client sent data (or the defer period ended): wait that long too.
        settle = loop.time() + min(self.cfg.defer_accept_ms / 1000 + 1.0 if self.cfg.defer_accept_ms else 0.2,
                                   self.cfg.worker_drain_timeout_ms / 1000)
        for w in reversed(retiring):
            while loop.time() < deadline:
                queued = tcpinfo.listen_queue(w.lsock) if w.lsock else None
                if loop.time() >= settle and (queued is None or queued[0] == 0):
                    break
                await asyncio.sleep(POLL_S)
            await w.call({"op": "close_listener"})
            if w.lsock is not None:
                w.lsock.close()
                w.lsock = None
        for w in reversed(retiring):
            while loop.time() < deadline and w.proc is not None and w.proc.poll() is None:
                snap = await w.call({"op": "stats"})
                if snap is not None and snap.get("sessions", 0) == 0:
                    break
                await asyncio.sleep(POLL_S)
            await self._stop_worker(w)
            self.workers.remove(w)
            log("worker_retired", worker=w.index)

    async def _stop_worker(self, w: WorkerHandle) -> None:
        if w.proc is None or w.proc.poll() is not None:
            return
        w.proc.send_signal(signal.SIGCONT)
        w.proc.terminate()
        try:
            await asyncio.get_running_loop().run_in_executor(None, w.proc.wait, 5)
        except subprocess.TimeoutExpired:
            w.proc.kill()

    async def broadcast(self, msg: dict, timeout: float = CALL_TIMEOUT_S) -> list[dict | None]:
        return list(await asyncio.gather(*(w.call(msg, timeout) for w in self.workers)))

    async def ping_workers(self) -> int:
        replies = await self.broadcast({"op": "ping"})
        return sum(1 for r in replies if r and r.get("ok"))

    async def push_table(self, table: SlotTable) -> tuple[int, bool]:
        """(workers that applied it, whether every worker drained what the old table routed)."""
        self.table = table
        # A worker answers once its barrier probes came back, at most backend_timeout_ms later.
        wait = CALL_TIMEOUT_S + self.cfg.backend_timeout_ms / 1000
        replies = await self.broadcast({"op": "slots", "table": table.to_json()}, wait)
        applied = sum(1 for r in replies if r and "epoch" in r)
        return applied, all(r and r.get("drained") for r in replies)

    async def set_breaker(self, commands: list[str], prefixes: list[str]) -> None:
        self.breaker = {"commands": commands, "write_prefixes": prefixes}
        await self.broadcast({"op": "breaker", **self.breaker})

    async def set_limits(self, limits: dict) -> None:
        self.limits = limits
        await self.broadcast({"op": "limits", **limits})

    async def stats(self) -> dict:
        snaps = [s for s in await self.broadcast({"op": "stats"}) if s and "worker" in s]
        return aggregate(snaps, self)


def aggregate(snaps: list[dict], sup: Supervisor) -> dict:
    """Sum the workers' snapshots; per-worker values stay listed under 'workers'."""
    out: dict = {"epoch": sup.table.epoch if sup.table else -1, "workers": snaps,
                 "workers_configured": len(sup.active), "workers_retiring": len(sup.workers) - len(sup.active)}
    for k in ("sessions", "sessions_total", "sessions_unserved", "max_clients", "listener_pauses_total",
              "held_no_table"):
        out[k] = sum(s.get(k, 0) for s in snaps)
    for k in ("accept_dropped", "rejected", "ops", "errors"):
        acc: defaultdict = defaultdict(int)
        for s in snaps:
            for name, v in s.get(k, {}).items():
                acc[name] += v
        out[k] = dict(acc)
    lat = {"bounds": snaps[0]["latency"]["bounds"] if snaps else [], "counts": [], "sum": 0.0}
    for s in snaps:
        c = s["latency"]["counts"]
        lat["counts"] = [a + b for a, b in zip(lat["counts"], c, strict=True)] if lat["counts"] else list(c)
        lat["sum"] += s["latency"]["sum"]
    if not lat["counts"]:
        lat["counts"] = [0] * (len(lat["bounds"]) + 1)
    out["latency"] = lat
    groups: dict = {}
    rank = {s: i for i, s in enumerate(STATES)}
    for s in snaps:
        for gid, g in s.get("groups", {}).items():
            agg = groups.setdefault(gid, {"state": g["state"], "master": g["master"], "held": 0})
            if rank[g["state"]] > rank[agg["state"]]:
                agg["state"] = g["state"]
            for k, v in g.items():
                if k not in ("state", "master", "replicas") and isinstance(v, int | float):
                    agg[k] = agg.get(k, 0) + v
    out["groups"] = groups
    queues = []
    for w in sup.workers:
        q = tcpinfo.listen_queue(w.lsock) if w.lsock is not None else None
        if q is not None:
            queues.append({"worker": w.index, "queued": q[0], "backlog": q[1]})
    out["listen_queues"] = queues
    ns = tcpinfo.netstat()
    out["netstat"] = {"ListenOverflows": ns.get("TcpExt.ListenOverflows", 0),
                      "ListenDrops": ns.get("TcpExt.ListenDrops", 0)}
    out["migrating_slots"] = len(sup.table.migrating) if sup.table else 0
    out["migration"] = {k: sum(s.get("migration", {}).get(k, 0) for s in snaps) for k in ("steps", "moved", "errors", "retries")}
    out["breaker"] = sup.breaker
    out["limits"] = sup.limits
    return out


def run(cfg: ProxyConfig, table: SlotTable | None) -> None:
    if cfg.tls:  # a wrong certificate or key stops the proxy here, not each worker in a loop
        from xcache.tlsconfig import server_context

        server_context(cfg.tls_cert_file, cfg.tls_key_file, cfg.tls_ca_cert_file, cfg.tls_auth_clients)
    run_loop(Supervisor(cfg, table).run())
