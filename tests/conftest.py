"""Real-PostgreSQL test harness.

One throwaway server per test session, chosen in this order:

1. ``WATOTO_TEST_DSN``: an existing server (the DSN's user must be allowed CREATE DATABASE);
2. testcontainers, when a Docker engine answers;
3. a cluster started from the server binaries on the machine (``initdb`` with fsync off,
   as the unprivileged ``postgres`` user when the tests run as root).

Each test gets a fresh database cloned from a template (``CREATE DATABASE .. TEMPLATE``):
``empty_db`` from an empty one, ``db`` from one with every shipped migration applied.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from watoto_schema import migrate, partitions
from watoto_schema.target import Target

TEMPLATE_EMPTY = "watoto_tmpl_empty"
TEMPLATE_MIGRATED = "watoto_tmpl_migrated"


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


def _docker_available() -> bool:
    if not os.environ.get("DOCKER_HOST") and not Path("/var/run/docker.sock").exists():
        return False
    try:
        import docker

        client = docker.from_env(timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    dsn = os.environ.get("WATOTO_TEST_DSN")
    if dsn:
        yield Server(make_conninfo(dsn), kind="WATOTO_TEST_DSN")
        return
    if os.environ.get("WATOTO_TEST_DOCKER", "auto") != "never" and _docker_available():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:15", driver=None) as container:
            url = container.get_connection_url()
            yield Server(make_conninfo(url), kind="testcontainers")
        return
    from watoto_schema.local import LocalCluster

    # Not under pytest's tmp_path: its parents may be closed to the unprivileged user.
    root = Path(tempfile.mkdtemp(prefix="watoto-test-"))
    os.chmod(root, 0o755)
    cluster = LocalCluster(root / "cluster", fsync=False, tcp=True)
    info = cluster.start(dbname="postgres")
    assert info.port is not None
    try:
        yield Server(make_conninfo(cluster.url("postgres")), kind="local cluster",
                     tcp_host="127.0.0.1", tcp_port=info.port)
    finally:
        cluster.destroy()
        os.rmdir(root)


@pytest.fixture(scope="session")
def templates(pg_server: Server) -> Server:
    """Build the empty and the fully migrated template databases once per session."""
    for name in (TEMPLATE_EMPTY, TEMPLATE_MIGRATED):
        pg_server.drop_db(name)
        pg_server.create_db(name)
    migrated = Target(pg_server.conninfo(TEMPLATE_MIGRATED), "tests")
    migrate.migrate(migrated)
    partitions.ensure(migrated)  # as deployments do: migrate, then premake from the policy
    return pg_server


_counter = itertools.count()


def _fresh(server: Server, template: str, request: pytest.FixtureRequest) -> Iterator[Target]:
    name = f"t{os.getpid()}_{next(_counter)}"
    server.create_db(name, template)
    try:
        yield Target(server.conninfo(name), "tests")
    finally:
        server.drop_db(name)


@pytest.fixture
def empty_db(templates: Server, request: pytest.FixtureRequest) -> Iterator[Target]:
    """A fresh, empty database."""
    yield from _fresh(templates, TEMPLATE_EMPTY, request)


@pytest.fixture
def db(templates: Server, request: pytest.FixtureRequest) -> Iterator[Target]:
    """A fresh database with every shipped migration applied."""
    yield from _fresh(templates, TEMPLATE_MIGRATED, request)


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
