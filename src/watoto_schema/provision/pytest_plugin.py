"""pytest plugin: migrated Watoto databases for tests, one fresh clone per test.

Registered through the ``pytest11`` entry point; inert until a test asks for one of its
fixtures (no connection and no heavy import at collection).

Server, in this order: ``--watoto-dsn URL`` / ``$WATOTO_TEST_DSN``; else an embedded
throwaway cluster started from the server binaries (one per test run, shared by xdist
workers, stopped at the end); else a testcontainers PostgreSQL when a Docker engine
answers. ``--watoto-server dsn|embedded|container`` forces one.

Fixtures: ``watoto_server`` (session), ``watoto_template`` (session: the template of the
migrations), ``watoto_db`` (a fresh clone per test, dropped afterwards),
``watoto_conn`` (a psycopg connection to it). Extra migration folders come from the ini
option ``watoto_migrations``; ``@pytest.mark.watoto(students=N)`` gives a test sample data
(each variant its own template).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import psycopg

    from .clones import Clone
    from .template import DataOptions, Template

_RUN_ID = pytest.StashKey[str]()
_RUN_DIR_PREFIX = "watoto-pytest-"
CHOICES = ("auto", "dsn", "embedded", "container")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("watoto", "Watoto test databases (watoto-schema)")
    group.addoption("--watoto-dsn", metavar="URL", default=None,
                    help="Server for test databases: a DSN of its maintenance database with "
                    "CREATEDB (default: $WATOTO_TEST_DSN).")
    group.addoption("--watoto-server", choices=CHOICES, default="auto",
                    help="Where test databases come from: auto (dsn, else embedded, else "
                    "container), dsn, embedded, container.")
    group.addoption("--watoto-keep", action="store_true",
                    help="Keep each test's database after the test (their names are printed).")
    parser.addini("watoto_migrations", type="paths", default=[],
                  help="Extra migration folders for the template (after the shipped ones).")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "watoto(students=N, seed=S): the test's database holds sample data "
        "(a template per variant)")
    worker = getattr(config, "workerinput", None)
    config.stash[_RUN_ID] = (worker or {}).get("watoto_run_id") or uuid.uuid4().hex[:12]
    if config.pluginmanager.hasplugin("xdist") and worker is None:
        config.pluginmanager.register(_XdistController(config), "watoto-xdist-controller")


class _XdistController:
    """Gives every xdist worker the controller's run id, so they share one server."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["watoto_run_id"] = self.config.stash[_RUN_ID]


def pytest_unconfigure(config: pytest.Config) -> None:
    """The controller (or a run without xdist) stops the run's embedded cluster."""
    if getattr(config, "workerinput", None) is not None or _RUN_ID not in config.stash:
        return
    root = _run_dir(config.stash[_RUN_ID])
    if root.exists():
        _destroy_run_dir(root)


# -- the server ------------------------------------------------------------------------------

@dataclass
class WatotoServer:
    """A PostgreSQL server test databases are made on."""

    admin_conninfo: str  # the maintenance database, as a role with CREATEDB
    kind: str  # dsn | embedded | container
    tcp_host: str | None = None
    tcp_port: int | None = None
    extra_dirs: tuple[Path, ...] = ()
    session: str = ""
    _templates: dict[Any, Template] = field(default_factory=dict, repr=False)
    _conn: Any = field(default=None, repr=False)

    def conninfo(self, dbname: str, **overrides: Any) -> str:
        from psycopg.conninfo import make_conninfo

        return make_conninfo(self.admin_conninfo, dbname=dbname, **overrides)

    def admin(self) -> psycopg.Connection[Any]:
        import psycopg

        return psycopg.connect(self.admin_conninfo, autocommit=True)

    def template(self, data: DataOptions) -> Template:
        """The sealed template for these data options (built once for all workers)."""
        if data not in self._templates:
            from ..target import Target, connect
            from .template import ensure_template

            target = Target(self.admin_conninfo, "pytest")
            with connect(target, application_name="watoto pytest") as conn:
                self._templates[data] = ensure_template(target, conn,
                                                        extra_dirs=self.extra_dirs, data=data)
        return self._templates[data]

    def clone(self, data: DataOptions) -> Clone:
        """A fresh database cloned from the template for ``data``, owned by this process.

        The first clone of each variant goes through ``provision`` (template found or
        built, then checked against the files and its label: a template changed by hand
        is rebuilt); later ones are one CREATE DATABASE on a kept connection."""
        from ..target import Target
        from .clones import add_clone, provision

        target = Target(self.admin_conninfo, "pytest")
        if data not in self._templates:
            result = provision(target, data=data, extra_dirs=self.extra_dirs,
                               session=self.session, bound_to_process=True)
            self._templates[data] = result.template
            return result.clones[0]
        return add_clone(target, self._admin(), self._templates[data], session=self.session,
                         bound_to_process=True)

    def close(self) -> None:
        """Close the connection kept for cloning and dropping (at the session's end)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _admin(self) -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] | None = self._conn
        if conn is None or conn.closed:
            conn = self._conn = self.admin()
        return conn

    def drop(self, name: str) -> None:
        from .template import drop_database

        drop_database(self._admin(), name, may_be_template=False)


def _run_dir(run_id: str) -> Path:
    return Path(tempfile.gettempdir()) / f"{_RUN_DIR_PREFIX}{run_id}"


def _destroy_run_dir(root: Path) -> None:
    from ..local import LocalCluster

    cluster = LocalCluster(root / "cluster")
    with contextlib.suppress(Exception):
        cluster.destroy()
    for leftover in ("owner.json", "lock"):
        with contextlib.suppress(FileNotFoundError):
            (root / leftover).unlink()
    with contextlib.suppress(OSError):
        root.rmdir()


def _collect_dead_runs() -> None:
    """Stop embedded clusters of earlier runs whose controller was killed."""
    for root in Path(tempfile.gettempdir()).glob(f"{_RUN_DIR_PREFIX}*"):
        try:
            pid = int(json.loads((root / "owner.json").read_text())["pid"])
        except (OSError, ValueError, KeyError):
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            _destroy_run_dir(root)
        except PermissionError:
            continue


def _embedded(config: pytest.Config) -> tuple[str, str, int]:
    """The run's embedded cluster, started by the first worker that needs it."""
    import fcntl

    from ..local import LocalCluster

    root = _run_dir(config.stash[_RUN_ID])
    root.mkdir(exist_ok=True)
    os.chmod(root, 0o755)
    with open(root / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one starter; the others wait and reuse it
        if not (root / "owner.json").exists():
            _collect_dead_runs()
            controller = os.getppid() if getattr(config, "workerinput", None) else os.getpid()
            (root / "owner.json").write_text(json.dumps({"pid": controller}))
        cluster = LocalCluster(root / "cluster", fsync=False, tcp=True)
        info = cluster.start(dbname="postgres")
    assert info.port is not None
    return cluster.url("postgres"), "127.0.0.1", info.port


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
def watoto_server(pytestconfig: pytest.Config) -> Iterator[WatotoServer]:
    """The server test databases are made on (see the module's docstring for the order)."""
    from psycopg.conninfo import make_conninfo

    choice = pytestconfig.getoption("watoto_server")
    dsn = pytestconfig.getoption("watoto_dsn") or os.environ.get("WATOTO_TEST_DSN")
    extra = tuple(Path(p) for p in pytestconfig.getini("watoto_migrations"))
    worker = getattr(pytestconfig, "workerinput", {}).get("workerid", "main")
    session = f"pytest {pytestconfig.stash[_RUN_ID]} {worker}"
    if choice == "dsn" and not dsn:
        raise pytest.UsageError("--watoto-server dsn needs --watoto-dsn or $WATOTO_TEST_DSN")
    if choice in ("auto", "dsn") and dsn:
        server = WatotoServer(make_conninfo(dsn), "dsn", extra_dirs=extra, session=session)
        _collect(server)
        yield server
        server.close()
        return
    if choice in ("auto", "embedded"):
        from ..errors import LocalClusterError
        from ..local import find_bindir

        try:
            find_bindir()
        except LocalClusterError:
            if choice == "embedded":
                raise
        else:
            url, host, port = _embedded(pytestconfig)
            server = WatotoServer(make_conninfo(url), "embedded", host, port, extra, session)
            _collect(server)
            yield server
            server.close()
            return
    if choice in ("auto", "container") and _docker_available():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:15", driver=None) as container:
            server = WatotoServer(make_conninfo(container.get_connection_url()), "container",
                                  extra_dirs=extra, session=session)
            yield server
            server.close()
        return
    raise pytest.UsageError(
        "no PostgreSQL for test databases: give --watoto-dsn / $WATOTO_TEST_DSN, install "
        "the server binaries (Debian: postgresql-15), or run a Docker engine")


def _collect(server: WatotoServer) -> None:
    """Drop what killed runs left behind (clones of dead processes, abandoned builds)."""
    from ..target import Target
    from .clones import gc

    gc(Target(server.admin_conninfo, "pytest"), extra_dirs=server.extra_dirs)


@pytest.fixture(scope="session")
def watoto_template(watoto_server: WatotoServer) -> Template:
    """The sealed template of the migrations (no sample data)."""
    from .template import DataOptions

    return watoto_server.template(DataOptions())


@dataclass
class WatotoDatabase:
    """A test's own database."""

    name: str
    dsn: str
    template: str

    def connect(self, **kwargs: Any) -> psycopg.Connection[Any]:
        import psycopg

        return psycopg.connect(self.dsn, **kwargs)


@pytest.fixture
def watoto_db(watoto_server: WatotoServer,
              request: pytest.FixtureRequest) -> Iterator[WatotoDatabase]:
    """A fresh migrated database for this test, dropped afterwards."""
    from .template import DataOptions

    marker = request.node.get_closest_marker("watoto")
    data = DataOptions(**(marker.kwargs if marker else {}))
    clone = watoto_server.clone(data)
    try:
        yield WatotoDatabase(clone.name, watoto_server.conninfo(clone.name), clone.template)
    finally:
        if request.config.getoption("watoto_keep"):
            reporter = request.config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                reporter.write_line(f"kept test database {clone.name}")
        else:
            watoto_server.drop(clone.name)


@pytest.fixture
def watoto_conn(watoto_db: WatotoDatabase) -> Iterator[psycopg.Connection[Any]]:
    """A psycopg connection to ``watoto_db`` (psycopg's defaults: not autocommit)."""
    with watoto_db.connect() as conn:
        yield conn
