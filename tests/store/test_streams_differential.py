"""Random stream command sequences (fixed seeds), run on xcache and redis-server side by side:
every reply must be the same (time-dependent fields - idle times, radix-tree sizes - left out)."""

from __future__ import annotations

import random

import pytest
import redis


def _id(rng: random.Random) -> str:
    return rng.choice(["-", "+", "0", "$", ">", f"{rng.randint(0, 30)}",
                       f"{rng.randint(0, 30)}-{rng.randint(0, 3)}",
                       f"({rng.randint(0, 30)}-{rng.randint(0, 3)}", f"{rng.randint(0, 30)}-*",
                       "*", "bad"])


def _command(rng: random.Random) -> list[str]:
    k, g, c = rng.choice(["s", "t"]), rng.choice(["g", "h"]), rng.choice(["c1", "c2"])
    n = str(rng.randint(-1, 5))
    pick = rng.choice
    cmds = [
        ["XADD", k, *pick([[], ["MAXLEN", pick(["=", "~"]), n], ["MINID", _id(rng)], ["NOMKSTREAM"],
                           ["MAXLEN", "~", n, "LIMIT", n]]), _id(rng), "f", str(rng.randint(0, 9))],
        ["XADD", k, f"{rng.randint(1, 40)}-{rng.randint(0, 3)}", "a", "1", "b", "2"],
        ["XRANGE", k, _id(rng), _id(rng), *pick([[], ["COUNT", n]])],
        ["XREVRANGE", k, _id(rng), _id(rng), *pick([[], ["COUNT", n]])],
        ["XDEL", k, _id(rng), _id(rng)],
        ["XTRIM", k, pick(["MAXLEN", "MINID"]), pick(["=", "~"]), pick([n, _id(rng)])],
        ["XLEN", k],
        ["XREAD", "COUNT", n, "STREAMS", k, _id(rng)],
        ["XGROUP", "CREATE", k, g, _id(rng), *pick([[], ["MKSTREAM"], ["ENTRIESREAD", n]])],
        ["XGROUP", "SETID", k, g, _id(rng), *pick([[], ["ENTRIESREAD", n]])],
        ["XGROUP", "DESTROY", k, g],
        ["XGROUP", "CREATECONSUMER", k, g, c],
        ["XGROUP", "DELCONSUMER", k, g, c],
        ["XREADGROUP", "GROUP", g, c, "COUNT", n, *pick([[], ["NOACK"]]), "STREAMS", k,
         pick([">", ">", _id(rng)])],
        ["XACK", k, g, _id(rng), _id(rng)],
        ["XPENDING", k, g],
        ["XPENDING", k, g, _id(rng), _id(rng), n, *pick([[], [c]])],
        ["XCLAIM", k, g, c, "0", _id(rng), _id(rng),
         *pick([[], ["JUSTID"], ["FORCE"], ["RETRYCOUNT", n], ["LASTID", _id(rng)]])],
        ["XAUTOCLAIM", k, g, c, "0", _id(rng), *pick([[], ["COUNT", n], ["JUSTID"]])],
        ["XINFO", "GROUPS", k],
        ["XINFO", "STREAM", k],
        ["XSETID", k, _id(rng), *pick([[], ["ENTRIESADDED", n], ["MAXDELETEDID", _id(rng)]])],
        ["DEL", k],
    ]
    cmd = rng.choice(cmds)
    if cmd[0] == "XADD" and "*" in cmd[2:]:  # generated ids depend on the clock: make it explicit
        cmd[cmd.index("*", 2)] = f"{rng.randint(1, 40)}-*"
    return cmd


def _normalize(reply, cmd: list[str]):
    if cmd[0] == "XPENDING" and len(cmd) > 3 and isinstance(reply, list):
        return [e[:2] + e[3:] for e in reply]  # idle time
    if cmd[:2] == ["XINFO", "STREAM"] and isinstance(reply, list):
        return [v for i, v in enumerate(reply) if i not in (3, 5)]  # radix-tree sizes
    return reply


def _run(client: redis.Redis, cmd: list[str]):
    try:
        return client.execute_command(*cmd)
    except redis.ResponseError as exc:
        return ("error", str(exc))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_stream_commands_match_redis(xcache_node, redis_node, seed):
    rng = random.Random(seed)
    x = redis.Redis(port=xcache_node.port, protocol=2)
    r = redis.Redis(port=redis_node.port, protocol=2)
    for c in (x, r):
        c.response_callbacks.clear()  # raw replies
        c.flushall()
    history = []
    for _ in range(1500):
        cmd = _command(rng)
        want, got = _normalize(_run(r, cmd), cmd), _normalize(_run(x, cmd), cmd)
        history.append(cmd)
        assert got == want, f"{cmd} after {history[-6:-1]}"
    x.close()
    r.close()
