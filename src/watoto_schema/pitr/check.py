"""``pitr check``: would point-in-time recovery work with this server's WAL archiving?

Each finding is ``ok``, ``warning`` or ``critical`` with a hint; a critical finding means
recovery would not work (nothing archived, WAL thrown away, archiving failing).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from ..resources import sql_text
from ..target import Target, connect, one_line

OK, WARNING, CRITICAL = "ok", "warning", "critical"

# archive_command values that report success and keep nothing.
_DISCARDING = re.compile(r"^\s*(/bin/true|/usr/bin/true|true|:|exit\s+0)\s*;?\s*$")
_PGBACKREST = re.compile(r"(^|[\s/])pgbackrest\b.*\barchive-push\b")
_STANZA = re.compile(r"--stanza[= ](\S+)")
_CONFIG = re.compile(r"--config[= ](\S+)")
# Tools that copy durably and refuse to overwrite on their own.
_KNOWN_TOOLS = re.compile(r"(^|[\s/])(wal-g|barman-wal-archive|barman-cloud-wal-archive|"
                          r"pg_probackup|pgbackrest)\b")


@dataclass
class Finding:
    check: str
    status: str
    message: str
    hint: str = ""


@dataclass
class CheckReport:
    findings: list[Finding]
    settings: dict[str, str]
    archiver: dict[str, Any]
    switched: dict[str, Any] | None = field(default=None)

    @property
    def recoverable(self) -> bool:
        """False when any finding is critical: recovery would not work."""
        return all(f.status != CRITICAL for f in self.findings)

    def as_dict(self) -> dict[str, Any]:
        return {"recoverable": self.recoverable,
                "findings": [asdict(f) for f in self.findings],
                "settings": self.settings, "archiver": self.archiver,
                "switch_wal": self.switched}


def judge_archive_command(command: str) -> Finding:
    """Judge an ``archive_command`` by its text (no server needed)."""
    if not command.strip():
        return Finding("archive_command", CRITICAL, "archive_mode is on but neither "
                       "archive_command nor archive_library is set: nothing is archived and "
                       "WAL piles up in pg_wal",
                       "`watoto-schema pitr setup --archive-dir DIR` (basic_archive)")
    if _DISCARDING.match(command):
        return Finding("archive_command", CRITICAL, f"archive_command {command!r} reports "
                       "success and keeps nothing: every segment is thrown away",
                       "archive for real: `watoto-schema pitr setup --archive-dir DIR`")
    if _KNOWN_TOOLS.search(command):
        return Finding("archive_command", OK, f"archive_command {command!r} uses a backup tool "
                       "that copies durably")
    problems = []
    if re.search(r"(^|[\s;&|/])cp\s", command) and "test ! -f" not in command:
        problems.append("`cp` overwrites a segment already archived (add `test ! -f DEST &&`)")
    if "sync" not in command:
        problems.append("nothing fsyncs the copy: a crash of the archive host can lose a "
                        "segment PostgreSQL already removed")
    if problems:
        return Finding("archive_command", WARNING, f"archive_command {command!r} is unsafe: "
                       + "; ".join(problems),
                       "use basic_archive (`watoto-schema pitr setup --archive-dir DIR`) or a "
                       "backup tool (pgBackRest, WAL-G, Barman)")
    return Finding("archive_command", OK, f"archive_command {command!r}")


def _pgbackrest_check(command: str) -> Finding:
    binary = shutil.which("pgbackrest")
    if binary is None:
        return Finding("pgbackrest", WARNING, "archive_command uses pgBackRest, but pgbackrest "
                       "is not installed here: `pgbackrest check` was not run",
                       "run `pgbackrest --stanza=NAME check` on the database host")
    # `check` must read the configuration and stanza the server's archive-push uses.
    options = [f"{flag}={m.group(1)}" for flag, pattern in (("--config", _CONFIG),
                                                           ("--stanza", _STANZA))
               if (m := pattern.search(command))]
    args = [binary, *options, "check"]
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    except subprocess.TimeoutExpired:
        return Finding("pgbackrest", CRITICAL, "`pgbackrest check` did not finish in 120s")
    if proc.returncode == 0:
        return Finding("pgbackrest", OK, "`pgbackrest check` passed")
    detail = one_line((proc.stderr or proc.stdout).strip() or f"exit {proc.returncode}")
    return Finding("pgbackrest", CRITICAL, f"`pgbackrest check` failed: {detail}",
                   "fix what pgBackRest reports; until then the archive is not usable")


def _age(age: float | None) -> str:
    if age is None:
        return "never"
    seconds = int(age)
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds / 3600:.1f} h ago"


def _archiver(conn: Any) -> dict[str, Any]:
    cur = conn.execute(sql_text("pitr/archiver.sql"))
    names = [d.name for d in cur.description]
    row = cur.fetchone()
    found = dict(zip(names, row, strict=True)) if row else {}
    age = found.pop("archived_age", None)
    found["archived_age_seconds"] = round(age.total_seconds(), 1) if age is not None else None
    return found


def check(target: Target, *, switch_wal: bool = False, timeout: float = 60.0) -> CheckReport:
    """Judge WAL level, archiving settings and the archiver's record; optionally prove it by
    switching WAL and waiting (at most ``timeout`` seconds) until the segment is archived."""
    findings: list[Finding] = []
    with connect(target) as conn:
        settings = {str(name): str(value)
                    for name, value, _ in conn.execute(sql_text("pitr/settings.sql")).fetchall()}
        row = conn.execute("SELECT current_setting('basic_archive.archive_directory', true)"
                           ).fetchone()
        directory = str(row[0]) if row and row[0] else ""
        settings["basic_archive.archive_directory"] = directory

        wal_level = settings.get("wal_level", "")
        if wal_level in ("replica", "logical"):
            findings.append(Finding("wal_level", OK, f"wal_level = {wal_level}"))
        else:
            findings.append(Finding("wal_level", CRITICAL, f"wal_level = {wal_level}: a base "
                                    "backup cannot be restored from this WAL",
                                    "ALTER SYSTEM SET wal_level = 'replica' (restart)"))
        mode = settings.get("archive_mode", "off")
        archiving = mode in ("on", "always")
        if archiving:
            findings.append(Finding("archive_mode", OK, f"archive_mode = {mode}"))
        else:
            findings.append(Finding("archive_mode", CRITICAL, "archive_mode = off: no WAL is "
                                    "archived, only the last base backup can be restored",
                                    "ALTER SYSTEM SET archive_mode = 'on' (restart); see "
                                    "`watoto-schema pitr setup`"))
        library = settings.get("archive_library", "")
        command = settings.get("archive_command", "")
        if archiving and library:
            if library == "basic_archive":
                if directory:
                    findings.append(Finding("archive_library", OK, "archive_library = "
                                            f"basic_archive into {directory} (durable, never "
                                            "overwrites a different segment)"))
                else:
                    findings.append(Finding("archive_library", CRITICAL, "archive_library = "
                                            "basic_archive without "
                                            "basic_archive.archive_directory: nothing is "
                                            "archived",
                                            "ALTER SYSTEM SET basic_archive.archive_directory "
                                            "= '/path'; SELECT pg_reload_conf()"))
            else:
                findings.append(Finding("archive_library", WARNING, f"archive_library = "
                                        f"{library}: not one this tool can judge",
                                        "prove it with `pitr check --switch-wal` and a drill"))
        elif archiving and "archive_command" not in settings:
            findings.append(Finding("archive_command", WARNING, "archive_command is hidden "
                                    "from this role: its safety was not judged",
                                    "run as a superuser or a member of pg_read_all_settings"))
        elif archiving:
            findings.append(judge_archive_command(command))
            if _PGBACKREST.search(command):
                findings.append(_pgbackrest_check(command))

        archiver = _archiver(conn)
        findings.extend(_judge_archiver(archiver, archiving))
        switched = None
        if switch_wal:
            if archiving:
                switched, finding = _switch_and_wait(conn, timeout)
                findings.append(finding)
            else:
                findings.append(Finding("switch_wal", CRITICAL, "archive_mode is off: there is "
                                        "no archiver to wait for"))
            archiver = _archiver(conn)
    return CheckReport(findings, settings, archiver, switched)


def _judge_archiver(a: dict[str, Any], archiving: bool) -> list[Finding]:
    if not archiving or not a:
        return []
    failed = int(a.get("failed_count") or 0)
    last_ok, last_failed = a.get("last_archived_time"), a.get("last_failed_time")
    findings = []
    if failed and last_failed is not None and (last_ok is None or last_failed > last_ok):
        findings.append(Finding("archiver", CRITICAL, f"archiving is failing: {failed} "
                                f"failure(s), the last for {a.get('last_failed_wal')} at "
                                f"{last_failed:%Y-%m-%d %H:%M:%S%z}, no success since",
                                "read the server log for the archive command's error; "
                                "unarchived WAL accumulates in pg_wal until it works"))
    elif failed:
        findings.append(Finding("archiver", WARNING, f"{failed} archive failure(s) since the "
                                f"statistics were reset, the last for {a.get('last_failed_wal')}"
                                "; archiving has worked since",
                                "SELECT pg_stat_reset_shared('archiver') once understood"))
    if a.get("last_archived_wal"):
        findings.append(Finding("last_archived", OK, f"last archived {a['last_archived_wal']} "
                                f"{_age(a.get('archived_age_seconds'))}"))
    elif not findings:
        findings.append(Finding("last_archived", WARNING, "no segment archived yet",
                                "`pitr check --switch-wal` forces one and waits for it"))
    return findings


def _switch_and_wait(conn: Any, timeout: float) -> tuple[dict[str, Any], Finding]:
    row = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()
    segment = str(row[0])
    started = time.monotonic()
    deadline = started + timeout
    while True:
        a = _archiver(conn)
        last = a.get("last_archived_wal") or ""
        if last[:24] >= segment:  # fixed-width hex: timeline, then position
            seconds = round(time.monotonic() - started, 3)
            return ({"segment": segment, "archived": True, "seconds": seconds},
                    Finding("switch_wal", OK, f"switched WAL: {segment} archived in "
                            f"{seconds:.1f}s"))
        if time.monotonic() >= deadline:
            failing = ""
            if a.get("last_failed_wal") == segment:
                failing = f" (failing since {a.get('last_failed_time')})"
            return ({"segment": segment, "archived": False, "seconds": timeout},
                    Finding("switch_wal", CRITICAL, f"switched WAL: {segment} not archived "
                            f"within {timeout:g}s{failing}",
                            "read the server log for the archiver's error"))
        time.sleep(0.1)
