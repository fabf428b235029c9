"""watoto-schema loadtest (#13): pgbench with the LMS's scripts at small scale, the report,
the JSON document, the exit status and the refusal of a database sample-data did not fill."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from watoto_schema import loadtest
from watoto_schema.sample_data import load, read_mark
from watoto_schema.target import Target

from .test_cli import assert_one_line_error, run

STUDENTS = 300


@pytest.fixture
def sample(db: Target) -> Iterator[Target]:
    """A migrated database sample-data filled with a few hundred students (and marked)."""
    with psycopg.connect(db.conninfo, autocommit=True) as conn:
        result = load(conn, STUDENTS)
        assert result.marked
        mark = read_mark(conn)
        assert mark is not None
        assert (mark["kind"], mark["students"], mark["seed"]) == ("watoto-sample-data",
                                                                  STUDENTS, 7)
    yield db


def _unmark(target: Target) -> None:
    with psycopg.connect(target.conninfo, autocommit=True) as conn:
        name = conn.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
        conn.execute(psycopg.sql.SQL("COMMENT ON DATABASE {} IS NULL").format(
            psycopg.sql.Identifier(name)))


def test_the_report_the_json_and_the_exit_status(sample: Target) -> None:
    result = run("loadtest", "--dsn", sample.conninfo, "--clients", "4", "--jobs", "2",
                 "--duration", "3", "--json")
    assert result.exit_code in (0, 2), result.output
    doc = json.loads(result.stdout)
    assert [c["kind"] for c in doc["classes"]] == ["read", "write", "report"]
    assert [s["name"] for s in doc["scripts"]] == [s.name for s in loadtest.SCRIPTS]
    assert doc["total"]["transactions"] > 0
    assert doc["total"]["transactions"] == sum(s["stats"]["transactions"] for s in doc["scripts"])
    for item in doc["classes"]:
        stats = item["stats"]
        assert stats["transactions"] > 0, item
        assert 0 < stats["p50_ms"] <= stats["p95_ms"] <= stats["p99_ms"]
        assert item["our_target_ms"] * 10 == item["design_target_ms"]
        assert item["meets_ours"] == (stats["p95_ms"] <= item["our_target_ms"])
    assert doc["total"]["failures"] == 0 and doc["aborted_clients"] == 0
    # Exit 2 exactly when a class misses our p95 target.
    assert (result.exit_code == 2) == bool(doc["missed"])
    assert (result.exit_code == 2) == any(not c["meets_ours"] for c in doc["classes"])
    # The writes wrote: submissions were added after the load.
    with psycopg.connect(sample.conninfo) as conn:
        added = conn.execute("SELECT count(*) FROM assessment_submissions "
                             "WHERE submitted_at > now() - interval '1 hour'").fetchone()
    assert added is not None and added[0] > 0


def test_human_report_and_the_design_targets(sample: Target) -> None:
    result = run("loadtest", "--dsn", sample.conninfo, "--clients", "2", "--jobs", "1",
                 "--duration", "2", "--against", "design", "--weight", "enroll=0",
                 "--weight", "weekly_progress=5")
    assert result.exit_code in (0, 2), result.output
    for word in ("read", "write", "report", "p95 ms", "student_dashboard", "weekly_progress",
                 "design p95", "our p95", "against design targets"):
        assert word in result.stdout, word
    assert "enroll " not in result.stdout  # weight 0: left out


def test_a_throttled_run(sample: Target) -> None:
    report = loadtest.run(sample, loadtest.LoadtestOptions(
        clients=2, jobs=1, duration=2, rate=50, weights={"course_search": 0}))
    assert 40 <= report.total.transactions <= 160, report.total
    assert "course_search" not in [s.name for s in report.scripts]
    assert report.pgbench_seconds >= 1.5


def test_refuses_a_database_sample_data_did_not_fill(sample: Target) -> None:
    _unmark(sample)
    line = assert_one_line_error(run("loadtest", "--dsn", sample.conninfo, "--duration", "1"),
                                 code=3)
    assert "sample-data" in line and "--yes" in line
    result = run("loadtest", "--dsn", sample.conninfo, "--duration", "1", "--clients", "2",
                 "--jobs", "1", "--yes", "--json")
    assert result.exit_code in (0, 2), result.output


def test_an_empty_database_has_nothing_to_test_with(db: Target) -> None:
    line = assert_one_line_error(run("loadtest", "--dsn", db.conninfo, "--duration", "1",
                                     "--yes"))
    assert "sample-data" in line


@pytest.mark.parametrize("argv", [
    ["--weight", "nosuch=3"],
    ["--weight", "enroll"],
    ["--weight", "enroll=-1"],
    ["--clients", "0"],
])
def test_bad_options_are_one_line_errors(argv: list[str], sample: Target) -> None:
    assert_one_line_error(run("loadtest", "--dsn", sample.conninfo, "--duration", "1", *argv))


def test_weights_from_the_config_file(sample: Target, tmp_path: Any) -> None:
    config = tmp_path / "watoto-schema.toml"
    config.write_text("[loadtest.weights]\nstudent_dashboard = 1\nuser_by_email = 0\n"
                      "course_modules = 0\ncourse_listing = 0\ncourse_search = 0\n"
                      "progress_update = 0\nassessment_submission = 0\nenroll = 0\n"
                      "course_stats = 0\nstudent_progress = 0\nweekly_progress = 0\n")
    result = run("loadtest", "--dsn", sample.conninfo, "--config", str(config), "--duration",
                 "1", "--clients", "2", "--jobs", "1", "--json")
    assert result.exit_code in (0, 2), result.output
    assert [s["name"] for s in json.loads(result.stdout)["scripts"]] == ["student_dashboard"]
