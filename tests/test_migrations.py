"""migrate / rollback / status against a real server: round trips, ledger, atomicity."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import psycopg
import pytest

from watoto_schema import migrate
from watoto_schema.catalog import snapshot
from watoto_schema.errors import MigrationFailed, UnknownVersion
from watoto_schema.resources import migrations_dir
from watoto_schema.target import Target

SHIPPED = sorted(p.stem for p in migrations_dir().glob("*.sql") if not p.stem.endswith(".rollback"))


def _snap(target: Target) -> list[Any]:
    with psycopg.connect(target.conninfo, autocommit=True) as conn:
        return snapshot(conn)


def _ledger(target: Target) -> list[str]:
    with psycopg.connect(target.conninfo, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('schema_migrations')").fetchone() == (None,):
            return []
        return [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]


def test_shipped_migrations_each_have_a_rollback() -> None:
    assert SHIPPED, "no shipped migrations found"
    for version in SHIPPED:
        assert (migrations_dir() / f"{version}.rollback.sql").is_file(), version


def test_migrate_applies_everything_and_records_it(empty_db: Target) -> None:
    before = migrate.status(empty_db)
    assert before.pending == SHIPPED and before.applied == []

    result = migrate.migrate(empty_db)

    assert result.done == SHIPPED
    assert _ledger(empty_db) == SHIPPED
    after = migrate.status(empty_db)
    assert after.applied == SHIPPED and after.pending == []
    assert all(v.applied_at is not None for v in after.versions)
    assert migrate.migrate(empty_db).done == []  # idempotent


def test_round_trip_restores_the_identical_catalog(empty_db: Target) -> None:
    pristine = _snap(empty_db)
    migrate.migrate(empty_db)
    first = _snap(empty_db)

    rolled = migrate.rollback(empty_db, everything=True)

    assert rolled.done == list(reversed(SHIPPED))
    assert _ledger(empty_db) == []
    assert _snap(empty_db) == pristine
    migrate.migrate(empty_db)
    assert _snap(empty_db) == first


def test_each_rollback_restores_the_schema_before_its_migration(empty_db: Target) -> None:
    for version in SHIPPED:
        before = _snap(empty_db)
        migrate.migrate(empty_db, to=version)
        assert _snap(empty_db) != before, f"{version} changed nothing"
        migrate.rollback(empty_db, steps=1)
        assert _snap(empty_db) == before, f"rollback of {version} is not exact"
        migrate.migrate(empty_db, to=version)


def test_migrate_to_and_rollback_to(empty_db: Target) -> None:
    assert migrate.migrate(empty_db, to="0003").done == SHIPPED[:3]
    assert _ledger(empty_db) == SHIPPED[:3]
    migrate.migrate(empty_db)
    assert migrate.rollback(empty_db, to=SHIPPED[1]).done == list(reversed(SHIPPED[2:]))
    assert _ledger(empty_db) == SHIPPED[:2]
    assert migrate.rollback(empty_db, steps=1).done == [SHIPPED[1]]


def test_unknown_version_is_refused_before_anything_runs(empty_db: Target) -> None:
    with pytest.raises(UnknownVersion, match="9999"):
        migrate.migrate(empty_db, to="9999")
    assert migrate.status(empty_db).applied == []


def _write(folder: Path, name: str, body: str, rollback: str | None = None) -> None:
    (folder / f"{name}.sql").write_text(textwrap.dedent(body))
    if rollback is not None:
        (folder / f"{name}.rollback.sql").write_text(textwrap.dedent(rollback))


def test_failed_transactional_migration_leaves_nothing(db: Target, tmp_path: Path) -> None:
    _write(tmp_path, "1001_half_broken", f"""\
        -- depends: {SHIPPED[-1]}
        CREATE TABLE half_done (id int);
        INSERT INTO users (email, password_hash, role) VALUES ('x@y.z', 'h', 'student');
        ALTER TABLE courses ADD COLUMN no_such_type nonexistent_type;
        """)
    before = _snap(db)

    with pytest.raises(MigrationFailed, match="1001_half_broken") as info:
        migrate.migrate(db, extra_dirs=[tmp_path])

    assert "nonexistent_type" in str(info.value)
    assert _snap(db) == before
    assert "1001_half_broken" not in _ledger(db)
    assert "1001_half_broken" in migrate.status(db, extra_dirs=[tmp_path]).pending
    with psycopg.connect(db.conninfo) as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (0,)


def test_extra_folder_migration_is_recorded_and_rolled_back(db: Target, tmp_path: Path) -> None:
    _write(tmp_path, "1001_school_notes", f"""\
        -- depends: {SHIPPED[-1]}
        CREATE TABLE school_notes (id serial PRIMARY KEY, body text);
        """, "DROP TABLE school_notes;\n")

    assert migrate.migrate(db, extra_dirs=[tmp_path]).done == ["1001_school_notes"]
    assert "1001_school_notes" in _ledger(db)
    assert migrate.rollback(db, steps=1, extra_dirs=[tmp_path]).done == ["1001_school_notes"]
    assert "1001_school_notes" not in _ledger(db)


def test_ledger_row_commits_with_the_migration(db: Target, tmp_path: Path,
                                               connect_to: Any) -> None:
    """While a migration's transaction is open, nobody sees its ledger row; then both appear."""
    _write(tmp_path, "1001_slow", f"""\
        -- depends: {SHIPPED[-1]}
        CREATE TABLE slow_one (id int);
        SELECT pg_sleep(1.5);
        """)
    import threading

    runner = threading.Thread(target=migrate.migrate, args=(db,),
                              kwargs={"extra_dirs": [tmp_path]})
    runner.start()
    observer = connect_to()
    seen_table_without_row = False
    while runner.is_alive():
        # Table first, then row: once the table is visible, the row must be too.
        has_table = observer.execute("SELECT to_regclass('slow_one') IS NOT NULL").fetchone()
        has_row = observer.execute(
            "SELECT count(*) FROM schema_migrations WHERE version = '1001_slow'").fetchone()
        assert has_row is not None and has_table is not None
        seen_table_without_row |= bool(has_table[0]) and not has_row[0]
    runner.join()
    assert not seen_table_without_row
    assert "1001_slow" in _ledger(db)


def test_a_failure_while_recording_undoes_the_migration(db: Target, tmp_path: Path) -> None:
    """Apply and record are one transaction: if recording fails, the migration's work goes too.

    The migration booby-traps the ledger so that its own row cannot be inserted.
    """
    _write(tmp_path, "1001_trap", f"""\
        -- depends: {SHIPPED[-1]}
        CREATE TABLE trapped (id int);
        CREATE FUNCTION refuse_row() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'ledger refused'; END $$;
        CREATE TRIGGER refuse BEFORE INSERT ON schema_migrations
            FOR EACH ROW EXECUTE FUNCTION refuse_row();
        """)
    before = _snap(db)

    with pytest.raises(MigrationFailed, match="ledger refused"):
        migrate.migrate(db, extra_dirs=[tmp_path])

    assert _snap(db) == before  # no table, no function, no trigger
    assert "1001_trap" in migrate.status(db, extra_dirs=[tmp_path]).pending
