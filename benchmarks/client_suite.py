"""Run redis-py's own test suite, unchanged, against a redis-server and an xcache node.

    python3 benchmarks/client_suite.py [--workdir /tmp/client-suite] [--only xcache|redis]
                                       [--protocol 2|3] [--files tests/test_commands.py ...]

It downloads the sdist of the installed redis-py version (`pip download redis==X --no-binary
:all: --no-deps`; the tests are in it), starts each server on a free port, runs the same
pytest selection against each with pytest options only (--redis-url, -m to leave out the
cluster/module/ssl/replica tests), and prints the pass counts side by side, plus the failing
tests of xcache grouped by the command family they exercise (see docs/compatibility.md).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.procs import start_redis, start_xcache_server  # noqa: E402

FILES = ["tests/test_commands.py", "tests/test_pipeline.py", "tests/test_pubsub.py",
         "tests/test_lock.py", "tests/test_hash.py", "tests/test_encoding.py"]
MARKERS = "not onlycluster and not redismod and not ssl and not replica"

# The command families other areas of the project own (issue 13 counts them apart).
FAMILIES = [
    ("streams", r"test_x[a-z]+|stream"), ("geo", r"geo"), ("hyperloglog", r"pf[a-z]+|hyperloglog"),
    ("bitops", r"bit(?:op|pos|field|count)|getbit|setbit|test_lcs"), ("sort", r"test_sort"),
    ("new list/zset commands", r"zdiff|zinter|zunion|zrangestore|zmpop|bzpop|lmpop|"
     r"with_byte_keys|with_memoryview_keys"),
    ("scripting", r"eval|script|function|fcall"), ("acl", r"acl|auth"),
    ("dump/restore", r"dump|restore|migrate"), ("modules", r"module"),
    ("cluster/replication", r"cluster|replicaof|slaveof|failover|wait|psync|sync"),
]


def family(test: str) -> str:
    if "test_lock.py" in test:
        return "scripting"  # redis-py's Lock runs Lua scripts (EVALSHA)
    name = test.rsplit("::", 1)[-1].lower()
    for fam, pattern in FAMILIES:
        if re.search(pattern, name):
            return fam
    return "node (this area)"


def sdist(workdir: Path) -> Path:
    import redis

    version = redis.__version__
    target = workdir / f"redis-{version}"
    if not (target / "tests").is_dir():
        subprocess.run([sys.executable, "-m", "pip", "download", f"redis=={version}",
                        "--no-binary", ":all:", "--no-deps", "-d", str(workdir)], check=True)
        with tarfile.open(workdir / f"redis-{version}.tar.gz") as tar:
            tar.extractall(workdir, filter="data")
    return target


def run_suite(src: Path, port: int, files: list[str], protocol: str, log: Path) -> dict:
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfE",
           "-o", "addopts=", *files, f"--redis-url=redis://127.0.0.1:{port}", "-m", MARKERS]
    if protocol:
        cmd.append(f"--protocol={protocol}")
    with open(log, "w") as fh:
        fh.write(" ".join(cmd) + "\n")
        fh.flush()
        subprocess.run(cmd, cwd=src, stdout=fh, stderr=subprocess.STDOUT,
                       env={**os.environ, "PYTHONPATH": ""})
    text = log.read_text()
    counts = {k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|skipped|error|errors)", text.splitlines()[-1])}
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", text, re.M)
    return {"counts": counts, "failed": failed, "command": " ".join(cmd[2:])}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "client-suite"))
    ap.add_argument("--only", choices=["xcache", "redis"])
    ap.add_argument("--protocol", default="", help="2 or 3; default: redis-py's default (3)")
    ap.add_argument("--files", nargs="*", default=FILES)
    args = ap.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    src = sdist(workdir)
    results = {}
    for kind in ("redis", "xcache"):
        if args.only and args.only != kind:
            continue
        tmp = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=workdir))
        proc = start_redis(tmp) if kind == "redis" else start_xcache_server(tmp)
        try:
            results[kind] = run_suite(src, proc.port, args.files, args.protocol,
                                      workdir / f"{kind}.log")
        finally:
            proc.stop()
        r = results[kind]
        print(f"{kind:7s} {r['counts']}  (log: {workdir / f'{kind}.log'})")
        print(f"        {r['command'].replace(str(proc.port), 'PORT')}")
    if "xcache" in results:
        by_family = Counter(family(t) for t in results["xcache"]["failed"])
        print("xcache failures by family:", dict(by_family.most_common()))
        if "redis" in results:
            base = results["redis"]["counts"].get("passed", 0)
            got = results["xcache"]["counts"].get("passed", 0)
            print(f"xcache passes {got} of redis-server's {base}: {100 * got / max(base, 1):.1f}%")
            only_x = sorted(set(results["xcache"]["failed"]) - set(results["redis"]["failed"]))
            (workdir / "xcache-only-failures.txt").write_text("\n".join(only_x) + "\n")


if __name__ == "__main__":
    main()
