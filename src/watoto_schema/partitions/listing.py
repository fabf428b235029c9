"""``list``: partitions with bounds, rows and size, each table's runway and DEFAULT rows,
and the operational warnings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from ..errors import BadConfig
from ..target import Target
from .catalog import PartitionInfo, _open, _range_key, read_tables
from .policy import TablePolicy, load_policy


@dataclass
class TableReport:
    table: str
    strategy: str
    partitions: list[PartitionInfo]
    runway_until: date | None = None  # upper bound of the newest range partition
    runway_days: int | None = None
    default_rows: int | None = None
    newest_row: datetime | None = None
    premake_until: date | None = None  # the policy's horizon, for a declared range table
    warnings: list[str] = field(default_factory=list)


def list_partitions(target: Target, tables: Sequence[str] = (),
                    policy: dict[str, TablePolicy] | None = None) -> list[TableReport]:
    """Partitions with bounds, estimated rows and size; per table the runway, the rows in
    DEFAULT (exact count) and the newest row's time (reads the newest non-empty partition).

    Operational warnings (not schema drift): a declared range table whose runway ends
    before its premake horizon, rows waiting in DEFAULT, a declared table missing. A name
    in ``tables`` that is not a partitioned table is an error.
    """
    from psycopg import sql

    policy = policy if policy is not None else load_policy()
    reports = []
    with _open(target) as conn:
        today = conn.execute("SELECT current_date").fetchone()[0]
        existing = read_tables(conn)
        unknown = [t for t in tables if t not in existing]
        if unknown:
            raise BadConfig(f"not a partitioned table in this database: {', '.join(unknown)}")
        for name, info in sorted(existing.items()):
            if tables and name not in tables:
                continue
            strategy = info.key.split(" ", 1)[0].lower()
            report = TableReport(name, strategy, info.partitions)
            declared = policy.get(name)
            if strategy == "range":
                uppers = [p.upper for p in info.partitions if p.upper]
                if uppers:
                    report.runway_until = max(uppers)
                    report.runway_days = (report.runway_until - today).days
                if info.default:
                    row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
                        sql.Identifier(info.default.name))).fetchone()
                    report.default_rows = int(row[0]) if row else 0
                key = sql.Identifier(_range_key(info))
                ordered = sorted((p for p in info.partitions if p.upper),
                                 key=lambda p: p.upper or date.min, reverse=True)
                for part in ([info.default] if info.default else []) + ordered:
                    row = conn.execute(sql.SQL("SELECT max({}) FROM {}").format(
                        key, sql.Identifier(part.name))).fetchone()
                    if row and row[0] is not None:
                        if report.newest_row is None or row[0] > report.newest_row:
                            report.newest_row = row[0]
                        if not part.is_default:
                            break
                if declared and declared.strategy == "range":
                    report.premake_until = declared.premake_horizon(today)
                    if report.runway_until is None or report.runway_until < report.premake_until:
                        report.warnings.append(
                            f"runway ends {report.runway_until or 'now'}, before the premake "
                            f"horizon {report.premake_until}: run `partitions ensure`")
                if report.default_rows:
                    report.warnings.append(
                        f"{report.default_rows} row(s) in DEFAULT: `partitions ensure` or "
                        "`partitions create` moves them into their partition")
            elif declared and declared.modulus and len(info.partitions) < declared.modulus:
                report.warnings.append(f"{len(info.partitions)} of {declared.modulus} hash "
                                       "partitions: run `partitions ensure`")
            reports.append(report)
    return reports
