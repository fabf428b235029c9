"""loadtest --prewarm and the capacity search's ramp (#21): the database read into memory
without a trace in its catalog, the refusals when it cannot be, and each step's first
seconds run but not counted."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import psycopg
import pytest

from watoto_schema.loadtest import prewarm
from watoto_schema.target import Target

from .test_cli import assert_one_line_error, run
from .test_loadtest import sample  # noqa: F401  (the fixture)

SMALL = ["--clients", "3", "--jobs", "1"]


def _extensions(target: Target) -> set[str]:
    with psycopg.connect(target.conninfo) as conn:
        return {name for (name,) in conn.execute("SELECT extname FROM pg_extension")}


def _blocks(target: Target) -> int:
    """The main-fork blocks of every relation with storage the prewarm should read."""
    with psycopg.connect(target.conninfo) as conn:
        row = conn.execute(
            "SELECT sum(pg_relation_size(oid) / current_setting('block_size')::int) "
            "FROM pg_class WHERE oid >= 16384 AND relkind IN ('r', 'i', 't', 'm') "
            "AND relpersistence <> 't'").fetchone()
    assert row is not None
    return int(row[0])


def _submissions(target: Target) -> int:
    with psycopg.connect(target.conninfo) as conn:
        row = conn.execute("SELECT count(*) FROM assessment_submissions").fetchone()
    assert row is not None
    return int(row[0])


def test_prewarm_reads_every_relation_and_leaves_no_trace(sample: Target,  # noqa: F811
                                                          tmp_path: Path) -> None:
    assert "pg_prewarm" not in _extensions(sample)
    expected = _blocks(sample)
    page = tmp_path / "run.html"
    result = run("loadtest", "--dsn", sample.conninfo, *SMALL, "--duration", "1",
                 "--against", "design", "--prewarm", "--json", "--report", str(page))
    assert result.exit_code in (0, 2), result.output
    warmed = json.loads(result.stdout)["prewarm"]
    # Every block of every table, index and TOAST table was read (the sample fits in the
    # suite's shared buffers: all of it into them), by an extension created and rolled back.
    assert warmed["relations"] > 50 and warmed["installed"] is False
    assert warmed["buffer_blocks"] + warmed["read_blocks"] >= expected > 0
    assert warmed["buffer_blocks"] <= 0.9 * warmed["shared_buffers_blocks"]
    assert "pg_prewarm" not in _extensions(sample)
    assert "Cache: prewarmed" in page.read_text()
    text = run("loadtest", "--dsn", sample.conninfo, *SMALL, "--duration", "1", "--against",
               "design", "--prewarm")
    assert "prewarmed" in text.stdout and "MiB into shared buffers" in text.stdout


def test_an_installed_pg_prewarm_is_used_and_kept(sample: Target) -> None:  # noqa: F811
    with psycopg.connect(sample.conninfo, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA tools")
        conn.execute("CREATE EXTENSION pg_prewarm SCHEMA tools")
    result = run("loadtest", "--dsn", sample.conninfo, *SMALL, "--duration", "1",
                 "--against", "design", "--prewarm", "--json")
    warmed = json.loads(result.stdout)["prewarm"]
    assert warmed["installed"] is True and warmed["buffer_blocks"] > 0
    assert "pg_prewarm" in _extensions(sample)


def test_prewarm_without_the_right_to_create_it_is_refused_before_the_load(
        sample: Target) -> None:  # noqa: F811
    role = f"reader_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(sample.conninfo, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("CREATE ROLE {} LOGIN IN ROLE pg_read_all_data")
                     .format(psycopg.sql.Identifier(role)))
    try:
        before = _submissions(sample)
        dsn = psycopg.conninfo.make_conninfo(sample.conninfo, user=role)
        line = assert_one_line_error(run("loadtest", "--dsn", dsn, *SMALL, "--duration", "1",
                                         "--prewarm"))
        assert "needs a superuser" in line and "CREATE EXTENSION pg_prewarm" in line
        assert _submissions(sample) == before  # nothing ran
        assert "pg_prewarm" not in _extensions(sample)
    finally:
        with psycopg.connect(sample.conninfo, autocommit=True) as conn:
            conn.execute(psycopg.sql.SQL("DROP ROLE {}").format(psycopg.sql.Identifier(role)))


def test_the_plan_fills_shared_buffers_smallest_first() -> None:
    relations = [(10, 500), (11, 30), (12, 60), (13, 0), (14, 20)]
    assert prewarm.plan(relations, 100) == [
        (13, "buffer"), (14, "buffer"), (11, "buffer"), (12, "read"), (10, "read")]
    assert prewarm.plan(relations, 0) == [(13, "buffer"), (14, "read"), (11, "read"),
                                          (12, "read"), (10, "read")]
    assert [mode for _, mode in prewarm.plan(relations, 10_000)] == ["buffer"] * 5


def test_each_step_runs_its_ramp_first_and_does_not_count_it(sample: Target) -> None:  # noqa: F811
    result = run("loadtest", "--dsn", sample.conninfo, *SMALL, "--find-capacity",
                 "--against", "design", "--start-rate", "40", "--step-seconds", "2",
                 "--ramp-seconds", "2", "--max-minutes", "0.15", "--json")
    assert result.exit_code in (0, 2), result.output
    doc = json.loads(result.stdout)
    assert doc["settings"]["ramp_seconds"] == 2 and doc["prewarm"] is None
    step = doc["curve"][0]
    # About 80 transactions were scheduled in the ramp (40 tps for 2 s) and about 80 in the
    # step: the ramp's are counted apart, the step's p95 made of the others (Poisson: wide).
    counted = step["transactions"] + step["failures"] + step["cold_skipped"]
    assert 40 <= step["ramp_skipped"] <= 130, step
    assert 40 <= counted <= 130, step
    assert 30 <= step["achieved_tps"] <= 65, step  # per second of the step, not of the run
    assert "after 2s of ramp" in result.stderr


@pytest.mark.parametrize("argv", [
    ["--ramp-seconds", "2"],
    ["--find-capacity", "--ramp-seconds", "-1"],
    ["--users", "10", "--prewarm"],
])
def test_ramp_and_prewarm_usage_errors(argv: list[str]) -> None:
    assert_one_line_error(run("loadtest", "--dsn", "postgresql:///nowhere", *argv))
