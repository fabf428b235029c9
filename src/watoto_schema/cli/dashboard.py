"""``dashboard``: one read-only web page for one database (docs/dashboard.md)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .context import AppContext

pass_app = click.make_pass_decorator(AppContext)


def access_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """--token / --token-file, shared with ``health serve``."""
    function = click.option(
        "--token-file", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
        help="Read the token from FILE (refused when group or others may read it).")(function)
    return click.option(
        "--token", envvar="WATOTO_DASHBOARD_TOKEN", metavar="TEXT",
        help="Require this token (16+ characters) on every request: Authorization: Bearer, "
        "or open /?token=TEXT once in a browser. Needed to listen beyond loopback. "
        "Env: WATOTO_DASHBOARD_TOKEN.")(function)


def page_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """What the pages show and how often, shared with ``health serve``."""
    for decorator in reversed([
        click.option("--refresh", type=click.FloatRange(min=2), default=10.0,
                     show_default=True, metavar="SECONDS",
                     help="How often an open page refreshes the live sections."),
        click.option("--slow-refresh", type=click.FloatRange(min=10), default=300.0,
                     show_default=True, metavar="SECONDS",
                     help="How often drift, partitions, maintenance and statements are "
                     "read again."),
        click.option("--show-queries", is_flag=True,
                     help="Show the statement text of other roles' sessions and statements "
                     "(hidden by default)."),
        click.option("--maintain-schedule", envvar="WATOTO_MAINTAIN_SCHEDULE", metavar="CRON",
                     help="The cron schedule of `maintain run` (e.g. '15 2 * * *'), to show "
                     "when it runs next. Env: WATOTO_MAINTAIN_SCHEDULE."),
        click.option("--loadtest", "loadtest_file",
                     type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
                     help="A `loadtest --json` output to show (default: the last loadtest "
                     "this machine ran on the database)."),
    ]):
        function = decorator(function)
    return function


def token_from(token: str | None, token_file: Path | None) -> str | None:
    from ..dashboard import read_token_file

    if token and token_file:
        raise click.UsageError("give --token or --token-file, not both")
    return read_token_file(token_file) if token_file else token


def make_endpoint(app: AppContext, *, token: str | None, refresh: float, slow_refresh: float,
                  show_queries: bool, maintain_schedule: str | None,
                  loadtest_file: Path | None, deadline: float = 5.0,
                  metrics: Callable[[], bytes] | None = None) -> Any:
    from ..dashboard import Dashboard, Endpoint, Options, Renderer
    from ..dashboard.schedule import parse
    from ..loadtest.last import last_result_path
    from .health import _thresholds

    if maintain_schedule:
        parse(maintain_schedule)  # a bad expression is an error now, not on the page
    target = app.target()
    options = Options(thresholds=_thresholds(app), show_queries=show_queries,
                      extra_dirs=app.extra_dirs, maintain_schedule=maintain_schedule,
                      loadtest_file=loadtest_file or last_result_path(target),
                      deadline=deadline)
    dashboard = Dashboard(target, options, refresh=refresh, slow_every=slow_refresh)
    renderer = Renderer(target.display, refresh=refresh, slow_every=slow_refresh,
                        show_queries=show_queries)
    return Endpoint(dashboard, renderer, token=token, metrics=metrics, log=app.out.note)


def serve_until_interrupted(app: AppContext, endpoint: Any, address: str, port: int,
                            what: str) -> None:
    import time

    from ..dashboard import start

    server, _thread = start(endpoint, address, port)
    host = f"[{address}]" if ":" in address else address
    bound = server.server_address[1]
    app.out.note(f"serving {what} on http://{host}:{bound}/ for {endpoint.dashboard.target.display}"
                 + (" (token required)" if endpoint.token else "") + " (Ctrl-C stops)")
    endpoint.dashboard.view()  # start reading the sections before the first visit
    try:
        while True:
            time.sleep(3600)
    finally:
        server.shutdown()
        server.server_close()


@click.command(name="dashboard")
@click.option("--listen", "address", default="127.0.0.1", show_default=True,
              metavar="ADDRESS", help="Address to listen on (anything but loopback needs a "
              "token).")
@click.option("--port", type=click.IntRange(0, 65535), default=8187, show_default=True,
              help="Port to listen on (0: any free port, printed).")
@access_options
@page_options
@pass_app
def dashboard(app: AppContext, address: str, port: int, token: str | None,
              token_file: Path | None, refresh: float, slow_refresh: float,
              show_queries: bool, maintain_schedule: str | None,
              loadtest_file: Path | None) -> None:
    """Serve a read-only web page of the database: migrations (and an online migration's
    progress), drift, the partition horizon, the maintenance plan, health with replica lag
    and connections, sessions, the slowest statements and the last load test.

    It refreshes on its own while open and reads the database only then. Nothing it serves
    changes the database; every name it shows is escaped. Exit 1 when the port is taken,
    3 when asked to listen beyond loopback without a token or given a token file others may
    read.
    """
    from ..dashboard import check_access

    chosen = token_from(token, token_file)
    check_access(address, chosen)
    endpoint = make_endpoint(app, token=chosen, refresh=refresh, slow_refresh=slow_refresh,
                             show_queries=show_queries, maintain_schedule=maintain_schedule,
                             loadtest_file=loadtest_file)
    serve_until_interrupted(app, endpoint, address, port, "the dashboard")
