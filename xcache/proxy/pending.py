"""The entries of a session's `pending` deque, answered in order whatever order the backends
answer in: a Request, a Batch of pipelined requests forwarded as the client's own bytes, a Done
(answered on the spot), and a Split multi-key command merged from its Parts."""

from __future__ import annotations

from xcache.proxy.replies import array_items, error_line, int_value

OK = b"+OK\r\n"


class Request:
    """One client request awaiting its reply."""

    __slots__ = ("session", "spec", "raw", "argv", "reply", "slot", "t0", "deadline", "resp3")
    batch = False
    internal = False

    def __init__(self, session, spec, raw, slot: int, t0: float, argv=None):
        self.session = session
        self.resp3 = session is not None and session.resp3
        self.spec = spec
        self.raw = raw  # encoded command; None while it was forwarded inside the client's own bytes
        self.argv = argv
        self.reply = None
        self.slot = slot
        self.t0 = t0
        self.deadline = 0.0

    def complete(self, reply: bytes) -> None:
        self.reply = reply
        self.session.request_done(self)


class Batch:
    """Several KEY requests a client pipelined in one chunk, forwarded as the client's own bytes to
    one backend connection. They are answered by as many consecutive replies, which go back to
    the client as one slice. If the backend fails part-way, the batch is split into the answered
    prefix and single Requests for the rest (explode), which then follow the normal rules."""

    __slots__ = ("session", "items", "n", "got", "parts", "errs", "reply", "t0", "resp3")
    batch = True
    spec = None
    internal = False

    def __init__(self, session, items: list, t0: float):
        self.session = session
        self.resp3 = session.resp3
        self.items = items  # (spec, argv, slot)
        self.n = len(items)
        self.got = 0
        self.parts: list[bytes] = []
        self.errs: list[int] = []
        self.reply = None
        self.t0 = t0

    def finish(self) -> None:
        parts = self.parts
        self.reply = parts[0] if len(parts) == 1 else b"".join(parts)
        self.session.request_done(self)

    def explode(self) -> list[Request]:
        """Keep the answered prefix; return Requests for the unanswered rest, queued in order
        behind this batch in the session."""
        i = self.got
        session = self.session
        rest = [Request(session, spec, None, slot, self.t0, argv) for spec, argv, slot in self.items[i:]]
        self.items = self.items[:i]
        self.n = i
        self.errs = [e for e in self.errs if e < i]
        self.reply = b"".join(self.parts)
        if not session.closed:
            try:
                idx = session.pending.index(self)
            except ValueError:
                return rest
            for j, r in enumerate(rest):
                session.pending.insert(idx + 1 + j, r)
            session.request_done(self)
        return rest


class Done:
    """A request answered on the spot (local command, refusal) queued behind earlier ones."""

    __slots__ = ("spec", "reply", "t0")
    batch = False

    def __init__(self, spec, reply: bytes, t0: float):
        self.spec = spec
        self.reply = reply
        self.t0 = t0


class Pushed(Done):
    """Out-of-band data (a pub/sub message) queued behind earlier replies: never silenced."""

    __slots__ = ()


class ReplyMode(Done):
    """CLIENT REPLY ON|OFF|SKIP (or a RESET, which turns replies back on), queued in order: the
    replies released after it follow its mode (Session.release_filtered)."""

    __slots__ = ("mode",)

    def __init__(self, spec, mode: bytes, reply: bytes, t0: float):
        super().__init__(spec, reply, t0)
        self.mode = mode


class Part(Request):
    """One backend's share of a split multi-key command."""

    __slots__ = ("parent", "positions")

    def complete(self, reply: bytes) -> None:
        self.reply = reply
        self.parent.part_done()


class Split(Request):
    """MGET/MSET/DEL/UNLINK/EXISTS/TOUCH across several backend connections, merged in order."""

    __slots__ = ("parts", "left", "nkeys")

    def part_done(self) -> None:
        self.left -= 1
        if self.left:
            return
        self.complete(self.merge())

    def merge(self) -> bytes:
        for p in self.parts:
            if p.reply.startswith(b"-"):
                return p.reply
        name = self.spec.name
        if name == "MGET":
            out: list = [None] * self.nkeys
            for p in self.parts:
                items = array_items(p.reply)
                if items is None or len(items) != len(p.positions):
                    return error_line("ERR xcache: unexpected MGET reply from a backend")
                for i, item in zip(p.positions, items, strict=True):
                    out[i] = item
            return b"*%d\r\n%b" % (self.nkeys, b"".join(out))
        if name == "MSET":
            return OK
        total = 0
        for p in self.parts:
            v = int_value(p.reply)
            if v is None:
                return error_line(f"ERR xcache: unexpected {name} reply from a backend")
            total += v
        return b":%d\r\n" % total
