"""An embedded local PostgreSQL cluster, started from the server binaries on the machine.

The cluster lives in one folder (``.watoto/`` in the current directory for the CLI, a
temporary folder for the test harness). It listens only on a Unix socket inside that
folder with ``trust`` authentication, so no password exists to leak and no other machine
can reach it. ``initdb`` and ``pg_ctl`` refuse to run as root: when root runs this code,
the server runs as an unprivileged user (``postgres`` unless ``WATOTO_PG_USER`` says
otherwise), which must be able to reach the folder.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import quote

from ..errors import LocalClusterError

DEFAULT_DB = "watoto"
SUPERUSER = "postgres"
STATE_FILE = "cluster.json"
# A Unix socket path must fit in 107 bytes; leave room for "/.s.PGSQL.65535".
_MAX_SOCKET_DIR = 90


@dataclass
class ClusterInfo:
    """What ``local status`` reports."""

    root: str
    datadir: str
    initialized: bool
    running: bool
    port: int | None
    url: str | None
    server_version: str | None
    run_as: str | None


@dataclass
class _State:
    port: int
    socket_dir: str
    bindir: str
    run_as: str | None


def find_bindir() -> Path:
    """Find the PostgreSQL server binaries (``initdb``, ``pg_ctl``), newest version first."""
    candidates: list[Path] = []
    if os.environ.get("WATOTO_PG_BINDIR"):
        candidates.append(Path(os.environ["WATOTO_PG_BINDIR"]))
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        versions = sorted(
            (p for p in debian.iterdir() if p.name.isdigit()), key=lambda p: int(p.name),
            reverse=True,
        )
        candidates.extend(v / "bin" for v in versions)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    raise LocalClusterError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: install the server package "
        "(Debian: apt-get install postgresql-15) or set WATOTO_PG_BINDIR"
    )


def free_port() -> int:
    """Ask the kernel for a TCP port nobody is using right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _unprivileged_user() -> pwd.struct_passwd | None:
    """Return the account to run the server as, or None when we are not root."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get("WATOTO_PG_USER", "postgres")
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise LocalClusterError(
            f"running as root, and PostgreSQL refuses to run as root; no user {name!r} to run "
            "it as: create one (useradd --system postgres), set WATOTO_PG_USER to an existing "
            "unprivileged user, or run watoto-schema as a normal user"
        ) from None


class LocalCluster:
    """A PostgreSQL cluster in ``root`` (data in ``root/pgdata``, log in ``root/postgres.log``)."""

    def __init__(self, root: Path, *, fsync: bool = True, tcp: bool = False) -> None:
        self.root = root.absolute()
        self.datadir = self.root / "pgdata"
        self.logfile = self.root / "postgres.log"
        self.fsync = fsync
        # TCP on 127.0.0.1 with scram-sha-256 (passwords required); off for the CLI cluster.
        self.tcp = tcp

    # -- state -------------------------------------------------------------------------
    @property
    def initialized(self) -> bool:
        return (self.datadir / "PG_VERSION").is_file()

    def _state(self) -> _State | None:
        path = self.root / STATE_FILE
        if not path.is_file():
            return None
        return _State(**json.loads(path.read_text()))

    def _save_state(self, state: _State) -> None:
        (self.root / STATE_FILE).write_text(json.dumps(asdict(state), indent=2) + "\n")

    def _run(self, args: list[str], user: pwd.struct_passwd | None,
             check: bool = True) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, object] = {}
        if user is not None:
            kwargs = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C.UTF-8"
        if user is not None:
            env["HOME"] = user.pw_dir
        proc = subprocess.run(  # noqa: PLW1510 - checked below with a readable message
            args, capture_output=True, text=True, env=env, cwd=self.root, **kwargs,  # type: ignore[call-overload]
        )
        if check and proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            last = detail[-1] if detail else f"exit status {proc.returncode}"
            raise LocalClusterError(f"{Path(args[0]).name} failed: {last} (log: {self.logfile})")
        return proc  # type: ignore[no-any-return]

    def _prepare_dirs(self, user: pwd.struct_passwd | None) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        state = self._state()
        socket_dir = self.root / "run"
        if state and Path(state.socket_dir).is_dir():
            socket_dir = Path(state.socket_dir)
        elif len(str(socket_dir)) > _MAX_SOCKET_DIR:
            socket_dir = Path(tempfile.mkdtemp(prefix="watoto-pg-"))
        socket_dir.mkdir(exist_ok=True)
        if user is not None:
            for path in (self.root, socket_dir):
                os.chown(path, user.pw_uid, user.pw_gid)
            if self.datadir.exists():
                os.chown(self.datadir, user.pw_uid, user.pw_gid)
            probe = self._run(["test", "-w", str(self.root)], user, check=False)
            if probe.returncode != 0:
                raise LocalClusterError(
                    f"user {user.pw_name!r} (PostgreSQL refuses root) cannot reach {self.root}: "
                    "run from a directory every user can traverse (chmod o+x on its parents)"
                )
        os.chmod(socket_dir, 0o700)
        return socket_dir

    # -- lifecycle -----------------------------------------------------------------------
    def start(self, dbname: str | None = DEFAULT_DB) -> ClusterInfo:
        """Initialise the cluster if needed, start it, and create ``dbname``. Idempotent.

        ``dbname=None`` creates no database (a standby, which is read-only, starts so).
        """
        bindir = find_bindir()
        user = _unprivileged_user()
        state = self._state()
        if self.initialized and state is not None and self._is_running(bindir, user):
            return self.info()
        socket_dir = self._prepare_dirs(user)
        if not self.initialized:
            args = [str(bindir / "initdb"), "-D", str(self.datadir), "-U", SUPERUSER,
                    "--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8",
                    "--locale=C.UTF-8"]
            if not self.fsync:
                args.append("--no-sync")
            self._run(args, user)
        _wait_reaped(self.datadir)
        port = state.port if state and _port_free(state.port) else free_port()
        listen = "127.0.0.1" if self.tcp else ""
        options = (f"-c port={port} -c listen_addresses='{listen}' "
                   f"-c unix_socket_directories='{socket_dir}'")
        if not self.fsync:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run([str(bindir / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.logfile),
                   "-o", options, "-w", "-t", "60", "start"], user)
        self._save_state(_State(port=port, socket_dir=str(socket_dir), bindir=str(bindir),
                                run_as=user.pw_name if user else None))
        if dbname is not None:
            self.create_database(dbname)
        return self.info()

    def start_existing(self, settings: dict[str, str], *, timeout: int = 300) -> float:
        """Start the data directory already in ``datadir`` (e.g. a restored base backup).

        ``settings`` are appended to its ``postgresql.auto.conf`` (later lines win), the
        server listens only on a Unix socket in this folder, on a free port, with ``trust``
        for local connections (the backup's own ``pg_hba.conf`` is replaced). The files
        become the server user's when root runs this. Returns the seconds ``pg_ctl start``
        took (it returns once the server accepts connections: during recovery that is when
        it is consistent). A server that fails to start is reported with ``LocalClusterError``;
        one that timed out may still be running: ``destroy()`` stops it.
        """
        bindir = find_bindir()
        user = _unprivileged_user()
        if not self.initialized:
            raise LocalClusterError(f"no data directory to start in {self.datadir}")
        socket_dir = self._prepare_dirs(user)
        conf = self.datadir / "postgresql.conf"
        if not conf.exists():  # Debian keeps it in /etc/postgresql: not in a base backup
            conf.write_text("")
        (self.datadir / "pg_hba.conf").write_text("local all all trust\n")
        lines = "".join(f"{name} = '{value.replace(chr(39), chr(39) * 2)}'\n"
                        for name, value in settings.items())
        with (self.datadir / "postgresql.auto.conf").open("a") as auto:
            auto.write("\n# watoto-schema: settings of this scratch server\n" + lines)
        os.chmod(self.datadir, 0o700)
        if user is not None:
            for path in [self.datadir, *self.datadir.rglob("*")]:
                os.lchown(path, user.pw_uid, user.pw_gid)
        port = free_port()
        options = (f"-c port={port} -c listen_addresses='' "
                   f"-c unix_socket_directories='{socket_dir}'")
        self._save_state(_State(port=port, socket_dir=str(socket_dir), bindir=str(bindir),
                                run_as=user.pw_name if user else None))
        import time

        started = time.monotonic()
        self._run([str(bindir / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.logfile),
                   "-o", options, "-w", "-t", str(timeout), "start"], user)
        return time.monotonic() - started

    def server_user_can_read(self, folder: Path) -> bool:
        """Whether the account the server runs as can list and read ``folder``."""
        user = _unprivileged_user()
        if user is None:
            return os.access(folder, os.R_OK | os.X_OK)
        self.root.mkdir(parents=True, exist_ok=True)
        probe = self._run(["test", "-r", str(folder), "-a", "-x", str(folder)], user,
                          check=False)
        return probe.returncode == 0

    def running(self) -> bool:
        """Whether the server of this folder is running now."""
        state = self._state()
        bindir = Path(state.bindir) if state else find_bindir()
        return self._is_running(bindir, _unprivileged_user())

    def stop(self) -> ClusterInfo:
        """Stop the server (fast shutdown: open sessions are disconnected). Idempotent."""
        if self.initialized:
            bindir = find_bindir()
            user = _unprivileged_user()
            if self._is_running(bindir, user):
                self._run([str(bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w",
                           "stop"], user)
        return self.info()

    def kill(self) -> int | None:
        """SIGKILL the server's postmaster (a crash, for drills); its backends exit with it.

        Returns the pid killed, or None when the server was not running.
        """
        pid = postmaster_pid(self.datadir)
        if pid is None:
            return None
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return None
        return pid

    def destroy(self) -> None:
        """Stop the server and delete the whole cluster folder."""
        self.stop()
        state = self._state()
        if state and not Path(state.socket_dir).is_relative_to(self.root):
            shutil.rmtree(state.socket_dir, ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def _is_running(self, bindir: Path, user: pwd.struct_passwd | None) -> bool:
        # Not `pg_ctl status`: a killed postmaster stays a zombie until init reaps it, and
        # pg_ctl takes a zombie for a running server.
        return self.initialized and postmaster_pid(self.datadir) is not None

    # -- access ------------------------------------------------------------------------
    def url(self, dbname: str = DEFAULT_DB, user: str = SUPERUSER) -> str:
        """Return a libpq URL for ``dbname`` over the cluster's Unix socket."""
        state = self._state()
        if state is None or not self.initialized:
            raise LocalClusterError(
                f"no local cluster in {self.root}: run `watoto-schema local start` first"
            )
        return (f"postgresql://{quote(user)}@/{quote(dbname)}"
                f"?host={quote(state.socket_dir, safe='/')}&port={state.port}")

    def require_running(self, dbname: str = DEFAULT_DB) -> str:
        """Return the URL of ``dbname``, or fail with what to do when the server is down."""
        url = self.url(dbname)
        state = self._state()
        assert state is not None
        if not self._is_running(Path(state.bindir), _unprivileged_user()):
            raise LocalClusterError(
                f"the local cluster in {self.root} is stopped: run `watoto-schema local start`"
            )
        return url

    def create_database(self, dbname: str, template: str | None = None) -> None:
        """Create ``dbname`` (optionally as a copy of ``template``) unless it exists."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                  (dbname,)).fetchone()
            if exists:
                return
            stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname))
            if template:
                stmt = sql.SQL("{} TEMPLATE {}").format(stmt, sql.Identifier(template))
            conn.execute(stmt)

    def info(self) -> ClusterInfo:
        state = self._state()
        running = False
        version = None
        if state is not None and self.initialized:
            running = self._is_running(Path(state.bindir), _unprivileged_user())
            version = (self.datadir / "PG_VERSION").read_text().strip()
        return ClusterInfo(
            root=str(self.root),
            datadir=str(self.datadir),
            initialized=self.initialized,
            running=running,
            port=state.port if state else None,
            url=self.url() if state and self.initialized else None,
            server_version=version,
            run_as=state.run_as if state else None,
        )


def postmaster_pid(datadir: Path) -> int | None:
    """The pid in ``postmaster.pid`` when that process is alive, else None."""
    try:
        pid = int((datadir / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None
    return pid if process_alive(pid) else None


def _wait_reaped(datadir: Path, timeout: float = 30) -> None:
    """Wait while the pid in a stale ``postmaster.pid`` is a zombie: PostgreSQL would take
    it for a running server and refuse to start."""
    import time

    try:
        pid = int((datadir / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and not process_alive(pid):
        if time.monotonic() > deadline:
            return
        time.sleep(0.1)


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped by its parent, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def default_cluster(cwd: Path | None = None) -> LocalCluster:
    """The CLI's cluster: ``.watoto/`` in the current directory."""
    return LocalCluster((cwd or Path.cwd()) / ".watoto")
