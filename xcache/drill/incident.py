"""`xcache drill incident`: the incident at its own scale, proxies side by side, in a private netns.

The incident's proxy had a 32,768-deep accept queue; a default host allows 4,096. As root this
command re-runs itself inside a new network namespace (`unshare --net`): loopback up,
net.core.somaxconn=32768 and tcp_max_syn_backlog=65536 there, nothing changed or reachable
outside. In it: one redis-server backend and, one after another, each proxy under test in front of
it (xcache with its admission gate, xcache with the gate off, twemproxy when `nutcracker` is
installed, any other proxy given by a command line). Every proxy gets the same storm (the
`xcache drill storm` client generator), interleaved run by run so machine noise spreads evenly,
and the command prints one table. The namespace dies with the last process in it; every process
is started in its own process group and killed on the way out, failure or not.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from xcache.children import die_with_parent
from xcache.drill.report import chart, summary, write_json
from xcache.drill.runner import DrillOptions, run

INSIDE_ENV = "XCACHE_DRILL_NETNS"
SOMAXCONN = 32768
SYN_BACKLOG = 65536
BACKEND_PORT = 7000
PROXY_PORT = 19000
ADMIN_PORT = 11080
STATS_PORT = 22222
# The incident's clients sent AUTH first and gave up after 2 s; so do these. A drill-only password,
# written to 0600 files in the run's directory, never put on a command line.
PASSWORD = "incident-drill"


@dataclass
class Target:
    """A proxy under test: how to start it in front of the backend."""

    name: str
    kind: str  # "xcache", "twemproxy", "direct" or "command"
    settings: dict = field(default_factory=dict)  # xcache --set key=value
    command: str = ""  # kind "command": shell line, {port} and {backend} filled in


def preflight(euid: int | None = None, which=shutil.which) -> str | None:
    """The one-line reason this machine cannot run the drill, or None."""
    if (os.geteuid() if euid is None else euid) != 0:
        return "needs root (it builds a private network namespace with somaxconn 32768): run it with sudo"
    for tool in ("unshare", "ip", "redis-server"):
        if which(tool) is None:
            pkg = {"unshare": "util-linux", "ip": "iproute2", "redis-server": "redis-server"}[tool]
            return f"needs `{tool}` on PATH (Debian package {pkg})"
    return None


def default_targets(workers: int, with_twemproxy: bool, with_direct: bool = False) -> list[Target]:
    """xcache as shipped, xcache with the gate off, twemproxy when installed, and (asked for) a
    redis-server the clients reach directly: no proxy at all, the floor of what the clients, the
    kernel and this machine need to recover, against which the proxies' times can be read."""
    base = {"workers": str(workers), "max_clients": "100000"}
    out = [Target("xcache", "xcache", dict(base)),
           Target("xcache-gate-off", "xcache", {**base, "admission_gate": "false"})]
    if with_twemproxy and shutil.which("nutcracker"):
        out.append(Target("twemproxy", "twemproxy"))
    if with_direct:
        out.append(Target("redis-direct", "direct"))
    return out


def parse_target(spec: str) -> Target:
    """NAME=COMMAND (with {port} and {backend}) for any other proxy."""
    name, sep, command = spec.partition("=")
    if not sep or not name or "{port}" not in command:
        raise ValueError(f"--proxy {spec!r}: expected NAME=COMMAND with {{port}} (and {{backend}})")
    return Target(name, "command", command=command)


# -- the outer half: re-run inside a new network namespace -----------------------------------------
def reexec_in_netns(argv: list[str]) -> int:
    """Run this command again in a new network namespace; its exit code. A SIGTERM or Ctrl-C here
    reaches the inner run as SIGTERM, which stops everything it started (see run_inside)."""
    env = {**os.environ, INSIDE_ENV: "1"}
    cmd = ["unshare", "--net", "--kill-child=SIGTERM", "--", sys.executable, "-m", "xcache.cli", *argv]
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, preexec_fn=die_with_parent(os.getpid()))

    def forward(signum, _frame) -> None:
        # to the group: unshare ignores SIGTERM while it waits; the inner run is in its group
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, forward)
    return proc.wait()


# -- the inner half: inside the namespace ----------------------------------------------------------
def prepare_namespace() -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    for path, value in (("/proc/sys/net/core/somaxconn", SOMAXCONN),
                        ("/proc/sys/net/ipv4/tcp_max_syn_backlog", SYN_BACKLOG)):
        Path(path).write_text(str(value))


class Procs:
    """Processes started for the drill, each in its own group; stop_all() kills every one."""

    def __init__(self, logdir: Path):
        self.logdir = logdir
        self.procs: list[subprocess.Popen] = []

    def start(self, name: str, args: list[str] | str, shell: bool = False) -> subprocess.Popen:
        log = open(self.logdir / f"{name}.log", "ab")
        p = subprocess.Popen(args, shell=shell, stdout=log, stderr=log, start_new_session=True,
                             preexec_fn=die_with_parent(os.getpid()))
        log.close()
        self.procs.append(p)
        return p

    def stop(self, p: subprocess.Popen) -> None:
        if p.poll() is None:
            for sig in (signal.SIGCONT, signal.SIGTERM):
                try:
                    os.killpg(p.pid, sig)
                except ProcessLookupError:
                    break
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)
        if p in self.procs:
            self.procs.remove(p)

    def stop_all(self) -> None:
        for p in reversed(list(self.procs)):
            self.stop(p)


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port} after {timeout}s")


def private_file(path: Path, text: str) -> Path:
    path.touch(mode=0o600)
    path.write_text(text)
    return path


def start_target(t: Target, procs: Procs, workdir: Path) -> subprocess.Popen:
    backend = f"127.0.0.1:{BACKEND_PORT}"
    if t.kind == "xcache":
        conf = private_file(workdir / f"{t.name}.toml", f'session_password = "{PASSWORD}"\n'
                                                        f'backend_password = "{PASSWORD}"\n')
        sets = [a for k, v in t.settings.items() if k != "workers" for a in ("--set", f"{k}={v}")]
        args = [sys.executable, "-m", "xcache.cli", "proxy", "--config", str(conf), "--port", str(PROXY_PORT),
                "--admin-port", str(ADMIN_PORT), "--backend", backend,
                "--workers", t.settings.get("workers", "1"), *sets]
        p = procs.start(t.name, args)
    elif t.kind == "twemproxy":
        conf = private_file(workdir / "nutcracker.yml",
                            f"drill:\n  listen: 127.0.0.1:{PROXY_PORT}\n  hash: crc32a\n  distribution: ketama\n"
                            f"  redis: true\n  redis_auth: {PASSWORD}\n  backlog: {SOMAXCONN}\n"
                            f"  server_connections: 1\n  servers:\n   - {backend}:1\n")
        p = procs.start(t.name, ["nutcracker", "-c", str(conf), "-s", str(STATS_PORT)])
    elif t.kind == "direct":  # a second redis-server where the proxy would listen: no proxy hop
        conf = private_file(workdir / "direct.conf", f"port {PROXY_PORT}\nbind 127.0.0.1\nsave \"\"\n"
                                                      f"appendonly no\nmaxclients 100000\ntcp-backlog {SOMAXCONN}\n"
                                                      f"requirepass {PASSWORD}\n")
        p = procs.start(t.name, ["redis-server", str(conf)])
    else:
        p = procs.start(t.name, t.command.format(port=PROXY_PORT, backend=backend), shell=True)
    wait_port(PROXY_PORT, p)
    return p


@dataclass
class IncidentOptions:
    scenario: str = "proxy-stall"  # or "failover": the incident's own chain (see run_chain)
    clients: int = 16000
    runs: int = 5
    stall_s: float = 6.0
    ramp_s: float = 4.0
    duration_s: float = 60.0
    timeout_s: float = 2.0
    client_procs: int = 0
    out_dir: str = ""
    verbose: bool = False


# -- the incident's chain: a hung master, a failover, the reconnect storm ----------------------------
UP_BASE = 21000  # `xcache up --base-port`: servers 21000.., sentinels 21100.., proxy 21200/21300


def start_chain(t: Target, procs: Procs, workdir: Path) -> tuple[subprocess.Popen, dict]:
    """A whole cluster (`xcache up`: one group of master + replica, 3 sentinels, a dashboard and
    the proxy under test, supervised) for one run; what the storm needs to reach it."""
    data = workdir / f"up-{t.name}-{time.monotonic_ns()}"
    proxy_set = " ".join(f"{k}={v}" for k, v in t.settings.items() if k != "workers")
    args = [sys.executable, "-m", "xcache.cli", "up", "--dir", str(data), "--base-port", str(UP_BASE),
            "--groups", "1", "--replicas", "1", "--sentinels", "3",
            "--set", f"proxy_workers={t.settings.get('workers', '1')}", "--set", f"proxy_set={proxy_set}",
            "--set", "down_after_ms=2000"]
    p = procs.start(t.name, args)
    wait_port(UP_BASE + 300, p, timeout=120)  # the proxy's admin port: up starts the proxy last but one

    def secret(kind: str) -> str:
        path = data / "secrets" / f"{kind}.password"
        return path.read_text().strip() if path.exists() else ""

    reach = {"port": UP_BASE + 200, "admin": f"127.0.0.1:{UP_BASE + 300}", "password": secret("proxy"),
             "master": f"127.0.0.1:{UP_BASE}", "master_password": secret("server")}
    _wait_served(reach, p)
    return p, reach


def _wait_served(reach: dict, p: subprocess.Popen, timeout: float = 120.0) -> None:
    """Until a GET through the proxy is answered (the dashboard pushed the slot table)."""
    import redis

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if p.poll() is not None:
            raise RuntimeError(f"xcache up exited with {p.returncode}")
        try:
            r = redis.Redis(port=reach["port"], password=reach["password"] or None, socket_timeout=2)
            r.get("drill:probe")
            r.close()
            return
        except redis.RedisError:
            time.sleep(0.2)
    raise RuntimeError("the cluster did not serve within 120 s")


def chain_options(o: IncidentOptions, reach: dict) -> DrillOptions:
    """The incident's chain: the master hangs (DEBUG SLEEP, as its instance hung under write
    protection), is killed after --stall seconds, the sentinels fail it over, and every client
    whose request timed out meanwhile reconnects at once."""
    return DrillOptions(port=reach["port"], password=reach["password"], clients=o.clients,
                        workers=o.client_procs, scenario="failover", master=reach["master"],
                        master_password=reach["master_password"], stall_mode="sleep",
                        auth_timeout_s=o.timeout_s, connect_timeout_s=o.timeout_s, op_timeout_s=o.timeout_s,
                        stall_s=o.stall_s, ramp_s=o.ramp_s, duration_s=o.duration_s,
                        warmup_timeout_s=max(60.0, o.clients / 250), proxy_admin=reach["admin"])


def storm_options(o: IncidentOptions, with_admin: bool) -> DrillOptions:
    """The storm; the proxy to stall is every process listening on its port at that moment
    (workers included), found by the runner when the stall starts."""
    return DrillOptions(port=PROXY_PORT, password=PASSWORD, clients=o.clients, workers=o.client_procs, scenario="proxy-stall",
                        auth_timeout_s=o.timeout_s, connect_timeout_s=o.timeout_s, op_timeout_s=o.timeout_s,
                        stall_s=o.stall_s, ramp_s=o.ramp_s, duration_s=o.duration_s,
                        warmup_timeout_s=max(60.0, o.clients / 250),
                        proxy_admin=f"127.0.0.1:{ADMIN_PORT}" if with_admin else "")


def _terminated(signum, _frame) -> None:
    raise SystemExit(128 + signum)  # unwinds through run_inside's finally: every process stopped


def run_inside(o: IncidentOptions, targets: list[Target], log) -> dict:
    signal.signal(signal.SIGTERM, _terminated)
    prepare_namespace()
    out = Path(o.out_dir or tempfile.mkdtemp(prefix="xcache-incident-"))
    out.mkdir(parents=True, exist_ok=True)
    procs = Procs(out)
    results: dict[str, list[dict]] = {t.name: [] for t in targets}
    try:
        conf = private_file(out / "redis.conf", f"port {BACKEND_PORT}\nbind 127.0.0.1\nsave \"\"\n"
                                                f"appendonly no\nmaxclients 100000\nrequirepass {PASSWORD}\n"
                                                # the run directory in its title: findable from outside
                                                'proc-title-template "{title} {listen-addr} {config-file}"\n')
        backend = procs.start("redis", ["redis-server", str(conf)])
        wait_port(BACKEND_PORT, backend)
        for r in range(1, o.runs + 1):
            for t in targets:
                log(f"run {r}/{o.runs}: {t.name}")
                if o.scenario == "failover":
                    p, reach = start_chain(t, procs, out)
                    drill = chain_options(o, reach)
                else:
                    p = start_target(t, procs, out)
                    drill = storm_options(o, t.kind == "xcache")
                try:
                    rep = run(drill, log=log if o.verbose else (lambda _m: None))
                except RuntimeError as exc:  # a warm-up that never completed is a result too
                    rep = {"figures": {"clients": o.clients, "error": str(exc)}}
                finally:
                    procs.stop(p)
                stem = out / f"{t.name}-run{r}"
                if "series" in rep:
                    write_json(rep, f"{stem}.json")
                    what = ("master hung and failed over" if o.scenario == "failover" else "proxy stalled")
                    chart(rep, f"{stem}.png", f"{t.name}, run {r}: {what} {o.stall_s:g} s, {o.clients} clients")
                    log(summary(rep))
                results[t.name].append(rep["figures"])
    finally:
        procs.stop_all()
    table = summarize(results)
    doc = {"options": o.__dict__, "targets": [t.__dict__ for t in targets], "runs": results, "table": table}
    (out / "incident.json").write_text(json.dumps(doc, indent=1))
    doc["out_dir"] = str(out)
    return doc


# -- the table ---------------------------------------------------------------------------------------
def summarize(results: dict[str, list[dict]]) -> list[dict]:
    """One row per proxy: median and worst over its runs. A run whose clients were not 99% served
    again within the window (or that never warmed up) is a lockout."""
    rows = []
    for name, runs in results.items():
        t99 = [f.get("time_to_99_served_after_event_end_s") for f in runs]
        lockouts = sum(1 for x in t99 if x is None)
        ranked = [math.inf if x is None else x for x in t99]
        t99_median = statistics.median(ranked) if ranked else math.inf

        def med(key, sub=None, runs=runs):
            vals = [(f.get(key) or {}).get(sub) if sub else f.get(key) for f in runs]
            vals = [v for v in vals if v is not None]
            return (statistics.median(vals), max(vals)) if vals else (None, None)

        timeouts = [(f.get("errors_after_event") or {}).get("connect_timeout", 0) for f in runs]
        rows.append({
            "proxy": name, "runs": len(runs), "lockouts": lockouts,
            "t99_median_s": None if t99_median == math.inf else t99_median,
            "t99_worst_s": None if lockouts or not ranked else max(ranked),
            "failed_requests": med("failed_requests"),
            "connect_timeouts": (statistics.median(timeouts), max(timeouts)) if timeouts else (None, None),
            "dead_sessions": med("dead_sessions"),
            "clients_counted": min((f.get("clients") or 0) for f in runs) if runs else 0,
            "client_cpu_peak_pct": med("client_cpu_pct", "peak_after_event"),
        })
    return rows


def format_table(rows: list[dict], clients: int, scenario: str = "proxy-stall") -> str:
    def s(v, unit=""):
        if v is None:
            return "never"
        return f"{v:.1f}{unit}" if isinstance(v, float) else f"{v}{unit}"

    def pair(p):
        return "n/a" if p[0] is None else f"{s(p[0])} / {s(p[1])}"

    event = "master hung, killed, failed over" if scenario == "failover" else "proxy stalled"
    lines = [f"Incident drill: {clients} clients, {event}, 2 s timeouts, immediate reconnect "
             "(median / worst over runs)",
             "| proxy | runs | lockouts | 99% served again after the event | failed requests | "
             "connect timeouts | dead sockets given sessions | client CPU peak % |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['proxy']} | {r['runs']} | {r['lockouts']} | {s(r['t99_median_s'], ' s')} / "
                     f"{s(r['t99_worst_s'], ' s')} | {pair(r['failed_requests'])} | {pair(r['connect_timeouts'])} | "
                     f"{pair(r['dead_sessions'])} | {pair(r['client_cpu_peak_pct'])} |")
    short = [r["proxy"] for r in rows if r["clients_counted"] != clients]
    if short:
        lines.append(f"WARNING: results cover fewer than {clients} clients for: {', '.join(short)}")
    return "\n".join(lines)


def with_settings(targets: list[Target], settings: dict) -> list[Target]:
    return [replace(t, settings={**t.settings, **settings}) if t.kind == "xcache" else t for t in targets]
