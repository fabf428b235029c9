"""`testdb` (#10): templates built once and sealed, clones with owners and leases, clean-up,
and the failures users of other tools meet (55006, leaks, stale templates, collisions).

These tests run on a cluster of their own, so that listing and collecting see only what
they made and cannot touch the databases the rest of the suite is using.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from watoto_schema import provision
from watoto_schema.local import LocalCluster
from watoto_schema.provision import clones as clones_lib
from watoto_schema.provision.template import DataOptions, template_key
from watoto_schema.target import Target

from .test_cli import SECRET, assert_one_line_error, run
from .test_migrations import SHIPPED

CLI = [str(Path(sys.executable).parent / "watoto-schema")]


@pytest.fixture(scope="module")
def server() -> Iterator[Target]:
    """A throwaway cluster for this module; its maintenance database is the target."""
    root = Path(tempfile.mkdtemp(prefix="watoto-testdb-"))
    os.chmod(root, 0o755)
    cluster = LocalCluster(root / "cluster", fsync=False, tcp=True)
    cluster.start(dbname="postgres")
    try:
        yield Target(make_conninfo(cluster.url("postgres")), "tests")
    finally:
        cluster.destroy()
        os.rmdir(root)


@pytest.fixture
def target(server: Target) -> Iterator[Target]:
    """The module's server, emptied of test databases after each test."""
    yield server
    with psycopg.connect(server.conninfo, autocommit=True) as conn:
        for db in provision.template.managed_databases(conn):
            provision.template.drop_database(conn, db.name)


def databases(target: Target, like: str = "watoto%") -> dict[str, tuple[bool, bool]]:
    """name -> (is_template, allow_connections) of the server's databases matching ``like``."""
    with psycopg.connect(target.conninfo, autocommit=True) as conn:
        rows = conn.execute("SELECT datname, datistemplate, datallowconn FROM pg_database "
                            "WHERE datname LIKE %s", (like,)).fetchall()
    return {name: (is_template, allow) for name, is_template, allow in rows}


def admin(target: Target, statement: str | sql.Composable) -> None:
    with psycopg.connect(target.conninfo, autocommit=True) as conn:
        conn.execute(statement)


def extra_folder(tmp_path: Path, body: str, name: str = "1001_extra") -> Path:
    folder = tmp_path / "migrations"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.sql").write_text(f"-- depends: 0007_views\n{body}\n")
    return folder


# -- the template ----------------------------------------------------------------------------

def test_provision_builds_a_sealed_template_once_and_clones_it(target: Target) -> None:
    first = provision.provision(target, count=2)
    assert first.template.built and len(first.clones) == 2
    name = first.template.name
    assert name.startswith("watoto_tpl_") and len(name) == len("watoto_tpl_") + 12
    assert databases(target, name) == {name: (True, False)}  # IS_TEMPLATE, no connections
    second = provision.provision(target, count=1)
    assert not second.template.built and second.template.name == name
    assert second.verified  # the first clone was checked against the files

    names = {c.name for c in first.clones + second.clones}
    assert len(names) == 3
    for clone in first.clones + second.clones:
        with psycopg.connect(clone.dsn) as conn:
            applied = conn.execute("SELECT count(*) FROM schema_migrations").fetchone()
            partitions = conn.execute("SELECT count(*) FROM pg_inherits WHERE inhparent = "
                                      "'enrollments'::regclass").fetchone()
            label = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM "
                                 "pg_database WHERE datname = current_database()").fetchone()
        assert applied == (len(SHIPPED),)
        assert partitions and partitions[0] >= 6  # 2024..2027, premade years, DEFAULT
        assert label is not None
        owner = json.loads(label[0])["owner"]
        assert owner["pid"] == os.getpid() and owner["bound"] is False


def test_the_key_covers_files_data_options_and_the_server(target: Target,
                                                          tmp_path: Path) -> None:
    with psycopg.connect(target.conninfo) as conn:
        plain = template_key(conn)
        with_data = template_key(conn, data=DataOptions(students=50))
        folder = extra_folder(tmp_path, "CREATE TABLE notes (id bigint PRIMARY KEY);")
        with_folder = template_key(conn, [folder])
        (folder / "1001_extra.rollback.sql").write_text("DROP TABLE notes;\n")
        with_rollback = template_key(conn, [folder])
        (folder / "1001_extra.sql").write_text(
            "-- depends: 0007_views\n\n  CREATE TABLE notes (id   bigint PRIMARY KEY);\n")
        reformatted = template_key(conn, [folder])
    assert len({plain.name, with_data.name, with_folder.name, with_rollback.name}) == 4
    assert plain.migrations_key == with_data.migrations_key  # one schema, two data variants
    assert reformatted.name == with_rollback.name  # whitespace is not a change
    assert plain.server_major >= 15


def test_sample_data_templates_hold_the_students(target: Target) -> None:
    result = provision.provision(target, data=DataOptions(students=30))
    with psycopg.connect(result.clones[0].dsn) as conn:
        row = conn.execute("SELECT count(*) FROM users WHERE role = 'student'").fetchone()
    assert row == (30,)
    plain = provision.provision(target)
    assert plain.template.name != result.template.name


def test_concurrent_provisioners_build_the_template_exactly_once(target: Target) -> None:
    results: list[Any] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            results.append(provision.provision(target, count=2))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert sum(r.template.built for r in results) == 1
    names = [c.name for r in results for c in r.clones]
    assert len(names) == len(set(names)) == 12
    assert len(databases(target, "watoto_tpl_%")) == 1


def test_the_first_clones_time_both_strategies_then_use_the_faster(target: Target) -> None:
    first = provision.provision(target, count=4)
    used = [c.strategy for c in first.clones]
    assert used[:3] == ["wal_log", "file_copy", "wal_log"]  # the trial
    label = provision.list_all(target).templates[0].label
    samples = label["clone_ms"]
    assert {s: len(v) for s, v in samples.items()} == {"wal_log": 2, "file_copy": 1}
    faster = min(samples["file_copy"]) < 0.8 * min(samples["wal_log"])
    assert label["strategy"] == ("file_copy" if faster else "wal_log")
    assert used[3] == label["strategy"]
    assert provision.provision(target).clones[0].strategy == label["strategy"]
    forced = provision.provision(target, strategy="file_copy")
    assert forced.clones[0].strategy == "file_copy"


def test_a_template_changed_after_sealing_is_rebuilt(target: Target) -> None:
    name = provision.provision(target).template.name
    admin(target, sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(
        sql.Identifier(name)))
    with psycopg.connect(make_conninfo(target.conninfo, dbname=name), autocommit=True) as conn:
        conn.execute("CREATE TABLE sneaked_in (id int)")
    admin(target, sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(
        sql.Identifier(name)))  # sealed again, but not what was built
    notes: list[str] = []
    again = provision.provision(target, on_event=notes.append)
    assert any("fingerprint" in n for n in notes), notes
    assert again.template.built
    with psycopg.connect(again.clones[0].dsn) as conn:
        assert conn.execute("SELECT to_regclass('sneaked_in')").fetchone() == (None,)


def test_an_unsealed_template_is_never_trusted(target: Target) -> None:
    name = provision.provision(target).template.name
    admin(target, sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(
        sql.Identifier(name)))
    assert provision.provision(target).template.built
    assert databases(target, name) == {name: (True, False)}


def test_a_session_on_the_template_is_named_when_cloning_fails(target: Target) -> None:
    name = provision.provision(target).template.name
    admin(target, sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(
        sql.Identifier(name)))
    with psycopg.connect(make_conninfo(target.conninfo, dbname=name),
                         application_name="someone-looking") as intruder:
        admin(target, sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(
            sql.Identifier(name)))
        result = run("testdb", "provision", "--dsn", target.conninfo)
        line = assert_one_line_error(result)
        assert "someone-looking" in line and f"pid {intruder.info.backend_pid}" in line
    assert len(databases(target, "watoto_test_%")) == 1  # the first call's clone only


# -- failures leave nothing usable-looking -------------------------------------------------------

def test_a_failing_migration_leaves_no_template(target: Target, tmp_path: Path) -> None:
    folder = extra_folder(tmp_path, "CREATE TABLE broken (x nosuchtype);")
    result = run("testdb", "provision", "--dsn", target.conninfo, "--migrations", str(folder))
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1  # beside the progress notes, one line says what failed
    assert "building template" in errors[0] and "nosuchtype" in errors[0]
    assert databases(target) == {}


def test_a_killed_build_is_cleaned_up_and_never_used(target: Target, tmp_path: Path) -> None:
    # The migration sleeps only where PGOPTIONS says so: in the run that is killed.
    folder = extra_folder(tmp_path, "SELECT pg_sleep(coalesce(nullif(current_setting("
                                    "'watoto.test_sleep', true), ''), '0')::float);")
    env = {**os.environ, "WATOTO_DATABASE_URL": target.conninfo,
           "PGOPTIONS": "-c watoto.test_sleep=30"}
    proc = subprocess.Popen([*CLI, "testdb", "provision", "--migrations", str(folder)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not databases(target, "watoto_tpl_%_build_%"):
            time.sleep(0.05)
        time.sleep(0.5)  # inside the migration's pg_sleep
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    leftovers = databases(target)
    assert len(leftovers) == 1 and "_build_" in next(iter(leftovers))
    inventory = run("testdb", "list", "--json", "--dsn", target.conninfo)
    assert [b["pid"] for b in json.loads(inventory.stdout)["builds"]] == [proc.pid]

    deadline = time.monotonic() + 10  # the server notices the killed client's sessions
    while time.monotonic() < deadline:
        collected = provision.gc(target, extra_dirs=[folder], dry_run=True)
        if collected:
            break
        time.sleep(0.1)
    assert [d.kind for d in collected] == ["build"]
    notes: list[str] = []
    result = provision.provision(target, extra_dirs=[folder], on_event=notes.append)
    assert any("left by a build that did not finish" in n for n in notes), notes
    assert result.template.built
    assert set(databases(target)) == {result.template.name, result.clones[0].name}


def test_a_server_lost_mid_build_leaves_nothing_usable(target: Target, tmp_path: Path) -> None:
    folder = extra_folder(tmp_path, "SELECT pg_sleep(30);")
    errors: list[BaseException] = []

    def provisioner() -> None:
        try:
            provision.provision(target, extra_dirs=[folder])
        except BaseException as exc:  # expected: its sessions are terminated
            errors.append(exc)

    thread = threading.Thread(target=provisioner)
    thread.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not databases(target, "watoto_tpl_%_build_%"):
        time.sleep(0.05)
    time.sleep(0.5)
    admin(target, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                  "WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'")
    thread.join(30)
    assert len(errors) == 1 and isinstance(errors[0], provision.ProvisionError), errors
    assert "nothing was kept" in str(errors[0])
    left = databases(target)
    assert all("_build_" in name for name in left), left  # no template, no clone
    collected = provision.gc(target, extra_dirs=[folder])
    assert all(d.kind == "build" for d in collected)
    assert databases(target) == {}


# -- bad input ----------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [["--count", "0"], ["--count", "100000"], ["--students", "-1"],
                                  ["--prefix", "Bad-Name"], ["--lease", "forever"]])
def test_bad_options_are_one_line_errors(target: Target, argv: list[str]) -> None:
    assert_one_line_error(run("testdb", "provision", *argv, "--dsn", target.conninfo))
    assert databases(target) == {}


def test_an_existing_clone_name_is_refused_before_anything_is_made(target: Target) -> None:
    assert run("testdb", "provision", "--prefix", "ci_7", "--count", "2", "--dsn",
               target.conninfo).exit_code == 0
    line = assert_one_line_error(run("testdb", "provision", "--prefix", "ci_7", "--count",
                                     "3", "--dsn", target.conninfo))
    assert "ci_7_1" in line and "ci_7_2" in line
    assert set(databases(target, "ci_7_%")) == {"ci_7_1", "ci_7_2"}


def test_a_role_without_createdb_gets_one_line(target: Target) -> None:
    admin(target, "CREATE ROLE no_createdb LOGIN")
    try:
        dsn = make_conninfo(target.conninfo, user="no_createdb")
        line = assert_one_line_error(run("testdb", "provision", "--dsn", dsn))
        assert "CREATEDB" in line
    finally:
        admin(target, "DROP ROLE no_createdb")


def test_no_password_in_the_output(target: Target) -> None:
    params = conninfo_to_dict(target.conninfo)
    admin(target, sql.SQL("CREATE ROLE provisioner LOGIN CREATEDB PASSWORD {}").format(
        sql.Literal(SECRET)))
    try:
        port = params["port"]
        url = f"postgresql://provisioner:{SECRET}@127.0.0.1:{port}/postgres"
        result = run("testdb", "provision", "--json", "--dsn", url)
        assert result.exit_code == 0, result.output
        assert SECRET not in result.output + result.stderr
        [made] = json.loads(result.stdout)["databases"]
        with psycopg.connect(made["dsn"], password=SECRET) as conn:  # a usable DSN
            assert conn.execute("SELECT current_user").fetchone() == ("provisioner",)
        assert SECRET not in run("testdb", "list", "--dsn", url).output
    finally:
        with psycopg.connect(target.conninfo, autocommit=True) as conn:
            for db in provision.template.managed_databases(conn):
                provision.template.drop_database(conn, db.name)
        admin(target, "DROP ROLE provisioner")


# -- list, drop, gc ----------------------------------------------------------------------------

def test_list_drop_and_gc_through_the_cli(target: Target, tmp_path: Path) -> None:
    dsn = ["--dsn", target.conninfo]
    assert "No test databases" in run("testdb", "list", *dsn).stdout
    made = json.loads(run("testdb", "provision", "--count", "2", "--json", *dsn).stdout)
    doc = json.loads(run("testdb", "list", "--json", *dsn).stdout)
    assert [t["current"] for t in doc["templates"]] == [True]
    assert {c["name"] for c in doc["clones"]} == {d["name"] for d in made["databases"]}

    folder = extra_folder(tmp_path, "CREATE TABLE notes (id bigint PRIMARY KEY);")
    assert run("testdb", "provision", "--migrations", str(folder), *dsn).exit_code == 0
    doc = json.loads(run("testdb", "list", "--json", "--migrations", str(folder), *dsn).stdout)
    assert sorted(t["current"] for t in doc["templates"]) == [False, True]

    first = made["databases"][0]["name"]
    assert run("testdb", "drop", first, *dsn).exit_code == 0
    assert first not in databases(target)
    assert_one_line_error(run("testdb", "drop", "postgres", *dsn))  # not ours: refused
    assert_one_line_error(run("testdb", "drop", "--all", *dsn), code=3)
    dropped = json.loads(run("testdb", "drop", "--all", "--yes", "--json", *dsn).stdout)
    assert {d["kind"] for d in dropped["dropped"]} == {"clone"}
    assert not databases(target, "watoto_test_%")


def test_gc_collects_dead_owners_and_expired_leases(target: Target) -> None:
    result = provision.provision(target, count=3, bound_to_process=True)
    alive, dead, expired = result.clones
    with psycopg.connect(target.conninfo, autocommit=True) as conn:
        child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                               capture_output=True, text=True, check=True)
        for clone, change in ((dead, {"owner": {"pid": int(child.stdout)}}),
                              (expired, {"lease_until": "2000-01-01T00:00:00+00:00"})):
            [db] = [d for d in provision.template.managed_databases(conn)
                    if d.name == clone.name]
            label = {**db.label, **change}
            if "owner" in change:
                label["owner"] = {**db.label["owner"], **change["owner"]}
            provision.template._label(conn, clone.name, label)
    gone = {d.name: d.reason for d in provision.gc(target)}
    assert gone == {dead.name: "owner process gone", expired.name: "lease expired"}
    assert alive.name in databases(target)
    later = datetime.now(UTC) + timedelta(hours=3)
    assert {d.name for d in provision.gc(target, now=later)} == {alive.name}


def test_cli_clones_outlive_the_cli_process(target: Target) -> None:
    env = {**os.environ, "WATOTO_DATABASE_URL": target.conninfo}
    out = subprocess.run([*CLI, "testdb", "provision", "--json"], env=env, check=True,
                         capture_output=True, text=True).stdout
    [made] = json.loads(out)["databases"]
    assert provision.gc(target) == []  # its process is gone, but its lease runs
    assert made["name"] in databases(target)


def test_stale_templates_go_only_when_unused_beyond_the_newest_kept(target: Target,
                                                                   tmp_path: Path) -> None:
    names = []
    for n in range(3):
        folder = tmp_path / f"set{n}"
        folder.mkdir()
        (folder / "1001_x.sql").write_text(f"-- depends: 0007_views\nSELECT {n};\n")
        names.append(provision.provision(target, extra_dirs=[folder]).template.name)
    current = provision.provision(target).template.name
    assert provision.gc(target, keep=0) == []  # stale ones, but cloned within the hour
    later = datetime.now(UTC) + timedelta(hours=2)
    gone = [d.name for d in provision.gc(target, keep=1, now=later) if d.kind == "template"]
    assert sorted(gone) == sorted(names[:2]) and current not in gone


def test_clone_names_never_collide() -> None:
    seen = set()
    for _ in range(200):
        seen.update(clones_lib.clone_names(3, None))
    assert len(seen) == 600
    assert clones_lib.clone_names(2, "ci_12") == ["ci_12_1", "ci_12_2"]


def test_each_role_gets_a_template_whose_tables_it_owns(target: Target) -> None:
    built = provision.provision(target).template  # built by the superuser
    admin(target, "CREATE ROLE other_ci LOGIN CREATEDB")
    try:
        theirs = Target(make_conninfo(target.conninfo, user="other_ci"), "tests")
        result = provision.provision(theirs, count=2)
        assert result.template.built and result.template.name != built.name
        assert not provision.provision(theirs).template.built
        with psycopg.connect(result.clones[0].dsn) as conn:  # its tests can use the tables
            assert conn.execute("SELECT count(*) FROM courses").fetchone() == (0,)
            conn.execute("ALTER TABLE courses ADD COLUMN scratch int")  # the owner's right
    finally:
        with psycopg.connect(target.conninfo, autocommit=True) as conn:
            for db in provision.template.managed_databases(conn):
                provision.template.drop_database(conn, db.name)
        admin(target, "DROP ROLE other_ci")


# -- the pool of ready clones: testdb pool / take / give-back (#22) -----------------------------

def _take(target: Target, *extra: str) -> dict[str, Any]:
    """`testdb take --json` in a process of its own, as a Node or Go suite would run it."""
    out = subprocess.run([*CLI, "--json", "testdb", "take", "--dsn", target.conninfo, *extra],
                         capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout))


def _ready(target: Target, pool: str = "default") -> list[str]:
    with psycopg.connect(target.conninfo, autocommit=True) as conn:
        return [db.name for db in provision.template.managed_databases(conn)
                if db.label.get("pool") == pool and db.label.get("state") == "ready"]


def test_take_from_two_processes_at_once_never_hands_one_database_twice(
        target: Target) -> None:
    dsn = ["--dsn", target.conninfo]
    filled = run("--json", "testdb", "pool", "--size", "4", *dsn)
    assert filled.exit_code == 0, filled.output
    ready = set(json.loads(filled.stdout)["ready"])
    assert len(ready) == 4 and set(_ready(target)) == ready
    taken: list[dict[str, Any]] = []
    threads = [threading.Thread(target=lambda: taken.append(_take(target)))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    names = [t["name"] for t in taken]
    assert len(set(names)) == 4 and set(names) == ready  # each ready one, once
    assert all(t["from_pool"] for t in taken) and _ready(target) == []
    with psycopg.connect(taken[0]["dsn"]) as conn:  # a migrated database, the taker's now
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] > 0
    # the pool is empty: the next taker gets a clone made on the spot
    late = _take(target)
    assert not late["from_pool"] and late["name"] not in names
    back = run("--json", "testdb", "give-back", *names, late["name"], *dsn)
    assert back.exit_code == 0, back.output
    assert [n for n in databases(target) if n.startswith("watoto_test_")] == []


def test_give_back_refuses_what_is_not_a_clone_and_drops_nothing(target: Target) -> None:
    dsn = ["--dsn", target.conninfo]
    taken = _take(target)
    admin(target, "CREATE DATABASE not_a_clone")
    try:
        line = assert_one_line_error(run("testdb", "give-back", taken["name"], "not_a_clone",
                                         *dsn))
        assert "not a clone made by testdb: not_a_clone" in line
        assert taken["name"] in databases(target) and "not_a_clone" in databases(target, "not%")
        template = next(n for n, (is_template, _) in databases(target).items() if is_template)
        assert "not a clone" in assert_one_line_error(run("testdb", "give-back", template,
                                                          *dsn))
        assert_one_line_error(run("testdb", "give-back", *dsn))  # no name at all
    finally:
        admin(target, "DROP DATABASE not_a_clone")


def test_a_template_change_drains_the_old_pool(target: Target, tmp_path: Path) -> None:
    folder = extra_folder(tmp_path, "CREATE TABLE extra_one (id int);")
    dsn = ["--dsn", target.conninfo, "--migrations", str(folder)]
    first = json.loads(run("--json", "testdb", "pool", "--size", "2", *dsn).stdout)
    (folder / "1002_more.sql").write_text(
        "-- depends: 1001_extra\nCREATE TABLE extra_two (id int);\n")
    second = json.loads(run("--json", "testdb", "pool", "--size", "2", *dsn).stdout)
    assert sorted(second["drained"]) == sorted(first["ready"])
    assert second["template"] != first["template"] and len(second["made"]) == 2
    taken = _take(target, "--migrations", str(folder))
    assert taken["from_pool"] and taken["template"] == second["template"]
    with psycopg.connect(taken["dsn"]) as conn:
        assert conn.execute("SELECT to_regclass('extra_two')").fetchone() != (None,)


def test_a_watching_pool_refills_and_drops_its_ready_clones_on_exit(target: Target) -> None:
    watcher = subprocess.Popen([*CLI, "testdb", "pool", "--size", "2", "--watch", "--dsn",
                                target.conninfo], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while len(_ready(target)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        taken = _take(target)
        assert taken["from_pool"]
        while len(_ready(target)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(_ready(target)) == 2 and taken["name"] not in _ready(target)
    finally:
        watcher.send_signal(signal.SIGTERM)
        out, err = watcher.communicate(timeout=30)
    assert watcher.returncode == 0, err
    assert "Traceback" not in out + err
    assert _ready(target) == [] and taken["name"] in databases(target)  # the taken one stays


@pytest.mark.parametrize("size", ["0", "101", "all connections"])
def test_a_pool_size_out_of_range_or_beyond_free_connections_is_refused(
        target: Target, size: str) -> None:
    if size == "all connections":
        with psycopg.connect(target.conninfo) as conn:
            row = conn.execute("SELECT current_setting('max_connections')::int").fetchone()
        assert row is not None and row[0] <= 100  # the embedded cluster's
        size = str(row[0])
    line = assert_one_line_error(run("testdb", "pool", "--size", size, "--dsn",
                                     target.conninfo))
    assert "--size" in line
    assert databases(target) == {}


def test_a_pool_on_a_role_without_createdb_gets_one_line(target: Target) -> None:
    admin(target, "CREATE ROLE no_createdb_pool LOGIN")
    try:
        dsn = make_conninfo(target.conninfo, user="no_createdb_pool")
        assert "CREATEDB" in assert_one_line_error(run("testdb", "pool", "--dsn", dsn))
    finally:
        admin(target, "DROP ROLE no_createdb_pool")
