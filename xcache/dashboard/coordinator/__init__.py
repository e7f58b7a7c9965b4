"""Where the topology lives: a coordinator owned by exactly one dashboard.

    file:///path/to/dir      a directory on the dashboard's machine (the embedded default)
    etcd://host:port[,host:port...][/prefix]  etcd v3, through its JSON gRPC gateway (multi-machine
                             clusters; several members: a call moves on when one is unreachable)

Both implement the same small async interface, tested by the same suite
(tests/dashboard/test_coordinator.py):

- `open()` takes ownership (a lock file / a lease-backed key); a second dashboard gets
  CoordinatorError naming the owner. `close()` gives it up. `keepalive()` is called
  periodically and raises CoordinatorError if ownership was lost.
- `load() -> (document | None, revision)` and `save(document, expected_revision) -> revision`:
  compare-and-swap; a stale revision raises Conflict.
- `register_proxy(addr, info, ttl_s)`, `unregister_proxy(addr)`, `registered_proxies()`:
  registrations that expire unless refreshed within ttl_s (etcd leases; expiry times on files).
"""

from __future__ import annotations

from urllib.parse import urlparse


class CoordinatorError(RuntimeError):
    """The coordinator cannot be used (owned by another dashboard, unreachable, corrupt)."""


class Conflict(CoordinatorError):
    """save() with a stale revision: someone else changed the topology meanwhile."""


class Coordinator:
    url: str = ""

    async def open(self, owner: dict) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def keepalive(self) -> None:
        raise NotImplementedError

    async def load(self) -> tuple[dict | None, int]:
        raise NotImplementedError

    async def save(self, doc: dict, expected_revision: int) -> int:
        raise NotImplementedError

    async def register_proxy(self, addr: str, info: dict, ttl_s: int) -> None:
        raise NotImplementedError

    async def unregister_proxy(self, addr: str) -> None:
        raise NotImplementedError

    async def registered_proxies(self) -> dict[str, dict]:
        raise NotImplementedError


def open_coordinator(url: str, product: str = "xcache") -> Coordinator:
    """Build (not yet open) the coordinator named by url."""
    u = urlparse(url)
    if u.scheme == "file":
        from xcache.dashboard.coordinator.file import FileCoordinator

        path = (u.netloc + u.path) if u.netloc not in ("", "localhost") else u.path
        if not path:
            raise CoordinatorError(f"coordinator {url!r}: expected file:///absolute/dir")
        return FileCoordinator(path)
    if u.scheme == "etcd":
        from xcache.dashboard.coordinator.etcd import EtcdCoordinator

        members = u.netloc.split(",")  # etcd://h1:2379,h2:2379,h3:2379/prefix: several members
        if not all(m.rpartition(":")[0] and m.rpartition(":")[2].isdigit() for m in members):
            raise CoordinatorError(f"coordinator {url!r}: expected etcd://host:port[,host:port...][/prefix]")
        prefix = u.path.strip("/") or f"xcache/{product}"
        return EtcdCoordinator(",".join(f"http://{m}" for m in members), prefix)
    raise CoordinatorError(f"coordinator {url!r}: use file:///dir or etcd://host:port")
