"""``local start|stop|status|url|destroy``: the embedded PostgreSQL cluster in ./.watoto."""

from __future__ import annotations

from dataclasses import asdict

import click

from .context import AppContext

pass_app = click.make_pass_decorator(AppContext)


@click.group()
def local() -> None:
    """Manage the embedded PostgreSQL cluster in ./.watoto (Unix socket only, no password)."""


def _render(app: AppContext, info: object) -> None:
    from ..local import ClusterInfo

    assert isinstance(info, ClusterInfo)
    app.out.document(asdict(info))
    state = "running" if info.running else ("stopped" if info.initialized else "not created")
    app.out.line(f"local cluster: {state}")
    if info.initialized:
        app.out.line(f"  data:    {info.datadir}")
        app.out.line(f"  version: PostgreSQL {info.server_version}"
                     + (f" (runs as {info.run_as})" if info.run_as else ""))
        app.out.line(f"  url:     {info.url}")


@local.command()
@pass_app
def start(app: AppContext) -> None:
    """Create (first time) and start the cluster, with a database named watoto."""
    from ..local import default_cluster

    _render(app, default_cluster().start())


@local.command()
@pass_app
def stop(app: AppContext) -> None:
    """Stop the cluster (fast shutdown)."""
    from ..local import default_cluster

    _render(app, default_cluster().stop())


@local.command(name="status")
@pass_app
def status_(app: AppContext) -> None:
    """Show whether the cluster exists and runs, and its URL."""
    from ..local import default_cluster

    _render(app, default_cluster().info())


@local.command()
@pass_app
def url(app: AppContext) -> None:
    """Print the cluster's connection URL (for --dsn, psql, WATOTO_DATABASE_URL)."""
    from ..local import default_cluster

    value = default_cluster().url()
    app.out.document({"url": value})
    if not app.out.as_json:
        click.echo(value)


@local.command()
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_app
def destroy(app: AppContext, yes: bool) -> None:
    """Stop the cluster and delete ./.watoto with all its data."""
    from ..local import default_cluster

    cluster = default_cluster()
    if not yes:
        click.confirm(f"Delete {cluster.root} and every database in it?", abort=True)
    cluster.destroy()
    app.out.document({"destroyed": str(cluster.root)})
    app.out.line(f"deleted {cluster.root}")
