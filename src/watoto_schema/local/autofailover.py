"""A local pg_auto_failover formation: ``local start --ha``.

pg_auto_failover (``pg_autoctl``) runs a monitor (a PostgreSQL with the
``pgautofailover`` extension) and one keeper per data node; the monitor health-checks the
nodes and promotes a standby when the primary fails. No consensus store is needed. Every
node listens on 127.0.0.1 only, with ``trust`` for loopback connections (a developer's
cluster: any local account can reach it, no other machine can).

Layout under ``.watoto/``: ``monitor/pgdata``, ``node1/pgdata`` ... and ``autoctl/`` for
pg_autoctl's own configuration and state (its XDG folders, kept inside the cluster so
nothing lands in the server user's home). Each ``pg_autoctl run`` supervisor is started in
its own session and recorded by pid in ``topology.json``; it is stopped by that pid.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from ..errors import LocalClusterError, Refused
from .cluster import (
    LocalCluster,
    _unprivileged_user,
    find_bindir,
    free_port,
    postmaster_pid,
    process_alive,
)
from .topology import NodeSpec, Topology

# The monitor settings of the "fast" detection preset (milliseconds). pg_auto_failover's
# defaults: health checks every 5 s, unhealthy after 20 s, 30 s to wait for a demotion.
FAST_DETECTION = {
    "pgautofailover.health_check_period": "1000",
    "pgautofailover.health_check_timeout": "1000",
    "pgautofailover.health_check_max_retries": "1",
    "pgautofailover.health_check_retry_delay": "500",
    "pgautofailover.node_considered_unhealthy_timeout": "3000",
    "pgautofailover.primary_demote_timeout": "5000",
}
# Every node: loopback only and a developer machine's memory (pg_autoctl would size
# shared_buffers for a dedicated server and keep 8 GB of WAL for standbys).
NODE_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "shared_buffers": "128MB",
    "wal_keep_size": "512MB",
    "max_connections": "200",
}
MONITOR_DB = "pg_auto_failover"
STABLE_PRIMARY = {"primary", "wait_primary", "single"}


def _env(root: Path, bindir: Path, user: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(LC_ALL="C.UTF-8", PATH=f"{bindir}:{env.get('PATH', '/usr/bin:/bin')}",
               XDG_CONFIG_HOME=str(root / "autoctl" / "config"),
               XDG_DATA_HOME=str(root / "autoctl" / "share"),
               XDG_RUNTIME_DIR=str(root / "autoctl" / "run"))
    if user is not None:
        env["HOME"] = user.pw_dir
    return env


def _as_user(user: Any) -> dict[str, Any]:
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []} if user else {}


def _autoctl(root: Path, args: list[str], timeout: float = 180) -> str:
    """Run one ``pg_autoctl`` command to completion as the server user."""
    import shutil

    exe = shutil.which("pg_autoctl") or str(find_bindir() / "pg_autoctl")
    if not Path(exe).exists():
        raise LocalClusterError(
            "pg_autoctl not found: install pg_auto_failover (Debian: apt-get install "
            "postgresql-15-auto-failover)")
    user = _unprivileged_user()
    proc = subprocess.run([exe, *args], capture_output=True, text=True, errors="replace",
                          cwd=root, env=_env(root, find_bindir(), user), timeout=timeout,
                          **_as_user(user))
    if proc.returncode != 0:
        lines = [line for line in (proc.stderr or proc.stdout).splitlines()
                 if "ERROR" in line or "FATAL" in line] or (proc.stderr or proc.stdout
                                                             ).strip().splitlines()
        last = lines[-1].strip() if lines else f"exit status {proc.returncode}"
        raise LocalClusterError(f"pg_autoctl {args[0]} {args[1] if len(args) > 1 else ''}"
                                f" failed: {last}")
    return str(proc.stdout)


def _launch(root: Path, node: NodeSpec, args: list[str]) -> int:
    """Start a ``pg_autoctl`` supervisor in a session of its own; return its pid.

    It is not our child: a shell starts it in the background through ``setsid`` and exits,
    so init reaps it when it dies (a child of a long-lived caller, such as a test run,
    would stay a zombie that pg_autoctl's own pidfile check takes for a running keeper).
    """
    import shutil

    exe = shutil.which("pg_autoctl") or str(find_bindir() / "pg_autoctl")
    user = _unprivileged_user()
    log = root / node.path / "pg_autoctl.log"
    proc = subprocess.run(
        ["/bin/sh", "-c", 'log="$1"; shift; setsid "$@" >>"$log" 2>&1 </dev/null & echo $!',
         "sh", str(log), exe, *args],
        capture_output=True, text=True, cwd=root, env=_env(root, find_bindir(), user),
        check=True, **_as_user(user))
    return int(proc.stdout.strip())


def _append_settings(pgdata: Path, settings: dict[str, str]) -> None:
    lines = "".join(f"{k} = '{v}'\n" for k, v in settings.items())
    with (pgdata / "postgresql.auto.conf").open("a") as auto:
        auto.write("# watoto-schema: a local formation's settings\n" + lines)


def monitor_url(topology: Topology) -> str:
    assert topology.monitor is not None
    return f"postgresql://autoctl_node@127.0.0.1:{topology.monitor.port}/{MONITOR_DB}"


def formation_state(topology: Topology) -> list[dict[str, Any]]:
    """The monitor's view of every node (empty when the monitor does not answer)."""
    import psycopg
    from psycopg.rows import dict_row

    try:
        with psycopg.connect(monitor_url(topology), connect_timeout=2,
                             row_factory=dict_row) as conn:
            return conn.execute(
                "SELECT nodeid, nodename, nodeport, reportedstate::text AS reported, "
                "goalstate::text AS assigned, health, reportedlsn::text AS lsn, "
                "replicationquorum, candidatepriority FROM pgautofailover.node "
                "ORDER BY nodeid").fetchall()
    except psycopg.Error:
        return []


def _wait_stable(topology: Topology, want: int, timeout: float,
                 checkpoint_port: int | None = None) -> None:
    """Wait until one primary and ``want - 1`` secondaries have reached their goal states.

    While a standby is being copied, an immediate CHECKPOINT on the primary spares its
    ``pg_basebackup`` the wait for a spread one (minutes on an idle server).
    """
    import psycopg

    deadline = time.monotonic() + timeout
    last: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        last = formation_state(topology)
        primaries = [n for n in last if n["reported"] in STABLE_PRIMARY
                     and n["reported"] == n["assigned"]]
        secondaries = [n for n in last if n["reported"] == "secondary" == n["assigned"]]
        if len(last) >= want and len(primaries) == 1 and len(secondaries) == want - 1 \
                and (want == 1 or primaries[0]["reported"] == "primary") \
                and all(_answers(n["nodeport"]) for n in last[:want]):
            return  # (the monitor's view survives a restart: the nodes must answer too)
        copying = any(n["assigned"] in ("catchingup", "wait_standby") for n in last)
        if copying and primaries:
            try:
                with psycopg.connect(f"postgresql://postgres@127.0.0.1:"
                                     f"{primaries[0]['nodeport']}/postgres",
                                     connect_timeout=2, autocommit=True) as conn:
                    conn.execute("CHECKPOINT")
            except psycopg.Error:
                pass
        time.sleep(1.0)
    states = ", ".join(f"{n['nodename']} {n['reported']}->{n['assigned']}" for n in last)
    raise LocalClusterError(f"the formation did not settle within {timeout:g}s"
                            f" ({states or 'monitor not answering'}); see each node's "
                            "pg_autoctl.log under .watoto/")


def _answers(port: int) -> bool:
    import psycopg

    try:
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres",
                             connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def start_formation(cluster: LocalCluster, replicas: int | None, *, detection: str | None,
                    replication: str | None, timeout: float = 180) -> Topology:
    """Create (first time) or restart the formation: a monitor, a primary, ``replicas``
    standbys. Idempotent; returns once the nodes have settled."""
    root = cluster.root
    topology = Topology.load(root)
    if replicas == 0:
        raise LocalClusterError("--ha needs at least one standby to fail over to "
                                "(--replicas 1-3)")
    if topology.mode != "ha" and (cluster.initialized or topology.mode != "single"):
        raise Refused(f"{root} holds a cluster started without --ha: its data stays; "
                      "`local destroy` it first to build a pg_auto_failover formation there")
    if topology.mode == "ha":
        if replicas is not None and replicas != len(topology.nodes) - 1:
            raise Refused(f"the formation has {len(topology.nodes) - 1} standbys; changing "
                          "that is not supported here: `local destroy`, then start again")
        if (detection and detection != topology.detection) or (
                replication and replication != topology.replication):
            raise Refused("detection and replication are chosen when the formation is "
                          f"created (now {topology.detection}, {topology.replication}): "
                          "`local destroy`, then start again")
        return _restart(cluster, topology, timeout)
    return _create(cluster, replicas if replicas is not None else 1,
                   detection or "default", replication or "sync", timeout)


def _create(cluster: LocalCluster, replicas: int, detection: str, replication: str,
            timeout: float) -> Topology:
    root = cluster.root
    user = _unprivileged_user()
    bindir = find_bindir()
    topology = Topology(mode="ha", detection=detection, replication=replication,
                        monitor=NodeSpec("monitor", "monitor", free_port()),
                        nodes=[NodeSpec(f"node{i}", f"node{i}", free_port())
                               for i in range(1, replicas + 2)])
    root.mkdir(parents=True, exist_ok=True)
    for spec in [topology.monitor, *topology.nodes]:
        assert spec is not None
        (root / spec.path).mkdir(exist_ok=True)
    for sub in ("config", "share", "run"):
        (root / "autoctl" / sub).mkdir(parents=True, exist_ok=True)
    if user is not None:
        for path in [root, *root.rglob("*")]:
            os.lchown(path, user.pw_uid, user.pw_gid)
    os.chmod(root / "autoctl" / "run", 0o700)
    topology.save(root)
    pgctl = str(bindir / "pg_ctl")
    monitor = topology.monitor
    assert monitor is not None
    _autoctl(root, ["create", "monitor", "--pgdata", str(root / monitor.path / "pgdata"),
                    "--pgport", str(monitor.port), "--pgctl", pgctl, "--hostname", "127.0.0.1",
                    "--auth", "trust", "--no-ssl"])
    settings = {"listen_addresses": "127.0.0.1", "shared_buffers": "64MB"}
    if detection == "fast":
        settings.update(FAST_DETECTION)
    _append_settings(root / monitor.path / "pgdata", settings)
    monitor.pid = _launch(root, monitor, ["run", "--pgdata",
                                          str(root / monitor.path / "pgdata")])
    topology.save(root)
    _wait_monitor(topology, timeout)
    # The first node from our own initdb, so its settings (loopback, memory) are in place
    # before it first starts; the standbys' pg_basebackup copies them.
    first = topology.nodes[0]
    first_pgdata = root / first.path / "pgdata"
    args = [str(bindir / "initdb"), "-D", str(first_pgdata), "-U", "postgres",
            "--auth-local=trust", "--auth-host=trust", "--encoding=UTF8", "--locale=C.UTF-8"]
    if not cluster.fsync:
        args.append("--no-sync")
    cluster._run(args, user)
    node_settings = dict(NODE_SETTINGS)
    if not cluster.fsync:
        node_settings.update(fsync="off", full_page_writes="off")
    _append_settings(first_pgdata, node_settings)
    for index, node in enumerate(topology.nodes):
        node.pid = _launch(root, node, [
            "create", "postgres", "--pgdata", str(root / node.path / "pgdata"),
            "--pgport", str(node.port), "--pgctl", pgctl, "--listen", "127.0.0.1",
            "--hostname", "127.0.0.1", "--name", node.name, "--dbname", "watoto",
            "--username", "postgres", "--monitor", monitor_url(topology) + "?sslmode=disable",
            "--auth", "trust", "--no-ssl", "--run"])
        topology.save(root)
        _wait_stable(topology, index + 1, timeout)
    if replication == "async":
        for node in topology.nodes[1:]:
            _autoctl(root, ["set", "node", "replication-quorum", "false", "--pgdata",
                            str(root / node.path / "pgdata")])
    return topology


def _wait_monitor(topology: Topology, timeout: float) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(monitor_url(topology), connect_timeout=2) as conn:
                conn.execute("SELECT 1 FROM pgautofailover.node LIMIT 1")
                return
        except psycopg.Error as exc:
            if time.monotonic() > deadline:
                raise LocalClusterError(f"the pg_auto_failover monitor did not start: "
                                        f"{exc}") from None
            time.sleep(0.3)


def _restart(cluster: LocalCluster, topology: Topology, timeout: float) -> Topology:
    root = cluster.root
    monitor = topology.monitor
    assert monitor is not None
    for spec in [monitor, *topology.nodes]:
        if spec.pid is None or not process_alive(spec.pid):
            _remove_stale_pidfile(root, spec)
            spec.pid = _launch(root, spec, ["run", "--pgdata", str(root / spec.path / "pgdata")])
            topology.save(root)
        if spec is monitor:
            _wait_monitor(topology, timeout)
    _wait_stable(topology, len(topology.nodes), timeout)
    return topology


def _remove_stale_pidfile(root: Path, spec: NodeSpec) -> None:
    """Delete the pidfile of a supervisor that was killed: while its process is a zombie
    (its parent has not reaped it yet), a new ``pg_autoctl run`` takes it for running."""
    pgdata = (root / spec.path / "pgdata").absolute()
    pidfile = root / "autoctl" / "run" / "pg_autoctl" / str(pgdata).lstrip("/") / \
        "pg_autoctl.pid"
    try:
        pid = int(pidfile.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return
    if not process_alive(pid):
        pidfile.unlink(missing_ok=True)


def stop_formation(cluster: LocalCluster, topology: Topology, timeout: float = 60) -> None:
    """Stop every supervisor (fast shutdown of its PostgreSQL): the standbys, then the
    primary (so the monitor sees no primary vanish while a standby could replace it), then
    the monitor."""
    primary = _primary_name(topology)
    order = sorted(topology.nodes, key=lambda n: n.name == primary)
    for spec in [*order, topology.monitor]:
        if spec is None or spec.pid is None:
            continue
        _stop_pid(spec.pid, timeout)
        pgdata = cluster.root / spec.path / "pgdata"
        leftover = postmaster_pid(pgdata)
        if leftover is not None:  # a postmaster whose supervisor had been killed
            os.kill(leftover, signal.SIGINT)
            _wait_gone(leftover, timeout)
        spec.pid = None
    topology.save(cluster.root)


def _stop_pid(pid: int, timeout: float) -> None:
    if not process_alive(pid):
        return
    try:
        os.kill(pid, signal.SIGINT)  # pg_autoctl: fast shutdown
    except ProcessLookupError:
        return
    if not _wait_gone(pid, timeout):
        os.killpg(pid, signal.SIGKILL)
        _wait_gone(pid, 10)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while process_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def kill_node(cluster: LocalCluster, topology: Topology, name: str) -> dict[str, Any]:
    """SIGKILL a node's supervisor and its PostgreSQL, the way a crashed machine stops."""
    spec = next((n for n in [*topology.nodes, topology.monitor] if n and n.name == name), None)
    if spec is None:
        known = ", ".join(n.name for n in [*topology.nodes, topology.monitor] if n)
        raise LocalClusterError(f"no node {name!r} in the local formation (nodes: {known})")
    killed = []
    if spec.pid is not None and process_alive(spec.pid):
        os.killpg(spec.pid, signal.SIGKILL)
        killed.append(spec.pid)
    postmaster = postmaster_pid(cluster.root / spec.path / "pgdata")
    if postmaster is not None:
        os.kill(postmaster, signal.SIGKILL)
        killed.append(postmaster)
    for pid in killed:
        _wait_gone(pid, 10)
    return {"node": name, "killed_pids": killed}


def switchover(cluster: LocalCluster, topology: Topology, timeout: float = 120) -> str:
    """Planned switchover through the monitor; returns the new primary's name."""
    before = _primary_name(topology)
    if before is None:
        raise LocalClusterError("the monitor reports no primary: nothing to switch over")
    _autoctl(cluster.root, ["perform", "switchover", "--pgdata",
                            str(cluster.root / topology.nodes[0].path / "pgdata"),
                            "--wait", str(int(timeout))], timeout=timeout + 30)
    deadline = time.monotonic() + timeout
    while True:
        after = _primary_name(topology, settled=True)
        if after is not None and after != before:
            return after
        if time.monotonic() > deadline:
            raise LocalClusterError(f"switchover did not settle within {timeout:g}s "
                                    f"({before} was the primary)")
        time.sleep(0.5)


def _primary_name(topology: Topology, settled: bool = False) -> str | None:
    """The node the monitor reports as primary (``settled``: and assigned so)."""
    for node in formation_state(topology):
        if node["reported"] in STABLE_PRIMARY and (
                not settled or node["assigned"] == node["reported"]):
            return str(node["nodename"])
    return None
