"""Run Redis 7.0.15's own TCL test suite, unchanged, against redis-server, an xcache node and an
xcache proxy, and print the results side by side.

    python3 benchmarks/redis_suite.py [--workdir /tmp/redis-suite] [--targets redis,xcache,proxy]
                                      [--units type/list sort ...] [--unit-timeout 300]
                                      [--with-debug] [--as-redis-ci]

It downloads the suite with Redis's source (Debian's `redis_7.0.15.orig.tar.gz`, the version
Debian's redis-server is), and runs each unit in the suite's external-server mode
(`./runtest --host H --port P --single unit/U --tags -needs:debug --tags -needs:repl`): a fresh
server per unit and target; the proxy (one xcache node behind it, `allow_flush`/`allow_keys` on,
as the suite flushes and lists keys, and `allow_replicaof`, as its replication tests demote the
server) also with `--singledb` (it has database 0 only). Tests
tagged `external:skip`, `needs:debug` (unless --with-debug) or `needs:repl` do not run. An `[exception]` ends a unit
early: the tests after it count as not run. The failing tests of each target are written to
`<workdir>/<target>-failures.txt`; see docs/compatibility.md for what fails and why.

--as-redis-ci runs it as Redis's own external CI does (.github/workflows/external.yml): every
unit in one `./runtest --host H --port P --tags -slow` against one server per target, so the
needs:debug and needs:repl tests run too, and a unit's leftovers meet the next one.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.procs import start_redis, start_xcache_server  # noqa: E402
from tests.proxy.conftest import ProxyProc  # noqa: E402

VERSION = "7.0.15"
SOURCE = f"http://deb.debian.org/debian/pool/main/r/redis/redis_{VERSION}.orig.tar.gz"
# The units that run against an external server (the others start servers of their own).
UNITS = """printver dump auth protocol keyspace scan info info-command type/string type/incr
type/list type/list-2 type/list-3 type/set type/zset type/hash type/stream type/stream-cgroups
sort expire other multi quit acl acl-v2 latency-monitor pubsub pubsubshard slowlog scripting
functions maxmemory introspection introspection-2 limits obuf-limits bitops bitfield geo
memefficiency hyperloglog lazyfree wait pause querybuf pendingquerybuf tracking oom-score-adj
shutdown networking client-eviction violations replybufsize""".split()
RESULT = re.compile(r"^\[(ok|err|exception|timeout)\]:\s*(.*?)(?: in tests/\S+)?(?: \(\d+ ms\))?$")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# The harness's own ports lie below --baseport, and it checks port + 10000 too: keep both below
# the ephemeral range, apart for concurrent runs.
BASEPORT = 20000 + (os.getpid() % 50) * 40


def suite(workdir: Path) -> Path:
    src = workdir / f"redis-{VERSION}"
    if not (src / "runtest").exists():
        archive = workdir / Path(SOURCE).name
        if not archive.exists():
            urllib.request.urlretrieve(SOURCE, archive)
        with tarfile.open(archive) as tar:
            tar.extractall(workdir, filter="data")
    return src


class Target:
    """One server (or node + proxy) for one unit."""

    def __init__(self, kind: str, tmp: Path):
        self.kind = kind
        self.procs = []
        if kind == "redis":
            # DEBUG is off by default since Redis 7; the suite's needs:debug tests want it
            self.procs.append(start_redis(tmp, "--enable-debug-command", "yes"))
        else:
            node = start_xcache_server(tmp)
            self.procs.append(node)
            if kind == "proxy":
                proxy = ProxyProc(tmp, f"1=127.0.0.1:{node.port}", 1, allow_flush="true",
                                  allow_keys="true", allow_replicaof="true")
                self.procs.append(proxy.wait_healthy())
        self.port = self.procs[-1].port

    def stop(self) -> None:
        for p in reversed(self.procs):
            p.stop()


def _link_tools(src: Path) -> None:
    """The suite's integration units run src/redis-cli, redis-benchmark...: Debian's."""
    for tool in ("redis-cli", "redis-benchmark", "redis-server", "redis-check-aof",
                 "redis-check-rdb"):
        link = src / "src" / tool
        found = shutil.which(tool)
        if found and not link.exists():
            link.symlink_to(found)


def run_unit(src: Path, unit: str | None, target: Target, timeout: float, log: Path,
             debug: bool = False) -> dict:
    """One unit, or (unit None) the whole suite as Redis's own external CI runs it
    (.github/workflows/external.yml: every unit against one server, `--tags -slow`)."""
    cmd = ["./runtest", "--host", "127.0.0.1", "--port", str(target.port),
           "--baseport", str(BASEPORT)]
    if unit is None:
        cmd += ["--tags", "-slow"]
    else:
        cmd += ["--single", f"unit/{unit}", "--tags", "-needs:repl"]
        if not debug:
            cmd += ["--tags", "-needs:debug"]
    if target.kind == "proxy":
        cmd.append("--singledb")
    # Its own session: on a timeout the whole harness goes (its test clients hold its ports).
    proc = subprocess.Popen(cmd, cwd=src, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace", start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out = proc.communicate()[0] + "\n[timeout]: unit timed out\n"
    out = ANSI.sub("", out)
    with open(log, "a") as fh:
        fh.write(f"===== unit/{unit or 'all'} ({target.kind})\n{out}\n")
    counts = {"ok": 0, "err": 0, "exception": 0, "timeout": 0}
    failed = []
    for line in out.splitlines():
        m = RESULT.match(line)
        if m:
            counts[m.group(1)] += 1
            if m.group(1) != "ok":
                failed.append(f"unit/{unit or 'all'}: [{m.group(1)}] {m.group(2)}")
    return {"counts": counts, "failed": failed}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "redis-suite"))
    ap.add_argument("--targets", default="redis,xcache,proxy")
    ap.add_argument("--units", nargs="*", default=UNITS)
    ap.add_argument("--unit-timeout", type=float, default=300)
    ap.add_argument("--with-debug", action="store_true",
                    help="also run the tests tagged needs:debug (DEBUG RELOAD, DIGEST, SLEEP...)")
    ap.add_argument("--as-redis-ci", action="store_true",
                    help="every unit in one run against one server per target, `--tags -slow` "
                         "(needs:debug and needs:repl included), as Redis's own external CI")
    args = ap.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    src = suite(workdir)
    kinds = args.targets.split(",")
    if args.as_redis_ci:
        _link_tools(src)
        args.units = [None]
        args.unit_timeout = max(args.unit_timeout, 3600)
    for kind in kinds:
        (workdir / f"{kind}.log").write_text("")
    totals = {k: {"ok": 0, "err": 0, "exception": 0, "timeout": 0} for k in kinds}
    failures: dict[str, list[str]] = {k: [] for k in kinds}
    print(f"{'unit':22s}" + "".join(f"{k + ' ok/err/exc':>24s}" for k in kinds), flush=True)
    for unit in args.units:
        row = f"{unit or 'all units':22s}"
        for kind in kinds:
            tmp = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=workdir))
            target = Target(kind, tmp)
            try:
                r = run_unit(src, unit, target, args.unit_timeout, workdir / f"{kind}.log",
                             args.with_debug)
            finally:
                target.stop()
            c = r["counts"]
            for k, v in c.items():
                totals[kind][k] += v
            failures[kind] += r["failed"]
            row += f"{c['ok']:>14d}/{c['err']}/{c['exception'] + c['timeout']:<7d}"
        print(row, flush=True)
    print(f"{'total':22s}" + "".join(
        f"{t['ok']:>14d}/{t['err']}/{t['exception'] + t['timeout']:<7d}" for t in totals.values()))
    for kind in kinds:
        (workdir / f"{kind}-failures.txt").write_text("\n".join(failures[kind]) + "\n")
    print(f"failing tests per target: {workdir}/<target>-failures.txt; logs: {workdir}/<target>.log")


if __name__ == "__main__":
    main()
