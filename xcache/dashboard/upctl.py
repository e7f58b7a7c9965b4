"""`xcache up`'s side of the control channel (uprequests.py): grow and shrink with supervised nodes.

- add_group {"replicas": n}: start 1 + n storage nodes on the next free server ports (supervised
  like the others, the replicas already following the new master), record them in up.json, then
  through the dashboard's API create the group, add the servers and rebalance (slots migrate
  online).
- remove_group {"group": id}: migrate the group's slots to the other groups (each receives
  about the same number; clients keep working), then remove its servers and the group from the
  topology, stop its nodes and forget them in up.json. Their data directories stay.
- restart_child {"child": name}: start a child a crash loop left down again.

Pure: new_server_ports(), drain_plan(), drained(). Shell: Control - requests are taken in `up`'s main
thread (children are spawned only there: their death signal follows the thread that forked),
the waiting and the API calls run in a thread, which hands the nodes to stop back to the main
thread.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx


def new_server_ports(used: set[int], count: int, first: int, last: int,
                     taken: Callable[[int], bool]) -> list[int]:
    """count ports from first..last that no server of the layout uses and nothing else holds."""
    out = []
    for port in range(first, last + 1):
        if len(out) == count:
            break
        if port not in used and not taken(port):
            out.append(port)
    if len(out) < count:
        raise RuntimeError(f"no {count} free server ports in {first}-{last}")
    return out


def drain_plan(slots: list[int], gid: int, groups: list[int]) -> dict[int, list[int]]:
    """target group -> the slots of gid it receives: each slot to the group owning the fewest
    slots so far, so the remaining groups end up even."""
    others = [g for g in sorted(groups) if g != gid]
    if not others:
        raise ValueError(f"group {gid} is the only group: its slots have nowhere to go")
    count = {g: sum(1 for s in slots if s == g) for g in others}
    out: dict[int, list[int]] = {g: [] for g in others}
    for s, owner in enumerate(slots):
        if owner == gid:
            target = min(others, key=lambda g: (count[g], g))
            out[target].append(s)
            count[target] += 1
    return {g: v for g, v in out.items() if v}


def drained(topo: dict, gid: int) -> bool:
    """The stored topology shows group gid owning no slot and taking part in no migration
    (a moving slot is owned by its target already; `migrating` names its source)."""
    mig = topo.get("migration") or {}
    busy = {int(v) for v in (mig.get("pending") or {}).values()} | \
           {int(v) for v in (mig.get("migrating") or {}).values()}
    return gid not in topo["slots"] and gid not in busy


def slot_spec(slots: list[int]) -> str:
    parts, i = [], 0
    while i < len(slots):
        j = i
        while j + 1 < len(slots) and slots[j + 1] == slots[j] + 1:
            j += 1
        parts.append(f"{slots[i]}-{slots[j]}" if j > i else str(slots[i]))
        i = j + 1
    return ",".join(parts)


class Control:
    def __init__(self, cluster, layout: dict, layout_path: Path, api: Callable[[], httpx.Client],
                 port_range: tuple[int, int], taken: Callable[[int], bool], say):
        self.cluster, self.layout, self.layout_path = cluster, layout, layout_path
        self.api, self.port_range, self.taken, self.say = api, port_range, taken, say
        self.results: dict[str, dict] = {}
        self.lock = threading.Lock()  # results
        self.layout_lock = threading.Lock()  # up.json: changed by the main thread and the workers
        self.to_main: queue.SimpleQueue = queue.SimpleQueue()  # ("stop", gid, addrs)

    # --- the report and its reply (main thread) ------------------------------------------------
    def report(self, client: httpx.Client) -> None:
        with self.lock:
            sent = dict(self.results)
        try:
            r = client.put("/api/supervisor", json={**self.cluster.supervisor.report(), "results": sent},
                           timeout=1)
        except httpx.HTTPError:
            return
        if r.status_code != 200:
            return
        with self.lock:
            for k in sent:
                self.results.pop(k, None)
        for req in r.json().get("requests", []):
            self.handle(req)

    def tick(self) -> None:
        while True:
            try:
                kind, gid, addrs = self.to_main.get_nowait()
            except queue.Empty:
                return
            if kind == "stop":
                self._stop_nodes(gid, addrs)

    def _done(self, rid: int, **result) -> None:
        with self.lock:
            self.results[str(rid)] = result
        self.say(f"xcache up: request {rid} " + " ".join(f"{k}={v}" for k, v in result.items()))

    def handle(self, req: dict) -> None:
        rid, op, params = req["id"], req["op"], req.get("params") or {}
        try:
            if op == "add_group":
                self._add_group(rid, int(params.get("replicas", 1)))
            elif op == "remove_group":
                gid = int(params["group"])
                threading.Thread(target=self._remove_group, args=(rid, gid), daemon=True).start()
            elif op == "restart_child":
                ok = self.cluster.supervisor.restart(str(params.get("child")))
                self._done(rid, ok=ok, **({} if ok else {"error": "no such child left down"}))
            else:
                self._done(rid, ok=False, error=f"unknown op {op}")
        except (KeyError, ValueError, RuntimeError, OSError) as exc:
            self._done(rid, ok=False, error=str(exc))

    # --- add a group ---------------------------------------------------------------------------
    def _add_group(self, rid: int, replicas: int) -> None:
        if not 0 <= replicas <= 8:
            raise ValueError("replicas must be between 0 and 8")
        used = {int(a.rsplit(":", 1)[1]) for g in self.layout["groups"] for a in g["servers"]}
        ports = new_server_ports(used, 1 + replicas, *self.port_range, self.taken)
        addrs = [f"127.0.0.1:{p}" for p in ports]
        children = [self.cluster.server_child(p, addrs[0] if i else "") for i, p in enumerate(ports)]
        for c in children:
            self.cluster.children.append(c)
            c.start()
            self.cluster.supervisor.started(c)
        with self.layout_lock:  # id set once the dashboard gave one
            self.layout["groups"].append({"id": 0, "servers": addrs})
        self._save_layout()
        threading.Thread(target=self._register_group, args=(rid, addrs), daemon=True).start()

    def _register_group(self, rid: int, addrs: list[str]) -> None:
        try:
            deadline = time.monotonic() + self.cluster.cfg.start_timeout_ms / 1000
            for a in addrs:
                while not _listening(int(a.rsplit(":", 1)[1])):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{a} did not start listening")
                    time.sleep(0.05)
            with self.api() as api:
                gid = _call(api, "POST", "/api/groups", {})["group"]
                with self.layout_lock:
                    for g in self.layout["groups"]:
                        if g["servers"] == addrs:
                            g["id"] = gid
                self._save_layout()
                for a in addrs:
                    _call(api, "POST", f"/api/groups/{gid}/servers", {"addr": a})
                reb = _call(api, "POST", "/api/slots/rebalance")
            self._done(rid, ok=True, group=gid, servers=addrs, slots_to_migrate=reb["slots_to_migrate"])
        except (RuntimeError, httpx.HTTPError) as exc:
            self._done(rid, ok=False, error=str(exc), servers=addrs)

    # --- remove a group ------------------------------------------------------------------------
    def _remove_group(self, rid: int, gid: int) -> None:
        try:
            with self.api() as api:
                topo = _call(api, "GET", "/api/topology")["topology"]
                group = topo["groups"].get(str(gid))
                if group is None:
                    raise RuntimeError(f"no group {gid}")
                groups = [int(k) for k, g in topo["groups"].items() if g.get("master")]
                plan = drain_plan(topo["slots"], gid, groups)
                for target, slots in plan.items():
                    _call(api, "POST", "/api/slots/migrate",
                          {"from": gid, "to": target, "slots": slot_spec(slots)})
                while True:  # the migration moves the keys; wait until the group owns nothing
                    t = _call(api, "GET", "/api/topology")["topology"]
                    if drained(t, gid):
                        break
                    if self.cluster.stopping.is_set():
                        raise RuntimeError("xcache up is stopping")
                    time.sleep(0.2)
                servers = sorted(group["servers"], key=lambda a: a == t["groups"][str(gid)]["master"])
                for a in servers:  # replicas first, the master last
                    _call(api, "DELETE", f"/api/groups/{gid}/servers/{a}")
                _call(api, "DELETE", f"/api/groups/{gid}")
            self.to_main.put(("stop", gid, servers))
            self._done(rid, ok=True, group=gid, slots_moved=sum(len(v) for v in plan.values()),
                       stopped=servers)
        except (RuntimeError, ValueError, httpx.HTTPError) as exc:
            self._done(rid, ok=False, error=str(exc))

    def _stop_nodes(self, gid: int, addrs: list[str]) -> None:
        ports = {int(a.rsplit(":", 1)[1]) for a in addrs}
        for c in [c for c in self.cluster.children if c.name.startswith("server-") and c.port in ports]:
            self.cluster.supervisor.remove(c)
            if c.alive():
                c.popen.terminate()
                try:
                    c.popen.wait(10)
                except Exception:
                    c.popen.kill()
                    c.popen.wait(5)
        with self.layout_lock:
            self.layout["groups"] = [g for g in self.layout["groups"]
                                     if not set(g["servers"]) & set(addrs)]
        self._save_layout()

    def _save_layout(self) -> None:
        with self.layout_lock:
            text = json.dumps(self.layout, indent=1).encode()
            tmp = self.layout_path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.write(fd, text)
            os.close(fd)
            os.replace(tmp, self.layout_path)


def _call(api: httpx.Client, method: str, path: str, body: dict | None = None) -> dict:
    r = api.request(method, path, json=body)
    if r.status_code >= 400:
        raise RuntimeError(f"dashboard {method} {path}: {r.status_code} {r.text.strip()}")
    return r.json()


def _listening(port: int) -> bool:
    import socket
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
