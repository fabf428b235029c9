"""Real-PostgreSQL test harness, thin: the server and the migrated databases come from
watoto-schema's own pytest plugin (``watoto_schema.provision.pytest_plugin``), so every
`make test` exercises it.

The plugin picks the server (``WATOTO_TEST_DSN``, else an embedded cluster started from the
server binaries as the unprivileged ``postgres`` user when we are root, shared by xdist
workers, else testcontainers). ``db`` is the plugin's ``watoto_db`` (a fresh clone of the
sealed template of every shipped migration, partitions premade); ``empty_db`` is a fresh
empty database.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from watoto_schema.local import LocalCluster, free_port
from watoto_schema.provision.pytest_plugin import WatotoDatabase, WatotoServer
from watoto_schema.provision.template import Template
from watoto_schema.target import Target

# pytester: the plugin's own tests run pytest inside pytest; tests.browser: headless Chromium.
pytest_plugins = ["pytester", "tests.browser"]

# Lint verdicts the tests' runs cache go to a folder of the run's, not the user's cache.
os.environ.setdefault("WATOTO_CACHE_DIR", tempfile.mkdtemp(prefix="watoto-test-cache-"))


@dataclass
class Server:
    """A PostgreSQL server the tests may create and drop databases on."""

    admin_conninfo: str  # connects to a maintenance database as a superuser
    kind: str
    tcp_host: str | None = None  # host:port reachable over TCP with passwords (if any)
    tcp_port: int | None = None

    def conninfo(self, dbname: str, **overrides: Any) -> str:
        return make_conninfo(self.admin_conninfo, dbname=dbname, **overrides)

    def admin(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.admin_conninfo, autocommit=True)

    def create_db(self, name: str, template: str | None = None) -> None:
        stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            stmt = sql.SQL("{} TEMPLATE {}").format(stmt, sql.Identifier(template))
        with self.admin() as conn:
            conn.execute(stmt)

    def drop_db(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def eventually(check: Any, timeout: float = 60.0) -> Any:
    """``check()``'s value once it is truthy (polled), or its last value after ``timeout``:
    for what a background process finishes after the call that started it."""
    import time

    deadline = time.monotonic() + timeout
    while not (value := check()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return value


@pytest.fixture(scope="session")
def pg_server(watoto_server: WatotoServer) -> Server:
    return Server(watoto_server.admin_conninfo, watoto_server.kind, watoto_server.tcp_host,
                  watoto_server.tcp_port)


@pytest.fixture(scope="session")
def migrated_template(watoto_template: Template) -> str:
    """The name of the sealed template with every shipped migration applied."""
    return watoto_template.name


_counter = itertools.count()


@pytest.fixture
def empty_db(pg_server: Server) -> Iterator[Target]:
    """A fresh, empty database."""
    name = f"t{os.getpid()}_{next(_counter)}"
    pg_server.create_db(name)
    try:
        yield Target(pg_server.conninfo(name), "tests")
    finally:
        pg_server.drop_db(name)


@pytest.fixture
def db(watoto_db: WatotoDatabase) -> Target:
    """A fresh database with every shipped migration applied (the plugin's clone)."""
    return Target(watoto_db.dsn, "tests")


@pytest.fixture
def db_conn(db: Target) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection to ``db``."""
    with psycopg.connect(db.conninfo, autocommit=True) as conn:
        yield conn


@pytest.fixture
def connections() -> Iterator[Any]:
    """A factory of extra autocommit connections to any target (closed after the test)."""
    opened: list[psycopg.Connection[Any]] = []

    def factory(target: Target, **kwargs: Any) -> psycopg.Connection[Any]:
        conn = psycopg.connect(target.conninfo, autocommit=True, **kwargs)
        opened.append(conn)
        return conn

    yield factory
    for conn in opened:
        conn.close()


@pytest.fixture
def connect_to(db: Target, connections: Any) -> Any:
    """A factory of extra autocommit connections to ``db``."""
    return lambda **kwargs: connections(db, **kwargs)


@pytest.fixture(scope="session", autouse=True)
def _server_version(pg_server: Server, pytestconfig: pytest.Config) -> None:
    with pg_server.admin() as conn:
        row = conn.execute("SHOW server_version").fetchone()
    reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and row:
        reporter.write_line(f"PostgreSQL {row[0]} ({pg_server.kind}, "
                            f"{conninfo_to_dict(pg_server.admin_conninfo).get('host')})")


@pytest.fixture(scope="module")
def private_drift_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """An expected-schema cache for the module that asks, not the user's (drift tests)."""
    from watoto_schema import drift

    patch = pytest.MonkeyPatch()
    patch.setenv(drift.CACHE_ENV, str(tmp_path_factory.mktemp("drift-cache")))
    yield
    patch.undo()


@pytest.fixture(scope="module")
def primary_and_standby() -> Iterator[tuple[Target, Target, LocalCluster]]:
    """A primary and a streaming standby (pg_basebackup -R), both throwaway, per module."""
    root = Path(tempfile.mkdtemp(prefix="watoto-standby-"))
    os.chmod(root, 0o755)
    primary = LocalCluster(root / "primary", fsync=False)
    primary.start(dbname="postgres")
    state = primary._state()
    assert state is not None
    standby_dir = root / "standby"
    standby_dir.mkdir()
    as_postgres: dict[str, Any] = {}
    if os.geteuid() == 0:
        import pwd

        user = pwd.getpwnam(os.environ.get("WATOTO_PG_USER", "postgres"))
        os.chown(standby_dir, user.pw_uid, user.pw_gid)
        as_postgres = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    bindir = Path(state.bindir)
    port = free_port()
    subprocess.run([str(bindir / "pg_basebackup"), "-D", str(standby_dir / "pgdata"), "-R",
                    "-X", "stream", "-h", state.socket_dir, "-p", str(state.port),
                    "-U", "postgres"], check=True, capture_output=True, cwd=root,
                   **as_postgres)
    subprocess.run([str(bindir / "pg_ctl"), "-D", str(standby_dir / "pgdata"), "-l",
                    str(standby_dir / "log"), "-w", "-o",
                    f"-c port={port} -c listen_addresses='' "
                    f"-c unix_socket_directories='{standby_dir}' -c fsync=off",
                    "start"], check=True, capture_output=True, cwd=root, **as_postgres)
    standby = Target(f"postgresql://postgres@/postgres?host={standby_dir}&port={port}",
                     "tests")
    try:
        yield Target(primary.url("postgres"), "tests"), standby, primary
    finally:
        subprocess.run([str(bindir / "pg_ctl"), "-D", str(standby_dir / "pgdata"), "-m",
                        "immediate", "stop"], capture_output=True, cwd=root, **as_postgres)
        primary.destroy()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def workdir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A current directory the unprivileged server user can reach (unlike pytest's tmp_path)."""
    path = Path(tempfile.mkdtemp(prefix="watoto-local-"))
    os.chmod(path, 0o755)
    monkeypatch.chdir(path)
    try:
        yield path
    finally:
        if (path / ".watoto").exists():
            from .test_cli import run

            run("local", "destroy", "--yes")
        shutil.rmtree(path, ignore_errors=True)


# A real Redis for the cache layer's tests (redis-server on a free port).
from .fix_redis import redis_server, redis_url  # noqa: E402, F401
