"""Whole-keyspace and server commands: asked of every group (or one) and merged.

SCAN walks the groups one after the other: the proxy's cursor is (node cursor << 16) | (group
id + 1), the group in the LOW bits because an xcache node's cursor is an unbounded integer (the
last key returned); cursor 0 starts at the first group, and the walk ends (cursor 0) after the
last one. DBSIZE sums, RANDOMKEY picks among the groups' answers, KEYS (allow_keys) and
FLUSHDB/FLUSHALL (allow_flush) run on every group. INFO merges the groups' sections (counters
summed, keyspace summed) with the proxy's own Server/Clients fields and its Proxy section.
CONFIG GET, COMMAND, LOLWUT, FUNCTION LIST... are answered by the first group's master: every
group runs the same software. SCRIPT LOAD/FLUSH and FUNCTION LOAD/DELETE/FLUSH run on every
group so a later EVALSHA/FCALL finds its script wherever its keys are.
"""

from __future__ import annotations

import random
import re

from xcache.numbers import string2ll
from xcache.proxy import monitor, ownconfig, scriptkill
from xcache.proxy.backend import Group
from xcache.proxy.pending import Part, Request, Split
from xcache.proxy.protocol import Verbatim, encode, integer, is_null, items, null, text
from xcache.proxy.replies import error_line, pack
from xcache.resp import Error
from xcache.resp import encode as resp_encode
from xcache.resp.help import SCRIPT_HELP as _REDIS_SCRIPT_HELP
from xcache.resp.help import help_reply, pick
from xcache.resp.samples import debug_protocol

# CONFIG SET parameters that would cut or redirect the proxy's (or replicas') links to the nodes.
# (`timeout` is the proxy's own: ownconfig.py)
CONFIG_LINKS = {"requirepass", "masterauth", "masteruser", "port", "tls-port", "bind",
                 "bind-source-addr", "unixsocket", "unixsocketperm", "protected-mode",
                 "maxclients", "replicaof", "slaveof", "aclfile", "dir", "tls-auth-clients",
                 "enable-protected-configs", "enable-debug-command", "enable-module-command"}
GROUP_BITS = 16
_MASK = (1 << GROUP_BITS) - 1


class Gather(Split):
    """One Part per group; merged by a function of the parts' replies (in group order)."""

    __slots__ = ("merger",)

    def merge(self) -> bytes:
        return self.merger([p.reply for p in self.parts])


def groups(ctx) -> list[tuple[Group, int]]:
    """(group, one slot it owns) for every group owning a slot, in id order."""
    seen: dict[int, tuple[Group, int]] = {}
    for s, r in enumerate(ctx.slots):
        if r.__class__ is Group and r.id not in seen:
            seen[r.id] = (r, s)
    return [seen[i] for i in sorted(seen)]


def fanout_request(session, spec, argv, t0: float, request_class):
    """A request of session's that every group's part answers: (request, [(group, slot)]), in
    its place in the session's replies; None when there is no slot table (answered so)."""
    gs = groups(session.ctx)
    if not gs:
        session.answer(spec, error_line("ERR xcache: no slot table"), t0)
        return None
    session.drain_routed()
    req = request_class(session, spec, None, 0, t0, argv)
    session.pending.append(req)
    return req, gs


def gather(session, spec, argv, t0: float, merger, only_first: bool = False) -> None:
    gs = groups(session.ctx)
    if not gs:
        session.answer(spec, error_line("ERR xcache: no slot table (configure groups or PUT /slots)"), t0)
        return
    if only_first:
        gs = gs[:1]
    session.drain_routed()
    parent = Gather(session, spec, b"", 0, t0)
    parent.merger = merger
    parent.nkeys = 0
    parent.parts = []
    parent.left = len(gs)
    session.pending.append(parent)
    raw = pack(argv)
    for _g, slot in gs:
        part = Part(session, spec, raw, slot, t0, argv)
        part.parent = parent
        part.positions = ()
        parent.parts.append(part)
    for (g, _), part in zip(gs, parent.parts, strict=True):
        g.send(part)


def first_error(replies: list[bytes]) -> bytes | None:
    for r in replies:
        if r.startswith(b"-"):
            return r
    return None


def merged(fn):
    """A merger that answers the first error a group gave, else fn(replies)."""
    def run(replies):
        return first_error(replies) or fn(replies)
    return run


def _watch_memory(ctx, argv: list[bytes]) -> None:
    """A CONFIG SET maxmemory went through: a non-zero limit may put the nodes over it at once,
    so queued denyoom commands get the node's verdict (txn.py) until one is queued; 0 ends that."""
    for param, value in zip(argv[2::2], argv[3::2], strict=False):
        if param.lower() == b"maxmemory":
            limited = value.strip().lower().rstrip(b"bkmg").lstrip(b"0") != b""
            for g, _slot in groups(ctx):
                g.oom_watch = limited


def _link_refused(param: bytes) -> bytes:
    return error_line(f"ERR xcache: CONFIG SET {param.decode(errors='replace')} is not supported "
                      "through the proxy (it would change how the proxy and the replicas reach "
                      "the nodes: set it on each node, and the proxy's own config)")


def _links_unchanged(argv: list[bytes], reply: bytes) -> bytes:
    """CONFIG SET of link parameters to the values the nodes have: +OK (nothing changes, as on
    Redis); any other value is refused."""
    parts = items(reply) or []
    have = {(text(parts[i]) or b"").lower(): text(parts[i + 1]) for i in range(0, len(parts) - 1, 2)}
    for name, value in zip(argv[2::2], argv[3::2], strict=True):
        if have.get(name.lower()) != value:
            return _link_refused(name)
    return b"+OK\r\n"


def set_own(session, own: dict) -> None:
    """The proxy's own CONFIG SET parameters: here at once, in the other workers (and those
    started later) a moment after (uplink.py)."""
    if own:
        ownconfig.apply(session.ctx.cfg, own)
        session.ctx.tracking.limit()
        if session.ctx.uplink is not None:
            session.ctx.uplink.tell({"op": "config", "own": own})


def forward_first(session, spec, argv, t0: float) -> None:
    gather(session, spec, argv, t0, lambda r: r[0], only_first=True)


def handle(session, spec, argv: list[bytes], t0: float) -> None:
    name = spec.name
    cfg = session.ctx.cfg
    r3 = session.resp3
    if name == "DBSIZE":
        gather(session, spec, argv, t0, merged(lambda r: b":%d\r\n" % sum(integer(x) or 0 for x in r)))
    elif name == "SCAN":
        scan(session, spec, argv, t0)
    elif name == "RANDOMKEY":
        def pick(replies):
            found = [x for x in replies if not is_null(x)]
            return random.choice(found) if found else null(r3)
        gather(session, spec, argv, t0, merged(pick))
    elif name == "KEYS":
        if not cfg.allow_keys:
            session.answer(spec, error_line(
                "ERR xcache: KEYS is off through the proxy (it blocks every group's node while it "
                "runs); use SCAN, or set allow_keys=true"), t0)
            return
        gather(session, spec, argv, t0, merged(_concat))
    elif name in ("BGSAVE", "BGREWRITEAOF", "SAVE"):  # every group persists (SAVE: each its own)
        gather(session, spec, argv, t0, merged(lambda r: r[0]))
    elif name in ("FLUSHDB", "FLUSHALL"):
        if not cfg.allow_flush:
            session.answer(spec, error_line(
                f"ERR xcache: {name} is off through the proxy (it empties every group); "
                "set allow_flush=true to allow it"), t0)
            return
        gather(session, spec, argv, t0, merged(lambda r: r[0]))
    elif name == "MONITOR":
        monitor.start(session, spec, argv, t0)
    elif name == "INFO":
        gather(session, spec, argv, t0, merged(lambda r: _info(session, argv, r)))
    elif name == "CONFIG":
        sub = argv[1].upper()
        if sub == b"GET":  # the node's values, and the proxy's own (ownconfig.py)
            gather(session, spec, argv, t0, lambda r: ownconfig.patch_get(r[0], cfg, r3), only_first=True)
            return
        if sub == b"HELP":
            forward_first(session, spec, argv, t0)
            return
        own: dict = {}
        if sub == b"SET" and len(argv) % 2 == 0:
            links = [p for p in argv[2::2] if p.lower().decode(errors="replace") in CONFIG_LINKS]
            if links and len(links) * 2 == len(argv) - 2:  # only those: a no-op is fine
                gather(session, spec, [b"CONFIG", b"GET", *links], t0,
                       merged(lambda r: _links_unchanged(argv, r[0])), only_first=True)
                return
            if links:
                session.answer(spec, _link_refused(links[0]), t0)
                return
            error, own, rest = ownconfig.split_set(argv)
            if error is not None:
                session.answer(spec, error, t0)
                return
            if rest is None:  # only the proxy's own
                set_own(session, own)
                session.answer(spec, b"+OK\r\n", t0)
                return
            argv = rest
        # SET, RESETSTAT, REWRITE: every group runs the same configuration
        local = session.ctx.local_stats

        def applied(replies):
            if sub == b"SET":
                local.configured(argv)  # the slow log's thresholds (localstats.py)
                set_own(session, own)
                _watch_memory(session.ctx, argv)
            elif sub == b"RESETSTAT":
                local.reset_histograms()
            return replies[0]
        gather(session, spec, argv, t0, merged(applied))
    elif name == "COMMAND" or name == "LOLWUT" or name == "PFSELFTEST":
        forward_first(session, spec, argv, t0)
    elif name == "SCRIPT":
        _script(session, spec, argv, t0)
    elif name == "FUNCTION":
        sub = argv[1].upper()
        if sub in (b"LOAD", b"DELETE", b"FLUSH", b"RESTORE"):
            gather(session, spec, argv, t0, merged(lambda r: r[0]))
        elif sub == b"KILL" and len(argv) == 2:  # never behind the script (scriptkill.py)
            scriptkill.kill(session, spec, argv, t0)
        else:
            forward_first(session, spec, argv, t0)
    elif name == "SLOWLOG":
        _slowlog(session, spec, argv, t0)
    elif name == "LATENCY":
        sub = argv[1].upper()
        if sub == b"RESET":
            gather(session, spec, argv, t0, merged(lambda r: b":%d\r\n" % sum(integer(x) or 0 for x in r)))
        elif sub == b"HISTOGRAM":  # with the commands the proxy answers itself (localstats.py)
            gather(session, spec, argv, t0, merged(
                lambda r: session.ctx.local_stats.histogram(r, argv, session.resp3)), only_first=True)
        else:
            forward_first(session, spec, argv, t0)
    elif name == "LASTSAVE":  # the oldest save among the groups
        gather(session, spec, argv, t0, merged(lambda r: b":%d\r\n" % min(integer(x) or 0 for x in r)))
    elif name == "MODULE":
        if argv[1].upper() in (b"LIST", b"HELP"):
            forward_first(session, spec, argv, t0)
        else:
            session.answer(spec, error_line(
                f"ERR xcache: MODULE {argv[1].decode(errors='replace')} is not supported through the "
                "proxy (administers one backend node: run it on the node itself)"), t0)
    elif name == "DEBUG":
        _debug(session, spec, argv, t0)
    elif name == "MEMORY":
        if argv[1].upper() == b"USAGE":
            if len(argv) < 3:
                session.answer(spec, error_line("ERR wrong number of arguments for 'memory|usage' command"), t0)
                return
            session.same_slot(spec, argv, t0, [argv[2]])
        else:
            forward_first(session, spec, argv, t0)


# DEBUG through the proxy. Settings go to every group (each node is part of the server); a
# key's report to its group; PROTOCOL is answered here; what covers the whole dataset (DIGEST,
# RELOAD, POPULATE...) goes to the only group, when the proxy has one: that node is then the
# whole server, as for Redis's suite.
_DEBUG_EVERY_GROUP = {b"SET-ACTIVE-EXPIRE", b"SET-DISABLE-DENY-SCRIPTS", b"SLEEP", b"PAUSE-CRON",
                      b"QUICKLIST-PACKED-THRESHOLD", b"SET-SKIP-CHECKSUM-VALIDATION",
                      b"REPLYBUFFER", b"DICT-RESIZING", b"LOG"}
_DEBUG_BY_KEY = {b"OBJECT", b"DIGEST-VALUE", b"HTSTATS-KEY", b"LISTPACK", b"QUICKLIST", b"SDSLEN"}
_DEBUG_ANY_GROUP = {b"HELP", b"ERROR"}


def _debug(session, spec, argv: list[bytes], t0: float) -> None:
    sub = argv[1].upper()
    if sub == b"PROTOCOL" and len(argv) == 3:
        # answered here: an attribute or a push would read as two replies on a pooled link
        try:
            reply = debug_protocol(argv[2].lower(), session.resp3)
        except Error as exc:
            reply = exc
        session.answer(spec, resp_encode(reply, 3 if session.resp3 else 2), t0)
    elif sub in _DEBUG_EVERY_GROUP:
        gather(session, spec, argv, t0, merged(lambda r: r[0]))
    elif sub in _DEBUG_BY_KEY and len(argv) > 2:
        session.same_slot(spec, argv, t0, argv[2:])
    elif sub in _DEBUG_ANY_GROUP or len(groups(session.ctx)) == 1:
        forward_first(session, spec, argv, t0)
    else:
        session.answer(spec, error_line(
            f"ERR xcache: DEBUG {argv[1].decode(errors='replace')} covers one node's whole "
            "dataset: through the proxy only when it has one group (run it on each node)"), t0)


def select(session, spec, argv, t0: float) -> None:
    """SELECT n as Redis checks it; an index the nodes have (1..databases-1) is refused."""
    raw = argv[1]
    n = string2ll(raw)
    if n is None:
        session.answer(spec, error_line("ERR value is not an integer or out of range"), t0)
    elif not -(1 << 31) <= n < 1 << 31:
        session.answer(spec, error_line(
            f"ERR value is out of range, value must between {-(1 << 31)} and {(1 << 31) - 1}"), t0)
    elif n == 0:
        session.answer(spec, b"+OK\r\n", t0)
    elif n < 0:
        session.answer(spec, error_line("ERR DB index is out of range"), t0)
    else:  # out of range is the nodes' answer (their `databases`), else the proxy's refusal
        def check(replies):
            pairs = items(replies[0]) or []
            dbs = int(text(pairs[1]) or 16) if len(pairs) == 2 else 16
            if n >= dbs:
                return error_line("ERR DB index is out of range")
            return error_line("ERR xcache: only database 0 is available through the proxy")
        gather(session, spec, [b"CONFIG", b"GET", b"databases"], t0, merged(check),
               only_first=True)


def _concat(replies: list[bytes]) -> bytes:
    parts = [items(r) or [] for r in replies]
    n = sum(len(p) for p in parts)
    return b"*%d\r\n" % n + b"".join(b"".join(p) for p in parts)


def _slowlog(session, spec, argv, t0: float) -> None:
    sub = argv[1].upper()
    local = session.ctx.local_stats  # with the commands the proxy answers itself (localstats.py)
    if sub == b"GET":
        try:
            limit = int(argv[2]) if len(argv) > 2 else 10
        except ValueError:
            limit = 10
        def newest(replies):
            entries = local.slowlog_entries(replies)
            if limit >= 0:
                entries = entries[:limit]
            return b"*%d\r\n" % len(entries) + b"".join(entries)
        gather(session, spec, argv, t0, merged(newest))
    elif sub == b"LEN":
        gather(session, spec, argv, t0, merged(lambda r: b":%d\r\n" % min(
            local.max_len, len(local.slowlog) + sum(integer(x) or 0 for x in r))))
    elif sub == b"RESET":
        local.slowlog.clear()
        gather(session, spec, argv, t0, merged(lambda r: r[0]))
    else:
        forward_first(session, spec, argv, t0)


# SCRIPT HELP: Redis 7.0's entries of what the proxy serves (DEBUG is per node); an
# array of status lines reads the same in RESP2 and RESP3
SCRIPT_HELP = resp_encode(help_reply("SCRIPT", pick(_REDIS_SCRIPT_HELP, ("EXISTS", "FLUSH", "KILL", "LOAD"))))


def _script(session, spec, argv, t0: float) -> None:
    sub = argv[1].upper()
    if sub in (b"LOAD", b"FLUSH"):
        gather(session, spec, argv, t0, merged(lambda r: r[0]))
    elif sub == b"EXISTS":
        def both(replies):
            lists = [items(r) or [] for r in replies]
            n = len(lists[0])
            out = [b":1\r\n" if all(len(x) == n and x[i] == b":1\r\n" for x in lists) else b":0\r\n"
                   for i in range(n)]
            return b"*%d\r\n" % n + b"".join(out)
        gather(session, spec, argv, t0, merged(both))
    elif sub == b"KILL" and len(argv) == 2:  # never behind the script (scriptkill.py)
        scriptkill.kill(session, spec, argv, t0)
    elif sub == b"HELP" and len(argv) == 2:
        session.answer(spec, SCRIPT_HELP, t0)
    else:
        session.answer(spec, error_line(
            f"ERR xcache: SCRIPT {sub.decode(errors='replace')} is not supported through the proxy "
            "(run it on the node)"), t0)


# -- SCAN -----------------------------------------------------------------------------------------
_CURSOR = re.compile(rb"[+-]?[0-9]+|")


def _scan_cursor(raw: bytes) -> int | None:
    """A cursor as Redis reads it with strtoul (a sign, leading zeros and "" allowed; a negative
    one wraps around), or None: "ERR invalid cursor". The proxy's own cursors carry a node's,
    which may pass 2**64 (the node's cursor is its last key)."""
    if not _CURSOR.fullmatch(raw):
        return None
    value = int(raw or b"0")
    if value < 0:
        return None if value <= -(1 << 64) else value + (1 << 64)
    return value


def scan(session, spec, argv, t0: float) -> None:
    cursor = _scan_cursor(argv[1])
    if cursor is None:
        session.answer(spec, error_line("ERR invalid cursor"), t0)
        return
    gs = groups(session.ctx)
    if not gs:
        session.answer(spec, error_line("ERR xcache: no slot table (configure groups or PUT /slots)"), t0)
        return
    ids = [g.id for g, _ in gs]
    if cursor == 0:
        idx, node_cursor = 0, 0
    else:
        gid, node_cursor = (cursor & _MASK) - 1, cursor >> GROUP_BITS
        if gid not in ids:  # the group left the table: carry on with the next one
            later = [i for i, x in enumerate(ids) if x > gid]
            if not later:
                session.answer(spec, b"*2\r\n$1\r\n0\r\n*0\r\n", t0)
                return
            idx, node_cursor = later[0], 0
        else:
            idx = ids.index(gid)
    count = 10
    for i in range(2, len(argv) - 1):
        if argv[i].upper() == b"COUNT":
            try:
                count = int(argv[i + 1])
            except ValueError:
                pass
    session.drain_routed()
    req = Scan(session, spec, None, 0, t0, argv)
    req.groups, req.idx, req.count, req.keys = gs, idx, count, []
    session.pending.append(req)
    req.next(node_cursor)


class Scan(Request):
    """SCAN over the groups in id order: a group that is done hands over to the next one within
    the same call while fewer than COUNT keys were found, so a small keyspace is returned whole
    with cursor 0, as Redis does."""

    __slots__ = ("groups", "idx", "count", "keys")

    def next(self, node_cursor: int) -> None:
        group, slot = self.groups[self.idx]
        sub = [self.argv[0], b"%d" % node_cursor, *self.argv[2:]]
        self.slot = slot
        self.raw = pack(sub)
        group.send(self)

    def complete(self, reply: bytes) -> None:
        if reply.startswith(b"-"):
            Request.complete(self, reply)
            return
        parts = items(reply)
        if not parts or len(parts) != 2:
            Request.complete(self, error_line("ERR xcache: unexpected SCAN reply from a backend"))
            return
        self.keys.extend(items(parts[1]) or [])
        nxt = int(text(parts[0]) or b"0")
        gs, idx = self.groups, self.idx
        if nxt:
            out = (nxt << GROUP_BITS) | (gs[idx][0].id + 1)
        elif idx + 1 < len(gs):
            if len(self.keys) < self.count and not self.session.closed:
                self.idx += 1
                self.next(0)
                return
            out = gs[idx + 1][0].id + 1
        else:
            out = 0
        c = b"%d" % out
        keys = self.keys
        Request.complete(self, b"*2\r\n$%d\r\n%b\r\n*%d\r\n%b" % (len(c), c, len(keys), b"".join(keys)))


# -- INFO -----------------------------------------------------------------------------------------
_SUMMED = {"clients", "memory", "stats", "persistence", "replication", "keyspace", "cpu",
           "commandstats", "errorstats"}
_PROXY_CLIENTS = ("connected_clients", "blocked_clients", "maxclients", "tracking_clients")


def _parse(txt: str) -> list[tuple[str, list[list[str]]]]:
    out: list[tuple[str, list[list[str]]]] = []
    for line in txt.split("\r\n"):
        if line.startswith("# "):
            out.append((line[2:], []))
        elif line and out and ":" in line:
            k, v = line.split(":", 1)
            out[-1][1].append([k, v])
    return out


def _add(a: str, b: str) -> str:
    """Sum of two INFO values: integers, or k=v,k=v lists (keyspace, commandstats)."""
    try:
        return str(int(a) + int(b))
    except ValueError:
        pass
    if "=" in a:
        da = dict(p.split("=", 1) for p in a.split(",") if "=" in p)
        db = dict(p.split("=", 1) for p in b.split(",") if "=" in p)
        for k, v in db.items():
            da[k] = _add(da[k], v) if k in da else v
        return ",".join(f"{k}={v}" for k, v in da.items())
    return a


def _human(n: int) -> str:
    for unit, size in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return f"{n}B"


def _info(session, argv: list[bytes], replies: list[bytes]) -> bytes:
    sections: list[tuple[str, list[list[str]]]] = []
    index: dict[str, dict[str, list[str]]] = {}
    for reply in replies:
        for name, fields in _parse((text(reply) or b"").decode(errors="replace")):
            key = name.lower()
            if key not in index:
                sections.append((name, fields))
                index[key] = {f[0]: f for f in fields}
                continue
            have = index[key]
            for k, v in fields:
                if k in have:
                    if key in _SUMMED and not k.endswith("_human"):
                        have[k][1] = _add(have[k][1], v)
                else:
                    f = [k, v]
                    have[k] = f
                    for sname, sfields in sections:
                        if sname.lower() == key:
                            sfields.append(f)
    for fields in index.values():  # *_human follows its summed byte count
        for k, f in fields.items():
            base = fields.get(k[: -len("_human")]) if k.endswith("_human") else None
            if base is not None and base[1].isdigit():
                f[1] = _human(int(base[1]))
    own = _parse(session.ctx.info_text())
    wanted = {a.decode(errors="replace").lower() for a in argv[1:]} or {"default"}
    show_own = bool(wanted & {"default", "all", "everything", "server", "clients", "proxy", "stats"})
    if show_own:
        for name, fields in own:
            key = name.lower()
            if key in index and key in ("server", "clients", "stats"):
                have = index[key]
                for k, v in fields:
                    if key == "clients" and k not in _PROXY_CLIENTS and k not in have:
                        continue
                    if key == "stats" and not k.startswith("tracking_"):
                        continue  # the nodes' sums; the proxy's own tracking table
                    if k == "blocked_clients" and session.ctx.now < session.ctx.pause_until:
                        continue  # the nodes' count: it has the clients they hold paused
                    if k in have:
                        have[k][1] = v
                    else:
                        f = [k, v]
                        have[k] = f
                        next(s for s in sections if s[0].lower() == key)[1].append(f)
            elif key == "proxy" or (key not in index and wanted & {"default", "all", "everything", key}):
                sections.append((name, fields))
    lines: list[str] = []
    for name, fields in sections:
        if lines:
            lines.append("")
        lines.append(f"# {name}")
        lines.extend(f"{k}:{v}" for k, v in fields)
    return encode(Verbatim("\r\n".join(lines) + "\r\n" if lines else ""), session.resp3)


# -- PUBSUB introspection -------------------------------------------------------------------------
def pubsub_command(session, spec, argv: list[bytes], t0: float) -> None:
    sub = argv[1].upper()
    if sub in (b"CHANNELS", b"SHARDCHANNELS"):
        def union(replies):
            seen: dict[bytes, None] = {}
            for r in replies:
                for x in items(r) or []:
                    seen[x] = None
            return b"*%d\r\n" % len(seen) + b"".join(seen)
        gather(session, spec, argv, t0, merged(union))
    elif sub in (b"NUMSUB", b"SHARDNUMSUB"):
        def total(replies):
            # One (channel, count) per argument, repeats included, as Redis answers; the
            # groups list the same channels in the same order.
            lists = [items(r) or [] for r in replies]
            pairs = [(lists[0][i], sum(integer(xs[i + 1]) or 0 for xs in lists))
                     for i in range(0, len(lists[0]) - 1, 2)]
            body = b"".join(k + b":%d\r\n" % v for k, v in pairs)
            head = b"%%%d\r\n" % len(pairs) if session.resp3 and replies[0][:1] == b"%" else \
                b"*%d\r\n" % (2 * len(pairs))
            return head + body
        gather(session, spec, argv, t0, merged(total))
    elif sub == b"NUMPAT" or (sub == b"HELP" and len(argv) == 2):
        # NUMPAT: patterns are subscribed on every group, one group's count; HELP: the node's
        forward_first(session, spec, argv, t0)
    else:
        session.answer(spec, error_line(
            f"ERR unknown subcommand '{argv[1].decode(errors='replace')}'. Try PUBSUB HELP."), t0)
