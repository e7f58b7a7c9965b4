"""Storage nodes as the dashboard sees them: addresses, INFO parsing, what a poll tells.

Pure: split_addr(), parse_info(), server_state() (one node's state from its INFO),
replica_lags() (bytes each replica is behind its master) and fence_actions() (what lifts the
fence of a restarted old master: xcache/store/fence.py). Shell: call() sends one command to a
node or a sentinel (a connection per call: the dashboard talks to nodes rarely), and poll()
gathers every node's INFO into the controller's server_state.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING

import redis.asyncio as aredis

if TYPE_CHECKING:
    from xcache.dashboard.controller import Controller
    from xcache.dashboard.topology import Topology


def split_addr(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    return host, int(port)


def parse_info(text) -> dict[str, str]:
    if isinstance(text, dict):  # redis-py already parsed it
        return {k: str(v) for k, v in text.items()}
    out = {}
    for line in str(text).splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


def following(info: dict[str, str]) -> str:
    """The master a replica's INFO replication names, as host:port."""
    return f"{info.get('master_host')}:{info.get('master_port')}"


def server_state(info: dict[str, str], expected_role: str, gid: int) -> dict:
    """What the UI, the alerts and the scaler need of one node's INFO."""
    st: dict = {"group": gid, "expected_role": expected_role, "up": True,
                "role": "master" if info.get("role") == "master" else "replica",
                "offset": int(info.get("master_repl_offset", 0) or 0),
                "write_stall_active": int(info.get("write_stall_active", 0) or 0),
                "write_stall_seconds": float(info.get("write_stall_seconds", 0) or 0),
                "disk_full": int(info.get("disk_write_status") == "err"),
                "disk_error_seconds": float(info.get("disk_error_seconds", 0) or 0),
                "fenced": info.get("fenced") == "1",
                "memory_bytes": int(info.get("used_memory", 0) or 0),
                "keys": sum(_keys(v) for k, v in info.items() if k.startswith("db") and k[2:].isdigit()),
                "commands_total": int(info.get("total_commands_processed", 0) or 0)}
    if info.get("role") == "slave":
        st.update(master=following(info), link=info.get("master_link_status"),
                  offset=int(info.get("slave_repl_offset", 0) or 0))
    return st


def _keys(db_line: str) -> int:
    """'keys=10,expires=0,avg_ttl=0' (or redis-py's parsed {'keys': 10, ...}) -> 10."""
    m = re.search(r"keys'?\s*[=:]\s*(\d+)", str(db_line))
    return int(m.group(1)) if m else 0


def replica_lags(topo: Topology, state: dict[str, dict]) -> dict[str, int]:
    """Bytes each reachable replica is behind its reachable master (master offset - its own)."""
    lags = {}
    for g in topo.groups.values():
        m = state.get(g.master, {})
        for s in g.replicas:
            st = state.get(s, {})
            if m.get("up") and st.get("up") and st.get("role") == "replica":
                lags[s] = max(0, m.get("offset", 0) - st.get("offset", 0))
    return lags


def fence_actions(topo: Topology, state: dict[str, dict],
                  confirmed: dict[int, str | None]) -> list[tuple[str, tuple]]:
    """(node, command) for every fenced node of the topology: REPLICAOF <master> when the
    topology names another master of its group (it rejoins as a replica); REPLICAOF NO ONE when
    it is the group's master and the sentinels confirm it (confirmed[gid]: the master a majority
    of them names, None when the group has no sentinels to ask)."""
    out = []
    for g in topo.groups.values():
        for s in g.servers:
            if not state.get(s, {}).get("fenced"):
                continue
            if s != g.master and g.master:
                out.append((s, ("REPLICAOF", *map(str, split_addr(g.master)))))
            elif s == g.master and confirmed.get(g.id, s) == s:
                out.append((s, ("REPLICAOF", "NO", "ONE")))
    return out


# --- shell -------------------------------------------------------------------------------------
async def call(addr: str, *args, password: str | None, timeout: float):
    host, port = split_addr(addr)
    r = aredis.Redis(host=host, port=port, protocol=2, password=password or None,
                     socket_timeout=timeout, socket_connect_timeout=timeout, decode_responses=True)
    try:
        return await r.execute_command(*args)
    finally:
        await r.aclose()


async def poll(ctl: Controller) -> None:
    """INFO of every node of the topology into ctl.server_state (forgetting removed nodes)."""
    topo = ctl.topo

    async def one(gid: int, addr: str, expected: str) -> None:
        try:
            info = parse_info(await ctl._redis(addr, "INFO"))  # replication, + storage on xcache
            st = server_state(info, expected, gid)
        except Exception as exc:
            st = {"group": gid, "expected_role": expected, "up": False, "role": "down",
                  "error": repr(exc)}
        ctl.server_state[addr] = st
    await asyncio.gather(*(one(g.id, s, "master" if s == g.master else "replica")
                           for g in list(topo.groups.values()) for s in g.servers))
    for addr, lag in replica_lags(ctl.topo, ctl.server_state).items():
        ctl.server_state[addr]["lag_bytes"] = lag
    known = {s for g in ctl.topo.groups.values() for s in g.servers}
    for s in list(ctl.server_state):
        if s not in known:
            del ctl.server_state[s]
