"""Many migrations (#9): files read once without splitting SQL, one script per transactional
migration, yoyo's records still written the way yoyo itself reads them."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import psycopg
import pytest

from watoto_schema import migrate, sources
from watoto_schema.errors import BadConfig, MigrationFailed
from watoto_schema.target import Target

from .test_engine import HEAD, q, write
from .test_migrations import SHIPPED

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from many_migrations_speed import generate  # noqa: E402


@pytest.fixture
def generated(tmp_path: Path) -> Path:
    """The benchmark's 200 migrations, each depending on the one before."""
    folder = tmp_path / "many"
    folder.mkdir()
    generate(folder)
    return folder


def _yoyo_view(folder: Path) -> Any:
    """yoyo's own reading of the shipped and ``folder``'s migrations, loaded."""
    from yoyo import read_migrations

    found = read_migrations(*(str(d) for d in sources.migration_dirs([folder])))
    for m in found:
        m.load()
    return found


def _yoyo_statements(step_list: Any, direction: str) -> list[str]:
    out = [getattr(w.step, "_apply" if direction == "apply" else "_rollback") for w in step_list]
    out = [s.strip() for s in out if s and s.strip()]
    return out[::-1] if direction == "rollback" else out


def test_files_are_read_as_yoyo_reads_them(generated: Path) -> None:
    ours = sources.read(sources.migration_dirs([generated]))
    theirs = _yoyo_view(generated)
    assert [f.version for f in ours] == [m.id for m in theirs]
    assert len(ours) == len(SHIPPED) + 200
    for f, m in zip(ours, theirs, strict=True):
        assert f.transactional == bool(m.use_transactions)
        assert f.depends == sorted(d.id for d in m.depends)
        assert f.statements == _yoyo_statements(m.steps, "apply")
        assert f.rollback_statements == _yoyo_statements(m.steps, "rollback")
        assert f.statement_count == len(f.statements)
        # The script sent to the server starts where yoyo's first statement starts.
        first = f.statements[0] if f.statements else ""
        assert f.sql("apply").lstrip().startswith(first[:40])


def test_reading_does_not_split_sql_or_import_yoyo(generated: Path) -> None:
    code = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from watoto_schema import sources
        files = sources.read(sources.migration_dirs([Path({str(generated)!r})]))
        assert len(files) == {len(SHIPPED) + 200}
        assert "sqlparse" not in sys.modules and "yoyo" not in sys.modules, "imported"
        files[-1].statements  # split on demand
        assert "sqlparse" in sys.modules
    """)
    subprocess.run([sys.executable, "-c", code], check=True)


def test_headers_are_judged_as_yoyo_judges_them(tmp_path: Path) -> None:
    write(tmp_path, "1001_bad", f"-- depends: {HEAD}\n-- transactional: maybe\nSELECT 1;\n")
    with pytest.raises(BadConfig, match="transactional"):
        sources.read(sources.migration_dirs([tmp_path]))
    write(tmp_path, "1001_bad", "-- depends: 0099_nowhere\nSELECT 1;\n")
    with pytest.raises(BadConfig, match="0099_nowhere"):
        sources.read(sources.migration_dirs([tmp_path]))


def test_statement_count_ignores_semicolons_in_literals_comments_and_bodies() -> None:
    text = textwrap.dedent("""\
        -- a comment; with a semicolon
        CREATE TABLE a (note text DEFAULT 'x;y', "odd;name" int);
        /* block; comment */
        CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$
        BEGIN RETURN 1; END $body$;
        INSERT INTO a (note) VALUES (E'it\\'s; fine'), ('50%');;
        SELECT 1
        -- trailing comment;
        """)
    assert sources.count_statements(text) == 4
    assert sources.count_statements("-- only a comment\n") == 0


def test_yoyo_schema_version_is_the_one_yoyo_knows() -> None:
    from yoyo import internalmigrations

    assert max(internalmigrations.schema_versions) == migrate.YOYO_SCHEMA_VERSION


def test_yoyo_sees_what_migrate_and_rollback_did(empty_db: Target, generated: Path) -> None:
    """Records written by our one-script run are the ones yoyo itself writes and reads."""
    assert len(migrate.migrate(empty_db, extra_dirs=[generated]).done) == len(SHIPPED) + 200
    with psycopg.connect(empty_db.conninfo, autocommit=True) as conn:
        backend = migrate._backend_class()(conn)  # yoyo's own code reads its tables
        theirs = _yoyo_view(generated)
        assert list(backend.to_apply(theirs)) == []
        assert migrate.rollback(empty_db, steps=3, extra_dirs=[generated]).done == [
            m.id for m in theirs[-3:]][::-1]
        assert [m.id for m in backend.to_apply(theirs)] == [m.id for m in theirs[-3:]]
    log = q(empty_db, "SELECT operation, count(*) FROM _yoyo_log GROUP BY 1 ORDER BY 1")
    assert log == [("apply", len(SHIPPED) + 200), ("rollback", 3)]
    ledger = q(empty_db, "SELECT count(*) FROM schema_migrations")
    history = q(empty_db, "SELECT count(*), count(duration_ms), min(statements_done) "
                          "FROM watoto_migration_history")
    left = len(SHIPPED) + 200 - 3
    assert ledger == [(left,)] and history == [(left, left, 1)]
    assert migrate.verify(empty_db, extra_dirs=[generated]).pending == [
        m.id for m in theirs[-3:]]


def test_a_transactional_migration_is_two_round_trips(db: Target, generated: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The server round trips of a run do not grow with statements or records: BEGIN with the
    settings, then the migration's SQL, its four records and COMMIT in one script."""
    calls: list[str] = []
    original = psycopg.Connection.execute

    def counting(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(str(query)[:40])
        return original(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Connection, "execute", counting)
    done = migrate.migrate(db, extra_dirs=[generated]).done
    assert len(done) == 200
    # + a constant few for the run: connection set-up, lock, bootstrap check, applied state
    assert 2 * 200 <= len(calls) <= 2 * 200 + 16, calls[:20]


def test_migration_sql_is_sent_as_written(db: Target, tmp_path: Path) -> None:
    """Percent signs and the file's own formatting reach the server untouched; a broken
    script (an unterminated comment swallowing the records) applies and records nothing."""
    write(tmp_path, "1001_percent", f"""\
        -- depends: {HEAD}
        CREATE TABLE pct (pattern text);
        INSERT INTO pct VALUES ('50%'), ('%(v)s'), ('{{}}');
        """)
    assert migrate.migrate(db, extra_dirs=[tmp_path]).done == ["1001_percent"]
    assert q(db, "SELECT pattern FROM pct ORDER BY 1") == [("%(v)s",), ("50%",), ("{}",)]
    write(tmp_path, "1002_broken", """\
        -- depends: 1001_percent
        CREATE TABLE broken (id int);
        /* never closed
        """)
    with pytest.raises(MigrationFailed, match="1002_broken"):
        migrate.migrate(db, extra_dirs=[tmp_path])
    assert q(db, "SELECT to_regclass('broken')") == [(None,)]
    assert "1002_broken" in migrate.status(db, extra_dirs=[tmp_path]).pending
    assert migrate.verify(db, extra_dirs=[tmp_path]).pending == ["1002_broken"]


def test_nothing_pending_check_reads_no_file_when_something_is_pending(
        db: Target, generated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_scan(*args: Any) -> Any:
        raise AssertionError("files read by the quick check")

    with psycopg.connect(db.conninfo, autocommit=True) as conn:
        monkeypatch.setattr(sources, "scan", no_scan)
        assert not migrate._up_to_date(conn, [generated])
        monkeypatch.undo()
        assert migrate._up_to_date(conn, [])  # the shipped ones are all applied
