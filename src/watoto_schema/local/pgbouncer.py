"""PgBouncer in front of the embedded cluster: transaction pooling for many clients.

``local start --pgbouncer`` writes ``.watoto/pgbouncer/pgbouncer.ini`` and starts the
machine's PgBouncer (Debian ``pgbouncer``) with it, daemonised, as the account the server
runs as (PgBouncer refuses root too). It listens on a Unix socket in that folder, on a
free port, and sends every database to the cluster's socket. ``local stop`` and ``local
destroy`` stop it by the pid in its pidfile, nothing else.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import quote

from ..errors import LocalClusterError
from ..limits import SPARE, open_files, raise_open_files
from .cluster import DEFAULT_DB, SUPERUSER, LocalCluster, _unprivileged_user, free_port

FOLDER = "pgbouncer"
STATE_FILE = "pgbouncer.json"
POOL_MODE = "transaction"
# Sized for `loadtest --users 10000` (#21): ten thousand clients and a fifth more.
MAX_CLIENT_CONN = 12_000
# Connections a client may have queued to be accepted (the kernel caps it at somaxconn).
LISTEN_BACKLOG = 4096


@dataclass
class PoolerInfo:
    """What ``local start --pgbouncer`` and ``local url --pgbouncer`` report."""

    running: bool
    pid: int | None
    port: int | None
    socket_dir: str | None
    url: str | None
    pool_mode: str = POOL_MODE
    pool_size: int = 0
    max_client_conn: int = 0


def find_pgbouncer() -> Path:
    """The PgBouncer binary: on PATH, else Debian's /usr/sbin/pgbouncer."""
    found = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer"
                                          if Path("/usr/sbin/pgbouncer").is_file() else None)
    if found is None:
        raise LocalClusterError("pgbouncer not found: install it (Debian: apt-get install "
                                "pgbouncer)")
    return Path(found)


def _folder(cluster: LocalCluster) -> Path:
    return cluster.root / FOLDER


def _pid(cluster: LocalCluster) -> int | None:
    """The pid in PgBouncer's pidfile when that process is alive."""
    from .cluster import process_alive

    pidfile = _folder(cluster) / "pgbouncer.pid"
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if process_alive(pid) else None


def info(cluster: LocalCluster, dbname: str = DEFAULT_DB) -> PoolerInfo:
    """PgBouncer's state for this cluster folder (not running when never started)."""
    path = _folder(cluster) / STATE_FILE
    if not path.is_file():
        return PoolerInfo(False, None, None, None, None)
    recorded = json.loads(path.read_text())
    pid = _pid(cluster)
    port, socket_dir = recorded["port"], recorded["socket_dir"]
    url = (f"postgresql://{SUPERUSER}@/{quote(dbname)}?host={quote(socket_dir)}&port={port}"
           if pid else None)
    return PoolerInfo(pid is not None, pid, port, socket_dir, url, POOL_MODE,
                      recorded["pool_size"], recorded["max_client_conn"])


def start(cluster: LocalCluster, *, pool_size: int | None = None,
          max_client_conn: int | None = None) -> PoolerInfo:
    """Start PgBouncer in transaction pooling in front of the running cluster; idempotent.

    ``pool_size`` server connections per database and user serve up to
    ``max_client_conn`` clients; by default both are sized by ``sizing`` for 10,000
    concurrent users (``loadtest --users``), and PgBouncer inherits the open-file limit
    raised to the hard limit.
    """
    current = info(cluster)
    if current.running:
        return current
    if not cluster.running():
        raise LocalClusterError("the local cluster is not running: `local start` it first")
    state = cluster._state()
    assert state is not None
    binary = find_pgbouncer()
    if pool_size is None or max_client_conn is None:
        sized_pool, sized_clients = sizing(cluster)
        pool_size = sized_pool if pool_size is None else pool_size
        max_client_conn = sized_clients if max_client_conn is None else max_client_conn
    raise_open_files(max_client_conn + pool_size + SPARE)
    user = _unprivileged_user()
    folder = _folder(cluster)
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    (folder / "userlist.txt").write_text(f'"{SUPERUSER}" ""\n')
    (folder / "pgbouncer.ini").write_text(
        "; written by `watoto-schema local start --pgbouncer`\n"
        "[databases]\n"
        f"* = host={state.socket_dir} port={state.port}\n"
        "\n[pgbouncer]\n"
        "listen_addr =\n"
        f"listen_port = {port}\n"
        f"unix_socket_dir = {folder}\n"
        "auth_type = trust\n"
        f"auth_file = {folder / 'userlist.txt'}\n"
        f"admin_users = {SUPERUSER}\n"
        f"pool_mode = {POOL_MODE}\n"
        f"default_pool_size = {pool_size}\n"
        f"max_client_conn = {max_client_conn}\n"
        f"max_db_connections = {pool_size}\n"
        f"listen_backlog = {LISTEN_BACKLOG}\n"
        "ignore_startup_parameters = extra_float_digits,options\n"
        f"logfile = {folder / 'pgbouncer.log'}\n"
        f"pidfile = {folder / 'pgbouncer.pid'}\n")
    (folder / STATE_FILE).write_text(json.dumps(
        {"port": port, "socket_dir": str(folder), "pool_size": pool_size,
         "max_client_conn": max_client_conn}, indent=2) + "\n")
    kwargs: dict[str, object] = {}
    if user is not None:
        for path in [folder, *folder.iterdir()]:
            os.chown(path, user.pw_uid, user.pw_gid)
        kwargs = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    proc = subprocess.run([str(binary), "-d", str(folder / "pgbouncer.ini")],  # noqa: PLW1510
                          capture_output=True, text=True, cwd=folder, **kwargs)  # type: ignore[call-overload]
    deadline = time.monotonic() + 10
    socket = folder / f".s.PGSQL.{port}"
    while not (socket.exists() and _pid(cluster)):
        if proc.returncode != 0 or time.monotonic() > deadline:
            detail = (proc.stderr or proc.stdout or "").strip().splitlines()
            raise LocalClusterError("pgbouncer did not start: "
                                    + (detail[-1] if detail else
                                       f"see {folder / 'pgbouncer.log'}"))
        time.sleep(0.05)
    return info(cluster)


def pool_size_for(cores: int, max_connections: int, reserved: int) -> int:
    """Server connections for the pool: ten per core and at least 40, at most half the
    server's connections not reserved for superusers (the rest stay free for direct
    sessions: migrate, maintain, health, another database's pool).

    By Little's law a pool carries at most (its size / the time a transaction holds a
    server connection) transactions a second, and that time is more than the server's
    work: the round trips through PgBouncer and, on a busy machine, waiting for a core. On
    2 cores, 10,000 users at 2,000 tps got 1,213 tps out of a pool of 10 and 2,045 out of
    40 (docs/loadtest.md).
    """
    return max(1, min(max(40, 10 * cores), (max_connections - reserved) // 2))


def sizing(cluster: LocalCluster) -> tuple[int, int]:
    """(pool_size, max_client_conn) for this machine and this cluster's server.

    The pool follows the cores and the server's ``max_connections`` (``pool_size_for``): a
    transaction pool serves many clients with few server connections. ``max_client_conn`` is
    MAX_CLIENT_CONN, or what the open-file hard limit leaves room for (one descriptor per
    client and per server connection) when it is lower.
    """
    import psycopg

    from ..resources import sql_text

    with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
        row = conn.execute(sql_text("loadtest/users/server_connections.sql")).fetchone()
    assert row is not None
    pool = pool_size_for(os.cpu_count() or 1, int(row[0]), int(row[1]))
    limit = open_files()
    clients = MAX_CLIENT_CONN
    if not limit.allows(clients + pool + SPARE):
        clients = max(100, limit.hard - pool - SPARE)
    return pool, clients


def stop(cluster: LocalCluster) -> None:
    """Stop the PgBouncer this folder started (SIGINT: it lets transactions finish)."""
    pid = _pid(cluster)
    if pid is None:
        return
    os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + 10
    while _pid(cluster) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    if _pid(cluster) is not None:
        os.kill(pid, signal.SIGTERM)


def as_dict(pooler: PoolerInfo) -> dict[str, object]:
    return asdict(pooler)
