"""``loadtest --users N [--think-time MS]`` (#21): its options and its run, hooked into
``loadtest`` by one decorator and one call so the command's own code stays as it is."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from .context import AppContext

F = TypeVar("F", bound=Callable[..., Any])
_USERS = "watoto_loadtest_users"
_THINK = "watoto_loadtest_think_time"


def _keep(key: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def keep(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        ctx.meta[key] = value
        return value
    return keep


def users_options(command: F) -> F:
    """``--users`` and ``--think-time``, kept in the context (not passed to ``loadtest``)."""
    command = click.option(
        "--think-time", type=click.IntRange(0, 3_600_000), metavar="MS", default=None,
        expose_value=False, callback=_keep(_THINK),
        help="With --users: each user's mean pause before acting, in ms (uniform in 0.5-1.5x "
        "of it; subtracted from the latencies). Default 1000.")(command)
    command = click.option(
        "--users", type=click.IntRange(min=1), metavar="N", default=None, expose_value=False,
        callback=_keep(_USERS),
        help="N concurrent users instead of --clients: one session each for the whole run, "
        "pausing --think-time between actions; reports connection failures and the time to "
        "connect everyone. Through PgBouncer for thousands (docs/loadtest.md).")(command)
    return command


def users_asked(ctx: click.Context) -> bool:
    """Whether ``--users`` was given."""
    return ctx.meta.get(_USERS) is not None


def run_users(app: AppContext) -> bool:
    """Run ``loadtest --users`` when asked; False when the options do not ask for it."""
    ctx = click.get_current_context()
    users, think = ctx.meta.get(_USERS), ctx.meta.get(_THINK)
    if users is None:
        if think is not None:
            raise click.UsageError("--think-time goes with --users")
        return False
    given = [f"--{name}" for name in ("clients", "rate")
             if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE]
    if given:
        raise click.UsageError(f"--users replaces {' and '.join(given)}: users pace "
                               "themselves by --think-time")
    from ..config import load
    from ..errors import EXIT_DIFFERENCES
    from ..loadtest import users as lib

    params = ctx.params
    options = lib.UsersOptions(
        users=users, think_time_ms=1000 if think is None else think, jobs=params["jobs"],
        duration=params["duration"],
        weights={**load(app.config_file).loadtest_weights, **params["weights"]},
        against=params["against"], allow_unmarked=params["yes"])
    report = lib.run(app.writable_target(), options, on_event=app.out.note)
    app.out.document(lib.report_document_users(report))
    _render(app, report)
    if report.missed:
        raise click.exceptions.Exit(EXIT_DIFFERENCES)
    return True


def _render(app: AppContext, report: Any) -> None:
    from ..loadtest.users import UsersReport
    from .loadtest import _render as render_loadtest

    assert isinstance(report, UsersReport)
    low, high = report.think_range_ms
    connect = ("-" if report.connect_seconds is None else f"{report.connect_seconds:.2f} s")
    via = ("through a pooler" + (f" (max_client_conn {report.max_client_conn:,})"
                                 if report.max_client_conn else "")
           if report.through_pooler else "directly")
    app.out.line(f"{report.users:,} users {via}, thinking {report.think_time_ms} ms on "
                 f"average ({low:g}-{high:g} ms, not counted in the latencies); connected "
                 f"everyone in {connect}, {report.connection_failures} connection failures")
    render_loadtest(app, report.loadtest)
    if report.connection_failures:
        app.out.line(f"{report.connection_failures} session(s) could not connect")
