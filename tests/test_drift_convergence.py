"""`drift --sql` converges (#24): a scenario folder per object kind and change, each checked
both ways on real PostgreSQL.

``tests/convergence/<case>/`` holds ``change.sql`` (applied to a freshly migrated database to
make the "other" schema), optionally ``base.sql`` (applied to both sides first: to way 1 as
an extra migration, so the expected schema has it too) and ``expected.json`` (the differences
way 1 must report, as ``summary()`` lists them), and ``unfixable.json`` (names way 1 must
report as unfixable, with no script able to converge them).

* way 1, ``drifted``: A is the migrations' schema, B = A + change.sql is the live database.
  ``drift.drift(B)`` finds and names the differences; the ``--destructive`` script, run with
  ``psql -v ON_ERROR_STOP=1``, succeeds, and drift is clean afterwards.
* way 2, ``behind``: B is now the expected schema and A the live one:
  ``compare_databases(B, A)`` finds differences; its destructive script, run on A, succeeds
  and leaves ``compare_databases(B, A)`` without differences.
* both ways: the default script (no ``--destructive``) has no uncommented statement that
  drops a table, column, schema or type or changes a column's type.

What fails today is listed in ``KNOWN_FAILURES`` (strict xfail: a case that starts passing
fails the run until its entry is removed). ``CONVERGENCE_RECORD=DIR`` writes each case's
way-1 differences to ``DIR/<case>.json`` (to write an ``expected.json``, after reading it).
"""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from watoto_schema import drift, migrate
from watoto_schema.target import Target

from .test_cli import run
from .test_migrations import SHIPPED

CONVERGENCE = Path(__file__).parent / "convergence"
CASES = sorted(p.name for p in CONVERGENCE.iterdir() if (p / "change.sql").is_file())
WAYS = ("drifted", "behind")

# case, or case:way -> why it fails today (the psql error or what is left). Remove an entry
# when its case passes: the marks are strict.
KNOWN_FAILURES: dict[str, str] = {}


def _params() -> Iterator[Any]:
    for case in CASES:
        for way in WAYS:
            reason = KNOWN_FAILURES.get(f"{case}:{way}") or KNOWN_FAILURES.get(case)
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            yield pytest.param(case, way, id=f"{case}:{way}", marks=marks)


@pytest.fixture(autouse=True, scope="module")
def _private_cache(private_drift_cache: None) -> None:
    """One expected-schema cache for this module, not the user's."""


@pytest.fixture
def new_db(watoto_server: Any) -> Iterator[Callable[[], Target]]:
    """A factory of freshly migrated databases: more clones from the plugin's pool (taken
    ready, dropped in the background), like ``db``."""
    from watoto_schema.provision.template import DataOptions

    made: list[str] = []

    def factory() -> Target:
        clone = watoto_server.clone(DataOptions())
        made.append(clone.name)
        return Target(watoto_server.conninfo(clone.name), "tests")

    yield factory
    for name in made:
        watoto_server.give_back(name, DataOptions())


def _psql_path() -> str:
    try:
        from watoto_schema.local.cluster import find_bindir

        candidate = find_bindir() / "psql"
        if candidate.is_file():
            return str(candidate)
    except Exception:  # noqa: BLE001 - fall back to PATH
        pass
    found = shutil.which("psql")
    assert found, "psql not found"
    return found


PSQL = _psql_path()


def psql(target: Target, script: str, folder: Path, name: str) -> subprocess.CompletedProcess[str]:
    """Run ``script`` as ``psql -X -v ON_ERROR_STOP=1 -f`` would on ``target``."""
    path = folder / name
    path.write_text(script)
    return subprocess.run([PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", target.conninfo,
                           "-f", str(path)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PGOPTIONS": "-c client_min_messages=warning"})


def apply(target: Target, script: str, folder: Path, name: str) -> None:
    done = psql(target, script, folder, name)
    assert done.returncode == 0, f"{name} failed: {done.stderr.strip()}"


def summary(report: drift.DriftReport) -> list[dict[str, str]]:
    return sorted(({"change": d.change, "kind": d.kind, "name": d.name}
                   for d in report.differences), key=lambda d: (d["kind"], d["name"]))


def _accepts(function: Callable[..., Any], name: str) -> bool:
    return name in inspect.signature(function).parameters


def fix_script(report: drift.DriftReport, destructive: bool) -> str:
    """``fix_sql(report, destructive=...)``; the default script where that is not there yet."""
    if _accepts(drift.fix_sql, "destructive"):
        return drift.fix_sql(report, destructive=destructive)  # type: ignore[call-arg]
    return drift.fix_sql(report)


def _options(function: Callable[..., Any]) -> dict[str, Any]:
    return {"comments": True} if _accepts(function, "comments") else {}


def drift_of(target: Target, extra_dirs: list[Path]) -> drift.DriftReport:
    [report] = drift.drift(target, extra_dirs=extra_dirs, **_options(drift.drift))
    return report


def compared(expected: Target, live: Target) -> drift.DriftReport:
    return drift.compare_databases(expected, live, **_options(drift.compare_databases))


_QUOTED_OR_WORD = r'(?:"(?:[^"]|"")*"|\S+)'
_DESTRUCTIVE = re.compile(
    r"\bDROP\s+(?:TABLE|COLUMN|SCHEMA|TYPE)\b"
    rf"|\bALTER\s+COLUMN\s+{_QUOTED_OR_WORD}\s+(?:SET\s+DATA\s+)?TYPE\b", re.IGNORECASE)


def destructive_lines(script: str) -> list[str]:
    """Uncommented lines that drop a table, column, schema or type or change a column type."""
    return [line for line in script.splitlines()
            if not line.lstrip().startswith("--") and _DESTRUCTIVE.search(line)]


def base_migration(folder: Path, tmp: Path) -> list[Path]:
    """The case's ``base.sql`` as an extra migration folder (none without one)."""
    base = folder / "base.sql"
    if not base.is_file():
        return []
    extra = tmp / "migrations"
    extra.mkdir()
    (extra / "9001_convergence_base.sql").write_text(
        f"-- depends: {SHIPPED[-1]}\n" + base.read_text())
    return [extra]


def test_there_are_enough_scenarios() -> None:
    assert len(CASES) >= 60
    for case in CASES:
        assert not {p.name for p in (CONVERGENCE / case).iterdir()} - {
            "change.sql", "base.sql", "expected.json", "unfixable.json"}, case


@pytest.mark.parametrize(("case", "way"), list(_params()))
def test_fix_script_converges(case: str, way: str, db: Target,
                              new_db: Callable[[], Target], tmp_path: Path) -> None:
    folder = CONVERGENCE / case
    change = (folder / "change.sql").read_text()
    if way == "drifted":
        extra = base_migration(folder, tmp_path)
        live = db
        if extra:
            migrate.migrate(live, extra_dirs=extra)
        apply(live, change, tmp_path, "change.sql")

        def check() -> drift.DriftReport:
            return drift_of(live, extra)
    else:
        live, expected = db, new_db()
        if (folder / "base.sql").is_file():
            for target in (live, expected):
                apply(target, (folder / "base.sql").read_text(), tmp_path, "base.sql")
        apply(expected, change, tmp_path, "change.sql")

        def check() -> drift.DriftReport:
            return compared(expected, live)

    report = check()
    if os.environ.get("CONVERGENCE_RECORD") and way == "drifted":
        Path(os.environ["CONVERGENCE_RECORD"], case + ".json").write_text(
            json.dumps(summary(report), indent=2) + "\n")
    assert report.differences, "not detected"
    if way == "drifted" and (folder / "expected.json").is_file():
        assert summary(report) == json.loads((folder / "expected.json").read_text())

    default = fix_script(report, destructive=False)
    assert destructive_lines(default) == [], "the default script is destructive"

    script = fix_script(report, destructive=True)
    unfixable = (json.loads((folder / "unfixable.json").read_text())
                 if way == "drifted" and (folder / "unfixable.json").is_file() else [])
    if unfixable:
        assert set(unfixable) <= set(report.unfixable), report.unfixable
        comments = " ".join(" ".join(line.lstrip("- ").split()) for line in script.splitlines()
                            if line.startswith("--"))
        for name in unfixable:
            assert name in comments, script
            assert " ".join(report.unfixable[name].split()) in comments, script
    done = psql(live, script, tmp_path, "fix.sql")
    assert done.returncode == 0, f"psql: {done.stderr.strip()[-600:]}\n--- script:\n{script}"
    after = check()
    if unfixable:
        assert set(unfixable) <= set(after.unfixable)
        assert {d.name for d in after.differences} <= set(unfixable)
    else:
        left = [f"{d.change} {d.kind} {d.name}" for d in after.differences]
        assert not left, f"not converged: {left}\n--- script:\n{script}"


UNFIXABLE_CASE = "extension_version_no_downgrade"


def test_unconvergeable_case_exits_2_with_its_reason(db: Target, tmp_path: Path) -> None:
    """An extension at a version with no downgrade path to the expected one."""
    folder = CONVERGENCE / UNFIXABLE_CASE
    extra = base_migration(folder, tmp_path)
    migrate.migrate(db, extra_dirs=extra)
    apply(db, (folder / "change.sql").read_text(), tmp_path, "change.sql")
    report = drift_of(db, extra)
    reason = report.unfixable.get("pg_trgm")
    assert reason, report.unfixable
    dirs = [arg for path in extra for arg in ("--migrations", str(path))]
    found = run("--dsn", db.conninfo, *dirs, "--json", "drift")
    assert found.exit_code == 2
    assert json.loads(found.stdout)["reports"][0]["unfixable"] == {"pg_trgm": reason}
    human = run("--dsn", db.conninfo, *dirs, "drift")
    assert human.exit_code == 2 and reason in human.stdout
    script = run("--dsn", db.conninfo, *dirs, "drift", "--sql", "--destructive")
    assert script.exit_code == 2, script.output
    assert any(line.startswith("--") and reason in line for line in script.stdout.splitlines())
    assert "UPDATE TO '1.5'" not in script.stdout  # nothing tries the missing path
