"""`pitr` (#11): archiving judged, set up with basic_archive, base backups, and drills that
restore to a point in time between marker rows and see exactly the rows before it.

These tests run on clusters of their own: archiving settings need a restart, and a failing
archive command must not disturb the rest of the suite.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
from click.testing import Result

from watoto_schema import pitr
from watoto_schema.errors import PitrError, RecoveryFailed
from watoto_schema.local import LocalCluster
from watoto_schema.migrate import migrate
from watoto_schema.pitr.drill import _diagnose, parse_time
from watoto_schema.target import Target

from .test_cli import assert_one_line_error, run


def _own(path: Path) -> None:
    """Give ``path`` (recursively) to the server's user when root runs the tests."""
    if os.geteuid() != 0:
        return
    user = pwd.getpwnam(os.environ.get("WATOTO_PG_USER", "postgres"))
    for p in [path, *path.rglob("*")]:
        os.lchown(p, user.pw_uid, user.pw_gid)


def _cluster(prefix: str) -> tuple[Path, LocalCluster]:
    root = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(root, 0o755)
    cluster = LocalCluster(root / "cluster", fsync=False, tcp=True)
    cluster.start()
    return root, cluster


def admin(url: str, statement: str, params: tuple[object, ...] = ()) -> object:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(statement, params or None)  # type: ignore[arg-type]
        row = cur.fetchone() if cur.description else None
    return row[0] if row else None


@dataclass
class Archived:
    root: Path
    cluster: LocalCluster
    url: str
    archive: Path


@pytest.fixture(scope="module")
def archived() -> Iterator[Archived]:
    """A migrated cluster archiving with basic_archive, set up by `pitr setup --apply`."""
    root, cluster = _cluster("watoto-pitr-")
    archive = root / "archive"
    archive.mkdir(mode=0o755)
    _own(archive)
    try:
        url = cluster.url()
        applied = run("--json", "--dsn", url, "pitr", "setup", "--archive-dir", str(archive),
                      "--apply")
        assert applied.exit_code == 0, applied.output
        doc = json.loads(applied.stdout)
        assert doc["applied"] and doc["restart_needed"]
        assert {s["setting"] for s in doc["statements"]} >= {
            "archive_mode", "archive_library", "basic_archive.archive_directory"}
        cluster.stop()
        cluster.start()
        url = cluster.url()  # the port may have changed
        migrate(Target(url, "tests"))
        yield Archived(root, cluster, url, archive)
    finally:
        cluster.destroy()
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class History:
    backup: Path
    markers: list[tuple[str, str]]  # (email, created_at as text)
    between: str  # a time after the second marker and before the third


def _marker(url: str, email: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("INSERT INTO users (email, password_hash, role) "
                           "VALUES (%s, 'x', 'student') RETURNING created_at::text",
                           (email,)).fetchone()
    assert row is not None
    return str(row[0])


def _archive_now(url: str) -> None:
    report = pitr.check(Target(url, "tests"), switch_wal=True, timeout=30)
    assert report.switched and report.switched["archived"], report.as_dict()


@pytest.fixture(scope="module")
def history(archived: Archived) -> History:
    """A base backup, then marker rows at three moments, each archived."""
    backup = archived.root / "backup"
    made = run("--json", "--dsn", archived.url, "pitr", "base-backup", "--to", str(backup))
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["start_lsn"]
    markers = []
    between = ""
    for n in (1, 2, 3):
        time.sleep(1.1)
        email = f"marker{n}@example.org"
        markers.append((email, _marker(archived.url, email)))
        _archive_now(archived.url)
        if n == 2:
            time.sleep(1.1)
            between = str(admin(archived.url, "SELECT clock_timestamp()::text"))
    return History(backup, markers, between)


def _error_line(result: Result, code: int) -> str:
    """The one error line of a drill (after its progress notes, also on stderr)."""
    assert result.exit_code == code, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and result.stderr.rstrip().endswith(errors[0]), result.stderr
    assert "Traceback" not in result.output
    return errors[0]


def _drills_left() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("watoto-drill-*")}


def test_check_on_a_safe_setup_passes_and_a_switched_segment_is_archived(
        archived: Archived) -> None:
    result = run("--json", "--dsn", archived.url, "pitr", "check", "--switch-wal")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["recoverable"] and doc["switch_wal"]["archived"]
    statuses = {f["check"]: f["status"] for f in doc["findings"]}
    assert statuses["archive_library"] == "ok" and statuses["switch_wal"] == "ok"
    human = run("--dsn", archived.url, "pitr", "check")
    assert human.exit_code == 0 and "recovery would work" in human.stdout


def test_setup_has_nothing_left_to_do_once_applied(archived: Archived) -> None:
    same = run("--json", "--dsn", archived.url, "pitr", "setup", "--archive-dir",
               str(archived.archive))
    assert same.exit_code == 0 and json.loads(same.stdout)["statements"] == []
    other = run("--dsn", archived.url, "pitr", "setup", "--archive-dir", "/srv/wal")
    assert other.exit_code == 0
    assert "ALTER SYSTEM SET \"basic_archive\".\"archive_directory\" = '/srv/wal';" in other.stdout
    assert "restart" not in other.stdout  # a reload is enough for the folder
    relative = run("--dsn", archived.url, "pitr", "setup", "--archive-dir", "wal")
    assert "absolute" in assert_one_line_error(relative)


def test_setup_apply_needs_a_superuser(archived: Archived) -> None:
    admin(archived.url, "CREATE ROLE pitr_plain LOGIN")
    url = archived.cluster.url(user="pitr_plain")
    result = run("--dsn", url, "pitr", "setup", "--archive-dir", "/srv/other", "--apply")
    assert "superuser" in assert_one_line_error(result, 1)
    assert admin(archived.url, "SELECT current_setting('basic_archive.archive_directory')"
                 ) == str(archived.archive)


def test_drill_to_a_time_between_markers_sees_exactly_the_first_two(
        archived: Archived, history: History) -> None:
    before = _drills_left()
    result = run("--json", "--dsn", archived.url, "pitr", "drill", "--base-backup",
                 str(history.backup), "--archive", str(archived.archive), "--target-time",
                 history.between)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["ok"] and doc["in_sync"], doc["differences"]
    assert doc["row_counts"]["users"] == 2
    assert doc["check"]["latest_before_target"] == history.markers[1][1]
    assert doc["check"]["source_latest"] == history.markers[1][1]
    assert doc["check"]["rows_after_target"] == 0 and doc["check"]["latest_present"]
    assert doc["recovery_seconds"] > 0 and doc["last_restored_wal"]
    assert _drills_left() == before  # stopped and removed


def test_drill_with_a_plain_backup_and_no_wal_of_its_own(archived: Archived,
                                                         history: History) -> None:
    backup = archived.root / "plain"
    made = run("--dsn", archived.url, "pitr", "base-backup", "--to", str(backup), "--format",
               "plain", "--wal", "none")
    assert made.exit_code == 0, made.output
    _marker(archived.url, "marker4@example.org")
    _archive_now(archived.url)
    now = str(admin(archived.url, "SELECT clock_timestamp()::text"))
    # Recovery knows it reached T only from a commit after T in the archive.
    _marker(archived.url, "marker5@example.org")
    _archive_now(archived.url)
    result = run("--json", "pitr", "drill", "--base-backup", str(backup), "--archive",
                 str(archived.archive), "--target-time", now)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["row_counts"]["users"] == 4
    human = run("pitr", "drill", "--base-backup", str(backup), "--archive",
                str(archived.archive), "--target-time", now)
    assert human.exit_code == 0, human.output
    assert "drill passed" in human.stdout and "schema: as migrated" in human.stdout
    assert "users.created_at: latest before target" in human.stdout


def test_drill_before_the_base_backup_is_an_error(archived: Archived,
                                                  history: History) -> None:
    before = _drills_left()
    result = run("pitr", "drill", "--base-backup", str(history.backup), "--archive",
                 str(archived.archive), "--target-time", "2001-01-01T00:00:00+00:00")
    assert "before the base backup started" in _error_line(result, 1)
    assert _drills_left() == before


def test_drill_with_a_segment_missing_from_the_archive_fails_cleanly(
        archived: Archived, history: History) -> None:
    manifest = pitr.backup.load(history.backup)
    holed = Path(tempfile.mkdtemp(prefix="archive-", dir=archived.root))
    os.chmod(holed, 0o755)
    kept = 0
    for segment in sorted(archived.archive.iterdir()):
        if len(segment.name) == 24 and segment.name > manifest.start_wal_file:
            continue  # every segment after the backup's own is "lost"
        shutil.copy2(segment, holed / segment.name)
        kept += 1
    _own(holed)
    before = _drills_left()
    result = run("pitr", "drill", "--base-backup", str(history.backup), "--archive",
                 str(holed), "--target-time", history.between)
    line = _error_line(result, 2)
    assert "recovery ended before the target time" in line
    assert f"segment {_next(manifest.start_wal_file)} is missing" in line
    assert _drills_left() == before


def _next(segment: str) -> str:
    """The segment after ``segment`` (16 MB segments: 256 per log id)."""
    timeline, log, seg = (int(segment[i:i + 8], 16) for i in (0, 8, 16))
    log, seg = (log + 1, 0) if seg == 0xFF else (log, seg + 1)
    return f"{timeline:08X}{log:08X}{seg:08X}"


@pytest.mark.skipif(os.geteuid() != 0, reason="the server runs as another user only as root")
def test_drill_with_an_archive_the_server_cannot_read_is_an_error(
        archived: Archived, history: History) -> None:
    private = Path(tempfile.mkdtemp(prefix="archive-", dir=archived.root))  # root, 0700
    before = _drills_left()
    result = run("pitr", "drill", "--base-backup", str(history.backup), "--archive",
                 str(private), "--target-time", history.between)
    assert "the server's user cannot read it" in _error_line(result, 1)
    assert _drills_left() == before


def test_base_backup_never_overwrites(archived: Archived, history: History) -> None:
    result = run("--dsn", archived.url, "pitr", "base-backup", "--to", str(history.backup))
    assert "never overwrites" in assert_one_line_error(result, 3)


@pytest.fixture(scope="module")
def failing() -> Iterator[str]:
    """A cluster whose archive_command fails (`/bin/false`)."""
    root, cluster = _cluster("watoto-pitr-bad-")
    try:
        url = cluster.url()
        admin(url, "ALTER SYSTEM SET archive_mode = 'on'")
        admin(url, "ALTER SYSTEM SET archive_command = '/bin/false'")
        cluster.stop()
        cluster.start()
        yield cluster.url()
    finally:
        cluster.destroy()
        shutil.rmtree(root, ignore_errors=True)


def test_check_reports_a_failing_archive_command(failing: str) -> None:
    result = run("--json", "--dsn", failing, "pitr", "check", "--switch-wal", "--timeout", "3")
    assert result.exit_code == 2, result.output
    doc = json.loads(result.stdout)
    statuses = {f["check"]: f["status"] for f in doc["findings"]}
    assert statuses["switch_wal"] == "critical" and not doc["switch_wal"]["archived"]
    assert doc["archiver"]["failed_count"] > 0
    again = run("--json", "--dsn", failing, "pitr", "check")
    findings = {f["check"]: f for f in json.loads(again.stdout)["findings"]}
    assert findings["archiver"]["status"] == "critical"
    assert "archiving is failing" in findings["archiver"]["message"]
    human = run("--dsn", failing, "pitr", "check")
    assert human.exit_code == 2 and "CRITICAL" in human.stdout


def test_check_flags_the_seeds_cp_command(failing: str) -> None:
    admin(failing, "ALTER SYSTEM SET archive_command = 'cp %p /x/%f'")
    admin(failing, "SELECT pg_reload_conf()")
    time.sleep(0.5)
    result = run("--json", "--dsn", failing, "pitr", "check")
    doc = json.loads(result.stdout)
    finding = next(f for f in doc["findings"] if f["check"] == "archive_command")
    assert finding["status"] == "warning"
    assert "test ! -f" in finding["message"] and "fsync" in finding["message"]


@pytest.mark.parametrize(("command", "status"), [
    ("", "critical"), ("/bin/true", "critical"), ("true", "critical"), ("exit 0", "critical"),
    ("cp %p /archive/%f", "warning"),
    ("test ! -f /archive/%f && cp %p /archive/%f", "warning"),  # still no fsync
    ("test ! -f /a/%f && cp %p /a/%f.tmp && sync /a/%f.tmp && mv /a/%f.tmp /a/%f", "ok"),
    ("pgbackrest --stanza=main archive-push %p", "ok"),
    ("wal-g wal-push %p", "ok"),
])
def test_archive_commands_are_judged_by_their_text(command: str, status: str) -> None:
    assert pitr.judge_archive_command(command).status == status


def test_target_time_parsing() -> None:
    assert parse_time("2026-11-30 14:05:00").tzinfo is not None
    assert isinstance(parse_time("2026-11-30T14:05:00+02:00"), datetime)


def test_a_failed_recovery_names_the_missing_segment() -> None:
    log = ('LOG:  restored log file "000000010000000000000002" from archive\n'
           "cp: cannot stat '/srv/wal/000000010000000000000003': No such file or directory\n"
           "cp: cannot stat '/srv/wal/00000002.history': No such file or directory\n"
           "FATAL:  recovery ended before configured recovery target was reached\n")
    error = _diagnose(log, parse_time("2026-11-30T14:00:00+00:00"))
    assert isinstance(error, RecoveryFailed) and error.exit_code == 2
    assert "segment 000000010000000000000003 is missing" in str(error)
    assert "last segment restored: 000000010000000000000002" in str(error)
    early = _diagnose("FATAL:  requested recovery stop point is before consistent recovery "
                      "point\n", parse_time("2026-11-30T14:00:00+00:00"))
    assert isinstance(early, PitrError) and early.exit_code == 1


def test_backup_label_fields() -> None:
    label = pitr.backup.parse_label("START WAL LOCATION: 0/2000028 (file "
                                    "000000010000000000000002)\nSTART TIME: 2026-11-30 "
                                    "14:30:00 UTC\nSTART TIMELINE: 1\n")
    assert label["START TIME"] == "2026-11-30 14:30:00 UTC" and label["START TIMELINE"] == "1"


def test_a_pgbackrest_command_runs_pgbackrest_check(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from watoto_schema.pitr.check import _pgbackrest_check

    command = "pgbackrest --stanza=main archive-push %p"
    monkeypatch.setenv("PATH", str(tmp_path))
    assert _pgbackrest_check(command).status == "warning"  # not installed here
    fake = tmp_path / "pgbackrest"
    fake.write_text('#!/bin/sh\necho "$@" > "$0.args"\n'
                    'echo "ERROR: [087]: archive_mode must be enabled" >&2; exit 87\n')
    fake.chmod(0o755)
    failed = _pgbackrest_check(command)
    assert failed.status == "critical" and "archive_mode must be enabled" in failed.message
    assert (tmp_path / "pgbackrest.args").read_text().split() == ["--stanza=main", "check"]


@pytest.mark.skipif(shutil.which("pgbackrest") is None,
                    reason="pgbackrest is not installed (Debian: pgbackrest; .ci/run installs it)")
def test_pitr_check_runs_the_real_pgbackrest_check() -> None:
    """A cluster archiving with pgBackRest: `pitr check` runs `pgbackrest check` with the
    server's own config and stanza; a stanza that does not exist fails it (critical)."""
    root, cluster = _cluster("watoto-pgbr-")
    try:
        state = cluster._state()
        assert state is not None
        for folder in ("repo", "log", "lock"):
            (root / folder).mkdir()
        conf = root / "pgbackrest.conf"
        conf.write_text(
            f"[global]\nrepo1-path={root / 'repo'}\nlog-path={root / 'log'}\n"
            f"lock-path={root / 'lock'}\nlog-level-console=warn\nlog-level-file=off\n\n"
            f"[main]\npg1-path={cluster.datadir}\npg1-socket-path={state.socket_dir}\n"
            f"pg1-port={state.port}\npg1-user=postgres\n")
        _own(root)
        as_server: dict[str, object] = {}
        if os.geteuid() == 0:
            user = pwd.getpwnam(os.environ.get("WATOTO_PG_USER", "postgres"))
            as_server = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        subprocess.run(["pgbackrest", f"--config={conf}", "--stanza=main", "stanza-create"],
                       check=True, capture_output=True, cwd=root, **as_server)  # type: ignore[call-overload]
        url = cluster.url("postgres")
        admin(url, "ALTER SYSTEM SET archive_mode = on")
        admin(url, f"ALTER SYSTEM SET archive_command = 'pgbackrest --config={conf} "
                   "--stanza=main archive-push %p'")
        cluster.stop()
        cluster.start()
        result = run("--json", "--dsn", url, "pitr", "check")
        finding = next(f for f in json.loads(result.stdout)["findings"]
                       if f["check"] == "pgbackrest")
        assert finding["status"] == "ok", finding
        admin(url, f"ALTER SYSTEM SET archive_command = 'pgbackrest --config={conf} "
                   "--stanza=nosuch archive-push %p'")
        admin(url, "SELECT pg_reload_conf()")
        time.sleep(0.5)
        broken = run("--json", "--dsn", url, "pitr", "check")
        finding = next(f for f in json.loads(broken.stdout)["findings"]
                       if f["check"] == "pgbackrest")
        assert finding["status"] == "critical" and broken.exit_code == 2
    finally:
        cluster.destroy()
        shutil.rmtree(root, ignore_errors=True)
