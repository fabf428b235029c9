"""`drift` bad input (#24): one line, the documented exit code, no traceback, nothing
changed; and what the default script leaves commented."""

from __future__ import annotations

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from watoto_schema import drift
from watoto_schema.target import Target

from .test_cli import assert_one_line_error, run
from .test_drift import execute_script


def test_destructive_without_sql_is_a_usage_error(db: Target) -> None:
    line = assert_one_line_error(run("drift", "--destructive", "--dsn", db.conninfo))
    assert "--sql" in line


def test_a_role_that_cannot_read_the_history_gets_one_line(db: Target) -> None:
    role = f"peeker_{db.conninfo.__hash__() & 0xffff}"
    with psycopg.connect(db.conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        conn.execute("CREATE SCHEMA secret; CREATE TABLE secret.t (x int); "
                     "REVOKE ALL ON SCHEMA secret FROM PUBLIC")
    try:
        dsn = make_conninfo(db.conninfo, user=role)
        line = assert_one_line_error(run("drift", "--sql", "--destructive", "--dsn", dsn))
        assert "permission denied" in line
    finally:
        with psycopg.connect(db.conninfo, autocommit=True) as conn:
            conn.execute("DROP SCHEMA secret CASCADE")
            conn.execute(sql.SQL("DROP OWNED BY {}; DROP ROLE {}").format(
                sql.Identifier(role), sql.Identifier(role)))


def test_the_default_script_comments_out_a_drop_a_hand_made_view_is_in_the_way_of(
        db: Target) -> None:
    # a hand-made view reads a column whose type drifted: without --destructive the view
    # is not dropped, so the type change that needs it gone is commented out too
    execute_script(db, "ALTER TABLE courses ALTER COLUMN duration TYPE text;\n"
                       "CREATE VIEW mine AS SELECT id, duration FROM courses;")
    [report] = drift.drift(db)
    safe = drift.fix_sql(report)
    live = [line for line in safe.splitlines() if line and not line.startswith("--")]
    assert not any("DROP VIEW" in line or " TYPE " in line for line in live), safe
    full = drift.fix_sql(report, destructive=True)
    assert "DROP VIEW IF EXISTS public.mine;" in full
    assert "ALTER TABLE public.courses ALTER COLUMN duration TYPE character varying(100)" \
        in full
    execute_script(db, full)
    assert drift.drift(db)[0].in_sync


def test_a_role_without_superuser_reads_every_catalog_query(db: Target) -> None:
    """The snapshot reads only what any role may read (pg_roles, not pg_authid)."""
    from watoto_schema.catalog import snapshot

    role = f"reader_{db.conninfo.__hash__() & 0xffff}"
    with psycopg.connect(db.conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        conn.execute("CREATE POLICY mine ON courses USING (true)")
    try:
        with psycopg.connect(make_conninfo(db.conninfo, user=role)) as conn:
            rows = snapshot(conn, comments=True)
        assert any(r.kind == "policy" and r.name == "public.courses.mine" for r in rows)
    finally:
        with psycopg.connect(db.conninfo, autocommit=True) as conn:
            conn.execute("DROP POLICY mine ON courses")
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
