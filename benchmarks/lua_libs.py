"""Scripts using the cmsgpack and struct Lua libraries: xcache node vs redis-server.

redis-benchmark's custom-command mode repeats EVALSHA of each script on both servers,
interleaved (xcache, redis, xcache, redis...), and prints the median requests/s and the ratio.

    python benchmarks/lua_libs.py [--requests 20000] [--repeat 3] [--clients 10]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.store_vs_redis import bench_family  # noqa: E402
from tests.procs import start_redis, start_xcache_server  # noqa: E402

# name -> a script of one library call over a small record (typical use: a value kept packed)
SCRIPTS = {
    "cmsgpack.pack": "return cmsgpack.pack({id = 42, name = 'Joe', tags = {'a', 'b', 'c'}, "
                     "score = 1.5, ok = true})",
    "cmsgpack.unpack": "local t = cmsgpack.unpack('\\133\\162id\\042\\164name\\163Joe\\164tags"
                       "\\147\\161a\\161b\\161c\\165score\\202\\063\\192\\000\\000\\162ok\\195') "
                       "return t.name",
    "struct.pack": "return struct.pack('>iHdc3', 7, 65000, 2.5, 'abc')",
    "struct.unpack": "return {struct.unpack('>iHdc3', '\\000\\000\\000\\007\\253\\232"
                     "\\064\\004\\000\\000\\000\\000\\000\\000abc')}",
    "baseline (return 1)": "return 1",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--clients", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        with start_xcache_server(Path(tmp) / "x") as xc, start_redis(Path(tmp) / "r") as rd:
            for port in (xc.port, rd.port):
                with redis.Redis(port=port) as client:
                    for body in SCRIPTS.values():
                        client.script_load(body)
            print(f"{'script':22} {'xcache rps':>11} {'redis rps':>11} {'ratio':>6}")
            for name, body in SCRIPTS.items():
                cmd = ["EVALSHA", hashlib.sha1(body.encode()).hexdigest(), "0"]
                runs: dict[str, list[float]] = {"x": [], "r": []}
                for _ in range(args.repeat):
                    for key, port in (("x", xc.port), ("r", rd.port)):
                        runs[key].append(bench_family(port, 1, args.requests, args.clients, cmd))
                x, r = statistics.median(runs["x"]), statistics.median(runs["r"])
                print(f"{name:22} {x:11.0f} {r:11.0f} {x / r:6.2f}")


if __name__ == "__main__":
    main()
