"""`xcache drill storm`: start the client processes, warm up, trigger the scenario, observe, report.

Timeline: clients connect (spread over ramp_s) -> warm-up until 99% of them are connected and
served -> steady_s of normal traffic -> the event at t0 -> observe until every client is served
again (plus settle_s) or duration_s after t0, whichever comes first -> report.

Scenarios (what happens at t0):
  reconnect-storm  every client drops its connection and reconnects at the same moment
  proxy-stall      every process listening on the target port gets SIGSTOP for stall_s, then SIGCONT
  failover         the master (--master) is hung with `DEBUG SLEEP` (the node stops answering
                   anything, as the incident's instance did under its write protection), and after
                   stall_s it is killed with SIGKILL; the sentinels then fail it over
  none             nothing (a baseline)
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field

from xcache.children import die_with_parent
from xcache.drill import probes

SCENARIOS = ("reconnect-storm", "proxy-stall", "failover", "none")


@dataclass
class DrillOptions:
    host: str = "127.0.0.1"
    port: int = 19000
    password: str = ""
    clients: int = 5000
    workers: int = 0  # 0 = one per core
    scenario: str = "reconnect-storm"
    auth_timeout_s: float = 2.0
    connect_timeout_s: float = 2.0
    op_timeout_s: float = 2.0
    ops_per_sec: float = 1.0  # per client
    write_ratio: float = 0.2
    keys: int = 10000
    value_bytes: int = 32
    backoff: bool = False
    backoff_base_s: float = 0.05
    backoff_max_s: float = 2.0
    ramp_s: float = 2.0
    warmup_timeout_s: float = 60.0
    steady_s: float = 3.0
    stall_s: float = 4.0
    stall_mode: str = "sleep"  # failover: "sleep" (DEBUG SLEEP) or "writes" (flood the master with SETs)
    duration_s: float = 30.0
    settle_s: float = 2.0
    master: str = ""
    master_password: str = ""
    proxy_admin: str = ""
    proxy_pids: list[int] = field(default_factory=list)
    seed: int = 1
    verbose: bool = False


class Worker:
    def __init__(self, spec: dict):
        self.popen = subprocess.Popen([sys.executable, "-m", "xcache.drill.worker"], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True,
                                      preexec_fn=die_with_parent(os.getpid()),
                                      env={**os.environ, "XCACHE_DRILL_SPEC": json.dumps(spec)})

    def send(self, line: str) -> None:
        try:
            self.popen.stdin.write(line + "\n")
            self.popen.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def read(self) -> dict:
        line = self.popen.stdout.readline()
        if not line:
            raise RuntimeError(f"drill worker exited with {self.popen.poll()}")
        return json.loads(line)


class Prober(threading.Thread):
    """Samples the target's accept queue, ListenOverflows and the proxy's counters every 0.5 s."""

    def __init__(self, opts: DrillOptions):
        super().__init__(daemon=True)
        self.opts = opts
        self.samples: list[dict] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            s = {"t": time.time(), "overflows": probes.listen_overflows()}
            q = probes.listen_queue(self.opts.port)
            if q is not None:
                s["queued"], s["backlog"] = q
            if self.opts.proxy_admin:
                st = probes.proxy_stats(self.opts.proxy_admin)
                if st is not None:
                    s.update(st)
            self.samples.append(s)
            self.done.wait(0.5)


def _status(workers: list[Worker]) -> dict:
    for w in workers:
        w.send("status")
    tot = {"connected": 0, "served": 0, "recovered": 0}
    for w in workers:
        for k, v in w.read().items():
            tot[k] = tot.get(k, 0) + v
    return tot


def _debug_sleep(addr: str, password: str, seconds: float) -> None:
    host, _, port = addr.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.settimeout(seconds + 5)
        if password:
            s.sendall(b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(password), password.encode()))
            s.recv(100)
        arg = b"%g" % seconds
        s.sendall(b"*3\r\n$5\r\nDEBUG\r\n$5\r\nSLEEP\r\n$%d\r\n%s\r\n" % (len(arg), arg))
        try:
            s.recv(100)
        except OSError:
            pass


def _write_flood(addr: str, password: str, seconds: float, stop: threading.Event) -> None:
    """Pipelined 4 KiB SETs straight to the master for `seconds`: on a node configured with small
    memtables and a flush rate limit this is a real RocksDB write stall (see tests/store/test_stall.py)."""
    host, _, port = addr.rpartition(":")
    value = b"x" * 4096
    deadline = time.monotonic() + seconds
    try:
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.settimeout(max(1.0, seconds))
            if password:
                s.sendall(b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(password), password.encode()))
                s.recv(100)
            i = 0
            while time.monotonic() < deadline and not stop.is_set():
                batch = []
                for _ in range(32):
                    key = b"drill:flood:%d" % i
                    i += 1
                    batch.append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$4096\r\n%s\r\n" % (len(key), key, value))
                s.sendall(b"".join(batch))
                got = 0
                while got < 32:  # one line per reply (+OK or -BUSY ...)
                    chunk = s.recv(65536)
                    if not chunk:
                        return
                    got += chunk.count(b"\r\n")
    except OSError:
        pass


def trigger(opts: DrillOptions, workers: list[Worker], log) -> dict:
    """Run the scenario's event; returns what was done (for the report)."""
    what: dict = {"scenario": opts.scenario}
    if opts.scenario == "reconnect-storm":
        for w in workers:
            w.send("kick")
    elif opts.scenario == "proxy-stall":
        pids = opts.proxy_pids or probes.pids_listening(opts.port)
        if not pids:
            raise RuntimeError(f"no process listens on port {opts.port} (pass --proxy-pid)")
        what["pids"] = pids
        log(f"SIGSTOP {pids} for {opts.stall_s}s")
        for p in pids:
            os.kill(p, signal.SIGSTOP)
        try:
            time.sleep(opts.stall_s)
        finally:
            for p in pids:
                try:
                    os.kill(p, signal.SIGCONT)
                except ProcessLookupError:
                    pass
    elif opts.scenario == "failover":
        if not opts.master:
            raise RuntimeError("--scenario failover needs --master host:port (the master to hang and kill)")
        port = int(opts.master.rpartition(":")[2])
        pids = probes.pids_listening(port)
        if not pids:
            raise RuntimeError(f"no process listens on {opts.master}")
        what.update(master=opts.master, pids=pids, stall_mode=opts.stall_mode)
        stop = threading.Event()
        if opts.stall_mode == "writes":
            log(f"write flood on master {opts.master} for {opts.stall_s}s, then SIGKILL")
            t = threading.Thread(target=_write_flood, args=(opts.master, opts.master_password, opts.stall_s, stop),
                                 daemon=True)
        else:
            log(f"DEBUG SLEEP on master {opts.master} (hung node), SIGKILL after {opts.stall_s}s")
            t = threading.Thread(target=_debug_sleep, args=(opts.master, opts.master_password, opts.stall_s + 30),
                                 daemon=True)
        t.start()
        time.sleep(opts.stall_s)
        stop.set()
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return what


def run(opts: DrillOptions, log=lambda msg: print(f"drill: {msg}", file=sys.stderr, flush=True)) -> dict:
    if opts.scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {opts.scenario}; one of {', '.join(SCENARIOS)}")
    nw = opts.workers or os.cpu_count() or 1
    nw = max(1, min(nw, opts.clients))
    base = {k: getattr(opts, k) for k in ("host", "port", "password", "auth_timeout_s", "connect_timeout_s",
                                            "op_timeout_s", "ops_per_sec", "write_ratio", "keys", "value_bytes",
                                            "backoff", "backoff_base_s", "backoff_max_s", "ramp_s", "verbose")}
    workers = []
    counts = [opts.clients // nw + (1 if i < opts.clients % nw else 0) for i in range(nw)]
    prober = Prober(opts)
    prober.start()
    started = time.time()
    what: dict = {}
    t0 = event_end = None
    try:
        for i, n in enumerate(counts):
            workers.append(Worker({**base, "clients": n, "seed": opts.seed * 1000 + i}))
        log(f"{opts.clients} clients in {nw} processes -> {opts.host}:{opts.port}, scenario {opts.scenario}")
        deadline = time.monotonic() + opts.warmup_timeout_s
        need = math.ceil(opts.clients * 0.99)
        while True:
            st = _status(workers)
            if st["served"] >= need and st["connected"] >= need:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"warm-up: only {st['connected']} connected, {st['served']} served "
                                   f"of {opts.clients} after {opts.warmup_timeout_s}s")
            time.sleep(0.25)
        log(f"warm: {st['connected']} connected; steady for {opts.steady_s}s")
        time.sleep(opts.steady_s)
        t0 = time.time()
        for w in workers:
            w.send(f"mark {t0!r}")
        log(f"event: {opts.scenario}")
        what = trigger(opts, workers, log)
        event_end = time.time()
        settled_at = None
        while time.time() < t0 + opts.duration_s:
            time.sleep(0.5)
            st = _status(workers)
            if st["recovered"] >= opts.clients:
                settled_at = settled_at or time.time()
                if time.time() - settled_at >= opts.settle_s:
                    break
            else:
                settled_at = None
    finally:
        results: list[dict] = []
        lost: list[str] = []
        for w in workers:
            w.send("stop")
        for w in workers:
            try:
                while True:
                    doc = w.read()
                    if "result" in doc:
                        results.append(doc["result"])
                        break
            except (RuntimeError, ValueError) as exc:
                lost.append(f"worker {w.popen.pid}: {exc}")
            try:
                w.popen.wait(10)
            except subprocess.TimeoutExpired:
                w.popen.kill()
        prober.done.set()
        prober.join(5)
    if lost:  # a report that silently covers fewer clients than were run would mislead
        raise RuntimeError(f"results of {len(lost)} client process(es) lost: {'; '.join(lost)}")
    from xcache.drill.report import build

    return build(opts, asdict(opts), results, prober.samples, started, t0, event_end, what)
