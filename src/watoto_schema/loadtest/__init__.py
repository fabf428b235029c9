"""``watoto-schema loadtest``: the LMS's query mix against a database, through pgbench.

pgbench (the design's own tool) runs the scripts of ``sql/loadtest/`` (reads, writes and
reports the application makes), weighted, with parameters drawn from the data actually in
the database. Latency percentiles come from pgbench's per-transaction log (``--log``), not
from its averages, and are compared per class with the design's promise and with ours.

The scripts write rows (enrollments, progress, submissions): ``run`` refuses a database
that sample-data did not mark unless told otherwise.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import Refused
from ..target import Target, connect
from .pgbench import LoadtestError, PgbenchRun, connection_environment, find_pgbench
from .pgbench import run as run_pgbench
from .scripts import (
    BY_NAME,
    CLASSES,
    DESIGN_TARGET_MS,
    OUR_TARGET_MS,
    SCRIPTS,
    parameters,
    render,
    weights,
)

__all__ = ["LoadtestOptions", "LoadtestReport", "Stats", "run", "SCRIPTS", "CLASSES",
           "DESIGN_TARGET_MS", "OUR_TARGET_MS", "LoadtestError", "pgbench_command"]

TARGETS = ("ours", "design")


@dataclass
class LoadtestOptions:
    clients: int = 50
    jobs: int = 4
    duration: int = 60  # seconds
    rate: float | None = None  # transactions per second over all clients (pgbench -R)
    weights: dict[str, int] = field(default_factory=dict)  # overrides of the defaults
    against: str = "ours"  # the targets that decide the exit status: "ours" or "design"
    allow_unmarked: bool = False  # --yes: a database sample-data did not mark


@dataclass
class Stats:
    """Transactions of one script or class: count, rate and latency percentiles (ms)."""

    transactions: int
    failures: int
    tps: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


@dataclass
class ScriptResult:
    name: str
    kind: str
    weight: int
    stats: Stats


@dataclass
class ClassResult:
    kind: str
    stats: Stats
    design_target_ms: float
    our_target_ms: float
    meets_design: bool | None  # None: no transaction of the class ran
    meets_ours: bool | None


@dataclass
class LoadtestReport:
    clients: int
    jobs: int
    duration: int
    rate: float | None
    against: str
    scripts: list[ScriptResult]
    classes: list[ClassResult]
    total: Stats
    aborted_clients: int
    pgbench_seconds: float
    setup_seconds: float
    analysis_seconds: float
    command: list[str]

    @property
    def missed(self) -> list[str]:
        """What fails the run: classes over the chosen p95 target, failed transactions."""
        found = []
        for result in self.classes:
            meets = result.meets_ours if self.against == "ours" else result.meets_design
            if meets is False:
                target = (result.our_target_ms if self.against == "ours"
                          else result.design_target_ms)
                found.append(f"{result.kind} p95 {result.stats.p95_ms:.1f} ms > {target:g} ms")
            if result.stats.failures:
                found.append(f"{result.stats.failures} failed {result.kind} transaction(s)")
        if self.aborted_clients:
            found.append(f"{self.aborted_clients} client(s) aborted by an error")
        return found


def _percentile(ordered: list[int], share: float) -> float | None:
    """Nearest-rank percentile of sorted microseconds, in milliseconds."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)] / 1000


def _stats(latencies: list[int], failures: int, seconds: float) -> Stats:
    latencies.sort()
    done = len(latencies)
    return Stats(done, failures, round(done / seconds, 1) if seconds > 0 else 0.0,
                 _percentile(latencies, 0.50), _percentile(latencies, 0.95),
                 _percentile(latencies, 0.99))


def pgbench_command(options: LoadtestOptions, scripts: dict[str, Path],
                    chosen: dict[str, int], variables: dict[str, int],
                    log_dir: Path) -> list[str]:
    """The pgbench command line: scripts in ``scripts`` order (the log's script numbers)."""
    jobs = max(1, min(options.jobs, options.clients))
    command = [str(find_pgbench()), "--no-vacuum", "--client", str(options.clients),
               "--jobs", str(jobs), "--time", str(options.duration), "--log",
               f"--log-prefix={log_dir / 'pgbench_log'}"]
    if options.rate:
        command.append(f"--rate={options.rate:g}")
    for name, path in scripts.items():
        command += ["--file", f"{path}@{chosen[name]}"]
    for key, value in variables.items():
        command += ["--define", f"{key}={value}"]
    return command


def run(target: Target, options: LoadtestOptions,
        on_event: Callable[[str], None] | None = None) -> LoadtestReport:
    """Run the weighted query mix for ``options.duration`` seconds and report it.

    Refuses (``Refused``, exit 3) a database that sample-data did not mark, unless
    ``options.allow_unmarked``: the write scripts add rows. Raises ``BadConfig`` when the
    database has no data to draw parameters from, ``LoadtestError`` when pgbench fails.
    """
    from ..sample_data import read_mark

    note = on_event or (lambda text: None)
    if options.against not in TARGETS:
        raise ValueError(f"against must be one of {TARGETS}")
    chosen = {name: weight for name, weight in weights(options.weights).items() if weight}
    began = time.perf_counter()
    with connect(target, application_name="watoto-schema loadtest") as conn:
        if not options.allow_unmarked and read_mark(conn) is None:
            raise Refused("loadtest writes rows (enrollments, progress, submissions) and this "
                          "database was not filled by `watoto-schema sample-data`: point it at "
                          "a sample-data database, or pass --yes")
        variables, lists = parameters(conn)
    with tempfile.TemporaryDirectory(prefix="watoto-loadtest-") as folder:
        work = Path(folder)
        scripts = render(work, list(chosen), lists)
        log_dir = work / "log"
        log_dir.mkdir()
        command = pgbench_command(options, scripts, chosen, variables, log_dir)
        setup = time.perf_counter() - began
        note(f"running pgbench: {options.clients} clients, {len(chosen)} scripts, "
             f"{options.duration}s")
        outcome: PgbenchRun = run_pgbench(command, connection_environment(target.conninfo),
                                          log_dir)
        analysed = time.perf_counter()
        report = _report(options, list(chosen), chosen, outcome, command)
    report.setup_seconds = round(setup, 3)
    report.analysis_seconds = round(time.perf_counter() - analysed, 3)
    return report


def _report(options: LoadtestOptions, order: list[str], chosen: dict[str, int],
            outcome: PgbenchRun, command: list[str]) -> LoadtestReport:
    latencies: list[list[int]] = [[] for _ in order]
    failures = [0 for _ in order]
    for tx in outcome.transactions:
        if tx.latency_us is None:
            failures[tx.script] += 1
        else:
            latencies[tx.script].append(tx.latency_us)
    seconds = float(options.duration)
    scripts: list[ScriptResult] = []
    by_class: dict[str, list[int]] = {kind: [] for kind in CLASSES}
    failed_by_class: dict[str, int] = {kind: 0 for kind in CLASSES}
    for index, name in enumerate(order):
        kind = BY_NAME[name].kind
        by_class[kind].extend(latencies[index])
        failed_by_class[kind] += failures[index]
        scripts.append(ScriptResult(name, kind, chosen[name],
                                    _stats(list(latencies[index]), failures[index], seconds)))
    classes: list[ClassResult] = []
    for kind in CLASSES:
        stats = _stats(by_class[kind], failed_by_class[kind], seconds)
        p95 = stats.p95_ms
        classes.append(ClassResult(
            kind, stats, DESIGN_TARGET_MS[kind], OUR_TARGET_MS[kind],
            None if p95 is None else p95 <= DESIGN_TARGET_MS[kind],
            None if p95 is None else p95 <= OUR_TARGET_MS[kind]))
    everything = [lat for values in latencies for lat in values]
    total = _stats(everything, sum(failures), seconds)
    return LoadtestReport(options.clients, max(1, min(options.jobs, options.clients)),
                          options.duration, options.rate, options.against, scripts, classes,
                          total, outcome.aborted_clients, round(outcome.seconds, 3), 0.0, 0.0,
                          command)


def report_document(report: LoadtestReport) -> dict[str, Any]:
    """The report as the stable JSON document of ``loadtest --json``."""
    from dataclasses import asdict

    return {
        "clients": report.clients, "jobs": report.jobs, "duration": report.duration,
        "rate": report.rate, "against": report.against,
        "classes": [asdict(c) for c in report.classes],
        "scripts": [asdict(s) for s in report.scripts],
        "total": asdict(report.total), "aborted_clients": report.aborted_clients,
        "missed": report.missed,
        "seconds": {"pgbench": report.pgbench_seconds, "setup": report.setup_seconds,
                    "analysis": report.analysis_seconds},
    }
