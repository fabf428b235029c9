"""What the local cluster is made of: one server, a primary with streaming standbys, or a
pg_auto_failover formation; and what ``local status`` and ``local url`` say about it.

The shape is kept in ``topology.json`` next to the primary's data (``.watoto/``). A folder
without that file is a single server, as every earlier version of this tool made it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..errors import LocalClusterError
from .cluster import DEFAULT_DB, SUPERUSER, LocalCluster

TOPOLOGY_FILE = "topology.json"


@dataclass
class NodeSpec:
    """One server of the local cluster, as recorded (not as it is now)."""

    name: str
    path: str  # folder, relative to the cluster's root
    port: int = 0  # TCP port on 127.0.0.1 (pg_auto_failover nodes); 0: the folder's state
    pid: int | None = None  # the pg_autoctl supervisor running it (ha)


@dataclass
class Topology:
    """``mode``: ``single`` | ``replicas`` (streaming standbys) | ``ha`` (pg_auto_failover)."""

    mode: str = "single"
    standbys: list[NodeSpec] = field(default_factory=list)  # replicas mode
    nodes: list[NodeSpec] = field(default_factory=list)  # ha mode: every data node
    monitor: NodeSpec | None = None  # ha mode
    detection: str = "default"  # ha: "default" or "fast" failure detection
    replication: str = "sync"  # ha: "sync" (pg_auto_failover's default) or "async"

    @classmethod
    def load(cls, root: Path) -> Topology:
        path = root / TOPOLOGY_FILE
        if not path.is_file():
            return cls()
        raw = json.loads(path.read_text())
        raw["standbys"] = [NodeSpec(**n) for n in raw.get("standbys", [])]
        raw["nodes"] = [NodeSpec(**n) for n in raw.get("nodes", [])]
        raw["monitor"] = NodeSpec(**raw["monitor"]) if raw.get("monitor") else None
        return cls(**raw)

    def save(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        (root / TOPOLOGY_FILE).write_text(json.dumps(asdict(self), indent=2) + "\n")


@dataclass
class NodeStatus:
    """One server as ``local status`` shows it."""

    name: str
    role: str  # primary | standby | monitor | down
    host: str
    port: int | None
    running: bool
    state: str | None = None  # streaming state, or pg_auto_failover's reported state
    sync_state: str | None = None  # async | sync | quorum | potential
    lag_bytes: float | None = None  # replay lag behind the primary
    lag_seconds: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class ClusterStatus:
    """The whole local cluster: its shape, each node, and the URLs to reach it."""

    root: str
    mode: str
    initialized: bool
    running: bool
    nodes: list[NodeStatus]
    writer_url: str | None
    reader_url: str | None
    server_version: str | None


def multi_host_url(hosts: list[tuple[str, int]], dbname: str, attrs: str,
                   user: str = SUPERUSER) -> str:
    """A libpq URL naming every host; ``target_session_attrs`` picks the one to use.

    Socket folders (Unix sockets) go in the ``host`` parameter, since a path cannot sit in
    the URL's authority; TCP hosts go in the authority, where tools show them best.
    """
    if all(host.startswith("/") for host, _ in hosts):
        joined = ",".join(quote(host, safe="/") for host, _ in hosts)
        ports = ",".join(str(port) for _, port in hosts)
        return (f"postgresql://{quote(user)}@/{quote(dbname)}?host={joined}&port={ports}"
                f"&target_session_attrs={attrs}")
    authority = ",".join(f"{host}:{port}" for host, port in hosts)
    return f"postgresql://{quote(user)}@{authority}/{quote(dbname)}?target_session_attrs={attrs}"


def data_nodes(cluster: LocalCluster, topology: Topology) -> list[tuple[str, Path]]:
    """Every data node's name and data folder, the recorded primary first."""
    if topology.mode == "ha":
        return [(n.name, cluster.root / n.path / "pgdata") for n in topology.nodes]
    return [("primary", cluster.datadir),
            *((s.name, cluster.root / s.path / "pgdata") for s in topology.standbys)]


def host_list(cluster: LocalCluster, topology: Topology) -> list[tuple[str, int]]:
    """Every data node's (host, port), the recorded primary first."""
    if topology.mode == "ha":
        return [("127.0.0.1", node.port) for node in topology.nodes]
    hosts = []
    for member in [cluster, *(LocalCluster(cluster.root / s.path) for s in topology.standbys)]:
        state = member._state()
        if state is None:
            raise LocalClusterError(
                f"no local cluster in {cluster.root}: run `watoto-schema local start` first")
        hosts.append((state.socket_dir, state.port))
    return hosts


def writer_url(cluster: LocalCluster, dbname: str = DEFAULT_DB) -> str:
    """The URL that reaches whichever node is the primary now (a single URL when alone)."""
    topology = Topology.load(cluster.root)
    if topology.mode == "single":
        return cluster.url(dbname)
    return multi_host_url(host_list(cluster, topology), dbname, "read-write")


def reader_url(cluster: LocalCluster, dbname: str = DEFAULT_DB) -> str:
    """The URL for reads: a standby when one answers, else the primary."""
    topology = Topology.load(cluster.root)
    if topology.mode == "single":
        return cluster.url(dbname)
    return multi_host_url(host_list(cluster, topology), dbname, "prefer-standby")


def require_writer(cluster: LocalCluster, dbname: str = DEFAULT_DB) -> str:
    """The writer URL for ``--local``, or what to do when nothing runs."""
    topology = Topology.load(cluster.root)
    if topology.mode == "single":
        return cluster.require_running(dbname)
    from .cluster import postmaster_pid

    if all(postmaster_pid(folder) is None for _, folder in data_nodes(cluster, topology)):
        raise LocalClusterError(
            f"the local cluster in {cluster.root} is stopped: run `watoto-schema local start`")
    return writer_url(cluster, dbname)
