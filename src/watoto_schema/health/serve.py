"""``health serve``: a Prometheus scrape endpoint (prometheus-client's exposition, served
by the dashboard's HTTP server beside the pages).

Each scrape collects afresh, under the deadline. Scrapes never pile up: one collection
runs at a time, and a scrape that waited for it is answered with that fresh result instead
of starting another. A database that cannot be reached gives ``watoto_up 0``, not an error
page, so the alert says what is wrong.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from .exposition import ReportCollector
from .report import HealthReport


class ScrapeCollector:
    """Collects on scrape; concurrent scrapes share one collection."""

    def __init__(self, produce: Callable[[], HealthReport], reuse_within: float = 1.0) -> None:
        self._produce = produce
        self._lock = threading.Lock()
        self._last: HealthReport | None = None
        self._finished = 0.0
        self._reuse_within = reuse_within
        self.collections = 0  # how many times the database was asked (for tests)

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        asked = time.monotonic()
        with self._lock:
            fresh = self._last is not None and self._finished >= asked - self._reuse_within
            error = None
            if not fresh:
                try:
                    self._last = self._produce()
                    self.collections += 1
                except Exception as exc:  # unreachable, login refused: report it as down
                    self._last, error = None, exc
                self._finished = time.monotonic()
            report = self._last
        yield GaugeMetricFamily("watoto_up", "1 if the database answered the checks",
                                value=0 if report is None else 1)
        if report is not None:
            yield from ReportCollector(report).collect()
        elif error is not None:
            yield GaugeMetricFamily("watoto_collect_errors", "Failed collections", value=1)


def exposition(produce: Callable[[], HealthReport]) -> tuple[Callable[[], bytes],
                                                             ScrapeCollector]:
    """What the dashboard server's ``/metrics`` answers: the text exposition of a fresh
    collection (concurrent scrapes share one), and the collector."""
    from prometheus_client import CollectorRegistry, generate_latest

    metrics = CollectorRegistry(auto_describe=False)
    collector = ScrapeCollector(produce)
    metrics.register(collector)
    return (lambda: generate_latest(metrics)), collector
