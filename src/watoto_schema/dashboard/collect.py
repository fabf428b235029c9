"""What the dashboard shows, read from the database by the toolkit's own capabilities.

Each section is collected on its own, so one that fails (no privilege, a missing
extension, the database gone) becomes an error line in its box while the others still
show. Sections come in two tiers:

* **live** (every refresh): migrations and an online migration's progress, the health
  checks of sessions and replication, connections by state, replica lag, the sessions
  running now;
* **slow** (every ``slow_every`` seconds): drift, partitions, the maintenance plan and the
  slowest statements, which read the catalog or every table's statistics. The health
  checks of bloat and partition runway are judged from the plan and the partitions read
  here (one read each, not two).

Every connection the dashboard opens is read-only (``default_transaction_read_only``)
with a short ``statement_timeout``, except drift's, which is read-only by contract but may
build its expected schema in a scratch database the first time (then cached).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..resources import sql_text
from ..target import Target, connect, one_line

APPLICATION = "watoto-schema dashboard"
LIVE = ("migrations", "health", "activity")
SLOW = ("drift", "partitions", "maintenance", "statements")
HIDDEN_QUERY = "(another role's statement: --show-queries shows it)"


@dataclass
class Section:
    """One box of the page: its data, or the one-line reason it has none."""

    name: str
    status: str = "unknown"  # ok | warning | critical | unknown | error
    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    collected_at: datetime | None = None  # when it was last asked for
    data_at: datetime | None = None  # when ``data`` was read (earlier, when stale)
    seconds: float = 0.0
    stale: bool = False  # the last collection failed; data is from an earlier one
    unreachable: bool = False  # it failed because the database could not be reached


@dataclass
class Options:
    thresholds: Any = None  # health.Thresholds
    show_queries: bool = False
    extra_dirs: Sequence[Path] = ()
    policy_file: Path | None = None
    maintain_schedule: str | None = None  # a cron expression
    loadtest_file: Path | None = None
    deadline: float = 5.0  # statement_timeout of each statement, seconds


def read_only(target: Target, deadline: float) -> Target:
    """``target`` with every transaction read-only and statements bounded by ``deadline``."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params: dict[str, Any] = conninfo_to_dict(target.conninfo) if target.conninfo else {}
    existing = str(params.get("options", ""))
    extra = (f"-c default_transaction_read_only=on -c statement_timeout={int(deadline * 1000)}"
             f" -c application_name={APPLICATION.replace(' ', '-')}")
    return Target(make_conninfo(target.conninfo, options=f"{existing} {extra}".strip()),
                  target.source)


def _rows(conn: Any, name: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    from psycopg.rows import dict_row

    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql_text(f"dashboard/{name}.sql"), params or None)
        return list(cur.fetchall())


def _hide_others(rows: list[dict[str, Any]], user: Any, options: Options) -> Any:
    """Replace the statement text of other roles' rows unless --show-queries; ``user``."""
    if not options.show_queries:
        for row in rows:
            if row["user"] != user:
                row["query"] = HIDDEN_QUERY
    return user


# -- the sections --------------------------------------------------------------------------

def migrations(target: Target, options: Options) -> Section:
    from ..migrate import status

    report = status(target, options.extra_dirs)
    online = report.online
    versions = [{"version": v.version, "state": v.state,
                 "applied_at": v.applied_at, "applied_by": v.applied_by,
                 "duration_ms": v.duration_ms, "detail": v.detail} for v in report.versions]
    data: dict[str, Any] = {
        "versions": versions,
        "applied": len(report.applied), "pending": report.pending, "partial": report.partial,
        "edited": [v.version for v in report.versions if v.state == "edited"],
        "missing": [v.version for v in report.versions if v.state == "missing"],
        "invalid_indexes": [f"{i.schema}.{i.index}" if hasattr(i, "schema") else str(i)
                            for i in report.invalid_indexes],
        "online": None,
    }
    if online is not None:
        data["online"] = {
            "version": online.version, "phase": online.phase, "step": online.step,
            "steps": len(online.steps), "started_by": online.started_by,
            "started_at": online.started_at, "rows_done": online.rows_done,
            "rows_total": online.rows_total, "rate": online.rate,
            "eta_seconds": online.eta_seconds, "served": online.versions(),
            "backfill": [{"relation": b.relation, "rows_done": b.rows_done,
                          "rows_total": b.rows_total, "done": b.done}
                         for b in online.backfill]}
    bad = data["partial"] or data["edited"] or data["missing"] or data["invalid_indexes"]
    status_ = "critical" if bad else "warning" if data["pending"] or online else "ok"
    return Section("migrations", status_, data)


def _check(check: Any) -> dict[str, Any]:
    return {"name": check.name, "status": check.status, "value": str(check.value),
            "threshold": check.threshold, "hint": check.hint}


def health(target: Target, options: Options) -> Section:
    """The health checks of sessions and replication. Bloat and the partition runway are
    judged from the maintenance and partitions sections' own reads (``health_checks``),
    not read twice."""
    from ..health import collect

    report = collect(target, options.thresholds, deadline=options.deadline, which="sessions")
    checks = []
    connections: dict[str, float] = {}
    lag: dict[str, float] = {}
    for check in report.checks:
        checks.append(_check(check))
        for metric in check.metrics:
            if metric.name == "connections":
                connections[metric.labels.get("state", "?")] = metric.value
            elif metric.name == "replication_lag_seconds" and (
                    metric.labels.get("kind") in (None, "replay")):
                lag[metric.labels.get("standby") or metric.labels.get("application")
                    or "standby"] = metric.value
            elif metric.name == "standby_replay_lag_seconds":
                lag["this standby"] = metric.value
    return Section("health", report.status,
                   {"checks": checks, "connections": connections, "lag": lag,
                    "seconds": round(report.seconds, 3)})


def activity(target: Target, options: Options) -> Section:
    """Sessions of this database now; other roles' statement text only with --show-queries."""
    with connect(read_only(target, options.deadline), application_name=APPLICATION) as conn:
        rows = _rows(conn, "activity")
        me = conn.execute("SELECT current_user").fetchone()
    user = _hide_others(rows, me[0] if me else None, options)
    waiting = sum(1 for r in rows if r["wait_event_type"] == "Lock")
    return Section("activity", "warning" if waiting else "ok",
                   {"sessions": rows, "user": user, "lock_waits": waiting})


def drift(target: Target, options: Options) -> Section:
    from ..drift import drift as compare

    [report] = compare(target, extra_dirs=options.extra_dirs, policy_file=options.policy_file,
                       for_fix=False)
    differences = [{"object": d.object, "kind": d.kind, "name": d.name, "change": d.change,
                    "expected": d.expected, "actual": d.actual} for d in report.differences]
    return Section("drift", "critical" if report.drifted else "ok",
                   {"in_sync": report.in_sync, "differences": differences,
                    "expected_from": report.expected_from, "versions": len(report.versions),
                    "policy_partitions": list(report.policy_partitions)})


def partitions(target: Target, options: Options) -> Section:
    from ..health.checks import runway_of
    from ..partitions import list_partitions, load_policy

    policy = load_policy(options.policy_file)
    tables = []
    worst = "ok"
    reports = list_partitions(read_only(target, options.deadline), policy=policy)
    for report in reports:
        ranges = [{"name": p.name, "lower": p.lower, "upper": p.upper,
                   "rows": p.estimated_rows, "bytes": p.bytes}
                  for p in report.partitions if p.lower or p.upper]
        tables.append({"table": report.table, "strategy": report.strategy,
                       "partitions": len(report.partitions), "ranges": ranges,
                       "runway_until": report.runway_until, "runway_days": report.runway_days,
                       "premake_until": report.premake_until,
                       "default_rows": report.default_rows, "newest_row": report.newest_row,
                       "warnings": list(report.warnings)})
        if report.warnings:
            worst = "warning"
    return Section("partitions", worst, {
        "tables": tables,
        "health_checks": [_check(c) for c in runway_of(reports, _thresholds(options))]})


def _thresholds(options: Options) -> Any:
    from ..health import Thresholds

    return options.thresholds or Thresholds()


def maintenance(target: Target, options: Options) -> Section:
    from ..health.checks import bloat_of, bloat_thresholds
    from ..maintenance import plan
    from .schedule import next_run

    thresholds = _thresholds(options)  # one plan serves the box and the health bloat check
    found = plan(read_only(target, options.deadline), bloat_thresholds(thresholds))
    with connect(read_only(target, options.deadline), application_name=APPLICATION) as conn:
        tables = _rows(conn, "vacuum")
        unused = _rows(conn, "unused_indexes")
        duplicate = _rows(conn, "duplicate_indexes")
        now_row = conn.execute("SELECT now()").fetchone()
    now = now_row[0] if now_row and isinstance(now_row[0], datetime) else datetime.now(UTC)
    schedule = None
    if options.maintain_schedule:
        schedule = {"cron": options.maintain_schedule,
                    "next": next_run(options.maintain_schedule, now.astimezone())}
    tasks = [{"title": t.title, "action": t.action, "reasons": t.reasons,
              "size_bytes": t.size_bytes} for t in found.tasks]
    advice = [{"relation": f"{f.schema}.{f.relation}", "kind": f.kind, "reason": f.reason}
              for f in found.advice]
    return Section("maintenance", "warning" if tasks or advice else "ok",
                   {"tasks": tasks, "advice": advice, "notes": list(found.notes),
                    "tables": tables, "schedule": schedule, "unused_indexes": unused,
                    "duplicate_indexes": duplicate,
                    "health_checks": [_check(c) for c in bloat_of(found, thresholds, False)]})


def statements(target: Target, options: Options) -> Section:
    """The slowest statements by total time, from pg_stat_statements when it is installed."""
    with connect(read_only(target, options.deadline), application_name=APPLICATION) as conn:
        row = conn.execute("SELECT to_regclass('pg_stat_statements') IS NOT NULL").fetchone()
        if not row or not row[0]:
            return Section("statements", "unknown",
                           {"statements": [], "note": "pg_stat_statements is not installed "
                            "in this database (CREATE EXTENSION pg_stat_statements, with "
                            "shared_preload_libraries)"})
        rows = _rows(conn, "statements")
        me = conn.execute("SELECT current_user").fetchone()
    _hide_others(rows, me[0] if me else None, options)
    return Section("statements", "ok", {"statements": rows})


def loadtest(options: Options) -> Section:
    """The latest ``loadtest --json`` result: ``--loadtest FILE``, else the one the
    toolkit kept for this database."""
    path = options.loadtest_file
    if path is None or not path.is_file():
        return Section("loadtest", "unknown", {"result": None})
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return Section("loadtest", "error", error=f"cannot read {path}: {one_line(exc)}")
    missed = doc.get("missed") or []
    return Section("loadtest", "warning" if missed else "ok",
                   {"result": doc, "file": str(path),
                    "modified": datetime.fromtimestamp(path.stat().st_mtime, UTC)})


LIVE_SECTIONS: dict[str, Callable[[Target, Options], Section]] = {
    "migrations": migrations, "health": health, "activity": activity}
SLOW_SECTIONS: dict[str, Callable[[Target, Options], Section]] = {
    "drift": drift, "partitions": partitions, "maintenance": maintenance,
    "statements": statements}


def collect_section(name: str, target: Target, options: Options) -> Section:
    """One section, never raising: a failure becomes the section's one-line error."""
    began = time.perf_counter()
    try:
        if name == "loadtest":
            section = loadtest(options)
        else:
            section = {**LIVE_SECTIONS, **SLOW_SECTIONS}[name](target, options)
    except Exception as exc:  # any failure is shown in its box, never as a traceback
        section = Section(name, "error", error=_why(exc), unreachable=_unreachable(exc))
    section.collected_at = datetime.now(UTC)
    section.data_at = None if section.error else section.collected_at
    section.seconds = time.perf_counter() - began
    return section


def _unreachable(exc: BaseException) -> bool:
    """A connection that could not be made or was lost (not a refused query)."""
    import psycopg

    from ..errors import ConnectionFailed

    return isinstance(exc, ConnectionFailed | psycopg.OperationalError) and not isinstance(
        exc, psycopg.errors.QueryCanceled | psycopg.errors.InsufficientPrivilege)


def _why(exc: BaseException) -> str:
    from ..target import redact

    return redact(one_line(exc))
