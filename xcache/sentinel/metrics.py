"""Prometheus metrics of a sentinel and a tiny asyncio HTTP server for /metrics and /health."""

from __future__ import annotations

import asyncio
import json

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from xcache.sentinel.node import SentinelNode, now_ms

STATES = ("ok", "stalled", "sdown", "odown", "failover")


class SentinelCollector:
    """Gauges read from the node's state at scrape time."""

    def __init__(self, node: SentinelNode):
        self.node = node

    def collect(self):
        node = self.node
        epoch = GaugeMetricFamily("xcache_sentinel_current_epoch", "current epoch of this sentinel")
        epoch.add_metric([], node.epochs.current)
        state = GaugeMetricFamily("xcache_sentinel_master_state",
                                  "1 for the current state of each master", labels=["master", "state"])
        cfg_epoch = GaugeMetricFamily("xcache_sentinel_master_config_epoch",
                                      "config epoch of each master", labels=["master"])
        replicas = GaugeMetricFamily("xcache_sentinel_master_replicas", "known replicas", labels=["master"])
        peers = GaugeMetricFamily("xcache_sentinel_master_sentinels",
                                  "other sentinels known for the master", labels=["master"])
        quorum = GaugeMetricFamily("xcache_sentinel_master_quorum",
                                   "configured quorum of each master (sentinels that must agree it is down)",
                                   labels=["master"])
        usable = GaugeMetricFamily("xcache_sentinel_master_sentinels_up",
                                   "sentinels usable for the master as this one sees them (itself included, "
                                   "like SENTINEL CKQUORUM)", labels=["master"])
        nodes = GaugeMetricFamily("xcache_sentinel_node_state",
                                  "per node: 1 when in the state (stalled, sdown)",
                                  labels=["master", "addr", "role", "state"])
        latency = GaugeMetricFamily("xcache_sentinel_probe_latency_seconds",
                                    "last PING round trip per node", labels=["master", "addr", "role"])
        unavailable = GaugeMetricFamily("xcache_sentinel_node_unavailable_seconds",
                                        "time a node has not answered PING", labels=["master", "addr", "role"])
        attempts = CounterMetricFamily("xcache_sentinel_failover_attempts",
                                     "failovers started by this sentinel", labels=["master"])
        done = CounterMetricFamily("xcache_sentinel_failovers_led",
                                 "failovers completed with this sentinel as leader", labels=["master"])
        switches = CounterMetricFamily("xcache_sentinel_master_switches",
                                     "master address changes seen by this sentinel", labels=["master"])
        now = now_ms()
        for m in list(node.masters.values()):
            current = m.status()
            for s in STATES:
                state.add_metric([m.name, s], 1 if s == current else 0)
            cfg_epoch.add_metric([m.name], m.config_epoch)
            replicas.add_metric([m.name], len(m.replicas))
            peers.add_metric([m.name], len(m.sentinels))
            quorum.add_metric([m.name], m.quorum)
            usable.add_metric([m.name], m.usable_sentinels())
            attempts.add_metric([m.name], m.failovers)
            done.add_metric([m.name], m.failovers_done)
            switches.add_metric([m.name], m.switches)
            for inst in (m, *m.replicas.values()):
                labels = [m.name, inst.addr, inst.kind]
                h = inst.health
                nodes.add_metric(labels + ["stalled"], int(h.stalled))
                nodes.add_metric(labels + ["sdown"], int(h.sdown))
                latency.add_metric(labels, h.probe_latency_ms / 1000.0)
                unavailable.add_metric(labels, h.unavailable_ms(now) / 1000.0)
        yield from (epoch, state, cfg_epoch, replicas, peers, quorum, usable, nodes, latency, unavailable, attempts,
                    done, switches)
        brake = getattr(node, "auth_brake", None)
        if brake is not None:
            yield CounterMetricFamily("xcache_sentinel_auth_failures", "failed AUTHs (wrong password)",
                                      value=brake.failures)
            yield CounterMetricFamily("xcache_sentinel_auth_brake_refused",
                                      "AUTHs refused unchecked by the failed-AUTH brake", value=brake.refused)


class Metrics:
    """Registry of one sentinel: state gauges plus a counter of published events."""

    def __init__(self, node: SentinelNode):
        self.registry = CollectorRegistry()
        self.registry.register(SentinelCollector(node))
        self.events = Counter("xcache_sentinel_events", "events published, by type",
                              ["event", "master"], registry=self.registry)
        node.listeners.append(lambda event, master, text: self.events.labels(event, master).inc())
        self.node = node

    def health(self) -> tuple[int, dict]:
        masters = {m.name: m.status() for m in self.node.masters.values()}
        return 200, {"status": "ok", "run_id": self.node.run_id,
                     "epoch": self.node.epochs.current, "masters": masters}

    async def serve(self, host: str, port: int) -> asyncio.Server:
        return await asyncio.start_server(self._handle, host, port, reuse_address=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            path = head.split(b" ", 2)[1].split(b"?")[0] if head.count(b" ") >= 2 else b"/"
            if path == b"/metrics":
                code, body, ctype = 200, generate_latest(self.registry), "text/plain; version=0.0.4"
            elif path == b"/health":
                code, doc = self.health()
                body, ctype = json.dumps(doc).encode(), "application/json"
            else:
                code, body, ctype = 404, b"not found\n", "text/plain"
            reason = {200: "OK", 404: "Not Found"}.get(code, "OK")
            writer.write(f"HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\n"
                         f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass
        finally:
            writer.close()
