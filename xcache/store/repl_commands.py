"""Replication's commands: ROLE, REPLICAOF/SLAVEOF, PSYNC, SYNC, REPLCONF and WAIT,
parsed as Redis does and served by the node's Replication (replication.py, which imports this
module so that they are registered with it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from xcache.resp import OK, Error, Raw, SimpleString
from xcache.store.commands import SYNTAX_ERROR, command, parse_int
from xcache.store.interfaces import Suspend

if TYPE_CHECKING:
    from xcache.store.interfaces import Client


@command("role", 1, "noscript loading stale fast", 0, 0, 0)
def role(c: Client, args: list[bytes]):
    return c.server.replication.role_reply()


@command("replicaof", 3, "admin noscript stale", 0, 0, 0)
def replicaof(c: Client, args: list[bytes]):
    rep = c.server.replication
    if args[0].lower() == b"no" and args[1].lower() == b"one":
        rep.become_master()
        return OK
    port = parse_int(args[1], Error("ERR Invalid master port"))
    if not 0 <= port < 65536:  # as Redis (0 is accepted: the link just never comes up)
        raise Error("ERR Invalid master port")
    host = args[0].decode(errors="replace")
    if rep.is_replica and (rep.master_host, rep.master_port) == (host, port):
        return SimpleString(b"OK Already connected to specified master")
    rep.become_replica(host, port)
    return OK


@command("slaveof", 3, "admin noscript stale", 0, 0, 0)
def slaveof(c: Client, args: list[bytes]):
    return replicaof(c, args)


@command("psync", -3, "admin noscript", 0, 0, 0)
def psync(c: Client, args: list[bytes]):
    try:
        offset = int(args[1])
    except ValueError:
        raise Error("ERR value is not an integer or out of range") from None
    return c.server.replication.psync(c, args[0].decode(errors="replace"), offset)


@command("sync", 1, "admin noscript", 0, 0, 0)
def sync(c: Client, args: list[bytes]):
    return c.server.replication.sync(c)


@command("replconf", -1, "admin noscript loading stale", 0, 0, 0)
def replconf(c: Client, args: list[bytes]):
    if len(args) % 2:
        raise SYNTAX_ERROR
    rep = c.server.replication
    for i in range(0, len(args), 2):
        opt, value = args[i].lower(), args[i + 1]
        if opt == b"listening-port":
            c.repl_port = parse_int(value)
        elif opt == b"ip-address":
            c.repl_ip = value.decode(errors="replace")
        elif opt == b"ack":
            rep.on_ack(c, parse_int(value))
            return Raw(b"")  # a replica's ACK gets no reply
        elif opt == b"getack":
            return Raw(b"")  # handled by the replica's stream reader
        elif opt == b"rdb-only":  # SYNC sends this client the RDB and no stream
            only = parse_int(value)
            if not 0 <= only <= 1:
                raise Error("ERR value is out of range, value must between 0 and 1")
            c.repl_rdb_only = bool(only)
        elif opt == b"rdb-filter-only":  # the parts its RDB holds: "functions" or nothing
            exclude = {"data", "functions"}
            for part in value.split():
                if part.lower() != b"functions":
                    raise Error("ERR Unsupported rdb-filter-only option: "
                                f"{part.decode(errors='replace')}")
                exclude.discard("functions")
            c.repl_rdb_exclude = tuple(exclude)
        elif opt == b"capa":  # eof, psync2 (Redis's), xcache-snapshot (replication.SNAPSHOT_CAPA)
            c.repl_capa = getattr(c, "repl_capa", frozenset()) | {value.lower()}
        else:
            raise Error(f"ERR Unrecognized REPLCONF option: {args[i].decode(errors='replace')}")
    return OK


@command("wait", 3, "noscript", 0, 0, 0)
def wait(c: Client, args: list[bytes]):
    rep = c.server.replication
    if rep.is_replica:
        raise Error(
            "ERR WAIT cannot be used with replica instances. Please also note that since "
            "Redis 4.0 if a replica is configured to be writable (which is not the default) "
            "writes to replicas are just local and are not propagated."
        )
    wanted = parse_int(args[0])
    timeout_ms = parse_int(args[1])
    if timeout_ms < 0:
        raise Error("ERR timeout is negative")
    target = getattr(c, "repl_woff", 0)
    acked = rep.count_acked(target)
    if acked >= wanted:
        return acked
    rep.request_acks()
    return Suspend(rep.wait_acks(wanted, target, timeout_ms / 1000))
