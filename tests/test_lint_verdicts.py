"""Lint verdicts known by checksum (#22): the release record of the shipped migrations is
current and trusted while every checksum holds; an edited shipped migration is linted again
(and migrate refuses it); the rule levels are part of the key; other migrations' verdicts
are cached, also with a cache that is damaged, unwritable or shared by concurrent runs; and
a verdict is always the one a full lint gives."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from watoto_schema import sources
from watoto_schema.errors import UnsafeMigration
from watoto_schema.lint import LintSettings, engine, lint_sources
from watoto_schema.lint.verdicts import (
    RECORD_NAME,
    Verdicts,
    load_record,
    main,
    record,
    render,
)
from watoto_schema.migrate.pipeline import MigrateSettings
from watoto_schema.migrate.pipeline import run as run_migrate
from watoto_schema.resources import migrations_dir
from watoto_schema.target import Target

from .test_engine import HEAD, q, write

REPOSITORY = Path(__file__).resolve().parents[1] / "migrations"
SHIPPED = [m.version for m in sources.read([migrations_dir()])]
DEPENDS_ON_LATER = {m["version"]: m["verdict"]["rest"] is not None for m in json.loads(
    (migrations_dir() / RECORD_NAME).read_text())["migrations"]}


def shipped_copy(tmp_path: Path) -> Path:
    """The shipped migrations in a folder of their own (a verdict knows texts, not paths)."""
    folder = tmp_path / "shipped"
    shutil.copytree(migrations_dir(), folder)
    (folder / RECORD_NAME).unlink()
    return folder


def trusting(cache: Path | None = None) -> Verdicts:
    return Verdicts(load_record(migrations_dir() / RECORD_NAME), cache)


def no_lint(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("linted")

    monkeypatch.setattr(engine, "lint_each", refuse)


def full_lint(files: list[sources.MigrationFile], settings: LintSettings | None = None
              ) -> dict[str, Any]:
    return lint_sources(files, settings=settings or LintSettings()).as_dict()


def test_the_release_record_is_current() -> None:
    """`make lint-verdicts` wrote it from the migrations and linter shipped now."""
    assert (migrations_dir() / RECORD_NAME).read_text() == render(record(migrations_dir()))
    assert main(["--check", str(REPOSITORY)]) == 0, "run `make lint-verdicts`"
    doc = json.loads((REPOSITORY / RECORD_NAME).read_text())
    assert [m["version"] for m in doc["migrations"]] == SHIPPED


def test_the_shipped_migrations_are_trusted_and_not_linted(
        monkeypatch: pytest.MonkeyPatch) -> None:
    files = sources.read([migrations_dir()])
    expected = full_lint(files)
    no_lint(monkeypatch)
    verdicts = trusting()
    report = verdicts.check(files, set(SHIPPED), LintSettings())
    assert verdicts.trusted == SHIPPED and verdicts.linted == verdicts.cached == []
    assert report.as_dict() == expected  # the very report a full lint gives
    later = trusting()  # an upgrade: only the last ones pending
    assert later.check(files, set(SHIPPED[-2:]), LintSettings()).as_dict() == \
        lint_sources(files, only=set(SHIPPED[-2:])).as_dict()
    assert later.trusted == SHIPPED[-2:]


@pytest.mark.parametrize(("edit", "found"), [
    # a new statement: an index built on an existing table without CONCURRENTLY
    (lambda text: text + "\nCREATE INDEX idx_users_email_again ON users (email);\n",
     "index-not-concurrently"),
    # an allow comment taken away: the same migration checksum for verify, another verdict
    (lambda text: "\n".join(line for line in text.splitlines()
                            if "lint: allow" not in line) + "\n",
     "timestamp-without-time-zone"),
])
def test_an_edited_shipped_migration_is_linted_again(tmp_path: Path, edit: Any,
                                                     found: str) -> None:
    folder = shipped_copy(tmp_path)
    path = folder / "0003_courses.sql"
    path.write_text(edit(path.read_text()))
    files = sources.read([folder])
    verdicts = trusting()
    report = verdicts.check(files, set(SHIPPED), LintSettings())
    edited = SHIPPED.index("0003_courses")
    # it and every later one (judged against the schema it builds): linted; before it:
    # trusted, but for those adding a foreign key (judged with the migrations after them)
    assert verdicts.linted[-len(SHIPPED[edited:]):] == SHIPPED[edited:]
    assert verdicts.trusted == [v for v in SHIPPED[:edited] if not DEPENDS_ON_LATER[v]]
    assert report.as_dict() == full_lint(files)
    assert found in {f.rule for f in report.findings if f.path == path}


def test_a_whitespace_edit_is_linted_again(tmp_path: Path) -> None:
    """Lines move with whitespace: the verdict knows the text, not verify's checksum."""
    folder = shipped_copy(tmp_path)
    path = folder / "0002_users.sql"
    before = path.read_text()
    path.write_text(before.replace("\nCREATE", "\n\n\nCREATE", 1))
    assert sources.checksum(path.read_text()) == sources.checksum(before)
    files = sources.read([folder])
    verdicts = trusting()
    assert verdicts.check(files, set(SHIPPED), LintSettings()).as_dict() == full_lint(files)
    assert verdicts.trusted == SHIPPED[:1] and verdicts.linted == SHIPPED[1:]


def test_the_rule_levels_are_part_of_the_key(tmp_path: Path) -> None:
    files = sources.read([migrations_dir()])
    stricter = LintSettings({"timestamp-without-time-zone": "off"})
    verdicts = trusting(tmp_path / "cache")
    report = verdicts.check(files, set(SHIPPED), stricter)
    assert verdicts.trusted == [] and verdicts.linted == SHIPPED  # the record: default levels
    assert report.as_dict() == full_lint(files, stricter) != full_lint(files)
    assert "timestamp-without-time-zone" not in {s.finding.rule for s in report.suppressed}
    again = trusting(tmp_path / "cache")
    assert again.check(files, set(SHIPPED), stricter).as_dict() == report.as_dict()
    assert again.cached == SHIPPED
    default = trusting(tmp_path / "cache")
    default.check(files, set(SHIPPED), LintSettings())
    assert default.trusted == SHIPPED and default.cached == []


def test_other_migrations_are_cached_by_checksum(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    extra = tmp_path / "mine"
    extra.mkdir()
    write(extra, "1001_notes", f"""\
        -- depends: {HEAD}
        CREATE TABLE notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at timestamp);
        """)
    write(extra, "1002_index", """\
        -- depends: 1001_notes
        CREATE INDEX idx_notes_at ON notes (at);
        """)
    files = sources.read([migrations_dir(), extra])
    every = {m.version for m in files}
    expected = full_lint(files)
    first = trusting(tmp_path / "cache")
    assert first.check(files, every, LintSettings()).as_dict() == expected
    assert "1001_notes" in first.linted and "1002_index" in first.linted
    assert first.trusted  # the shipped ones that do not depend on what comes after them
    # the shipped migrations adding foreign keys were judged with the set's end: linted too
    assert set(first.trusted) | set(first.linted) == every
    no_lint(monkeypatch)
    second = trusting(tmp_path / "cache")
    assert second.check(files, every, LintSettings()).as_dict() == expected
    assert second.linted == [] and sorted(second.cached) == sorted(first.linted)


def test_a_verdict_that_depends_on_later_migrations_holds_only_with_them(
        tmp_path: Path) -> None:
    """A foreign key without an index is judged at the end of the set: a later migration
    that adds the index changes the verdict of the one that added the key."""
    extra = tmp_path / "mine"
    extra.mkdir()
    write(extra, "1001_notes", f"""\
        -- depends: {HEAD}
        CREATE TABLE notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                            user_id integer REFERENCES users (id));
        """)
    cache = tmp_path / "cache"
    files = sources.read([migrations_dir(), extra])
    before = trusting(cache).check(files, {"1001_notes"}, LintSettings())
    assert [f.rule for f in before.findings] == ["unindexed-foreign-key"]
    write(extra, "1002_index", """\
        -- depends: 1001_notes
        CREATE INDEX idx_notes_user ON notes (user_id);
        """)
    files = sources.read([migrations_dir(), extra])
    verdicts = trusting(cache)
    after = verdicts.check(files, {"1001_notes"}, LintSettings())
    assert verdicts.linted == ["1001_notes"] and after.findings == []
    assert after.as_dict() == lint_sources(files, only={"1001_notes"}).as_dict()


def test_a_damaged_or_unwritable_cache_costs_a_lint(tmp_path: Path) -> None:
    files = sources.read([migrations_dir()])
    expected = full_lint(files)
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    unwritable = Verdicts({}, blocked / "lint")
    assert unwritable.check(files, set(SHIPPED), LintSettings()).as_dict() == expected
    cache = tmp_path / "cache"
    Verdicts({}, cache).check(files, set(SHIPPED), LintSettings())
    stored = sorted(cache.iterdir())
    assert len(stored) == len(SHIPPED) and not list(cache.glob(".*"))
    stored[0].write_text("{ damaged")
    stored[1].write_text(json.dumps({"parsed": True, "findings": [{"rule": 1}]}))
    again = Verdicts({}, cache)
    assert again.check(files, set(SHIPPED), LintSettings()).as_dict() == expected
    assert len(again.linted) == 2 and len(again.cached) == len(SHIPPED) - 2
    assert json.loads(stored[0].read_text())["parsed"] is True  # written again


def test_concurrent_runs_share_the_cache(tmp_path: Path) -> None:
    files = sources.read([migrations_dir()])
    expected = full_lint(files)
    cache = tmp_path / "cache"
    reports: list[dict[str, Any]] = []

    def one() -> None:
        reports.append(Verdicts({}, cache).check(files, set(SHIPPED), LintSettings()).as_dict())

    threads = [threading.Thread(target=one) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert reports == [expected] * 6
    assert len(list(cache.iterdir())) == len(SHIPPED)  # no temporary file left behind


def test_migrate_trusts_the_record_and_refuses_an_edited_shipped_migration(
        empty_db: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATOTO_CACHE_DIR", str(tmp_path / "cache"))
    folder = shipped_copy(tmp_path)
    path = folder / "0004_enrollments.sql"
    path.write_text(path.read_text() + "\nCREATE INDEX idx_users_email_again ON users (email);\n")
    monkeypatch.setattr(sources, "migrations_dir", lambda: folder)  # the edited set, shipped
    with pytest.raises(UnsafeMigration, match="0004_enrollments.sql:.* index-not-concurrently"):
        run_migrate(empty_db, MigrateSettings())
    assert q(empty_db, "SELECT to_regclass('users')") == [(None,)]  # nothing applied
    monkeypatch.undo()
    monkeypatch.setenv("WATOTO_CACHE_DIR", str(tmp_path / "cache"))
    no_lint(monkeypatch)  # the shipped migrations as released: nothing to lint
    outcome = run_migrate(empty_db, MigrateSettings())
    assert outcome.result.done == SHIPPED and outcome.findings.errors == []
    assert len(outcome.findings.suppressed) > 0  # the allowed findings, from the record
