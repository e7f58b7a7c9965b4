"""What command modules need from the server, without importing it.

server.py imports every command module (they register their commands), so a command module that
imported server.py would close a circle. The small classes a handler returns (Suspend, Block) and
the shapes of the server and its clients live here; server.py implements them and re-exports the
classes. Dependencies point one way: server -> replication/migrate/lists -> interfaces (and
replication -> repl_link -> interfaces).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from xcache.resp import NULL_ARRAY, Error

if TYPE_CHECKING:
    from xcache.config import ServerConfig
    from xcache.store.engine import Engine

BUSY_STALL = Error("BUSY write stall, retry later")
READONLY = Error("READONLY You can't write against a read only replica.")


class Suspend:
    """Returned by execute() when the reply will come later: the client awaits `waiter`."""

    __slots__ = ("waiter",)

    def __init__(self, waiter: Awaitable):
        self.waiter = waiter


class Block:
    """Returned by a blocking command's handler when it has nothing to serve yet.

    retry() is called after a key is signalled; it returns the reply, or None to keep waiting.
    timeout_reply is sent when timeout_s (0 = forever) passes first.
    """

    __slots__ = ("keys", "timeout_s", "retry", "timeout_reply")

    def __init__(self, keys: list[bytes], timeout_s: float, retry: Callable, timeout_reply=NULL_ARRAY):
        self.keys = keys
        self.timeout_s = timeout_s
        self.retry = retry
        self.timeout_reply = timeout_reply


class Client(Protocol):
    """One client connection (server.Client), as the command modules use it."""

    server: Server
    db: int
    id: int
    kind: str
    authenticated: bool
    closing: bool
    addr: str
    laddr: str
    transport: Any

    @property
    def engine(self) -> Engine: ...

    def send(self, replies: list) -> None: ...


class Server(Protocol):
    """The storage node (server.Server), as replication and migration use it."""

    cfg: ServerConfig
    engine: Engine
    clients: dict[int, Client]
    next_client_id: int
    stats: dict
    run_id: str

    def new_client(self) -> Client: ...

    def execute(self, c: Client, argv: list[bytes]) -> Any: ...

    def forget_client(self, c: Client) -> None: ...

    def touch(self, db: int, key: bytes) -> None: ...

    def touch_all(self, db: int | None = None) -> None: ...


class Replication(Protocol):
    """The node's replication state (replication.Replication), as a replica's link to its master
    (repl_link.py) advances it."""

    server: Server
    cfg: ServerConfig
    replid: str
    offset: int
    link_state: str
    link_down_since: float | None
    last_io: float
    read_offset: int
    applied_db: int

    def feed(self, data: bytes) -> None: ...

    def follow_new_replid(self, replid: str) -> None: ...

    def synced_to(self, replid: str, offset: int) -> None: ...
