"""File coordinator: a directory with the topology, a lock file and proxy registrations.

    <dir>/topology.json      {"revision": N, "topology": {...}}, replaced atomically
                             (write tmp, fsync, rename, fsync the directory)
    <dir>/dashboard.lock     flock()ed exclusively by the owning dashboard; holds its pid/address
    <dir>/proxies/<addr>.json registrations with an expiry time (wall clock)

The lock is released by the kernel when the owner dies, so a crashed dashboard never leaves a
stale lock behind.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path

from xcache.dashboard.coordinator import Conflict, Coordinator, CoordinatorError


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # topology: owner only
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


class FileCoordinator(Coordinator):
    def __init__(self, path: str):
        self.dir = Path(path)
        self.url = f"file://{self.dir.resolve()}"
        self._lock_fd: int | None = None

    @property
    def topology_path(self) -> Path:
        return self.dir / "topology.json"

    async def open(self, owner: dict) -> None:
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            (self.dir / "proxies").mkdir(exist_ok=True)
        except OSError as exc:
            raise CoordinatorError(f"coordinator {self.url}: {exc}") from None
        lock = self.dir / "dashboard.lock"
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                who = os.pread(fd, 4096, 0).decode(errors="replace").strip()
            finally:
                os.close(fd)
            raise CoordinatorError(f"coordinator {self.url} is owned by another dashboard ({who or 'unknown'}); "
                                   "stop it first (the lock is released when it exits)") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(owner, sort_keys=True).encode() + b"\n", 0)
        os.fsync(fd)
        self._lock_fd = fd

    async def close(self) -> None:
        if self._lock_fd is not None:
            os.ftruncate(self._lock_fd, 0)
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    async def keepalive(self) -> None:
        if self._lock_fd is None:
            raise CoordinatorError(f"coordinator {self.url}: not owned")

    def _read(self) -> tuple[dict | None, int]:
        try:
            raw = self.topology_path.read_bytes()
        except FileNotFoundError:
            return None, 0
        try:
            doc = json.loads(raw)
            return doc["topology"], int(doc["revision"])
        except (ValueError, KeyError, TypeError):
            raise CoordinatorError(f"{self.topology_path}: corrupt topology file") from None

    async def load(self) -> tuple[dict | None, int]:
        return self._read()

    async def save(self, doc: dict, expected_revision: int) -> int:
        if self._lock_fd is None:
            raise CoordinatorError(f"coordinator {self.url}: not owned (call open first)")
        _, current = self._read()
        if current != expected_revision:
            raise Conflict(f"topology changed meanwhile (revision {current}, expected {expected_revision})")
        revision = current + 1
        write_atomic(self.topology_path, json.dumps({"revision": revision, "topology": doc}, indent=1).encode())
        return revision

    def _proxy_path(self, addr: str) -> Path:
        return self.dir / "proxies" / (addr.replace("/", "_") + ".json")

    async def register_proxy(self, addr: str, info: dict, ttl_s: int) -> None:
        (self.dir / "proxies").mkdir(parents=True, exist_ok=True)
        doc = {"addr": addr, "info": info, "expires_at": time.time() + ttl_s}
        write_atomic(self._proxy_path(addr), json.dumps(doc).encode())

    async def unregister_proxy(self, addr: str) -> None:
        try:
            self._proxy_path(addr).unlink()
        except FileNotFoundError:
            pass

    async def registered_proxies(self) -> dict[str, dict]:
        out = {}
        now = time.time()
        for p in sorted((self.dir / "proxies").glob("*.json")):
            try:
                doc = json.loads(p.read_bytes())
            except (OSError, ValueError):
                continue
            if doc.get("expires_at", 0) > now:
                out[doc["addr"]] = doc.get("info") or {}
            else:
                p.unlink(missing_ok=True)
        return out
