"""Write durability on a master: Redis's min-replicas-to-write and an acknowledged-write hold.

- `min_replicas_to_write` / `min_replicas_max_lag` (Redis's min-replicas-to-write and
  min-replicas-max-lag, seconds): a master that has fewer than N replicas online whose last
  REPLCONF ACK is at most max-lag seconds old refuses writes with Redis's exact
  `-NOREPLICAS Not enough good replicas to write.` (before running them: nothing is applied).
  This bounds how long a master cut off from its replicas keeps accepting writes (about max-lag
  seconds), it does not make an acknowledged write durable.
- `write_ack_replicas` / `write_ack_timeout_ms` (xcache): the reply to a write is held until N
  replicas acknowledged the replication offset it produced, as if the client had sent
  `WAIT N timeout` after it on the same connection. Not acknowledged in time -> the write may or
  may not survive a failover, and the client gets `-NOACK ...` instead of the reply (in doubt:
  it was applied on this master). Set it on every node of a group (it is per node, so it holds
  after a failover too); the proxies need no setting. Writes inside MULTI are held at EXEC,
  a script's (EVAL/EVALSHA/FCALL) at its reply, when it wrote (its writes move the caller's
  write offset: scripting.Running).
"""

from __future__ import annotations

import time

from xcache.resp import Error
from xcache.store.interfaces import Suspend

NOREPLICAS = Error("NOREPLICAS Not enough good replicas to write.")


def good_replicas(server) -> int:
    lag = server.cfg.min_replicas_max_lag
    now = time.monotonic()
    return sum(1 for st in server.replication.replicas.values()
               if st.state == "online" and now - st.ack_time <= lag)


def refuse(server, c, cmd) -> Error | None:
    """NOREPLICAS for a write on a master short of good replicas (Redis's processCommand check)."""
    cfg = server.cfg
    if not (cmd.write and cfg.min_replicas_to_write and cfg.min_replicas_max_lag):
        return None
    if server.replication.is_replica or c.kind == "master":
        return None
    if good_replicas(server) >= cfg.min_replicas_to_write:
        return None
    return NOREPLICAS


def hold(server, c, reply, since: int | None = None):
    """The reply to a write, released once enough replicas acknowledged it (write_ack_replicas).
    `since`: the client's write offset before a command that may write (EVAL, FCALL): held only
    if the command moved it, i.e. the script wrote."""
    if type(reply) is Error or server.replication.is_replica or c.kind != "normal":
        return reply
    if type(reply) is Suspend:
        return Suspend(_after(server, c, reply.waiter, since))
    return _held(server, c, reply, since)


async def _after(server, c, waiter, since):
    reply = await waiter
    if type(reply) is Error:
        return reply
    held = _held(server, c, reply, since)
    return await held.waiter if type(held) is Suspend else held


def _held(server, c, reply, since=None):
    rep, wanted = server.replication, server.cfg.write_ack_replicas
    target = getattr(c, "repl_woff", 0)
    if target == since or rep.count_acked(target) >= wanted:
        return reply
    rep.request_acks()
    return Suspend(_wait(server, target, wanted, reply))


async def _wait(server, target: int, wanted: int, reply):
    timeout_ms = server.cfg.write_ack_timeout_ms
    got = await server.replication.wait_acks(wanted, target, timeout_ms / 1000)
    if got >= wanted:
        return reply
    server.stats["write_ack_timeouts"] = server.stats.get("write_ack_timeouts", 0) + 1
    return Error(f"NOACK write applied on the master but acknowledged by {got} of {wanted} "
                 f"replica(s) within {timeout_ms} ms: it may be lost in a failover")
