"""MULTI / EXEC / DISCARD / WATCH / UNWATCH.

EXEC runs its queued commands back to back on the event loop, so no other client interleaves.
The one exception is a RocksDB write stall in the middle of EXEC: then EXEC remembers where it
stopped, takes the server's `exclusive` flag so that other clients' writes wait, and resumes
from that command when the stall clears (or answers -BUSY for the rest at the deadline).
"""

from __future__ import annotations

from time import perf_counter_ns

from xcache.resp import NULL_ARRAY, OK, Error
from xcache.store import cmdstats, monitor
from xcache.store import engine as enginemod
from xcache.store.commands import command
from xcache.store.dbmap import db_byte
from xcache.store.engine import WriteStall, decode_meta, now_ms
from xcache.store.notify_events import after as notify_after
from xcache.store.notify_events import before as notify_before


def unwatch_all(c) -> None:
    watchers = c.server.watchers
    for slot in c.watched:
        clients = watchers.get(slot)
        if clients is not None:
            clients.discard(c)
            if not clients:
                del watchers[slot]
    c.watched = set()
    c.watched_expired = set()
    c.dirty_cas = False


def _expired(engine, db: int, key: bytes) -> bool:
    """keyIsExpired: the key is still stored but its time has passed."""
    raw = engine.get_raw_meta(db_byte(db) + key)
    if raw is None:
        return False
    expire = decode_meta(raw).expire_ms
    return bool(expire) and expire <= now_ms()


def reset_multi(c) -> None:
    if c.exec_unit is not None:  # a stalled EXEC ended (deadline, client gone): what it wrote
        unit, c.exec_unit = c.exec_unit, None
        c.server.replication.close_unit(c, unit)
    c.multi = None
    c.multi_error = False
    c.exec_progress = None
    unwatch_all(c)
    if c.server.exclusive is c:
        c.server.set_exclusive(None)


@command("multi", 1, "noscript loading stale fast", 0, 0, 0)
def multi(c, args):
    if c.multi is not None:
        raise Error("ERR MULTI calls can not be nested")
    c.multi = []
    c.multi_error = False
    return OK


@command("discard", 1, "noscript loading stale fast", 0, 0, 0)
def discard(c, args):
    if c.multi is None:
        raise Error("ERR DISCARD without MULTI")
    reset_multi(c)
    return OK


@command("watch", -2, "noscript loading stale fast", 1, -1, 1)
def watch(c, args):
    if c.multi is not None:
        raise Error("ERR WATCH inside MULTI is not allowed")
    for key in args:
        slot = (c.db, key)
        if slot in c.watched:
            continue
        c.watched.add(slot)
        c.server.watchers.setdefault(slot, set()).add(c)
        if _expired(c.engine, c.db, key):  # watchForKey: a stale key's deletion is no change
            c.watched_expired.add(slot)
    return OK


@command("unwatch", 1, "noscript loading stale fast", 0, 0, 0)
def unwatch(c, args):
    unwatch_all(c)
    return OK


@command("exec", 1, "noscript loading stale skip_slowlog", 0, 0, 0)
def exec_(c, args):
    try:
        reply = _exec(c)
    except WriteStall:
        raise  # run again once RocksDB takes writes: shown in MONITOR when it ends
    except Error:
        monitor.exec_done(c.server, c)
        raise
    monitor.exec_done(c.server, c)
    return reply


def _exec(c):
    if c.multi is None:
        raise Error("ERR EXEC without MULTI")
    if c.multi_error:
        reset_multi(c)
        raise Error("EXECABORT Transaction discarded because of previous errors.")
    if c.exec_progress is None and not c.dirty_cas and c.watched:
        # isWatchedKeyExpired: a key that expired since WATCH (not yet deleted) is a change
        c.dirty_cas = any(_expired(c.engine, db, key) for db, key in c.watched - c.watched_expired)
    if c.exec_progress is None and c.dirty_cas:
        reset_multi(c)
        return NULL_ARRAY
    server = c.server
    queue = c.multi
    resumed = c.exec_progress is not None
    if not resumed and server.replication.read_only and c.kind != "master" \
            and any(q[0].write for q in queue):
        # a replica now (REPLICAOF since MULTI): processCommand refuses a writing EXEC
        reset_multi(c)
        raise Error("EXECABORT Transaction discarded because of: READONLY You can't write "
                    "against a read only replica.")
    index, replies = c.exec_progress or (0, [])
    # Its writes reach replicas as one block, MULTI ... EXEC (one write: as itself), once it ends
    rep = server.replication
    unit, c.exec_unit = c.exec_unit, None  # the ops of a stalled EXEC before the stall
    if unit is not None:
        rep.resume_unit(unit)
        if rep.unit is not unit:  # another block open meanwhile (not expected): emit ours now
            rep.close_unit(c, unit)
            unit = rep.open_unit()
    else:
        unit = rep.open_unit()
    c.in_exec = True
    saved = enginemod.frozen_ms
    if saved is None:  # its commands share one time, as in Redis (a script inside keeps its own)
        enginemod.frozen_ms = enginemod.now_ms()
    try:
        while index < len(queue):
            cmd, argv = queue[index]
            # Redis runs a transaction to its end even if it demotes the node (REPLICAOF inside
            # it); a stalled one resuming on a node demoted meanwhile must not write
            if resumed and cmd.write and server.replication.read_only and c.kind != "master":
                reply = Error("READONLY You can't write against a read only replica.")
            else:
                engine = c.engine
                engine.lookup_stats = None  # only the queued command's own reads count
                if server.monitors:
                    monitor.feed(server, c, cmd, argv)
                c.propagate = None
                st = cmdstats.target(cmd, argv)  # each queued command is a call (INFO commandstats)
                server.stats["total_commands_processed"] += 1  # and one more command processed
                existed = notify_before(c, cmd, argv) if server.notify_flags and cmd.write else None
                changes = engine.changes
                start = perf_counter_ns()
                engine.lookup_stats = None if cmd.write else server.stats  # as Server.invoke
                try:
                    reply = cmd.handler(c, argv[1:])
                except Error as exc:
                    reply = exc
                    st.failed_calls += 1
                    server.count_error(exc)  # INFO errorstats counts each error reply inside EXEC
                except WriteStall:
                    c.exec_progress = (index, replies)
                    server.set_exclusive(c)
                    if unit is not None and rep.unit is unit:
                        c.exec_unit = rep.suspend_unit()  # emitted with the rest once it resumes
                    raise
                else:
                    engine.lookup_stats = None
                    if cmd.write:
                        if c.propagate is None and c.engine.changes == changes:
                            c.propagate = []  # it wrote nothing (see Server.call)
                        server.after_write(c, cmd, argv)
                        if existed is not None:
                            notify_after(c, cmd, argv, reply, existed)
                nsec = perf_counter_ns() - start
                cmdstats.record(st, nsec, server.diagnostics.tracking)
                if nsec >= server.diagnostics.min_ns:  # SLOWLOG, latency monitor
                    server.diagnostics.record(c, st, argv, nsec)
            replies.append(reply)
            index += 1
    finally:
        enginemod.frozen_ms = saved
        c.engine.lookup_stats = None  # the last queued command's counting ends with it
        c.in_exec = False
        if unit is not None and rep.unit is unit:
            rep.close_unit(c, unit)
    reset_multi(c)
    return replies


def finish_stalled_exec(c, error: Error) -> list:
    """The stall outlasted the deadline: answer the rest of the transaction with error."""
    index, replies = c.exec_progress or (0, [])
    replies = replies + [error] * (len(c.multi or ()) - index)
    reset_multi(c)
    return replies
