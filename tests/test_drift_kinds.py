"""`drift` sees enums, domains, composite and range types, collations, row-level security
and policies, table inheritance, column storage/compression and (asked for) comments (#24),
and the steps of ``drift/fix_kinds.py`` converge each scenario of those kinds.

The scenarios are folders of ``tests/scenarios/`` (``migration.sql`` makes the expected
schema have the object, ``setup.sql`` is the change by hand). Here each one's steps run the
way the fix script orders them (drops first, in reverse ``ORDER``; then the rest in
``ORDER``), destructive ones included, and drift must then be clean but for the differences
the scenario lists as ``unfixable``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from watoto_schema.drift.expected import _cache_key
from watoto_schema.drift.fix_kinds import HANDLERS, column_steps, comment_target
from watoto_schema.drift.model import DriftReport
from watoto_schema.drift.steps import ORDER, FixContext, Step
from watoto_schema.target import Target

from .test_drift import SCENARIOS, execute_script, report_of, scenario_migration, summary

PREFIXES = ("enum_", "domain_", "composite_type_", "collation_", "rls_", "policy_",
            "inherits_", "column_storage_", "column_compression_", "comment_")
CASES = sorted(p.name for p in SCENARIOS.iterdir() if p.name.startswith(PREFIXES))
# the cases whose fix drops or rewrites something (commented out without --destructive)
DESTRUCTIVE = {"enum_added", "enum_value_added_at_the_end", "enum_value_added_in_the_middle",
               "enum_values_reordered", "enum_quoted_name_reordered", "domain_added",
               "composite_type_added", "composite_type_changed", "collation_added",
               "collation_changed"}


@pytest.fixture(autouse=True, scope="module")
def _private_cache(private_drift_cache: None) -> None:
    """One expected-schema cache for this module, not the user's."""


def test_there_are_enough_scenarios_of_these_kinds() -> None:
    assert len(CASES) >= 20


def _rank(step: Step) -> int:
    return ORDER.index(step.kind)


def steps_of(report: DriftReport) -> tuple[list[Step], dict[str, str]]:
    """This module's steps for ``report``, in the fix script's order, and the differences
    no step can converge (name -> why)."""
    ctx = FixContext.of(report, destructive=True)
    found: list[tuple[str, Step]] = []
    for d in report.differences:
        handler = HANDLERS.get(d.kind, column_steps if d.kind == "column" else None)
        assert handler is not None, f"no handler here for {d.kind}"
        found += [(d.name, s) for s in handler(d, ctx)]
    unfixable = {name: s.unfixable for name, s in found if s.unfixable is not None}
    drops = sorted((p for p in found if p[1].drop), key=lambda p: (-_rank(p[1]), p[0]))
    rest = sorted((p for p in found if not p[1].drop), key=lambda p: (_rank(p[1]), p[0]))
    return [s for _, s in drops + rest if s.sql and s.unfixable is None], unfixable


def run_steps(target: Target, steps: list[Step]) -> None:
    with psycopg.connect(target.conninfo, autocommit=True) as conn:
        for step in steps:
            if step.transaction and len(step.sql) > 1:
                with conn.transaction():
                    for statement in step.sql:
                        conn.execute(statement)
            else:
                for statement in step.sql:
                    conn.execute(statement)


def _setup(case: str, db: Target, tmp_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    folder = SCENARIOS / case
    expected = json.loads((folder / "expected.json").read_text())
    options = {"extra_dirs": scenario_migration(folder, db, tmp_path),
               **expected.get("options", {})}
    execute_script(db, (folder / "setup.sql").read_text())
    return expected, options


@pytest.mark.parametrize("case", CASES)
def test_steps_converge(case: str, db: Target, tmp_path: Path) -> None:
    expected, options = _setup(case, db, tmp_path)
    report = report_of(db, **options)
    assert summary(report) == expected["differences"]

    steps, unfixable = steps_of(report)
    assert sorted(unfixable) == expected.get("unfixable", [])
    assert any(s.destructive for s in steps) == (case in DESTRUCTIVE), steps
    run_steps(db, steps)

    after = report_of(db, **options)
    assert sorted(d.name for d in after.differences) == expected.get("unfixable", []), \
        "\n".join(s for step in steps for s in step.sql)


def test_enum_values_are_added_in_place_outside_a_transaction(db: Target,
                                                              tmp_path: Path) -> None:
    _setup("enum_value_missing_in_the_middle", db, tmp_path)
    [step] = steps_of(report_of(db, extra_dirs=[tmp_path / "migrations"]))[0]
    assert step.sql == ["ALTER TYPE public.level ADD VALUE 'mid' BEFORE 'high';"]
    assert not step.transaction and not step.destructive


def test_a_reordered_enum_touches_its_columns(db: Target, tmp_path: Path) -> None:
    _setup("enum_values_reordered", db, tmp_path)
    [step] = steps_of(report_of(db, extra_dirs=[tmp_path / "migrations"]))[0]
    assert step.destructive and step.transaction
    assert step.touches == ["public.level", "public.ratings.history", "public.ratings.level"]


def test_comments_only_when_asked(db: Target, tmp_path: Path) -> None:
    _setup("comment_changed", db, tmp_path)
    assert report_of(db, extra_dirs=[tmp_path / "migrations"]).in_sync
    assert not report_of(db, extra_dirs=[tmp_path / "migrations"], comments=True).in_sync


def test_comments_and_privileges_have_caches_of_their_own() -> None:
    keys = {_cache_key(150000, [], privileges, comments)
            for privileges in (False, True) for comments in (False, True)}
    assert len(keys) == 4


@pytest.mark.parametrize(("name", "target"), [
    ("table column public.courses.title", "COLUMN public.courses.title"),
    ('table constraint "a on b" on public."t t"', 'CONSTRAINT "a on b" ON public."t t"'),
    ("domain constraint c on public.email", "CONSTRAINT c ON DOMAIN public.email"),
    ("materialized view public.mv", "MATERIALIZED VIEW public.mv"),
    ("function public.f(integer, text)", "FUNCTION public.f(integer, text)"),
    ("policy p on public.t", "POLICY p ON public.t"),
    ("nonsense x", None),
])
def test_comment_targets(name: str, target: str | None) -> None:
    assert comment_target(name) == target
