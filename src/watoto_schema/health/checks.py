"""The checks of ``health``: each reads the statistics views and returns ``Check`` results.

A check never writes and never takes a lock beyond catalog reads. Each runs under the
collection's ``statement_timeout``; one that lacks a privilege (the ``pg_monitor`` role
covers all but the DEFAULT-row count) or an extension reports status ``unknown`` with why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..resources import sql_text
from ..target import dict_rows
from ..units import format_bytes
from .thresholds import Thresholds

if TYPE_CHECKING:
    import psycopg

    from ..target import Target

OK, WARNING, CRITICAL, UNKNOWN = "ok", "warning", "critical", "unknown"
ORDER = {OK: 0, UNKNOWN: 1, WARNING: 2, CRITICAL: 3}


@dataclass
class Metric:
    """One sample for Prometheus: ``watoto_<name>{labels} value``."""

    name: str
    value: float
    labels: dict[str, str] = field(default_factory=dict)
    help: str = ""


@dataclass
class Check:
    """One verdict: what was measured, against what, and what to do."""

    name: str
    status: str
    value: Any
    threshold: str
    hint: str = ""
    details: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[Metric] = field(default_factory=list)


def level(value: float, warning: float, critical: float, *, lower_is_worse: bool = False) -> str:
    """ok / warning / critical of ``value`` against two thresholds."""
    if lower_is_worse:
        return CRITICAL if value < critical else WARNING if value < warning else OK
    return CRITICAL if value >= critical else WARNING if value >= warning else OK


def _fmt_seconds(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 120 else f"{seconds:.1f} s"


def _sessions(rows: list[dict[str, Any]], key: str, limit: int = 5) -> list[dict[str, Any]]:
    """The first ``limit`` sessions of ``activity.sql`` rows, with ``key``'s seconds."""
    return [{"pid": a["pid"], "application": a["application"], "user": a["user"],
             "seconds": round(float(a[key] or 0), 1), "query": a["query"]}
            for a in rows[:limit]]


# -- the checks ------------------------------------------------------------------------------

def connections(conn: psycopg.Connection[Any], th: Thresholds) -> list[Check]:
    [slots] = dict_rows(conn, sql_text("health/slots.sql"))
    usable = slots["max_connections"] - slots["reserved"]
    used = int(slots["used"])
    share = used / usable if usable else 1.0
    by_state = {r["state"]: int(r["sessions"])
                for r in dict_rows(conn, sql_text("health/connections.sql"))}
    metrics = [Metric("connections", n, {"state": s}, "Client sessions by state")
               for s, n in by_state.items()]
    metrics += [Metric("connections_used", used, help="Client sessions"),
                Metric("connections_usable", usable,
                       help="max_connections minus superuser_reserved_connections")]
    return [Check("connections", level(share, th.connections_warning, th.connections_critical),
                  f"{used} of {usable} ({share:.0%}); {usable - used} slots left",
                  f"warning {th.connections_warning:.0%}, critical {th.connections_critical:.0%}",
                  "use a pooler (PgBouncer) or find the sessions that do not close"
                  if share >= th.connections_warning else "",
                  [{"state": s, "sessions": n} for s, n in by_state.items()], metrics)]


def cache_hit_ratio(conn: psycopg.Connection[Any], th: Thresholds) -> list[Check]:
    [db] = dict_rows(conn, sql_text("health/cache_database.sql"))
    hit, read = int(db["blks_hit"] or 0), int(db["blks_read"] or 0)
    metrics = [Metric("cache_blocks_hit", hit, help="Buffer cache hits in this database"),
               Metric("cache_blocks_read", read, help="Blocks read from outside the cache")]
    if hit + read < th.cache_min_reads:
        return [Check("cache_hit_ratio", OK, f"{hit + read} block reads: too few to judge",
                      f"judged from {th.cache_min_reads} reads", details=[], metrics=metrics)]
    ratio = hit / (hit + read)
    worst: list[dict[str, Any]] = []
    for r in dict_rows(conn, sql_text("health/cache_tables.sql"),
                   {"min_reads": th.cache_min_reads}):
        for kind, h, rd in (("heap", r["heap_blks_hit"], r["heap_blks_read"]),
                            ("index", r["idx_blks_hit"], r["idx_blks_read"])):
            h, rd = int(h or 0), int(rd or 0)
            if h + rd >= th.cache_min_reads:
                worst.append({"relation": r["relation"], "kind": kind,
                              "hit_ratio": round(h / (h + rd), 4)})
    worst = sorted(worst, key=lambda w: w["hit_ratio"])[:5]
    status = level(ratio, th.cache_hit_warning, th.cache_hit_critical, lower_is_worse=True)
    metrics.append(Metric("cache_hit_ratio", ratio, help="Buffer cache hit ratio"))
    return [Check("cache_hit_ratio", status, f"{ratio:.2%}",
                  f"warning below {th.cache_hit_warning:.0%}, critical below "
                  f"{th.cache_hit_critical:.0%}",
                  "shared_buffers too small for the working set, or queries reading "
                  "whole tables (see the worst tables)" if status != OK else "", worst, metrics)]


def statements(conn: psycopg.Connection[Any], th: Thresholds) -> list[Check]:
    """The slowest statements by mean and total (pg_stat_statements), and those running."""
    import psycopg

    out: list[Check] = []
    activity = dict_rows(conn, sql_text("health/activity.sql"))
    running = sorted((a for a in activity if a["state"] == "active"
                      and a["query_seconds"] is not None),
                     key=lambda a: -float(a["query_seconds"]))
    longest = float(running[0]["query_seconds"]) if running else 0.0
    out.append(Check(
        "running_queries",
        level(longest, th.running_query_warning, th.running_query_critical),
        f"longest {_fmt_seconds(longest)}" if running else "none running",
        f"warning {_fmt_seconds(th.running_query_warning)}, critical "
        f"{_fmt_seconds(th.running_query_critical)}",
        "pg_cancel_backend(pid) stops one; a statement_timeout for the role prevents them"
        if longest >= th.running_query_warning else "",
        _sessions(running, "query_seconds", th.statements_reported),
        [Metric("longest_running_query_seconds", longest,
                help="Longest running statement now")]))
    present = conn.execute("SELECT to_regclass('pg_stat_statements') IS NOT NULL").fetchone()
    if not present or not present[0]:
        out.append(Check("statement_time", UNKNOWN, "pg_stat_statements not installed",
                         "", "CREATE EXTENSION pg_stat_statements (with it in "
                         "shared_preload_libraries) to see the slowest statements"))
        return out
    try:
        ranked = {rank: dict_rows(conn, sql_text("health/statements.sql"),
                              {"rank": rank, "limit": th.statements_reported})
                  for rank in ("mean", "total")}
    except psycopg.errors.ObjectNotInPrerequisiteState:  # installed but not preloaded
        out.append(Check("statement_time", UNKNOWN, "pg_stat_statements is not loaded", "",
                         "add pg_stat_statements to shared_preload_libraries and restart"))
        return out
    by_mean = ranked["mean"]
    worst = float(by_mean[0]["mean_exec_time"]) / 1000 if by_mean else 0.0
    details = [{"rank": rank, "queryid": r["queryid"], "calls": r["calls"],
                "mean_ms": round(r["mean_exec_time"], 2),
                "total_ms": round(r["total_exec_time"], 1), "query": r["query"]}
               for rank, rows in ranked.items() for r in rows]
    metrics = [Metric("statement_mean_seconds", float(r["mean_exec_time"]) / 1000,
                      {"queryid": str(r["queryid"])}, "Mean execution time of the slowest "
                      "statements (pg_stat_statements)") for r in by_mean]
    out.append(Check("statement_time",
                     level(worst, th.statement_mean_warning, th.statement_mean_critical),
                     f"slowest mean {worst * 1000:.1f} ms",
                     f"warning {th.statement_mean_warning * 1000:.0f} ms, critical "
                     f"{th.statement_mean_critical * 1000:.0f} ms",
                     "EXPLAIN (ANALYZE, BUFFERS) the slowest; see details"
                     if worst >= th.statement_mean_warning else "", details, metrics))
    return out


def transactions(conn: psycopg.Connection[Any], th: Thresholds) -> list[Check]:
    activity = dict_rows(conn, sql_text("health/activity.sql"))
    open_xacts = sorted((a for a in activity if a["xact_seconds"] is not None),
                        key=lambda a: -float(a["xact_seconds"]))
    longest = float(open_xacts[0]["xact_seconds"]) if open_xacts else 0.0
    idle = sorted((a for a in activity if a["state"] in ("idle in transaction",
                                                          "idle in transaction (aborted)")),
                  key=lambda a: -float(a["state_seconds"] or 0))
    idlest = float(idle[0]["state_seconds"] or 0) if idle else 0.0
    waiting = sorted((a for a in activity if a["wait_event_type"] == "Lock"),
                     key=lambda a: -float(a["state_seconds"] or 0))
    longest_wait = float(waiting[0]["state_seconds"] or 0) if waiting else 0.0

    return [
        Check("long_transactions",
              level(longest, th.transaction_warning, th.transaction_critical),
              f"longest open {_fmt_seconds(longest)}" if open_xacts else "none open",
              f"warning {_fmt_seconds(th.transaction_warning)}, critical "
              f"{_fmt_seconds(th.transaction_critical)}",
              "a long transaction holds back VACUUM everywhere in the database"
              if longest >= th.transaction_warning else "",
              _sessions(open_xacts, "xact_seconds"),
              [Metric("longest_transaction_seconds", longest,
                      help="Age of the oldest open transaction")]),
        Check("idle_in_transaction",
              level(idlest, th.idle_in_transaction_warning, th.idle_in_transaction_critical),
              f"{len(idle)} session(s), longest {_fmt_seconds(idlest)}" if idle else "none",
              f"warning {_fmt_seconds(th.idle_in_transaction_warning)}, critical "
              f"{_fmt_seconds(th.idle_in_transaction_critical)}",
              "the application left a transaction open; idle_in_transaction_session_timeout "
              "ends such sessions" if idlest >= th.idle_in_transaction_warning else "",
              _sessions(idle, "state_seconds"),
              [Metric("idle_in_transaction_sessions", len(idle),
                      help="Sessions idle inside a transaction")]),
        Check("lock_waits", level(longest_wait, th.lock_wait_warning, th.lock_wait_critical),
              f"{len(waiting)} waiting, longest {_fmt_seconds(longest_wait)}"
              if waiting else "none waiting",
              f"warning {_fmt_seconds(th.lock_wait_warning)}, critical "
              f"{_fmt_seconds(th.lock_wait_critical)}",
              "pg_blocking_pids(pid) names who blocks them"
              if longest_wait >= th.lock_wait_warning else "",
              _sessions(waiting, "state_seconds"),
              [Metric("lock_waiting_sessions", len(waiting), help="Sessions waiting on a lock")]),
    ]


def replication(conn: psycopg.Connection[Any], th: Thresholds) -> list[Check]:
    """Lag without the exporters' traps: bytes and seconds apart, and the stream's liveness.

    On a standby the replay delay counts only while WAL waits to be replayed (an idle
    primary sends nothing, so the last replayed transaction simply grows old), and a
    receiver that stopped talking is critical even when nothing waits.
    """
    in_recovery = conn.execute("SELECT pg_is_in_recovery()").fetchone()
    if in_recovery and in_recovery[0]:
        return [_standby(conn, th)]
    return _primary(conn, th)


def _standby(conn: psycopg.Connection[Any], th: Thresholds) -> Check:
    [r] = dict_rows(conn, sql_text("health/replication_standby.sql"))
    pending = float(r["replay_bytes"] or 0)
    behind = float(r["last_replay_seconds"] or 0) if pending > 0 else 0.0
    silence = r["receiver_silence_seconds"]
    metrics = [Metric("standby_replay_lag_bytes", pending, help="WAL received, not replayed"),
               Metric("standby_replay_lag_seconds", behind,
                      help="Age of the last replayed transaction while WAL waits (0 if none)")]
    status = max(level(pending, th.replica_lag_bytes_warning, th.replica_lag_bytes_critical),
                 level(behind, th.replica_lag_seconds_warning, th.replica_lag_seconds_critical),
                 key=ORDER.__getitem__)
    hint = ""
    if r["receiver_status"] != "streaming":
        status, hint = CRITICAL, "no WAL receiver streaming: the stream is broken or the " \
            "primary is gone (archive-only recovery would show here too)"
    elif silence is not None and float(silence) >= th.receiver_silence_critical:
        status, hint = CRITICAL, "the WAL receiver has heard nothing from the primary"
    if silence is not None:
        metrics.append(Metric("standby_receiver_silence_seconds", float(silence),
                              help="Since the WAL receiver last heard from the primary"))
    return Check("replication", status,
                 f"standby: {format_bytes(pending)} to replay, {_fmt_seconds(behind)} behind, "
                 f"receiver {r['receiver_status'] or 'absent'}",
                 f"bytes warning {format_bytes(th.replica_lag_bytes_warning)}, seconds warning "
                 f"{_fmt_seconds(th.replica_lag_seconds_warning)}, silence critical "
                 f"{_fmt_seconds(th.receiver_silence_critical)}", hint, [r], metrics)


def _primary(conn: psycopg.Connection[Any], th: Thresholds) -> list[Check]:
    standbys = dict_rows(conn, sql_text("health/replication_primary.sql"))
    slots = dict_rows(conn, sql_text("health/replication_slots.sql"))
    metrics: list[Metric] = []
    status = OK
    for s in standbys:
        for kind in ("write", "flush", "replay"):
            metrics.append(Metric("replication_lag_bytes", float(s[f"{kind}_bytes"] or 0),
                                  {"standby": s["standby"], "kind": kind},
                                  "WAL not yet written/flushed/replayed by the standby"))
            metrics.append(Metric("replication_lag_seconds", float(s[f"{kind}_seconds"] or 0),
                                  {"standby": s["standby"], "kind": kind},
                                  "Lag as the standby reported it"))
        status = max(status,
                     level(float(s["replay_bytes"] or 0), th.replica_lag_bytes_warning,
                           th.replica_lag_bytes_critical),
                     level(float(s["replay_seconds"] or 0), th.replica_lag_seconds_warning,
                           th.replica_lag_seconds_critical),
                     CRITICAL if s["state"] != "streaming" else OK, key=ORDER.__getitem__)
    hint = ""
    if len(standbys) < th.expected_standbys:
        status, hint = CRITICAL, (f"{len(standbys)} standby(s) connected, "
                                  f"{th.expected_standbys} expected")
    slot_status = OK
    for slot in slots:
        retained = float(slot["retained_bytes"] or 0)
        metrics.append(Metric("replication_slot_retained_bytes", retained,
                              {"slot": slot["slot_name"]}, "WAL kept on disk for the slot"))
        slot_status = max(slot_status, level(retained, th.slot_retained_warning,
                                             th.slot_retained_critical), key=ORDER.__getitem__)
    value = (", ".join(f"{s['standby']}: {format_bytes(float(s['replay_bytes'] or 0))} behind"
                       for s in standbys) or "no standbys")
    checks = [Check("replication", status, value,
                    f"bytes warning {format_bytes(th.replica_lag_bytes_warning)}, seconds warning "
                    f"{_fmt_seconds(th.replica_lag_seconds_warning)}, standbys expected "
                    f"{th.expected_standbys}", hint, standbys, metrics)]
    if slots:
        worst = max(float(s["retained_bytes"] or 0) for s in slots)
        checks.append(Check(
            "replication_slots", slot_status,
            f"{len(slots)} slot(s), most WAL kept {format_bytes(worst)}",
            f"warning {format_bytes(th.slot_retained_warning)}, critical "
            f"{format_bytes(th.slot_retained_critical)}",
            "an inactive slot keeps WAL until the disk fills: drop it or bring its consumer "
            "back" if slot_status != OK else "", slots))
    return checks


def wraparound(conn: psycopg.Connection[Any], th: Thresholds) -> list[Check]:
    rows = dict_rows(conn, sql_text("health/wraparound.sql"))
    oldest: dict[str, Any] = rows[0] if rows else {"datname": "?", "xid_age": 0}
    age = int(oldest["xid_age"])
    return [Check("wraparound", level(age, th.wraparound_warning, th.wraparound_critical),
                  f"{age:,} ({oldest['datname']})",
                  f"warning {th.wraparound_warning:,}, critical {th.wraparound_critical:,}",
                  "VACUUM (FREEZE) the oldest tables now: `watoto-schema maintain run`"
                  if age >= th.wraparound_warning else "", rows[:5],
                  [Metric("xid_age", int(r["xid_age"]), {"database": r["datname"]},
                          "Transaction-ID age (wraparound at 2^31)") for r in rows])]


def invalid_indexes(conn: psycopg.Connection[Any], th: Thresholds) -> list[Check]:
    rows = dict_rows(conn, sql_text("engine/invalid_indexes.sql"))
    broken = [r for r in rows if not r.get("build_in_progress")]
    building = [r for r in rows if r.get("build_in_progress")]
    value = f"{len(broken)} invalid" + (f", {len(building)} being built" if building else "")
    return [Check("invalid_indexes", WARNING if broken else OK, value, "any invalid index",
                  "`watoto-schema maintain run` drops and rebuilds them concurrently"
                  if broken else "", rows,
                  [Metric("invalid_indexes", len(broken), help="INVALID indexes not being built")])]


def bloat_thresholds(th: Thresholds) -> Any:
    """The maintenance plan's thresholds with the health check's bloat limits."""
    from .. import maintenance

    return maintenance.Thresholds(table_bloat_ratio=th.bloat_ratio,
                                  index_bloat_ratio=th.bloat_ratio,
                                  bloat_min_bytes=th.bloat_min_bytes)


def bloat(target: Target, th: Thresholds, exact: bool) -> list[Check]:
    from .. import maintenance

    return bloat_of(maintenance.plan(target, bloat_thresholds(th), exact=exact), th, exact)


def bloat_of(plan: Any, th: Thresholds, exact: bool) -> list[Check]:
    """The bloat check of a maintenance plan made with ``bloat_thresholds(th)``."""
    findings = [f for t in plan.tasks for f in t.findings] + list(plan.advice)
    bloated = [f for f in findings if f.kind in ("table_bloat", "index_bloat")]
    details = [{"relation": f"{f.schema}.{f.relation}", "kind": f.kind, "reason": f.reason}
               for f in bloated]
    how = "pgstattuple" if exact else "estimate"
    return [Check("bloat", WARNING if bloated else OK,
                  f"{len(bloated)} bloated relation(s) ({how})",
                  f"wasted share {th.bloat_ratio:.0%} and {format_bytes(th.bloat_min_bytes)}",
                  "`watoto-schema maintain plan` says what to do" if bloated else "",
                  details, [Metric("bloated_relations", len(bloated),
                                   help="Tables and indexes over the bloat threshold")])]


def partition_runway(target: Target, th: Thresholds) -> list[Check]:
    from .. import partitions

    return runway_of(partitions.list_partitions(target), th)


def runway_of(reports: list[Any], th: Thresholds) -> list[Check]:
    """The partition runway check of ``partitions.list_partitions``' reports."""
    status, details, metrics = OK, [], []
    for r in reports:
        if r.runway_days is not None:
            metrics.append(Metric("partition_runway_days", r.runway_days, {"table": r.table},
                                  "Days until the newest range partition ends"))
            status = max(status, level(-r.runway_days, -th.runway_warning_days,
                                       -th.runway_critical_days), key=ORDER.__getitem__)
        if r.default_rows is not None:
            metrics.append(Metric("partition_default_rows", r.default_rows, {"table": r.table},
                                  "Rows waiting in the DEFAULT partition"))
        if r.warnings:
            status = max(status, WARNING, key=ORDER.__getitem__)
        details.append({"table": r.table, "runway_until": r.runway_until,
                        "runway_days": r.runway_days, "premake_until": r.premake_until,
                        "default_rows": r.default_rows, "warnings": r.warnings})
    shortest = min((r.runway_days for r in reports if r.runway_days is not None), default=None)
    value = (f"{len(reports)} partitioned table(s)" +
             (f", shortest runway {shortest} days" if shortest is not None else ""))
    return [Check("partitions", status, value,
                  f"runway warning {th.runway_warning_days} days, critical "
                  f"{th.runway_critical_days}; rows in DEFAULT; the premake horizon",
                  "`watoto-schema partitions ensure` (from cron)" if status != OK else "",
                  details, metrics)]


def archiving(conn: psycopg.Connection[Any], th: Thresholds) -> list[Check]:
    [a] = dict_rows(conn, sql_text("health/archiver.sql"))
    metrics = [Metric("wal_archive_failures", int(a["failed_count"] or 0),
                      help="Failed archive attempts since the statistics were reset")]
    if a["last_archived_seconds"] is not None:
        metrics.append(Metric("wal_last_archived_seconds", float(a["last_archived_seconds"]),
                              help="Since the last segment was archived"))
    if a["archive_mode"] == "off":
        status = WARNING if th.archive_required else OK
        return [Check("wal_archiving", status, "archive_mode is off",
                      "required" if th.archive_required else "not required",
                      "no point-in-time recovery without it: `watoto-schema pitr setup`"
                      if status != OK else "", [], metrics)]
    if a["failing"]:
        return [Check("wal_archiving", CRITICAL,
                      f"failing: {a['failed_count']} failure(s), last {a['last_failed_wal']}",
                      "no failure newer than the last success",
                      "fix the archive command: pg_wal grows until the disk is full", [a],
                      metrics)]
    age = float(a["last_archived_seconds"] or 0)
    pending = a["current_wal"] is not None and a["last_archived_wal"] is not None and \
        a["last_archived_wal"] < _previous_segment(a["current_wal"])
    status = level(age, th.archive_age_warning, th.archive_age_critical) if pending else OK
    value = (f"last archived {a['last_archived_wal'] or 'none'} "
             f"{_fmt_seconds(age)} ago" + (", segments waiting" if pending else ""))
    return [Check("wal_archiving", status, value,
                  f"while segments wait: warning {_fmt_seconds(th.archive_age_warning)}, "
                  f"critical {_fmt_seconds(th.archive_age_critical)}",
                  "archiving is falling behind" if status != OK else "", [a], metrics)]


def _previous_segment(walfile: str) -> str:
    """The WAL file name before ``walfile`` (timeline, log, segment; 16 MB segments)."""
    timeline, log, seg = walfile[:8], int(walfile[8:16], 16), int(walfile[16:24], 16)
    if seg == 0:
        log, seg = log - 1, 0xFF
    else:
        seg -= 1
    return f"{timeline}{log:08X}{seg:08X}"


# Checks that need only a connection, in report order; bloat and partitions open their own.
CONNECTION_CHECKS: list[tuple[str, Callable[[psycopg.Connection[Any], Thresholds],
                                             list[Check]]]] = [
    ("connections", connections),
    ("cache_hit_ratio", cache_hit_ratio),
    ("statements", statements),
    ("transactions", transactions),
    ("replication", replication),
    ("wraparound", wraparound),
    ("invalid_indexes", invalid_indexes),
    ("wal_archiving", archiving),
]
