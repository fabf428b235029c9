"""``loadtest --find-capacity``: the highest arrival rate at which every class meets its target.

pgbench runs the LMS mix at a fixed arrival rate (``--rate``: its latency counts from each
transaction's scheduled start, so queueing shows) for a short step. The search doubles the
rate from ``start_rate`` until a step misses, then bisects between the last rate that met
the targets and the first that missed until they are within ``precision`` of each other.
Every step is bounded, and no step starts that would end after ``max_minutes``.

A step meets the targets when every class's p95 is within the chosen targets (``ours`` or
``design``), no transaction failed, no client aborted and pgbench kept up with the asked
rate (a shortfall beyond Poisson noise means the clients could not start transactions on
time). The server is sampled during every step (``server_state``); the report keeps the
state of the first failing step above the capacity.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import BadConfig, WatotoError
from ..target import Target
from . import PLANS_NOTE, LoadtestOptions, LoadtestReport, Workload, prepare, run_step
from .scripts import BY_NAME

if TYPE_CHECKING:
    from .prewarm import PrewarmResult

# Below this many warm transactions in a step a class's p95 is one or two outliers.
MIN_TRANSACTIONS = 20


class CapacityNotReached(WatotoError):
    """Even the lowest rate of the search missed the targets: a finding, exit 2."""

    exit_code = 2


@dataclass
class CapacityOptions:
    start_rate: float = 50.0  # tps of the first step, the lowest rate tried
    step_seconds: int = 10  # length of each step
    max_minutes: float = 10.0  # the whole search, setup included
    growth: float = 2.0  # rate multiplier while stepping up
    precision: float = 0.05  # bisect until the missing rate is within 5% of the met one
    ramp_seconds: int = 2  # run before each step is measured, not counted (run_step's ramp)


@dataclass
class Step:
    rate: float
    report: LoadtestReport
    missed: list[str]  # why the step missed the targets; empty: met
    seconds: float  # wall time of the step, pgbench and analysis

    @property
    def met(self) -> bool:
        return not self.missed


@dataclass
class CapacityReport:
    against: str
    clients: int
    jobs: int
    protocol: str
    protocol_reason: str
    options: CapacityOptions
    steps: list[Step] = field(default_factory=list)  # in the order they ran
    plans: str = "auto"  # LoadtestOptions.plans
    stopped: str = ""  # why the search ended
    seconds: float = 0.0

    @property
    def capacity(self) -> float | None:
        """The highest rate that met the targets (None: not even the lowest)."""
        met = [step.rate for step in self.steps if step.met]
        return max(met) if met else None

    @property
    def prewarm(self) -> PrewarmResult | None:
        """What ``--prewarm`` read before the first step (every step carries the same)."""
        return self.steps[0].report.prewarm if self.steps else None

    @property
    def first_failing(self) -> Step | None:
        """The lowest rate above the capacity that missed."""
        floor = self.capacity or 0.0
        above = [step for step in self.steps if not step.met and step.rate > floor]
        return min(above, key=lambda step: step.rate) if above else None

    @property
    def curve(self) -> list[Step]:
        return sorted(self.steps, key=lambda step: step.rate)


def _target_ms(report: LoadtestReport, kind: str) -> float:
    found = next(c for c in report.classes if c.kind == kind)
    return found.our_target_ms if report.against == "ours" else found.design_target_ms


def _fell_behind(report: LoadtestReport, rate: float) -> str | None:
    """Whether pgbench ran clearly fewer transactions than asked (beyond Poisson noise)."""
    expected = rate * report.duration
    done = report.total.transactions + report.total.failures + report.cold_skipped
    if expected >= 20 and done < expected - 4 * math.sqrt(expected) - 0.05 * expected:
        return (f"pgbench kept up with {done / report.duration:,.0f} of {rate:g} tps asked "
                f"(too few clients, or the server fell behind)")
    return None


def achieved_tps(report: LoadtestReport) -> float:
    """Transactions pgbench ran per second, cold ones and failures included."""
    done = report.total.transactions + report.total.failures + report.cold_skipped
    return round(done / report.duration, 1) if report.duration else 0.0


def unjudged(report: LoadtestReport) -> list[str]:
    """Classes with too few warm transactions in the step for their p95 to mean anything."""
    return [f"{c.kind}: {c.stats.transactions} warm transaction(s), fewer than "
            f"{MIN_TRANSACTIONS}: its p95 not judged"
            for c in report.classes
            if c.stats.transactions < MIN_TRANSACTIONS
            and c.stats.transactions + report.cold_by_class.get(c.kind, 0) > 0]


def judge(report: LoadtestReport, rate: float) -> list[str]:
    """Why a step missed the targets (``report.missed`` and falling behind); empty: met.

    A class with fewer than ``MIN_TRANSACTIONS`` warm transactions is not judged by its
    p95 (its failures still count); a step where no class could be judged misses.
    """
    thin = {c.kind for c in report.classes if c.stats.transactions < MIN_TRANSACTIONS}
    missed = [why for why in report.missed
              if not any(why.startswith(f"{kind} p95 ") for kind in thin)]
    present = {c.kind for c in report.classes
               if c.stats.transactions + report.cold_by_class.get(c.kind, 0) > 0}
    if not present - thin:
        missed.append(f"too few warm transactions to judge any class (fewer than "
                      f"{MIN_TRANSACTIONS} each): a longer --step-seconds, a higher "
                      "--start-rate or fewer --clients")
    behind = _fell_behind(report, rate)
    if behind:
        missed.append(behind)
    return missed


def worst(step: Step) -> tuple[str | None, str | None]:
    """The class and the script furthest over their p95 target (or with the most failures)."""
    report = step.report
    classes = [(c.stats.p95_ms / _target_ms(report, c.kind), c.kind) for c in report.classes
               if c.stats.p95_ms is not None and c.stats.transactions >= MIN_TRANSACTIONS]
    scripts = [(s.stats.p95_ms / _target_ms(report, s.kind), s.name) for s in report.scripts
               if s.stats.p95_ms is not None]
    over = [item for item in classes if item[0] > 1]
    if over:
        kind = max(over)[1]
        return kind, max(item for item in scripts if BY_NAME[item[1]].kind == kind)[1]
    failing = [s for s in report.scripts if s.stats.failures]
    if failing:
        script = max(failing, key=lambda s: s.stats.failures)
        return script.kind, script.name
    return None, None


def _rate(value: float) -> float:
    return float(round(value)) if value >= 10 else round(value, 1)


def search(target: Target, options: LoadtestOptions, capacity: CapacityOptions,
           on_event: Callable[[str], None] | None = None,
           sampler: bool = True) -> CapacityReport:
    """Find the highest arrival rate at which every class meets the chosen p95 targets.

    ``options`` gives clients, jobs, weights, the targets (``against``) and the protocol;
    its ``rate`` and ``duration`` are the search's to choose. Raises ``BadConfig`` for
    settings that cannot make a search, ``LoadtestError`` when pgbench fails, and the
    errors of ``loadtest.prepare``. Never raises because the targets were missed: the
    caller reads ``capacity`` (None: even ``start_rate`` missed).
    """
    note = on_event or (lambda text: None)
    if (capacity.start_rate <= 0 or capacity.step_seconds < 1 or capacity.growth <= 1
            or capacity.ramp_seconds < 0):
        raise BadConfig("the capacity search needs a start rate above 0, steps of at least "
                        "1 s, a ramp of 0 s or more and a growth above 1")
    began = time.perf_counter()
    deadline = began + capacity.max_minutes * 60
    with prepare(target, options) as workload, _sampling(target, sampler) as watch:
        result = CapacityReport(options.against, options.clients, workload.options.jobs,
                                workload.protocol.protocol, workload.protocol.reason,
                                capacity, plans=options.plans)
        note(f"capacity search: {workload.protocol.protocol} protocol, steps of "
             f"{capacity.step_seconds}s after {capacity.ramp_seconds}s of ramp, from "
             f"{capacity.start_rate:g} tps, at most {capacity.max_minutes:g} min")
        overhead = 2.0  # seconds a step costs beyond its length; measured as steps run

        def step(rate: float) -> Step | None:
            nonlocal overhead
            length = capacity.step_seconds + capacity.ramp_seconds
            if time.perf_counter() + length + overhead > deadline:
                return None
            started = time.perf_counter()
            report = _one_step(workload, rate, capacity.step_seconds, capacity.ramp_seconds,
                               watch)
            spent = time.perf_counter() - started
            overhead = max(overhead * 0.5, spent - length)
            found = Step(rate, report, judge(report, rate), round(spent, 3))
            result.steps.append(found)
            p95 = ", ".join(f"{c.kind} {c.stats.p95_ms:.2f}" for c in report.classes
                            if c.stats.p95_ms is not None)
            note(f"  {rate:>8g} tps: p95 ms {p95}: "
                 + ("met" if found.met else "missed (" + "; ".join(found.missed) + ")"))
            return found

        result.stopped = _search(capacity, step)
    if not result.steps:
        raise BadConfig(f"--max-minutes {capacity.max_minutes:g} leaves no time for one step "
                        f"of {capacity.step_seconds}s after {capacity.ramp_seconds}s of ramp: "
                        "give more minutes or shorter steps")
    result.seconds = round(time.perf_counter() - began, 3)
    return result


def _search(capacity: CapacityOptions, step: Callable[[float], Step | None]) -> str:
    """Step up, then bisect; return why the search stopped."""
    out_of_time = "the time budget (--max-minutes) ran out"
    rate = _rate(capacity.start_rate)
    met: float | None = None
    missed: float | None = None
    while missed is None:
        found = step(rate)
        if found is None:
            return out_of_time
        if found.met:
            met, rate = rate, _rate(rate * capacity.growth)
        else:
            missed = rate
    if met is None:
        return "the lowest rate missed the targets"
    while (missed - met) / met > capacity.precision:
        middle = _rate((met + missed) / 2)
        if middle in (met, missed):
            break
        found = step(middle)
        if found is None:
            return out_of_time
        if found.met:
            met = middle
        else:
            missed = middle
    return f"bisected to within {capacity.precision:.0%}"


def _one_step(workload: Workload, rate: float, seconds: int, ramp: int,
              watch: Callable[[list[Any]], Any] | None) -> LoadtestReport:
    state: list[Any] = []
    sampler_step = watch(state) if watch else None
    report = run_step(workload, duration=seconds, rate=rate, skip_cold=True, ramp=ramp,
                      watch=(lambda pid: sampler_step) if sampler_step is not None else None)
    if state:
        report.server = state[0]
        if report.pgbench_cpu_seconds is not None and state[0].seconds > 0:
            state[0].pgbench_cores = round(report.pgbench_cpu_seconds / state[0].seconds, 2)
    return report


@contextmanager
def _sampling(target: Target, enabled: bool) -> Iterator[Callable[[list[Any]], Any] | None]:
    if not enabled:
        yield None
        return
    from .server_state import Sampler

    sampler = Sampler(target)
    try:
        yield sampler.step
    finally:
        sampler.close()


def _stats(stats: Any) -> dict[str, Any]:
    return {"transactions": stats.transactions, "failures": stats.failures, "tps": stats.tps,
            "p50_ms": stats.p50_ms, "p95_ms": stats.p95_ms, "p99_ms": stats.p99_ms}


def step_document(step: Step) -> dict[str, Any]:
    report = step.report
    return {
        "rate": step.rate, "achieved_tps": achieved_tps(report), "met": step.met,
        "missed": step.missed, "transactions": report.total.transactions,
        "failures": report.total.failures, "aborted_clients": report.aborted_clients,
        "cold_skipped": report.cold_skipped, "ramp_skipped": report.ramp_skipped,
        "unjudged": unjudged(report),
        "classes": {c.kind: _stats(c.stats) for c in report.classes},
        "scripts": {s.name: {"class": s.kind, **_stats(s.stats)} for s in report.scripts},
        "server": asdict(report.server) if report.server else None,
        "seconds": step.seconds,
    }


def report_document(result: CapacityReport) -> dict[str, Any]:
    """The search as the stable JSON document of ``loadtest --find-capacity --json``."""
    failing = result.first_failing
    kind, script = worst(failing) if failing else (None, None)
    return {
        "mode": "capacity", "against": result.against, "clients": result.clients,
        "jobs": result.jobs,
        "protocol": {"mode": result.protocol, "reason": result.protocol_reason},
        "plans": {"mode": result.plans, "reason": PLANS_NOTE[result.plans]},
        "prewarm": asdict(result.prewarm) if result.prewarm else None,
        "settings": asdict(result.options),
        "capacity_tps": result.capacity,
        "verdict": "found" if result.capacity is not None else "lowest rate missed",
        "stopped": result.stopped,
        "first_failing": None if failing is None else {
            "rate": failing.rate, "class": kind, "script": script, "missed": failing.missed,
            "server": asdict(failing.report.server) if failing.report.server else None},
        "curve": [step_document(step) for step in result.curve],
        "seconds": result.seconds,
    }
