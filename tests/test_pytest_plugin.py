"""The pytest plugin (#10), exercised the way a project uses it: an inner pytest run in a
subprocess, with xdist, an ini option for extra migrations and the sample-data marker."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from watoto_schema.provision.template import managed_databases

from .conftest import Server, eventually
from .test_migrations import SHIPPED

INNER_CONFTEST = '''
import json, os
import pytest

@pytest.fixture(scope="session", autouse=True)
def _record_template(watoto_template):
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    with open(os.environ["WATOTO_RECORD"], "a") as out:
        out.write(json.dumps({"worker": worker, "template": watoto_template.name,
                              "built": watoto_template.built}) + "\\n")

@pytest.fixture
def record(watoto_db):
    def write(**extra):
        with open(os.environ["WATOTO_RECORD"], "a") as out:
            out.write(json.dumps({"db": watoto_db.name, "template": watoto_db.template,
                                  "dsn": watoto_db.dsn, **extra}) + "\\n")
    return write
'''

INNER_TESTS = '''
import os, signal
import pytest

@pytest.mark.parametrize("n", range(6))
def test_each_gets_its_own_migrated_database(watoto_db, record, n):
    with watoto_db.connect(autocommit=True) as conn:
        conn.execute("INSERT INTO notes (body) VALUES ('mine')")  # the extra migration's table
        assert conn.execute("SELECT count(*) FROM notes").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone() == (APPLIED,)
    record(n=n)

@pytest.mark.watoto(students=20)
def test_sample_data_by_marker(watoto_conn, record):
    assert watoto_conn.execute(
        "SELECT count(*) FROM users WHERE role = 'student'").fetchone() == (20,)
    record(students=20)

def test_killed(watoto_db, record):
    record(killed=True)
    if os.environ.get("WATOTO_KILL"):
        os.kill(os.getpid(), signal.SIGKILL)
'''


@pytest.fixture
def project(pytester: pytest.Pytester, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project using the plugin: extra migrations from the ini file, a record file."""
    migrations = pytester.path / "db" / "migrations"
    migrations.mkdir(parents=True)
    # A fresh key each time: the comment is part of the checksum.
    (migrations / "1001_notes.sql").write_text(
        f"-- depends: 0007_views\n-- run {uuid.uuid4().hex}\n"
        "CREATE TABLE notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body text);\n")
    # Warnings are errors, as in this project: a connection left open would fail the run.
    pytester.makeini("[pytest]\nwatoto_migrations = db/migrations\nfilterwarnings = error\n")
    pytester.makeconftest(INNER_CONFTEST)
    pytester.makepyfile(test_app=INNER_TESTS.replace("APPLIED", str(len(SHIPPED) + 1)))
    record = tmp_path / "record.jsonl"
    monkeypatch.setenv("WATOTO_RECORD", str(record))
    monkeypatch.delenv("WATOTO_TEST_DSN", raising=False)
    return record


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def clones_of(server: Server, template: str) -> list[str]:
    with server.admin() as conn:
        return [db.name for db in managed_databases(conn)
                if db.kind == "clone" and db.label.get("template") == template]


def test_xdist_workers_share_one_template_and_never_collide(
        pytester: pytest.Pytester, project: Path, pg_server: Server) -> None:
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider",
                                           "--watoto-dsn", pg_server.admin_conninfo)
    result.assert_outcomes(passed=8)
    rows = records(project)
    built = [r for r in rows if "built" in r]
    assert len({r["worker"] for r in built}) == 2  # both workers asked for the template
    assert sum(r["built"] for r in built) == 1  # and one of them built it
    dbs = [r for r in rows if "db" in r]
    assert len({r["db"] for r in dbs}) == len(dbs) == 8
    plain = {r["template"] for r in dbs if "students" not in r}
    [with_data] = [r["template"] for r in dbs if "students" in r]
    assert len(plain) == 1 and with_data not in plain  # a template per data variant
    template = plain.pop()  # every test's database dropped (the last ones by the reaper)
    assert eventually(lambda: clones_of(pg_server, template) == [])


def test_a_killed_runs_leftovers_are_collected_by_the_next_run(
        pytester: pytest.Pytester, project: Path, pg_server: Server,
        monkeypatch: pytest.MonkeyPatch) -> None:
    dsn = ["--watoto-dsn", pg_server.admin_conninfo, "-p", "no:cacheprovider"]
    monkeypatch.setenv("WATOTO_KILL", "1")
    # a warm pool: ready clones besides the test's own when the process is killed
    killed = pytester.runpytest_subprocess("-k", "killed", "--watoto-pool", "2",
                                           "--watoto-pool-warm", *dsn)
    assert killed.ret != 0
    [leftover] = [r for r in records(project) if r.get("killed")]
    left = clones_of(pg_server, leftover["template"])
    assert leftover["db"] in left and len(left) >= 2

    monkeypatch.delenv("WATOTO_KILL")
    after = pytester.runpytest_subprocess("-k", "marker", *dsn)
    after.assert_outcomes(passed=1)
    assert after.ret == 0  # nothing left open either
    assert clones_of(pg_server, leftover["template"]) == []


def test_an_embedded_cluster_is_shared_by_the_workers_and_removed(
        pytester: pytest.Pytester, project: Path) -> None:
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider",
                                           "--watoto-server", "embedded", "-k", "own")
    result.assert_outcomes(passed=6)
    dsns = {r["dsn"] for r in records(project) if "dsn" in r}
    hosts = {psycopg.conninfo.conninfo_to_dict(d)["host"] for d in dsns}
    assert len(hosts) == 1  # one cluster for both workers
    socket_dir = Path(str(hosts.pop()))
    run_dir = socket_dir.parent.parent  # <tmp>/watoto-pytest-<run>/cluster/run
    assert run_dir.name.startswith("watoto-pytest-")
    assert not run_dir.exists()  # the controller stopped the cluster and removed it


def test_the_plugin_is_inert_until_a_fixture_is_asked_for(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain='''
import sys

def test_nothing_was_imported_or_connected():
    assert "psycopg" not in sys.modules
''')
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--watoto-dsn", "postgresql://nobody@127.0.0.1:1/none")
    result.assert_outcomes(passed=1)  # an unreachable server does not matter
