"""Asynchronous streaming standbys of the local primary: ``local start --replicas N``.

Each standby is a ``pg_basebackup -R`` copy of the primary in ``.watoto/replicaN``, with a
physical replication slot of its own on the primary (``watoto_replicaN``: the primary keeps
the WAL a stopped standby still needs) and ``application_name=replicaN``, the name
``pg_stat_replication`` shows. Nothing promotes a standby here: that is what ``--ha`` is for.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..errors import Refused
from .cluster import LocalCluster, _unprivileged_user
from .topology import NodeSpec, Topology


def slot_name(name: str) -> str:
    return f"watoto_{name}"


def standby_cluster(cluster: LocalCluster, spec: NodeSpec) -> LocalCluster:
    return LocalCluster(cluster.root / spec.path, fsync=cluster.fsync)


def ensure_standbys(cluster: LocalCluster, count: int | None) -> Topology:
    """Start the primary and ``count`` standbys (None: the ones recorded), creating or
    removing standbys to match. Idempotent; a removed standby's slot is dropped with it."""
    topology = Topology.load(cluster.root)
    if topology.mode == "ha":
        raise Refused(f"the local cluster in {cluster.root} is a pg_auto_failover formation: "
                      "`local start --ha` manages its nodes (or `local destroy` first)")
    cluster.start()
    wanted = len(topology.standbys) if count is None else count
    for spec in topology.standbys[wanted:]:
        remove_standby(cluster, spec)
    topology.standbys = topology.standbys[:wanted]
    for spec in topology.standbys:
        standby_cluster(cluster, spec).start(dbname=None)
    for i in range(len(topology.standbys) + 1, wanted + 1):
        spec = NodeSpec(name=f"replica{i}", path=f"replica{i}")
        # Record it first: a failed copy is then removed by `local destroy` or a re-run.
        topology.standbys.append(spec)
        topology.mode = "replicas"
        topology.save(cluster.root)
        create_standby(cluster, spec)
    topology.mode = "replicas" if topology.standbys else "single"
    topology.save(cluster.root)
    return topology


def create_standby(cluster: LocalCluster, spec: NodeSpec) -> None:
    """Copy the running primary with ``pg_basebackup -R`` and start the copy as a standby."""
    import psycopg

    standby = standby_cluster(cluster, spec)
    if standby.initialized:
        shutil.rmtree(standby.root)  # a copy that never finished
    state = cluster._state()
    assert state is not None
    with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
        conn.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                     "WHERE slot_name = %s AND NOT active", (slot_name(spec.name),))
        conn.execute("SELECT pg_create_physical_replication_slot(%s, true)",
                     (slot_name(spec.name),))
    user = _unprivileged_user()
    standby._prepare_dirs(user)
    standby._run([str(Path(state.bindir) / "pg_basebackup"), "-D", str(standby.datadir), "-R",
                  "-X", "stream", "-c", "fast", "-S", slot_name(spec.name),
                  "-d", f"host={state.socket_dir} port={state.port} user=postgres "
                        f"application_name={spec.name}"], user)
    standby.start(dbname=None)


def remove_standby(cluster: LocalCluster, spec: NodeSpec) -> None:
    """Stop a standby, drop its slot on the primary and delete its folder."""
    import psycopg

    standby = standby_cluster(cluster, spec)
    if standby.initialized:
        standby.stop()
    with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
        conn.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                     "WHERE slot_name = %s", (slot_name(spec.name),))
    shutil.rmtree(standby.root, ignore_errors=True)


def stop_standbys(cluster: LocalCluster, topology: Topology) -> None:
    for spec in topology.standbys:
        member = standby_cluster(cluster, spec)
        if member.initialized:
            member.stop()
