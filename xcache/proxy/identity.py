"""Session-local commands about the connection itself: HELLO, CLIENT, RESET, ROLE, TIME.

HELLO negotiates the session's protocol (RESP2 or RESP3) with AUTH and SETNAME, and answers like
Redis 7's HELLO with the proxy's identity. CLIENT subcommands describe the proxy's own sessions
(of this worker), not the backends' connections.
"""

from __future__ import annotations

import time

from xcache.numbers import string2ll
from xcache.proxy import clientpause, replymode, tracking
from xcache.proxy.protocol import Verbatim, encode
from xcache.proxy.replies import error_line, pack
from xcache.resp import encode as resp_encode
from xcache.resp.help import CLIENT_HELP as _REDIS_CLIENT_HELP
from xcache.resp.help import help_reply, pick

REDIS_VERSION = "7.0.15"  # the Redis feature level followed (as xcache nodes report it)
OK = b"+OK\r\n"
_HELLO_AUTH_NEEDED = (
    "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO "
    "<proto> AUTH <user> <pass> option can be used to authenticate the client and select the "
    "RESP protocol version at the same time")
# CLIENT HELP: Redis 7.0's entries of what the proxy serves for its sessions. Status lines only:
# the same bytes in RESP2 and RESP3.
CLIENT_HELP = resp_encode(help_reply("CLIENT", pick(_REDIS_CLIENT_HELP, (
    "CACHING", "GETREDIR", "GETNAME", "ID", "INFO", "KILL", "LIST", "UNPAUSE", "PAUSE", "REPLY",
    "SETNAME", "TRACKING", "TRACKINGINFO", "UNBLOCK", "NO-EVICT"))))
_TRACKING = (b"TRACKING", b"CACHING", b"GETREDIR", b"TRACKINGINFO")
_BAD_NAME = "ERR Client names cannot contain spaces, newlines or special characters."


def handle(session, spec, argv: list[bytes], t0: float) -> bytes | None:
    """The reply, or None when the command was sent on (CLIENT PAUSE to every group)."""
    name = spec.name
    if name == "HELLO":
        return hello(session, argv)
    if name == "CLIENT":
        if len(argv) > 1 and argv[1].upper() in (b"PAUSE", b"UNPAUSE"):
            clientpause.handle(session, spec, argv, t0)  # every group's node pauses its clients
            return None
        if len(argv) > 1 and argv[1].upper() in _TRACKING:
            return tracking.client_command(session, spec, argv, t0)
        if len(argv) == 3 and argv[1].upper() == b"REPLY":
            mode = argv[2].upper()
            if mode not in (b"ON", b"OFF", b"SKIP"):
                return error_line("ERR syntax error")
            replymode.set_mode(session, spec, mode, OK if mode == b"ON" else b"", t0)
            return None
        return client(session, argv)
    if name == "ROLE":
        return b"*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n"
    if name == "TIME":
        now = time.time()
        sec, usec = b"%d" % int(now), b"%d" % int((now % 1) * 1_000_000)
        return b"*2\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n" % (len(sec), sec, len(usec), usec)
    # RESET: back to a fresh connection's state
    session.release()
    if session.tracking is not None:
        session.ctx.tracking.off(session)
    session.resp3 = False
    session.name = b""
    session.user = session.ctx.acl.default_user()  # back to the default user, as Redis does
    session.authed = session.user.enabled and session.user.nopass
    session.parser.slow.authenticated = session.authed
    if session.filtering:  # replies back on, RESET's own included
        replymode.set_mode(session, spec, b"ON", b"+RESET\r\n", t0)
        return None
    return b"+RESET\r\n"


def _valid_name(name: bytes) -> bool:
    return all(33 <= c <= 126 for c in name)


def hello(session, argv: list[bytes]) -> bytes:
    proto = 3 if session.resp3 else 2
    if len(argv) > 1:
        proto = string2ll(argv[1])
        if proto is None:
            return error_line("ERR Protocol version is not an integer or out of range")
        if proto < 2 or proto > 3:
            return b"-NOPROTO unsupported protocol version\r\n"
    auth = setname = None
    i = 2
    while i < len(argv):
        opt = argv[i].upper()
        more = len(argv) - i - 1
        if opt == b"AUTH" and more >= 2:
            auth = (argv[i + 1], argv[i + 2])
            i += 3
        elif opt == b"SETNAME" and more >= 1:
            setname = argv[i + 1]
            i += 2
        else:
            return error_line(f"ERR Syntax error in HELLO option '{argv[i].decode(errors='replace')}'")
    if auth is not None:
        if not session.check_password(*auth):
            return b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    elif not session.authed:
        return error_line(_HELLO_AUTH_NEEDED)
    if setname is not None:
        if not _valid_name(setname):
            return error_line(_BAD_NAME)
        session.name = setname
    session.resp3 = proto == 3
    return encode({"server": "redis", "version": REDIS_VERSION, "proto": proto, "id": session.id,
                   "mode": "standalone", "role": "master", "modules": []}, session.resp3)


_CONTAINERS = {b"acl", b"client", b"cluster", b"command", b"config", b"function", b"latency",
               b"memory", b"module", b"object", b"pubsub", b"script", b"slowlog", b"xgroup",
               b"xinfo"}


def _cmd_name(argv) -> str:
    """Redis's fullname of a command (client|list), as CLIENT LIST's cmd= shows it."""
    if type(argv) is not list or not argv:
        return "NULL"
    name = argv[0].lower()
    if name in _CONTAINERS and len(argv) > 1:
        name += b"|" + argv[1].lower()
    return name.decode(errors="replace")


def client_line(s, current: list[bytes] | None = None) -> str:
    """Redis 7.0's CLIENT LIST line of session s; current: the command s is running (CLIENT
    LIST/INFO itself), which Redis shows in its query buffer (qbuf, argv-mem) and as cmd."""
    peer = s.transport.get_extra_info("peername") if s.transport is not None else None
    sock = s.transport.get_extra_info("sockname") if s.transport is not None else None
    addr = f"{peer[0]}:{peer[1]}" if peer else f"{s.ip}:0"
    laddr = f"{sock[0]}:{sock[1]}" if sock else ""
    now = s.ctx.loop.time()
    subs = s.subs
    flags = ("P" if subs is not None and subs.total() else "") + (
        "x" if s.multi is not None else "") + ("b" if s.blocking else "")
    t = s.tracking
    if t is not None:  # Redis's order: t, then R (its redirect client is gone), then B
        flags += "t" + ("R" if t.redirect and (t.target is None or t.target.closed) else "") + (
            "B" if t.bcast else "")
    qbuf = len(pack(current)) if current else 0
    argv_mem = sum(len(a) for a in current) if current else 0
    cmd = _cmd_name(current or getattr(s, "last_argv", None))
    return (f"id={s.id} addr={addr} laddr={laddr} fd=-1 name={s.name.decode(errors='replace')} "
            f"age={int(now - s.created)} idle={int(max(0.0, now - s.last_active))} "
            f"flags={flags or 'N'} db=0 sub={len(subs.channels) if subs else 0} "
            f"psub={len(subs.patterns) if subs else 0} ssub={len(subs.shard) if subs else 0} "
            f"multi={len(s.multi.cmds) if s.multi is not None else -1} "
            f"qbuf={qbuf} qbuf-free={max(0, s.qbuf_alloc - qbuf)} argv-mem={argv_mem} "
            f"multi-mem=0 rbs=0 rbp=0 obl=0 oll={len(s.pending)} omem=0 tot-mem=0 events=r "
            f"cmd={cmd} user={s.user.name} redir={t.redirect if t is not None else -1} resp={3 if s.resp3 else 2} "
            f"lib-name={s.lib_name.decode(errors='replace')} lib-ver={s.lib_ver.decode(errors='replace')}")


def client(session, argv: list[bytes]) -> bytes:
    if len(argv) < 2:
        return error_line("ERR wrong number of arguments for 'client' command")
    sub = argv[1].upper()
    n = len(argv)
    if sub == b"SETNAME" and n == 3:
        if not _valid_name(argv[2]):
            return error_line(_BAD_NAME)
        session.name = argv[2]
        return OK
    if sub == b"GETNAME" and n == 2:
        return encode(session.name or None, session.resp3)
    if sub == b"ID" and n == 2:
        return b":%d\r\n" % session.id
    if sub == b"SETINFO" and n == 4:
        attr = argv[2].upper()
        if not _valid_name(argv[3]):
            return error_line(f"ERR {attr.decode(errors='replace')} cannot contain spaces, newlines or "
                              "special characters.")
        if attr == b"LIB-NAME":
            session.lib_name = argv[3]
        elif attr == b"LIB-VER":
            session.lib_ver = argv[3]
        else:
            return error_line(f"ERR Unrecognized option '{argv[2].decode(errors='replace')}'")
        return OK
    if sub == b"INFO" and n == 2:
        return encode(Verbatim(client_line(session, argv) + "\n"), session.resp3)
    if sub == b"HELP" and n == 2:
        return CLIENT_HELP
    if sub == b"LIST":
        sessions = sorted(session.ctx.sessions, key=lambda s: s.id)
        if n >= 4 and argv[2].upper() == b"ID":
            try:
                ids = {int(x) for x in argv[3:]}
            except ValueError:
                return error_line("ERR Invalid client ID")
            sessions = [s for s in sessions if s.id in ids]
        elif n == 4 and argv[2].upper() == b"TYPE":
            kind = argv[3].lower()
            if kind not in (b"normal", b"pubsub", b"master", b"replica", b"slave"):
                return error_line(f"ERR Unknown client type '{argv[3].decode(errors='replace')}'")
            pub = kind == b"pubsub"
            sessions = [s for s in sessions if (kind in (b"normal", b"pubsub")) and
                        ((s.subs is not None and s.subs.total() > 0) == pub)]
        elif n != 2:
            return error_line("ERR syntax error")
        return encode(Verbatim("".join(client_line(s, argv if s is session else None) + "\n"
                                       for s in sessions)), session.resp3)
    if sub in (b"NO-EVICT", b"NO-TOUCH") and n == 3:
        if argv[2].upper() not in (b"ON", b"OFF"):
            return error_line("ERR syntax error")
        return OK
    if sub == b"KILL" and n >= 3:
        return kill(session, argv)
    if sub == b"UNBLOCK" and n in (3, 4):
        return unblock(session, argv)
    return _lookup_error(argv)


def _lookup_error(argv: list[bytes]) -> bytes:
    """What a subcommand's handler refused past Redis's lookup (unknown subcommand and arity are
    answered before, by commands.lookup_error): its fallback text."""
    text = argv[1].decode(errors="replace")
    return error_line(f"ERR unknown subcommand or wrong number of arguments for '{text[:128]}'. "
                      "Try CLIENT HELP.")


def _addr(s, which: str) -> str:
    info = s.transport.get_extra_info(which) if s.transport is not None else None
    return f"{info[0]}:{info[1]}" if info else ""


def kill(session, argv: list[bytes]) -> bytes:
    """CLIENT KILL addr | CLIENT KILL <filter> <value>...: sessions of this worker."""
    sessions = list(session.ctx.sessions)
    if len(argv) == 3:  # old form: one address, +OK or an error
        addr = argv[2].decode(errors="replace")
        victims = [s for s in sessions if _addr(s, "peername") == addr]
        if not victims:
            return error_line("ERR No such client")
        _close(session, victims)
        return OK
    skipme = True
    tests = []
    i = 2
    while i < len(argv):  # Redis 7.0's options, checked in its order and with its errors
        f = argv[i].upper()
        v = argv[i + 1] if i + 1 < len(argv) else None
        if v is None:
            return error_line("ERR syntax error")
        if f == b"ID":
            cid = string2ll(v) or 0
            if not 0 < cid < 1 << 63:
                return error_line("ERR client-id should be greater than 0")
            tests.append(lambda s, cid=cid: s.id == cid)
        elif f == b"ADDR":
            tests.append(lambda s, a=v: _addr(s, "peername").encode() == a)
        elif f == b"LADDR":
            tests.append(lambda s, a=v: _addr(s, "sockname").encode() == a)
        elif f == b"USER":
            name = v.decode(errors="replace")
            if name not in session.ctx.acl.users:
                return error_line(f"ERR No such user '{name}'")
            tests.append(lambda s, u=name: s.user.name == u)
        elif f == b"TYPE":
            kind = v.lower()
            if kind not in (b"normal", b"pubsub", b"master", b"replica", b"slave"):
                return error_line(f"ERR Unknown client type '{v.decode(errors='replace')}'")
            tests.append(lambda s, k=kind: k in (b"normal", b"pubsub") and (
                (s.subs is not None and s.subs.total() > 0) == (k == b"pubsub")))
        elif f == b"SKIPME":
            if v.lower() not in (b"yes", b"no"):
                return error_line("ERR syntax error")
            skipme = v.lower() == b"yes"
        else:
            return error_line("ERR syntax error")
        i += 2
    victims = [s for s in sessions if all(t(s) for t in tests) and not (skipme and s is session)]
    _close(session, victims)
    return b":%d\r\n" % len(victims)


def _close(me, victims: list) -> None:
    for s in victims:
        if s is me:
            me.closing = True  # after this reply, like Redis
        else:
            s.close()


def unblock(session, argv: list[bytes]) -> bytes:
    """CLIENT UNBLOCK id [TIMEOUT|ERROR]: end a session's blocking command (this worker's)."""
    cid = string2ll(argv[2])
    if cid is None:
        return error_line("ERR value is not an integer or out of range")
    how = argv[3].upper() if len(argv) == 4 else b"TIMEOUT"
    if how not in (b"TIMEOUT", b"ERROR"):
        return error_line("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
    target = next((s for s in session.ctx.sessions if s.id == cid), None)
    if target is None or not target.blocking:
        return b":0\r\n"
    for conn in list(target.block_conns.values()):
        if conn.queue:
            if how == b"ERROR":
                conn.fail_with(error_line("UNBLOCKED client unblocked via CLIENT UNBLOCK"))
            else:
                req = conn.queue[0][0]
                null = b"$-1\r\n" if req.spec.name in ("BLMOVE", "BRPOPLPUSH") else b"*-1\r\n"
                conn.fail_with(b"_\r\n" if req.resp3 else null)
    return b":1\r\n"
