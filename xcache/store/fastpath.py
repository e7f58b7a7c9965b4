"""The lean lane: the common data commands skip the dispatch's gates while none of them applies.

Server.execute and Server.call pass every command through some twenty gates (NOAUTH, ACL,
maxmemory, a disk refusing writes, pub/sub context, a busy script, CLIENT PAUSE, a stale replica,
min-replicas, MULTI, WAIT-style acks, a stalled EXEC, MIGRATE locks, MONITOR, keyspace events,
tracking...). On a pipelined GET or SET they cost more CPython time than RocksDB's own work.
`lane_open` tells whether any of them is in force for a client; while none is, `serve_lean` runs
the commands of LEAN_COMMANDS through Server.invoke, which is what Server.call does after its
gates (statistics, latency histograms, SLOWLOG, access times, WATCH, blocked clients,
replication, passive expiry); a plain `GET key` and `SET key value` are served by _get and _set,
the same effects in fewer steps. Anything else (another command, a wrong arity, a write with no
group open, whose RocksDB stall only the full path handles) returns NOT_FAST and takes the full
path. A replica applies its master's stream through the lane too (repl_link.py).

Nothing but the client's own commands runs between two commands of its chunk (Client.run runs a
chunk synchronously), so the gates can only change through one of them: Client.run asks
lane_open again after any command that took the full path.
"""

from __future__ import annotations

import struct
from time import perf_counter_ns

from xcache.resp import OK
from xcache.store import hashes, keys, lists, sets, strings, zsets  # noqa: F401 (their commands)
from xcache.store.cmdstats import add_sample
from xcache.store.commands import COMMANDS
from xcache.store.dbmap import DB_BYTE
from xcache.store.engine import RAW_STRING, STRING, now_ms
from xcache.store.strings import PLAIN_STRING

NOT_FAST = object()  # the command takes the full path (Server.execute)

# Data commands that never block, suspend, run a script or change a gate (Client.run asks again
# after any other command): strings, keys, hashes, lists, sets and sorted sets.
LEAN_COMMANDS = (
    "get set setnx setex psetex getset getdel mget mset msetnx incr decr incrby decrby incrbyfloat "
    "append strlen getrange setrange exists del unlink expire pexpire expireat pexpireat ttl pttl "
    "persist type touch "
    "hset hsetnx hmset hget hmget hgetall hdel hlen hexists hincrby hincrbyfloat hkeys hvals hstrlen "
    "lpush rpush lpushx rpushx lpop rpop llen lrange lindex lset lrem ltrim linsert "
    "sadd srem smembers sismember smismember scard spop srandmember "
    "zadd zincrby zrem zscore zmscore zcard zcount zrange zrangebyscore zrevrange zrevrangebyscore "
    "zrank zrevrank").split()

_Q = struct.Struct(">Q")
_GET = COMMANDS[b"get"]
_SET = COMMANDS[b"set"]


def _get(server, c, argv: list[bytes]):
    """GET key as strings.get and Server.invoke run it, for a string that has no TTL or whose
    TTL is not due (an expired key is deleted by the handler, WRONGTYPE is its error)."""
    start = perf_counter_ns()
    engine = server.engine
    engine.access.touching = not c.no_touch
    raw = engine.get_raw_meta(DB_BYTE[c.db] + argv[1])
    stats = server.stats
    if raw is None:
        stats["keyspace_misses"] += 1
    else:
        if raw[0] != STRING and raw[0] != RAW_STRING:
            return NOT_FAST
        if raw[1:9] != PLAIN_STRING[1:] and _Q.unpack_from(raw, 1)[0] <= now_ms():
            return NOT_FAST
        stats["keyspace_hits"] += 1
        raw = raw[9:]
    stats["total_commands_processed"] += 1
    _account(server, c, argv, _GET, start)
    return raw


def _set(server, c, argv: list[bytes]):
    """SET key value as strings.set_ and Server.invoke (after_write) run it, into the group."""
    if len(argv) != 3:
        return NOT_FAST  # options: strings.set_ parses them
    start = perf_counter_ns()
    server.stats["total_commands_processed"] += 1
    engine = server.engine
    engine.access.touching = not c.no_touch
    key = argv[1]
    engine.put_meta_now(DB_BYTE[c.db] + key, PLAIN_STRING + argv[2])
    _account(server, c, argv, _SET, start)
    server.stats["dirty"] += 1
    if server.watchers:
        server.touch(c.db, key)
    if server.key_waiters and (c.db, key) in server.key_waiters:
        server.signal_key(c.db, key)
    rep = server.replication
    if rep.backlog is not None and not rep.is_replica:  # as Replication.propagate, a group open
        engine.group.after.append((c, c.db, argv))
    return OK


def _account(server, c, argv: list[bytes], cmd, start: int) -> None:
    """Server.invoke's commandstats, latency histogram and SLOWLOG."""
    nsec = perf_counter_ns() - start
    cmd.calls += 1
    cmd.nsec += nsec
    diagnostics = server.diagnostics
    if diagnostics.tracking:
        add_sample(cmd, nsec)
    if nsec >= diagnostics.min_ns:
        diagnostics.record(c, cmd, argv, nsec)


# argv[0] as clients send it (lower or upper case; other spellings take the full path) ->
# (the command's name in lower case, its Command, its own lane for the plain form or None)
LEAN: dict[bytes, tuple] = {}
for _name in LEAN_COMMANDS:
    _entry = (_name.encode(), COMMANDS[_name.encode()], None)
    LEAN[_entry[0]] = LEAN[_entry[0].upper()] = _entry
LEAN[b"get"] = LEAN[b"GET"] = (b"get", _GET, _get)  # `GET key`
LEAN[b"set"] = LEAN[b"SET"] = (b"set", _SET, _set)  # `SET key value`


def lean_read(cmds: list) -> tuple | None:
    """The LEAN entry of a chunk that is one lean command that never writes (a P=1 GET, HGET,
    EXISTS...), else None. Such a chunk has nothing to share a round's group with: it is served
    at once (Client.data_received)."""
    if len(cmds) != 1 or type(cmds[0]) is not list:
        return None
    entry = LEAN.get(cmds[0][0])
    return None if entry is None or entry[1].write else entry


def lane_open(server, c) -> bool:
    """Whether no gate of Server.execute/call applies to c's commands now (c may be a
    replica's link to its master: repl_link applies the stream through the lane too)."""
    return (c.authenticated and c.user.unrestricted and c.multi is None and c.tracking is None
            and c.tracking_pending is None and not (c.channels or c.patterns or c.shard_channels)
            and server.running_script is None and not server.over_maxmemory
            and server.engine_swap is None and not server.pause.mode and server.exclusive is None
            and not server.migrating and not server.monitors and not server.notify_flags
            and server.tracking is None and not server.cfg.min_replicas_to_write
            and not server.cfg.write_ack_replicas and not server.engine.disk.full
            and (not server.replication.is_replica or c.kind == "master"))  # its master's stream


def serve_lean(server, c, argv: list[bytes], entry: tuple, group):
    """The reply of argv, whose LEAN entry is entry, or NOT_FAST. A write runs only with a group
    open: its batch is committed with the chunk's, so a RocksDB stall cannot reach it here."""
    name, cmd, plain = entry
    arity = cmd.arity
    n = len(argv)
    if (arity > 0 and n != arity) or n < -arity or (cmd.write and group is None):
        return NOT_FAST  # the error, or the stall's retry, comes from the full path
    c.last_cmd = name
    c.last_full = cmd
    c.typed_cmd = argv[0]
    if plain is not None:
        reply = plain(server, c, argv)
        if reply is not NOT_FAST:
            return reply
    return server.invoke(c, cmd, argv)
