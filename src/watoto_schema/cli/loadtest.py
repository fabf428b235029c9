"""``loadtest``: the LMS's query mix through pgbench, p50/p95/p99 per class and script."""

from __future__ import annotations

import click

from .context import AppContext
from .loadtest_users import run_users, users_options

pass_app = click.make_pass_decorator(AppContext)


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
@click.option("--yes", is_flag=True,
              help="Run even when sample-data did not fill the database (the scripts add rows).")
@users_options
@pass_app
def loadtest(app: AppContext, clients: int, jobs: int, duration: int, rate: float | None,
             weights: dict[str, int], against: str, yes: bool) -> None:
    """Load the database with the LMS's reads, writes and reports through pgbench.

    Parameters (students, courses, emails, search words) come from the data in the
    database. Reports transactions, tps, p50/p95/p99 latency (from pgbench's
    per-transaction log) and failures per class and script, against the design's targets
    and ours. Exit 2 when a class misses the chosen p95 target or transactions failed; exit
    3 when the database does not carry sample-data's mark and --yes is not given.
    """
    from .. import loadtest as lib
    from ..config import load
    from ..errors import EXIT_DIFFERENCES

    if run_users(app):
        return
    configured = load(app.config_file).loadtest_weights
    options = lib.LoadtestOptions(clients=clients, jobs=jobs, duration=duration, rate=rate,
                                  weights={**configured, **weights}, against=against,
                                  allow_unmarked=yes)
    report = lib.run(app.writable_target(), options, on_event=app.out.note)
    app.out.document(lib.report_document(report))
    _render(app, report)
    if report.missed:
        raise click.exceptions.Exit(EXIT_DIFFERENCES)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _render(app: AppContext, report: object) -> None:
    from ..loadtest import LoadtestReport

    assert isinstance(report, LoadtestReport)

    def verdict(meets: bool | None) -> str:
        return "-" if meets is None else ("met" if meets else "MISSED")

    app.out.table(
        f"{report.clients} clients, {report.jobs} jobs, {report.duration}s"
        + (f", {report.rate:g} tps asked" if report.rate else ""),
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
