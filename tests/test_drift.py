"""`drift` (#5): scenario folders, each a change to a freshly migrated database and the report
it must produce; applying `--sql` must remove the drift wherever the fix is safe."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlparse

from watoto_schema import drift, migrate, partitions
from watoto_schema.drift import fix_sql
from watoto_schema.errors import NotMigrated
from watoto_schema.target import Target

from .test_cli import run
from .test_migrations import SHIPPED

SCENARIOS = Path(__file__).parent / "scenarios"
CASES = sorted(p.name for p in SCENARIOS.iterdir() if p.is_dir())


@pytest.fixture(autouse=True, scope="module")
def _private_cache(private_drift_cache: None) -> None:
    """One expected-schema cache for this module, not the user's."""


def execute_script(target: Target, script: str) -> None:
    """Run a script statement by statement in autocommit (as psql without -1 would)."""
    with psycopg.connect(target.conninfo, autocommit=True) as conn:
        for statement in sqlparse.split(script):
            if sqlparse.format(statement, strip_comments=True).strip():
                conn.execute(statement)


def report_of(target: Target, **kwargs: Any) -> drift.DriftReport:
    [report] = drift.drift(target, **kwargs)
    return report


def summary(report: drift.DriftReport) -> list[dict[str, str]]:
    return sorted(({"change": d.change, "kind": d.kind, "name": d.name}
                   for d in report.differences), key=lambda d: (d["kind"], d["name"]))


def test_there_are_enough_scenarios() -> None:
    assert len(CASES) >= 25


def scenario_migration(folder: Path, db: Target, tmp_path: Path) -> list[Path]:
    """A scenario's ``migration.sql`` (if any), applied to ``db`` as one more migration so
    the expected schema has it too: the extra migration folders to compare with."""
    migration = folder / "migration.sql"
    if not migration.is_file():
        return []
    extra = tmp_path / "migrations"
    extra.mkdir()
    (extra / f"1001_{folder.name}.sql").write_text(
        f"-- depends: {SHIPPED[-1]}\n" + migration.read_text())
    migrate.migrate(db, extra_dirs=[extra])
    return [extra]


@pytest.mark.parametrize("case", CASES)
def test_scenario(case: str, db: Target, tmp_path: Path) -> None:
    folder = SCENARIOS / case
    expected = json.loads((folder / "expected.json").read_text())
    options = {"extra_dirs": scenario_migration(folder, db, tmp_path),
               **expected.get("options", {})}
    execute_script(db, (folder / "setup.sql").read_text())

    report = report_of(db, **options)

    assert summary(report) == expected["differences"]
    assert report.in_sync == (expected["differences"] == [])
    if expected["fixed_by_sql"]:
        execute_script(db, fix_sql(report))
        after = report_of(db, **options)
        assert summary(after) == [], fix_sql(report)


def test_no_drift_after_a_full_rollback_and_migrate(db: Target) -> None:
    migrate.rollback(db, everything=True)
    migrate.migrate(db)
    partitions.ensure(db)  # the deployment's second step: premake per the policy
    assert report_of(db, use_cache=False).in_sync


def test_a_database_migrate_just_built_is_in_sync_before_and_after_premake(db: Target) -> None:
    migrate.rollback(db, everything=True)
    migrate.migrate(db)  # the migrations stop at 2027; the policy's horizon is later
    assert report_of(db).in_sync  # a short runway is not drift (`partitions list` warns)
    partitions.ensure(db)
    assert report_of(db).in_sync


def test_expected_schema_follows_the_applied_versions(db: Target) -> None:
    migrate.rollback(db, steps=1)  # 0007_views is not applied: its views are not expected
    report = report_of(db)
    assert report.in_sync and report.versions == SHIPPED[:-1]


def test_edited_and_unknown_migrations_are_drift(db: Target, tmp_path: Path) -> None:
    path = tmp_path / "1001_notes.sql"
    path.write_text(f"-- depends: {SHIPPED[-1]}\nCREATE TABLE notes (id int);\n")
    migrate.migrate(db, extra_dirs=[tmp_path])
    path.write_text(f"-- depends: {SHIPPED[-1]}\nCREATE TABLE notes (id bigint);\n")
    report = report_of(db, extra_dirs=[tmp_path])
    assert {"change": "different", "kind": "migration", "name": "1001_notes"} in summary(report)
    unknown = report_of(db)  # without the folder: the version is unknown, its table unexpected
    assert {"change": "unexpected", "kind": "migration", "name": "1001_notes"} in summary(unknown)
    assert {"change": "unexpected", "kind": "table", "name": "public.notes"} in summary(unknown)


def test_privileges_only_when_asked(db: Target, db_conn: Any) -> None:
    db_conn.execute("CREATE ROLE watoto_reader")
    try:
        db_conn.execute("GRANT SELECT ON courses TO watoto_reader")
        assert report_of(db).in_sync
        with_grants = report_of(db, privileges=True)
        assert summary(with_grants) == [
            {"change": "different", "kind": "grants", "name": "public.courses"}]
    finally:
        db_conn.execute("REVOKE ALL ON courses FROM watoto_reader")
        db_conn.execute("DROP ROLE watoto_reader")


def test_against_compares_more_databases_with_one_expected_schema(
        db: Target, pg_server: Any, migrated_template: str) -> None:
    other_name = f"drift_against_copy_{os.getpid()}"
    pg_server.drop_db(other_name)
    pg_server.create_db(other_name, migrated_template)
    other = Target(pg_server.conninfo(other_name), "--against")
    try:
        execute_script(other, "DROP INDEX idx_users_role;")
        first, second = drift.drift(db, against=[other])
        assert first.in_sync
        assert summary(second) == [
            {"change": "missing", "kind": "index", "name": "public.idx_users_role"}]
    finally:
        pg_server.drop_db(other_name)


def test_a_database_without_migrations_is_an_error(empty_db: Target) -> None:
    with pytest.raises(NotMigrated):
        drift.drift(empty_db)


def test_cli_exit_codes_json_and_sql(db: Target) -> None:
    clean = run("--dsn", db.conninfo, "drift")
    assert clean.exit_code == 0 and "in sync" in clean.stdout
    execute_script(db, "DROP INDEX idx_courses_category;")
    found = run("--dsn", db.conninfo, "--json", "drift")
    assert found.exit_code == 2
    doc = json.loads(found.stdout)
    assert doc["in_sync"] is False
    assert doc["reports"][0]["differences"][0]["name"] == "public.idx_courses_category"
    script = run("--dsn", db.conninfo, "drift", "--sql")
    assert script.exit_code == 2
    assert "CREATE INDEX CONCURRENTLY idx_courses_category ON public.courses" in script.stdout
    human = run("--dsn", db.conninfo, "drift")
    assert "missing" in human.stdout and "idx_courses_category" in human.stdout


def test_policy_file_decides_which_partitions_are_drift(db: Target, tmp_path: Path) -> None:
    policy = tmp_path / "partitions.toml"
    policy.write_text((Path(partitions.policy_path())).read_text().replace(
        'naming = "{table}_{year}"', 'naming = "{table}_y{year}"'))
    execute_script(db, "CREATE TABLE enrollments_2031 PARTITION OF enrollments "
                       "FOR VALUES FROM ('2031-01-01') TO ('2032-01-01');")
    assert run("--dsn", db.conninfo, "drift").exit_code == 0  # shipped naming: fine
    other = run("--dsn", db.conninfo, "--json", "drift", "--policy", str(policy))
    assert other.exit_code == 2  # named against that policy's pattern: drift
    names = {d["name"] for d in json.loads(other.stdout)["reports"][0]["differences"]}
    assert "public.enrollments_2031" in names
