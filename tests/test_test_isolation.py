"""Rollback isolation (``watoto_conn``) and the ready-clone pool (``watoto_db``), #22:
exercised the way a project uses them, in an inner pytest run."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import psycopg
import pytest

from watoto_schema.provision.template import managed_databases

from .conftest import Server, eventually

# Tests run in file order in one process: each "after_*" test checks that what the test
# before it left is gone.
ISOLATION_TESTS = '''
import os
import psycopg
import pytest
from psycopg.rows import dict_row

USER = ("INSERT INTO users (email, password_hash, role, grade) "
        "VALUES (%s, 'x', 'student', 7) RETURNING id")


def test_writes_everything_that_could_leak(watoto_conn):
    first = watoto_conn.execute(USER, ("a@example.org",)).fetchone()[0]
    assert first == 1
    watoto_conn.execute("CREATE TABLE leaked (id int)")
    watoto_conn.execute("CREATE TEMP TABLE leaked_temp (id int)")
    watoto_conn.execute("SET work_mem = '77MB'")
    watoto_conn.execute("SELECT pg_advisory_lock(4242)")
    watoto_conn.execute("PREPARE leaked_plan AS SELECT 1")
    watoto_conn.execute("DECLARE leaked_cursor CURSOR WITH HOLD FOR SELECT 1")
    watoto_conn.execute("LISTEN leaked_channel")
    watoto_conn.execute("SELECT nextval('courses_id_seq')")
    watoto_conn.row_factory = dict_row
    watoto_conn.adapters.register_dumper(str, psycopg.types.string.StrBinaryDumper)
    watoto_conn.add_notice_handler(lambda diag: None)
    watoto_conn.commit()  # stays inside the test's transaction
    watoto_conn.execute(USER, ("b@example.org",))


def test_after_writes_nothing_is_left(watoto_conn):
    c = watoto_conn
    assert c.execute("SELECT count(*) FROM users").fetchone() == (0,)
    assert c.execute("SELECT count(*) FROM user_email_keys").fetchone() == (0,)
    assert c.execute("SELECT to_regclass('leaked')").fetchone() == (None,)
    assert c.execute("SELECT to_regclass('pg_temp.leaked_temp')").fetchone() == (None,)
    assert c.execute("SHOW work_mem").fetchone() != ("77MB",)
    assert c.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                     "AND pid = pg_backend_pid()").fetchone() == (0,)
    assert c.execute("SELECT count(*) FROM pg_prepared_statements "
                     "WHERE name = 'leaked_plan'").fetchone() == (0,)
    assert c.execute("SELECT count(*) FROM pg_cursors").fetchone() == (0,)
    assert c.execute("SELECT count(*) FROM pg_listening_channels()").fetchone() == (0,)
    # the sequences a test advanced are back where they stood
    assert c.execute(USER, ("a@example.org",)).fetchone() == (1,)
    assert c.execute("SELECT last_value, is_called FROM courses_id_seq").fetchone() == (
        1, False)
    assert c.row_factory is psycopg.rows.tuple_row
    assert not c._notice_handlers
    assert c.adapters.get_dumper(str, psycopg.adapt.PyFormat.AUTO) is not (
        psycopg.types.string.StrBinaryDumper)


def test_commit_and_rollback_stay_inside(watoto_conn):
    watoto_conn.execute(USER, ("kept@example.org",))
    watoto_conn.commit()
    watoto_conn.execute(USER, ("undone@example.org",))
    watoto_conn.rollback()  # back to the last commit(), not to the start of the test
    with watoto_conn.transaction():  # a savepoint, not BEGIN ... COMMIT
        watoto_conn.execute(USER, ("block@example.org",))
    with pytest.raises(psycopg.errors.CheckViolation):
        with watoto_conn.transaction():
            watoto_conn.execute("INSERT INTO users (email, password_hash, role, grade) "
                                "VALUES ('bad@example.org', 'x', 'student', 99)")
    emails = [r[0] for r in watoto_conn.execute("SELECT email FROM users ORDER BY email")]
    assert emails == ["block@example.org", "kept@example.org"]
    with pytest.raises(psycopg.ProgrammingError, match="two-phase|transaction status"):
        watoto_conn.tpc_begin("gid")
    with pytest.raises(psycopg.ProgrammingError, match="autocommit"):
        watoto_conn.autocommit = True


def test_a_failed_statement_then_commit(watoto_conn):
    with pytest.raises(psycopg.errors.UniqueViolation):
        watoto_conn.execute(USER, ("same@example.org",))
        watoto_conn.execute(USER, ("Same@example.org",))
    watoto_conn.commit()  # like COMMIT of a failed transaction: undoes it
    assert watoto_conn.execute("SELECT count(*) FROM users").fetchone() == (0,)


def test_closes_its_connection(watoto_conn):
    watoto_conn.execute(USER, ("closed@example.org",))
    watoto_conn.close()


def test_breaks_its_connection(watoto_conn, watoto_server):
    watoto_conn.execute(USER, ("broken@example.org",))
    pid = watoto_conn.info.backend_pid
    with watoto_server.admin() as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(psycopg.OperationalError):
        watoto_conn.execute("SELECT 1")


def test_after_close_and_break_a_clean_connection(watoto_conn):
    assert watoto_conn.execute("SELECT count(*) FROM users").fetchone() == (0,)
    assert watoto_conn.execute(USER, ("again@example.org",)).fetchone() == (1,)


def test_commits_with_sql(watoto_conn):
    with open(os.environ["WATOTO_RECORD"], "a") as out:
        out.write(watoto_conn.watoto_database + "\\n")
    watoto_conn.execute(USER, ("escaped@example.org",))
    watoto_conn.execute("COMMIT")


def test_after_escape_a_fresh_database(watoto_conn):
    with open(os.environ["WATOTO_RECORD"], "a") as out:
        out.write(watoto_conn.watoto_database + "\\n")
    assert watoto_conn.execute("SELECT count(*) FROM users").fetchone() == (0,)


def test_fails_and_names_its_database(watoto_conn):
    watoto_conn.execute(USER, ("failing@example.org",))
    assert False, "on purpose"


def test_tx_alias_is_the_same_connection(watoto_conn, watoto_tx):
    assert watoto_tx is watoto_conn
'''


@pytest.fixture
def inner(pytester: pytest.Pytester, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Path:
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    pytester.makepyfile(test_isolation=ISOLATION_TESTS)
    record = tmp_path / "record.txt"
    monkeypatch.setenv("WATOTO_RECORD", str(record))
    monkeypatch.delenv("WATOTO_TEST_DSN", raising=False)
    return record


@pytest.fixture(autouse=True)
def job(monkeypatch: pytest.MonkeyPatch) -> str:
    """The inner run's clones carry this job id in their owner label."""
    job = uuid.uuid4().hex
    monkeypatch.setenv("WATOTO_CI_JOB", job)
    return job


def databases(server: Server, job: str) -> list[str]:
    """The inner run's databases still on the server."""
    with server.admin() as conn:
        return [db.name for db in managed_databases(conn)
                if (db.label.get("owner") or {}).get("ci_job") == job]


def test_what_one_test_leaves_the_next_does_not_see(
        pytester: pytest.Pytester, inner: Path, pg_server: Server, job: str) -> None:
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist",
                                           "--watoto-dsn", pg_server.admin_conninfo)
    result.assert_outcomes(passed=10, failed=1, errors=1)
    # the SQL COMMIT is refused at teardown, with the reason, and the database replaced
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_commits_with_sql*",
                                 "*ended the fixture's transaction itself*use watoto_db*"])
    escaped, fresh = inner.read_text().split()
    assert escaped != fresh
    # a failure names the database to look at
    result.stdout.fnmatch_lines(["*watoto test database*",
                                 "watoto_conn: watoto_test_*rolled back after the test*"])
    # everything the run made was dropped (the last ones by the reaper, after the run)
    assert eventually(lambda: databases(pg_server, job) == [])


def test_keep_commits_a_failing_tests_work_in_a_database_of_its_own(
        pytester: pytest.Pytester, inner: Path, pg_server: Server, job: str) -> None:
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist",
                                           "-k", "fails_and_names or tx_alias",
                                           "--watoto-keep",
                                           "--watoto-dsn", pg_server.admin_conninfo)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["watoto_conn: watoto_test_*committed after the test and kept"])
    kept = [line.split()[3] for line in result.outlines
            if line.startswith("kept test database")]
    # the failing test's (the shared database it ran on), then the session's end's
    assert len(kept) == 2 and "test_fails_and_names_its_database, committed" in (
        result.stdout.str())
    # and nothing else (the pool's ready clones go by the reaper, after the run)
    assert eventually(lambda: sorted(databases(pg_server, job)) == sorted(kept))
    for name, expected in zip(kept, [{"failing@example.org"}, set()], strict=True):
        with psycopg.connect(pg_server.conninfo(name)) as conn:
            assert {r[0] for r in conn.execute("SELECT email FROM users")} == expected
        pg_server.drop_db(name)


POOL_TESTS = '''
import json, os
import pytest

@pytest.mark.parametrize("n", range(12))
def test_own_database(watoto_db, n):
    with watoto_db.connect(autocommit=True) as conn:
        conn.execute("CREATE TABLE mine (n int)")  # DDL and commits: its own database
        conn.execute("INSERT INTO mine VALUES (%s)", (n,))
    with open(os.environ["WATOTO_RECORD"], "a") as out:
        out.write(json.dumps({"db": watoto_db.name, "n": n,
                              "worker": os.environ.get("PYTEST_XDIST_WORKER")}) + "\\n")
'''


def test_the_pool_hands_each_test_its_own_clone_and_drops_them_all(
        pytester: pytest.Pytester, tmp_path: Path, pg_server: Server,
        monkeypatch: pytest.MonkeyPatch, job: str) -> None:
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    pytester.makepyfile(test_pool=POOL_TESTS)
    record = tmp_path / "record.jsonl"
    monkeypatch.setenv("WATOTO_RECORD", str(record))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2",
                                           "--watoto-pool", "3",
                                           "--watoto-dsn", pg_server.admin_conninfo)
    result.assert_outcomes(passed=12)
    rows = [json.loads(line) for line in record.read_text().splitlines()]
    assert len({r["db"] for r in rows}) == 12  # no clone handed to two tests
    assert len({r["worker"] for r in rows}) == 2
    # taken, ready and given back: all dropped (the last ones by the reaper)
    assert eventually(lambda: databases(pg_server, job) == [])


def test_a_negative_pool_size_is_a_usage_error(pytester: pytest.Pytester,
                                               pg_server: Server) -> None:
    pytester.makepyfile(test_pool=POOL_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--watoto-pool", "-1",
                                           "--watoto-dsn", pg_server.admin_conninfo)
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*--watoto-pool must be 0 or more (got -1)*"])
    assert "Traceback" not in result.stdout.str()


WARM_TESTS = '''
import os
from watoto_schema.provision.template import managed_databases

def test_first(watoto_db, watoto_server):
    with watoto_server.admin() as conn:
        mine = [db.name for db in managed_databases(conn)
                if (db.label.get("owner") or {}).get("pid") == os.getpid()]
    assert len(mine) == int(os.environ["EXPECTED"]), mine
'''


@pytest.mark.parametrize(("warm", "expected"), [(True, 4), (False, 1)])
def test_a_warm_pool_is_full_before_the_first_test_gets_its_database(
        pytester: pytest.Pytester, pg_server: Server, monkeypatch: pytest.MonkeyPatch,
        warm: bool, expected: int) -> None:
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    pytester.makepyfile(test_warm=WARM_TESTS)
    monkeypatch.setenv("EXPECTED", str(expected))  # its own clone (+ 3 ready when warm)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist",
                                           "--watoto-pool", "3",
                                           *(["--watoto-pool-warm"] if warm else []),
                                           "--watoto-dsn", pg_server.admin_conninfo)
    result.assert_outcomes(passed=1)
