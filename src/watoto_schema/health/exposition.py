"""The report for machines: Prometheus text exposition (prometheus-client) and Nagios."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import checks as c
from .report import HealthReport

# Nagios plugin exit codes (their convention, used only behind --nagios).
NAGIOS_EXIT = {c.OK: 0, c.WARNING: 1, c.CRITICAL: 2, c.UNKNOWN: 3}
STATUS_VALUE = {c.OK: 0, c.WARNING: 1, c.CRITICAL: 2, c.UNKNOWN: 3}


class ReportCollector:
    """A prometheus-client collector over one report (or a function producing one)."""

    def __init__(self, report: HealthReport | Any) -> None:
        self._report = report

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        report = self._report() if callable(self._report) else self._report
        status = GaugeMetricFamily("watoto_check_status",
                                   "Check status: 0 ok, 1 warning, 2 critical, 3 unknown",
                                   labels=["check"])
        for check in report.checks:
            status.add_metric([check.name], STATUS_VALUE[check.status])
        yield status
        families: dict[str, GaugeMetricFamily] = {}
        labels: dict[str, list[str]] = {}
        for check in report.checks:
            for m in check.metrics:
                name = f"watoto_{m.name}"
                if name not in families:
                    labels[name] = sorted(m.labels)
                    families[name] = GaugeMetricFamily(name, m.help or m.name,
                                                       labels=labels[name])
                if sorted(m.labels) == labels[name]:
                    families[name].add_metric([str(m.labels[k]) for k in labels[name]],
                                              float(m.value))
        yield from families.values()
        yield GaugeMetricFamily("watoto_health_collect_seconds",
                                "How long collecting the checks took", value=report.seconds)


def prometheus_text(report: HealthReport) -> str:
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(ReportCollector(report))
    return generate_latest(registry).decode()


def write_textfile(report: HealthReport, path: Path) -> None:
    """Write the exposition for node_exporter's textfile collector, atomically."""
    from prometheus_client import CollectorRegistry, write_to_textfile

    registry = CollectorRegistry(auto_describe=False)
    registry.register(ReportCollector(report))
    write_to_textfile(str(path), registry)  # a temporary file, then rename


def _perf_label(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def nagios_line(report: HealthReport) -> tuple[str, int]:
    """One line with perfdata, and the Nagios exit code of the worst status."""
    # A skipped check (no extension, no privilege) does not make the whole result UNKNOWN;
    # only a report where nothing could be checked is.
    worst = report.status
    if report.checks and len(report.skipped) == len(report.checks):
        worst = c.UNKNOWN
    bad = [ch for ch in report.checks if ch.status in (c.WARNING, c.CRITICAL)]
    ran = len(report.checks) - len(report.skipped)
    summary = "; ".join(f"{ch.name} {ch.status}: {ch.value}" for ch in bad) or \
        f"{ran} checks ok" + (f", {len(report.skipped)} skipped" if report.skipped else "")
    if worst == c.UNKNOWN:
        summary = "; ".join(f"{ch.name}: {ch.value}" for ch in report.skipped)
    perf = []
    for check in report.checks:
        for m in check.metrics:
            if not m.labels:
                perf.append(f"{_perf_label(m.name)}={m.value:g}")
    line = f"WATOTO {worst.upper()} - {summary}"
    return (line + (" | " + " ".join(perf) if perf else "")).replace("\n", " "), \
        NAGIOS_EXIT[worst]
