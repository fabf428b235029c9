"""The embedded local PostgreSQL cluster: one server, streaming standbys, or a
pg_auto_failover formation, all in ``.watoto/`` (a temporary folder for the tests).

``cluster``: one server from the machine's binaries; ``streaming``: standbys for
``--replicas N``; ``autofailover``: the ``--ha`` formation; ``topology``: which of them a
folder holds and the URLs that reach it; ``status``: what each node is now; ``drill``:
the failover drill.
"""

from __future__ import annotations

from typing import Any

from ..errors import LocalClusterError, Refused
from .cluster import (
    DEFAULT_DB,
    SUPERUSER,
    ClusterInfo,
    LocalCluster,
    default_cluster,
    find_bindir,
    free_port,
    postmaster_pid,
    process_alive,
)
from .status import cluster_status
from .topology import ClusterStatus, NodeStatus, Topology, reader_url, require_writer, writer_url

__all__ = [
    "DEFAULT_DB", "SUPERUSER", "ClusterInfo", "ClusterStatus", "LocalCluster", "NodeStatus",
    "Topology", "cluster_status", "default_cluster", "destroy", "find_bindir", "free_port",
    "kill", "postmaster_pid", "process_alive", "reader_url", "require_writer", "start",
    "stop", "switchover", "writer_url",
]


def start(cluster: LocalCluster, *, replicas: int | None = None, ha: bool = False,
          detection: str | None = None, replication: str | None = None) -> ClusterStatus:
    """Create (first time) and start the cluster in the shape asked; idempotent.

    Without ``ha``: the primary and ``replicas`` streaming standbys (None: as recorded).
    With ``ha`` (or on a folder that holds a formation): pg_auto_failover's monitor and
    nodes. ``detection``/``replication`` apply to a formation being created.
    """
    topology = Topology.load(cluster.root)
    if ha or topology.mode == "ha":
        from .autofailover import start_formation

        start_formation(cluster, replicas, detection=detection, replication=replication)
    else:
        if detection or replication:
            raise LocalClusterError("--detection and --replication apply to --ha formations")
        if replicas is None and topology.mode == "single":
            cluster.start()
        else:
            from .streaming import ensure_standbys

            ensure_standbys(cluster, replicas)
    return cluster_status(cluster)


def stop(cluster: LocalCluster) -> ClusterStatus:
    """Stop every node (fast shutdown), standbys before the primary, the monitor last;
    PgBouncer, when ``start --pgbouncer`` started it, before all of them."""
    from . import pgbouncer

    pgbouncer.stop(cluster)
    topology = Topology.load(cluster.root)
    if topology.mode == "ha":
        from .autofailover import stop_formation

        stop_formation(cluster, topology)
    else:
        from .streaming import stop_standbys

        stop_standbys(cluster, topology)
        cluster.stop()
    return cluster_status(cluster)


def destroy(cluster: LocalCluster) -> None:
    """Stop every node (and PgBouncer) and delete the whole folder."""
    from . import pgbouncer

    pgbouncer.stop(cluster)
    topology = Topology.load(cluster.root)
    if topology.mode != "single" or cluster.initialized:
        stop(cluster)
    cluster.destroy()


def kill(cluster: LocalCluster, node: str) -> dict[str, Any]:
    """SIGKILL one node (for drills): its PostgreSQL and, in a formation, its keeper."""
    topology = Topology.load(cluster.root)
    if topology.mode == "ha":
        from .autofailover import kill_node

        return kill_node(cluster, topology, node)
    members = {"primary": cluster}
    from .streaming import standby_cluster

    members.update({s.name: standby_cluster(cluster, s) for s in topology.standbys})
    if not cluster.initialized:
        raise LocalClusterError(f"no local cluster in {cluster.root}")
    if node not in members:
        raise LocalClusterError(f"no node {node!r} in the local cluster "
                                f"(nodes: {', '.join(members)})")
    pid = members[node].kill()
    return {"node": node, "killed_pids": [pid] if pid else []}


def switchover(cluster: LocalCluster) -> str:
    """Make a standby the primary, the old primary its standby; returns the new primary."""
    topology = Topology.load(cluster.root)
    if topology.mode != "ha":
        raise Refused("switchover needs a failover manager to repoint the other nodes: "
                      "start the local cluster with `local start --ha`")
    from .autofailover import switchover as perform

    return perform(cluster, topology)
