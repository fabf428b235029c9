"""Issue #20 figures: online migrations (``-- online: true``) under a fixed-rate LMS load.

On sample data (default 100,000 students), the LMS mix of `watoto-schema loadtest` (plus a
small "touch" script that writes the two tables the changes touch: a login stamping
``users.last_login`` and an edit of a course's title) runs at a fixed rate (pgbench
``--rate``) in two pgbench processes, half the clients each: the *old* half and the *new*
half of the application. Four changes, each its own online migration (with a
``.rollback.sql``), run expand and complete under that load:

  1. ALTER TABLE users ALTER COLUMN last_login TYPE timestamptz (with ``-- online: down``)
  2. ALTER TABLE courses RENAME COLUMN title TO name (if the planner refuses it, the
     refusal is printed and ``methodology`` is renamed instead)
  3. ALTER TABLE users ALTER COLUMN is_active SET NOT NULL
  4. ALTER TABLE users ADD COLUMN school_year INTEGER CHECK (school_year BETWEEN 7 AND 9)

Per change, on the same database one after the other: the load alone (the reference, no
migration), then three segments: *expand* (both halves still run the old release on plain
``public``; ``migrate`` runs 2 s in), *active* (the old half on ``watoto_<previous>,
public``, the new half on ``watoto_<this>, public`` with its scripts in the new column
names) and *complete* (the old release retired as `status` says: both halves on the new
version; ``migrate --complete`` runs 2 s in). Then the plain ALTER TABLE under the same
load (both halves on the running release) on a copy made just before the change (CREATE
DATABASE ... TEMPLATE).

Figures: failed transactions per half; p99 per class (read / write / report as loadtest
classifies its scripts, touch for the bench's own writes) while the migration ran, against
the p99 of the load without any migration just before (target <= 2x over the whole
migration: expand, active and complete together, thousands of transactions; each window's
own p99 is printed too, but a complete window of ~100 transactions has its slowest one or
two as p99; beside it the share
of samples with autovacuum at work: a backfill leaves a table's worth of dead rows); the
longest time a lock of the migration's backend(s) conflicting with the application's
writes (SHARE and stronger: ROW EXCLUSIVE conflicts) was held, sampled from pg_locks every
~5 ms (target <= 100 ms); backfill rows/s; expand and complete seconds; for the plain
ALTER its lock, its failures and the writes it blocked (application backends waiting on a
relation lock, from pg_stat_activity; transactions over 1 s from pgbench's per-transaction
log). Latency is counted from each transaction's scheduled start.

Correctness, without load: two copies of the loaded database, one taken through the four
online migrations (expand + complete), one through the four plain ALTERs; users and
courses compared row by row (COPY text), their catalog entries, `drift` exit 0, the
sample-data guarantees and key tables. An abort: change 1 expanded on a copy, rows written
through both versions, then `rollback --steps 1`; compared with a copy that had the same
writes made in the old shape.

    make bench   # or: .venv/bin/python bench/online_speed.py
    WATOTO_BENCH_SECONDS=30      # seconds of each reference load (default 20; active: half)
    WATOTO_BENCH_1M=1            # 1,000,000 students (default 100,000)
    WATOTO_BENCH_STUDENTS=20000  # any other size (overrides the two above)
    WATOTO_BENCH_RATE=200        # total transactions/second of both halves (default 200)
    WATOTO_BENCH_PACE='--batch-size 1000 --batch-pause 0.05'   # the backfill's pace under load
"""

from __future__ import annotations

import collections
import hashlib
import json
import math
import os
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from common import BIN, cluster, fresh_db
from psycopg import sql

from watoto_schema import loadtest
from watoto_schema.loadtest.pgbench import connection_environment
from watoto_schema.loadtest.scripts import BY_NAME, parameters, render, weights
from watoto_schema.local import LocalCluster
from watoto_schema.resources import sql_text

SECONDS = int(os.environ.get("WATOTO_BENCH_SECONDS", "20"))
ACTIVE_SECONDS = max(6, SECONDS // 2)
STUDENTS = int(os.environ.get("WATOTO_BENCH_STUDENTS")
               or (1_000_000 if os.environ.get("WATOTO_BENCH_1M") else 100_000))
RATE = int(os.environ.get("WATOTO_BENCH_RATE", "200"))
# the backfill's pace under load (what a DBA passes to `migrate` on a busy primary)
PACE = os.environ.get("WATOTO_BENCH_PACE", "--batch-size 1000 --batch-pause 0.05").split()
CLIENTS, JOBS = 5, 2  # per half
LEAD = 2.0  # seconds of load before the migration starts
STATEMENT_TIMEOUT = "5s"  # the application's limit
SAMPLE_EVERY = 0.005  # pg_locks sampling interval, seconds
TOUCH_WEIGHT = 5  # of the LMS mix's 100
P99_TARGET, LOCK_TARGET_MS = 2.0, 100.0
PLAIN_APP = "watoto-bench-plain"  # application_name of the reference's ALTER TABLE
# Lock modes that conflict with ROW EXCLUSIVE (what INSERT/UPDATE/DELETE take).
BLOCKING_MODES = ("ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock")
CLASSES = ("read", "write", "report", "touch")

TOUCH = """\
-- write (bench): a student signs in (users.last_login) and a teacher edits a course title:
-- the tables the four changes touch, written by both versions of the application.
\\set student_id random(:student_min, :student_max)
\\set course_id random(:course_min, :course_max)
BEGIN;
UPDATE users SET last_login = CURRENT_TIMESTAMP WHERE id = :student_id;
UPDATE courses SET title = title WHERE id = :course_id;
END;
"""


# -- the changes ---------------------------------------------------------------------------
@dataclass
class Change:
    number: int
    version: str
    lines: list[str]  # the online migration's statement, with its -- online: comments
    plain: str  # the same change as one plain statement
    undo: str  # the .rollback.sql
    rename: tuple[str, str, str] | None = None  # (table, old, new) for the new scripts
    in_step: str | None = None  # rows whose shadow column is out of step (must be 0)

    @property
    def statement(self) -> str:
        return self.lines[-1]


def changes(rename: tuple[str, str]) -> list[Change]:
    old, new = rename
    return [
        Change(1, "0010_users_last_login_tz",
               ["-- online: down last_login AT TIME ZONE 'UTC'",
                "ALTER TABLE users ALTER COLUMN last_login TYPE timestamptz "
                "USING last_login AT TIME ZONE 'UTC';"],
               "ALTER TABLE users ALTER COLUMN last_login TYPE timestamptz "
               "USING last_login AT TIME ZONE 'UTC'",
               "ALTER TABLE users ALTER COLUMN last_login TYPE timestamp "
               "USING last_login AT TIME ZONE 'UTC';",
               in_step="SELECT count(*) FROM users WHERE _w_last_login IS DISTINCT FROM "
                       "last_login AT TIME ZONE 'UTC'"),
        Change(2, f"0011_courses_{old}_{new}",
               [f"ALTER TABLE courses RENAME COLUMN {old} TO {new};"],
               f"ALTER TABLE courses RENAME COLUMN {old} TO {new}",
               f"ALTER TABLE courses RENAME COLUMN {new} TO {old};",
               rename=("courses", old, new)),
        Change(3, "0012_users_is_active_not_null",
               ["ALTER TABLE users ALTER COLUMN is_active SET NOT NULL;"],
               "ALTER TABLE users ALTER COLUMN is_active SET NOT NULL",
               "ALTER TABLE users ALTER COLUMN is_active DROP NOT NULL;",
               in_step="SELECT count(*) FROM users WHERE _w_is_active IS DISTINCT FROM "
                       "coalesce(is_active, true)"),
        Change(4, "0013_users_school_year",
               ["ALTER TABLE users ADD COLUMN school_year INTEGER "
                "CHECK (school_year BETWEEN 7 AND 9);"],
               "ALTER TABLE users ADD COLUMN school_year INTEGER "
               "CHECK (school_year BETWEEN 7 AND 9)",
               "ALTER TABLE users DROP COLUMN school_year;"),
    ]


def write_migrations(folder: Path, todo: list[Change], after: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for change in todo:
        (folder / f"{change.version}.sql").write_text(
            f"-- depends: {after}\n-- online: true\n" + "\n".join(change.lines) + "\n")
        (folder / f"{change.version}.rollback.sql").write_text(change.undo + "\n")
        after = change.version


# -- the CLI and the database ----------------------------------------------------------------
def cli(url: str, folder: Path | None, *args: str,
        ok: tuple[int, ...] = (0,)) -> tuple[subprocess.CompletedProcess[str], float]:
    command = [str(BIN / "watoto-schema"), "--dsn", url]
    if folder is not None:
        command += ["--migrations", str(folder)]
    started = time.perf_counter()
    proc = subprocess.run(command + list(args), capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode not in ok:
        raise SystemExit(f"failed ({proc.returncode}): watoto-schema {' '.join(args)}: "
                         f"{(proc.stderr or proc.stdout).strip()[-800:]}")
    return proc, elapsed


def copy_db(pg: LocalCluster, source: str, name: str) -> str:
    with psycopg.connect(pg.url("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(source)))
    return pg.url(name)


def drop_db(pg: LocalCluster, name: str) -> None:
    with psycopg.connect(pg.url("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


def plain_alter(url: str, statement: str) -> float:
    """The change as a plain statement, no lock_timeout: what a plain migration does."""
    with psycopg.connect(url, autocommit=True, application_name=PLAIN_APP) as conn:
        started = time.perf_counter()
        conn.execute(statement)  # type: ignore[arg-type]
        return time.perf_counter() - started


def scalar(url: str, query: str) -> Any:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(query).fetchone()  # type: ignore[arg-type]
    return None if row is None else row[0]


# -- the load ----------------------------------------------------------------------------------
def renamed(text: str, rename: tuple[str, str, str]) -> str:
    """``text`` (a pgbench script) with column ``old`` of ``table`` called ``new``.

    Statement by statement, comment lines left alone: ``alias.old`` is renamed where the
    alias (or the table's own name) belongs to ``table``; a bare ``old`` only in statements
    that read or write no other table (``course_modules.title`` stays).
    """
    table, old, new = rename
    tables = re.compile(r"\b(?:FROM|JOIN|UPDATE|INTO)\s+(\w+)(?:\s+(?:AS\s+)?(\w+))?", re.I)
    keywords = {"where", "set", "on", "join", "group", "order", "limit", "inner", "left",
                "values", "select", "returning"}
    out: list[str] = []
    for statement in re.split(r"(?<=;)", text):
        code = [line for line in statement.splitlines()
                if not line.lstrip().startswith(("--", "\\"))]
        found = tables.findall("\n".join(code))
        names = {name for name, _ in found}
        aliases = {table} | {alias for name, alias in found
                             if name == table and alias and alias.lower() not in keywords}
        lines = []
        for line in statement.splitlines(keepends=True):
            if not line.lstrip().startswith(("--", "\\")) and table in names:
                parts = line.split("'")  # the odd parts are inside string literals
                for i in range(0, len(parts), 2):
                    for alias in aliases:
                        parts[i] = re.sub(rf"\b{alias}\.{old}\b", f"{alias}.{new}", parts[i])
                    if names == {table}:
                        parts[i] = re.sub(rf"(?<![.\w]){old}\b", new, parts[i])
                line = "'".join(parts)
            lines.append(line)
        out.append("".join(lines))
    return "".join(out)


@dataclass
class Scripts:
    """The rendered scripts of one release (a folder), in pgbench's order."""

    paths: dict[str, Path]

    def adapted(self, folder: Path, rename: tuple[str, str, str] | None) -> Scripts:
        if rename is None:
            return self
        folder.mkdir(parents=True, exist_ok=True)
        paths = {}
        for name, path in self.paths.items():
            paths[name] = folder / path.name
            paths[name].write_text(renamed(path.read_text(), rename))
        return Scripts(paths)


@dataclass
class Half:
    name: str  # old | new
    search_path: str
    scripts: Scripts


@dataclass
class Tx:
    end: float  # epoch seconds
    latency_ms: float | None  # from the scheduled start; None: failed
    kind: str


@dataclass
class HalfRun:
    name: str
    transactions: list[Tx]
    aborted: int
    errors: list[str]


@dataclass
class LockFigures:
    longest_ms: float = 0.0  # a blocking lock held (granted) by the watched backends
    what: str = ""
    queued_ms: float = 0.0  # a blocking lock waited for (queued ahead of the writers)
    queued_what: str = ""
    blocked_longest_s: float = 0.0  # longest stretch with an app backend waiting on a lock
    blocked_backend_s: float = 0.0  # app backend-seconds waiting on a relation lock
    samples: int = 0
    interval_ms: float = 0.0
    blockers: list[tuple[str, int]] = field(default_factory=list)  # whom the DDL queued behind
    vacuuming: float = 0.0  # share of the samples with autovacuum at work in the database


class Sampler(threading.Thread):
    """pg_locks and pg_stat_activity every ~5 ms from a connection of its own."""

    # One round trip per sample: how many application backends wait on a relation lock, how
    # many autovacuum workers run here, and the blocking locks the watched backends hold or
    # wait for (none: one row of NULLs).
    QUERY = """
        WITH waiting AS (
            SELECT count(*) FILTER (WHERE application_name = 'pgbench'
                                      AND wait_event_type = 'Lock'
                                      AND wait_event = 'relation') AS n,
                   count(*) FILTER (WHERE backend_type = 'autovacuum worker') AS vacuums
              FROM pg_stat_activity WHERE datname = current_database())
        SELECT waiting.n, waiting.vacuums, x.pid, x.xact_start, x.rel, x.mode, x.granted
          FROM waiting LEFT JOIN LATERAL (
               SELECT a.pid, a.xact_start, l.relation::regclass::text AS rel, l.mode, l.granted
                 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                WHERE a.application_name = %s AND l.locktype = 'relation'
                  AND l.database = (SELECT oid FROM pg_database
                                     WHERE datname = current_database())
                  AND l.mode = ANY(%s)) x ON true"""
    BLOCKERS = """
        SELECT a.backend_type, a.application_name, left(a.query, 60) FROM pg_stat_activity a
         WHERE a.pid = ANY(pg_blocking_pids(%s))"""

    def __init__(self, url: str, watched: str) -> None:
        super().__init__(daemon=True)
        self.url, self.watched = url, watched
        self.stop = threading.Event()
        self.seen: dict[tuple[Any, ...], list[float]] = {}
        self.waiting: list[tuple[float, int]] = []
        self.blockers: collections.Counter[str] = collections.Counter()
        self.vacuuming = 0  # samples with an autovacuum worker in the database
        self.error: str | None = None

    def run(self) -> None:
        try:
            with psycopg.connect(self.url, autocommit=True,
                                 application_name="watoto-bench-sampler") as conn:
                conn.execute("SET statement_timeout = '1s'")
                while not self.stop.is_set():
                    began = time.time()
                    rows = conn.execute(self.QUERY,
                                        (self.watched, list(BLOCKING_MODES))).fetchall()
                    self.waiting.append((began, int(rows[0][0]) if rows else 0))
                    self.vacuuming += bool(rows and rows[0][1])
                    for _, _, pid, xact, rel, mode, granted in rows:
                        if pid is None:
                            continue
                        span = self.seen.setdefault((pid, xact, rel, mode, granted),
                                                    [began, began])
                        span[1] = began
                        if not granted:  # whom the migration queues behind
                            for kind, app, query in conn.execute(self.BLOCKERS,
                                                                 (pid,)).fetchall():
                                self.blockers[query if kind == "autovacuum worker"
                                              else app or kind] += 1
                    self.stop.wait(max(0.0, SAMPLE_EVERY - (time.time() - began)))
        except psycopg.Error as exc:
            self.error = str(exc).strip()

    def figures(self) -> LockFigures:
        out = LockFigures(samples=len(self.waiting), blockers=self.blockers.most_common(3),
                          vacuuming=self.vacuuming / max(1, len(self.waiting)))
        if len(self.waiting) > 1:
            out.interval_ms = ((self.waiting[-1][0] - self.waiting[0][0])
                               / (len(self.waiting) - 1) * 1000)
        for (_, _, rel, mode, granted), (first, last) in self.seen.items():
            if rel is None or rel.isdigit() or rel.startswith(("pg_", "watoto_online",
                                                                "schema_migrations")):
                continue  # the bookkeeping tables, catalogs, objects not yet committed
            ms = (last - first) * 1000
            if granted and ms >= out.longest_ms:
                out.longest_ms, out.what = ms, f"{mode} on {rel}"
            if not granted and ms >= out.queued_ms:
                out.queued_ms, out.queued_what = ms, f"{mode} on {rel}"
        run_start: float | None = None
        previous = None
        for when, count in self.waiting:
            if previous is not None and count:
                out.blocked_backend_s += count * (when - previous)
            if count and run_start is None:
                run_start = when
            if not count and run_start is not None:
                out.blocked_longest_s = max(out.blocked_longest_s, when - run_start)
                run_start = None
            previous = when
        if run_start is not None and previous is not None:
            out.blocked_longest_s = max(out.blocked_longest_s, previous - run_start)
        return out


@dataclass
class Segment:
    label: str
    halves: list[HalfRun]
    window: tuple[float, float] | None
    locks: LockFigures
    action_seconds: float = 0.0
    overran: bool = False
    result: Any = None

    def transactions(self, in_window: bool = False) -> list[Tx]:
        txs = [tx for half in self.halves for tx in half.transactions]
        if not in_window or self.window is None:
            return txs
        start, end = self.window
        return [tx for tx in txs if tx.end >= start
                and tx.end - (tx.latency_ms or 0) / 1000 <= end]

    def p99(self, kind: str, in_window: bool = True) -> float | None:
        values = sorted(tx.latency_ms for tx in self.transactions(in_window)
                        if tx.kind == kind and tx.latency_ms is not None)
        return values[max(0, math.ceil(0.99 * len(values)) - 1)] if values else None

    def failed(self, half: str) -> tuple[int, int]:
        """(failed transactions, aborted clients) of one half."""
        for run in self.halves:
            if run.name == half:
                return sum(tx.latency_ms is None for tx in run.transactions), run.aborted
        return 0, 0

    def slow(self, in_window: bool = False) -> tuple[int, float]:
        """Transactions over 1 s and the longest latency (ms)."""
        values = [tx.latency_ms for tx in self.transactions(in_window)
                  if tx.latency_ms is not None]
        return sum(v > 1000 for v in values), max(values, default=0.0)


class Load:
    """The LMS mix plus the touch script, rendered once; pgbench per half."""

    def __init__(self, url: str, folder: Path) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            self.variables, lists = parameters(conn)
        self.chosen = {name: w for name, w in weights({}).items() if w}
        self.folder = folder
        base = folder / "scripts-base"
        base.mkdir()
        paths = render(base, list(self.chosen), lists)
        paths["touch"] = base / "touch.sql"
        paths["touch"].write_text(TOUCH)
        self.chosen["touch"] = TOUCH_WEIGHT
        self.kinds = [BY_NAME[name].kind if name in BY_NAME else "touch" for name in paths]
        self.base = Scripts(paths)
        self.count = 0

    def start(self, url: str, half: Half, seconds: int, label: str) -> tuple[
            subprocess.Popen[str], Path]:
        self.count += 1
        log_dir = self.folder / f"log-{self.count:02d}-{label}-{half.name}"
        log_dir.mkdir()
        options = loadtest.LoadtestOptions(clients=CLIENTS, jobs=JOBS, duration=seconds,
                                           rate=RATE / 2)
        command = loadtest.pgbench_command(options, half.scripts.paths, self.chosen,
                                           self.variables, log_dir)
        env = connection_environment(url)
        env["PGOPTIONS"] = (f"-c search_path={half.search_path.replace(' ', '')} "
                            f"-c statement_timeout={STATEMENT_TIMEOUT}")
        return subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True), log_dir

    def read(self, name: str, proc: subprocess.Popen[str], log_dir: Path) -> HalfRun:
        _, err = proc.communicate()
        txs: list[Tx] = []
        for path in sorted(log_dir.glob("pgbench_log.*")):
            for line in path.read_text(errors="replace").splitlines():
                fields = line.split()
                if len(fields) < 6 or fields[2] == "skipped":
                    continue
                end = int(fields[4]) + int(fields[5]) / 1e6
                latency = int(fields[2]) / 1000 if fields[2].isdigit() else None
                txs.append(Tx(end, latency, self.kinds[int(fields[3])]))
        aborted = re.findall(r"client (\d+) (?:script \d+ )?aborted", err)
        errors = [line.split("ERROR:", 1)[1].strip() for line in err.splitlines()
                  if "ERROR:" in line]
        if proc.returncode not in (0, 2) or not txs:
            raise SystemExit(f"pgbench failed ({proc.returncode}): {err.strip()[-600:]}")
        return HalfRun(name, txs, len(set(aborted)), list(dict.fromkeys(errors)))

    def segment(self, url: str, label: str, halves: list[Half], seconds: int,
                action: Callable[[], Any] | None, watched: str = "watoto-schema") -> Segment:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")  # no segment pays for the writes of the one before
        sampler = Sampler(url, watched)
        sampler.start()
        running = [(half.name, *self.start(url, half, seconds, label)) for half in halves]
        window, result, overran, spent = None, None, False, 0.0
        if action is not None:
            time.sleep(LEAD)
            started = time.time()
            try:
                result = action()
            except BaseException:
                for _, proc, _ in running:  # no pgbench outlives the run
                    proc.kill()
                sampler.stop.set()
                raise
            window = (started, time.time())
            spent = window[1] - started
            overran = any(proc.poll() is not None for _, proc, _ in running)
        runs = [self.read(name, proc, log_dir) for name, proc, log_dir in running]
        sampler.stop.set()
        sampler.join()
        if sampler.error:
            print(f"    note: the lock sampler stopped: {sampler.error[:200]}")
        return Segment(label, runs, window, sampler.figures(), spent,
                       overran=overran, result=result)


def paced(estimate: float, rows: int) -> float:
    """The expand's no-load time plus the pauses ``PACE`` adds between backfill batches."""
    size = int(PACE[PACE.index("--batch-size") + 1]) if "--batch-size" in PACE else 1000
    pause = float(PACE[PACE.index("--batch-pause") + 1]) if "--batch-pause" in PACE else 0.0
    return estimate + math.ceil(rows / size) * pause


def load_seconds(estimate: float) -> int:
    """A segment long enough for an action the no-load run timed at ``estimate`` s, with
    room for lock retries (backoff 50 ms doubling, at most 2 s: seven take about 5 s)."""
    return max(8, math.ceil(LEAD + 1.5 * estimate + 10))


# -- comparisons -------------------------------------------------------------------------------
def columns(url: str, table: str) -> list[tuple[str, str, bool]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return [(r[0], r[1], bool(r[2])) for r in conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped "
            "ORDER BY attnum", (table,))]


def table_lines(url: str, table: str, names: list[str], order: str) -> list[bytes]:
    query = sql.SQL("COPY (SELECT {} FROM {} ORDER BY {}) TO STDOUT").format(
        sql.SQL(", ").join(sql.Identifier(n) for n in names), sql.Identifier(table),
        sql.Identifier(order))
    chunks: list[bytes] = []
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cur, \
            cur.copy(query) as copy:
        for chunk in copy:
            chunks.append(bytes(chunk))
    return b"".join(chunks).splitlines()


def compare(url: str, reference: str, table: str, order: str) -> str:
    """Row-by-row comparison of ``table`` in ``url`` with ``reference`` (same column set)."""
    ours = {name: (kind, nn) for name, kind, nn in columns(url, table)}
    theirs = columns(reference, table)
    problems = [f"{name}: {ours.get(name)} vs {(kind, nn)}" for name, kind, nn in theirs
                if ours.get(name) != (kind, nn)]
    problems += [f"{name} only here" for name in set(ours) - {n for n, _, _ in theirs}]
    if problems:
        return f"columns differ: {'; '.join(problems)}"
    names = [name for name, _, _ in theirs]
    a, b = table_lines(url, table, names, order), table_lines(reference, table, names, order)
    digest = hashlib.sha256(b"\n".join(a)).hexdigest()[:12]
    if a == b:
        return f"{len(a):,} rows identical (sha256 {digest})"
    diff = collections.Counter(a)
    diff.subtract(collections.Counter(b))
    return (f"DIFFERENT: {len(a):,} vs {len(b):,} rows, "
            f"{sum(abs(v) for v in diff.values()):,} lines in one but not the other")


def guarantees(url: str) -> list[str]:
    """What breaks the sample data's promises and the key tables (empty: all hold)."""
    with psycopg.connect(url, autocommit=True) as conn:
        broken = [f"{name}: {count}" for name, count in
                  conn.execute(sql_text("sample_data/guarantees.sql")).fetchall() if count]
        for table, keys in (("users", "user_email_keys"), ("enrollments", "enrollment_keys")):
            row = conn.execute(sql.SQL("SELECT (SELECT count(*) FROM {}), "
                                       "(SELECT count(*) FROM {})").format(
                sql.Identifier(table), sql.Identifier(keys))).fetchone()
            assert row is not None
            if row[0] != row[1]:
                broken.append(f"{table} {row[0]:,} rows but {keys} {row[1]:,}")
    return broken


LEFTOVERS = r"""
SELECT 'schema ' || nspname FROM pg_namespace WHERE nspname LIKE 'watoto\_%'
UNION ALL SELECT 'column ' || attrelid::regclass || '.' || attname FROM pg_attribute
 WHERE attname LIKE '\_w\_%' AND attnum > 0 AND NOT attisdropped
   AND attrelid IN (SELECT oid FROM pg_class WHERE relkind IN ('r', 'p', 'v'))
UNION ALL SELECT 'relation ' || relname FROM pg_class WHERE relname LIKE '\_w\_%'
UNION ALL SELECT 'constraint ' || conname FROM pg_constraint WHERE conname LIKE '\_w\_%'
UNION ALL SELECT 'trigger ' || tgname FROM pg_trigger WHERE tgname LIKE '\_w\_%'
UNION ALL SELECT 'function ' || proname FROM pg_proc WHERE proname LIKE '\_w\_%'
UNION ALL SELECT 'state ' || version FROM watoto_online_migration
"""

# The catalog of the changed tables and their partitions: indexes (with the names of their
# own columns, which `\d index` shows), constraints, triggers.
CATALOG = """
WITH t AS (SELECT relid AS oid FROM pg_partition_tree('users')
           UNION ALL SELECT 'courses'::regclass)
SELECT 'index ' || i.relname || ' ' || pg_get_indexdef(i.oid) || ' columns ('
       || (SELECT string_agg(attname, ', ' ORDER BY attnum) FROM pg_attribute
            WHERE attrelid = i.oid) || ')'
  FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid IN (SELECT oid FROM t)
UNION ALL
SELECT 'constraint ' || conrelid::regclass || '.' || conname || ' ' || pg_get_constraintdef(oid)
  FROM pg_constraint WHERE conrelid IN (SELECT oid FROM t)
UNION ALL
SELECT 'trigger ' || tgrelid::regclass || '.' || tgname || ' ' || pg_get_triggerdef(oid)
  FROM pg_trigger WHERE tgrelid IN (SELECT oid FROM t) AND NOT tgisinternal
"""


def catalog_diff(url: str, reference: str) -> list[str]:
    """Catalog entries of users (and partitions) and courses found in only one database."""
    found = []
    for where in (url, reference):
        with psycopg.connect(where, autocommit=True) as conn:
            found.append({r[0] for r in conn.execute(CATALOG)})
    return ([f"online only: {e}" for e in sorted(found[0] - found[1])]
            + [f"plain only: {e}" for e in sorted(found[1] - found[0])])


def leftovers(url: str) -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        return [r[0] for r in conn.execute(LEFTOVERS)]


def drift_exit(url: str, folder: Path) -> int:
    proc, _ = cli(url, folder, "drift", ok=(0, 1, 2, 3))
    if proc.returncode:
        print(f"    drift said: {(proc.stdout + proc.stderr).strip()[-400:]}")
    return proc.returncode


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


# -- the parts ---------------------------------------------------------------------------------
def pick_rename(url: str, folder: Path) -> tuple[str, str]:
    """courses.title -> name when the planner accepts it online, else another rename."""
    for old, new in (("title", "name"), ("methodology", "approach")):
        probe = folder / f"probe-{old}"
        write_migrations(probe, [Change(0, f"0010_probe_{old}", [
            f"ALTER TABLE courses RENAME COLUMN {old} TO {new};"], "", "")],
                         "0009_courses_listing_index")
        proc, _ = cli(url, probe, "migrate", "--dry-run", ok=(0, 1, 2, 3))
        if proc.returncode == 0:
            how = [line for line in proc.stdout.splitlines() if "RENAME COLUMN" in line]
            print(f"planner: RENAME COLUMN courses.{old} TO {new} accepted online "
                  f"({how[0].lstrip('- ') if how else 'no plan line'})")
            return old, new
        print(f"planner REFUSED RENAME COLUMN courses.{old} TO {new} (exit "
              f"{proc.returncode}): {(proc.stderr or proc.stdout).strip()[-300:]}")
    raise SystemExit("no rename of courses is accepted online")


def dry_run(url: str, folder: Path, change: Change) -> None:
    proc, _ = cli(url, folder, "migrate", "--dry-run")
    steps = [line for line in proc.stdout.splitlines() if "-- tx:" in line
             or "-- concurrent:" in line or line.startswith("-- backfill")]
    print(f"migrate --dry-run (change {change.number}): {len(steps)} steps printed "
          f"(expand, contract, abort), {len(proc.stdout.splitlines())} lines")


@dataclass
class NoLoad:
    expand: dict[int, float] = field(default_factory=dict)
    complete: dict[int, float] = field(default_factory=dict)
    plain: dict[int, float] = field(default_factory=dict)


def correctness(pg: LocalCluster, pristine: str, folder: Path, todo: list[Change]) -> NoLoad:
    """The four online migrations and the four plain ALTERs on two copies, without load."""
    times = NoLoad()
    online = copy_db(pg, pristine, "bench_online_corr")
    plain = copy_db(pg, pristine, "bench_online_corr_plain")
    for change in todo:
        _, times.expand[change.number] = cli(online, folder, "migrate")
        _, times.complete[change.number] = cli(online, folder, "migrate", "--complete")
        times.plain[change.number] = plain_alter(plain, change.plain)
    print("correctness, without load (online expand + complete on one copy, the plain "
          "ALTERs on another):")
    for change in todo:
        print(f"  change {change.number}: expand {times.expand[change.number]:.1f} s + "
              f"complete {times.complete[change.number]:.1f} s; plain ALTER "
              f"{times.plain[change.number]:.2f} s")
    same = [compare(online, plain, "users", "id"), compare(online, plain, "courses", "id")]
    print(f"  users after --complete vs after the plain ALTERs: {same[0]}")
    print(f"  courses after --complete vs after the plain ALTERs: {same[1]}")
    diff = catalog_diff(online, plain)
    print(f"  indexes, constraints, triggers of users (and partitions) and courses: "
          f"{'identical' if not diff else f'{len(diff)} entries differ:'}")
    for line in diff[:12]:
        print(f"    {line[:160]}")
    code = drift_exit(online, folder)
    broken = guarantees(online)
    left = leftovers(online)
    print(f"  drift exit {code} ({verdict(code == 0)}); guarantees and key tables: "
          f"{'all hold' if not broken else 'BROKEN: ' + '; '.join(broken)}; leftovers: "
          f"{', '.join(left) or 'none'}")
    drop_db(pg, "bench_online_corr")
    drop_db(pg, "bench_online_corr_plain")
    return times


ABORT_WRITES = [
    # (version, statement, the same write in the old shape)
    ("old", "UPDATE users SET last_login = '2024-03-01 08:00', updated_at = '2024-03-01 08:00' "
            "WHERE id = {a}", None),
    ("old", "UPDATE users SET last_login = NULL, updated_at = '2024-03-01 08:01' "
            "WHERE id = {b}", None),
    ("old", "INSERT INTO users (email, password_hash, first_name, last_name, role, grade, "
            "is_active, last_login, created_at, updated_at) VALUES ('bench.old@example.org', "
            "'x', 'Old', 'Release', 'student', 8, true, '2024-03-01 09:00', "
            "'2024-03-01 09:00', '2024-03-01 09:00')", None),
    ("new", "UPDATE users SET last_login = '2024-03-02 09:00+00', "
            "updated_at = '2024-03-02 09:00' WHERE id = {c}",
     "UPDATE users SET last_login = '2024-03-02 09:00', updated_at = '2024-03-02 09:00' "
     "WHERE id = {c}"),
    ("new", "UPDATE users SET first_name = 'Renamed', updated_at = '2024-03-02 09:01' "
            "WHERE id = {d}", None),
    ("new", "INSERT INTO users (email, password_hash, first_name, last_name, role, grade, "
            "is_active, last_login, created_at, updated_at) VALUES ('bench.new@example.org', "
            "'x', 'New', 'Release', 'student', 9, true, '2024-03-02 10:00+03', "
            "'2024-03-02 10:00', '2024-03-02 10:00')",
     "INSERT INTO users (email, password_hash, first_name, last_name, role, grade, "
     "is_active, last_login, created_at, updated_at) VALUES ('bench.new@example.org', "
     "'x', 'New', 'Release', 'student', 9, true, '2024-03-02 07:00', "
     "'2024-03-02 10:00', '2024-03-02 10:00')"),
]


def abort_check(pg: LocalCluster, pristine: str, folder: Path, first: Change) -> None:
    """Change 1 expanded, written through both versions, aborted: the old shape, every write."""
    online = copy_db(pg, pristine, "bench_online_abort")
    plain = copy_db(pg, pristine, "bench_online_abort_plain")
    shape = columns(online, "users")
    _, expand = cli(online, folder, "migrate")
    status = json.loads(cli(online, folder, "--json", "status")[0].stdout)["online"]
    paths = {v["version"]: v["search_path"] for v in status["versions"]}
    with psycopg.connect(online, autocommit=True) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM users WHERE last_login IS NOT NULL "
                                          "ORDER BY id LIMIT 4")]
        keys = dict(zip("abcd", ids, strict=True))
        for version, statement, _ in ABORT_WRITES:
            conn.execute(sql.SQL("SELECT set_config('search_path', {}, false)").format(
                sql.Literal(paths[version])))
            conn.execute(statement.format(**keys))  # type: ignore[arg-type]
        conn.execute("RESET search_path")
        in_step = conn.execute(first.in_step or "SELECT 0").fetchone()
    with psycopg.connect(plain, autocommit=True) as conn:
        for _, statement, old_shape in ABORT_WRITES:
            conn.execute((old_shape or statement).format(**keys))  # type: ignore[arg-type]
    _, seconds = cli(online, folder, "rollback", "--steps", "1")
    print(f"abort: change 1 expanded ({expand:.1f} s), {len(ABORT_WRITES)} writes through "
          f"both versions (shadow out of step after them: {in_step[0] if in_step else '?'} "
          f"rows), `rollback --steps 1` {seconds:.1f} s")
    after = columns(online, "users")
    print(f"  users shape after the abort equals the shape before: "
          f"{'yes' if after == shape else 'NO: ' + str(after)}")
    print(f"  users vs a copy with the same writes made without the migration: "
          f"{compare(online, plain, 'users', 'id')}")
    print(f"  user_email_keys likewise: {compare(online, plain, 'user_email_keys', 'user_id')}")
    code = drift_exit(online, folder)
    left = leftovers(online)
    broken = guarantees(online)
    applied = scalar(online, "SELECT count(*) FROM schema_migrations "
                             f"WHERE version = '{first.version}'")
    print(f"  drift exit {code} ({verdict(code == 0)}); leftovers: {', '.join(left) or 'none'}; "
          f"guarantees: {'all hold' if not broken else 'BROKEN: ' + '; '.join(broken)}; "
          f"{first.version} recorded as applied: {'yes' if applied else 'no'}")
    drop_db(pg, "bench_online_abort")
    drop_db(pg, "bench_online_abort_plain")


def online_status(url: str, folder: Path) -> dict[str, Any]:
    """The "online" object of `status --json` (empty when none is in progress)."""
    proc, _ = cli(url, folder, "--json", "status")
    return dict(json.loads(proc.stdout).get("online") or {})


def retries(proc: subprocess.CompletedProcess[str]) -> int:
    return (proc.stdout + proc.stderr).count("lock not granted")


def whole_p99(kind: str, segments: list[tuple[Segment, bool]]) -> float | None:
    """p99 of one class over several segments together (the whole migration: expand window,
    active, complete window): a figure over thousands of transactions, where a short window's
    p99 is its slowest one or two."""
    values = sorted(tx.latency_ms for segment, in_window in segments
                    for tx in segment.transactions(in_window)
                    if tx.kind == kind and tx.latency_ms is not None)
    return values[max(0, math.ceil(0.99 * len(values)) - 1)] if values else None


def p99_row(kind: str, base: Segment, segments: list[tuple[Segment, bool]]) -> str:
    """One class: the reference p99, then each segment's p99 and its ratio to it."""
    reference = base.p99(kind, in_window=False)
    cells = [f"    {kind:<7}{reference or 0:9.2f} ms"]
    for segment, in_window in segments:
        value = segment.p99(kind, in_window)
        cells.append(f"{'-':>17}" if value is None or not reference
                     else f"{value:9.2f} {value / reference:5.2f}x ")
    return "".join(cells)


def report_change(change: Change, base: Segment, expand: Segment, active: Segment,
                  complete: Segment, plain: Segment, backfill: tuple[int, float | None],
                  noload: NoLoad, tries: int, in_step: Any) -> str:
    """Print the figures of one change; returns its line of the summary."""
    print(f"  expand {expand.action_seconds:.1f} s (no load {noload.expand[change.number]:.1f} "
          f"s), complete {complete.action_seconds:.1f} s (no load "
          f"{noload.complete[change.number]:.1f} s); lock retries {tries}")
    rows, rate = backfill
    if rows:
        print(f"  backfill: {rows:,} rows at {rate or 0:,.0f} rows/s (status --json), "
              f"{rows / expand.action_seconds:,.0f} rows/s over the whole expand")
    else:
        print("  backfill: none (no shadow column)")
    for segment in (expand, complete):
        if segment.overran:
            print(f"  note: the {segment.label} load ended before the migration did: part "
                  "of it ran without load")
    worst = max(expand.locks.longest_ms, complete.locks.longest_ms)
    print(f"  longest lock conflicting with writes: expand {held(expand.locks)}, complete "
          f"{held(complete.locks)}: target <= {LOCK_TARGET_MS:.0f} ms "
          f"{verdict(worst <= LOCK_TARGET_MS)} (sampled every "
          f"{expand.locks.interval_ms:.1f} ms; waiting for one at most "
          f"{max(expand.locks.queued_ms, complete.locks.queued_ms):.0f} ms)")
    halves = []
    for name in ("old", "new"):
        parts = [segment.failed(name) for segment in (expand, active, complete)]
        failed, aborted = sum(p[0] for p in parts), sum(p[1] for p in parts)
        halves.append(f"{name} half {failed} failed, {aborted} clients aborted "
                      f"(expand/active/complete {'/'.join(str(p[0] + p[1]) for p in parts)})")
    errors = [e for s in (expand, active, complete) for h in s.halves for e in h.errors]
    print(f"  failures: {'; '.join(halves)}"
          + (f"; first error: {errors[0][:120]}" if errors else ""))
    if in_step is not None:
        print(f"  shadow column out of step with the old one at the end of the active phase "
              f"(both versions writing): {in_step} rows")
    blocked = max(expand.locks.blocked_longest_s, complete.locks.blocked_longest_s)
    slow = expand.slow()[0] + active.slow()[0] + complete.slow()[0]
    print(f"  writers waiting on a relation lock: longest {blocked:.2f} s; "
          f"transactions over 1 s: {slow}")
    for segment in (expand, complete):
        if segment.locks.blockers:
            print(f"  {segment.label} queued for its locks behind: " + ", ".join(
                f"{who} ({n} samples)" for who, n in segment.locks.blockers))
    whole = [(expand, True), (active, False), (complete, True)]
    counts = [len(s.transactions(in_window=w)) for s, w in
              ((base, False), (expand, True), (active, False), (complete, True), (plain, True))]
    counts.insert(1, sum(counts[1:4]))
    print(f"    {'p99':<7}{'no migration':>12}  " + "".join(
        f"{title:>15}  " for title in ("whole migration", "expand window", "active (all)",
                                       "complete window", "plain ALTER")))
    print(f"    {'(tx)':<7}{counts[0]:>9,} tx" + "".join(f"{n:>9,} tx     " for n in counts[1:]))
    vacuum = [s.locks.vacuuming * 100 for s in (base, expand, active, complete, plain)]
    print(f"    {'(vac)':<7}{vacuum[0]:>9.0f} % {'':>17}" + "".join(f"{v:>9.0f} %      "
                                                                  for v in vacuum[1:])
          + " of the samples with autovacuum at work")
    ratios: list[float] = []
    for kind in CLASSES:
        reference, overall = base.p99(kind, False), whole_p99(kind, whole)
        ok = not reference or overall is None or overall / reference <= P99_TARGET
        if reference and overall is not None:
            ratios.append(overall / reference)
        cell = (f"{'-':>17}" if overall is None or not reference
                else f"{overall:9.2f} {overall / reference:5.2f}x ")
        row = p99_row(kind, base, [(expand, True), (active, False), (complete, True),
                                   (plain, True)])
        split = len(f"    {kind:<7}{reference or 0:9.2f} ms")  # after the reference cell
        head, rest = row[:split], row[split:]
        print(head + cell + rest + f"  {verdict(ok)}")
    fails = [plain.failed(name) for name in ("old", "new")]
    over, longest = plain.slow(in_window=True)
    plain_errors = [e for h in plain.halves for e in h.errors]
    print(f"  plain ALTER (reference, same load, copy made before the change): "
          f"{plain.action_seconds:.2f} s; lock held {held(plain.locks)}; failures: old half "
          f"{fails[0][0]} failed, {fails[0][1]} clients aborted; new half {fails[1][0]} "
          f"failed, {fails[1][1]} clients aborted"
          + (f" ({plain_errors[0][:100]})" if plain_errors else ""))
    print(f"    writes blocked: writers waiting on a relation lock for up to "
          f"{plain.locks.blocked_longest_s:.2f} s ({plain.locks.blocked_backend_s:.2f} "
          f"backend-seconds); transactions over 1 s: {over}; longest latency "
          f"{longest:,.0f} ms (online: {max(expand.slow()[1], complete.slow()[1]):,.0f} ms)")
    online_failed = sum(sum(s.failed(n)) for s in (expand, active, complete)
                        for n in ("old", "new"))
    return (f"  {change.number}. {change.version:<31} {expand.action_seconds:6.1f} "
            f"{complete.action_seconds:6.1f} {backfill[1] or 0:8,.0f} "
            f"{max(worst, 0):6.0f} {max(ratios, default=0):6.2f}x {online_failed:5} | "
            f"{plain.locks.longest_ms:7,.0f} {plain.locks.blocked_longest_s:6.2f} "
            f"{sum(fails[0]) + sum(fails[1]):5}")


def held(locks: LockFigures) -> str:
    """The longest hold; one seen in a single sample lasted less than the interval."""
    if not locks.what:
        return "none seen"
    span = (f"{locks.longest_ms:,.0f} ms" if locks.longest_ms
            else f"< {locks.interval_ms:.0f} ms (one sample)")
    return f"{span} ({locks.what})"


def one_change(pg: LocalCluster, load: Load, url: str, migrations: Path, change: Change,
               public: Scripts, noload: NoLoad, summary: list[str]) -> Scripts:
    """Expand, active and complete under load, then the plain ALTER on a copy; returns the
    scripts of the release that follows."""
    print(f"== change {change.number} ({change.version}): {change.statement}")
    ref_name = f"bench_online_ref{change.number}"
    ref = copy_db(pg, "bench_online", ref_name)
    new_scripts = public.adapted(load.folder / f"scripts-{change.number}", change.rename)
    both_old = [Half("old", "public", public), Half("new", "public", public)]
    base = load.segment(url, "before", both_old, SECONDS, None)
    print(f"  the same load without any migration, just before ({SECONDS} s): "
          f"{len(base.transactions()):,} transactions, failures old/new "
          f"{sum(base.failed('old'))}/{sum(base.failed('new'))}; p99 " + ", ".join(
              f"{kind} {base.p99(kind, False) or 0:.2f} ms" for kind in CLASSES))
    # a change with a shadow column (in_step) backfills users
    rows = int(scalar(url, "SELECT count(*) FROM users")) if change.in_step else 0
    expand = load.segment(url, "expand", both_old,
                          load_seconds(paced(noload.expand[change.number], rows)),
                          lambda: cli(url, migrations, "migrate", *PACE)[0])
    status = online_status(url, migrations)
    paths = {v["version"]: v["search_path"] for v in status.get("versions", [])}
    if set(paths) != {"old", "new"} or status.get("phase") != "active":
        raise SystemExit(f"change {change.number} is not active after migrate: {status}")
    fill = status.get("backfill") or {}
    active = load.segment(url, "active", [Half("old", paths["old"], public),
                                          Half("new", paths["new"], new_scripts)],
                          ACTIVE_SECONDS, None)
    in_step = scalar(url, change.in_step) if change.in_step else None
    both_new = [Half("old", paths["new"], new_scripts), Half("new", paths["new"], new_scripts)]
    complete = load.segment(url, "complete", both_new,
                            load_seconds(noload.complete[change.number]),
                            lambda: cli(url, migrations, "migrate", "--complete")[0])
    plain = load.segment(ref, "plain", both_old, load_seconds(noload.plain[change.number]),
                         lambda: plain_alter(ref, change.plain), watched=PLAIN_APP)
    drop_db(pg, ref_name)
    summary.append(report_change(change, base, expand, active, complete, plain,
                  (int(fill.get("rows_done") or 0), fill.get("rows_per_second")), noload,
                  retries(expand.result) + retries(complete.result), in_step))
    return new_scripts


def main() -> None:
    print(f"online migrations under load: {STUDENTS:,} students, pgbench --rate {RATE} "
          f"(two halves of {CLIENTS} clients), {SECONDS} s reference load, statement_timeout "
          f"{STATEMENT_TIMEOUT}, {os.cpu_count()} cores; migrate under load: {' '.join(PACE)}")
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="watoto-bench-online-") as tmp, cluster() as pg:
        folder = Path(tmp)
        url = fresh_db(pg, "bench_online")
        cli(url, None, "migrate")
        _, loading = cli(url, None, "sample-data", "--students", str(STUDENTS))
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ANALYZE")
        print(f"sample-data --students {STUDENTS:,}: {loading:.1f} s")
        rename = pick_rename(url, folder)
        todo = changes(rename)
        migrations = folder / "migrations"
        write_migrations(migrations, todo, "0009_courses_listing_index")
        dry_run(url, migrations, todo[0])
        pristine = "bench_online_pristine"
        copy_db(pg, "bench_online", pristine)

        noload = correctness(pg, pristine, migrations, todo)
        abort_check(pg, pristine, migrations, todo[0])
        drop_db(pg, pristine)

        load = Load(url, folder)
        public = load.base
        summary: list[str] = []
        for change in todo:
            public = one_change(pg, load, url, migrations, change, public, noload, summary)
        code = drift_exit(url, migrations)
        broken = guarantees(url)
        left = leftovers(url)
        print(f"after the four changes under load: drift exit {code} ({verdict(code == 0)}); "
              f"guarantees and key tables: "
              f"{'all hold' if not broken else 'BROKEN: ' + '; '.join(broken)}; "
              f"leftovers: {', '.join(left) or 'none'}")
        print(f"summary (online: expand s, complete s, backfill rows/s, longest blocking lock "
              f"ms [target <= {LOCK_TARGET_MS:.0f}], worst p99 ratio over the whole "
              f"migration [target <= {P99_TARGET:g}x], failed transactions + aborted "
              f"clients | plain ALTER: lock ms, writers blocked s, failures):")
        for line in summary:
            print(line)
    print(f"whole run {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
