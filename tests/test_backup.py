"""Backups (#11): create, verify (hashes, a real restore, drift, row counts), restore without
a half-restored state, list, prune, and passwords that never show."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from watoto_schema import backup, sample_data
from watoto_schema.backup import tools
from watoto_schema.backup.manifest import row_counts
from watoto_schema.errors import BackupRefused
from watoto_schema.target import Target

from .conftest import Server
from .test_cli import SECRET, assert_one_line_error, password_role, run

__all__ = ["password_role"]  # a fixture, used by name below


@pytest.fixture
def loaded(db: Target) -> Target:
    """A migrated database with sample data for 50 students."""
    with psycopg.connect(db.conninfo) as conn:
        sample_data.load(conn, 50)
    return db


def create(target: Target, directory: Path, *args: str) -> Path:
    result = run("--dsn", target.conninfo, "--json", "backup", "create", "--dir",
                 str(directory), *args)
    assert result.exit_code == 0, result.output + result.stderr
    return Path(json.loads(result.stdout)["path"])


def verify(path: Path, server: Server) -> Any:
    return run("--dsn", server.admin_conninfo, "--json", "backup", "verify", str(path))


def content(target: Target) -> tuple[dict[str, int], str]:
    with psycopg.connect(target.conninfo) as conn:
        row = conn.execute("SELECT md5(string_agg(u::text, ',' ORDER BY u.id)) "
                           "FROM users u").fetchone()
        return row_counts(conn), str(row[0] if row else None)


def scratch_left(server: Server) -> list[str]:
    with server.admin() as conn:
        return [r[0] for r in conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s",
            (f"watoto_verify_{os.getpid()}_%",))]


def test_create_then_verify_is_clean(loaded: Target, pg_server: Server, tmp_path: Path) -> None:
    path = create(loaded, tmp_path)
    assert path.parent == tmp_path and path.name.endswith("_" + conninfo_to_dict(
        loaded.conninfo)["dbname"])
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["format"] == "custom" and (path / "dump.pgdump").is_file()
    assert [m["version"] for m in manifest["migrations"]][:2] == ["0001_schema_migrations",
                                                                   "0002_users"]
    assert all(m["checksum"] for m in manifest["migrations"])
    assert manifest["row_counts"]["public.users_0"] > 0  # partitions counted individually
    assert "public.users" not in manifest["row_counts"]  # a parent holds no rows
    assert manifest["rows"] == sum(manifest["row_counts"].values()) > 50
    assert set(manifest["files"]) == {"dump.pgdump"}
    assert manifest["server"]["version_num"] >= 130000
    assert manifest["tools"]["pg_dump"].startswith("pg_dump ")

    listed = run("--json", "backup", "list", "--dir", str(tmp_path))
    assert json.loads(listed.stdout)["backups"][0]["verified"] is None

    result = verify(path, pg_server)
    assert result.exit_code == 0, result.output + result.stderr
    doc = json.loads(result.stdout)
    assert doc["ok"] and doc["restore_seconds"] > 0 and doc["drift_differences"] == 0
    assert doc["rows"] == manifest["rows"] and doc["restored_on"] == "server"
    assert json.loads((path / "verified.json").read_text())["ok"] is True
    assert scratch_left(pg_server) == []

    table = run("backup", "list", "--dir", str(tmp_path))
    assert path.name in table.stdout and "ok" in table.stdout
    assert json.loads(run("--json", "backup", "list", "--dir", str(tmp_path)).stdout
                      )["backups"][0]["verified"] is True


def test_a_corrupted_or_truncated_file_is_named(loaded: Target, pg_server: Server,
                                                tmp_path: Path) -> None:
    path = create(loaded, tmp_path, "--format", "directory", "--jobs", "2")
    manifest = json.loads((path / "manifest.json").read_text())
    assert "dump/toc.dat" in manifest["files"] and len(manifest["files"]) > 2
    data = sorted((n for n in manifest["files"] if n.endswith(".dat.gz")),
                  key=lambda n: manifest["files"][n]["bytes"])[-1]
    original = (path / data).read_bytes()

    corrupted = bytearray(original)
    corrupted[len(corrupted) // 2] ^= 0xFF
    (path / data).write_bytes(bytes(corrupted))
    result = verify(path, pg_server)
    assert result.exit_code == 2
    assert json.loads(result.stdout)["problems"] == [
        f"{data}: corrupted (sha256 differs from the manifest)"]
    assert f"{data}: corrupted" in run("backup", "verify", str(path)).stdout
    assert json.loads((path / "verified.json").read_text())["ok"] is False
    assert "FAILED" in run("backup", "list", "--dir", str(tmp_path)).stdout

    (path / data).write_bytes(original[:-10])
    result = verify(path, pg_server)
    assert result.exit_code == 2
    assert "truncated" in json.loads(result.stdout)["problems"][0]

    (path / data).write_bytes(original)
    assert verify(path, pg_server).exit_code == 0

    # a damaged backup is not restored at all
    (path / "dump" / "toc.dat").write_bytes(b"")
    refused = run("backup", "restore", str(path), "--to", loaded.conninfo, "--yes")
    assert "toc.dat" in assert_one_line_error(refused, code=2)


def test_a_row_count_edited_in_the_manifest_is_a_difference(loaded: Target, pg_server: Server,
                                                             tmp_path: Path) -> None:
    path = create(loaded, tmp_path)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["row_counts"]["public.users_1"] += 1
    (path / "manifest.json").write_text(json.dumps(manifest))
    result = verify(path, pg_server)
    assert result.exit_code == 2
    problems = json.loads(result.stdout)["problems"]
    assert len(problems) == 1 and "rows of public.users_1" in problems[0]
    assert scratch_left(pg_server) == []

    manifest["row_counts"]["public.users_1"] -= 1
    manifest["migrations"][2]["checksum"] = "0" * 64
    (path / "manifest.json").write_text(json.dumps(manifest))
    problems = json.loads(verify(path, pg_server).stdout)["problems"]
    assert problems == [f"migration {manifest['migrations'][2]['version']}: checksum differs "
                        "from the manifest"]


def test_drift_in_the_backed_up_database_is_caught(loaded: Target, pg_server: Server,
                                                   tmp_path: Path) -> None:
    with psycopg.connect(loaded.conninfo, autocommit=True) as conn:
        conn.execute("DROP INDEX idx_users_email")
    path = create(loaded, tmp_path)
    result = verify(path, pg_server)
    assert result.exit_code == 2
    problems = json.loads(result.stdout)["problems"]
    assert any("drift" in p and "idx_users_email" in p for p in problems), problems


def test_restore_into_an_empty_database_then_the_data_are_equal(
        loaded: Target, empty_db: Target, tmp_path: Path) -> None:
    path = create(loaded, tmp_path)
    result = run("--json", "backup", "restore", str(path), "--to", empty_db.conninfo,
                 "--jobs", "2")
    assert result.exit_code == 0, result.output + result.stderr
    assert json.loads(result.stdout)["replaced"] is False
    assert content(empty_db) == content(loaded)


def test_restore_creates_a_database_that_does_not_exist(loaded: Target, pg_server: Server,
                                                        tmp_path: Path) -> None:
    path = create(loaded, tmp_path, "--format", "directory", "--jobs", "2")
    name = f"restored_{os.getpid()}"
    target = Target(pg_server.conninfo(name), "tests")
    try:
        result = run("--json", "backup", "restore", str(path), "--to", target.conninfo)
        assert result.exit_code == 0, result.output + result.stderr
        assert json.loads(result.stdout)["created"] is True
        assert content(target) == content(loaded)
    finally:
        pg_server.drop_db(name)


def test_restore_refuses_a_database_that_is_not_empty(loaded: Target, db: Target,
                                                      pg_server: Server,
                                                      tmp_path: Path) -> None:
    path = create(loaded, tmp_path)
    with psycopg.connect(loaded.conninfo, autocommit=True) as conn:
        conn.execute("DELETE FROM assessment_submissions")
    before = content(loaded)
    line = assert_one_line_error(run("backup", "restore", str(path), "--to", loaded.conninfo),
                                 code=3)
    assert "not empty" in line and "--yes" in line
    assert content(loaded) == before  # untouched

    other = psycopg.connect(loaded.conninfo, autocommit=True)  # a session is in the way
    try:
        result = run("backup", "restore", str(path), "--to", loaded.conninfo, "--yes")
        assert result.exit_code == 0, result.output + result.stderr
        assert "replaced" in result.stdout
    finally:
        other.close()
    assert sum(v for k, v in content(loaded)[0].items() if "submissions" in k) > 0
    with pg_server.admin() as conn:
        name = str(conninfo_to_dict(loaded.conninfo)["dbname"])[:40]
        leftovers = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s OR "
                                 "datname LIKE %s", (f"{name}_restoring_%",
                                                     f"{name}_replaced_%")).fetchall()
    assert leftovers == []


def test_a_backup_is_never_overwritten(loaded: Target, tmp_path: Path) -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    first = backup.create(loaded, directory=tmp_path, now=moment)
    assert first.path.name.startswith("20260102T030405Z_")
    before = (first.path / "manifest.json").read_bytes()
    with pytest.raises(BackupRefused, match="never overwritten"):
        backup.create(loaded, directory=tmp_path, now=moment)
    assert (first.path / "manifest.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [first.path.name]  # no leftovers


def test_a_killed_run_leaves_no_backup(loaded: Target, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(sys.modules["watoto_schema.backup.create"], "write_json", fail)
    with pytest.raises(KeyboardInterrupt):
        backup.create(loaded, directory=tmp_path)
    assert list(tmp_path.iterdir()) == []
    # a folder left by a killed run is not a backup; prune deletes it (only if its run is gone)
    dead = subprocess.Popen(["true"])
    dead.wait()
    host = socket.gethostname()
    left = tmp_path / f".20260101T000000Z_x.partial-{host}-{dead.pid}-abc"
    alive = tmp_path / f".20260101T000000Z_y.partial-{host}-{os.getpid()}-abc"
    left.mkdir()
    alive.mkdir()
    assert backup.list_backups(tmp_path) == []
    dry = run("--json", "backup", "prune", "--dir", str(tmp_path))
    assert json.loads(dry.stdout)["unfinished"] == [left.name] and left.is_dir()
    assert run("backup", "prune", "--dir", str(tmp_path), "--yes").exit_code == 0
    assert sorted(tmp_path.iterdir()) == [alive]


def test_prune_is_dry_unless_yes(loaded: Target, tmp_path: Path) -> None:
    made = backup.create(loaded, directory=tmp_path, now=datetime(2026, 3, 1, tzinfo=UTC))
    start = datetime(2026, 3, 1, 12, tzinfo=UTC)
    for hours in range(0, 24 * 40, 12):  # two backups a day for 40 days
        moment = start - timedelta(hours=hours)
        copy = tmp_path / f"{moment:%Y%m%dT%H%M%SZ}_copy"
        shutil.copytree(made.path, copy)
        manifest = json.loads((copy / "manifest.json").read_text())
        manifest["created_at"] = moment.isoformat()
        (copy / "manifest.json").write_text(json.dumps(manifest))
    total = len(backup.list_backups(tmp_path))
    assert total == 81

    dry = run("--json", "backup", "prune", "--dir", str(tmp_path), "--keep-daily", "7",
              "--keep-weekly", "4")
    assert dry.exit_code == 0, dry.output
    doc = json.loads(dry.stdout)
    kept = [b["name"] for b in doc["backups"] if b["keep"]]
    assert doc["dry_run"] and 7 <= len(kept) <= 11
    assert kept[0] == "20260301T120000Z_copy"  # the newest
    assert len(backup.list_backups(tmp_path)) == total  # nothing deleted
    assert "would delete" in run("backup", "prune", "--dir", str(tmp_path)).stdout

    done = run("--json", "backup", "prune", "--dir", str(tmp_path), "--yes")
    assert done.exit_code == 0
    assert sorted(b.path.name for b in backup.list_backups(tmp_path)) == sorted(kept)
    assert assert_one_line_error(run("backup", "prune", "--dir", str(tmp_path), "--keep-daily",
                                     "0", "--keep-weekly", "0"), code=3)


def test_no_password_in_any_output(password_role: str, tmp_path: Path) -> None:
    url = password_role.format(SECRET)
    args, env = tools.libpq_args(Target(url, "test"))
    assert SECRET not in " ".join(args) and env["PGPASSWORD"] == SECRET
    outputs = []
    made = run("--dsn", url, "--json", "backup", "create", "--dir", str(tmp_path))
    assert made.exit_code == 0, made.output + made.stderr
    path = Path(json.loads(made.stdout)["path"])
    outputs.append(made)
    # the role may not CREATE DATABASE: verify falls back to an embedded cluster
    checked = run("--dsn", url, "--json", "backup", "verify", str(path))
    assert checked.exit_code == 0, checked.output + checked.stderr
    assert json.loads(checked.stdout)["restored_on"] == "embedded cluster"
    outputs += [checked, run("--dsn", url, "backup", "list", "--dir", str(tmp_path)),
                run("--dsn", url, "--debug", "backup", "restore", str(path), "--to", url)]
    for result in outputs:
        assert SECRET not in result.output + result.stderr
    for file in path.rglob("*"):
        if file.is_file():
            assert SECRET.encode() not in file.read_bytes(), file
    assert "***" in json.loads((path / "manifest.json").read_text())["dsn"]


def test_jobs_need_the_directory_format(db: Target, tmp_path: Path) -> None:
    line = assert_one_line_error(run("--dsn", db.conninfo, "backup", "create", "--dir",
                                     str(tmp_path), "--jobs", "2"))
    assert "--format directory" in line
    assert list(tmp_path.iterdir()) == []
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    line = assert_one_line_error(run("--dsn", db.conninfo, "backup", "create", "--dir",
                                     str(blocked / "sub")))
    assert "cannot write a backup in" in line


def test_a_backup_that_does_not_restore_fails_verification(loaded: Target, pg_server: Server,
                                                           tmp_path: Path) -> None:
    """Hashes that match a broken archive (rewritten with it) do not make it a backup."""
    from watoto_schema.backup.manifest import sha256_file

    path = create(loaded, tmp_path)
    dump = path / "dump.pgdump"
    dump.write_bytes(dump.read_bytes()[: dump.stat().st_size // 2])
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"]["dump.pgdump"] = {"sha256": sha256_file(dump),
                                        "bytes": dump.stat().st_size}
    (path / "manifest.json").write_text(json.dumps(manifest))
    result = verify(path, pg_server)
    assert result.exit_code == 2, result.output
    assert "pg_restore failed" in json.loads(result.stdout)["problems"][0]
    assert scratch_left(pg_server) == []


def test_a_failed_restore_leaves_the_target_as_it_was(loaded: Target, pg_server: Server,
                                                      tmp_path: Path) -> None:
    path = create(loaded, tmp_path)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["row_counts"]["public.users_2"] += 5  # the restored copy will not match
    (path / "manifest.json").write_text(json.dumps(manifest))
    with psycopg.connect(loaded.conninfo, autocommit=True) as conn:
        conn.execute("DELETE FROM assessment_submissions")
    before = content(loaded)
    result = run("backup", "restore", str(path), "--to", loaded.conninfo, "--yes")
    assert result.exit_code == 1, result.output
    line = result.stderr.strip().splitlines()[-1]  # after the progress note
    assert line.startswith("error: ") and "Traceback" not in result.stderr
    assert "restored rows differ from the manifest" in line and "users_2" in line
    assert content(loaded) == before
    name = str(conninfo_to_dict(loaded.conninfo)["dbname"])[:40]
    with pg_server.admin() as conn:
        assert conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                            (f"{name}_%",)).fetchall() == []


def test_verify_prints_the_restore_time(loaded: Target, pg_server: Server,
                                        tmp_path: Path) -> None:
    path = create(loaded, tmp_path, "--format", "directory")
    result = run("--dsn", pg_server.admin_conninfo, "backup", "verify", str(path), "--jobs", "2")
    assert result.exit_code == 0, result.output
    assert "restored " in result.stdout and "s (server)" in result.stdout
    assert "verified" in result.stdout


def test_restore_without_the_source_roles_needs_no_owner(loaded: Target, pg_server: Server,
                                                         tmp_path: Path) -> None:
    role = f"backup_owner_{os.getpid()}"
    with psycopg.connect(loaded.conninfo, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role}")
        conn.execute(f"CREATE TABLE notes (id int); ALTER TABLE notes OWNER TO {role}")
    path = create(loaded, tmp_path)
    with psycopg.connect(loaded.conninfo, autocommit=True) as conn:
        conn.execute(f"DROP OWNED BY {role}")
        conn.execute(f"DROP ROLE {role}")  # as on another server
    name = f"noowner_{os.getpid()}"
    target = pg_server.conninfo(name)
    try:
        result = run("backup", "restore", str(path), "--to", target)
        assert result.exit_code == 1
        assert "--no-owner" in result.stderr.strip().splitlines()[-1]
        result = run("--json", "backup", "restore", str(path), "--to", target, "--no-owner")
        assert result.exit_code == 0, result.output + result.stderr
        assert json.loads(result.stdout)["created"] is True
    finally:
        pg_server.drop_db(name)
