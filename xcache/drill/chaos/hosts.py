"""Virtual hosts on one machine: one network namespace per host, all wired to a bridge.

    switch netns  xc-<run>-sw      holds the bridge br0 and one veth end per host
    host netns    xc-<run>-<name>  holds eth0 (the other veth end) with 10.77.0.<n>/24, and lo

Nothing is created in the root namespace: the veth pairs are made inside the switch namespace and
one end is moved straight into the host's namespace, so the machine's own interfaces, routes and
firewall are never touched and no packet can leave the namespaces made here.

Processes are started with `ip netns exec`; teardown kills every process found in each namespace
(`ip netns pids`), not only those it started, then deletes the namespaces. It runs on leaving the
context manager, at interpreter exit and on SIGTERM/SIGINT/SIGHUP, whichever comes first.

The harness (a controller thread or the workload) reaches the hosts from a thread that entered a
host's namespace with setns(2): sockets made by that thread live in that namespace.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "xc-"
SUBNET = "10.77.0"
CLONE_NEWNET = 0x40000000


class HarnessError(RuntimeError):
    """The harness cannot run (missing tool, not root, a host failed): one line for the user."""


def missing_requirements(need: tuple[str, ...] = ("ip", "firewall", "tc", "etcd")) -> list[str]:
    """What this machine lacks to run the chaos harness, each item with how to get it."""
    out = []
    if os.geteuid() != 0:
        out.append("root (network namespaces need it: run as root)")
    tools = {"ip": ("ip", "iproute2"), "tc": ("tc", "iproute2"), "etcd": ("etcd", "etcd-server"),
             "redis-server": ("redis-server", "redis-server")}
    for name in need:
        if name == "firewall":
            if not (shutil.which("iptables") or shutil.which("nft")):
                out.append("iptables or nft (apt-get install iptables)")
            continue
        binary, pkg = tools[name]
        if not shutil.which(binary):
            out.append(f"{binary} (apt-get install {pkg})")
    return out


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run(args, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise HarnessError(f"{' '.join(args)}: {p.stderr.strip() or p.returncode}")
    return p


def netns_list() -> list[str]:
    p = run("ip", "netns", "list", check=False)
    return [line.split()[0] for line in p.stdout.splitlines() if line.strip()]


def netns_pids(ns: str) -> list[int]:
    p = run("ip", "netns", "pids", ns, check=False)
    return [int(x) for x in p.stdout.split() if x.strip().isdigit()]


_libc = ctypes.CDLL(None, use_errno=True)


def enter_netns(ns: str) -> None:
    """Move the calling thread into network namespace ns (its new sockets live there)."""
    fd = os.open(f"/var/run/netns/{ns}", os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {ns}: {os.strerror(err)}")
    finally:
        os.close(fd)


@dataclass
class Host:
    name: str
    ns: str
    ip: str
    veth: str  # the switch-side end, for tc on the link
    procs: list[subprocess.Popen] = field(default_factory=list)
    mounts: list[str] = field(default_factory=list)


class Hosts:
    """A set of virtual hosts; use as a context manager (teardown is guaranteed)."""

    def __init__(self, names: list[str], workdir: Path, run_id: str | None = None):
        if len(names) > 200:
            raise ValueError("at most 200 hosts")
        self.run_id = run_id or secrets.token_hex(3)
        self.prefix = f"{PREFIX}{self.run_id}-"
        self.switch = f"{self.prefix}sw"
        self.workdir = Path(workdir)
        self.hosts: dict[str, Host] = {}
        for i, name in enumerate(names):
            if not name.isalnum() or len(name) > 6:
                raise ValueError(f"host name {name!r}: 1-6 letters or digits")
            self.hosts[name] = Host(name, f"{self.prefix}{name}", f"{SUBNET}.{i + 2}", f"v{self.run_id}{name}")
        self._lock = threading.RLock()
        self._down = False
        self._old_handlers: dict[int, object] = {}
        self._executors: dict[str, ThreadPoolExecutor] = {}

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    # --- lifecycle --------------------------------------------------------------------------
    def __enter__(self) -> Hosts:
        atexit.register(self.teardown)
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                self._old_handlers[sig] = signal.signal(sig, self._on_signal)
        try:
            self.up()
        except BaseException:
            self.teardown()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.teardown()

    def _on_signal(self, signum, frame) -> None:
        self.teardown()
        raise SystemExit(128 + signum)

    def up(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        sw = self.switch
        run("ip", "netns", "add", sw)
        run("ip", "-n", sw, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", sw, "link", "set", "br0", "up")
        for h in self.hosts.values():
            run("ip", "netns", "add", h.ns)
            run("ip", "-n", sw, "link", "add", h.veth, "type", "veth", "peer", "name", "eth0", "netns", h.ns)
            run("ip", "-n", sw, "link", "set", h.veth, "master", "br0")
            run("ip", "-n", sw, "link", "set", h.veth, "up")
            run("ip", "-n", h.ns, "addr", "add", f"{h.ip}/24", "dev", "eth0")
            run("ip", "-n", h.ns, "link", "set", "eth0", "up")
            run("ip", "-n", h.ns, "link", "set", "lo", "up")

    def namespaces(self) -> list[str]:
        return [self.switch, *(h.ns for h in self.hosts.values())]

    def teardown(self) -> None:
        with self._lock:
            if self._down:
                return
            self._down = True
        for ex in self._executors.values():
            ex.shutdown(wait=False, cancel_futures=True)
        existing = set(netns_list())
        for h in self.hosts.values():
            for p in h.procs:
                if p.poll() is None:
                    try:
                        os.killpg(p.pid, signal.SIGKILL)
                    except OSError:
                        pass
        for ns in self.namespaces():
            if ns in existing:
                for pid in netns_pids(ns):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
        for h in self.hosts.values():
            for p in h.procs:
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    pass
            for d in h.mounts:
                run("umount", "-l", d, check=False)
        deadline = time.monotonic() + 10
        for ns in self.namespaces():
            if ns in existing:
                while netns_pids(ns) and time.monotonic() < deadline:
                    time.sleep(0.05)
                run("ip", "netns", "del", ns, check=False)
        atexit.unregister(self.teardown)
        for sig, old in self._old_handlers.items():
            try:
                signal.signal(sig, old)
            except (ValueError, TypeError):
                pass
        self._old_handlers.clear()

    def leftovers(self) -> list[str]:
        """Namespaces of this run still present, and processes still in them."""
        out = [ns for ns in netns_list() if ns.startswith(self.prefix)]
        return out + [f"pid {pid}" for ns in out for pid in netns_pids(ns)]

    # --- processes --------------------------------------------------------------------------
    def spawn(self, host: str, args: list[str], log: Path, env: dict | None = None) -> subprocess.Popen:
        """Start args inside host's namespace (its own process group), output to log."""
        h = self.hosts[host]
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as fh:
            p = subprocess.Popen(["ip", "netns", "exec", h.ns, *args], stdout=fh, stderr=fh,
                                 stdin=subprocess.DEVNULL, start_new_session=True,
                                 env={**os.environ, **(env or {})})
        h.procs.append(p)
        return p

    def sh(self, host: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """A short command inside host's namespace (iptables, tc, mount ...)."""
        return run("ip", "netns", "exec", self.hosts[host].ns, *args, check=check)

    def run_in_switch(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """A command in the switch namespace (tc on a host's link)."""
        return run("ip", "netns", "exec", self.switch, *args, check=check)

    def mount_tmpfs(self, host: str, path: Path, size_bytes: int) -> None:
        """A small tmpfs for a host's data dir (the disk-full nemesis fills it)."""
        path.mkdir(parents=True, exist_ok=True)
        run("mount", "-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", str(path))
        self.hosts[host].mounts.append(str(path))

    def executor(self, host: str) -> ThreadPoolExecutor:
        """A pool whose threads live in host's namespace: submit() calls that open sockets there."""
        ex = self._executors.get(host)
        if ex is None:
            ns = self.hosts[host].ns
            ex = ThreadPoolExecutor(max_workers=8, thread_name_prefix=f"ns-{host}",
                                    initializer=enter_netns, initargs=(ns,))
            self._executors[host] = ex
        return ex

    def call(self, host: str, fn: Callable, *args, timeout: float = 60.0, **kw):
        """Run fn(*args, **kw) on a thread inside host's namespace and return its result."""
        return self.executor(host).submit(fn, *args, **kw).result(timeout)
