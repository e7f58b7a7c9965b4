"""MONITOR through the proxy: every group's command stream, relayed.

A session that sends MONITOR gets a connection of its own to each group's master (Pinned, with a
sink) on which the proxy sends MONITOR; it answers +OK once every node has (so a command sent
after the client saw +OK is in the stream), then passes each node's lines on as they come. The
client sees what the nodes run: every client's commands (with the address of the proxy's
connection that carried them), the commands scripts call (`[0 lua]`), a transaction as its node
ran it. Left out: the proxy's own PINGs to its connections (a client's PING is answered by the
proxy, so a PING in a node's stream is the proxy's), and the commands the proxy answers itself
(AUTH, PING, CLIENT, ...), which never reach a node. RESET or the session's end closes the
connections.
"""

from __future__ import annotations

from xcache.proxy.pending import Request
from xcache.proxy.pinned import Pinned

_PROXY_PING = b'] "PING"\r\n'


class _Start(Request):
    """MONITOR's +OK, once every node confirmed."""

    __slots__ = ("left",)

    def confirmed(self) -> None:
        self.left -= 1
        if self.left == 0:
            self.complete(b"+OK\r\n")


def start(session, spec, argv: list[bytes], t0: float) -> None:
    from xcache.proxy.keyspace import fanout_request

    if session.monitors is not None:
        session.answer(spec, b"+OK\r\n", t0)
        return
    started = fanout_request(session, spec, argv, t0, _Start)
    if started is None:
        return
    req, gs = started
    req.left = len(gs)
    session.monitors = {}
    session.monitor_start = req
    for g, _slot in gs:
        conn = Pinned(session, g, sink=lambda c, reply: _line(session, req, c, reply))
        session.monitors[conn] = False  # confirmed yet?
        conn.command([b"MONITOR"])


def _line(session, req: _Start, conn, reply: bytes) -> None:
    monitors = session.monitors
    if monitors is None or conn not in monitors:
        return
    if not monitors[conn]:  # the node's +OK (or its refusal)
        monitors[conn] = True
        if reply.startswith(b"-"):
            session.push(reply)
        req.confirmed()
        return
    if reply.endswith(_PROXY_PING):
        return
    session.push(reply)


def lost(session, conn) -> None:
    """A group's connection ended (its master moved, the group left): its stream stops."""
    confirmed = session.monitors.pop(conn)
    if not confirmed and session.monitor_start is not None:
        session.monitor_start.confirmed()


def release(session) -> None:
    """Close the session's MONITOR connections (RESET, or the session ended)."""
    monitors, session.monitors = session.monitors, None
    for conn in monitors or ():
        conn.fail("client left")
