"""``loadtest``: the LMS's query mix through pgbench, p50/p95/p99 per class and script."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .context import AppContext
from .loadtest_users import run_users, users_asked, users_options


def _weight(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, int]:
    weights: dict[str, int] = {}
    for value in values:
        name, sep, number = value.partition("=")
        if not sep or not number.strip().isdigit():
            raise click.BadParameter(f"{value!r} is not SCRIPT=N (N a whole number >= 0)")
        weights[name.strip()] = int(number)
    return weights


@click.command(name="loadtest")
@click.option("--clients", type=click.IntRange(min=1), default=50, show_default=True,
              help="Concurrent database sessions (pgbench --client).")
@click.option("--jobs", type=click.IntRange(min=1), default=4, show_default=True,
              help="pgbench worker threads (at most --clients).")
@click.option("--duration", type=click.IntRange(min=1), default=60, show_default=True,
              help="Seconds to run.")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), metavar="TPS",
              help="Throttle to this many transactions per second in all (pgbench --rate); "
              "default: as fast as the server goes.")
@click.option("--weight", "weights", multiple=True, metavar="SCRIPT=N", callback=_weight,
              help="Weight of one script (repeatable; 0 leaves it out). Default: the start of "
              "a school day, see docs/loadtest.md; also [loadtest.weights] in the config file.")
@click.option("--against", type=click.Choice(["ours", "design"]), default="ours",
              show_default=True,
              help="Which p95 targets decide exit 2: ours (1/5/50 ms for reads/writes/reports) "
              "or the design's (10/50/500 ms). Both are always shown.")
@click.option("--protocol", type=click.Choice(["simple", "extended", "prepared"]),
              help="pgbench's query protocol (-M). Default: prepared on a direct connection "
              "(a driver with a statement cache); through PgBouncer, prepared from 1.21 with "
              "max_prepared_statements > 0, else extended. The report says which and why.")
@click.option("--plans", type=click.Choice(["auto", "generic"]), default="auto",
              show_default=True,
              help="Statement plans: auto keeps the server's plan_cache_mode; generic sets "
              "plan_cache_mode = force_generic_plan in every session, as an application role "
              "may (docs/decisions/0034).")
@click.option("--prewarm", is_flag=True,
              help="First read every table and index into memory (pg_prewarm, in a "
              "transaction rolled back: no trace in the catalog), as on a server that has "
              "run for a while; the report says how much. Needs pg_prewarm on the server "
              "and a superuser where it is not installed.")
@click.option("--find-capacity", is_flag=True,
              help="Search the highest arrival rate at which every class meets the --against "
              "p95 targets with no failure: fixed-rate steps, doubling then bisecting. Exit 0 "
              "found, 2 when even the lowest rate misses.")
@click.option("--start-rate", type=click.FloatRange(min=0, min_open=True), metavar="TPS",
              help="With --find-capacity: the first and lowest rate tried [default: 50].")
@click.option("--step-seconds", type=click.IntRange(min=1), metavar="N",
              help="With --find-capacity: seconds each rate runs [default: 10].")
@click.option("--ramp-seconds", type=click.IntRange(min=0), metavar="N",
              help="With --find-capacity: seconds each step runs before it is measured, "
              "while its new sessions start [default: 2].")
@click.option("--max-minutes", type=click.FloatRange(min=0, min_open=True), metavar="M",
              help="With --find-capacity: bound on the whole search; no step starts that "
              "would end later [default: 10].")
@click.option("--report", "report_path", type=click.Path(path_type=Path), metavar="FILE.html",
              help="Also write a self-contained HTML page: latency over time per class, "
              "p50/p95/p99 per script against both targets, the capacity curve. Checked "
              "before anything runs.")
@click.option("--yes", is_flag=True,
              help="Run even when sample-data did not fill the database (the scripts add rows).")
@users_options
@click.pass_context
def loadtest(ctx: click.Context, clients: int, jobs: int, duration: int, rate: float | None,
             weights: dict[str, int], against: str, protocol: str | None, plans: str,
             prewarm: bool, find_capacity: bool, start_rate: float | None,
             step_seconds: int | None, ramp_seconds: int | None, max_minutes: float | None,
             report_path: Path | None, yes: bool) -> None:
    """Load the database with the LMS's reads, writes and reports through pgbench.

    Parameters (students, courses, emails, search words) come from the data in the
    database. Reports transactions, tps, p50/p95/p99 latency (from pgbench's
    per-transaction log) and failures per class and script, against the design's targets
    and ours. Exit 2 when a class misses the chosen p95 target or transactions failed; exit
    3 when the database does not carry sample-data's mark and --yes is not given.

    With --find-capacity: the highest fixed arrival rate that meets the targets, what
    misses first above it and the server's state there (CPU, waits, top statements).
    """
    from .. import loadtest as lib
    from ..config import load
    from ..errors import EXIT_DIFFERENCES
    from ..loadtest.last import save_last_result

    app = ctx.find_object(AppContext)
    assert app is not None
    if users_asked(ctx):
        mixed = [name for name, given in (("--find-capacity", find_capacity),
                                          ("--report", report_path is not None),
                                          ("--protocol", protocol is not None),
                                          ("--plans", plans != "auto"),
                                          ("--prewarm", prewarm)) if given]
        if mixed:
            raise click.UsageError(f"--users does not combine with {', '.join(mixed)}")
    if run_users(app):
        return
    search_options = {"--start-rate": start_rate, "--step-seconds": step_seconds,
                      "--ramp-seconds": ramp_seconds, "--max-minutes": max_minutes}
    if find_capacity:
        if rate is not None:
            raise click.UsageError("--rate conflicts with --find-capacity, which chooses the "
                                   "rates itself (--start-rate sets the first)")
        source = ctx.get_parameter_source("duration")
        if source is not None and source.name == "COMMANDLINE":
            raise click.UsageError("--duration conflicts with --find-capacity: each step runs "
                                   "--step-seconds, the search at most --max-minutes")
    else:
        given = [name for name, value in search_options.items() if value is not None]
        if given:
            raise click.UsageError(f"{', '.join(given)} only apply with --find-capacity")
    if report_path is not None:
        from ..loadtest.report_html import check_writable

        check_writable(report_path)
    configured = load(app.config_file).loadtest_weights
    options = lib.LoadtestOptions(clients=clients, jobs=jobs, duration=duration, rate=rate,
                                  weights={**configured, **weights}, against=against,
                                  allow_unmarked=yes, protocol=protocol, plans=plans,
                                  prewarm=prewarm)
    if find_capacity:
        _find_capacity(app, options, start_rate, step_seconds, ramp_seconds, max_minutes,
                       report_path)
        return
    target = app.writable_target()
    report = lib.run(target, options, on_event=app.out.note)
    if report_path is not None:
        from ..loadtest import report_html

        report_html.write(report_path, report_html.render_run(report))
    document = lib.report_document(report)
    try:  # for the dashboard's "last load test"
        save_last_result(target, document)
    except OSError as exc:
        app.out.note(f"note: the result was not kept for the dashboard: {exc.strerror}")
    app.out.document(document)
    _render(app, report)
    if report_path is not None:
        app.out.note(f"report written to {report_path}")
    if report.missed:
        raise click.exceptions.Exit(EXIT_DIFFERENCES)


def _find_capacity(app: AppContext, options: Any, start_rate: float | None,
                   step_seconds: int | None, ramp_seconds: int | None,
                   max_minutes: float | None, report_path: Path | None) -> None:
    from ..loadtest import capacity as lib

    settings = lib.CapacityOptions()
    if start_rate is not None:
        settings.start_rate = start_rate
    if step_seconds is not None:
        settings.step_seconds = step_seconds
    if ramp_seconds is not None:
        settings.ramp_seconds = ramp_seconds
    if max_minutes is not None:
        settings.max_minutes = max_minutes
    result = lib.search(app.writable_target(), options, settings, on_event=app.out.note)
    if report_path is not None:
        from ..loadtest import report_html

        report_html.write(report_path, report_html.render_capacity(result))
    app.out.document(lib.report_document(result))
    _render_capacity(app, result)
    if report_path is not None:
        app.out.note(f"report written to {report_path}")
    if result.capacity is None:
        lowest = result.curve[0]
        raise lib.CapacityNotReached(
            f"even the lowest rate, {lowest.rate:g} tps, misses the {result.against} "
            f"targets: {'; '.join(lowest.missed)}")


def _render_capacity(app: AppContext, result: object) -> None:
    from ..loadtest.capacity import CapacityReport, achieved_tps, unjudged, worst
    from .output import escape

    assert isinstance(result, CapacityReport)
    kinds = [c.kind for c in result.curve[0].report.classes] if result.curve else []
    app.out.table(
        f"capacity search against {result.against} targets: {result.clients} clients, "
        f"{result.protocol} protocol, steps of {result.options.step_seconds}s after "
        f"{result.options.ramp_seconds}s of ramp",
        ["asked tps", "achieved tps", *[f"{k} p50/p95/p99 ms" for k in kinds], "failed",
         "verdict"],
        [[f"{step.rate:,g}", f"{achieved_tps(step.report):,.1f}",
          *["/".join(_ms(v) for v in (c.stats.p50_ms, c.stats.p95_ms, c.stats.p99_ms))
            for c in step.report.classes],
          str(step.report.total.failures),
          ("met" if step.met else "missed: " + "; ".join(step.missed))
          + "".join(f" ({why})" for why in unjudged(step.report))]
         for step in result.curve])
    app.out.line(f"protocol: {result.protocol} ({result.protocol_reason})")
    from ..loadtest import PLANS_NOTE

    app.out.line(f"plans: {result.plans} ({PLANS_NOTE[result.plans]})")
    if result.prewarm is not None:
        app.out.line(result.prewarm.describe())
    failing = result.first_failing
    if result.capacity is None:
        app.out.line(f"capacity: none: even {result.curve[0].rate:g} tps misses "
                     f"({result.stopped})")
    else:
        above = ""
        if failing is not None:
            kind, script = worst(failing)
            above = (f"; first missed at {failing.rate:,g} tps by "
                     f"{kind or 'no class'} (script {script or '-'})")
        else:
            above = "; no rate tried missed"
        app.out.line(f"capacity: {result.capacity:,g} tps{above} ({result.stopped}, "
                     f"{len(result.steps)} steps, {result.seconds:.0f}s)")
    server = failing.report.server if failing is not None else None
    if server is None:
        return
    if server.server_cores is not None:
        app.out.line(f"server at {failing.rate:,g} tps: CPU of the server processes "  # type: ignore[union-attr]
                     f"{server.server_cores} cores, pgbench {server.pgbench_cores} cores "
                     f"(of {server.machine_cores})")
    else:
        app.out.line(f"server at {failing.rate:,g} tps: CPU {server.cpu}")  # type: ignore[union-attr]
    if server.waits:
        app.out.line("waits (mean active sessions): " + ", ".join(
            f"{w.wait_event_type}/{w.wait_event} {w.sessions:g}" for w in server.waits[:6]))
    if server.statements:
        app.out.table("top statements (pg_stat_statements)",
                      ["total ms", "calls", "mean ms", "query"],
                      [[f"{s.total_ms:,.1f}", f"{s.calls:,}", f"{s.mean_ms:.3f}",
                        escape(s.query if len(s.query) <= 90 else s.query[:89] + "…")]
                       for s in server.statements])
    else:
        app.out.line(f"top statements: skipped: {server.statements_skipped}")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _render(app: AppContext, report: object) -> None:
    from ..loadtest import LoadtestReport

    assert isinstance(report, LoadtestReport)

    def verdict(meets: bool | None) -> str:
        return "-" if meets is None else ("met" if meets else "MISSED")

    app.out.table(
        f"{report.clients} clients, {report.jobs} jobs, {report.duration}s"
        + (f", {report.rate:g} tps asked" if report.rate else "")
        + f", {report.protocol} protocol",
        ["class", "transactions", "tps", "p50 ms", "p95 ms", "p99 ms", "failed",
         "design p95", "our p95"],
        [[c.kind, f"{c.stats.transactions:,}", f"{c.stats.tps:,.1f}", _ms(c.stats.p50_ms),
          _ms(c.stats.p95_ms), _ms(c.stats.p99_ms), str(c.stats.failures),
          f"{c.design_target_ms:g} ms {verdict(c.meets_design)}",
          f"{c.our_target_ms:g} ms {verdict(c.meets_ours)}"] for c in report.classes])
    app.out.table(
        None, ["script", "class", "weight", "transactions", "tps", "p50 ms", "p95 ms",
               "p99 ms", "failed"],
        [[s.name, s.kind, str(s.weight), f"{s.stats.transactions:,}", f"{s.stats.tps:,.1f}",
          _ms(s.stats.p50_ms), _ms(s.stats.p95_ms), _ms(s.stats.p99_ms),
          str(s.stats.failures)] for s in report.scripts])
    app.out.line(f"{report.total.transactions:,} transactions, {report.total.tps:,.1f} tps; "
                 f"p95 against {report.against} targets: "
                 + ("all met" if not report.missed else "; ".join(report.missed)))
    app.out.line(f"protocol: {report.protocol} ({report.protocol_reason})")
    from ..loadtest import PLANS_NOTE

    app.out.line(f"plans: {report.plans} ({PLANS_NOTE[report.plans]})")
    if report.prewarm is not None:
        app.out.line(report.prewarm.describe())
