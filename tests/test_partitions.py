"""Partition lifecycle (#4): policy, generator, ensure, create, list, retire, DEFAULT moves."""

from __future__ import annotations

import json
import re
import subprocess
import threading
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest

from watoto_schema import drift, partitions
from watoto_schema.catalog import snapshot
from watoto_schema.errors import Refused
from watoto_schema.local import find_bindir
from watoto_schema.resources import migrations_dir
from watoto_schema.sample_data import load
from watoto_schema.target import Target

from .test_cli import run

POLICY = partitions.load_policy()


def names(target: Target, table: str) -> list[str]:
    with psycopg.connect(target.conninfo) as conn:
        return [p.name for p in partitions.read_tables(conn)[table].partitions]


def snap(target: Target) -> list[Any]:
    with psycopg.connect(target.conninfo, autocommit=True) as conn:
        return snapshot(conn)


@pytest.mark.parametrize("table", sorted(POLICY))
def test_migrations_carry_the_partitions_the_policy_generates(table: str) -> None:
    marker = ("-- BEGIN GENERATED from sql/partitions.toml by "
              f"`watoto-schema partitions render {table}`\n")
    blocks = [re.search(re.escape(marker) + r"(.*?)-- END GENERATED", p.read_text(), re.S)
              for p in migrations_dir().glob("*.sql")]
    found = [b.group(1) for b in blocks if b]
    assert found == [partitions.render_initial(POLICY[table])]


def test_ensure_premakes_up_to_the_horizon_and_is_idempotent(db: Target) -> None:
    before = set(names(db, "enrollments"))
    first = partitions.ensure(db, today=date(2031, 6, 15))  # premake 2: up to 2033 included
    created = [a.partition for a in first.actions if a.what == "create"]
    assert created == [f"enrollments_{y}" for y in range(2024, 2034)
                       if f"enrollments_{y}" not in before]
    assert "enrollments_2033" in created and "enrollments_2034" not in names(db, "enrollments")
    assert {a.partition for a in first.actions if a.what == "analyze"} >= {"enrollments"}

    second = partitions.ensure(db, today=date(2031, 6, 15))
    assert second.actions == [] and not second.changed
    [report] = drift.drift(db)
    assert report.in_sync  # what ensure makes follows the policy: not drift
    assert {f"public.{name}" for name in created} <= set(report.policy_partitions)


def test_dry_run_changes_nothing(db: Target) -> None:
    before = snap(db)
    created = run("--dsn", db.conninfo, "partitions", "create", "--table", "enrollments",
                  "--from", "2040-01-01", "--to", "2042-01-01", "--dry-run")
    assert created.exit_code == 0, created.output
    assert created.stdout.count("ATTACH PARTITION") == 2 and "locks" in created.stdout
    retired = run("--dsn", db.conninfo, "partitions", "retire", "--table", "enrollments",
                  "--older-than", "1 day", "--drop", "--dry-run")
    assert retired.exit_code == 0 and "DETACH PARTITION" in retired.stdout  # all of them
    ensured = run("--dsn", db.conninfo, "partitions", "ensure", "--dry-run")
    assert ensured.exit_code == 0
    assert snap(db) == before


def test_create_backfills_past_years(db: Target) -> None:
    result = run("--dsn", db.conninfo, "--json", "partitions", "create", "--table",
                 "enrollments", "--from", "2021-01-01", "--to", "2023-06-01")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [a["partition"] for a in doc["actions"]] == [
        "enrollments_2021", "enrollments_2022", "enrollments_2023"]
    again = partitions.create(db, "enrollments", lower=date(2021, 1, 1), upper=date(2022, 1, 1))
    assert [a.what for a in again.actions] == ["skip"]


def test_another_interval_on_a_declared_table_is_named_by_that_interval(db: Target) -> None:
    monthly = partitions.create(db, "enrollments", lower=date(2030, 1, 1),
                                upper=date(2030, 3, 1), interval="monthly")
    assert [a.partition for a in monthly.actions if a.what == "create"] == [
        "enrollments_p2030_01", "enrollments_p2030_02"]


def _fingerprint(conn: Any, where: str = "true") -> tuple[int, str]:
    row = conn.execute(
        f"SELECT count(*), md5(string_agg(e::text, ',' ORDER BY e.id)) FROM enrollments e "
        f"WHERE {where}").fetchone()
    return int(row[0]), str(row[1])


def test_rows_in_default_move_into_the_new_partition_under_concurrent_inserts(
        db: Target, db_conn: Any, connect_to: Any) -> None:
    load(db_conn, 300)
    db_conn.execute("""
        INSERT INTO enrollments (student_id, course_id, enrolled_at, notes)
        SELECT u.id, c.id, timestamp '2029-02-01' + (u.id % 200) * interval '1 day', 'early'
          FROM users u JOIN courses c ON c.grade = u.grade
         WHERE u.role = 'student' AND NOT EXISTS (
               SELECT 1 FROM enrollment_keys k WHERE k.student_id = u.id AND k.course_id = c.id)
         LIMIT 120""")
    db_conn.execute("""INSERT INTO module_progress (enrollment_id, module_id, status)
                       SELECT e.id, m.id, 'in_progress' FROM enrollments_default e
                       JOIN course_modules m ON m.course_id = e.course_id""")
    before = _fingerprint(db_conn)
    progress_before = db_conn.execute(
        "SELECT count(*), md5(string_agg(p::text, ',' ORDER BY p.id)) FROM module_progress p"
    ).fetchone()
    assert db_conn.execute("SELECT count(*) FROM enrollments_default").fetchone() == (120,)

    writer = connect_to(application_name="lms-web")
    pairs = writer.execute("""
        SELECT u.id, c.id FROM users u JOIN courses c ON true
         WHERE u.role = 'student' AND NOT EXISTS (
               SELECT 1 FROM enrollment_keys k WHERE k.student_id = u.id AND k.course_id = c.id)
         ORDER BY 1, 2 LIMIT 400""").fetchall()
    inserted: list[int] = []
    stop = threading.Event()

    def write() -> None:
        for i, (student, course) in enumerate(pairs):
            if stop.is_set():
                break
            day = "2026-03-01" if i % 2 else "2029-06-01"  # a live partition and the moving range
            try:
                row = writer.execute(
                    "INSERT INTO enrollments (student_id, course_id, enrolled_at, notes) "
                    "VALUES (%s, %s, %s, 'concurrent') RETURNING id", (student, course, day)
                ).fetchone()
                inserted.append(row[0])
            except psycopg.Error:
                pass  # refused (the partition layout changed under it): the app retries

    thread = threading.Thread(target=write)
    thread.start()
    try:
        result = partitions.create(db, "enrollments", lower=date(2029, 1, 1),
                                   upper=date(2030, 1, 1))
    finally:
        stop.set()
        thread.join(30)

    [action] = result.actions
    assert action.what == "move+attach" and action.rows_moved >= 120
    assert db_conn.execute("SELECT count(*) FROM enrollments_default").fetchone() == (0,)
    assert _fingerprint(db_conn, "notes IS DISTINCT FROM 'concurrent'") == before
    concurrent = db_conn.execute(
        "SELECT count(*), count(DISTINCT id) FROM enrollments WHERE notes = 'concurrent'"
    ).fetchone()
    assert concurrent == (len(inserted), len(inserted))  # none lost, none duplicated
    assert db_conn.execute(
        "SELECT count(*), md5(string_agg(p::text, ',' ORDER BY p.id)) FROM module_progress p"
    ).fetchone() == progress_before  # a move, not a delete: progress rows untouched
    assert db_conn.execute(
        "SELECT count(*) FROM enrollments e JOIN enrollment_keys k "
        "ON k.id = e.id AND k.enrolled_at = e.enrolled_at").fetchone() == _fingerprint(
        db_conn)[:1]


def test_hash_partition_sets_of_any_modulus_and_their_balance(db: Target,
                                                              db_conn: Any) -> None:
    db_conn.execute("CREATE TABLE login_events (user_id int, at timestamp) "
                    "PARTITION BY HASH (user_id)")
    result = partitions.create(db, "login_events", modulus=8)
    assert [a.partition for a in result.actions] == [f"login_events_{r}" for r in range(8)]
    db_conn.execute("INSERT INTO login_events SELECT g, now() FROM generate_series(1, 4000) g")
    db_conn.execute("ANALYZE login_events")
    [report] = partitions.list_partitions(db, ["login_events"])
    counts = [p.estimated_rows for p in report.partitions]
    assert len(counts) == 8 and sum(counts) == 4000 and min(counts) > 300
    listed = run("--dsn", db.conninfo, "partitions", "list", "--table", "login_events")
    assert "balance min/max" in listed.stdout
    with pytest.raises(Refused, match="another modulus"):
        partitions.create(db, "login_events", modulus=4)


def test_list_reports_runway_default_rows_and_newest_row(db: Target, db_conn: Any) -> None:
    load(db_conn, 100)
    [report] = partitions.list_partitions(db, ["enrollments"])
    uppers = [p.upper for p in report.partitions if p.upper]
    assert report.runway_until == max(uppers)
    today = db_conn.execute("SELECT current_date").fetchone()[0]
    assert report.runway_days == (max(uppers) - today).days > 365  # premake 2 years
    assert report.default_rows == 0
    newest = db_conn.execute("SELECT max(enrolled_at) FROM enrollments").fetchone()[0]
    assert report.newest_row == newest
    doc = json.loads(run("--dsn", db.conninfo, "--json", "partitions", "list").stdout)
    assert {t["table"] for t in doc["tables"]} == {"enrollments", "users"}


def test_retire_detaches_archives_and_drops(db: Target, db_conn: Any, tmp_path: Path) -> None:
    partitions.create(db, "enrollments", lower=date(2010, 1, 1), upper=date(2012, 1, 1))
    plan = partitions.retire(db, "enrollments", older="10 years", mode="drop", dry_run=True)
    assert [a.what for a in plan.actions] == ["detach", "drop", "detach", "drop"]
    assert "enrollments_2010" in names(db, "enrollments")  # dry run: still there

    with pytest.raises(Refused, match="--yes"):
        partitions.retire(db, "enrollments", older="10 years", mode="drop")

    detached = partitions.retire(db, "enrollments", older="15 years", mode="detach")
    assert [a.partition for a in detached.actions] == ["enrollments_2010"]
    assert "enrollments_2010" not in names(db, "enrollments")
    assert db_conn.execute("SELECT to_regclass('enrollments_2010') IS NOT NULL").fetchone() == (
        True,)

    archive = tmp_path / "archive"
    dropped = run("--dsn", db.conninfo, "partitions", "retire", "--table", "enrollments",
                  "--older-than", "10 years", "--drop", "--yes", "--archive", str(archive))
    assert dropped.exit_code == 0, dropped.output
    assert db_conn.execute("SELECT to_regclass('enrollments_2011')").fetchone() == (None,)
    dump = archive / "enrollments_2011.dump"
    listing = subprocess.run([str(find_bindir() / "pg_restore"), "--list", str(dump)],
                             capture_output=True, text=True, check=True).stdout
    assert "TABLE public enrollments_2011" in listing


def test_retire_refuses_partitions_whose_rows_are_referenced(db: Target,
                                                             db_conn: Any) -> None:
    load(db_conn, 50)  # enrollments in 2024..2026, referenced by enrollment_keys
    before = names(db, "enrollments")
    with pytest.raises(Refused, match="enrollment_keys"):
        partitions.retire(db, "enrollments", older="1 years", mode="detach")
    assert names(db, "enrollments") == before


def test_render_prints_the_migration_block() -> None:
    result = run("partitions", "render", "users")
    assert result.exit_code == 0
    assert result.stdout == partitions.render_initial(POLICY["users"])


def test_retire_finishes_an_interrupted_concurrent_detach(db: Target, db_conn: Any,
                                                          connect_to: Any) -> None:
    db_conn.execute("CREATE TABLE events (id int, at timestamp NOT NULL) PARTITION BY RANGE (at)")
    partitions.create(db, "events", lower=date(2010, 1, 1), upper=date(2013, 1, 1),
                      interval="yearly")
    reader, detacher = connect_to(), connect_to()
    reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
    reader.execute("SELECT count(*) FROM events")  # a snapshot DETACH CONCURRENTLY waits for
    pid = detacher.info.backend_pid
    failure: list[str] = []

    def detach() -> None:
        try:
            detacher.execute("ALTER TABLE events DETACH PARTITION events_2010 CONCURRENTLY")
        except psycopg.Error as exc:
            failure.append(exc.sqlstate or "")

    thread = threading.Thread(target=detach)
    thread.start()
    for _ in range(200):
        waiting = db_conn.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s",
                                  (pid,)).fetchone()
        if waiting and waiting[0] == "Lock":
            break
        thread.join(0.05)
    db_conn.execute("SELECT pg_cancel_backend(%s)", (pid,))  # interrupted mid-detach
    thread.join(10)
    reader.execute("COMMIT")
    assert failure == ["57014"]
    with psycopg.connect(db.conninfo) as conn:
        pending = [p.name for p in partitions.read_tables(conn)["events"].partitions
                   if p.detach_pending]
    assert pending == ["events_2010"]

    result = partitions.retire(db, "events", older="12 years", mode="detach")

    assert [(a.what, a.partition) for a in result.actions][0] == ("finalize", "events_2010")
    assert "events_2010" not in names(db, "events")
    assert [a.what for a in result.actions if a.partition == "events_2011"] == ["detach"]


def test_retire_with_dependents_archives_then_deletes_them(db: Target, db_conn: Any,
                                                           tmp_path: Path) -> None:
    load(db_conn, 200)
    old = db_conn.execute(
        "SELECT (SELECT count(*) FROM enrollments_2024), "
        "(SELECT count(*) FROM module_progress p JOIN enrollments_2024 e "
        " ON e.id = p.enrollment_id)").fetchone()
    total = db_conn.execute("SELECT (SELECT count(*) FROM enrollments), "
                            "(SELECT count(*) FROM module_progress)").fetchone()
    assert old[0] > 0 and old[1] > 0
    archive = tmp_path / "archive"
    result = run("--dsn", db.conninfo, "partitions", "retire", "--table", "enrollments",
                 "--older-than", "1 years", "--drop", "--yes", "--with-dependents",
                 "--archive", str(archive))
    assert result.exit_code == 0, result.output

    assert db_conn.execute("SELECT to_regclass('enrollments_2024')").fetchone() == (None,)
    assert db_conn.execute("SELECT (SELECT count(*) FROM enrollments), "
                           "(SELECT count(*) FROM module_progress)").fetchone() == (
        total[0] - old[0], total[1] - old[1])
    assert db_conn.execute("SELECT count(*) FROM enrollment_keys").fetchone() == (
        total[0] - old[0],)
    files = sorted(p.name for p in archive.iterdir())
    assert files == ["enrollments_2024.0.enrollment_keys.csv",
                     "enrollments_2024.1.module_progress.csv", "enrollments_2024.dump"]
    lines = (archive / "enrollments_2024.1.module_progress.csv").read_text().splitlines()
    assert len(lines) == old[1] + 1  # header + every progress row that went
