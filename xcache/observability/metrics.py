"""Prometheus helpers shared by components.

Hot paths count with plain ints and this module's Histogram (no locks, mergeable across worker
processes); the admin endpoint turns merged snapshots into the Prometheus text format with
prometheus-client's metric families.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                   0.25, 0.5, 1.0, 2.5, 5.0)


class Histogram:
    """Cumulative-free bucket counts; merge() adds another snapshot (e.g. from another worker)."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...] = LATENCY_BUCKETS):
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def to_json(self) -> dict:
        return {"bounds": list(self.bounds), "counts": list(self.counts), "sum": self.sum}

    def merge(self, data: dict) -> None:
        for i, c in enumerate(data["counts"]):
            self.counts[i] += c
        self.sum += data["sum"]

    def family(self, name: str, doc: str) -> HistogramMetricFamily:
        buckets, acc = [], 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            acc += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), acc))
        return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=self.sum)


def counter(name: str, doc: str, labels: Iterable[str] = (), samples: dict | float = 0) -> CounterMetricFamily:
    """samples: a number (no labels) or {label value tuple (or single value): number}."""
    return _family(CounterMetricFamily, name, doc, labels, samples)


def gauge(name: str, doc: str, labels: Iterable[str] = (), samples: dict | float = 0) -> GaugeMetricFamily:
    return _family(GaugeMetricFamily, name, doc, labels, samples)


def _family(cls, name: str, doc: str, labels: Iterable[str], samples: dict | float):
    labels = list(labels)
    if not labels:
        return cls(name, doc, value=samples)
    fam = cls(name, doc, labels=labels)
    for key, value in samples.items():
        fam.add_metric(list(key) if isinstance(key, tuple) else [str(key)], value)
    return fam


class _Static:
    def __init__(self, families):
        self.families = families

    def collect(self):
        return iter(self.families)


def render(families: list) -> bytes:
    """Prometheus text exposition of metric families built for this scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Static(families))
    return generate_latest(registry)
