"""``local start|stop|status|url|kill|switchover|drill|destroy``: the embedded cluster in
./.watoto: one server, streaming standbys, or a pg_auto_failover formation."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import click

from .context import AppContext

pass_app = click.make_pass_decorator(AppContext)


@click.group()
def local() -> None:
    """Manage the embedded PostgreSQL cluster in ./.watoto (one server, standbys, or HA)."""


def _lag(node: Any) -> str:
    if node.lag_bytes is None:
        return "-"
    return f"{int(node.lag_bytes)} B / {node.lag_seconds or 0:.1f}s"


def _render(app: AppContext, status: Any, pooler: dict[str, Any] | None = None) -> None:
    from ..local import ClusterStatus

    assert isinstance(status, ClusterStatus)
    doc = asdict(status)
    # The keys of a single server's report, kept for scripts written against them.
    primary = next((n for n in status.nodes if n.role == "primary"), None)
    doc.update(datadir=f"{status.root}/pgdata" if status.mode != "ha" else None,
               port=primary.port if primary else None, url=status.writer_url)
    if pooler is not None:
        doc["pgbouncer"] = pooler
    app.out.document(doc)
    state = "running" if status.running else ("stopped" if status.initialized
                                              else "not created")
    shape = {"single": "", "replicas": " (primary + streaming standbys)",
             "ha": " (pg_auto_failover formation)"}[status.mode]
    app.out.line(f"local cluster{shape}: {state}")
    if not status.initialized:
        return
    if status.server_version:
        app.out.line(f"  version: PostgreSQL {status.server_version}")
    app.out.line(f"  writer:  {status.writer_url}")
    if pooler is not None:
        app.out.line(f"  pgbouncer ({pooler['pool_mode']} pooling, pid {pooler['pid']}): "
                     f"{pooler['url']}")
        app.out.line(f"             {pooler['pool_size']} server connections for up to "
                     f"{pooler['max_client_conn']:,} clients")
    if status.mode != "single":
        app.out.line(f"  readers: {status.reader_url}")
        app.out.table(None, ["node", "role", "port", "state", "sync", "replay lag"],
                      [[n.name, n.role, str(n.port or "-"), n.state or "-",
                        n.sync_state or "-", _lag(n)] for n in status.nodes])


@local.command()
@click.option("--replicas", type=click.IntRange(0, 3), default=None,
              help="Streaming standbys beside the primary (0-3; default: as before, "
                   "1 with --ha).")
@click.option("--ha", is_flag=True,
              help="Run the nodes under pg_auto_failover (a monitor promotes a standby when "
                   "the primary fails). Chosen when the cluster is created.")
@click.option("--detection", type=click.Choice(["default", "fast"]), default=None,
              help="--ha: pg_auto_failover's failure detection, its own defaults or the fast "
                   "preset (docs/high-availability.md).")
@click.option("--replication", type=click.Choice(["sync", "async"]), default=None,
              help="--ha: commits wait for a standby (sync, pg_auto_failover's default) or "
                   "not (async: a failover can lose the last ones).")
@click.option("--pgbouncer", "with_pgbouncer", is_flag=True,
              help="Also start PgBouncer (transaction pooling) in front of the primary, on a "
                   "free port: `local url --pgbouncer` gives its URL. Not for migrate or "
                   "maintain, which refuse it.")
@pass_app
def start(app: AppContext, replicas: int | None, ha: bool, detection: str | None,
          replication: str | None, with_pgbouncer: bool) -> None:
    """Create (first time) and start the cluster, with a database named watoto."""
    from ..local import default_cluster
    from ..local import start as start_cluster

    cluster = default_cluster()
    status = start_cluster(cluster, replicas=replicas, ha=ha, detection=detection,
                           replication=replication)
    pooler = None
    if with_pgbouncer:
        if status.mode == "ha":
            from ..errors import Refused

            raise Refused("--pgbouncer fronts a single primary; a pg_auto_failover formation "
                          "moves it: run PgBouncer per node yourself (docs/loadtest.md)")
        from ..local import pgbouncer

        pooler = pgbouncer.as_dict(pgbouncer.start(cluster))
    _render(app, status, pooler)


@local.command()
@pass_app
def stop(app: AppContext) -> None:
    """Stop every node (fast shutdown)."""
    from ..local import default_cluster
    from ..local import stop as stop_cluster

    _render(app, stop_cluster(default_cluster()))


@local.command(name="status")
@pass_app
def status_(app: AppContext) -> None:
    """Show every node: role, port, state, replay lag; and the URLs."""
    from ..local import cluster_status, default_cluster

    _render(app, cluster_status(default_cluster()))


@local.command()
@click.option("--readers", is_flag=True,
              help="The URL for reads: a standby when one answers (prefer-standby).")
@click.option("--pgbouncer", "via_pgbouncer", is_flag=True,
              help="The URL of PgBouncer (started by `local start --pgbouncer`).")
@pass_app
def url(app: AppContext, readers: bool, via_pgbouncer: bool) -> None:
    """Print the cluster's connection URL (for --dsn, psql, WATOTO_DATABASE_URL).

    With standbys it names every node: target_session_attrs=read-write finds the primary
    wherever it is now; --readers gives prefer-standby.
    """
    from ..local import default_cluster, reader_url, writer_url

    if via_pgbouncer:
        from ..errors import LocalClusterError
        from ..local import pgbouncer

        pooler = pgbouncer.info(default_cluster())
        if pooler.url is None:
            raise LocalClusterError("PgBouncer is not running: `local start --pgbouncer`")
        value = pooler.url
    else:
        value = (reader_url if readers else writer_url)(default_cluster())
    app.out.document({"url": value})
    if not app.out.as_json:
        click.echo(value)


@local.command()
@click.argument("node")
@pass_app
def kill(app: AppContext, node: str) -> None:
    """SIGKILL one node (primary, replicaN; nodeN, monitor with --ha), for drills."""
    from ..local import default_cluster
    from ..local import kill as kill_node

    result = kill_node(default_cluster(), node)
    app.out.document(result)
    app.out.line(f"killed {node}" if result["killed_pids"] else f"{node} was not running")


@local.command()
@pass_app
def switchover(app: AppContext) -> None:
    """Planned switchover (--ha): a standby becomes the primary, the old primary a standby."""
    from ..local import default_cluster
    from ..local import switchover as perform

    new_primary = perform(default_cluster())
    app.out.document({"primary": new_primary})
    app.out.line(f"switchover done: {new_primary} is the primary")


@local.command()
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_app
def destroy(app: AppContext, yes: bool) -> None:
    """Stop every node and delete ./.watoto with all its data."""
    from ..local import default_cluster
    from ..local import destroy as destroy_cluster

    cluster = default_cluster()
    if not yes:
        click.confirm(f"Delete {cluster.root} and every database in it?", abort=True)
    destroy_cluster(cluster)
    app.out.document({"destroyed": str(cluster.root)})
    app.out.line(f"deleted {cluster.root}")


@local.group()
def drill() -> None:
    """Drills on the local cluster (they break it on purpose; local clusters only)."""


@drill.command()
@click.option("--writes-per-second", type=click.FloatRange(min=1, max=1000), default=50,
              show_default=True, help="Rate of the writer's sequence-numbered inserts.")
@click.option("--timeout", type=click.FloatRange(min=1), default=120, show_default=True,
              help="Seconds to wait for writes to succeed again after the kill.")
@click.option("--no-rejoin", is_flag=True, help="Leave the killed node down afterwards.")
@pass_app
def failover(app: AppContext, writes_per_second: float, timeout: float,
             no_rejoin: bool) -> None:
    """Kill the primary under writes; report recovery time and lost acknowledged rows.

    Exit 2 when acknowledged rows were lost, writes did not come back within --timeout, or
    the killed node did not rejoin as a standby.
    Refused (exit 3) on anything but the local --ha formation in ./.watoto.
    """
    from ..errors import FailoverFinding, Refused
    from ..local import default_cluster
    from ..local.drill import failover_drill

    if app.dsn is not None:
        raise Refused("the failover drill kills a primary: it runs only on the local --ha "
                      "cluster in ./.watoto, never on a --dsn target")
    report = failover_drill(default_cluster(), writes_per_second=writes_per_second,
                            timeout=timeout, rejoin=not no_rejoin, on_event=app.out.note)
    app.out.document(asdict(report))
    recovery = (f"{report.recovery_seconds:.1f}s" if report.recovery_seconds is not None
                else f"not within {timeout:g}s")
    app.out.line(f"failover drill ({report.detection} detection, {report.replication} "
                 f"replication): {report.old_primary} killed, "
                 f"{report.new_primary or 'no node'} took over")
    app.out.line(f"  recovery time (kill to first successful write): {recovery}")
    app.out.line(f"  acknowledged writes: {report.acknowledged}, lost: {len(report.lost)}"
                 + (f" (seq {', '.join(map(str, report.lost[:10]))}"
                    f"{' ...' if len(report.lost) > 10 else ''})" if report.lost else ""))
    app.out.line(f"  in doubt (failed with the connection): {report.in_doubt}, of which "
                 f"{report.in_doubt_present} reached the new primary")
    if report.rejoin_seconds is not None:
        app.out.line(f"  {report.old_primary} rejoined as a standby in "
                     f"{report.rejoin_seconds:.1f}s")
    if report.recovery_seconds is None:
        raise FailoverFinding(f"writes did not succeed again within {timeout:g}s of killing "
                              f"{report.old_primary}")
    if report.rejoin_error is not None:
        app.out.line(f"  {report.old_primary} did not rejoin: {report.rejoin_error}")
    if report.lost:
        raise FailoverFinding(f"{len(report.lost)} acknowledged write(s) lost by the "
                              f"failover ({report.replication} replication)")
    if report.rejoin_error is not None:
        raise FailoverFinding(f"{report.old_primary} did not rejoin as a standby: "
                              f"{report.rejoin_error}")
