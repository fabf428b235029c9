"""pytest plugin: migrated Watoto databases for tests, isolated in milliseconds.

Registered through the ``pytest11`` entry point; inert until a test asks for one of its
fixtures (no connection and no heavy import at collection).

Server, in this order: ``--watoto-dsn URL`` / ``$WATOTO_TEST_DSN``; else an embedded
throwaway cluster started from the server binaries (one per test run, shared by xdist
workers, stopped at the end); else a testcontainers PostgreSQL when a Docker engine
answers. ``--watoto-server dsn|embedded|container`` forces one.

Fixtures: ``watoto_server`` (session), ``watoto_template`` (session: the template of the
migrations), ``watoto_conn`` / ``watoto_tx`` (a connection inside a transaction rolled back
when the test ends, on a database shared by the worker: ``isolation``), ``watoto_db`` (a
database of the test's own, taken from a pool of ready clones made in the background and
dropped in the background afterwards: ``pool``). Extra migration folders come from the ini
option ``watoto_migrations``; ``@pytest.mark.watoto(students=N)`` gives a test sample data
(each variant its own template, shared database and pool).
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
    from .isolation import IsolatedConnection, SharedDatabase
    from .pool import ClonePool
    from .template import DataOptions, Template

_RUN_ID = pytest.StashKey[str]()
_KEPT = pytest.StashKey[list[str]]()
DEFAULT_POOL = 2
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
                    help="Keep each watoto_db test's database, and a failing watoto_conn "
                    "test's work (committed, in a database of its own); names are printed.")
    group.addoption("--watoto-pool", type=int, default=None, metavar="N",
                    help=f"Ready clones each worker keeps for watoto_db (default "
                    f"{DEFAULT_POOL}; 0: clone when a test asks).")
    group.addoption("--watoto-pool-warm", action="store_true",
                    help="Fill each variant's pool before its first test gets a database "
                    "(a longer start, no waits later: for suites of many watoto_db tests).")
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
    """Gives every xdist worker the controller's run id, so they share one server, and
    gathers the names of the databases they kept."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["watoto_run_id"] = self.config.stash[_RUN_ID]

    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        kept = getattr(node, "workeroutput", {}).get("watoto_kept") or []
        self.config.stash.setdefault(_KEPT, []).extend(kept)


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
    pool_size: int = DEFAULT_POOL
    pool_warm: bool = False  # fill a variant's pool before its first test
    keep: bool = False
    _templates: dict[Any, Template] = field(default_factory=dict, repr=False)
    _pools: dict[Any, ClonePool] = field(default_factory=dict, repr=False)
    _shared: dict[Any, SharedDatabase] = field(default_factory=dict, repr=False)
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
        """A database of its own for a test, cloned from the template for ``data``.

        The first clone of each variant goes through ``provision`` (template found or
        built, then checked against the files and its label: a template changed by hand
        is rebuilt); the second starts the variant's pool (so a variant used once costs
        no ready clones), and the pool hands out every later one; without a pool, each is
        one CREATE DATABASE on a kept connection."""
        from ..target import Target
        from .clones import add_clone, provision

        target = Target(self.admin_conninfo, "pytest")
        if data not in self._templates:
            result = provision(target, data=data, extra_dirs=self.extra_dirs,
                               session=self.session, bound_to_process=True)
            self._templates[data] = result.template
            if self.pool_warm and self.pool_size > 0:
                self._start_pool(target, data).wait_full(then=min(self.pool_size, DEFAULT_POOL))
            return result.clones[0]
        if data not in self._pools and self.pool_size > 0:
            started = self._start_pool(target, data)
            if self.pool_warm:
                started.wait_full(then=min(self.pool_size, DEFAULT_POOL))
        pool = self._pools.get(data)
        if pool is not None:
            return pool.take()
        return add_clone(target, self._admin(), self._templates[data], session=self.session,
                         bound_to_process=True)

    def _start_pool(self, target: Any, data: DataOptions) -> ClonePool:
        from .clones import add_clone
        from .pool import ClonePool
        from .template import drop_database

        template = self._templates[data]
        self._pools[data] = ClonePool(
            self.admin,
            lambda conn: add_clone(target, conn, template, session=self.session,
                                   bound_to_process=True),
            lambda conn, name: drop_database(conn, name, may_be_template=False),
            self.pool_size)
        return self._pools[data]

    def give_back(self, name: str, data: DataOptions) -> None:
        """A test's database is done with: dropped in the background when pooled."""
        pool = self._pools.get(data)
        if pool is not None:
            pool.give_back(name)
        else:
            self.drop(name)

    def shared(self, data: DataOptions) -> SharedDatabase:
        """The worker's database for rollback-isolated tests of this variant."""
        found = self._shared.get(data)
        if found is None:
            from .isolation import SharedDatabase

            clone = self.clone(data)
            found = self._shared[data] = SharedDatabase(clone.name, self.conninfo(clone.name))
        return found

    def retire_shared(self, data: DataOptions, *, keep: bool = False) -> str:
        """Stop using the variant's shared database (a test escaped its transaction, or
        kept its work); dropped unless ``keep``. Returns its name."""
        shared = self._shared.pop(data)
        shared.close()
        if not keep:
            self.give_back(shared.name, data)
        return shared.name

    def close(self) -> list[str]:
        """At the session's end: the shared databases (kept with ``keep``: their names are
        returned), the pools' ready clones and the drops not done yet are handed to a
        detached reaper process, so the run ends without waiting for them."""
        from .reaper import spawn

        leftovers: list[str] = []
        kept: list[str] = []
        for shared in self._shared.values():
            shared.close()
            (kept if self.keep else leftovers).append(shared.name)
        self._shared.clear()
        for pool in self._pools.values():
            pool.close(leftovers.extend)
        self._pools.clear()
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if leftovers:
            spawn(self.admin_conninfo, leftovers)
        return kept

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
    choice = pytestconfig.getoption("watoto_server")
    dsn = pytestconfig.getoption("watoto_dsn") or os.environ.get("WATOTO_TEST_DSN")
    extra = tuple(Path(p) for p in pytestconfig.getini("watoto_migrations"))
    worker = getattr(pytestconfig, "workerinput", {}).get("workerid", "main")
    session = f"pytest {pytestconfig.stash[_RUN_ID]} {worker}"
    pool = pytestconfig.getoption("watoto_pool")
    pool = DEFAULT_POOL if pool is None else pool
    if pool < 0:
        raise pytest.UsageError(f"--watoto-pool must be 0 or more (got {pool})")
    options = {"extra_dirs": extra, "session": session, "pool_size": pool,
               "pool_warm": bool(pytestconfig.getoption("watoto_pool_warm")),
               "keep": bool(pytestconfig.getoption("watoto_keep"))}
    if choice == "dsn" and not dsn:
        raise pytest.UsageError("--watoto-server dsn needs --watoto-dsn or $WATOTO_TEST_DSN")
    with contextlib.ExitStack() as stack:
        server = _server(pytestconfig, choice, dsn, stack, options)
        yield server
        for name in server.close():
            _keep(pytestconfig, name, " (shared by watoto_conn tests, clean)")


def _server(config: pytest.Config, choice: str, dsn: str | None, stack: contextlib.ExitStack,
            options: dict[str, Any]) -> WatotoServer:
    from psycopg.conninfo import make_conninfo

    if choice in ("auto", "dsn") and dsn:
        server = WatotoServer(make_conninfo(dsn), "dsn", **options)
        _collect(server)
        return server
    if choice in ("auto", "embedded"):
        from ..errors import LocalClusterError
        from ..local import find_bindir

        try:
            find_bindir()
        except LocalClusterError:
            if choice == "embedded":
                raise
        else:
            url, host, port = _embedded(config)
            server = WatotoServer(make_conninfo(url), "embedded", host, port, **options)
            _collect(server)
            return server
    if choice in ("auto", "container") and _docker_available():
        from testcontainers.postgres import PostgresContainer

        container = stack.enter_context(PostgresContainer("postgres:15", driver=None))
        return WatotoServer(make_conninfo(container.get_connection_url()), "container",
                            **options)
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


def _data(request: pytest.FixtureRequest) -> DataOptions:
    from .template import DataOptions

    marker = request.node.get_closest_marker("watoto")
    return DataOptions(**(marker.kwargs if marker else {}))


def _keep(config: pytest.Config, name: str, why: str = "") -> None:
    """Note a kept database, named in the run's summary (from every xdist worker)."""
    config.stash.setdefault(_KEPT, []).append(f"{name}{why}")


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: hand the names to the controller
        workeroutput["watoto_kept"] = session.config.stash.get(_KEPT, [])


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    kept = config.stash.get(_KEPT, [])
    if kept:
        terminalreporter.section("watoto: kept test databases")
        for line in kept:
            terminalreporter.write_line(f"kept test database {line}")


@pytest.fixture
def watoto_db(watoto_server: WatotoServer,
              request: pytest.FixtureRequest) -> Iterator[WatotoDatabase]:
    """A migrated database of this test's own (for code that commits across connections,
    DDL, LISTEN/NOTIFY), from the pool of ready clones; dropped in the background after."""
    data = _data(request)
    clone = watoto_server.clone(data)
    try:
        yield WatotoDatabase(clone.name, watoto_server.conninfo(clone.name), clone.template)
    finally:
        if watoto_server.keep:
            _keep(request.config, clone.name)
        else:
            watoto_server.give_back(clone.name, data)


@pytest.fixture
def watoto_conn(watoto_server: WatotoServer,
                request: pytest.FixtureRequest) -> Iterator[IsolatedConnection]:
    """A psycopg connection inside a transaction that is rolled back when the test ends,
    on a database shared by this worker's tests (``commit()`` stays inside it)."""
    data = _data(request)
    shared = watoto_server.shared(data)
    conn = shared.hand_out()
    conn.watoto_database = shared.name
    yield conn
    keep = watoto_server.keep and _failed(request.node)
    escaped = shared.finish(conn, commit=keep)
    if keep:
        name = watoto_server.retire_shared(data, keep=True)
        _keep(request.config, name, f" (the work of {request.node.nodeid}, committed)")
    elif escaped is not None:
        watoto_server.retire_shared(data, keep=watoto_server.keep)
        pytest.fail(f"watoto_conn on {escaped.database}: {escaped.reason}", pytrace=False)


@pytest.fixture
def watoto_tx(watoto_conn: IsolatedConnection) -> IsolatedConnection:
    """``watoto_conn`` under the name that says what it is: a transaction."""
    return watoto_conn


_CALL_REPORT = pytest.StashKey[pytest.TestReport]()


def _failed(item: pytest.Item) -> bool:
    report = item.stash.get(_CALL_REPORT, None)
    return report is not None and report.failed


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    """Remember the call's outcome (``--watoto-keep``) and name the test's database in a
    failure's report."""
    outcome: Any = yield
    report: pytest.TestReport = outcome.get_result()
    if report.when == "call":
        item.stash[_CALL_REPORT] = report
    if not report.failed or report.when == "teardown":
        return
    funcargs = getattr(item, "funcargs", {})
    lines = []
    db = funcargs.get("watoto_db")
    if isinstance(db, WatotoDatabase):
        lines.append(f"watoto_db: {db.name} ({db.dsn})" + (
            "" if item.config.getoption("watoto_keep") else
            "; dropped after the test: rerun with --watoto-keep to keep it"))
    conn = funcargs.get("watoto_conn")
    name = getattr(conn, "watoto_database", None)
    if name:
        lines.append(f"watoto_conn: {name}, inside a transaction rolled back after the test"
                     + ("" if item.config.getoption("watoto_keep") else
                        "; rerun with --watoto-keep to keep its work committed"))
    if lines:
        if item.config.getoption("watoto_keep"):
            lines[-1] = lines[-1].replace("rolled back after the test",
                                          "committed after the test and kept")
        report.sections.append(("watoto test database", "\n".join(lines)))
