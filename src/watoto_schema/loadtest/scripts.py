"""The load test's scripts (``sql/loadtest/*.sql``), their classes, weights and parameters."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from ..errors import BadConfig
from ..resources import data_dir

# The classes and the p95 each must stay under: the design's promise and ours (10x better).
CLASSES: tuple[str, ...] = ("read", "write", "report")
DESIGN_TARGET_MS: dict[str, float] = {"read": 10.0, "write": 50.0, "report": 500.0}
OUR_TARGET_MS: dict[str, float] = {"read": 1.0, "write": 5.0, "report": 50.0}


@dataclass(frozen=True)
class Script:
    name: str
    kind: str  # one of CLASSES
    weight: int  # default share of transactions


# Defaults: the start of a school day. Students sign in and open their dashboards and
# courses; some finish the module they left open and hand in work; teachers glance at
# their classes; enrollments are rare once the term runs.
SCRIPTS: tuple[Script, ...] = (
    Script("user_by_email", "read", 15),
    Script("student_dashboard", "read", 25),
    Script("course_modules", "read", 18),
    Script("course_listing", "read", 5),
    Script("course_search", "read", 5),
    Script("progress_update", "write", 14),
    Script("assessment_submission", "write", 8),
    Script("enroll", "write", 2),
    Script("course_stats", "report", 4),
    Script("student_progress", "report", 3),
    Script("weekly_progress", "report", 1),
)
BY_NAME: dict[str, Script] = {script.name: script for script in SCRIPTS}


def weights(overrides: dict[str, int]) -> dict[str, int]:
    """Every script's weight, the defaults changed by ``overrides`` (0 leaves one out)."""
    unknown = sorted(set(overrides) - set(BY_NAME))
    if unknown:
        raise BadConfig(f"unknown load-test script(s) {', '.join(unknown)} "
                        f"(known: {', '.join(BY_NAME)})")
    for name, weight in overrides.items():
        if not isinstance(weight, int) or isinstance(weight, bool) or weight < 0:
            raise BadConfig(f"the weight of {name} must be a whole number >= 0 (got {weight!r})")
    chosen = {script.name: overrides.get(script.name, script.weight) for script in SCRIPTS}
    if not any(chosen.values()):
        raise BadConfig("every load-test script has weight 0: nothing to run")
    return chosen


def _sql_literal(value: Any) -> str:
    from psycopg import sql

    return sql.Literal(value).as_string(None)


def _sql_array(values: list[str]) -> str:
    return "ARRAY[" + ", ".join(_sql_literal(str(v)) for v in values) + "]::text[]"


def render(directory: Path, names: list[str], values: dict[str, Any]) -> dict[str, Path]:
    """Write the named scripts into ``directory`` with the database's values filled in.

    Integers reach pgbench as ``-D`` variables; lists of strings (emails, search words,
    categories) cannot, so they are written into the script as quoted SQL arrays.
    """
    import jinja2

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False,
                             keep_trailing_newline=True)
    env.filters["sql_array"] = _sql_array
    env.filters["sql_literal"] = _sql_literal
    source = data_dir("sql") / "loadtest"
    paths: dict[str, Path] = {}
    for name in names:
        text = env.from_string((source / f"{name}.sql").read_text(encoding="utf-8"))
        path = directory / f"{name}.sql"
        path.write_text(text.render(**values), encoding="utf-8")
        paths[name] = path
    return paths


def parameters(conn: psycopg.Connection[Any]) -> tuple[dict[str, int], dict[str, Any]]:
    """What the scripts draw from, read from the data in the database.

    Returns the integer ranges (pgbench ``-D`` variables) and the lists the scripts embed.
    Raises ``BadConfig`` when there is nothing to test with.
    """
    from ..resources import sql_text

    row = conn.execute(sql_text("loadtest/parameters/ranges.sql")).fetchone()
    assert row is not None
    names = ("student_min", "student_max", "teacher_min", "teacher_max", "course_min",
             "course_max", "enrollment_min", "enrollment_max", "assessment_min",
             "assessment_max")
    ranges = dict(zip(names, row[:10], strict=True))
    if any(value is None for value in ranges.values()):
        raise BadConfig("the database has no data to test with (no students, teachers, courses, "
                        "enrollments or assessments): fill it with `watoto-schema sample-data`")
    emails = [r[0] for r in conn.execute(
        sql_text("loadtest/parameters/emails.sql"),
        {"lo": ranges["student_min"], "hi": ranges["student_max"]}).fetchall()]
    words = [r[0] for r in conn.execute(sql_text("loadtest/parameters/words.sql")).fetchall()]
    categories = [r[0] for r in conn.execute(
        "SELECT DISTINCT category FROM courses ORDER BY 1").fetchall()]
    since = row[10]
    return ({k: int(v) for k, v in ranges.items()},
            {"emails": emails or ["nobody@example.invalid"], "words": words or ["course"],
             "categories": categories or ["none"], "since": str(since)})
