"""What a new user expects of the command line (#9): global options after the command at
any depth, usage errors that never look like "differences found", unknown names that are
errors, empty results that say so, and `migrate && drift` succeeding on a fresh database."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from pathlib import Path

import click
import psycopg
import pytest

from watoto_schema.cli import cli

from .conftest import Server
from .test_cli import assert_one_line_error, run
from .test_drift import execute_script

# Arguments that make each command do its real work on a migrated database (dry where the
# command would otherwise change something a second run could not change again).
ARGS: dict[str, list[str]] = {
    "backup create": [],
    "backup list": [],
    "backup prune": [],
    "backup restore": ["backups/none", "--to", "postgresql:///nowhere"],
    "backup verify": ["backups/none"],
    "migrate": [],
    "rollback": ["--steps", "1"],
    "status": [],
    "verify": [],
    "repair": [],
    "baseline": [],
    "new": ["add_notes"],
    "lint": [],
    "drift": [],
    "local start": [],
    "local stop": [],
    "local status": [],
    "local url": [],
    "local destroy": ["--yes"],
    "local kill": ["primary"],  # exit 1: no local cluster in this folder
    "local switchover": [],  # refused (exit 3): not a pg_auto_failover formation
    "local drill failover": [],  # refused (exit 3): likewise
    "maintain plan": [],
    "maintain run": ["--dry-run"],
    "maintain analyze": ["--table", "courses"],
    "maintain vacuum": ["--table", "courses"],
    "maintain reindex": ["--index", "idx_courses_category"],
    "partitions ensure": ["--dry-run"],
    "partitions create": ["--table", "enrollments", "--from", "2040-01-01", "--to",
                          "2041-01-01", "--dry-run"],
    "partitions list": [],
    "partitions retire": ["--table", "enrollments", "--older-than", "50 years", "--detach",
                          "--dry-run"],
    "partitions render": ["enrollments"],
    "sample-data": ["--students", "20"],
    "loadtest": ["--duration", "1"],  # refused (exit 3): the clone has no sample-data mark
    "pitr check": [],  # exit 2: the suite's server does not archive
    "pitr setup": ["--archive-dir", "/tmp/x"],  # without --apply: prints the statements
    "pitr base-backup": ["--to", "."],  # refused (exit 3): the work folder is not empty
    "pitr drill": ["--base-backup", ".", "--archive", ".", "--target-time",
                   "2026-01-01T00:00:00+00:00"],  # exit 1: not a base backup
    "testdb provision": [],
    "testdb list": [],
    "testdb drop": ["no_such_test_database"],
    "testdb gc": ["--dry-run"],
    "testdb pool": ["--size", "1", "--pool", "conventions"],
    "testdb take": ["--pool", "conventions"],
    "testdb give-back": ["no_such_test_database"],
    "cache check": [],  # exit 2: the test Redis has no maxmemory
    "cache invalidate": ["--family", "user"],
    "health": [],
    "health serve": ["--address", "no-such-host.invalid"],  # fails before serving, both ways
    "dashboard": ["--listen", "no-such-host.invalid"],  # refused before serving, both ways
}
_LOCAL = {"local start", "local stop", "local status", "local url", "local destroy",
          "local kill", "local switchover", "local drill failover"}
_names = itertools.count()


def leaf_commands(group: click.Group = cli, prefix: str = "") -> list[str]:
    found = []
    ctx = click.Context(group)
    for name in sorted(group.list_commands(ctx)):  # the root loads its commands on demand
        command = group.get_command(ctx, name)
        assert command is not None
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            if command.invoke_without_command:  # `health` runs itself, `health serve` too
                found.append(path)
            found.extend(leaf_commands(command, path + " "))
        else:
            found.append(path)
    return found


def test_the_walk_covers_every_command() -> None:
    assert sorted(ARGS) == leaf_commands()


@pytest.fixture
def clone(pg_server: Server, migrated_template: str) -> Iterator[object]:
    """A factory of fresh migrated databases (dropped afterwards)."""
    made: list[str] = []

    def factory() -> str:
        name = f"conv_{os.getpid()}_{next(_names)}"
        pg_server.create_db(name, migrated_template)
        made.append(name)
        return pg_server.conninfo(name)

    yield factory
    for name in made:
        pg_server.drop_db(name)


@pytest.mark.parametrize("command", sorted(ARGS))
def test_json_after_the_command_means_what_it_means_before(
        command: str, clone: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        request: pytest.FixtureRequest) -> None:
    path, args = command.split(), ARGS[command]
    redis = ["--redis", request.getfixturevalue("redis_url")] if path[0] == "cache" else []
    results = []
    for placement in ("before", "after"):
        workdir = tmp_path / placement
        (workdir / "migrations").mkdir(parents=True)
        monkeypatch.chdir(workdir)
        target = [] if command in _LOCAL else ["--dsn", clone()]  # type: ignore[operator]
        extra = ["--migrations", "migrations"] if command == "new" else []
        options = ["--json", *target, *extra, *redis]
        argv = [*options, *path, *args] if placement == "before" else [*path, *args, *options]
        results.append(run(*argv))
        if command == "local start":
            run("local", "destroy", "--yes")
        if command == "testdb provision" and results[-1].exit_code == 0:
            for made in json.loads(results[-1].stdout)["databases"]:
                run("testdb", "drop", made["name"], *target)
        if command in ("testdb pool", "testdb take") and results[-1].exit_code == 0:
            made = json.loads(results[-1].stdout)
            run("testdb", "give-back", *made.get("ready", [made.get("name")]), *target)
    before, after = results
    assert after.exit_code == before.exit_code, (after.output, before.output)
    assert "No such option" not in after.stderr
    if before.exit_code in (0, 2):
        assert json.loads(after.stdout).keys() == json.loads(before.stdout).keys()


def test_global_options_work_at_every_depth(clone: object) -> None:
    dsn = clone()  # type: ignore[operator]
    for argv in (["partitions", "list", "--json", "--dsn", dsn],
                 ["partitions", "--json", "list", "--dsn", dsn],
                 ["--json", "partitions", "list", "--dsn", dsn]):
        result = run(*argv)
        assert result.exit_code == 0, (argv, result.output)
        assert {t["table"] for t in json.loads(result.stdout)["tables"]} == {"enrollments",
                                                                            "users"}


def test_subcommand_help_shows_the_global_options() -> None:
    text = run("partitions", "list", "--help").stdout
    section = text.split("Global options")[1]
    for option in ("--dsn", "--local", "--migrations", "--config", "--json", "--debug"):
        assert option in section


@pytest.mark.parametrize("argv", [
    ["maintain", "plan", "--tabel", "x"],
    ["migrate", "--lock-timeout"],
    ["--bogus", "status"],
    ["status", "--bogus"],
    ["partitions", "list", "--table"],
    ["partitions", "retire", "--table", "enrollments"],
    ["drift", "unexpected-argument"],
    ["nosuchcommand"],
])
def test_usage_errors_exit_1_never_2(argv: list[str]) -> None:
    assert_one_line_error(run(*argv))


@pytest.mark.parametrize("argv", [
    ["partitions", "list", "--table", "nosuch"],
    ["partitions", "ensure", "--table", "nosuch"],
    ["partitions", "create", "--table", "nosuch", "--from", "2040-01-01", "--to", "2041-01-01"],
    ["partitions", "retire", "--table", "nosuch", "--older-than", "5 years", "--detach"],
    ["partitions", "render", "nosuch"],
    ["maintain", "analyze", "--table", "nosuch"],
    ["maintain", "vacuum", "--table", "nosuch"],
    ["maintain", "reindex", "--table", "nosuch"],
    ["maintain", "reindex", "--index", "nosuch"],
])
def test_unknown_names_are_one_line_errors(argv: list[str], clone: object) -> None:
    line = assert_one_line_error(run(*argv, "--dsn", clone()))  # type: ignore[operator]
    assert "nosuch" in line


def test_an_empty_listing_says_so(empty_db: object) -> None:
    dsn = empty_db.conninfo  # type: ignore[attr-defined]
    result = run("partitions", "list", "--dsn", dsn)
    assert result.exit_code == 0
    assert "No partitioned tables" in result.stdout
    assert json.loads(run("partitions", "list", "--json", "--dsn", dsn).stdout) == {"tables": []}


def test_migrate_then_drift_is_in_sync(empty_db: object) -> None:
    dsn = empty_db.conninfo  # type: ignore[attr-defined]
    migrated = run("migrate", "--json", "--dsn", dsn)
    assert migrated.exit_code == 0, migrated.output
    assert json.loads(migrated.stdout)["premade_partitions"]  # up to the policy's horizon
    assert run("drift", "--dsn", dsn).exit_code == 0
    listing = json.loads(run("partitions", "list", "--json", "--dsn", dsn).stdout)
    assert all(not t["warnings"] for t in listing["tables"])


def test_a_fixed_drift_is_in_sync(empty_db: object) -> None:
    target = empty_db
    dsn = target.conninfo  # type: ignore[attr-defined]
    assert run("migrate", "--dsn", dsn).exit_code == 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP INDEX idx_courses_category")
    assert run("drift", "--dsn", dsn).exit_code == 2
    fix = run("drift", "--sql", "--dsn", dsn)
    assert "CREATE INDEX CONCURRENTLY idx_courses_category" in fix.stdout
    execute_script(target, fix.stdout)  # type: ignore[arg-type]
    assert run("drift", "--dsn", dsn).exit_code == 0


def test_a_short_runway_is_a_warning_not_drift(empty_db: object) -> None:
    dsn = empty_db.conninfo  # type: ignore[attr-defined]
    migrated = run("migrate", "--no-premake", "--json", "--dsn", dsn)
    assert migrated.exit_code == 0 and json.loads(migrated.stdout)["premade_partitions"] == []
    assert run("drift", "--dsn", dsn).exit_code == 0
    listing = run("partitions", "list", "--dsn", dsn)
    assert listing.exit_code == 0
    assert "before the premake horizon" in listing.stderr
    doc = json.loads(run("partitions", "list", "--json", "--dsn", dsn).stdout)
    [enrollments] = [t for t in doc["tables"] if t["table"] == "enrollments"]
    assert enrollments["runway_until"] < enrollments["premake_until"]
    assert run("partitions", "ensure", "--dsn", dsn).exit_code == 0
    doc = json.loads(run("partitions", "list", "--json", "--dsn", dsn).stdout)
    assert all(not t["warnings"] for t in doc["tables"])


def test_migrate_to_an_early_version_premakes_only_what_exists(empty_db: object) -> None:
    dsn = empty_db.conninfo  # type: ignore[attr-defined]
    result = run("migrate", "--to", "0002", "--dsn", dsn)  # users exist, enrollments not yet
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("argv", [["local", "status"], ["--json", "local", "status"]])
def test_a_reader_that_went_away_is_no_internal_error(argv: list[str], tmp_path: Path) -> None:
    """`watoto-schema ... | head -1`: the pipe's reader is gone before the output is written.
    Exit 1 (an error) with nothing on stderr: no "internal error", no traceback."""
    import subprocess
    import sys

    read, write = os.pipe()
    os.close(read)  # no reader: the first write fails with EPIPE
    try:
        proc = subprocess.run([str(Path(sys.executable).parent / "watoto-schema"), *argv],
                              stdout=write, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                              timeout=60)
    finally:
        os.close(write)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == ""
    # The same command with a reader works as before.
    shown = subprocess.run([str(Path(sys.executable).parent / "watoto-schema"), *argv],
                           capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert shown.returncode == 0 and shown.stdout.strip(), shown.stderr
