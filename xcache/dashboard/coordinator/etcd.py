"""etcd v3 coordinator through the JSON gRPC gateway (`/v3/kv/...`, `/v3/lease/...`), with httpx.

Keys under a prefix (default `xcache/xcache`):

    <prefix>/topology          {"topology": {...}}; its mod_revision is the revision
    <prefix>/owner             the owning dashboard, attached to a lease kept alive by keepalive()
    <prefix>/proxies/<addr>    proxy registrations, each with its own lease (ttl_s)

save() is one transaction: "topology's mod_revision is still the one I loaded AND the owner key
is still attached to my lease" -> put. A dashboard that lost its lease (paused, partitioned) can
therefore never overwrite the topology of its successor.

The gateway speaks JSON with base64 keys/values, int64 as strings, and omits false/zero fields.
"""

from __future__ import annotations

import base64
import json
import time

import httpx

from xcache.dashboard.coordinator import Conflict, Coordinator, CoordinatorError

OWNER_TTL_S = 10


def _b64(s: str | bytes) -> str:
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def _unb64(s: str) -> bytes:
    return base64.b64decode(s or "")


def _prefix_end(key: str) -> str:
    b = bytearray(key.encode())
    b[-1] += 1
    return _b64(bytes(b))


class EtcdCoordinator(Coordinator):
    def __init__(self, endpoint: str, prefix: str, owner_ttl_s: int = OWNER_TTL_S):
        # several members "http://a:2379,http://b:2379": a call that cannot reach the current one
        # moves on to the next (connect errors are retried at once: nothing was sent)
        self.endpoints = [e.strip().rstrip("/") for e in endpoint.split(",") if e.strip()]
        self.endpoint = self.endpoints[0]
        self.prefix = prefix.strip("/")
        members = ",".join(e.split("://", 1)[1] for e in self.endpoints)
        self.url = f"etcd://{members}/{self.prefix}"
        self.owner_ttl_s = owner_ttl_s
        self.lease: str | None = None
        self.lease_ok_at: float | None = None  # monotonic send time of the last renewal that succeeded
        self._proxy_leases: dict[str, str] = {}
        self._http: httpx.AsyncClient | None = None

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}"

    async def _call(self, path: str, body: dict) -> dict:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=httpx.Timeout(5.0, connect=1.0))
        for attempt in range(len(self.endpoints)):
            try:
                r = await self._http.post(f"{self.endpoint}{path}", json=body)
                break
            except httpx.HTTPError as exc:
                failed = self.endpoint
                i = self.endpoints.index(failed)
                self.endpoint = self.endpoints[(i + 1) % len(self.endpoints)]
                if not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout) or attempt == len(self.endpoints) - 1:
                    raise CoordinatorError(f"etcd {failed}{path}: {exc!r}") from None
        try:
            data = r.json()
        except ValueError:
            data = {"error": r.text}
        if r.status_code != 200:
            raise CoordinatorError(f"etcd {self.endpoint}{path}: HTTP {r.status_code} {data.get('error') or data}")
        if "error" in data and "result" not in data:
            raise CoordinatorError(f"etcd {self.endpoint}{path}: {data['error']}")
        return data

    async def _get(self, key: str) -> dict | None:
        data = await self._call("/v3/kv/range", {"key": _b64(key)})
        kvs = data.get("kvs") or []
        return kvs[0] if kvs else None

    async def _grant(self, ttl_s: int) -> str:
        data = await self._call("/v3/lease/grant", {"TTL": str(ttl_s)})
        return str(data["ID"])

    async def _keepalive(self, lease: str) -> bool:
        data = await self._call("/v3/lease/keepalive", {"ID": lease})
        return int((data.get("result") or {}).get("TTL", 0)) > 0

    async def _revoke(self, lease: str) -> None:
        try:
            await self._call("/v3/lease/revoke", {"ID": lease})
        except CoordinatorError:
            await self._call("/v3/kv/lease/revoke", {"ID": lease})

    # --- ownership ----------------------------------------------------------------------------
    async def open(self, owner: dict) -> None:
        sent = time.monotonic()
        lease = await self._grant(self.owner_ttl_s)
        key = _b64(self._key("owner"))
        data = await self._call("/v3/kv/txn", {
            "compare": [{"key": key, "target": "CREATE", "result": "EQUAL", "create_revision": "0"}],
            "success": [{"request_put": {"key": key, "value": _b64(json.dumps(owner, sort_keys=True)),
                                         "lease": lease}}],
            "failure": [{"request_range": {"key": key}}],
        })
        if not data.get("succeeded"):
            await self._revoke(lease)
            kvs = ((data.get("responses") or [{}])[0].get("response_range") or {}).get("kvs") or []
            who = _unb64(kvs[0]["value"]).decode(errors="replace") if kvs else "unknown"
            raise CoordinatorError(f"coordinator {self.url} is owned by another dashboard ({who}); stop it "
                                   f"first (its lease expires {self.owner_ttl_s}s after it dies)")
        self.lease = lease
        self.lease_ok_at = sent

    async def close(self) -> None:
        leases = [self.lease, *self._proxy_leases.values()]
        self.lease = None
        self._proxy_leases.clear()
        for lease in leases:
            if lease:
                try:
                    await self._revoke(lease)
                except CoordinatorError:
                    pass
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def keepalive(self) -> None:
        sent = time.monotonic()
        if self.lease is None or not await self._keepalive(self.lease):
            self.lease = None
            raise CoordinatorError(f"coordinator {self.url}: ownership lease lost")
        self.lease_ok_at = sent  # the lease lasts owner_ttl_s from a moment after this

    # --- topology -----------------------------------------------------------------------------
    async def load(self) -> tuple[dict | None, int]:
        kv = await self._get(self._key("topology"))
        if kv is None:
            return None, 0
        try:
            return json.loads(_unb64(kv["value"]))["topology"], int(kv["mod_revision"])
        except (ValueError, KeyError):
            raise CoordinatorError(f"{self.url}: corrupt topology key") from None

    async def save(self, doc: dict, expected_revision: int) -> int:
        if self.lease is None:
            raise CoordinatorError(f"coordinator {self.url}: not owned (call open first)")
        key = _b64(self._key("topology"))
        data = await self._call("/v3/kv/txn", {
            "compare": [
                {"key": key, "target": "MOD", "result": "EQUAL", "mod_revision": str(expected_revision)},
                {"key": _b64(self._key("owner")), "target": "LEASE", "result": "EQUAL", "lease": self.lease},
            ],
            "success": [{"request_put": {"key": key, "value": _b64(json.dumps({"topology": doc}))}}],
        })
        if data.get("succeeded"):
            return int(data["header"]["revision"])
        _, current = await self.load()
        if current != expected_revision:
            raise Conflict(f"topology changed meanwhile (revision {current}, expected {expected_revision})")
        raise CoordinatorError(f"coordinator {self.url}: ownership lost (owner key is not on our lease)")

    # --- proxy registrations ------------------------------------------------------------------
    async def register_proxy(self, addr: str, info: dict, ttl_s: int) -> None:
        lease = self._proxy_leases.get(addr)
        if lease is None or not await self._keepalive(lease):
            lease = await self._grant(ttl_s)
            self._proxy_leases[addr] = lease
        await self._call("/v3/kv/put", {"key": _b64(self._key(f"proxies/{addr}")),
                                        "value": _b64(json.dumps(info)), "lease": lease})

    async def unregister_proxy(self, addr: str) -> None:
        await self._call("/v3/kv/deleterange", {"key": _b64(self._key(f"proxies/{addr}"))})
        lease = self._proxy_leases.pop(addr, None)
        if lease:
            await self._revoke(lease)

    async def registered_proxies(self) -> dict[str, dict]:
        base = self._key("proxies/")
        data = await self._call("/v3/kv/range", {"key": _b64(base), "range_end": _prefix_end(base)})
        out = {}
        for kv in data.get("kvs") or []:
            addr = _unb64(kv["key"]).decode()[len(base):]
            try:
                out[addr] = json.loads(_unb64(kv.get("value", "")))
            except ValueError:
                out[addr] = {}
        return out
