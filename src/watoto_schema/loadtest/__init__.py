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
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import Refused
from ..target import Target, connect
from .pgbench import (
    LoadtestError,
    PgbenchRun,
    Transaction,
    connection_environment,
    find_pgbench,
)
from .pgbench import run as run_pgbench
from .protocol import PROTOCOLS, ProtocolChoice
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

if TYPE_CHECKING:
    from .prewarm import PrewarmResult
    from .server_state import ServerState

__all__ = ["LoadtestOptions", "LoadtestReport", "Stats", "run", "SCRIPTS", "CLASSES",
           "DESIGN_TARGET_MS", "OUR_TARGET_MS", "LoadtestError", "pgbench_command",
           "PROTOCOLS", "PLANS", "PLANS_NOTE", "Workload", "prepare", "run_step",
           "pgbench_environment"]

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
    protocol: str | None = None  # pgbench -M; None: chosen for the connection (protocol.py)
    plans: str = "auto"  # "generic": plan_cache_mode = force_generic_plan in every session
    prewarm: bool = False  # read the database into memory first (prewarm.py)


PLANS = ("auto", "generic")
PLANS_NOTE = {
    "auto": "the server's plan_cache_mode (by default five custom plans, then generic "
            "where it is not dearer)",
    "generic": "plan_cache_mode = force_generic_plan in every session, as an application "
               "role may set it (docs/decisions/0034)",
}


def pgbench_environment(conninfo: str, plans: str) -> dict[str, str]:
    """pgbench's libpq environment for ``conninfo``, with ``plans`` in its PGOPTIONS."""
    env = connection_environment(conninfo)
    if plans == "generic":
        env["PGOPTIONS"] = " ".join(filter(None, (env.get("PGOPTIONS", ""),
                                                  "-c plan_cache_mode=force_generic_plan")))
    return env


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
class Second:
    """One second of the run for one class: the latency-over-time series of the report."""

    second: int  # from the first logged transaction
    kind: str
    transactions: int
    failures: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


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
    protocol: str = "simple"  # pgbench -M
    protocol_reason: str = ""
    plans: str = "auto"  # LoadtestOptions.plans
    timeline: list[Second] = field(default_factory=list)
    server: ServerState | None = None  # sampled during the run (capacity steps)
    pgbench_cpu_seconds: float | None = None
    cold_skipped: int = 0  # first transactions of a script on a client, left out (run_step)
    cold_by_class: dict[str, int] = field(default_factory=dict)
    ramp_skipped: int = 0  # transactions scheduled in the ramp, left out (run_step)
    prewarm: PrewarmResult | None = None

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


def refuse_unmarked(conn: Any, allowed: bool) -> None:
    """``Refused`` unless sample-data filled the database (or ``allowed``, --yes): the
    scripts add rows."""
    from ..sample_data import read_mark

    if not allowed and read_mark(conn) is None:
        raise Refused("loadtest writes rows (enrollments, progress, submissions) and this "
                      "database was not filled by `watoto-schema sample-data`: point it at "
                      "a sample-data database, or pass --yes")


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
    if options.protocol:
        command.append(f"--protocol={options.protocol}")
    for name, path in scripts.items():
        command += ["--file", f"{path}@{chosen[name]}"]
    for key, value in variables.items():
        command += ["--define", f"{key}={value}"]
    return command


@dataclass
class Workload:
    """The database's scripts rendered and its parameters read: ready to run pgbench."""

    target: Target
    options: LoadtestOptions  # protocol filled in
    chosen: dict[str, int]
    variables: dict[str, int]
    scripts: dict[str, Path]
    folder: Path
    protocol: ProtocolChoice
    setup_seconds: float
    prewarm: PrewarmResult | None = None


@contextmanager
def prepare(target: Target, options: LoadtestOptions) -> Iterator[Workload]:
    """Check the database, read its parameters, choose the protocol, render the scripts.

    Refuses (``Refused``, exit 3) a database that sample-data did not mark, unless
    ``options.allow_unmarked``: the write scripts add rows. Raises ``BadConfig`` when the
    database has no data to draw parameters from. The rendered scripts live in a temporary
    folder for as long as the context. With ``options.prewarm`` the database is read into
    memory first (``prewarm.prewarm``; ``PrewarmUnavailable`` when it cannot be).
    """
    from dataclasses import replace

    from .protocol import choose

    if options.against not in TARGETS:
        raise ValueError(f"against must be one of {TARGETS}")
    if options.protocol is not None and options.protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}")
    if options.plans not in PLANS:
        raise ValueError(f"plans must be one of {PLANS}")
    chosen = {name: weight for name, weight in weights(options.weights).items() if weight}
    began = time.perf_counter()
    with connect(target, application_name="watoto-schema loadtest") as conn:
        refuse_unmarked(conn, options.allow_unmarked)
        variables, lists = parameters(conn)
        protocol = choose(conn, target, options.protocol)
        warmed = None
        if options.prewarm:
            from .prewarm import prewarm

            warmed = prewarm(conn)
    with tempfile.TemporaryDirectory(prefix="watoto-loadtest-") as folder:
        work = Path(folder)
        scripts = render(work, list(chosen), lists)
        yield Workload(target, replace(options, protocol=protocol.protocol), chosen, variables,
                       scripts, work, protocol, round(time.perf_counter() - began, 3), warmed)


def run_step(workload: Workload, *, duration: int, rate: float | None,
             watch: Callable[[int], AbstractContextManager[object]] | None = None,
             skip_cold: bool = False, ramp: int = 0) -> LoadtestReport:
    """Run pgbench once on a prepared workload for ``duration`` s at ``rate`` (None: flat out).

    ``watch(pgbench_pid)`` is entered while pgbench runs. With ``skip_cold`` the first
    transaction of each script on each client is left out of the figures: a new session
    loads the catalog entries of every partition it touches and plans each statement, which
    an application's long-lived pooled connections paid long ago (the count is kept in
    ``cold_skipped``). With ``ramp`` seconds, pgbench runs that much longer and the
    transactions scheduled in its first ``ramp`` seconds are left out too (``ramp_skipped``):
    fifty sessions starting at once burn the CPU on those cold starts, which slows every
    other transaction of the first second or two. Raises ``LoadtestError`` when pgbench fails.
    """
    from dataclasses import replace

    options = replace(workload.options, duration=duration, rate=rate)
    log_dir = Path(tempfile.mkdtemp(prefix="log-", dir=workload.folder))
    command = pgbench_command(replace(options, duration=duration + ramp), workload.scripts,
                              workload.chosen, workload.variables, log_dir)
    outcome: PgbenchRun = run_pgbench(
        command, pgbench_environment(workload.target.conninfo, options.plans), log_dir, watch)
    analysed = time.perf_counter()
    skipped = ramped = 0
    cold: dict[str, int] = {}
    if skip_cold or ramp:
        # pgbench's log lists each client's transactions in the order they ran. A
        # transaction's scheduled start is its end less its latency (with --rate the
        # latency counts from the schedule); the earliest one is when pgbench began.
        def scheduled(tx: Transaction) -> int:
            return tx.epoch_us - (tx.latency_us or 0)

        stamped = [scheduled(tx) for tx in outcome.transactions if tx.epoch_us]
        boundary = (min(stamped) if stamped else 0) + ramp * 1_000_000
        order = list(workload.chosen)
        seen: set[tuple[int, int]] = set()
        kept = []
        for tx in outcome.transactions:
            first = (tx.client, tx.script) not in seen
            seen.add((tx.client, tx.script))
            if ramp and tx.epoch_us and scheduled(tx) < boundary:
                ramped += 1
            elif skip_cold and first:
                skipped += 1
                kind = BY_NAME[order[tx.script]].kind
                cold[kind] = cold.get(kind, 0) + 1
            else:
                kept.append(tx)
        outcome.transactions = kept
    report = _report(options, list(workload.chosen), workload.chosen, outcome, command)
    report.cold_skipped = skipped
    report.cold_by_class = cold
    report.ramp_skipped = ramped
    report.prewarm = workload.prewarm
    report.protocol = workload.protocol.protocol
    report.protocol_reason = workload.protocol.reason
    report.plans = options.plans
    report.pgbench_cpu_seconds = outcome.cpu_seconds
    report.setup_seconds = workload.setup_seconds
    report.analysis_seconds = round(time.perf_counter() - analysed, 3)
    for path in log_dir.iterdir():  # a capacity search runs many steps in one folder
        path.unlink()
    log_dir.rmdir()
    return report


def run(target: Target, options: LoadtestOptions,
        on_event: Callable[[str], None] | None = None) -> LoadtestReport:
    """Run the weighted query mix for ``options.duration`` seconds and report it.

    Refuses (``Refused``, exit 3) a database that sample-data did not mark, unless
    ``options.allow_unmarked``: the write scripts add rows. Raises ``BadConfig`` when the
    database has no data to draw parameters from, ``LoadtestError`` when pgbench fails.
    """
    note = on_event or (lambda text: None)
    with prepare(target, options) as workload:
        note(f"running pgbench: {options.clients} clients, {len(workload.chosen)} scripts, "
             f"{options.duration}s, {workload.protocol.protocol} protocol")
        return run_step(workload, duration=options.duration, rate=options.rate)


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
                          command, timeline=_timeline(outcome, order))


def _timeline(outcome: PgbenchRun, order: list[str]) -> list[Second]:
    """Per second (by the time a transaction ended) and class: count, failures, percentiles."""
    stamped = [tx for tx in outcome.transactions if tx.epoch_us]
    if not stamped:
        return []
    start = min(tx.epoch_us for tx in stamped) // 1_000_000
    buckets: dict[tuple[int, str], list[int]] = {}
    failed: dict[tuple[int, str], int] = {}
    for tx in stamped:
        key = (tx.epoch_us // 1_000_000 - start, BY_NAME[order[tx.script]].kind)
        if tx.latency_us is None:
            failed[key] = failed.get(key, 0) + 1
            buckets.setdefault(key, [])
        else:
            buckets.setdefault(key, []).append(tx.latency_us)
    found = []
    for (second, kind), values in sorted(buckets.items(),
                                         key=lambda item: (item[0][0],
                                                           CLASSES.index(item[0][1]))):
        values.sort()
        found.append(Second(second, kind, len(values), failed.get((second, kind), 0),
                            _percentile(values, 0.50), _percentile(values, 0.95),
                            _percentile(values, 0.99)))
    return found


def report_document(report: LoadtestReport) -> dict[str, Any]:
    """The report as the stable JSON document of ``loadtest --json``."""
    from dataclasses import asdict

    return {
        "clients": report.clients, "jobs": report.jobs, "duration": report.duration,
        "rate": report.rate, "against": report.against,
        "protocol": {"mode": report.protocol, "reason": report.protocol_reason},
        "plans": {"mode": report.plans, "reason": PLANS_NOTE[report.plans]},
        "prewarm": asdict(report.prewarm) if report.prewarm else None,
        "classes": [asdict(c) for c in report.classes],
        "scripts": [asdict(s) for s in report.scripts],
        "total": asdict(report.total), "aborted_clients": report.aborted_clients,
        "missed": report.missed,
        "seconds": {"pgbench": report.pgbench_seconds, "setup": report.setup_seconds,
                    "analysis": report.analysis_seconds},
    }
