"""``local status``: every node of the local cluster, its role, state and replay lag."""

from __future__ import annotations

from typing import Any

from ..resources import sql_text
from .cluster import LocalCluster, postmaster_pid
from .topology import (
    ClusterStatus,
    NodeStatus,
    Topology,
    data_nodes,
    host_list,
    multi_host_url,
)


def _query(url: str, sql: str) -> list[dict[str, Any]] | None:
    import psycopg

    from ..target import dict_rows

    try:
        with psycopg.connect(url, connect_timeout=2, autocommit=True) as conn:
            return dict_rows(conn, sql)
    except psycopg.Error:
        return None


def _node_url(host: str, port: int) -> str:
    if host.startswith("/"):
        return f"postgresql://postgres@/postgres?host={host}&port={port}"
    return f"postgresql://postgres@{host}:{port}/postgres"


def cluster_status(cluster: LocalCluster) -> ClusterStatus:
    """Ask each node what it is now (a promoted standby says primary)."""
    topology = Topology.load(cluster.root)
    if topology.mode == "single":
        info = cluster.info()
        single: list[NodeStatus] = []
        if info.initialized:
            state = cluster._state()
            single.append(NodeStatus("primary", "primary" if info.running else "down",
                                    state.socket_dir if state else "", info.port,
                                    info.running))
        return ClusterStatus(str(cluster.root), "single", info.initialized, info.running,
                             single, info.url, info.url, info.server_version)

    names = [name for name, _ in data_nodes(cluster, topology)]
    folders = [folder for _, folder in data_nodes(cluster, topology)]
    try:
        hosts = host_list(cluster, topology)
    except Exception:  # noqa: BLE001 - a folder without state: report it as not created
        hosts = [("", 0)] * len(names)
    monitor_view: dict[str, dict[str, Any]] = {}
    if topology.mode == "ha":
        from .autofailover import formation_state

        monitor_view = {str(n["nodename"]): n for n in formation_state(topology)}

    nodes: list[NodeStatus] = []
    for name, folder, (host, port) in zip(names, folders, hosts, strict=True):
        running = postmaster_pid(folder) is not None
        role = "down"
        if running:
            rows = _query(_node_url(host, port), "SELECT pg_is_in_recovery() AS standby")
            role = "unreachable" if not rows else ("standby" if rows[0]["standby"]
                                                   else "primary")
        node = NodeStatus(name, role, host, port or None, running)
        view = monitor_view.get(name)
        if view is not None:
            node.state = f"{view['reported']}" + (
                f" -> {view['assigned']}" if view["assigned"] != view["reported"] else "")
            node.detail = {"health": view["health"], "lsn": view["lsn"],
                           "replication_quorum": view["replicationquorum"],
                           "candidate_priority": view["candidatepriority"],
                           "node_id": view["nodeid"]}
        nodes.append(node)

    primary = next((n for n in nodes if n.role == "primary"), None)
    if primary is not None:
        rows = _query(_node_url(primary.host, primary.port or 0),
                      sql_text("health/replication_primary.sql")) or []
        by_app = {str(r["standby"]): r for r in rows}
        for node in nodes:
            if node.role != "standby":
                continue
            app = node.name
            if topology.mode == "ha":
                app = f"pgautofailover_standby_{node.detail.get('node_id')}"
            row = by_app.get(app)
            if row is None:
                node.state = node.state or "not streaming"
                continue
            if topology.mode != "ha":
                node.state = str(row["state"])
            node.sync_state = str(row["sync_state"])
            node.lag_bytes = float(row["replay_bytes"]) if row["replay_bytes"] is not None \
                else None
            node.lag_seconds = float(row["replay_seconds"] or 0)
        if topology.mode != "ha":
            primary.state = "primary"
    if topology.monitor is not None:
        mon = topology.monitor
        running = postmaster_pid(cluster.root / mon.path / "pgdata") is not None
        nodes.append(NodeStatus("monitor", "monitor", "127.0.0.1", mon.port, running,
                                state="running" if running else "down"))
    version_file = folders[0] / "PG_VERSION"
    version = version_file.read_text().strip() if version_file.is_file() else None
    data_hosts = [(h, p) for h, p in hosts if p]
    writer = multi_host_url(data_hosts, "watoto", "read-write") if data_hosts else None
    reader = multi_host_url(data_hosts, "watoto", "prefer-standby") if data_hosts else None
    return ClusterStatus(str(cluster.root), topology.mode, True,
                         any(n.running for n in nodes if n.role != "monitor"), nodes, writer,
                         reader, version)
