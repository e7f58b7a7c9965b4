"""Cross-client group commit: the chunks of all clients read in one event-loop iteration run as
one round, their writes go to RocksDB as one group (one WriteBatch, one WAL append) and their
replies are released, each client's in order, once it is written.

A client's read (data_received) only queues its commands; one callback per loop iteration
(Server.run_round, scheduled by the first read) runs the queued chunks one client after the
other with one Group open, then writes it and sends the held replies. The group is open only
inside that synchronous callback, so no other code (timers, tasks, the replica's link) ever
writes between its commands, as with a single client's chunk. Redis does the same: replies are
written in beforeSleep, after the iteration's AOF write. With a single connection there is
nobody to share with: its reads run at once (Client.data_received).
"""

from __future__ import annotations

from xcache.resp import Error
from xcache.store.engine import WriteStall


class Round:
    """The group and held replies of one loop iteration's clients (or of one resumed client)."""

    __slots__ = ("server", "shared", "group", "held")

    def __init__(self, server, shared: bool):
        self.server = server
        self.shared = shared  # several clients: group even their single commands
        self.group = None
        self.held: list = []  # (client, out, marks): replies released once the group is written

    def open(self, n_cmds: int):
        """The round's group for a client about to run n_cmds commands (None: write alone)."""
        if self.group is None and (self.shared or n_cmds > 1):
            self.group = self.server.open_group()
        return self.group

    def hold(self, client, out: list, marks: list) -> None:
        self.held.append((client, out, marks))
        client.held_out = out  # what is sent to it meanwhile (a PUBLISH) goes after its replies

    def commit(self, client=None, out=None, marks=None, queue=None, waiter=None,
               close: bool = False) -> bool:
        """Write the group, then send every held reply (client's out last). False: RocksDB
        stalled; all their replies stay held (Server.hold_round) and client's queue and waiter
        wait behind them. A disk refusing writes answers the group's writes with its error."""
        held, self.held = self.held, []
        if client is not None:
            held.append((client, out, marks))
        g, self.group = self.group, None
        if g is None:
            self._send(held, None)
            return True
        engine = g.engine
        if engine.group is g:
            engine.close_group()
        error = None
        if g.size:
            try:
                engine.write_group(g)
            except WriteStall:
                self.server.hold_round(g, held, client, queue, waiter, close)
                return False
            except Error as exc:  # the disk refuses writes (diskfull.py): nothing was applied
                error = exc
            else:
                self.server.group_written(g)
                if len(held) > 1 and any(c is not held[0][0] for c, _, _ in held):
                    self.server.shared_groups += 1
        elif g.after:  # propagated without a RocksDB write (PFCOUNT's cache): still replicated
            self.server.group_written(g)
        self._send(held, error)
        return True

    @staticmethod
    def _send(held: list, error: Error | None) -> None:
        for c, out, marks in held:
            c.held_out = None
            if error is not None:
                c.fail_writes(out, marks, error)
            if out:
                c.send(out)
