"""CLIENT and its subcommands (LIST, INFO, KILL, PAUSE, REPLY, TRACKING...) as Redis 7.0 answers
them; a client's line of CLIENT LIST is clientinfo.py's."""

from __future__ import annotations

import time

from xcache.resp import OK, Error, Many, Push, Verbatim, encode_into, encode_into3
from xcache.resp import help as help_text
from xcache.store.acl import acl_of
from xcache.store.clientinfo import client_line
from xcache.store.commands import SYNTAX_ERROR, command, parse_int, parse_int_at_least
from xcache.store.pause import ALL, WRITE
from xcache.store.subcommands import help_reply, subcommands, unknown_subcommand


def set_client_name(c, name: bytes) -> None:
    if any(ch <= 32 or ch >= 127 for ch in name):
        raise Error("ERR Client names cannot contain spaces, newlines or special characters.")
    c.name = name


CLIENT_TYPES = {b"normal": "normal", b"master": "master", b"replica": "replica", b"slave": "replica",
                b"pubsub": "pubsub"}


def _client_type(c) -> str:
    if c.kind == "monitor":  # Redis's getClientType: a MONITOR client is a normal one
        return "normal"
    if c.channels or c.patterns or c.shard_channels:  # SSUBSCRIBE sets CLIENT_PUBSUB too
        return "pubsub"
    return c.kind


@command("client", -2, "admin noscript loading stale", 0, 0, 0)
@subcommands("client", extra=("setinfo", "no-touch"))  # Redis 7.2's, clients send them
def client(c, args):
    sub = args[0].upper()
    server = c.server
    now = time.monotonic()
    if sub == b"LIST":
        chosen = list(server.clients.values())
        if len(args) >= 3 and args[1].upper() == b"TYPE":
            kind = CLIENT_TYPES.get(args[2].lower())
            if kind is None:
                raise Error(f"ERR Unknown client type '{args[2].decode(errors='replace')}'")
            chosen = [o for o in chosen if _client_type(o) == kind]
        elif len(args) >= 3 and args[1].upper() == b"ID":
            ids = {parse_int(a) for a in args[2:]}
            chosen = [o for o in chosen if o.id in ids]
        elif len(args) != 1:
            raise SYNTAX_ERROR
        argv = [b"client", *args]
        return Verbatim("".join(client_line(o, now, c, argv) + "\n" for o in chosen).encode())
    if sub == b"INFO" and len(args) == 1:
        return Verbatim((client_line(c, now, c, [b"client", *args]) + "\n").encode())
    if sub == b"ID" and len(args) == 1:
        return c.id
    if sub == b"GETNAME" and len(args) == 1:
        return c.name or None
    if sub == b"SETNAME" and len(args) == 2:
        set_client_name(c, args[1])
        return OK
    if sub == b"KILL":
        return client_kill(c, args[1:])
    if sub == b"PAUSE" and 2 <= len(args) <= 3:
        return client_pause(c, args[1:])
    if sub == b"UNPAUSE" and len(args) == 1:
        server.pause.unpause()
        return OK
    if (sub == b"PAUSE" and len(args) == 1) or sub == b"UNPAUSE":  # as Redis's subcommand arity
        raise Error(f"ERR wrong number of arguments for 'client|{sub.lower().decode()}' command")
    return client_more(c, sub, args)


def _on_off(value: bytes) -> bool:
    value = value.upper()
    if value not in (b"ON", b"OFF"):
        raise SYNTAX_ERROR
    return value == b"ON"


def _pushes_only(c):
    """The reply encoder of CLIENT REPLY OFF: replies are dropped, pushes (the (un)subscribe
    confirmations) are not, as Redis's CLIENT_PUSHING overrides the silencing flags."""
    def encode(out: list, reply) -> None:
        t = type(reply)
        if t is Push:
            (encode_into3 if c.resp == 3 else encode_into)(out, reply)
        elif t is Many:
            for one in reply:
                encode(out, one)

    return encode


def client_more(c, sub: bytes, args: list[bytes]):
    """CLIENT SETINFO/NO-EVICT/NO-TOUCH/REPLY/UNBLOCK/TRACKING/TRACKINGINFO/CACHING/GETREDIR/HELP."""
    from xcache.store import tracking

    if sub == b"SETINFO" and len(args) == 3:
        attr = args[1].lower()
        if attr not in (b"lib-name", b"lib-ver"):
            raise Error(f"ERR Unrecognized option '{args[1].decode(errors='replace')}'")
        if any(ch < 33 or ch > 126 for ch in args[2]):
            raise Error(f"ERR {attr.decode()} cannot contain spaces, newlines or special characters.")
        if attr == b"lib-name":
            c.lib_name = args[2]
        else:
            c.lib_ver = args[2]
        return OK
    if sub == b"NO-EVICT" and len(args) == 2:
        c.no_evict = _on_off(args[1])
        return OK
    if sub == b"NO-TOUCH" and len(args) == 2:
        c.no_touch = _on_off(args[1])
        return OK
    if sub == b"REPLY" and len(args) == 2:
        mode = args[1].upper()
        if mode == b"ON":
            c.set_protocol(c.resp)  # back to the protocol's encoder
            return OK
        if mode == b"OFF":
            c.encode = _pushes_only(c)
            return None
        if mode == b"SKIP":
            c.encode = _skip_replies(c, 2)  # this command's reply and the next one
            return None
        raise SYNTAX_ERROR
    if sub == b"UNBLOCK" and len(args) in (2, 3):
        target = c.server.clients.get(parse_int(args[1]))
        how = args[2].upper() if len(args) == 3 else b"TIMEOUT"
        if how not in (b"TIMEOUT", b"ERROR"):
            raise Error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
        if target is None or target.blocked is None:
            return 0
        c.server.unblock(target, how == b"ERROR")
        return 1
    if sub == b"TRACKING" and len(args) >= 2:
        return tracking.tracking_command(c, args[1:])
    if sub == b"TRACKINGINFO" and len(args) == 1:
        return tracking.tracking_info(c)
    if sub == b"CACHING" and len(args) == 2:
        return tracking.caching_command(c, args[1:])
    if sub == b"GETREDIR" and len(args) == 1:
        return -1 if c.tracking is None else c.tracking.redirect
    if sub == b"HELP" and len(args) == 1:
        return help_reply("CLIENT", CLIENT_HELP)
    raise unknown_subcommand("client", args[0])


def _skip_replies(c, n: int):
    drop = _pushes_only(c)

    def skip(out: list, reply) -> None:
        nonlocal n
        drop(out, reply)
        n -= 1
        if n <= 0:
            c.set_protocol(c.resp)

    return skip


# Redis 7.0's CLIENT help[]: every subcommand is served. SETINFO and NO-TOUCH (Redis 7.2's,
# also served) are not in 7.0's text, left out so the reply is 7.0's byte for byte.
CLIENT_HELP = help_text.CLIENT_HELP


def client_pause(c, args):
    """CLIENT PAUSE timeout [WRITE|ALL] (xcache/store/pause.py)."""
    timeout = parse_int(args[0], Error("ERR timeout is not an integer or out of range"))
    if timeout < 0:
        raise Error("ERR timeout is negative")
    mode = args[1].lower().decode(errors="replace") if len(args) > 1 else ALL
    if mode not in (WRITE, ALL):
        raise Error("ERR CLIENT PAUSE mode must be WRITE or ALL")
    c.server.pause.pause(timeout, mode)
    return OK


def client_kill(c, args):
    """CLIENT KILL addr | CLIENT KILL <filter> <value> ...: options are checked in order, as
    networking.c parses them; the caller itself is closed after its reply."""
    server = c.server
    if not args:  # Redis's subcommand arity (-3)
        raise Error("ERR wrong number of arguments for 'client|kill' command")
    filters = {}
    skipme = True
    if len(args) == 1:  # old form: CLIENT KILL addr (may kill the caller)
        filters["addr"] = args[0].decode(errors="replace")
        skipme = False
    for i in range(0, len(args) if len(args) > 1 else 0, 2):
        opt = args[i].upper()
        if i + 1 >= len(args):
            raise SYNTAX_ERROR
        value = args[i + 1]
        if opt == b"ID":
            filters["id"] = parse_int_at_least(value, 1, Error("ERR client-id should be greater than 0"))
        elif opt == b"TYPE":
            kind = CLIENT_TYPES.get(value.lower())
            if kind is None:
                raise Error(f"ERR Unknown client type '{value.decode(errors='replace')}'")
            filters["type"] = kind
        elif opt == b"ADDR":
            filters["addr"] = value.decode(errors="replace")
        elif opt == b"LADDR":
            filters["laddr"] = value.decode(errors="replace")
        elif opt == b"USER":
            name = value.decode(errors="surrogateescape")
            if name not in acl_of(server).users:
                raise Error(f"ERR No such user '{value.decode(errors='replace')}'")
            filters["user"] = name
        elif opt == b"SKIPME":
            if value.lower() not in (b"yes", b"no"):
                raise SYNTAX_ERROR
            skipme = value.lower() == b"yes"
        elif opt == b"MAXAGE":  # Redis 7.2's filter
            filters["maxage"] = parse_int(value)
        else:
            raise SYNTAX_ERROR
    now = time.monotonic()
    killed = 0
    for other in list(server.clients.values()):
        if skipme and other is c:
            continue
        if "id" in filters and other.id != filters["id"]:
            continue
        if "type" in filters and _client_type(other) != filters["type"]:
            continue
        if "addr" in filters and other.addr != filters["addr"]:
            continue
        if "laddr" in filters and other.laddr != filters["laddr"]:
            continue
        if "user" in filters and other.user.name != filters["user"]:
            continue
        if "maxage" in filters and now - other.created < filters["maxage"]:
            continue
        if other is c:
            c.close_after_reply = True
        else:
            other.close()
        killed += 1
    if len(args) == 1:
        if not killed:
            raise Error("ERR No such client")
        return OK
    return killed
