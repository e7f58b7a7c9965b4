"""Requests a worker makes of its supervisor, on a socketpair of their own (JSON lines, each
answered by its id): the supervisor's control channel (main.py) only carries its own requests.

The requests: an ACL change (acl.py) that every worker must apply before the client hears OK,
and the proxy's own CONFIG SET parameters (ownconfig.py). The supervisor applies each to its own
copy (the users; its config), sends it to every other worker, and answers once they
acknowledged; a worker started later gets the resulting users and config at launch.
"""

from __future__ import annotations

import asyncio
import json
import socket

from xcache.acl import apply_change
from xcache.proxy import ownconfig

TIMEOUT_S = 5.0  # a supervisor slower than this: the change stays applied here, the reply goes out


class Uplink:
    """The worker's end."""

    def __init__(self):
        self.writer: asyncio.StreamWriter | None = None
        self.waiting: dict[int, asyncio.Future] = {}
        self.seq = 0

    async def connect(self, sock: socket.socket) -> None:
        reader, self.writer = await asyncio.open_connection(sock=sock)
        asyncio.ensure_future(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while line := await reader.readline():
            fut = self.waiting.pop(json.loads(line).get("id"), None)
            if fut is not None and not fut.done():
                fut.set_result(True)
        self.writer = None  # the supervisor is gone: whoever waits is answered now
        for fut in self.waiting.values():
            if not fut.done():
                fut.set_result(False)
        self.waiting.clear()

    def tell(self, msg: dict) -> asyncio.Future:
        """Send msg; the future is True once the supervisor has carried it out, else False."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        if self.writer is None:
            fut.set_result(False)
            return fut
        self.seq += 1
        seq = self.seq
        self.waiting[seq] = fut
        self.writer.write(json.dumps({**msg, "id": seq}).encode() + b"\n")

        def late() -> None:
            if self.waiting.pop(seq, None) is not None and not fut.done():
                fut.set_result(False)

        loop.call_later(TIMEOUT_S, late)
        return fut


async def serve(sup, w, sock: socket.socket) -> None:
    """The supervisor's end, for worker w: carry out each request, then answer it."""
    reader, writer = await asyncio.open_connection(sock=sock)
    try:
        while line := await reader.readline():
            msg = json.loads(line)
            if msg.get("op") == "acl":
                cmd = msg["cmd"]
                apply_change(sup.acl, cmd)
                sup.acl_changed = True
                await _to_others(sup, w, {"op": "acl", "cmds": [cmd]})
            elif msg.get("op") == "config":
                ownconfig.apply(sup.cfg, msg["own"])
                await _to_others(sup, w, {"op": "config", "own": msg["own"]})
            writer.write(json.dumps({"id": msg.get("id")}).encode() + b"\n")
    except (ConnectionError, OSError, ValueError):
        pass  # the worker is gone (or spoke nonsense): spawn() gives its successor a new pair
    finally:
        writer.close()


async def _to_others(sup, w, msg: dict) -> None:
    others = [o for o in sup.active if o is not w and o.writer is not None]
    await asyncio.gather(*(o.call(msg) for o in others))


def replay(acl, configured: set[str]) -> list[list[str]]:
    """The changes that turn the config's users into acl's: for a worker started later."""
    cmds = [["deluser", name] for name in sorted(configured - acl.users.keys())]
    for name in sorted(acl.users):
        cmds.append(["setuser", name, "reset", *acl.describe(acl.users[name]).split()[2:]])
    return cmds
