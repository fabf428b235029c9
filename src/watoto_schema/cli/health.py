"""``health [serve]``: the design's monitoring as checks with thresholds."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from .context import AppContext
from .dashboard import (
    access_options,
    make_endpoint,
    page_options,
    serve_until_interrupted,
    token_from,
)

if TYPE_CHECKING:
    from ..health import HealthReport, Thresholds
    from ..target import Target

pass_app = click.make_pass_decorator(AppContext)
_COLOURS = {"ok": "green", "warning": "yellow", "critical": "red", "unknown": "dim"}


def _thresholds(app: AppContext) -> Thresholds:
    from ..config import load
    from ..health import Thresholds

    return Thresholds.from_config(load(app.config_file).health)


@click.group(invoke_without_command=True)
@click.option("--exact", is_flag=True,
              help="Measure bloat with pgstattuple (reads candidates in full) instead of "
              "the estimate.")
@click.option("--format", "fmt", type=click.Choice(["table", "prometheus"]), default="table",
              show_default=True, help="prometheus: the text exposition format.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="With --format prometheus: write FILE atomically (node_exporter's "
              "textfile collector) instead of stdout.")
@click.option("--nagios", is_flag=True,
              help="One line with perfdata; exit 0 ok, 1 warning, 2 critical, 3 unknown.")
@click.option("--deadline", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              metavar="SECONDS", help="statement_timeout of each check.")
@click.pass_context
def health(ctx: click.Context, exact: bool, fmt: str, output: Path | None, nagios: bool,
           deadline: float) -> None:
    """Check connections, cache hit ratio, statement times, transactions, lock waits,
    replication lag, bloat, wraparound, invalid indexes, partitions and WAL archiving.

    Exit status: 0 all ok, 2 any warning or critical, 1 error (with --nagios: the Nagios
    convention). Thresholds: [health] in watoto-schema.toml (docs/health.md). Read-only;
    works as a non-superuser with the pg_monitor role (skipped checks say why).
    """
    if ctx.invoked_subcommand is not None:
        return
    from .. import health as lib
    from ..errors import EXIT_DIFFERENCES

    app = ctx.find_object(AppContext)
    assert app is not None
    if output and fmt != "prometheus":
        raise click.UsageError("--output needs --format prometheus")
    if nagios:
        _nagios(app, exact, deadline)
        return
    report = _collect(app, app.target(), _thresholds(app), exact=exact, deadline=deadline)
    if fmt == "prometheus":
        from ..health.exposition import prometheus_text, write_textfile

        if output:
            write_textfile(report, output)
            app.out.note(f"wrote {output}")
        else:
            click.echo(prometheus_text(report), nl=False)
    else:
        _render(app, report)
    if report.status != lib.OK:
        raise click.exceptions.Exit(EXIT_DIFFERENCES)


def _collect(app: AppContext, target: Target, thresholds: Thresholds, *, exact: bool = False,
             deadline: float = 10.0) -> HealthReport:
    """The database's checks, then the Redis cache's when one is configured (--redis)."""
    import time

    from .. import health as lib

    report = lib.collect(target, thresholds, exact=exact, deadline=deadline)
    cache = app.cache_target()
    if cache is not None:
        from ..cache.health import checks

        began = time.perf_counter()
        report.checks.extend(checks(cache, app.cache_policy(), timeout=min(deadline, 5.0)))
        report.seconds += time.perf_counter() - began
    return report


def _nagios(app: AppContext, exact: bool, deadline: float) -> None:
    """Nagios speaks its own exit codes, errors included (3 UNKNOWN)."""
    from ..errors import WatotoError
    from ..health.exposition import nagios_line
    from ..target import one_line, redact

    try:
        report = _collect(app, app.target(), _thresholds(app), exact=exact, deadline=deadline)
    except WatotoError as exc:
        click.echo(f"WATOTO UNKNOWN - {redact(one_line(str(exc)))}")
        raise click.exceptions.Exit(3) from exc
    line, code = nagios_line(report)
    click.echo(line)
    raise click.exceptions.Exit(code)


def _render(app: AppContext, report: HealthReport) -> None:
    from dataclasses import asdict

    app.out.document({"target": report.target, "status": report.status,
                      "seconds": round(report.seconds, 3),
                      "checks": [{k: v for k, v in asdict(ch).items() if k != "metrics"}
                                 for ch in report.checks],
                      "skipped": [ch.name for ch in report.skipped]})
    from rich.markup import escape

    app.out.table(escape(f"{report.target}: {report.status}"),
                  ["check", "status", "value", "threshold", "hint"],
                  [[ch.name, f"[{_COLOURS[ch.status]}]{ch.status}[/]", escape(str(ch.value)),
                    escape(ch.threshold), escape(ch.hint)] for ch in report.checks])


@health.command()
@click.option("--port", type=click.IntRange(0, 65535), default=9187, show_default=True)
@click.option("--address", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0 for every interface: needs a token).")
@click.option("--deadline", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              metavar="SECONDS", help="statement_timeout of each check, per scrape.")
@access_options
@page_options
@pass_app
def serve(app: AppContext, port: int, address: str, deadline: float, token: str | None,
          token_file: Path | None, refresh: float, slow_refresh: float, show_queries: bool,
          maintain_schedule: str | None, loadtest_file: Path | None) -> None:
    """Serve the checks to Prometheus on http://ADDRESS:PORT/metrics, and the dashboard's
    pages on / (until interrupted).

    Each scrape collects afresh; concurrent scrapes share one collection. With a token,
    Prometheus sends it as a bearer token (authorization: in the scrape config).
    """
    from ..dashboard import check_access
    from ..health.serve import exposition

    chosen = token_from(token, token_file)
    check_access(address, chosen)
    target = app.target()
    thresholds = _thresholds(app)
    metrics, _ = exposition(lambda: _collect(app, target, thresholds, deadline=deadline))
    endpoint = make_endpoint(app, token=chosen, refresh=refresh, slow_refresh=slow_refresh,
                             show_queries=show_queries, maintain_schedule=maintain_schedule,
                             loadtest_file=loadtest_file, metrics=metrics)
    serve_until_interrupted(app, endpoint, address, port, "/metrics and the dashboard")
