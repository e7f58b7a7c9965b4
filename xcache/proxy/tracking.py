"""CLIENT TRACKING through the proxy: server-assisted client-side caching for its sessions.

A node remembers which connection read which key, but the proxy's pooled connections are shared
by every session, so the proxy keeps that table itself (`Table`, one per worker): the keys each
session in default mode read, and the sessions in BCAST mode with their prefixes. It learns of
every change from the nodes: while any of its sessions tracks, the worker holds one RESP3
connection per group master in `CLIENT TRACKING ON BCAST` mode (a feed), on which the node
reports each key written, expired or evicted there, and a null key list on FLUSHALL/FLUSHDB.
CLIENT TRACKING ON is answered once every feed is in place, so no write after the reply goes
unreported.

Invalidations reach a session as Redis sends them (a `>2 invalidate [keys]` push in RESP3; with
REDIRECT, to the other session of this worker, as a push or, subscribed in RESP2, a message on
`__redis__:invalidate`) and are queued behind the replies already due (Session.push), so a
session's own write is answered before the invalidation it causes, as in Redis 7.

Where the proxy differs from one node, and why:
- NOLOOP: the node sees only the proxy's connections, so the proxy skips a key for the session
  that wrote it when the node reports it within NOLOOP_WINDOW_S of that write.
- Scripts: Redis tracks a script's keys only if it reads, which the proxy cannot see. So a
  RESP3 session's script, with nothing else of the session in flight, runs on a connection of
  the session's own with CLIENT TRACKING on, where the node decides and reports (run_script);
  otherwise (pipelined, in MULTI, RESP2) its declared keys are remembered by the proxy (an
  invalidation too many at worst, never one too few).
- A feed lost (failover, a node restart) may have missed changes: every tracking session gets
  a null ("everything") then, and again once the new feed is in place.
- Tracking sessions read from masters (read_from_replicas is for the others): the feed is on
  the master, and a lagging replica would hand out the value just invalidated.
- REDIRECT names a session of the same worker (ids are unique across workers, so another
  worker's id is "does not exist").
"""

from __future__ import annotations

from xcache import trackingopts
from xcache.proxy import commands as C
from xcache.proxy.backend import Group
from xcache.proxy.pending import Request
from xcache.proxy.pinned import Pinned
from xcache.proxy.protocol import Push, Raw, encode, items, text
from xcache.proxy.replies import error_line

OK = b"+OK\r\n"
CHANNEL = b"__redis__:invalidate"
NOLOOP_WINDOW_S = 0.5
SCRIPTS = frozenset({"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"})
LIMIT_BATCH = 1000  # keys invalidated per loop iteration while the table is over its limit


class SessionTracking(trackingopts.TrackingOptions):
    __slots__ = ("target", "wrote", "script_conns", "own_script")

    def __init__(self):
        super().__init__()
        self.target = None  # the session invalidations are redirected to
        self.wrote: dict[bytes, float] = {}  # NOLOOP: key -> until when a report of it is ours
        self.script_conns: dict = {}  # group id -> Pinned where the node tracks its scripts' reads
        self.own_script = False  # the script being routed goes on its script connection


class Table:
    """One worker's tracking: who caches what, and the feeds that say what changed."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.keys: dict[bytes, set] = {}  # key -> sessions that read it (default mode)
        self.sessions: set = set()  # every tracking session
        self.bcast: set = set()  # those in BCAST mode
        self.feeds: dict[int, Pinned] = {}  # group id -> feed
        self.ready: set = set()  # feeds whose node confirmed CLIENT TRACKING ON BCAST
        self.waiting: list = []  # CLIENT TRACKING ON requests waiting for the feeds
        self.gaps: set = set()  # groups whose feed was lost: a null once a new one is in place
        self.null_due = False
        self.limit_due = False

    # -- statistics (INFO) ----------------------------------------------------------------------
    def total_items(self) -> int:
        return sum(len(s) for s in self.keys.values())

    def total_prefixes(self) -> int:
        return len({p for s in self.bcast for p in s.tracking.prefixes})

    # -- reads and writes of tracking sessions --------------------------------------------------
    def seen(self, session, spec, argv: list[bytes]) -> None:
        """A command of a tracking session, before it is sent: remember the keys it reads,
        note those it writes (NOLOOP)."""
        t = session.tracking
        if spec.name == "CLIENT":
            return  # CLIENT CACHING applies to the command after it
        caching = t.caching
        if session.multi is None:  # the flag lasts one command, or a whole transaction
            t.caching = None
        t.own_script = False
        try:
            keys = C.command_keys(spec, argv)
        except (ValueError, IndexError):  # malformed: the node answers the error
            keys = []
        if not keys:
            return
        script = spec.name in SCRIPTS
        if script and session.resp3 and t.wants(caching) and session.multi is None \
                and not session.pending and not session.routed:
            t.own_script = True  # its node will track exactly what it reads (run_script)
        elif (spec.readonly or script) and t.wants(caching):
            table = self.keys
            for k in keys:
                s = table.get(k)
                if s is None:
                    table[k] = {session}
                else:
                    s.add(session)
            limit = self.ctx.cfg.tracking_table_max_keys
            if limit and len(table) > limit:
                self._schedule_limit()
        if t.noloop and (not spec.readonly or script):
            until = self.ctx.loop.time() + NOLOOP_WINDOW_S
            wrote = t.wrote
            for k in keys:
                wrote[k] = until
            if len(wrote) > 1024:
                now = self.ctx.loop.time()
                t.wrote = {k: u for k, u in wrote.items() if u > now}

    # -- what the feeds report ------------------------------------------------------------------
    def changed(self, keys: list[bytes]) -> None:
        now = self.ctx.loop.time()
        table = self.keys
        for k in keys:
            sessions = table.pop(k, None)
            if sessions:
                for s in sessions:
                    t = s.tracking
                    if t is not None and not t.bcast and not (t.noloop and _ours(t, k, now)):
                        send(s, [k])
        for s in list(self.bcast):
            t = s.tracking
            for prefix in t.prefixes:
                mine = [k for k in keys if k.startswith(prefix) and not (t.noloop and _ours(t, k, now))]
                if mine:
                    send(s, sorted(mine))

    def everything(self) -> None:
        """A flush, or a feed lost: every tracking session hears a null key list (once per loop
        iteration, however many groups flushed)."""
        self.keys.clear()
        if not self.null_due:
            self.null_due = True
            self.ctx.loop.call_soon(self._send_nulls)

    def _send_nulls(self) -> None:
        self.null_due = False
        for s in list(self.sessions):
            send(s, None)

    def _schedule_limit(self) -> None:
        if not self.limit_due:
            self.limit_due = True
            self.ctx.loop.call_soon(self.limit)

    def limit(self) -> None:
        """tracking-table-max-keys: forget keys, telling their sessions, until within it."""
        self.limit_due = False
        limit = self.ctx.cfg.tracking_table_max_keys
        table = self.keys
        for _ in range(LIMIT_BATCH):
            if not limit or len(table) <= limit:
                return
            k = next(iter(table))
            for s in table.pop(k):
                if s.tracking is not None and not s.tracking.bcast:
                    send(s, [k])
        if limit and len(table) > limit:
            self._schedule_limit()

    # -- sessions -------------------------------------------------------------------------------
    def off(self, session) -> None:
        """The session stops tracking (CLIENT TRACKING OFF, RESET, it closed). Its keys leave the
        table lazily, as in Redis: a report of them finds it off."""
        for conn in session.tracking.script_conns.values():
            conn.close()
        session.tracking = None
        self.sessions.discard(session)
        self.bcast.discard(session)

    # -- feeds ----------------------------------------------------------------------------------
    def ensure_feeds(self) -> list[Pinned]:
        """A feed on every group's current master; the ones not confirmed yet."""
        from xcache.proxy.pubsub import groups_of

        waiting = []
        for group in groups_of(self.ctx):
            feed = self.feeds.get(group.id)
            if feed is None or feed.closed or feed.addr != group.master:
                if feed is not None:  # the group failed over: what changed meanwhile is unknown
                    self._drop(feed)
                    self._gap(group.id)
                feed = self.feeds[group.id] = Pinned(_FeedOwner(self), group,
                                                     sink=self._received)
                feed.command([b"CLIENT", b"TRACKING", b"ON", b"BCAST"])
            if feed not in self.ready:
                waiting.append(feed)
        return waiting

    def close_idle_feeds(self) -> None:
        """No session tracks any more: the nodes need not report every change to this worker."""
        if not self.sessions and self.feeds:
            for feed in list(self.feeds.values()):
                self._drop(feed)
            self.feeds.clear()
            self.gaps.clear()

    def _drop(self, feed: Pinned) -> None:
        self.ready.discard(feed)
        feed.close()

    def _received(self, feed: Pinned, reply: bytes) -> None:
        head = reply[:1]
        if head == b">":
            parts = items(reply) or []
            if len(parts) == 2 and text(parts[0]) == b"invalidate":
                if parts[1][:1] in (b"_", b"$"):  # null: the node flushed
                    self.everything()
                else:
                    self.changed([text(k) for k in items(parts[1]) or []])
        elif head == b"+":
            self.ready.add(feed)
            if feed.group.id in self.gaps:
                self.gaps.discard(feed.group.id)
                self.everything()  # changes while no feed was there went unreported
            self._answer_waiting()
        elif head == b"-":  # e.g. -LOADING: a later CLIENT TRACKING ON tries a new feed
            why = reply[1:-2].decode(errors="replace")
            if self.feeds.get(feed.group.id) is feed:
                del self.feeds[feed.group.id]
            self._drop(feed)
            self._fail(feed, f"group {feed.group.id} cannot report changes: {why}")

    def feed_lost(self, feed: Pinned) -> None:
        if self.feeds.get(feed.group.id) is not feed:
            return
        self.ready.discard(feed)
        del self.feeds[feed.group.id]
        self._fail(feed, f"connection to group {feed.group.id} lost")
        if self.sessions:
            self._gap(feed.group.id)
            ctx = self.ctx
            ctx.loop.call_later(ctx.cfg.hold_retry_interval_ms / 1000, self._replace)

    def _gap(self, group_id: int) -> None:
        """Changes on this group may go unreported until a new feed is in place: every tracking
        session hears "everything" now, and again once it is (once per outage, not per
        reconnect attempt)."""
        if self.sessions and group_id not in self.gaps:
            self.gaps.add(group_id)
            self.everything()

    def _replace(self) -> None:
        if self.sessions:
            self.ensure_feeds()

    def _fail(self, feed: Pinned, why: str) -> None:
        """Sessions waiting for this feed get an error and do not track."""
        for req in [r for r in self.waiting if feed in r.feeds]:
            self.waiting.remove(req)
            if req.session.tracking is not None:
                self.off(req.session)
            req.complete(error_line(f"ERR xcache: cannot track keys: {why}"))

    def _answer_waiting(self) -> None:
        for req in [r for r in self.waiting if r.feeds <= self.ready]:
            self.waiting.remove(req)
            req.complete(OK)


def run_script(session, spec, argv: list[bytes], t0: float, group) -> bool:
    """A tracking session's script (default mode, RESP3, nothing else in flight): run it on a
    connection of the session's own with CLIENT TRACKING on, so the node remembers exactly the
    keys the script reads (Redis tracks a script's keys only if it reads) and reports their
    changes there. Otherwise its keys were remembered when it was seen (an invalidation too
    many at worst)."""
    t = session.tracking
    if t is None or not t.own_script or group.__class__ is not Group:
        return False
    t.own_script = False
    conn = t.script_conns.get(group.id)
    if conn is None or conn.closed or conn.addr != group.master:
        conn = t.script_conns[group.id] = Pinned(session, group)
        conn.on_push = lambda c, reply: _script_push(session, c, reply)
        conn.command_silent([b"CLIENT", b"TRACKING", b"ON", *([b"NOLOOP"] if t.noloop else [])])
    elif conn.noloop != t.noloop:
        conn.command_silent([b"CLIENT", b"TRACKING", b"ON", *([b"NOLOOP"] if t.noloop else [])])
    conn.noloop = t.noloop
    session.forward_pinned(conn, spec, argv, t0)
    return True


def _script_push(session, conn, reply: bytes) -> None:
    parts = items(reply) or []
    if len(parts) == 2 and text(parts[0]) == b"invalidate" and session.tracking is not None \
            and conn in session.tracking.script_conns.values():
        if parts[1][:1] in (b"_", b"$"):
            send(session, None)
        else:
            for k in items(parts[1]) or []:
                send(session, [text(k)])


def script_conn_lost(session, conn) -> bool:
    """A script connection failed (failover): the keys its node tracked for the session are
    forgotten there, so the session hears "everything"."""
    t = session.tracking
    if t is None or conn not in t.script_conns.values():
        return False
    t.script_conns = {g: c for g, c in t.script_conns.items() if c is not conn}
    send(session, None)
    return True


class _FeedOwner:
    """What a feed's Pinned reports to: the table, not a session."""

    resp3 = True

    def __init__(self, table: Table):
        self.table = table
        self.ctx = table.ctx

    def pinned_lost(self, conn) -> None:
        self.table.feed_lost(conn)


class _Waiting(Request):
    __slots__ = ("feeds",)


def _ours(t: SessionTracking, key: bytes, now: float) -> bool:
    """NOLOOP: is this report of key the session's own write?"""
    until = t.wrote.pop(key, None)
    return until is not None and until >= now


def send(session, keys: list[bytes] | None) -> None:
    """sendTrackingMessage: to the session, or to the one it redirects to."""
    t = session.tracking
    if t is None or session.closed:
        return
    if t.redirect and t.redirect != session.id:
        target = t.target
        if target is None or target.closed:
            t.broken = True
            if session.resp3:
                session.push(encode(Push([b"tracking-redir-broken", t.redirect]), True))
            return
        if target.resp3:
            target.push(encode(Push([b"invalidate", keys]), True))
        elif target.subs is not None and target.subs.total():
            target.push(encode(Push([b"message", CHANNEL, keys]), False))
        return
    if session.resp3:
        session.push(encode(Push([b"invalidate", keys]), True))


# -- CLIENT TRACKING / CACHING / GETREDIR / TRACKINGINFO --------------------------------------------
def client_command(session, spec, argv: list[bytes], t0: float) -> bytes | None:
    """The reply, or None when CLIENT TRACKING ON waits for the feeds."""
    sub = argv[1].upper()
    if sub == b"TRACKING":
        return _tracking(session, spec, argv, t0)
    t = session.tracking
    if sub == b"CACHING":
        try:
            trackingopts.set_caching(t, argv[2])
        except ValueError as exc:
            return error_line(str(exc))
        return OK
    if sub == b"GETREDIR":
        return b":%d\r\n" % (-1 if t is None else t.redirect)
    # TRACKINGINFO; its flags a set in Redis's order
    r3 = session.resp3
    flags = [b"off"] if t is None else t.info_flags()
    flag_set = Raw((b"~%d\r\n" if r3 else b"*%d\r\n") % len(flags) + encode(flags, r3).split(b"\r\n", 1)[1])
    info = {b"flags": flag_set, b"redirect": -1 if t is None else t.redirect,
            b"prefixes": [] if t is None else sorted(t.prefixes)}
    return encode(info, r3)


def _tracking(session, spec, argv: list[bytes], t0: float) -> bytes | None:
    ctx = session.ctx
    sessions = {s.id: s for s in ctx.sessions}
    try:
        new = trackingopts.parse(argv[2:], session.tracking, sessions.__contains__, SessionTracking)
    except ValueError as exc:
        return error_line(str(exc))
    table = ctx.tracking
    if new is None:
        if session.tracking is not None:
            table.off(session)
        return OK
    old = session.tracking
    if old is not None:
        new.wrote = old.wrote
        new.script_conns = old.script_conns
    new.target = sessions.get(new.redirect) if new.redirect else None
    session.tracking = new
    table.sessions.add(session)
    if new.bcast:
        table.bcast.add(session)
    waiting = table.ensure_feeds()
    if not waiting:
        return OK
    session.drain_routed()
    req = _Waiting(session, spec, None, 0, t0, argv)
    req.feeds = set(waiting)
    table.waiting.append(req)
    session.pending.append(req)
    return None
